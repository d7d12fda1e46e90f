#!/usr/bin/python3
"""kazoo_acl: digest authentication, world/auth/digest/ip ACLs and which
permission each operation needs, InvalidACL, getACL/setACL with aversion,
and the super user.

Super user: the server is started with the setting
    zookeeper.DigestAuthenticationProvider.superDigest=super:<base64 sha1>
Apache ZooKeeper takes it as a Java system property (-D...); coordd reads
the same key from its cfg file (coordtest.Server writes it to both places).
"""

import os
import sys

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import coordtest as ct                                        # noqa: E402
from coordtest import Raw, ERR                                # noqa: E402

ct.require_server()
from kazoo import exceptions as kx                            # noqa: E402
from kazoo.security import (ACL, Id, make_acl, make_digest_acl,  # noqa: E402
                            make_digest_acl_credential, OPEN_ACL_UNSAFE)

SUPER_DIGEST = make_digest_acl_credential("super", "s3cret")

t = ct.TAP()
srv = ct.Server(props={
    "zookeeper.DigestAuthenticationProvider.superDigest": SUPER_DIGEST,
}).start()
anon = ct.kazoo_client(srv)
alice = ct.kazoo_client(srv, auth_data=[("digest", "alice:pw")])
bob = ct.kazoo_client(srv, auth_data=[("digest", "bob:pw")])

ALICE_ID = "alice:V55/p2T0OpjQ+low3NVAH4aLvm0="   # base64(sha1("alice:pw"))


def world(perms):
    return [ACL(perms, Id("world", "anyone"))]


def outcome(fn, *a, **kw):
    try:
        fn(*a, **kw)
        return "ok"
    except kx.NoAuthError:
        return "NoAuth"
    except Exception as e:                                    # noqa
        return type(e).__name__


@t.case
def digest_basics():
    t.is_eq(make_digest_acl_credential("alice", "pw"), ALICE_ID,
            "digest id is user:base64(sha1(user:password))")
    acl = [make_digest_acl("alice", "pw", all=True)]
    alice.create("/a", b"secret", acl=acl)
    got, st = alice.get_acls("/a")
    t.is_eq(got, [ACL(31, Id("digest", ALICE_ID))], "getACL returns the "
            "digest ACL as stored")
    t.is_eq(alice.get("/a")[0], b"secret", "owner can read")
    for name, fn, args in (("get", anon.get, ("/a",)),
                           ("get_children", anon.get_children, ("/a",)),
                           ("get_acls", anon.get_acls, ("/a",)),
                           ("set", anon.set, ("/a", b"x")),
                           ("create child", anon.create, ("/a/k",)),
                           ("set_acls", anon.set_acls, ("/a",
                                                        OPEN_ACL_UNSAFE))):
        t.is_eq(outcome(fn, *args), "NoAuth", "anonymous %s -> NoAuthError"
                % name)
        t.is_eq(outcome(getattr(bob, fn.__name__), *args), "NoAuth",
                "other digest user %s -> NoAuthError" % name)
    t.ok(anon.exists("/a") is not None, "exists needs no permission")
    wrong = ct.kazoo_client(srv, auth_data=[("digest", "alice:wrong")])
    t.is_eq(outcome(wrong.get, "/a"), "NoAuth", "wrong password -> different "
            "digest -> NoAuthError (digest auth itself never fails)")
    wrong.stop()
    anon2 = ct.kazoo_client(srv)
    anon2.add_auth("digest", "alice:pw")
    t.is_eq(anon2.get("/a")[0], b"secret", "add_auth at runtime grants access")
    anon2.stop()
    r = Raw(srv.port)
    t.is_eq(r.get("/a")[0], ERR["NOAUTH"], "raw: NOAUTH is -102")
    rep = r.auth("digest", "alice:pw")
    t.is_eq((rep.xid, rep.err), (ct.XID_AUTH, 0), "auth reply: xid -4, err 0")
    e, ids = r.whoami()
    t.is_eq((e, sorted(ids)), (0, [("digest", "alice"), ("ip", "127.0.0.1")]),
            "whoAmI: ip 127.0.0.1 and digest alice")
    r.close()


