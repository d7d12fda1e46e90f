#!/usr/bin/python3
"""kazoo_session: session timeout negotiation, reattaching a session with
id+password (also across a server restart and kill -9), session close and
expiry (ephemerals removed, their watches fired), containers, TTL nodes,
getEphemerals, getAllChildrenNumber, whoAmI, ping and sync.

How sessions are made to expire (reliably, without freezing processes):
  * natural expiry: a raw-protocol session (coordtest.Raw) closes its TCP
    socket without sending closeSession; nobody pings, so the server expires
    it after the negotiated timeout (500 ms here);
  * expiring a live kazoo session: a raw connection reattaches to kazoo's
    session with kazoo's id+password (the server moves the session to the
    new connection and closes kazoo's socket) and sends closeSession; kazoo
    then reconnects, is told the session expired (LOST) and starts a new one.

Containers and TTL nodes need the raw protocol (kazoo 2.8 cannot create
them); the server runs with znode.container.checkIntervalMs=100 so they are
reaped quickly (a JVM -D property for ZooKeeper, a cfg key for coordd)."""

import os
import sys
import threading
import time

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import coordtest as ct                                        # noqa: E402
from coordtest import Raw, ERR, EV_DELETED, EV_CHILD          # noqa: E402

ct.require_server()
from kazoo.client import KazooState                           # noqa: E402

TICK = 250                     # sessions: min 500 ms, max 5000 ms
t = ct.TAP()
srv = ct.Server(tick=TICK).start()
zk = ct.kazoo_client(srv)
wait_for = ct.wait_for


def expect_expired(name, **kw):
    try:
        r = Raw(srv.port, **kw)
        t.ok(False, name, "session %#x accepted, timeout %d" %
             (r.session_id, r.timeout_ms))
        r.drop()
    except ct.ConnectionClosed:
        t.ok(True, name)


@t.case
def negotiation():
    want = {1: 500, 100: 500, 499: 500, 500: 500, 501: 501, 3333: 3333,
            5000: 5000, 5001: 5000, 100000: 5000, 0: 500, -5: 500}
    got = {}
    for req in want:
        r = Raw(srv.port, timeout_ms=req)
        got[req] = r.timeout_ms
        r.close()
    t.is_eq(got, want, "negotiated timeout = requested clamped to "
            "[2*tickTime, 20*tickTime] = [500, 5000]")
    r = Raw(srv.port)
    t.is_eq((r.protocol_version, len(r.passwd), r.read_only), (0, 16, False),
            "ConnectResponse: protocolVersion 0, 16-byte password, "
            "readOnly false")
    t.ok(r.session_id > 0, "session id is positive")
    r2 = Raw(srv.port, read_only=True)
    t.is_eq(r2.read_only, False, "a read-only-capable client still gets a "
            "read-write session from a standalone server")
    t.ok(r2.session_id != r.session_id, "session ids are unique")
    rep = r.ping()
    t.is_eq((rep.xid, rep.err, rep.body), (ct.XID_PING, 0, b""),
            "ping reply: xid -2, err 0, no body")
    t.is_eq(r.whoami(), (0, [("ip", "127.0.0.1")]), "whoAmI without auth: "
            "ip 127.0.0.1")
    t.is_eq(r.sync("/"), (0, "/"), "sync returns the path")
    t.is_eq(r.sync("/no/such/node"), (0, "/no/such/node"),
            "sync of a missing path still succeeds")
    r.close()
    r2.close()
    kz = ct.kazoo_client(srv, timeout=0.1)
    t.ok(kz.connected, "kazoo with a 100 ms timeout request connects "
         "(server raises it to 500 ms)")
    kz.stop()
    # minSessionTimeout/maxSessionTimeout override the defaults
    s2 = ct.Server(tick=TICK, cfg={"minSessionTimeout": "1000",
                                   "maxSessionTimeout": "3000"}).start()
    got = {}
    for req in (10, 1000, 2000, 3000, 9000):
        r = Raw(s2.port, timeout_ms=req)
        got[req] = r.timeout_ms
        r.close()
    t.is_eq(got, {10: 1000, 1000: 1000, 2000: 2000, 3000: 3000, 9000: 3000},
            "minSessionTimeout=1000/maxSessionTimeout=3000 clamp")
    s2.kill9()


