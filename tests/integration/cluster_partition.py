#!/usr/bin/python3
"""cluster_partition: network partitions of a 3-server ensemble (network
namespaces + nftables DROP rules; SKIPs without root, ip netns or nft).

Each server runs in a network namespace of its own (10.77.0.1-3) on a
bridge in a private router namespace; this test process sits in a client
namespace on the same bridge (cluster.NetNS), so clients reach every server
during a partition, as clients of a real data centre would.

Load during every partition: one writer pinned to each server (unique
creates + counters, cluster.Load) and one compare-and-set worker pinned to
each server plus one with every server in its connect string, on one
register znode: read = sync() + getData, write = setData(unique value,
version = the version it last read).  Every operation is recorded with its
invocation / return time and outcome (ok, fail, info = unknown).

  * the leader cut off from both followers: the majority elects a new
    leader and acknowledges writes; through the old leader no write
    invoked after the cut is acknowledged while the partition lasts; the
    old leader stops serving; after healing all three servers hold
    identical trees, every acknowledged write is there, and the register's
    history is linearizable (linearizable.py);
  * one follower cut off: writes go on, it stops serving, and after
    healing it catches up (identical trees, nothing acknowledged lost,
    linearizable register history);
  * CLUSTER_PARTITIONS (default 4) rounds of cutting off the leader, a
    follower, or just the link between the leader and one follower, under
    one continuous load; then the same checks.

Figures (time to a new leader, first acknowledged write on the majority,
old leader stepping down, history size and check time) are TAP
diagnostics.  Against Apache ZooKeeper 3.8: COORD_SERVER=zookeeper.
"""

import os
import random
import sys
import threading
import time

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import coordtest as ct                                        # noqa: E402
import cluster as cl                                          # noqa: E402
import linearizable as lz                                     # noqa: E402

ct.require_server()
_why = cl.NetNS.unavailable()
if _why:
    ct.skip_all(_why)

PARTITIONS = int(os.environ.get("CLUSTER_PARTITIONS", "4"))
SEED = int(os.environ.get("CLUSTER_SEED", str(int(time.time()) % 100000)))
rnd = random.Random(SEED)

t = ct.TAP()
t.diag("seed %d (CLUSTER_SEED)" % SEED)
net = cl.NetNS(3).setup()
net.enter_client()
t.diag("namespaces %s*, servers 10.77.0.1-3, this process 10.77.0.100" %
       net.prefix)
C = cl.Cluster(3, net=net)
C.start()
t.diag("%s ensemble up: modes %r" % (C.kind, C.modes()))

REG = "/register"
# CLUSTER_READ_SYNC=0: plain reads without sync() -- ZooKeeper then serves
# stale reads from a cut-off follower, which the check must catch (this
# checks the checker; expect failures)
READ_SYNC = os.environ.get("CLUSTER_READ_SYNC", "1") != "0"
OP_TIMEOUT = 5.0


