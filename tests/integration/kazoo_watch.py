#!/usr/bin/python3
"""kazoo_watch: one-shot data/exists/child watches, notification ordering,
persistent and persistent-recursive watches, removeWatches/checkWatches and
watch re-registration (setWatches) after a reconnect.

kazoo 2.8 (Debian) has no add_watch/remove_watches and does NOT send
setWatches after a reconnect (its watches are silently lost when the
connection drops), so those parts use the raw protocol client coordtest.Raw,
which sends exactly what the Java and C clients send."""

import os
import sys
import threading

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import coordtest as ct                                        # noqa: E402
from coordtest import (Raw, ERR, EV_CREATED, EV_DELETED,      # noqa: E402
                       EV_CHANGED, EV_CHILD, STATE_SYNCCONNECTED)

ct.require_server()
from kazoo.client import KazooClient                          # noqa: E402

t = ct.TAP()
srv = ct.Server().start()
zk = ct.kazoo_client(srv)
zk2 = ct.kazoo_client(srv)


class Rec:
    """Collects kazoo WatchedEvents."""

    def __init__(self):
        self.events = []
        self.lock = threading.Lock()

    def __call__(self, ev):
        with self.lock:
            self.events.append((ev.type, ev.path))

    def got(self):
        with self.lock:
            return list(self.events)


def settle():
    """All notifications the server sent before answering a round trip on
    zk have been delivered to the callbacks."""
    ct.roundtrip(zk)


def evs(raw_events):
    return [(e[0], e[2]) for e in raw_events]


@t.case
def data_watch():
    zk.create("/dw", b"0")
    rec = Rec()
    data, st = zk.get("/dw", watch=rec)
    zk2.set("/dw", b"1")
    zk2.set("/dw", b"2")
    settle()
    t.is_eq(rec.got(), [("CHANGED", "/dw")], "get watch: one CHANGED for two "
            "sets (one-shot)")
    rec2 = Rec()
    zk.get("/dw", watch=rec2)
    zk2.delete("/dw")
    zk2.create("/dw")
    settle()
    t.is_eq(rec2.got(), [("DELETED", "/dw")], "get watch: DELETED on delete, "
            "nothing for the re-create")
    zk.delete("/dw")


@t.case
def exists_watch():
    rec = Rec()
    t.is_eq(zk.exists("/xw", watch=rec), None, "exists on missing node")
    zk2.create("/xw")
    zk2.delete("/xw")
    zk2.create("/xw")
    settle()
    t.is_eq(rec.got(), [("CREATED", "/xw")], "exists watch on a missing node "
            "fires CREATED once")
    rec = Rec()
    zk.exists("/xw", watch=rec)
    zk2.set("/xw", b"x")
    settle()
    t.is_eq(rec.got(), [("CHANGED", "/xw")], "exists watch on an existing "
            "node fires CHANGED")
    rec = Rec()
    zk.exists("/xw", watch=rec)
    zk2.create("/xw/kid")
    zk2.delete("/xw/kid")
    settle()
    t.is_eq(rec.got(), [], "exists watch ignores child changes")
    zk2.delete("/xw")
    settle()
    t.is_eq(rec.got(), [("DELETED", "/xw")], "... and fires DELETED")


@t.case
def child_watch():
    zk.create("/cw")
    rec = Rec()
    t.is_eq(zk.get_children("/cw", watch=rec), [], "no children yet")
    zk2.set("/cw", b"data")
    settle()
    t.is_eq(rec.got(), [], "child watch ignores parent data change")
    zk2.create("/cw/a")
    zk2.create("/cw/b")
    settle()
    t.is_eq(rec.got(), [("CHILD", "/cw")], "CHILD once for two creates")
    rec = Rec()
    zk.get_children("/cw", watch=rec)
    zk2.set("/cw/a", b"x")
    zk2.create("/cw/a/grandkid")
    settle()
    t.is_eq(rec.got(), [], "child watch ignores a child's data and "
            "grandchildren")
    zk2.delete("/cw/b")
    settle()
    t.is_eq(rec.got(), [("CHILD", "/cw")], "CHILD on child delete")
    rec = Rec()
    zk.get_children("/cw/a", watch=rec)
    zk2.delete("/cw/a/grandkid")
    rec3 = Rec()
    zk.get_children("/cw/a", watch=rec3)
    zk2.delete("/cw/a")
    settle()
    t.is_eq(rec.got(), [("CHILD", "/cw/a")], "CHILD on grandchild delete")
    t.is_eq(rec3.got(), [("DELETED", "/cw/a")], "child watch on a deleted "
            "node fires DELETED (not CHILD)")
    # watch on a missing node via get/getChildren is NOT left behind
    r = Raw(srv.port)
    t.is_eq(r.get("/cw/none", watch=True)[0], ERR["NONODE"],
            "getData(watch) on missing node -> NONODE")
    t.is_eq(r.children("/cw/none", watch=True)[0], ERR["NONODE"],
            "getChildren(watch) on missing node -> NONODE")
    zk2.create("/cw/none")
    zk2.create("/cw/none/x")
    r.sync("/")
    r.exists("/")
    t.is_eq(r.events, [], "... and leaves no watch behind")
    r.close()
    zk.delete("/cw", recursive=True)