@t.case
def reattach_and_move():
    a = Raw(srv.port, timeout_ms=5000)
    a.create("/s-eph", b"", flags=ct.EPHEMERAL)
    sid, pw = a.session_id, a.passwd
    a.drop()
    b = Raw(srv.port, session_id=sid, passwd=pw, timeout_ms=3000)
    t.is_eq(b.session_id, sid, "reattach with id+password keeps the session")
    t.is_eq(b.passwd, pw, "same password returned")
    t.is_eq(b.timeout_ms, 3000, "timeout renegotiated on reattach")
    t.is_eq(b.exists("/s-eph")[1].ephemeralOwner, sid,
            "ephemeral survives the reconnect")
    # reattaching from a second connection moves the session: the server
    # closes the older connection.
    c = Raw(srv.port, session_id=sid, passwd=pw, timeout_ms=3000)
    try:
        b.exists("/")
        t.ok(False, "older connection closed when the session moves")
    except (ct.ConnectionClosed, OSError):
        t.ok(True, "older connection closed when the session moves")
    t.is_eq(c.exists("/s-eph")[0], 0, "new connection serves the session")
    # wrong password: the connect is answered with timeout 0 / session 0
    # (= expired) and closed.  ZooKeeper also closes the session's CURRENT
    # connection (before checking the password); the session stays valid.
    # coordd deliberately does not copy that: whoever knows a session id
    # must not be able to disconnect its owner.
    expect_expired("wrong password -> expired (timeout 0)", session_id=sid,
                   passwd=b"x" * 16)
    try:
        c.exists("/")
        alive = True
    except (ct.ConnectionClosed, OSError):
        alive = False
    if ct.server_kind() == "zookeeper":
        t.ok(not alive, "ZooKeeper closes the live connection on a "
             "bad-password reattach")
    else:
        t.ok(alive, "coordd keeps the owner's connection on a bad-password "
             "reattach by someone else")
        c.drop()  # just the socket: the session must stay for the next check
    d = Raw(srv.port, session_id=sid, passwd=pw)
    t.is_eq(d.exists("/s-eph")[0], 0, "session still valid after a "
            "bad-password attempt")
    expect_expired("unknown session id -> expired", session_id=0x12345678,
                   passwd=b"\0" * 16)
    d.close()
    expect_expired("reattach after closeSession -> expired", session_id=sid,
                   passwd=pw)
    t.is_eq(zk.exists("/s-eph"), None, "closeSession removed the ephemeral")


@t.case
def natural_expiry():
    w = Raw(srv.port)
    a = Raw(srv.port, timeout_ms=500)
    t.is_eq(a.timeout_ms, 500, "session with a 500 ms timeout")
    a.create("/x1", b"", flags=ct.EPHEMERAL)
    e, p, _, _ = a.create("/x2-", b"", flags=ct.EPHEMERAL_SEQUENTIAL)
    e, lst = a.get_ephemerals("/")
    t.is_eq((e, sorted(lst)), (0, sorted(["/x1", p])), "getEphemerals lists "
            "the session's ephemerals")
    t.is_eq(a.get_ephemerals("/x1"), (0, ["/x1"]), "getEphemerals prefix "
            "filter")
    t.is_eq(a.get_ephemerals("/zzz"), (0, []), "no match -> empty list")
    t.is_eq(w.get_ephemerals("/"), (0, []), "another session has none")
    w.exists("/x1", watch=True)
    w.get("/x1", watch=True)
    w.children("/", watch=True)
    # still pinging: the session lives well past its timeout
    t.is_eq(a.wait_event(lambda e: False, 1.2), None, "(kept alive by pings "
            "for 1.2 s)")
    t.is_eq(w.exists("/x1")[0], 0, "ephemeral alive while the client pings")
    t0 = a.last_send            # expiry counts from the last packet (ping)
    a.drop()                                       # no closeSession
    t.is_eq(w.exists("/x1")[0], 0, "ephemeral still there right after the "
            "connection drops")
    ev = w.wait_event(lambda e: e[0] == EV_DELETED, 10)
    dt = time.monotonic() - t0
    w.wait_event(lambda e: e[0] == EV_CHILD, 5)
    t.ok(ev is not None and ev[2] == "/x1", "session expires: DELETED fired "
         "for the ephemeral", repr(ev))
    t.ok(0.4 <= dt <= 3.0, "expired about the timeout after the last ping "
         "(%.2f s)" % dt)
    t.is_eq(sorted({(x[0], x[2]) for x in w.events}),
            [(EV_DELETED, "/x1"), (EV_CHILD, "/")],
            "one DELETED for the ephemeral's watches, CHILD for the parent")
    t.is_eq(w.exists(p)[0], ERR["NONODE"], "ephemeral sequential gone too")
    expect_expired("reattach to an expired session -> expired",
                   session_id=a.session_id, passwd=a.passwd)
    w.close()


