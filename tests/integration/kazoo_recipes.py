#!/usr/bin/python3
"""kazoo_recipes: kazoo's high-level recipes (Lock, Semaphore, Read/Write
locks, Election, Barrier, DoubleBarrier, Queue, LockingQueue, Counter,
Party, ShallowParty, DataWatch, ChildrenWatch, TreeCache) run unchanged
against the server, with several clients contending."""

import os
import sys
import threading

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import coordtest as ct                                        # noqa: E402

ct.require_server()
from kazoo.exceptions import LockTimeout                      # noqa: E402
from kazoo.recipe.cache import TreeCache, TreeEvent           # noqa: E402

t = ct.TAP()
srv = ct.Server().start()
zk = ct.kazoo_client(srv)
clients = [ct.kazoo_client(srv) for _ in range(3)]
wait_for = ct.wait_for


def thread(fn, *args):
    th = threading.Thread(target=fn, args=args, daemon=True)
    th.start()
    return th


@t.case
def lock():
    c1, c2, c3 = clients
    l1 = c1.Lock("/lock", "one")
    l2 = c2.Lock("/lock", "two")
    t.ok(l1.acquire(timeout=10), "first client acquires the lock")
    t.ok(not l2.acquire(blocking=False), "second client: non-blocking "
         "acquire fails while held")
    got = threading.Event()
    th = thread(lambda: l2.acquire(timeout=20) and got.set())
    t.ok(wait_for(lambda: l1.contenders() == ["one", "two"], 10),
         "contenders are listed in sequence order", repr(l1.contenders()))
    t.ok(not got.is_set(), "second client is waiting")
    names = zk.get_children("/lock")
    t.ok(len(names) == 2 and all("__lock__" in n and n[-10:].isdigit()
                                 for n in names),
         "lock nodes are ephemeral-sequential '<uuid>__lock__%010d'",
         repr(names))
    t.ok(all(zk.exists("/lock/" + n).ephemeralOwner for n in names),
         "lock nodes are ephemeral")
    l1.release()
    t.ok(got.wait(10), "second client gets the lock after release")
    th.join(5)
    l3 = c3.Lock("/lock", "three")
    try:
        l3.acquire(timeout=0.3)
        t.ok(False, "acquire with timeout while held -> LockTimeout")
    except LockTimeout:
        t.ok(True, "acquire with timeout while held -> LockTimeout")
    # holder's session goes away -> lock passes on
    got3 = threading.Event()
    thread(lambda: l3.acquire(timeout=20) and got3.set())
    wait_for(lambda: len(zk.get_children("/lock")) == 2, 10)
    c2.stop()
    t.ok(got3.wait(15), "lock passes on when the holder's session closes")
    l3.release()
    c2.start()


@t.case
def semaphore_and_rwlock():
    c1, c2, c3 = clients
    s1 = c1.Semaphore("/sem", "a", max_leases=2)
    s2 = c2.Semaphore("/sem", "b", max_leases=2)
    s3 = c3.Semaphore("/sem", "c", max_leases=2)
    t.ok(s1.acquire(timeout=10) and s2.acquire(timeout=10),
         "semaphore: two leases granted")
    t.ok(not s3.acquire(blocking=False), "third lease refused")
    t.is_eq(sorted(s1.lease_holders()), ["a", "b"], "lease holders")
    s1.release()
    t.ok(s3.acquire(timeout=10), "lease available after release")
    s2.release()
    s3.release()
    r1 = c1.ReadLock("/rw", "r1")
    r2 = c2.ReadLock("/rw", "r2")
    w = c3.WriteLock("/rw", "w")
    t.ok(r1.acquire(timeout=10) and r2.acquire(timeout=10),
         "two readers share a read/write lock")
    t.ok(not w.acquire(blocking=False), "writer excluded while read-locked")
    r1.release()
    r2.release()
    t.ok(w.acquire(timeout=10), "writer gets it after the readers leave")
    t.ok(not c1.ReadLock("/rw", "r3").acquire(blocking=False),
         "reader excluded while write-locked")
    w.release()