@t.case
def per_permission():
    # For each single permission, what an anonymous client may do on a node
    # whose ACL is world:anyone:<perm>.  Deleting a CHILD needs DELETE on the
    # parent; getACL needs READ or ADMIN; exists needs nothing.
    want = {
        1: dict(get="ok", children="ok", getacl="ok", set="NoAuth",
                create="NoAuth", delete_child="NoAuth", setacl="NoAuth"),
        2: dict(get="NoAuth", children="NoAuth", getacl="NoAuth", set="ok",
                create="NoAuth", delete_child="NoAuth", setacl="NoAuth"),
        4: dict(get="NoAuth", children="NoAuth", getacl="NoAuth",
                set="NoAuth", create="ok", delete_child="NoAuth",
                setacl="NoAuth"),
        8: dict(get="NoAuth", children="NoAuth", getacl="NoAuth",
                set="NoAuth", create="NoAuth", delete_child="ok",
                setacl="NoAuth"),
        16: dict(get="NoAuth", children="NoAuth", getacl="ok", set="NoAuth",
                 create="NoAuth", delete_child="NoAuth", setacl="ok"),
    }
    names = {1: "READ", 2: "WRITE", 4: "CREATE", 8: "DELETE", 16: "ADMIN"}
    for perm, exp in want.items():
        p = "/perm%d" % perm
        alice.create(p)
        alice.create(p + "/kid")
        alice.set_acls(p, world(perm))
        got = dict(
            get=outcome(anon.get, p),
            children=outcome(anon.get_children, p),
            getacl=outcome(anon.get_acls, p),
            set=outcome(anon.set, p, b"x"),
            create=outcome(anon.create, p + "/new"),
            delete_child=outcome(anon.delete, p + "/kid"),
            setacl=outcome(anon.set_acls, p, world(perm)))
        t.is_eq(got, exp, "world:anyone:%s" % names[perm])
        t.ok(anon.exists(p) is not None, "exists works with only %s"
             % names[perm])
    # ACL is checked before existence: no DELETE perm -> NoAuth even for a
    # missing child; no CREATE perm -> NoAuth even if the child exists.
    t.is_eq(outcome(anon.delete, "/perm1/missing"), "NoAuth",
            "delete missing child without DELETE perm -> NoAuth")
    t.is_eq(outcome(anon.create, "/perm1/kid"), "NoAuth",
            "create existing child without CREATE perm -> NoAuth")
    t.is_eq(outcome(anon.delete, "/perm8/missing"), "NoNodeError",
            "with DELETE perm a missing child is NoNode")
    # the node's own ACL does not protect it from deletion
    alice.create("/locked", acl=world(0))
    t.is_eq(outcome(anon.delete, "/locked"), "ok", "a node with an empty-perm "
            "ACL is deletable when its parent grants DELETE")
    alice.create("/zero", acl=world(0))
    t.is_eq(outcome(alice.get_acls, "/zero"), "NoAuth",
            "perms 0: even getACL -> NoAuth")
    # ACLs are not inherited
    anon.create("/perm4/child")
    t.is_eq(anon.get_acls("/perm4/child")[0], OPEN_ACL_UNSAFE,
            "a child gets its own ACL (default open), not the parent's")
    sup = ct.kazoo_client(srv, auth_data=[("digest", "super:s3cret")])
    for p in ["/perm%d" % perm for perm in want] + ["/zero"]:
        sup.delete(p, recursive=True)
    sup.stop()


