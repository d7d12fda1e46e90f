#!/usr/bin/python3
"""cluster_basic: a 3-server ensemble behaves as one ZooKeeper service.

  * four-letter word srvr: one "Mode: leader", the others "Mode: follower";
  * a write made through any server is visible through every server after
    sync(), with identical Stats (one transaction, one zxid);
  * sequential znodes created concurrently through all servers are unique
    and gapless;
  * a session made on one server (by a client process that then dies
    without closeSession) is resumed on another server with the same
    session id and password (kazoo's client_id); its ephemerals stay; when
    it is closed through a follower they vanish from every server;
  * a session whose client vanishes expires cluster-wide: its ephemerals
    vanish on all servers and it can no longer be resumed anywhere;
  * watches set through a follower fire for writes made through the leader;
  * a client that has seen a newer zxid than a server is refused by that
    server (connection closed without a session), and a client that moves
    to a lagging follower never reads older data than it has seen;
  * 5 servers: works with 2 down; with 3 down no write succeeds and the
    survivors say "This ZooKeeper instance is not currently serving
    requests"; one server back and it serves again with all data.

Against Apache ZooKeeper 3.8: COORD_SERVER=zookeeper.
"""

import os
import sys
import threading
import time

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import coordtest as ct                                        # noqa: E402
import cluster as cl                                          # noqa: E402

ct.require_server()

t = ct.TAP()
C = cl.Cluster(3)
C.start()
t.diag("%s ensemble up: modes %r" % (C.kind, C.modes()))


def followers(c=C):
    L = c.leader()
    return L, [i for i in c.running() if i != L]


def visible_everywhere(path, c=C, idxs=None, timeout=10):
    """(data, stat) of path read through every server after a sync;
    True iff every server has it and all answers are identical."""
    idxs = c.running() if idxs is None else idxs

    def check():
        seen = []
        for i in idxs:
            k = clients[i]
            k.sync(path)
            seen.append(k.get(path))
        return all(s == seen[0] for s in seen) and seen
    return c.wait_for(check, timeout)


def gone_everywhere(path, c=C, idxs=None, timeout=10):
    idxs = c.running() if idxs is None else idxs

    def check():
        for i in idxs:
            k = clients[i]
            k.sync(path)
            if k.exists(path) is not None:
                return False
        return True
    return c.wait_for(check, timeout)


clients = {i: C.client(i) for i in range(3)}


@t.case
def fourlw_modes():
    outs = [C.srvr(i) for i in range(3)]
    modes = [cl.Cluster.parse_mode(o) for o in outs]
    t.is_eq(sorted(modes), ["follower", "follower", "leader"],
            "srvr: one Mode: leader and two Mode: follower")
    t.ok(all(o and "\nZxid: 0x" in "\n" + o for o in outs),
         "srvr prints Zxid: 0x... on every server", repr(outs))
    for i in range(3):
        st = C.fourlw(i, "stat")
        t.ok(("Mode: %s\n" % modes[i]) in st,
             "stat on server %d says Mode: %s too" % (i + 1, modes[i]), st)
    t.ok(C.fourlw(0, "ruok") == "imok", "ruok -> imok")


@t.case
def writes_visible_everywhere():
    clients[0].ensure_path("/basic")
    for i in range(3):
        clients[i].create("/basic/from-s%d" % (i + 1),
                          ("written via server %d" % (i + 1)).encode())
    for i in range(3):
        clients[i].set("/basic/from-s%d" % (i + 1),
                       ("updated via server %d" % (i + 1)).encode())
    for i in range(3):
        p = "/basic/from-s%d" % (i + 1)
        r = visible_everywhere(p)
        t.ok(r and r[0][0] == ("updated via server %d" % (i + 1)).encode()
             and r[0][1].version == 1,
             "write via server %d: same data and Stat on all 3 servers "
             "after sync()" % (i + 1), repr(r))
    for i in range(3):
        clients[i].sync("/basic")
        t.is_eq(sorted(clients[i].get_children("/basic")),
                ["from-s1", "from-s2", "from-s3"],
                "server %d lists all three children" % (i + 1))
    ok, tree = C.wait_all_equal()
    t.ok(ok, "whole trees identical (paths, data, versions, zxids)",
         None if ok else tree)


