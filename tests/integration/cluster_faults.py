#!/usr/bin/python3
"""cluster_faults: crashes (SIGKILL) in a 3-server ensemble under write load.

Several kazoo clients, each with a connect string naming every server
(starting at a different one), create unique nodes and bump counters as
fast as the ensemble acknowledges them (cluster.Load).  Every operation is
recorded with its outcome; an acknowledged one must be on every server
afterwards, with its data, and nothing that was never sent may appear.

  * kill -9 of the leader: a new leader is elected, writes continue, the
    old leader restarts and rejoins, trees identical, nothing acked lost;
  * kill -9 of a follower: writes continue meanwhile; it restarts and
    catches up (identical trees);
  * kill -9 of all three at once and restart: every acked write is there;
  * a follower down while thousands of transactions happen (snapCount is
    small, so the others roll their logs and snapshot meanwhile) catches up;
  * CLUSTER_CYCLES (default 3) rounds of kill -9 of the leader or a
    follower, alternately, under load.

Figures (time to a new leader, to the first acknowledged write after the
kill, catch-up time) are printed as TAP diagnostics, never asserted.
Against Apache ZooKeeper 3.8: COORD_SERVER=zookeeper.
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

ct.require_server()

CYCLES = int(os.environ.get("CLUSTER_CYCLES", "3"))
SEED = int(os.environ.get("CLUSTER_SEED", str(int(time.time()) % 100000)))
rnd = random.Random(SEED)

t = ct.TAP()
t.diag("seed %d (CLUSTER_SEED reproduces the choice of victims)" % SEED)
C = cl.Cluster(3, cfg={"snapCount": "1000"})
C.start()
t.diag("%s ensemble up: modes %r" % (C.kind, C.modes()))
figures = {"election": [], "first_write": [], "first_write_follower_kill": [],
           "catch_up": []}


def fig(name, v):
    figures[name].append(v)


def new_load(writers=3):
    # pace: at most ~200 ops/s per writer, so the trees stay small enough
    # to be compared quickly
    return cl.Load(C, writers=writers, pace=0.005).start()


def settle_and_verify(load, what):
    """Stop the load, wait until all servers are identical, check every
    acknowledged op on that tree."""
    load.stop()
    ok, tree = C.wait_all_equal(timeout=60)
    t.ok(ok, "%s: every server holds the identical tree" % what,
         None if ok else tree)
    if not ok:
        d = C.dump(C.leader() or 0)
        tree = d
    problems = load.verify(tree)
    n = load.counts()
    t.ok(not problems, "%s: none of %d acknowledged writes lost, nothing "
         "unsent appeared" % (what, n["ok"]), "\n".join(problems[:20]))
    t.diag("%s: ops ok %d, failed %d, unknown %d %r" %
           (what, n["ok"], n["fail"], n["info"], load.errors()))


def kill_under_load(load, victim_is_leader):
    """Kill -9 the leader or a follower while load runs; returns
    (victim, t_kill).  Asserts a (new) leader and acknowledged writes
    after the kill; prints the figures."""
    L = C.wait_stable(30)
    if victim_is_leader:
        victim = L
    else:
        victim = rnd.choice([i for i in C.running() if i != L])
    load.wait_acks_after(time.monotonic(), 20, 10)
    t_kill = time.monotonic()
    C.kill9(victim)
    survivors = [i for i in C.running()]
    nl = C.wait_leader(among=survivors, timeout=30)
    t_leader = time.monotonic()
    role = "leader" if victim_is_leader else "follower"
    t.ok(nl is not None, "kill -9 of the %s (server %d): a leader among "
         "the survivors" % (role, victim + 1), repr(C.modes()))
    got = load.wait_acks_after(t_kill, 20, 30)
    t.ok(got, "writes invoked after the kill are acknowledged",
         repr(load.counts()))
    first = load.first_ack_after(t_kill)
    if victim_is_leader:
        fig("election", t_leader - t_kill)
        if first is not None:
            fig("first_write", first - t_kill)
    elif first is not None:
        fig("first_write_follower_kill", first - t_kill)
    t.diag("kill -9 %s %d: leader %s after %.2f s, first acked write "
           "invoked after the kill: %s" %
           (role, victim + 1, nl + 1 if nl is not None else "?",
            t_leader - t_kill,
            "%.2f s" % (first - t_kill) if first else "none"))
    return victim


@t.case
def leader_kill():
    load = new_load()
    victim = kill_under_load(load, True)
    time.sleep(0.3)                       # load on the 2-server ensemble
    t0 = time.monotonic()
    C.start(victim, wait=False)
    t.ok(C.wait_stable(60) is not None and C.mode(victim) == "follower",
         "the old leader restarts and rejoins as a follower",
         repr(C.modes()))
    t.diag("rejoined after %.2f s" % (time.monotonic() - t0))
    load.wait_acks_after(time.monotonic(), 20, 10)
    settle_and_verify(load, "leader kill")


@t.case
def follower_kill():
    load = new_load()
    victim = kill_under_load(load, False)
    t0 = time.monotonic()
    load.wait_acks_after(t0, 100, 10)
    t.ok(len(load.acks_after(t0)) >= 100, "writes go on with the follower "
         "down")
    C.start(victim, wait=False)
    t.ok(C.wait_stable(60) is not None, "the follower restarts and rejoins")
    load.wait_acks_after(time.monotonic(), 20, 10)
    settle_and_verify(load, "follower kill")


@t.case
def follower_rejoins_under_full_load():
    """A restarted follower must get back in while the leader never stops
    writing (no pause in which its log would be idle)."""
    L = C.wait_stable(30)
    F = [i for i in range(C.n) if i != L][0]
    load = cl.Load(C, writers=6, hosts=lambda w: [L], pace=0.0).start()
    load.wait_acks_after(time.monotonic(), 200, 10)
    C.kill9(F)
    load.wait_acks_after(time.monotonic(), 500, 10)
    t0 = time.monotonic()
    C.start(F, wait=False)
    back = C.wait_for(lambda: C.mode(F) == "follower", 30)
    t.ok(back, "a follower restarted under unpaced load serves again", repr(C.modes()))
    if back:
        t.diag("follower back %.2f s after its restart, %d writes acknowledged meanwhile" %
               (time.monotonic() - t0, len(load.acks_after(t0))))
    settle_and_verify(load, "follower restart under full load")


@t.case
def whole_cluster_restart():
    load = new_load()
    load.wait_acks_after(time.monotonic(), 50, 10)
    t_kill = time.monotonic()
    for i in range(C.n):
        C.kill9(i)
    t.diag("all 3 killed with %d writes acknowledged" % len(load.acked()))
    C.start(wait=False)
    L = C.wait_stable(60)
    t.ok(L is not None, "all three restart and elect a leader")
    t.diag("leader %.2f s after the kill (includes JVM/process start)" %
           (time.monotonic() - t_kill))
    t.ok(load.wait_acks_after(t_kill, 20, 30),
         "the clients reconnect and writes are acknowledged again")
    settle_and_verify(load, "restart of all")


@t.case
def lagging_follower_catches_up():
    L = C.wait_stable(30)
    F = [i for i in range(C.n) if i != L][0]
    C.kill9(F)
    k = C.client(L)
    k.ensure_path("/lag")
    n = 3000
    t0 = time.monotonic()
    sem = threading.Semaphore(200)
    acked = {}
    errs = []

    def done(a, p):
        try:
            a.get_nowait()
            acked[p] = True
        except Exception as e:                                # noqa
            errs.append(e)
        sem.release()
    for j in range(n):
        sem.acquire()
        p = "/lag/n%05d" % j
        if j % 10 == 9:
            a = k.set_async("/lag", str(j).encode())
        elif j % 10 == 8 and ("/lag/n%05d" % (j - 1)) in acked:
            p = "/lag/n%05d" % (j - 1)
            a = k.delete_async(p)
        else:
            a = k.create_async(p, cl.payload(p))
        a.rawlink(lambda a, p=p: done(a, p))
    for _ in range(200):
        sem.acquire()
    t.is_eq(errs, [], "%d transactions while a follower is down" % n)
    t.diag("%d txns in %.2f s" % (n, time.monotonic() - t0))
    t0 = time.monotonic()
    C.start(F, wait=False)
    t.ok(C.wait_serving(F, 60), "the follower restarts and serves")
    ok, tree = C.wait_all_equal(timeout=60)
    fig("catch_up", time.monotonic() - t0)
    t.ok(ok, "it caught up: identical trees on all servers",
         None if ok else tree)
    t.diag("caught up (identical trees) %.2f s after its restart, %d nodes"
           % (time.monotonic() - t0, len(tree) if ok else -1))
    ct._stop_quietly(k)


@t.case
def kill_cycles():
    load = new_load()
    for cyc in range(CYCLES):
        victim = kill_under_load(load, cyc % 2 == 0)
        time.sleep(rnd.uniform(0.0, 0.5))
        C.start(victim, wait=False)
        t.ok(C.wait_stable(60) is not None,
             "cycle %d: server %d back, ensemble stable" % (cyc + 1,
                                                            victim + 1),
             repr(C.modes()))
    settle_and_verify(load, "%d kill cycles" % CYCLES)


@t.case
def report():
    for name, vs in figures.items():
        if vs:
            vs = sorted(vs)
            t.diag("%s: median %.2f s, min %.2f, max %.2f (n=%d)" %
                   (name, vs[len(vs) // 2], vs[0], vs[-1], len(vs)))


@t.case
def no_crashes():
    C.tap_no_crashes(t)


t.run()