@t.case
def auth_scheme_and_invalid_acls():
    auth_acl = [ACL(31, Id("auth", ""))]
    t.raises(kx.InvalidACLError, anon.create, "'auth' ACL without any "
             "authenticated id -> InvalidACLError", "/au", acl=auth_acl)
    alice.create("/au", acl=auth_acl)
    t.is_eq(alice.get_acls("/au")[0], [ACL(31, Id("digest", ALICE_ID))],
            "'auth' ACL becomes the creator's digest id")
    alice.create("/au2", acl=[ACL(31, Id("auth", "whatever"))])
    t.is_eq(alice.get_acls("/au2")[0], [ACL(31, Id("digest", ALICE_ID))],
            "the id in an 'auth' ACL entry is ignored")
    two = ct.kazoo_client(srv, auth_data=[("digest", "bob:pw"),
                                          ("digest", "carol:pw")])
    two.create("/au3", acl=[ACL(1, Id("world", "anyone"))] + auth_acl)
    # kazoo keeps auth_data in a set, so the order its two auth packets go
    # out in is arbitrary: compare the expanded digest ids as a set.
    got = two.get_acls("/au3")[0]
    t.is_eq((got[0], sorted(got[1:], key=lambda a: a.id.id)),
            (ACL(1, Id("world", "anyone")),
             [ACL(31, Id("digest", make_digest_acl_credential("bob", "pw"))),
              ACL(31, Id("digest", make_digest_acl_credential("carol", "pw")))]),
            "'auth' expands to every digest id of the session, after the "
            "other entries")
    two.stop()
    alice.create("/dupacl", acl=world(1) + world(1))
    t.is_eq(alice.get_acls("/dupacl")[0], world(1), "duplicate ACL entries "
            "are collapsed")
    r = Raw(srv.port)
    bad = [("empty ACL list", []), ("null ACL", None),
           ("unknown scheme", [(31, "foo", "bar")]),
           ("digest id without ':'", [(31, "digest", "nocolon")]),
           ("bad ip", [(31, "ip", "300.1.1.1")]),
           ("bad ip mask", [(31, "ip", "1.2.3.4/40")]),
           ("world id other than anyone", [(31, "world", "someone")]),
           ("auth without authentication", [(31, "auth", "")])]
    for name, acl in bad:
        t.is_eq(r.create("/bad", b"", acl=acl)[0], ERR["INVALIDACL"],
                "create with %s -> INVALIDACL (-114)" % name)
    r.create("/okacl")
    t.is_eq(r.set_acl("/okacl", [])[0], ERR["INVALIDACL"],
            "setACL with an empty list -> INVALIDACL")
    t.is_eq(r.set_acl("/okacl", [(31, "foo", "x")])[0], ERR["INVALIDACL"],
            "setACL with an unknown scheme -> INVALIDACL")
    t.is_eq(r.create("/okacl/perm64", acl=[(64 | 1, "world", "anyone")])[0],
            0, "unknown permission bits are accepted")
    t.is_eq(r.get_acl("/okacl/perm64")[1], [(65, "world", "anyone")],
            "... and stored as given")
    r.close()
    for p in ("/au", "/au2", "/au3", "/dupacl", "/okacl"):
        alice.delete(p, recursive=True)


@t.case
def getacl_masks_digests():
    # getACL needs READ or ADMIN; a caller WITHOUT ADMIN on the node gets
    # every digest id with the hash replaced by "x" (user:x).  Other schemes
    # are shown as stored.
    bob_id = make_digest_acl_credential("bob", "pw")
    acl = [ACL(1, Id("digest", ALICE_ID)), ACL(16, Id("digest", bob_id)),
           ACL(1, Id("world", "anyone"))]
    alice.create("/mask", acl=acl)
    masked = [ACL(1, Id("digest", "alice:x")), ACL(16, Id("digest", "bob:x")),
              ACL(1, Id("world", "anyone"))]
    t.is_eq(alice.get_acls("/mask")[0], masked, "reader without ADMIN: "
            "digest ids masked as user:x")
    t.is_eq(anon.get_acls("/mask")[0], masked, "anonymous reader: masked")
    t.is_eq(bob.get_acls("/mask")[0], acl, "ADMIN holder sees the real ids")
    sup = ct.kazoo_client(srv, auth_data=[("digest", "super:s3cret")])
    t.is_eq(sup.get_acls("/mask")[0], acl, "super sees the real ids")
    sup.stop()
    alice.delete("/mask")