@t.case
def sequential_unique():
    clients[0].create("/seq")
    per = 40
    got = {i: [] for i in range(3)}
    errs = []

    def worker(i):
        try:
            for _ in range(per):
                got[i].append(clients[i].create("/seq/n-", b"",
                                                sequence=True))
        except Exception as e:                                # noqa
            errs.append(e)
    ths = [threading.Thread(target=worker, args=(i,)) for i in range(3)]
    for th in ths:
        th.start()
    for th in ths:
        th.join(60)
    t.is_eq(errs, [], "120 sequential creates through 3 servers at once")
    names = [p for i in range(3) for p in got[i]]
    t.is_eq(len(set(names)), len(names), "every sequential name is unique")
    nums = sorted(int(p.rsplit("-", 1)[1]) for p in names)
    t.is_eq(nums, list(range(3 * per)), "numbers 0..119 without a gap")
    for i in range(3):
        t.ok(all(a < b for a, b in zip(got[i], got[i][1:])),
             "server %d's client got increasing numbers" % (i + 1))
    for i in range(3):
        clients[i].sync("/seq")
        t.is_eq(sorted("/seq/" + n for n in clients[i].get_children("/seq")),
                sorted(names), "server %d lists exactly those" % (i + 1))


@t.case
def session_moves_between_servers():
    L, F = followers()
    a, b = F[0], F[1]
    clients[0].ensure_path("/eph")
    child = cl.ChildSession(C.nodes[a].hosts, "/eph/made-on-a")
    t.diag("session %#x made on server %d" % (child.session_id, a + 1))
    st = visible_everywhere("/eph/made-on-a")
    t.ok(st and st[0][1].ephemeralOwner == child.session_id,
         "its ephemeral is on every server, owned by it")
    child.kill()            # the client process dies: no closeSession
    k = C.client(b, client_id=(child.session_id, child.passwd))
    t.is_eq(k.client_id[0], child.session_id,
            "the session is resumed on server %d with id + password" %
            (b + 1))
    ok = k.exists("/eph/made-on-a")
    t.ok(ok is not None and ok.ephemeralOwner == child.session_id,
         "its ephemeral is still there")
    k.create("/eph/made-on-b", b"b", ephemeral=True)
    t.ok(visible_everywhere("/eph/made-on-b"),
         "a second ephemeral made through server %d" % (b + 1))
    t0 = time.monotonic()
    k.stop()                # closeSession through a follower
    k.close()
    t.ok(gone_everywhere("/eph/made-on-a", timeout=5) and
         gone_everywhere("/eph/made-on-b", timeout=5),
         "closeSession on a follower: both ephemerals vanish on all "
         "servers")
    t.diag("ephemerals gone everywhere %.0f ms after closeSession" %
           ((time.monotonic() - t0) * 1000))
    t.raises(ct.ConnectionClosed, C.raw, "closed session cannot be resumed",
             L, session_id=child.session_id, passwd=child.passwd)


@t.case
def session_expires_cluster_wide():
    L, F = followers()
    child = cl.ChildSession(C.nodes[F[0]].hosts, "/eph/expiring",
                            timeout=1.0)
    t.ok(visible_everywhere("/eph/expiring"), "ephemeral made via a "
         "follower, session timeout 1 s")
    child.kill()
    t0 = time.monotonic()
    gone = gone_everywhere("/eph/expiring", timeout=15)
    t.ok(gone, "client killed: the session expires and the ephemeral "
         "vanishes on every server")
    t.diag("expired and gone everywhere %.2f s after kill -9 of the client "
           "(timeout 1 s)" % (time.monotonic() - t0))
    for i in range(3):
        t.raises(ct.ConnectionClosed, C.raw,
                 "server %d refuses to resume the expired session" % (i + 1),
                 i, session_id=child.session_id, passwd=child.passwd)


@t.case
def watch_on_follower():
    L, F = followers()
    f = clients[F[0]]
    w = clients[L]
    w.create("/watched", b"0")
    f.sync("/watched")
    events = []
    got = threading.Event()

    def cb(ev):
        events.append(ev)
        got.set()
    f.get("/watched", watch=cb)
    f.get_children("/basic", watch=cb)
    w.set("/watched", b"1")
    t.ok(got.wait(10) and events[0].type == "CHANGED" and
         events[0].path == "/watched",
         "data watch set via follower fires for setData via the leader",
         repr(events))
    got.clear()
    w.create("/basic/new-child")
    t.ok(got.wait(10) and events[-1].type == "CHILD" and
         events[-1].path == "/basic",
         "child watch set via follower fires for a create via the leader",
         repr(events))
    t.is_eq(f.get("/watched")[0], b"1", "and the follower reads the new "
            "data after the event")


