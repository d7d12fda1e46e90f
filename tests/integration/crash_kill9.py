#!/usr/bin/python3
"""crash_kill9: SIGKILL coordd at random moments under write load, many
times over on one data directory, and check after every restart that

  (a) the server restarts (never refuses to start after a crash);
  (b) every ACKNOWLEDGED create exists, with exactly the data written;
  (c) every multi (3 creates in one transaction) is all-or-nothing, and an
      acknowledged one is all there;
  (d) each hot counter node (one setData writer each, values 1, 2, 3, ...)
      holds a value >= the last acknowledged one and <= the last sent one,
      and its version equals its value (no update lost in the middle);
  (e) nothing appears that was never written: no unknown node names, and
      every node's data is what its one writer sent.

Anything seen after a restart is durable, so it must also survive every
later crash: what a check observes joins the "must exist" set.

snapCount is small (200) and autopurge is on, so snapshots (forked
children), log rolls and purges happen during the load and recovery runs
over many snapshots and purged logs.  The writers are kazoo clients in
this process (async, up to WINDOW requests in flight each); an op counts as
acknowledged iff its reply arrived before the kill (its AsyncResult holds a
value).  The restart follows the kill at once (no waiting for the port or
for leftover children: a supervisor would not wait either), on a fresh
port, so no kazoo client can reconnect and replay a queued request into the
next incarnation.  A SIGTERM + restart with a full data check ends the run.

What SIGKILL cannot test: the page cache survives it, so written but not
yet synced records survive too (allowed: unacknowledged).  Torn records and
failed syncs are iofault_inject.py's job, kills during big snapshots
crash_snapshot.py's.

Knobs (environment): CRASH_CYCLES (20), CRASH_WRITERS (4), CRASH_SEED.
Works against Apache ZooKeeper as well (COORD_SERVER=zookeeper), which
checks the checker.
"""

import os
import random
import re
import signal
import sys
import threading
import time

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import coordtest as ct                                        # noqa: E402
import durability_lib as dl                                   # noqa: E402

ct.require_server()
try:
    from kazoo.exceptions import NoNodeError                  # noqa: E402
except ImportError:
    ct.skip_all("python3-kazoo not installed")

CYCLES = int(os.environ.get("CRASH_CYCLES", "20"))
WRITERS = int(os.environ.get("CRASH_WRITERS", "4"))
SEED = int(os.environ.get("CRASH_SEED", str(int(time.time()) % 100000)))
WINDOW = 16                 # requests in flight per writer
KILL_MS = (10, 300)         # kill this long after the load starts
SAMPLE_OLD = 300            # data of nodes from older cycles checked per cycle

t = ct.TAP()
rnd = random.Random(SEED)
t.diag("seed %d (CRASH_SEED=%d reproduces the kill times and op mix)" %
       (SEED, SEED))


class Model:
    """What the test knows about the tree.  Creates and multis are named
    by cycle and writer, so a name alone says who wrote it and with what
    data (durability_lib.payload)."""

    def __init__(self):
        self.created_sent = {}      # cycle -> set of child names sent
        self.created_must = set()   # paths that must exist from now on
        self.created_acked = 0
        self.multi_sent = {}        # cycle -> set of multi ids sent
        self.multi_must = set()     # (cycle, id) that must be all there
        self.multi_acked = 0
        self.hot_sent = [0] * WRITERS   # highest value ever sent
        self.hot_floor = [0] * WRITERS  # acked or observed: must stay >=
        self.hot_acked = 0
        self.cycles_made = []       # cycles whose /c/N and /m/N exist


M = Model()
HOT = ["/h/w%d" % w for w in range(WRITERS)]
MULTI_PARTS = ("a", "b", "c")


def multi_paths(cyc, mid):
    return ["/m/%d/%s-%s" % (cyc, mid, s) for s in MULTI_PARTS]