@t.case
def several_watchers():
    zk.create("/sw")
    rd, rx, rc, r2 = Rec(), Rec(), Rec(), Rec()
    zk.get("/sw", watch=rd)
    zk.exists("/sw", watch=rx)
    zk.get_children("/sw", watch=rc)
    zk2.get("/sw", watch=r2)
    raw = Raw(srv.port)
    raw.get("/sw", watch=True)
    raw.exists("/sw", watch=True)
    raw.children("/sw", watch=True)
    zk.delete("/sw")
    settle()
    ct.roundtrip(zk2)
    t.is_eq((rd.got(), rx.got(), rc.got()),
            ([("DELETED", "/sw")],) * 3,
            "delete fires data, exists and child watchers once each")
    t.is_eq(r2.got(), [("DELETED", "/sw")], "other session's watcher fires")
    raw.sync("/")
    # ZooKeeper sends ONE notification per connection and path even when
    # the connection had data, exists and child watches on it.
    t.is_eq(evs(raw.events), [(EV_DELETED, "/sw")],
            "wire: a single DELETED notification per connection")
    e = raw.events[0]
    t.is_eq((e[1], e.zxid, e.err), (STATE_SYNCCONNECTED, -1, 0),
            "notification: state SyncConnected(3), header zxid -1, err 0")
    raw.close()


@t.case
def ordering():
    # The server delivers a watch notification before the reply to any
    # request that sees the change (ZooKeeper ordering guarantee).
    zk.create("/ord", b"0")
    for i in range(5):
        rec = Rec()
        zk.get("/ord", watch=rec)
        zk2.set("/ord", b"%d" % (i + 1))
        data, _ = zk.get("/ord")
        ct.flush_callbacks(zk)
        t.ok(data == b"%d" % (i + 1) and rec.got() == [("CHANGED", "/ord")],
             "kazoo: event delivered before the read that sees value %d" %
             (i + 1), "data=%r events=%r" % (data, rec.got()))
    a, b = Raw(srv.port), Raw(srv.port)
    a.get("/ord", watch=True)
    b.set("/ord", b"raw")
    rep = a.get_r("/ord")
    t.is_eq(evs(rep.events), [(EV_CHANGED, "/ord")], "wire: notification "
            "arrives before the getData reply that observes the change")
    t.is_eq([k for k, _ in a.frames[-2:]], ["event", "reply"],
            "wire: frame order event, reply")
    # own write: the notification precedes the write's own reply
    a.children("/ord", watch=True)
    rep = a.call(ct.OP["create2"], ct.Enc().str("/ord/k").buf(b"")
                 .acl(ct.OPEN_ACL).int(0).bytes())
    t.is_eq((rep.err, evs(rep.events)), (0, [(EV_CHILD, "/ord")]),
            "wire: own create: CHILD notification before the create reply")
    a.close()
    b.close()
    zk.delete("/ord", recursive=True)