class Register:
    """Compare-and-set workers on REG; history in self.hist (lz.H)."""

    def __init__(self, hosts_list):
        self.hist = []
        self.lock = threading.Lock()
        self.stopping = threading.Event()
        self.threads = []
        self.hosts_list = hosts_list
        self.seq = 0

    def start(self):
        for w, hosts in enumerate(self.hosts_list):
            k = C.client(hosts)
            th = threading.Thread(target=self._run, args=(w, k),
                                  daemon=True, name="cas%d" % w)
            th.k = k
            self.threads.append(th)
        for th in self.threads:
            th.start()
        return self

    def _record(self, h):
        with self.lock:
            self.hist.append(h)
        return h

    def _wait(self, a):
        ev = threading.Event()
        a.rawlink(lambda _: ev.set())
        return ev.wait(OP_TIMEOUT)

    def read(self, w, k):
        h = self._record(lz.H(w, "read", None, None, None, time.monotonic(),
                              None))
        if READ_SYNC:
            a = k.sync_async(REG)
            if not self._wait(a):
                h.outcome = "info"
                return None
            try:
                a.get_nowait()
            except Exception:                                 # noqa
                h.outcome = "info"
                return None
        b = k.get_async(REG)
        if not self._wait(b):
            h.outcome = "info"
            return None
        try:
            data, st = b.get_nowait()
        except Exception:                                     # noqa
            h.outcome = "info"
            return None
        h.t_ret = time.monotonic()
        h.value, h.version, h.outcome = data, st.version, "ok"
        return h

    def cas(self, w, k, version):
        with self.lock:
            self.seq += 1
            value = ("w%d-%d" % (w, self.seq)).encode()
        h = self._record(lz.H(w, "cas", None, value, version,
                              time.monotonic(), None))

        def done(a):
            try:
                a.get_nowait()
                outcome = "ok"
            except Exception as e:                            # noqa
                outcome = cl.classify(e)
            if h.outcome in (None, "info"):
                if outcome != "info":
                    h.t_ret = time.monotonic()
                h.outcome = outcome
        a = k.set_async(REG, value, version=version)
        a.rawlink(done)
        ev = threading.Event()
        a.rawlink(lambda _: ev.set())
        if not ev.wait(OP_TIMEOUT) and h.outcome is None:
            h.outcome = "info"
        return h

    def _run(self, w, k):
        while not self.stopping.is_set():
            r = self.read(w, k)
            if r is None:
                self.stopping.wait(0.05)
                continue
            self.cas(w, k, r.version)
            self.stopping.wait(0.002)

    def stop(self):
        self.stopping.set()
        for th in self.threads:
            th.join(30)
            ct._stop_quietly(th.k)

    def snapshot(self):
        with self.lock:
            return list(self.hist)


def init_register():
    k = C.client(None)
    if k.exists(REG) is None:
        k.create(REG, b"init")
    data, st = k.get(REG)
    ct._stop_quietly(k)
    return (data, st.version)


def check_history(reg, init, what):
    hist = reg.snapshot()
    # an op still pending at the end never returned: unknown
    for h in hist:
        if h.outcome is None:
            h.outcome = "info"
    n = {o: sum(1 for h in hist if h.outcome == o)
         for o in ("ok", "fail", "info")}
    t0 = time.monotonic()
    ok, msg = lz.check(hist, init)
    t.ok(ok, "%s: the register history is linearizable (%d ops: %d ok, "
         "%d failed CAS, %d unknown)" % (what, len(hist), n["ok"],
                                         n["fail"], n["info"]), msg)
    t.diag("%s: %s, checked in %.2f s" % (what, msg,
                                          time.monotonic() - t0))


def settle(load, reg, init, what):
    load.stop()
    reg.stop()
    ok, tree = C.wait_all_equal(timeout=60)
    t.ok(ok, "%s: after healing all servers hold identical trees" % what,
         None if ok else tree)
    if ok:
        problems = load.verify(tree)
        t.ok(not problems, "%s: none of %d acknowledged writes lost" %
             (what, load.counts()["ok"]), "\n".join(problems[:20]))
    else:
        t.ok(False, "%s: acknowledged writes not checked" % what)
    check_history(reg, init, what)


def writes_through(load, reg, servers, t0, t1=None):
    """Acknowledged writes invoked at or after t0 (and acknowledged before
    t1) by the workers pinned to the given servers."""
    n = 0
    for o in load.snapshot():
        if o.proc in servers and o.outcome == "ok" and o.t_inv >= t0 and \
                (t1 is None or o.t_ret < t1):
            n += 1
    for h in reg.snapshot():
        if h.kind == "cas" and h.proc in servers and h.outcome == "ok" and \
                h.t_inv >= t0 and (t1 is None or h.t_ret < t1):
            n += 1
    return n


def start_load():
    init = init_register()
    # writer w and CAS worker w are pinned to server w; CAS worker 3 has
    # every server in its connect string
    load = cl.Load(C, writers=3, hosts=lambda w: w, pace=0.005).start()
    reg = Register([0, 1, 2, None]).start()
    load.wait_acks_after(time.monotonic(), 30, 10)
    return load, reg, init


@t.case
def checker_selftest():
    lz.selftest(lambda good, name, msg: t.ok(good, "checker: " + name, msg))