@t.case
def kazoo_session_expiry():
    # one host entry and a 1 s retry delay: kazoo does not win its session
    # back before our closeSession arrives
    kz = ct.kazoo_client(srv, timeout=2.0, hosts_twice=False,
                         connection_retry=dict(max_tries=-1, delay=1.0,
                                               backoff=1, max_jitter=0,
                                               max_delay=1.0))
    states = []
    kz.add_listener(lambda s: states.append(s))
    kz.create("/kx", b"", ephemeral=True)
    old = kz.client_id
    fired = threading.Event()
    zk.exists("/kx", watch=lambda e: fired.set())
    # take the session over and close it (kazoo may win the session back
    # before closeSession is sent -- then the server closes our connection;
    # retry until the closeSession is answered)
    closed = False
    for _ in range(50):
        try:
            r = Raw(srv.port, session_id=old[0], passwd=old[1])
            closed = r.call(ct.OP["closeSession"], b"").err == 0
            r.drop()
        except (ct.ConnectionClosed, OSError):
            pass
        if closed:
            break
    t.ok(closed, "closeSession sent on kazoo's session from another "
         "connection")
    t.ok(fired.wait(10), "closing kazoo's session elsewhere deletes its "
         "ephemeral (watch fired)")
    t.ok(wait_for(lambda: KazooState.LOST in states and kz.connected, 20),
         "kazoo sees LOST and reconnects", repr(states))
    t.ok(kz.client_id[0] != old[0], "with a new session id")
    t.is_eq(zk.exists("/kx"), None, "old ephemeral gone")
    kz.stop()


@t.case
def server_restart():
    states = []
    zk.add_listener(lambda s: states.append(s))
    zk.create("/keep", b"k", ephemeral=True)
    zk.create("/persist", b"p")
    sid = zk.client_id[0]
    orphan = Raw(srv.port, timeout_ms=1000)
    orphan.create("/orphan", b"", flags=ct.EPHEMERAL)
    orphan.drop()
    srv.restart()
    t.ok(wait_for(lambda: zk.connected, 20), "kazoo reconnects after a "
         "server restart")
    t.is_eq(zk.client_id[0], sid, "same session (reattached with "
            "id+password)")
    t.ok(KazooState.SUSPENDED in states and KazooState.LOST not in states,
         "states: SUSPENDED then CONNECTED, never LOST", repr(states))
    t.is_eq(zk.get("/persist")[0], b"p", "data survives the restart")
    t.is_eq(zk.exists("/keep").ephemeralOwner, sid, "ephemeral of a live "
            "session survives the restart")
    # a dropped session's timer restarts with the server: its ephemeral is
    # still there after the restart and goes away after the timeout.
    gone = wait_for(lambda: zk.exists("/orphan") is None, 10)
    t.ok(gone, "orphaned session expires after the restart")
    # kill -9: acknowledged writes and sessions are durable
    rk = Raw(srv.port, timeout_ms=5000)
    rk.create("/rk", b"", flags=ct.EPHEMERAL)
    zk.set("/persist", b"after")
    st = zk.exists("/persist")
    srv.kill9()
    srv.start()
    rk.reattach()
    t.is_eq(rk.exists("/rk")[1].ephemeralOwner, rk.session_id,
            "raw session reattached after kill -9, its ephemeral intact")
    rk.close()
    t.ok(wait_for(lambda: zk.connected, 20), "reconnects after kill -9")
    t.is_eq(zk.client_id[0], sid, "session survives kill -9")
    data, st2 = zk.get("/persist")
    t.is_eq((data, st2.mzxid, st2.version), (b"after", st.mzxid, st.version),
            "acknowledged write survives kill -9")
    t.is_eq(zk.exists("/keep").ephemeralOwner, sid, "ephemeral survives "
            "kill -9")
    p = zk.create("/persist/n-", sequence=True)
    t.is_eq(p, "/persist/n-0000000000", "sequence counters survive")
    zk.delete("/persist", recursive=True)
    zk.delete("/keep")


