#!/usr/bin/python3
"""kazoo_basic: CRUD, Stat fields, versions, errors, sequential and ephemeral
nodes, system nodes, path validation and the request size limit.

Written against Apache ZooKeeper 3.8 (COORD_SERVER=zookeeper); coordd must
behave identically.  Where kazoo cannot express something (null data, bad
paths, exact error codes) the raw protocol client coordtest.Raw is used."""

import os
import sys
import threading
import time

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import coordtest as ct                                        # noqa: E402
from coordtest import Raw, ERR                                # noqa: E402

ct.require_server()
from kazoo import exceptions as kx                            # noqa: E402

t = ct.TAP()
srv = ct.Server().start()
zk = ct.kazoo_client(srv)
zk2 = ct.kazoo_client(srv)
raw = Raw(srv.port)


def now_ms():
    return int(time.time() * 1000)


@t.case
def system_nodes():
    # A fresh server has exactly /zookeeper, /zookeeper/config and
    # /zookeeper/quota besides the root.
    t.is_eq(zk.get_children("/"), ["zookeeper"], "fresh server: / has only "
            "the zookeeper child")
    t.is_eq(sorted(zk.get_children("/zookeeper")), ["config", "quota"],
            "/zookeeper has children config and quota")
    data, st = zk.get("/")
    t.is_eq(data, b"", "root data is empty (not null)")
    # The root's Stat on a fresh server is all zero except numChildren=1
    # and cversion=-1.  ZooKeeper reports cversion as 2*creates - numChildren
    # (DataNode.copyStat); the system nodes were never "created", so root
    # shows 2*0-1 = -1 and /zookeeper 2*0-2 = -2.
    t.is_eq((st.czxid, st.mzxid, st.pzxid, st.ctime, st.mtime, st.version,
             st.aversion, st.ephemeralOwner, st.dataLength, st.numChildren),
            (0, 0, 0, 0, 0, 0, 0, 0, 0, 1), "root Stat: zeros, numChildren 1")
    t.is_eq(st.cversion, -1, "root cversion is -1 on a fresh server "
            "(2*creates - numChildren)")
    data, st = zk.get("/zookeeper")
    t.is_eq((data, st.cversion, st.numChildren, st.czxid, st.mzxid),
            (b"", -2, 2, 0, 0), "/zookeeper: empty data, cversion -2, 2 kids")
    data, st = zk.get("/zookeeper/quota")
    t.is_eq((data, st.cversion, st.numChildren, st.aversion),
            (b"", 0, 0, 0), "/zookeeper/quota: empty data, zero Stat")
    t.is_eq(zk.get_acls("/zookeeper/quota")[0],
            [ct_acl(31, "world", "anyone")], "/zookeeper/quota is world:all")
    data, st = zk.get("/zookeeper/config")
    t.is_eq(data, b"", "standalone: /zookeeper/config data is empty")
    t.is_eq(st.aversion, -1, "/zookeeper/config aversion is -1")
    acl, st = zk.get_acls("/zookeeper/config")
    t.is_eq(acl, [ct_acl(1, "world", "anyone")],
            "/zookeeper/config ACL is world:anyone READ only")
    t.raises(kx.NoAuthError, zk.set, "set /zookeeper/config -> NoAuth",
             "/zookeeper/config", b"x")
    t.is_eq(zk.get_acls("/")[0], [ct_acl(31, "world", "anyone")],
            "root ACL is world:anyone ALL")
    # Creating existing system nodes / the root: NodeExists; deleting them:
    # BadArguments (they are "special paths").
    for p in ("/", "/zookeeper", "/zookeeper/quota", "/zookeeper/config"):
        err = raw.create(p, b"")[0]
        t.is_eq(err, ERR["NODEEXISTS"], "create %s -> NODEEXISTS (-110)" % p)
    for p in ("/", "/zookeeper", "/zookeeper/quota", "/zookeeper/config"):
        t.is_eq(raw.delete(p), ERR["BADARGUMENTS"],
                "delete %s -> BADARGUMENTS (-8)" % p)


def ct_acl(perms, scheme, ident):
    from kazoo.security import ACL, Id
    return ACL(perms, Id(scheme, ident))