@t.case
def persistent_watches():
    if not hasattr(KazooClient, "add_watch"):
        from kazoo.version import __version__ as kv
        t.skip("kazoo add_watch", "kazoo %s has no add_watch; persistent "
               "watches are tested with the raw protocol" % kv)
    a, b = Raw(srv.port), Raw(srv.port)
    t.is_eq(a.add_watch("/p", ct.PERSISTENT_WATCH), 0,
            "addWatch PERSISTENT on a missing node -> OK")
    t.is_eq(a.add_watch("/q", ct.PERSISTENT_RECURSIVE_WATCH), 0,
            "addWatch PERSISTENT_RECURSIVE -> OK")
    b.create("/p")
    b.set("/p", b"x")
    b.create("/p/c")
    b.set("/p/c", b"y")
    b.delete("/p/c")
    b.delete("/p")
    b.create("/p")
    a.sync("/")
    t.is_eq(evs(a.events), [(EV_CREATED, "/p"), (EV_CHANGED, "/p"),
                            (EV_CHILD, "/p"), (EV_CHILD, "/p"),
                            (EV_DELETED, "/p"), (EV_CREATED, "/p")],
            "persistent watch: every data/child event of the node, in order, "
            "and it survives firing (nothing for the child's data)")
    a.events.clear()
    b.create("/q")
    b.create("/q/c")
    b.create("/q/c/d")
    b.set("/q/c/d", b"z")
    b.delete("/q/c/d")
    a.sync("/")
    t.is_eq(evs(a.events), [(EV_CREATED, "/q"), (EV_CREATED, "/q/c"),
                            (EV_CREATED, "/q/c/d"), (EV_CHANGED, "/q/c/d"),
                            (EV_DELETED, "/q/c/d")],
            "persistent recursive: events for the whole subtree, no CHILD")
    # checkWatches/removeWatches: a persistent watch counts as a data (and
    # child) watch; in 3.8.0 the WatcherType values Persistent(4) and
    # PersistentRecursive(5) are rejected with MARSHALLINGERROR (-5): remove
    # persistent watches with type Any(3).
    t.is_eq(a.check_watches("/p", ct.WT_ANY), 0, "checkWatches Any on a "
            "persistent watch -> OK")
    t.is_eq(a.check_watches("/p", ct.WT_DATA), 0, "checkWatches Data on a "
            "persistent watch -> OK")
    t.is_eq(a.check_watches("/p", ct.WT_PERSISTENT), ERR["MARSHALLINGERROR"],
            "checkWatches type 4 -> MARSHALLINGERROR (3.8.0)")
    t.is_eq(a.remove_watches("/p", ct.WT_PERSISTENT),
            ERR["MARSHALLINGERROR"], "removeWatches type 4 -> "
            "MARSHALLINGERROR (3.8.0)")
    t.is_eq(a.check_watches("/nowatch", ct.WT_ANY), ERR["NOWATCHER"],
            "checkWatches without a watch -> NOWATCHER (-121)")
    a.events.clear()
    t.is_eq(a.remove_watches("/p", ct.WT_ANY), 0, "removeWatches Any removes "
            "the persistent watch")
    t.is_eq(a.remove_watches("/q", ct.WT_ANY), 0, "... and the recursive one")
    t.is_eq(a.remove_watches("/q", ct.WT_ANY), ERR["NOWATCHER"],
            "removing again -> NOWATCHER")
    b.set("/p", b"after")
    b.create("/q/after")
    a.sync("/")
    t.is_eq(a.events, [], "no events after removal (and the server sends "
            "no *WatchRemoved events: those are generated client-side)")
    a.close()
    b.close()
    zk.delete("/p", recursive=True)
    zk.delete("/q", recursive=True)


@t.case
def remove_watches():
    a, b = Raw(srv.port), Raw(srv.port)
    a.create("/rw")
    a.get("/rw", watch=True)
    a.children("/rw", watch=True)
    a.exists("/rwx", watch=True)
    t.is_eq(a.check_watches("/rw", ct.WT_DATA), 0, "checkWatches Data")
    t.is_eq(a.check_watches("/rw", ct.WT_CHILDREN), 0, "checkWatches Children")
    t.is_eq(a.check_watches("/rw", 9), ERR["MARSHALLINGERROR"],
            "unknown watcher type -> MARSHALLINGERROR")
    t.is_eq(b.remove_watches("/rw", ct.WT_DATA), ERR["NOWATCHER"],
            "another session cannot see/remove them -> NOWATCHER")
    t.is_eq(a.remove_watches("/rw", ct.WT_DATA), 0, "remove data watch")
    t.is_eq(a.check_watches("/rw", ct.WT_DATA), ERR["NOWATCHER"],
            "data watch gone")
    t.is_eq(a.check_watches("/rw", ct.WT_CHILDREN), 0, "child watch kept")
    t.is_eq(a.remove_watches("/rwx", ct.WT_DATA), 0, "an exists watch is a "
            "data watch")
    b.set("/rw", b"1")
    b.create("/rwx")
    a.sync("/")
    t.is_eq(a.events, [], "removed watches do not fire")
    b.create("/rw/k")
    a.sync("/")
    t.is_eq(evs(a.events), [(EV_CHILD, "/rw")], "remaining child watch fires")
    a.get("/rw", watch=True)
    a.children("/rw", watch=True)
    t.is_eq(a.remove_watches("/rw", ct.WT_ANY), 0, "remove Any: both")
    t.is_eq(a.remove_watches("/rw", ct.WT_ANY), ERR["NOWATCHER"],
            "nothing left -> NOWATCHER")
    a.close()
    b.close()
    zk.delete("/rw", recursive=True)
    zk.delete("/rwx")