@t.case
def leader_isolated():
    L = C.wait_stable(30)
    maj = [i for i in range(3) if i != L]
    load, reg, init = start_load()
    net.isolate(L)
    t_cut = time.monotonic()
    t.diag("leader server %d cut off from %s" %
           (L + 1, ", ".join(str(i + 1) for i in maj)))
    nl = C.wait_leader(among=maj, timeout=60)
    t_new = time.monotonic()
    t.ok(nl is not None, "the majority elects a new leader",
         repr(C.modes()))
    t.diag("new leader server %s %.2f s after the cut" %
           (nl + 1 if nl is not None else "?", t_new - t_cut))
    got = C.wait_for(lambda: writes_through(load, reg, maj, t_cut) >= 20,
                      30)
    t.ok(got, "writes through the majority are acknowledged")
    firsts = [o.t_ret for o in load.snapshot() if o.proc in maj and
              o.outcome == "ok" and o.t_inv >= t_cut]
    if firsts:
        t.diag("first acknowledged write on the majority %.2f s after the "
               "cut" % (min(firsts) - t_cut))
    down = C.wait_for(lambda: C.mode(L) == "looking", 30)
    t.ok(down, "the old leader steps down (srvr: not currently serving)",
         repr(C.modes()))
    t.diag("old leader stopped serving %.2f s after the cut" %
           (time.monotonic() - t_cut))
    time.sleep(2.0)                 # clients keep trying on both sides
    t_heal = time.monotonic()
    minority = writes_through(load, reg, [L], t_cut, t_heal)
    t.is_eq(minority, 0, "no write invoked through the old leader after the "
            "cut was acknowledged during the partition")
    tried = sum(1 for o in load.snapshot() + reg.snapshot()
                if o.proc == L and o.t_inv >= t_cut and
                getattr(o, "kind", "") in ("create", "set", "cas"))
    t.diag("%d writes were tried through the old leader during the "
           "partition" % tried)
    net.heal()
    t.ok(C.wait_stable(60) is not None, "healed: one leader, all serving",
         repr(C.modes()))
    t.diag("stable %.2f s after healing" % (time.monotonic() - t_heal))
    t.ok(C.wait_for(lambda: writes_through(load, reg, [L], t_heal) >= 5,
                     30),
         "the old leader's clients write again after healing")
    settle(load, reg, init, "leader isolated")


@t.case
def follower_isolated():
    L = C.wait_stable(30)
    F = [i for i in range(3) if i != L][0]
    rest = [i for i in range(3) if i != F]
    load, reg, init = start_load()
    net.isolate(F)
    t_cut = time.monotonic()
    t.diag("follower server %d cut off" % (F + 1))
    ok = C.wait_for(lambda: writes_through(load, reg, rest, t_cut) >= 50,
                     30)
    t.ok(ok, "writes through the other two go on")
    t.ok(C.wait_for(lambda: C.mode(F) == "looking", 30),
         "the cut-off follower stops serving", repr(C.modes()))
    t.diag("it stopped serving %.2f s after the cut" %
           (time.monotonic() - t_cut))
    t.is_eq(C.leader(among=rest), L, "the leader stays")
    t_heal = time.monotonic()
    t.is_eq(writes_through(load, reg, [F], t_cut + 0.1, t_heal), 0,
            "nothing written through the cut-off follower meanwhile")
    net.heal()
    t.ok(C.wait_stable(60) is not None and C.mode(F) == "follower",
         "healed: it rejoins as a follower", repr(C.modes()))
    t.diag("rejoined %.2f s after healing" % (time.monotonic() - t_heal))
    t.ok(C.wait_for(lambda: writes_through(load, reg, [F], t_heal) >= 5,
                     30),
         "its clients write again")
    settle(load, reg, init, "follower isolated")