class Writer(threading.Thread):
    """One kazoo client issuing creates, hot-node setData and multis until
    stopped; every op is recorded as sent BEFORE it is issued, with its
    AsyncResult, which is inspected after the kill."""

    def __init__(self, w, client, cyc, stop):
        super().__init__(daemon=True)
        self.w, self.cl, self.cyc, self.stop_ev = w, client, cyc, stop
        self.rnd = random.Random(rnd.random())
        self.ops = []               # (kind, info, AsyncResult)
        self.sem = threading.Semaphore(WINDOW)

    def _issue(self, kind, info, a):
        self.ops.append((kind, info, a))
        a.rawlink(lambda _a: self.sem.release())

    def run(self):
        w, cyc = self.w, self.cyc
        seq = 0
        hot = M.hot_floor[w]        # the observed value after the restart
        try:
            while not self.stop_ev.is_set():
                if not self.sem.acquire(timeout=0.02):
                    continue
                seq += 1
                x = self.rnd.random()
                if x < 0.5:
                    name = "w%d-%d" % (w, seq)
                    path = "/c/%d/%s" % (cyc, name)
                    M.created_sent[cyc].add(name)
                    self._issue("create", path,
                                self.cl.create_async(path, dl.payload(path)))
                elif x < 0.8:
                    hot += 1
                    M.hot_sent[w] = hot
                    self._issue("set", hot, self.cl.set_async(
                        HOT[w], str(hot).encode()))
                else:
                    mid = "w%d-%d" % (w, seq)
                    M.multi_sent[cyc].add(mid)
                    tx = self.cl.transaction()
                    for p in multi_paths(cyc, mid):
                        tx.create(p, dl.payload(p))
                    self._issue("multi", mid, tx.commit_async())
        except Exception as e:                                # noqa
            # kazoo refuses new requests once it is closed; that is the end.
            if not self.stop_ev.is_set():
                t.diag("writer %d: %r" % (w, e))


def acked(kind, a):
    if not a.ready() or a.exception is not None:
        return False
    if kind == "multi":
        return all(not isinstance(r, Exception) for r in a.value)
    return True


def stop_clients(clients):
    """Stop kazoo clients in parallel (each may be in a reconnect loop)."""
    th = [threading.Thread(target=ct._stop_quietly, args=(c,), daemon=True)
          for c in clients]
    for x in th:
        x.start()
    for x in th:
        x.join(30)


def load_and_kill(srv, cyc):
    """Run the writers, SIGKILL the server 10-300 ms into the load, and fold
    the acknowledged ops into the model.  Returns (sent, acked, kill_ms)."""
    clients = [ct.kazoo_client(srv) for _ in range(WRITERS)]
    stop = threading.Event()
    writers = [Writer(w, clients[w], cyc, stop) for w in range(WRITERS)]
    kill_ms = rnd.uniform(*KILL_MS)
    for x in writers:
        x.start()
    time.sleep(kill_ms / 1000.0)
    # Kill and reap only: the next start follows at once (on a new port),
    # as fast as a supervisor would restart it.
    srv.crash(signal.SIGKILL)
    stop.set()
    for x in writers:
        x.join(10)
    stop_clients(clients)
    sent = acks = 0
    for x in writers:
        for kind, info, a in x.ops:
            sent += 1
            if not acked(kind, a):
                continue
            acks += 1
            if kind == "create":
                M.created_must.add(info)
                M.created_acked += 1
            elif kind == "set":
                M.hot_floor[x.w] = max(M.hot_floor[x.w], info)
                M.hot_acked += 1
                if a.value.version != info:
                    t.ok(False, "cycle %d: acked setData %s=%d returned "
                         "version %d" % (cyc, HOT[x.w], info, a.value.version))
            else:
                M.multi_must.add((cyc, info))
                M.multi_acked += 1
    return sent, acks, kill_ms