@t.case
def election():
    leaders = []
    stop = {}
    elected = threading.Event()

    def run(i, c):
        e = c.Election("/election", "id%d" % i)
        stop[i] = threading.Event()

        def lead():
            leaders.append(i)
            elected.set()
            stop[i].wait(30)
        try:
            e.run(lead)
        except Exception:                                     # noqa
            pass
    ths = [thread(run, i, c) for i, c in enumerate(clients[:2])]
    t.ok(elected.wait(10), "a leader is elected")
    first = leaders[0]
    t.ok(wait_for(lambda: len(zk.Election("/election").contenders()) == 2,
                  10), "both are contenders")
    t.is_eq(zk.Election("/election").contenders()[0], "id%d" % first,
            "leader is the first contender")
    elected.clear()
    clients[first].stop()          # leader's session ends
    t.ok(elected.wait(15), "another leader is elected when the leader's "
         "session closes")
    t.is_eq(leaders, [first, 1 - first], "leadership moved to the other")
    for ev in stop.values():
        ev.set()
    for th in ths:
        th.join(5)
    clients[first].start()


@t.case
def barriers():
    b = zk.Barrier("/barrier")
    b.create()
    passed = threading.Event()
    thread(lambda: clients[0].Barrier("/barrier").wait(20) and passed.set())
    t.ok(not clients[1].Barrier("/barrier").wait(0.2),
         "wait on a set barrier times out")
    b.remove()
    t.ok(passed.wait(10), "waiters pass once the barrier is removed")
    # double barrier with 3 participants
    entered, left = [], []
    lock = threading.Lock()
    proceed = threading.Event()

    def part(i, c):
        db = c.DoubleBarrier("/dbar", 3, "p%d" % i)
        db.enter()
        with lock:
            entered.append(i)
        proceed.wait(20)
        db.leave()
        with lock:
            left.append(i)
    ths = [thread(part, 0, clients[0]), thread(part, 1, clients[1])]
    t.ok(wait_for(lambda: len(zk.get_children("/dbar")) >= 2, 10),
         "two participants registered")
    t.is_eq(entered, [], "nobody passes enter() with 2 of 3")
    ths.append(thread(part, 2, clients[2]))
    t.ok(wait_for(lambda: len(entered) == 3, 15), "all three pass enter() "
         "when the third arrives")
    proceed.set()
    t.ok(wait_for(lambda: len(left) == 3, 15), "all three leave()")
    for th in ths:
        th.join(5)


@t.case
def queues():
    q = zk.Queue("/queue")
    q.put(b"one")
    q.put(b"two")
    q.put(b"urgent", priority=1)
    t.is_eq(len(q), 3, "queue length")
    t.is_eq([q.get(), q.get(), q.get(), q.get()],
            [b"urgent", b"one", b"two", None],
            "priority first, then FIFO; None when empty")
    lq = clients[0].LockingQueue("/lqueue")
    lq2 = clients[1].LockingQueue("/lqueue")
    lq.put(b"a")
    lq.put(b"b")
    t.is_eq(lq.get(timeout=5), b"a", "locking queue: get the head")
    t.ok(lq.holds_lock(), "consumer holds the entry lock")
    t.is_eq(lq2.get(timeout=5), b"b", "a second consumer skips the locked "
            "entry")
    t.ok(lq.consume(), "consume removes the entry")
    t.ok(lq2.release(), "release puts the entry back")
    t.is_eq(lq.get(timeout=5), b"b", "released entry is available again")
    lq.consume()
    t.is_eq(len(lq), 0, "queue empty")
    got = []
    th = thread(lambda: got.append(lq2.get(timeout=10)))
    lq.put(b"late")
    th.join(15)
    t.is_eq(got, [b"late"], "blocking get wakes up on put")
    lq2.consume()


@t.case
def counter():
    c = zk.Counter("/counter")
    t.is_eq(c.value, 0, "counter starts at 0")
    c += 5
    c -= 2
    t.is_eq(c.value, 3, "add/sub")
    errors = []

    def work(cl):
        cc = cl.Counter("/counter")
        try:
            for _ in range(25):
                cc += 1
        except Exception as e:                                # noqa
            errors.append(e)
    ths = [thread(work, cl) for cl in clients + [zk]]
    for th in ths:
        th.join(60)
    t.is_eq(errors, [], "no errors from concurrent increments")
    t.is_eq(c.value, 103, "4 clients x 25 concurrent increments all counted "
            "(version-checked setData retries on BadVersion)")
    t.is_eq(zk.get("/counter")[0], b"103", "stored as text")