@t.case
def containers():
    r = Raw(srv.port)
    e, p, st, _ = r.create("/con", b"c", flags=ct.CONTAINER)
    t.is_eq((e, p), (0, "/con"), "createContainer (opcode 19)")
    t.is_eq(st.ephemeralOwner, 0, "container: ephemeralOwner reads as 0")
    r.create("/con-never", b"", flags=ct.CONTAINER)
    r.create("/con/kid", b"")
    r.create("/con/kid2", b"")
    r.delete("/con/kid")
    t.is_eq(r.exists("/con")[0], 0, "container kept while it has children")
    r.delete("/con/kid2")
    t.ok(wait_for(lambda: r.exists("/con")[0] == ERR["NONODE"], 10),
         "container deleted after its last child goes")
    t.is_eq(r.exists("/con-never")[0], 0, "a container that never had "
            "children is kept")
    # a container emptied by session expiry
    r.create("/con2", b"", flags=ct.CONTAINER)
    a = Raw(srv.port, timeout_ms=500)
    a.create("/con2/e", b"", flags=ct.EPHEMERAL)
    a.close()
    t.ok(wait_for(lambda: r.exists("/con2")[0] == ERR["NONODE"], 10),
         "container deleted after its ephemeral child's session ends")
    # NB: create/create2 with flags=4 (CONTAINER) is not tested: clients use
    # opcode 19 for containers, and ZooKeeper 3.8.0 handles flags=4 on
    # create2 inconsistently (it logs "Digests are not matching" and stores
    # a plain persistent node).
    t.is_eq(r.create("/cs-", b"", flags=ct.CONTAINER | 2,
                     op="createContainer")[0], ERR["BADARGUMENTS"],
            "sequential container -> BADARGUMENTS")
    r.create("/ephp", b"", flags=ct.EPHEMERAL)
    t.is_eq(r.create("/ephp/c", b"", flags=ct.CONTAINER)[0],
            ERR["NOCHILDRENFOREPHEMERALS"], "container under an ephemeral "
            "-> NOCHILDRENFOREPHEMERALS")
    r.create("/con4", b"", flags=ct.CONTAINER)
    t.is_eq(r.create("/con4/e", b"", flags=ct.EPHEMERAL)[0], 0,
            "ephemeral child of a container is fine")
    r.close()
    zk.delete("/con-never")
    zk.delete("/con4", recursive=True) if zk.exists("/con4") else None