@t.case
def random_partitions():
    """CLUSTER_PARTITIONS rounds of: cut off the leader, or a follower, or
    only the link between the leader and one follower (both still reach
    the third server), for 1-2.5 s, under the same load throughout."""
    load, reg, init = start_load()
    kinds = ["leader", "follower", "link"]
    for cyc in range(PARTITIONS):
        L = C.wait_stable(60)
        kind = kinds[cyc % 3] if cyc < 3 else rnd.choice(kinds)
        F = rnd.choice([i for i in range(3) if i != L])
        if kind == "leader":
            net.isolate(L)
            what = "leader %d cut off" % (L + 1)
        elif kind == "follower":
            net.isolate(F)
            what = "follower %d cut off" % (F + 1)
        else:
            net.partition([L], [F])
            what = "link leader %d - follower %d cut" % (L + 1, F + 1)
        t_cut = time.monotonic()
        time.sleep(rnd.uniform(1.0, 2.5))
        t_heal = time.monotonic()
        acked = writes_through(load, reg, range(3), t_cut, t_heal)
        net.heal()
        stable = C.wait_stable(60)
        t.ok(stable is not None, "round %d (%s): healed, stable again" %
             (cyc + 1, what), repr(C.modes()))
        t.diag("round %d: %s for %.1f s, %d writes acknowledged meanwhile, "
               "stable %.2f s after healing" %
               (cyc + 1, what, t_heal - t_cut, acked,
                time.monotonic() - t_heal))
    settle(load, reg, init, "%d partition rounds" % PARTITIONS)


@t.case
def sync_read_through_cut_off_leader():
    """sync() + read through a leader that was cut off, after the majority
    acknowledged an overwrite: it must not return the overwritten value.
    ZooKeeper answers sync at once when nothing is pending (ZOOKEEPER-1675),
    so its old leader serves the old value until it steps down; coordd's
    leader answers sync only once a quorum has answered a ping sent after
    the sync arrived, which a cut-off leader never gets."""
    # The window is between the majority electing (syncLimit ticks) and the
    # old leader stepping down (syncLimit ticks): give server 3 a long
    # syncLimit and let it lead (same history: the highest id wins).
    def restart_with(limits):
        for i in range(3):
            C.stop(i)
        orig = C.cfg_keys

        def keys(nd):
            k = orig(nd)
            k["syncLimit"] = str(limits.get(nd.idx, C.sync_limit))
            return k
        C.cfg_keys = keys
        for nd in C.nodes:
            C._write_cfg(nd)
        del C.cfg_keys
        C.start()
    restart_with({2: 10 * C.sync_limit})
    L = C.wait_stable(30)
    if L != 2:
        t.skip("sync+read through a cut-off leader", "server 3 did not lead")
        restart_with({})
        return
    maj = [i for i in range(3) if i != L]
    kL = C.client(L)
    kM = C.client(maj)
    if kM.exists("/sr") is None:
        kM.create("/sr", b"old")
    kM.set("/sr", b"old")
    kL.sync("/sr")
    t.ok(kL.get("/sr")[0] == b"old", "the old leader serves the value before the cut")
    net.isolate(L)
    t_cut = time.monotonic()
    nl = C.wait_leader(among=maj, timeout=60)
    t.ok(nl is not None, "the majority elects a new leader")
    kM.sync("/sr")
    kM.set("/sr", b"new")
    t_ack = time.monotonic()
    reads = stale = 0
    while time.monotonic() < t_ack + 4.0:
        try:
            kL.sync_async("/sr").get(timeout=1.0)
            data, _ = kL.get_async("/sr").get(timeout=1.0)
            reads += 1
            if data == b"old":
                stale += 1
        except Exception:                                     # noqa
            pass
        time.sleep(0.02)
    net.heal()
    t.diag("after the overwrite was acknowledged (%.2f s after the cut): %d sync+reads "
           "through the old leader succeeded, %d returned the overwritten value" %
           (t_ack - t_cut, reads, stale))
    if C.kind == "coordd":
        t.is_eq(stale, 0, "no sync+read through the cut-off leader returns the "
                "overwritten value")
    else:
        t.ok(True, "ZooKeeper: %d stale sync+reads (expected: ZOOKEEPER-1675)" % stale)
    ct._stop_quietly(kL)
    ct._stop_quietly(kM)
    t.ok(C.wait_stable(60) is not None, "healed: one leader, all serving")
    restart_with({})


@t.case
def no_crashes():
    C.tap_no_crashes(t)


t.run()