@t.case
def set_watches_after_reconnect():
    a, b = Raw(srv.port), Raw(srv.port)
    b.create("/s1")
    b.create("/s2")
    b.create("/s2/gone")
    a.get("/s1", watch=True)           # data watch: will change
    a.exists("/s3", watch=True)        # exists watch: will be created
    a.children("/s2", watch=True)      # child watch: will get a child
    a.get("/s2", watch=True)           # data watch: unchanged
    a.get("/s2/gone", watch=True)      # data watch: will be deleted
    rel = a.last_zxid
    a.drop()                                   # connection lost
    b.set("/s1", b"changed")
    b.create("/s3")
    b.create("/s2/k")
    b.delete("/s2/gone")
    a.reattach()
    t.ok(True, "reattached to session %#x" % a.session_id)
    rep = a.set_watches(rel, data=["/s1", "/s2", "/s2/gone"], exist=["/s3"],
                        child=["/s2"])
    t.is_eq((rep.xid, rep.err, rep.body), (ct.XID_SETWATCHES, 0, b""),
            "setWatches reply: xid -8, err 0, empty body")
    got = set(evs(rep.events))
    t.is_eq(got, {(EV_CHANGED, "/s1"), (EV_CREATED, "/s3"),
                  (EV_CHILD, "/s2"), (EV_DELETED, "/s2/gone")},
            "setWatches(relativeZxid) fires at once, before its reply, for "
            "changes made while disconnected")
    a.events.clear()
    b.set("/s2", b"now")
    a.sync("/")
    t.is_eq(evs(a.events), [(EV_CHANGED, "/s2")], "the unchanged data watch "
            "was re-registered and fires later")
    # with an up-to-date relativeZxid nothing fires until a change
    a.events.clear()
    a.get("/s1", watch=True)
    rel = a.last_zxid
    a.reattach()
    rep = a.set_watches(rel, data=["/s1"], exist=["/s9"], child=["/s1"])
    t.is_eq(rep.events, [], "no catch-up events when nothing changed")
    b.set("/s1", b"again")
    b.create("/s9")
    b.create("/s1/x")
    a.sync("/")
    t.is_eq(evs(a.events), [(EV_CHANGED, "/s1"), (EV_CREATED, "/s9"),
                            (EV_CHILD, "/s1")],
            "re-registered data/exists/child watches fire on later changes")
    # setWatches2 carries persistent watches: re-registered, but no
    # catch-up events for what happened while disconnected.
    a.events.clear()
    rel = a.last_zxid
    a.drop()
    b.create("/pp")
    b.create("/rr")
    b.create("/rr/x")
    a.reattach()
    rep = a.set_watches2(rel, persistent=["/pp"], persistent_recursive=["/rr"])
    t.is_eq((rep.err, rep.events), (0, []), "setWatches2: OK, no catch-up "
            "events for persistent watches")
    b.set("/pp", b"1")
    b.set("/rr/x", b"1")
    b.set("/pp", b"2")
    a.sync("/")
    t.is_eq(evs(a.events), [(EV_CHANGED, "/pp"), (EV_CHANGED, "/rr/x"),
                            (EV_CHANGED, "/pp")],
            "persistent watches re-registered by setWatches2 fire")
    a.close()
    b.close()
    for p in ("/s1", "/s2", "/s3", "/s9", "/pp", "/rr"):
        zk.delete(p, recursive=True)


@t.case
def watches_across_server_restart():
    # A session survives a server restart (same data dir); the C and Java
    # clients re-register their watches with setWatches -- Raw does the
    # same here.  Watches are NOT persisted by the server.
    a = Raw(srv.port)
    a.create("/rs")
    a.get("/rs", watch=True)
    rel = a.last_zxid
    a.drop()
    srv.restart()
    b = Raw(srv.port)
    b.set("/rs", b"changed while down")
    a.reattach()
    rep = a.set_watches(rel, data=["/rs"])
    t.is_eq(evs(rep.events), [(EV_CHANGED, "/rs")], "after a server restart: "
            "session reattached and setWatches reports the change")
    ok = ct.wait_for(lambda: zk.connected and zk2.connected, 15)
    t.ok(ok, "kazoo clients reconnected after the restart")
    # kazoo 2.8 does not send setWatches: demonstrate the recipe way
    # (re-reading with a new watch after reconnect) works.
    rec = Rec()
    zk.get("/rs", watch=rec)
    zk2.set("/rs", b"x")
    settle()
    t.is_eq(rec.got(), [("CHANGED", "/rs")], "new kazoo watch after "
            "reconnect fires")
    a.close()
    b.close()
    zk.delete("/rs")


t.run()