@t.case
def ttl_nodes():
    r = Raw(srv.port)
    e, p, st, _ = r.create("/ttl", b"t", flags=ct.PERSISTENT_WITH_TTL,
                           ttl=300)
    t.is_eq((e, p), (0, "/ttl"), "createTTL (opcode 21) PERSISTENT_WITH_TTL")
    t.is_eq(st.ephemeralOwner, 0, "TTL node: ephemeralOwner reads as 0")
    e, p, _, _ = r.create("/ttls-", b"", flags=ct.PERSISTENT_SEQUENTIAL_WITH_TTL,
                          ttl=300)
    t.ok(e == 0 and p.startswith("/ttls-") and len(p) == 16,
         "PERSISTENT_SEQUENTIAL_WITH_TTL", repr((e, p)))
    r.create("/ttlkid", b"", flags=ct.PERSISTENT_WITH_TTL, ttl=300)
    r.create("/ttlkid/k", b"")
    t.ok(wait_for(lambda: r.exists("/ttl")[0] == ERR["NONODE"], 10),
         "TTL node deleted after the TTL passes")
    # reaped by the same or the next reaper round (created a moment later)
    t.ok(wait_for(lambda: r.exists(p)[0] == ERR["NONODE"], 10),
         "sequential TTL node too")
    t.is_eq(r.exists("/ttlkid")[0], 0, "a TTL node with children is kept")
    r.delete("/ttlkid/k")
    t.ok(wait_for(lambda: r.exists("/ttlkid")[0] == ERR["NONODE"], 10),
         "... and deleted once empty (TTL long passed)")
    # setData refreshes the TTL (it counts from mtime)
    r.create("/ttlset", b"", flags=ct.PERSISTENT_WITH_TTL, ttl=1000)
    r.create("/ttlref", b"", flags=ct.PERSISTENT_WITH_TTL, ttl=1000)
    alive = True
    t0 = time.monotonic()
    while time.monotonic() - t0 < 5 and r.exists("/ttlref")[0] == 0:
        alive = alive and r.set("/ttlset", b"x")[0] == 0
        time.sleep(0.05)
    t.ok(alive and r.exists("/ttlref")[0] == ERR["NONODE"],
         "reference TTL node expired while ...")
    t.is_eq(r.exists("/ttlset")[0], 0, "... the one kept being written to "
            "lives (TTL counts from the last modification)")
    t.ok(wait_for(lambda: r.exists("/ttlset")[0] == ERR["NONODE"], 10),
         "and expires once writes stop")
    B = ERR["BADARGUMENTS"]
    bad = [("ttl 0", dict(flags=5, ttl=0)), ("ttl -1", dict(flags=5, ttl=-1)),
           ("ttl 2^40 (max is 2^40-1)", dict(flags=5, ttl=1 << 40)),
           ("createTTL with flags 0", dict(flags=0, ttl=1000)),
           ("createTTL with EPHEMERAL", dict(flags=1, ttl=1000)),
           ("createTTL with CONTAINER", dict(flags=4, ttl=1000)),
           ("create2 with TTL flag 5", dict(flags=5, op="create2"))]
    for name, kw in bad:
        t.is_eq(r.create("/ttlbad", b"", **kw)[0], B,
                "%s -> BADARGUMENTS" % name)
    t.is_eq(r.create("/ttlmax", b"", flags=5, ttl=(1 << 40) - 1)[0], 0,
            "ttl 2^40-1 accepted")
    r.create("/ephq", b"", flags=ct.EPHEMERAL)
    t.is_eq(r.create("/ephq/t", b"", flags=5, ttl=1000)[0],
            ERR["NOCHILDRENFOREPHEMERALS"], "TTL node under an ephemeral -> "
            "NOCHILDRENFOREPHEMERALS")
    r.close()
    zk.delete("/ttlmax")
    # without extendedTypesEnabled TTL nodes are refused
    s3 = ct.Server(tick=TICK, props={"zookeeper.extendedTypesEnabled":
                                     "false"},
                   cfg={"extendedTypesEnabled": "false"}).start()
    r3 = Raw(s3.port)
    t.is_eq(r3.create("/ttl", b"", flags=5, ttl=1000)[0],
            ERR["UNIMPLEMENTED"], "extendedTypesEnabled=false: createTTL -> "
            "UNIMPLEMENTED (-6)")
    r3.close()
    s3.kill9()


@t.case
def all_children_number():
    r = Raw(srv.port)
    r.create("/acn")
    r.create("/acn/a")
    r.create("/acn/a/b")
    r.create("/acn/c")
    t.is_eq(r.all_children_number("/acn"), (0, 3), "getAllChildrenNumber "
            "counts all descendants (not the node)")
    t.is_eq(r.all_children_number("/acn/c"), (0, 0), "leaf -> 0")
    t.is_eq(r.all_children_number("/zookeeper"), (0, 2), "/zookeeper -> 2 "
            "(config, quota)")
    t.is_eq(r.all_children_number("/nope")[0], ERR["NONODE"],
            "missing -> NONODE")
    r.close()
    zk.delete("/acn", recursive=True)


t.run()
