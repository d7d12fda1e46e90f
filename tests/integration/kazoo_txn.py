#!/usr/bin/python3
"""kazoo_txn: multi-op transactions (client.transaction()) -- atomic
all-or-nothing with per-op results -- plus the wire format of multi and
multiRead replies (coordtest.Raw)."""

import os
import sys

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import coordtest as ct                                        # noqa: E402
from coordtest import Raw, ERR, OP                            # noqa: E402

ct.require_server()
from kazoo.protocol.states import ZnodeStat                   # noqa: E402

t = ct.TAP()
srv = ct.Server().start()
zk = ct.kazoo_client(srv)
zk2 = ct.kazoo_client(srv)


def types(results):
    return [type(r).__name__ if isinstance(r, Exception) else r
            for r in results]


@t.case
def commit_success():
    zk.create("/tx")
    tx = zk.transaction()
    tx.create("/tx/a", b"1")
    tx.create("/tx/b")
    tx.set_data("/tx/a", b"2")
    tx.check("/tx/a", 1)
    tx.delete("/tx/b")
    tx.create("/tx/s-", sequence=True)
    res = tx.commit()
    t.is_eq(len(res), 6, "one result per op")
    t.is_eq(res[0:2], ["/tx/a", "/tx/b"], "create results are the paths")
    t.ok(isinstance(res[2], ZnodeStat) and res[2].version == 1 and
         res[2].dataLength == 1, "set_data result is the new Stat (version 1)",
         repr(res[2]))
    t.is_eq(res[3:5], [True, True], "check and delete results are True")
    t.is_eq(res[5], "/tx/s-0000000002", "sequential create inside a "
            "transaction counts the earlier creates of the same transaction")
    data, st = zk.get("/tx/a")
    t.is_eq(data, b"2", "later ops see earlier ops' effects")
    t.is_eq((st.czxid, st.mzxid), (st.czxid, st.czxid),
            "all ops of a transaction share one zxid (czxid == mzxid)")
    t.is_eq(zk.exists("/tx/b"), None, "created and deleted in one txn")
    pst = zk.exists("/tx")
    t.is_eq((pst.numChildren, pst.cversion, pst.pzxid), (2, 4, st.czxid),
            "parent: 2 children, cversion 4 (3 creates + 1 delete), pzxid")


@t.case
def rollback():
    before = zk.get("/tx/a")
    tx = zk.transaction()
    tx.create("/tx/c", b"new")
    tx.set_data("/tx/a", b"x", version=0)      # wrong: version is 1
    tx.create("/tx/d")
    res = tx.commit()
    t.is_eq(types(res), ["RolledBackError", "BadVersionError",
                         "RuntimeInconsistency"],
            "failed txn: earlier ops RolledBackError (code 0), the failing op "
            "its own error, later ops RuntimeInconsistency (-2)")
    t.is_eq(zk.exists("/tx/c"), None, "earlier create rolled back")
    t.is_eq(zk.exists("/tx/d"), None, "later create not applied")
    t.is_eq(zk.get("/tx/a"), before, "node untouched (data and Stat)")
    cases = [
        ("check on a missing node", lambda tx: tx.check("/tx/none", 0),
         "NoNodeError"),
        ("create existing", lambda tx: tx.create("/tx/a"), "NodeExistsError"),
        ("delete non-empty", lambda tx: tx.delete("/tx"), "NotEmptyError"),
        ("check wrong version", lambda tx: tx.check("/tx/a", 7),
         "BadVersionError"),
        ("create under missing parent", lambda tx: tx.create("/tx/n/o"),
         "NoNodeError"),
    ]
    for name, add, want in cases:
        tx = zk.transaction()
        tx.set_data("/tx/a", b"first")
        add(tx)
        tx.delete("/tx/a")
        res = tx.commit()
        t.is_eq(types(res), ["RolledBackError", want, "RuntimeInconsistency"],
                "%s -> [RolledBack, %s, RuntimeInconsistency]" % (name, want))
    t.is_eq(zk.get("/tx/a"), before, "still untouched after 5 failed txns")
    # an op that depends on an earlier op's effect is checked against it
    tx = zk.transaction()
    tx.set_data("/tx/a", b"v2", version=1)
    tx.set_data("/tx/a", b"v3", version=2)
    tx.check("/tx/a", 3)
    res = tx.commit()
    t.is_eq(types(res)[2], True, "versions advance within a transaction")
    t.is_eq(zk.get("/tx/a")[1].version, 3, "version 3 after two sets")


@t.case
def empty_and_context_manager():
    t.is_eq(zk.transaction().commit(), [], "empty transaction -> []")
    with zk.transaction() as tx:
        tx.create("/tx/cm", b"x")
        tx.create("/tx/cm/e", ephemeral=True)
    t.is_eq(zk.exists("/tx/cm/e").ephemeralOwner, zk.client_id[0],
            "ephemeral created in a txn is owned by the session")
    zk.delete("/tx/cm", recursive=True)


@t.case
def txn_watches():
    rec = []
    zk2.exists("/tx/w", watch=lambda e: rec.append((e.type, e.path)))
    zk2.get_children("/tx", watch=lambda e: rec.append((e.type, e.path)))
    tx = zk.transaction()
    tx.create("/tx/w", b"1")
    tx.set_data("/tx/w", b"2")
    tx.create("/tx/w2")
    tx.commit()
    ct.roundtrip(zk2)
    t.is_eq(sorted(rec), [("CHILD", "/tx"), ("CREATED", "/tx/w")],
            "a committed txn fires the watches of its ops (one-shot)")
    rec.clear()
    zk2.get("/tx/w", watch=lambda e: rec.append((e.type, e.path)))
    tx = zk.transaction()
    tx.set_data("/tx/w", b"3")
    tx.check("/tx/none", 0)
    tx.commit()
    ct.roundtrip(zk2)
    t.is_eq(rec, [], "a failed txn fires no watches")
    zk.delete("/tx/w")
    zk.delete("/tx/w2")