@t.case
def parties():
    p1 = clients[0].Party("/party", "alice")
    p2 = clients[1].Party("/party", "bob")
    p1.join()
    p2.join()
    t.is_eq(sorted(zk.Party("/party")), ["alice", "bob"], "party members")
    t.is_eq(len(zk.Party("/party")), 2, "party size")
    p1.leave()
    t.is_eq(list(zk.Party("/party")), ["bob"], "leave")
    s1 = clients[0].ShallowParty("/sparty", "x")
    s2 = clients[1].ShallowParty("/sparty", "y")
    s1.join()
    s2.join()
    t.is_eq(sorted(zk.ShallowParty("/sparty")), ["x", "y"], "shallow party")
    clients[1].stop()
    t.is_eq(list(zk.ShallowParty("/sparty")), ["x"], "member whose session "
            "closed is gone (ephemeral)")
    clients[1].start()


@t.case
def data_and_children_watch():
    seen = []
    ev = threading.Event()

    @zk.DataWatch("/dwatch")
    def dw(data, stat):
        seen.append((data, stat.version if stat else None))
        ev.set()
    t.ok(wait_for(lambda: seen, 5), "DataWatch called at once")
    t.is_eq(seen[0], (None, None), "DataWatch on a missing node: None, None")
    clients[0].create("/dwatch", b"v0")
    t.ok(wait_for(lambda: (b"v0", 0) in seen, 5), "DataWatch sees create")
    clients[0].set("/dwatch", b"v1")
    t.ok(wait_for(lambda: (b"v1", 1) in seen, 5), "DataWatch sees set")
    clients[0].delete("/dwatch")
    t.ok(wait_for(lambda: seen[-1] == (None, None), 5),
         "DataWatch sees delete")
    kids = []
    zk.create("/cwatch")

    @zk.ChildrenWatch("/cwatch")
    def cw(children):
        kids.append(sorted(children))
    t.ok(wait_for(lambda: kids and kids[0] == [], 5), "ChildrenWatch "
         "called at once with []")
    clients[0].create("/cwatch/a")
    clients[0].create("/cwatch/b", ephemeral=True)
    t.ok(wait_for(lambda: kids[-1] == ["a", "b"], 5), "ChildrenWatch sees "
         "new children", repr(kids))
    clients[0].delete("/cwatch/a")
    t.ok(wait_for(lambda: kids[-1] == ["b"], 5), "ChildrenWatch sees delete")


@t.case
def tree_cache():
    zk.create("/tree/a/b", b"ab", makepath=True)
    events = []
    tc = TreeCache(zk, "/tree")
    tc.listen(lambda e: events.append(e))
    tc.start()
    t.ok(wait_for(lambda: any(e.event_type == TreeEvent.INITIALIZED
                              for e in events), 10), "TreeCache initialized")
    t.is_eq(tc.get_data("/tree/a/b").data, b"ab", "cached data")
    t.is_eq(sorted(tc.get_children("/tree")), ["a"], "cached children")
    clients[0].create("/tree/a/c", b"ac")
    t.ok(wait_for(lambda: tc.get_data("/tree/a/c") is not None, 5),
         "TreeCache picks up a new node")
    clients[0].set("/tree/a/b", b"new")
    t.ok(wait_for(lambda: tc.get_data("/tree/a/b").data == b"new", 5),
         "TreeCache picks up a data change")
    t.is_eq(tc.get_data("/tree/a/b").stat.version, 1, "cached Stat updated")
    clients[0].delete("/tree/a/c")
    t.ok(wait_for(lambda: tc.get_data("/tree/a/c") is None, 5),
         "TreeCache picks up a delete")
    # listeners run on kazoo's event thread, after the cache itself changed
    want = {TreeEvent.NODE_ADDED, TreeEvent.NODE_UPDATED, TreeEvent.NODE_REMOVED}
    t.ok(wait_for(lambda: want <= {e.event_type for e in events}, 5),
         "added/updated/removed events")
    tc.close()


t.run()