@t.case
def create_get_set_delete():
    before = now_ms()
    path, st = zk.create("/basic", b"hello", include_data=True)
    after = now_ms()
    t.is_eq(path, "/basic", "create returns the path")
    data, gst = zk.get("/basic")
    t.is_eq(data, b"hello", "get returns the data")
    t.is_eq(tuple(gst), tuple(st), "create2 Stat == getData Stat")
    t.ok(st.czxid > 0, "czxid > 0")
    t.is_eq((st.mzxid, st.pzxid), (st.czxid, st.czxid),
            "new node: mzxid == pzxid == czxid")
    t.is_eq(st.mtime, st.ctime, "new node: mtime == ctime")
    t.ok(before - 5000 <= st.ctime <= after + 5000,
         "ctime is wall-clock milliseconds since the epoch",
         "ctime=%d window=[%d,%d]" % (st.ctime, before, after))
    t.is_eq((st.version, st.cversion, st.aversion, st.ephemeralOwner,
             st.dataLength, st.numChildren), (0, 0, 0, 0, 5, 0),
            "new node: version/cversion/aversion 0, owner 0, dataLength 5")
    t.is_eq(zk.exists("/basic"), gst, "exists returns the same Stat")

    st2 = zk.set("/basic", b"world!")
    t.is_eq(st2.version, 1, "set: version 0 -> 1")
    t.ok(st2.mzxid > st.mzxid, "set: mzxid increases")
    t.is_eq((st2.czxid, st2.pzxid, st2.ctime), (st.czxid, st.pzxid, st.ctime),
            "set: czxid, pzxid, ctime unchanged")
    t.ok(st2.mtime >= st.mtime, "set: mtime does not go backwards")
    t.is_eq((st2.dataLength, st2.cversion, st2.aversion), (6, 0, 0),
            "set: dataLength 6, cversion/aversion untouched")
    t.is_eq(zk.get("/basic"), (b"world!", st2), "get after set")

    # Each write is one transaction; back-to-back writes from one session
    # with nothing else going on get consecutive zxids, and the reply
    # header of a write carries the zxid of its transaction.
    e1, s1 = raw.set("/basic", b"a")
    r2 = raw.call(ct.OP["setData"], ct.Enc().str("/basic").buf(b"b")
                  .int(-1).bytes())
    s2 = r2.dec().stat()
    t.is_eq(s2.mzxid, s1.mzxid + 1, "consecutive writes: zxid + 1")
    t.is_eq(r2.zxid, s2.mzxid, "write reply header zxid == txn zxid")
    t.is_eq(s2.version, 3, "version counts every set")

    # Children change the parent's cversion/numChildren/pzxid only.
    e, cpath, cst, rep = raw.create("/basic/kid", b"")
    _, pst = zk.get("/basic")
    t.is_eq((pst.cversion, pst.numChildren, pst.pzxid), (1, 1, cst.czxid),
            "child create: parent cversion 1, numChildren 1, pzxid=child czxid")
    t.is_eq((pst.version, pst.mzxid), (3, s2.mzxid),
            "child create: parent version and mzxid unchanged")
    raw.set("/basic/kid", b"zzz")
    _, pst2 = zk.get("/basic")
    t.is_eq(tuple(pst2), tuple(pst), "child setData leaves parent Stat alone")
    r = raw.call(ct.OP["delete"], ct.Enc().str("/basic/kid").int(-1).bytes())
    t.is_eq(r.err, 0, "delete child")
    _, pst3 = zk.get("/basic")
    t.is_eq((pst3.cversion, pst3.numChildren, pst3.pzxid), (2, 0, r.zxid),
            "child delete: parent cversion 2, numChildren 0, pzxid=delete zxid")
    t.ok(zk.delete("/basic") is True, "delete returns True")
    t.is_eq(zk.exists("/basic"), None, "exists after delete -> None")