@t.case
def wire_format():
    r = Raw(srv.port)
    # failed multi: the reply HEADER err is 0; each op gets an ErrorResult
    # (type -1) with 0 for ops before the failure, the real error for the
    # failing op and -2 after it.
    rep, res = r.multi([Raw.op_create("/tx/m1"), Raw.op_create("/tx/a"),
                        Raw.op_create("/tx/m2")])
    t.is_eq(rep.err, 0, "failed multi: reply header err 0")
    t.is_eq(res, [(-1, 0, None), (-1, ERR["NODEEXISTS"], None),
                  (-1, ERR["RUNTIMEINCONSISTENCY"], None)],
            "failed multi: ErrorResults 0, -110, -2")
    rep, res = r.multi([Raw.op_create("/tx/m1"),
                        Raw.op_create("/tx/m2", op="create2"),
                        Raw.op_set("/tx/m1", b"d"), Raw.op_check("/tx/m1", 1),
                        Raw.op_delete("/tx/m2")])
    t.is_eq(rep.err, 0, "successful multi: err 0")
    # NB: ZooKeeper 3.8 turns a create2 op inside multi into a plain create
    # (Op.create), so its result is type 1 with the path only.
    t.is_eq([(x[0], x[1]) for x in res],
            [(OP["create"], 0), (OP["create"], 0), (OP["setData"], 0),
             (OP["check"], 0), (OP["delete"], 0)],
            "result types: create 1, create2 -> 1 (!), setData 5, check 13, "
            "delete 2")
    t.is_eq((res[0][2], res[1][2]), ("/tx/m1", "/tx/m2"),
            "create results: path only")
    t.is_eq(res[2][2].version, 1, "setData result: Stat")
    # ... but a createContainer op (what the Java client sends for
    # CreateMode.CONTAINER) answers as create2: type 15, path + Stat
    rep, res = r.multi([Raw.op_create("/tx/mc", flags=ct.CONTAINER,
                                      op="createContainer")])
    t.is_eq((rep.err, res[0][0], res[0][1]), (0, OP["create2"], 0),
            "multi createContainer -> result type 15")
    t.is_eq((res[0][2][0], res[0][2][1].czxid), ("/tx/mc", rep.zxid),
            "... with path and Stat (czxid == reply zxid)")
    r.delete("/tx/mc")
    rep, res = r.multi([])
    t.is_eq((rep.err, res, rep.body), (0, [], b"\xff\xff\xff\xff\x01"
                                       b"\xff\xff\xff\xff"),
            "empty multi: OK, body is just the done header {-1,true,-1}")
    # a read op inside multi, or a write inside multiRead: MARSHALLINGERROR
    # (clients ignore the body of a reply whose header err is non-zero;
    # ZooKeeper sends none or an empty result list depending on the case)
    rep, res = r.multi([Raw.op_getdata("/tx/m1")])
    t.is_eq(rep.err, ERR["MARSHALLINGERROR"],
            "multi containing getData -> header err -5")
    rep, res = r.multi([Raw.op_create("/tx/zz")], read=True)
    t.is_eq(rep.err, ERR["MARSHALLINGERROR"],
            "multiRead containing create -> header err -5")
    rep, res = r.multi([Raw.op_getchildren("/tx"), Raw.op_create("/tx/zz")],
                       read=True)
    t.is_eq(rep.err, ERR["MARSHALLINGERROR"],
            "multiRead getChildren + create -> header err -5")
    t.is_eq(r.exists("/tx/zz")[0], ERR["NONODE"], "... nothing created")
    # multiRead: independent reads, per-op errors do not abort the others
    rep, res = r.multi([Raw.op_getchildren("/tx"), Raw.op_getdata("/tx/m1"),
                        Raw.op_getdata("/tx/none"),
                        Raw.op_getchildren("/tx/m1")], read=True)
    t.is_eq(rep.err, 0, "multiRead: header err 0")
    t.is_eq([(x[0], x[1]) for x in res],
            [(OP["getChildren"], 0), (OP["getData"], 0), (-1, ERR["NONODE"]),
             (OP["getChildren"], 0)],
            "multiRead results: getChildren 8, getData 4, ErrorResult -101")
    t.is_eq(sorted(res[0][2]), ["a", "m1", "s-0000000002"],
            "multiRead getChildren names")
    t.is_eq((res[1][2][0], res[1][2][1].version), (b"d", 1),
            "multiRead getData data + Stat")
    t.is_eq(res[3][2], [], "multiRead getChildren of a leaf: []")
    r.close()


@t.case
def txn_acl():
    from kazoo.security import make_acl
    zk.create("/tx/ro", acl=[make_acl("world", "anyone", read=True)])
    tx = zk.transaction()
    tx.create("/tx/ok")
    tx.create("/tx/ro/kid")
    res = tx.commit()
    t.is_eq(types(res), ["RolledBackError", "NoAuthError"],
            "ACL failure inside a txn -> NoAuthError, rest rolled back")
    t.is_eq(zk.exists("/tx/ok"), None, "rolled back")
    zk.delete("/tx/ro")


t.run()