@t.case
def client_ahead_is_refused():
    L, F = followers()
    z = max(C.zxid(i) for i in range(3))
    future = ((z >> 32) + 5) << 32 | 7
    for i in range(3):
        t.raises(ct.ConnectionClosed, C.raw,
                 "server %d closes a connection whose lastZxidSeen %#x is "
                 "ahead of it" % (i + 1, future), i, last_zxid=future)
    lag = F[0]
    w = clients[L]
    w.ensure_path("/lag")
    w.set("/lag", b"before")
    clients[lag].sync("/lag")
    C.freeze(lag)
    t0 = time.monotonic()
    try:
        for k in range(20):
            st = w.set("/lag", ("v%d" % k).encode())
        t.ok(True, "writes go on with one follower frozen (SIGSTOP)")
        seen = st.mzxid
        t.raises(Exception, C.raw, "the frozen follower answers no "
                 "handshake", lag, last_zxid=seen, io_timeout=1)
    finally:
        C.thaw(lag)
    t.diag("follower frozen for %.2f s" % (time.monotonic() - t0))
    refused = [0]

    def attempt():
        try:
            r = C.raw(lag, last_zxid=seen, io_timeout=2)
        except ct.ConnectionClosed:
            refused[0] += 1
            return None
        try:
            return r.get("/lag")
        finally:
            r.close()
    got = C.wait_for(attempt, 30, 0.02)
    t.ok(got and got[0] == 0 and got[1] == b"v19",
         "a client that saw zxid %#x gets a session on the thawed follower "
         "and never reads older data" % seen, repr(got))
    t.diag("%d handshake(s) refused or closed while the follower caught up"
           % refused[0])
    t.ok(C.wait_stable(30) is not None, "the follower is back in the "
         "ensemble")


@t.case
def five_servers():
    for k in clients.values():
        ct._stop_quietly(k)
    t.is_eq(C.crashes(), [], "no server of the 3 exited by itself")
    C.kill_all()
    c5 = cl.Cluster(5)
    t0 = time.monotonic()
    c5.start()
    t.diag("5 servers up in %.2f s" % (time.monotonic() - t0))
    modes = c5.modes()
    t.is_eq(sorted(modes), ["follower"] * 4 + ["leader"],
            "5 servers: one leader, four followers")
    k = c5.client(None, randomize=True)
    k.create("/five", b"5")
    L = c5.leader()
    down = [L, (L + 1) % 5]
    t0 = time.monotonic()
    for i in down:
        c5.kill9(i)
    live = [i for i in range(5) if i not in down]
    nl = c5.wait_stable(30, among=live)
    t.ok(nl is not None, "leader and a follower killed: the other 3 elect "
         "a leader")
    t.diag("new leader (server %s) after %.2f s" %
           (nl + 1 if nl is not None else "?", time.monotonic() - t0))
    k.create("/five/with-2-down", b"x")
    t.ok(True, "a write succeeds with 2 of 5 down")
    ks = {i: c5.client(i) for i in live}
    ok = True
    for i in live:
        ks[i].sync("/five")
        ok = ok and ks[i].get("/five/with-2-down")[0] == b"x"
    t.ok(ok, "visible on the 3 live servers")
    third = live[0]
    c5.kill9(third)
    live.remove(third)
    t.ok(c5.wait_for(lambda: all(c5.mode(i) == "looking" for i in live),
                     15),
         "3 of 5 down: the 2 survivors stop serving", repr(c5.modes()))
    out = c5.srvr(live[0])
    t.ok(out is not None and
         "This ZooKeeper instance is not currently serving requests" in out,
         "srvr says 'This ZooKeeper instance is not currently serving "
         "requests'", repr(out))
    op = cl.Op(0, "create", "/five/no-quorum", b"n")
    cl.run_op(op, ks[live[0]].create_async("/five/no-quorum", b"n"), 3.0)
    t.ok(op.outcome != "ok", "no write succeeds without a quorum (%s: %s)" %
         (op.outcome, op.error))
    c5.start(down[0])
    nl = c5.wait_stable(60)
    t.ok(nl is not None, "one server back: a quorum of 3 elects a leader")
    live.append(down[0])
    k.create("/five/after", b"y")
    t.ok(True, "and writes succeed again")
    ok, tree = c5.wait_all_equal(live)
    t.ok(ok and tree.get("/five/with-2-down", (None,))[0] == b"x" and
         "/five/after" in tree,
         "the 3 running servers hold identical trees with every write",
         None if ok else tree)
    t.diag("the write sent without a quorum %s" %
           ("was applied later (kazoo queued it)" if "/five/no-quorum" in tree
            else "was not applied"))
    c5.start(down[1], wait=False)
    c5.start(third, wait=False)
    t.ok(c5.wait_stable(60) is not None and
         sorted(c5.modes()) == ["follower"] * 4 + ["leader"],
         "all 5 back: one leader, four followers")
    ok, tree2 = c5.wait_all_equal()
    t.ok(ok, "all 5 identical", None if ok else tree2)
    t.is_eq(c5.crashes(), [], "no server of the 5 exited by itself")
    if ok:
        missing = [p for p in tree if tree2.get(p, (None,))[0] != tree[p][0]]
        t.is_eq(missing, [], "with everything the 3 had")


t.run()