@t.case
def versions():
    zk.create("/ver", b"0")
    t.raises(kx.BadVersionError, zk.set, "set with wrong version -> "
             "BadVersionError", "/ver", b"x", version=5)
    st = zk.set("/ver", b"1", version=0)
    t.is_eq(st.version, 1, "set with matching version")
    st = zk.set("/ver", b"2", version=-1)
    t.is_eq(st.version, 2, "version -1 means any version")
    t.raises(kx.BadVersionError, zk.delete, "delete with wrong version -> "
             "BadVersionError", "/ver", version=1)
    t.is_eq(raw.delete("/ver", 7), ERR["BADVERSION"], "raw: BADVERSION is -103")
    t.ok(zk.delete("/ver", version=2), "delete with matching version")


@t.case
def errors():
    t.raises(kx.NoNodeError, zk.get, "get missing -> NoNodeError", "/nope")
    t.raises(kx.NoNodeError, zk.set, "set missing -> NoNodeError", "/nope",
             b"")
    t.raises(kx.NoNodeError, zk.delete, "delete missing -> NoNodeError",
             "/nope")
    t.raises(kx.NoNodeError, zk.get_children, "children of missing -> "
             "NoNodeError", "/nope")
    t.raises(kx.NoNodeError, zk.get_acls, "getACL missing -> NoNodeError",
             "/nope")
    t.raises(kx.NoNodeError, zk.create, "create under missing parent -> "
             "NoNodeError", "/nope/child")
    t.is_eq(zk.exists("/nope"), None, "exists missing -> None (no error)")
    t.is_eq(raw.exists("/nope")[0], ERR["NONODE"], "raw exists missing -> "
            "NONODE (-101)")
    zk.create("/dup")
    t.raises(kx.NodeExistsError, zk.create, "create existing -> "
             "NodeExistsError", "/dup")
    t.is_eq(raw.create("/dup")[0], ERR["NODEEXISTS"], "raw: NODEEXISTS -110")
    zk.create("/dup/kid")
    t.raises(kx.NotEmptyError, zk.delete, "delete with children -> "
             "NotEmptyError", "/dup")
    t.is_eq(raw.delete("/dup"), ERR["NOTEMPTY"], "raw: NOTEMPTY -111")
    zk.create("/eph", ephemeral=True)
    t.raises(kx.NoChildrenForEphemeralsError, zk.create,
             "child of ephemeral -> NoChildrenForEphemeralsError", "/eph/kid")
    t.is_eq(raw.create("/eph/kid")[0], ERR["NOCHILDRENFOREPHEMERALS"],
            "raw: NOCHILDRENFOREPHEMERALS -108")
    t.raises(kx.NoNodeError, zk.create, "NoNode beats NoChildrenForEphemerals"
             " for a missing grand-parent", "/eph/a/b")
    zk.delete("/dup", recursive=True)
    zk.delete("/eph")


@t.case
def null_vs_empty_data():
    # kazoo sends value=None as a null buffer (length -1), b"" as length 0.
    # ZooKeeper keeps the distinction: null reads back as null (kazoo: None).
    zk.create("/null", None)
    data, st = zk.get("/null")
    t.is_eq(data, None, "create with null data -> get returns null")
    t.is_eq(st.dataLength, 0, "null data: dataLength 0")
    zk.create("/empty", b"")
    t.is_eq(zk.get("/empty")[0], b"", "create with b'' -> get returns b''")
    zk.set("/empty", None)
    t.is_eq(zk.get("/empty")[0], None, "set null -> null")
    zk.set("/null", b"")
    t.is_eq(zk.get("/null")[0], b"", "set b'' -> b''")
    # On the wire: Raw sees the -1 length itself.
    raw.create("/null2", None)
    r = raw.get_r("/null2")
    t.is_eq(r.body[:4], b"\xff\xff\xff\xff", "wire: null data is sent back "
            "as buffer length -1")
    raw.create("/empty2", b"")
    r = raw.get_r("/empty2")
    t.is_eq(r.body[:4], b"\0\0\0\0", "wire: empty data is buffer length 0")
    for p in ("/null", "/empty", "/null2", "/empty2"):
        zk.delete(p)