def check(zk, cyc, full=False):
    """Check invariants (b)-(e) against the model; fold what is observed
    into it.  full: fetch every node's data, not just a sample of old ones."""
    bad = []

    def fail(msg):
        if len(bad) < 20:
            bad.append(msg)

    # (e) top level and per-cycle directories
    root = set(zk.get_children("/"))
    extra = root - {"zookeeper", "c", "m", "h"}
    if extra:
        fail("unexpected top-level nodes %r" % sorted(extra))
    for top in ("c", "m"):
        have = set(zk.get_children("/" + top)) if top in root else set()
        want = set(str(k) for k in M.cycles_made)
        if have != want:
            fail("/%s children %r, expected %r" % (top, sorted(have),
                                                    sorted(want)))

    # (b) creates
    to_fetch = []
    present_c = set()
    for k in M.cycles_made:
        try:
            names = set(zk.get_children("/c/%d" % k))
        except NoNodeError:
            names = set()
        sent = M.created_sent.get(k, set())
        for n in sorted(names - sent)[:5]:
            fail("/c/%d/%s exists but was never created" % (k, n))
        paths = set("/c/%d/%s" % (k, n) for n in names & sent)
        present_c |= paths
        if full or k >= cyc - 1:
            to_fetch += sorted(paths)
        else:
            to_fetch += rnd.sample(sorted(paths),
                                   min(len(paths), SAMPLE_OLD // 4))
    lost = M.created_must - present_c
    for p in sorted(lost)[:10]:
        fail("acknowledged create %s is missing" % p)
    if lost:
        fail("%d acknowledged/observed creates missing in all" % len(lost))

    # (c) multis
    present_m = {}
    for k in M.cycles_made:
        try:
            names = zk.get_children("/m/%d" % k)
        except NoNodeError:
            names = []
        groups = {}
        for n in names:
            mid, _, part = n.rpartition("-")
            if (mid not in M.multi_sent.get(k, set()) or
                    part not in MULTI_PARTS):
                fail("/m/%d/%s exists but was never created" % (k, n))
                continue
            groups.setdefault(mid, set()).add(part)
        for mid, parts in groups.items():
            if len(parts) != len(MULTI_PARTS):
                fail("multi /m/%d/%s half-done: only %s" %
                     (k, mid, sorted(parts)))
            present_m[(k, mid)] = parts
            if full or k >= cyc - 1 or rnd.random() < 0.05:
                to_fetch += multi_paths(k, mid)
    for k, mid in sorted(M.multi_must - set(present_m))[:10]:
        fail("acknowledged multi /m/%d/%s is missing" % (k, mid))

    # data of (a sample of) the created nodes: exactly what was written
    data = dl.fetch_all(zk, to_fetch)
    for p in to_fetch:
        got = data.get(p)
        if got is None:
            fail("%s listed by getChildren but getData says no node" % p)
        elif got[0] != dl.payload(p):
            fail("%s has data %r..., never written" % (p, got[0][:40]))
        elif got[1].version != 0:
            fail("%s has version %d, never set" % (p, got[1].version))

    # (d) hot nodes
    for w, p in enumerate(HOT):
        d, st = zk.get(p)
        try:
            v = int(d.decode())
        except ValueError:
            fail("%s holds %r, never written" % (p, d))
            continue
        if v < M.hot_floor[w]:
            fail("%s = %d, below the last acknowledged/observed %d (lost "
                 "acknowledged update)" % (p, v, M.hot_floor[w]))
        if v > M.hot_sent[w]:
            fail("%s = %d, above the last value sent %d" % (p, v,
                                                            M.hot_sent[w]))
        if st.version != v:
            fail("%s = %d but version %d (an update lost in the middle, or "
                 "applied twice)" % (p, v, st.version))
        M.hot_floor[w] = max(M.hot_floor[w], v)

    # Observed state is durable: it must survive every later crash.
    M.created_must |= present_c
    M.multi_must |= set(present_m)
    return bad, len(to_fetch), len(present_c), len(present_m)


def files(dirpath, prefix):
    try:
        return sorted(f for f in os.listdir(dirpath) if f.startswith(prefix)
                      and not f.endswith(".tmp"))
    except OSError:
        return []


srv = dl.DurableServer(cfg={"snapCount": "200",
                            "autopurge.purgeInterval": "1",
                            "autopurge.snapRetainCount": "3"})
vdir = os.path.join(srv.datadir, "version-2")
t0 = time.monotonic()
tot_sent = tot_acked = 0
restart_ms = []
kill_times = []
refusals = 0

for cyc in range(CYCLES + 1):
    # (a) restart on the same data directory, on a fresh port
    srv.new_port()
    ts = time.monotonic()
    try:
        srv.start(timeout=20)
        started = True
    except RuntimeError as e:
        started = False
        refusals += 1
        t.diag("cycle %d: %s" % (cyc, str(e).splitlines()[0]))
        for line in srv.log_text(since_start=True).splitlines()[-3:]:
            t.diag("    " + line)
        # Transient (e.g. a leftover snapshot child) or permanent?  Retry
        # for a while; go on with the cycles only if it comes back.
        deadline = time.monotonic() + 20
        while srv.alive() is False and time.monotonic() < deadline:
            srv.stop()
            srv.new_port()
            try:
                srv.start(timeout=20)
                t.diag("cycle %d: started again after %.1f s" %
                       (cyc, time.monotonic() - ts))
            except RuntimeError:
                srv.stop()
                time.sleep(0.2)
        if not srv.alive():
            t.ok(False, "cycle %d: coordd restarts after SIGKILL" % cyc)
            t.diag(srv.log_tail())
            break
    restart_ms.append((time.monotonic() - ts) * 1000)
    if cyc > 0:
        t.ok(started, "cycle %d: server restarted after SIGKILL #%d "
             "(%.0f ms)" % (cyc, cyc, restart_ms[-1]))

    zk = ct.kazoo_client(srv)
    if cyc == 0:
        for p in ("/c", "/m", "/h"):
            zk.create(p)
        for p in HOT:
            zk.create(p, b"0")
    else:
        bad, nfetched, nc, nm = check(zk, cyc)
        t.ok(not bad, "cycle %d: acked creates/multis/counters survived, "
             "multis all-or-nothing, nothing unwritten (%d creates, %d multis "
             "present, %d nodes' data read)" % (cyc, nc, nm, nfetched))
        for b in bad:
            t.diag("    " + b)
    if cyc == CYCLES:
        break

    zk.create("/c/%d" % cyc)
    zk.create("/m/%d" % cyc)
    M.cycles_made.append(cyc)
    M.created_sent[cyc] = set()
    M.multi_sent[cyc] = set()
    ct._stop_quietly(zk)

    sent, acks, kill_ms = load_and_kill(srv, cyc)
    tot_sent += sent
    tot_acked += acks
    kill_times.append(kill_ms)
    t.diag("cycle %d: killed %.0f ms into the load: %d ops sent, %d acked; "
           "%d snapshots, %d log files on disk" %
           (cyc, kill_ms, sent, acks, len(files(vdir, "snapshot.")),
            len(files(vdir, "log."))))

# Last: a clean shutdown and restart must keep everything too.
if srv.alive():
    srv.stop()
    srv.new_port()
    srv.start(timeout=20)
    zk = ct.kazoo_client(srv)
    bad, nfetched, nc, nm = check(zk, CYCLES + 1, full=True)
    t.ok(not bad, "after SIGTERM + restart: full check of every node's data "
         "(%d creates, %d multis, %d nodes read)" % (nc, nm, nfetched))
    for b in bad:
        t.diag("    " + b)
    ct._stop_quietly(zk)
    srv.stop()

log = srv.log_text()
t.ok(refusals == 0, "coordd never refused to start (%d refusals)" % refusals)
t.diag("cycles: %d kills, seed %d, %.1f s in all" %
       (len(kill_times), SEED, time.monotonic() - t0))
t.diag("ops: %d sent, %d acknowledged (%d creates, %d setData, %d multis)" %
       (tot_sent, tot_acked, M.created_acked, M.hot_acked, M.multi_acked))
t.diag("restart time ms: min %.0f, max %.0f" %
       (min(restart_ms or [0]), max(restart_ms or [0])))
t.diag("server log: %d snapshots written, %d torn tails cut, %d purges, "
       "%d empty new log files removed" %
       (len(re.findall(r"storage: snapshot at zxid \S+ written", log)),
        log.count("cutting the torn tail"), log.count("purged "),
        log.count("no valid records")))
t.done()