@t.case
def set_acl_versions():
    alice.create("/v")
    acl, st = alice.get_acls("/v")
    t.is_eq((acl, st.aversion), (OPEN_ACL_UNSAFE, 0), "initial aversion 0")
    st = alice.set_acls("/v", world(31 & ~2), version=0)
    t.is_eq((st.aversion, st.version, st.cversion), (1, 0, 0),
            "setACL: aversion 1; version/cversion untouched")
    t.raises(kx.BadVersionError, alice.set_acls, "setACL with a stale "
             "aversion -> BadVersionError", "/v", world(31), version=0)
    t.is_eq(alice.get_acls("/v")[0], world(29), "ACL unchanged")
    st2 = alice.set_acls("/v", world(31), version=-1)
    t.is_eq(st2.aversion, 2, "version -1: unconditional")
    t.is_eq(st2.mzxid, st.mzxid, "setACL does not change mzxid")
    t.raises(kx.NoNodeError, alice.set_acls, "setACL on a missing node -> "
             "NoNodeError", "/nope", world(31))
    alice.delete("/v")


@t.case
def ip_acl():
    alice.create("/ip", b"x", acl=[make_acl("ip", "127.0.0.1", read=True)])
    t.is_eq(anon.get("/ip")[0], b"x", "ip:127.0.0.1 READ lets a loopback "
            "client read")
    t.is_eq(outcome(anon.set, "/ip", b"y"), "NoAuth", "... but not write")
    alice.create("/ip2", b"x", acl=[make_acl("ip", "10.0.0.0/8", read=True)])
    t.is_eq(outcome(anon.get, "/ip2"), "NoAuth", "ip:10.0.0.0/8 excludes "
            "127.0.0.1")
    alice.create("/ip3", b"x", acl=[make_acl("ip", "127.0.0.0/8", read=True)])
    t.is_eq(anon.get("/ip3")[0], b"x", "ip:127.0.0.0/8 includes 127.0.0.1")
    for p in ("/ip", "/ip2", "/ip3"):
        alice.delete(p)


@t.case
def super_user():
    alice.create("/s", b"x", acl=world(0))
    alice.create("/s2", b"x", acl=[make_digest_acl("alice", "pw", all=True)])
    sup = ct.kazoo_client(srv, auth_data=[("digest", "super:s3cret")])
    t.is_eq(sup.get("/s")[0], b"x", "super reads a perms-0 node")
    t.ok(sup.set("/s2", b"y").version == 1, "super writes another user's "
         "node")
    sup.create("/s2/kid")
    t.is_eq(sup.get_acls("/s")[0], world(0), "super reads any ACL")
    sup.set_acls("/s", world(31))
    t.is_eq(anon.get("/s")[0], b"x", "super can setACL")
    sup.delete("/s2", recursive=True)
    t.is_eq(anon.exists("/s2"), None, "super deletes")
    r = Raw(srv.port)
    r.auth("digest", "super:s3cret")
    t.is_eq(sorted(r.whoami()[1]), [("digest", "super"), ("ip", "127.0.0.1"),
                                    ("super", "")],
            "whoAmI for super: super:'' plus digest super plus ip")
    r.close()
    fake = ct.kazoo_client(srv, auth_data=[("digest", "super:wrong")])
    alice.create("/s3", acl=world(0))
    t.is_eq(outcome(fake.get, "/s3"), "NoAuth", "wrong super password: just "
            "an ordinary digest user 'super'")
    fake.stop()
    sup.stop()
    anon.delete("/s")
    anon.delete("/s3")


@t.case
def auth_failure():
    r = Raw(srv.port)
    rep = r.auth("nosuchscheme", "x")
    t.is_eq((rep.xid, rep.err), (ct.XID_AUTH, ERR["AUTHFAILED"]),
            "auth with an unknown scheme -> xid -4, AUTHFAILED (-115)")
    try:
        r.exists("/")
        t.ok(False, "... and the server closes the connection")
    except (ct.ConnectionClosed, OSError):
        t.ok(True, "... and the server closes the connection")
    c = ct.kazoo_client(srv)
    t.raises(kx.AuthFailedError, c.add_auth, "kazoo add_auth with an unknown "
             "scheme -> AuthFailedError", "nosuchscheme", "x")
    t.ok(anon.exists("/") is not None, "server still serving")


t.run()