@t.case
def sequential():
    zk.create("/seq")
    p0 = zk.create("/seq/n-", sequence=True)
    p1 = zk.create("/seq/n-", b"x", sequence=True)
    t.is_eq((p0, p1), ("/seq/n-0000000000", "/seq/n-0000000001"),
            "sequential suffix is %010d, starting at 0")
    zk.create("/seq/plain")
    p3 = zk.create("/seq/n-", sequence=True)
    t.is_eq(p3, "/seq/n-0000000003", "a plain child also advances the counter")
    zk.delete("/seq/plain")
    zk.delete(p0)
    st = zk.exists("/seq")
    # 4 creates + 2 deletes: visible cversion 6, but the sequence counter is
    # the number of creates (4).  ZooKeeper stores only a create counter and
    # reports cversion = 2*creates - numChildren.
    t.is_eq((st.cversion, st.numChildren), (6, 2),
            "after 4 creates and 2 deletes: cversion 6, numChildren 2")
    p4 = zk.create("/seq/n-", sequence=True)
    t.is_eq(p4, "/seq/n-0000000004", "deletes do NOT advance the sequence "
            "counter (suffix 4, not cversion 6)")
    p5 = zk.create("/seq/", sequence=True)
    t.is_eq(p5, "/seq/0000000005", "sequential with a trailing slash: the "
            "name is just the number")
    p6 = zk.create("/seq/e-", ephemeral=True, sequence=True)
    t.is_eq(p6, "/seq/e-0000000006", "ephemeral sequential")
    t.is_eq(zk.exists(p6).ephemeralOwner, zk.client_id[0],
            "ephemeral sequential owner")
    # the generated name may collide with an existing node: NodeExists
    zk.create("/seq/n-0000000008")       # uses counter 7
    t.raises(kx.NodeExistsError, zk.create, "sequential name colliding with "
             "an existing node -> NodeExistsError", "/seq/n-", sequence=True)
    p9 = zk.create("/seq/m-", sequence=True)
    t.is_eq(p9, "/seq/m-0000000008", "failed create does not advance the "
            "counter")
    zk.delete("/seq", recursive=True)
    # sequence at the root: a fresh server's root counter starts at 0 even
    # though /zookeeper exists (and cversion shows -1 +...); creates so far
    # at the root in this file: /basic /ver /dup /eph /null /empty /null2
    # /empty2 /seq = 9
    p = zk.create("/r-", sequence=True)
    t.is_eq(p, "/r-0000000009", "root sequence counter = creates at the root")
    st = zk.exists("/")
    t.is_eq(st.cversion, 2 * 10 - st.numChildren, "root cversion = 2*creates"
            " - numChildren")
    zk.delete(p)


@t.case
def ephemerals():
    ev = threading.Event()
    seen = []
    zk2.create("/eph1", b"e", ephemeral=True)
    st = zk.exists("/eph1", watch=lambda e: (seen.append(e), ev.set()))
    t.is_eq(st.ephemeralOwner, zk2.client_id[0],
            "ephemeralOwner == creating session id")
    t.ok(st.ephemeralOwner != 0, "ephemeralOwner is non-zero")
    e, lst = Raw(srv.port).get_ephemerals("/")
    t.is_eq((e, lst), (0, []), "getEphemerals of another session: empty")
    zk2.stop()
    t.ok(ev.wait(10), "ephemeral deleted when its session closes (watch fired)")
    t.is_eq([(x.type, x.path) for x in seen], [("DELETED", "/eph1")],
            "exactly one DELETED event")
    t.is_eq(zk.exists("/eph1"), None, "ephemeral gone")
    zk2.start()


@t.case
def bad_paths():
    # kazoo normalises paths itself ('//' and trailing '/' are collapsed, a
    # leading '/' is added, '.'/'..' raise ValueError) so the server never
    # sees them from kazoo:
    t.raises(ValueError, zk.create, "kazoo rejects '..' client-side",
             "/a/../b")
    zk.ensure_path("/kz")
    zk.create("//kz//norm/")
    t.ok(zk.exists("/kz/norm") is not None, "kazoo: '//kz//norm/' -> "
         "'/kz/norm'")
    zk.delete("/kz", recursive=True)
    # The server itself (Raw sends the bytes as given).  ZooKeeper's create
    # order: (1) the path must contain '/' and no NUL and not be a special
    # path -> BADARGUMENTS; (2) the parent (text before the last '/') must
    # exist -> NONODE; (3) the full path (with sequence suffix) must be
    # valid -> BADARGUMENTS.  So '/e//x' is NONODE (parent '/e/' missing)
    # while '/e/' is BADARGUMENTS.
    raw.create("/e")
    B, N = ERR["BADARGUMENTS"], ERR["NONODE"]
    cases = [("e", B), ("/e/", B), ("/e/.", B), ("/e/..", B), ("/e//x", N),
             ("/e/./x", N), ("/e/../x", N), ("/e/x\0y", B), ("", B),
             ("/e/\x01", B), ("/e/\x1f", B), ("/e/\x7f", B), ("/e/\x9f", B),
             ("/e/\ud800", B), ("/e/\uf8ff", B), ("/e/\ufff0", B),
             ("/e/\uffff", B), ("/nope//x", N)]
    for p, want in cases:
        t.is_eq(raw.create(p, b"")[0], want, "create %r -> %d" % (p, want))
    for p in ("/e/...", "/e/.x", "/e/x y", "/e/\u00e9", "/e/zookeeper"):
        t.is_eq(raw.create(p, b"")[:2], (0, p), "valid name %r" % p)
        raw.delete(p)
    e, p, _, _ = raw.create("/e/.", b"", flags=ct.PERSISTENT_SEQUENTIAL)
    t.is_eq((e, p), (0, "/e/.0000000005"), "'/e/.' + sequence suffix is "
            "valid (validated after the suffix is appended)")
    # setData validates first: always BADARGUMENTS
    for p in ("e", "/e/", "//e", "/e/.", "/e/x\0"):
        t.is_eq(raw.set(p, b"")[0], B, "setData %r -> BADARGUMENTS" % p)
    # delete: no '/' or a NUL -> BADARGUMENTS, otherwise it is a lookup
    t.is_eq(raw.delete("e"), B, "delete 'e' -> BADARGUMENTS")
    t.is_eq(raw.delete("/e/x\0"), B, "delete with NUL -> BADARGUMENTS")
    for p in ("/e/", "//e", "/e/."):
        t.is_eq(raw.delete(p), N, "delete %r -> NONODE" % p)
    # reads do not validate: a malformed path is simply not found, except
    # that exists() rejects a NUL with BADARGUMENTS.
    for p in ("e", "/e/", "//e", "/e/.", "/e/.."):
        t.is_eq((raw.get(p)[0], raw.exists(p)[0], raw.children(p)[0]),
                (N, N, N), "get/exists/getChildren %r -> NONODE" % p)
    t.is_eq(raw.exists("/e\0")[0], B, "exists with NUL -> BADARGUMENTS")
    t.is_eq(raw.get("/e\0")[0], N, "getData with NUL -> NONODE")
    t.is_eq(sorted(raw.children("/e")[1]), [".0000000005"],
            "nothing else was created")
    raw.delete("/e/.0000000005")
    raw.delete("/e")


@t.case
def request_size_limit():
    zk.create("/big")
    st = zk.set("/big", b"x" * 1000000)
    t.is_eq(st.dataLength, 1000000, "1,000,000 bytes of data are accepted")
    # jute.maxbuffer (0xfffff): a request packet above 1 MiB - 1 makes the
    # server close the connection (no error reply); kazoo reports
    # ConnectionLoss and reconnects with the same session.
    sid = zk.client_id[0]
    try:
        zk.set("/big", b"y" * 1100000)
        t.ok(False, "1.1 MB setData fails")
    except (kx.ConnectionLoss, kx.ZookeeperError,
            kx.ConnectionClosedError) as e:
        t.ok(True, "1.1 MB setData fails (%s)" % type(e).__name__)
    t.is_eq(zk2.get("/big")[1].dataLength, 1000000,
            "other clients still served; data unchanged")
    t.ok(ct.wait_for(lambda: zk.connected, 15), "kazoo reconnects")
    t.is_eq(zk.client_id[0], sid, "... to the same session")
    t.is_eq(zk.get("/big")[1].version, 1, "and is served again")
    r = Raw(srv.port)
    try:
        r.set("/big", b"z" * 1100000)
        t.ok(False, "raw: oversized packet closes the connection")
    except (ct.ConnectionClosed, OSError):
        t.ok(True, "raw: oversized packet closes the connection")
    zk.delete("/big")


t.run()
