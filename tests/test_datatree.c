/*
 * test_datatree.c - unit tests of the data tree, the watch manager, path
 * validation, ACL checks and prep's speculative state (multi rollback,
 * closeSession), without sockets or disks.
 */
#include "config.h"

#include <string.h>

#include "acl.h"
#include "datatree.h"
#include "prep.h"
#include "tap.h"
#include "txn.h"
#include "watch.h"

struct event {
	int type;
	char path[64];
};

struct recorder {
	struct watch_owner wo;
	struct event ev[32];
	int n;
};

static void record(struct watch_owner *o, int type, const char *path, int64_t zxid)
{
	struct recorder *r = (struct recorder *)o;
	(void)zxid;
	if (r->n < 32) {
		r->ev[r->n].type = type;
		snprintf(r->ev[r->n].path, sizeof(r->ev[r->n].path), "%s", path);
		r->n++;
	}
}

static void test_paths(void)
{
	const char *good[] = { "/", "/a", "/a/b", "/a.b", "/..a", "/a/.b", "/\xc3\xa9t\xc3\xa9" };
	const char *bad[] = { "", "a", "/a/", "//", "/a//b", "/.", "/..", "/a/./b", "/a/../b", "/a\x01",
			      "/\x7f", "/\xc2\x80", "/\xef\xbf\xb0", "/\xff" };
	for (size_t i = 0; i < sizeof(good) / sizeof(*good); i++)
		is_int(path_validate(good[i], (int32_t)strlen(good[i])), ZOK, "valid path '%s'", good[i]);
	for (size_t i = 0; i < sizeof(bad) / sizeof(*bad); i++)
		is_int(path_validate(bad[i], (int32_t)strlen(bad[i])), ZBADARGUMENTS, "invalid path #%zu", i);
	is_int(path_validate("/a\0b", 4), ZBADARGUMENTS, "embedded NUL");
	char p[16];
	path_parent("/a/b", p);
	is_str(p, "/a", "parent of /a/b");
	path_parent("/a", p);
	is_str(p, "/", "parent of /a");
}

static void test_tree_and_watches(void)
{
	struct watches w;
	struct datatree dt;
	struct recorder r1 = { .wo = { .notify = record } }, r2 = { .wo = { .notify = record } };
	struct zk_stat st;
	struct acl *open = acl_open_unsafe();

	watch_init(&w);
	datatree_init(&dt, &w);
	is_int(dt.count, 4, "fresh tree: /, /zookeeper, quota, config");
	is_int(datatree_create(&dt, "/a", "x", 1, open, 0, -1, 1, 100, &st), ZOK, "create /a");
	is_int(st.czxid, 1, "czxid");
	is_int(datatree_create(&dt, "/a", "x", 1, open, 0, -1, 2, 100, NULL), ZNODEEXISTS, "create twice");
	is_int(datatree_create(&dt, "/x/y", NULL, -1, open, 0, -1, 2, 100, NULL), ZNONODE, "no parent");

	watch_add(&w, WT_DATA, "/a", &r1.wo, WM_STANDARD);
	watch_add(&w, WT_CHILD, "/a", &r1.wo, WM_STANDARD);
	watch_add(&w, WT_DATA, "/", &r2.wo, WM_RECURSIVE);
	is_int(datatree_set_data(&dt, "/a", "yy", 2, 1, 3, 101, &st), ZOK, "setData");
	is_int(r1.n, 1, "data watch fired once");
	is_int(r1.ev[0].type, ZEV_CHANGED, "NodeDataChanged");
	is_int(r2.n, 1, "recursive watch on / saw the change");
	is_str(r2.ev[0].path, "/a", "recursive event names the changed node");
	datatree_set_data(&dt, "/a", "z", 1, 2, 4, 102, NULL);
	is_int(r1.n, 1, "one-shot data watch is gone");
	is_int(r2.n, 2, "recursive watch persists");

	is_int(datatree_create(&dt, "/a/b", NULL, -1, open, 0, -1, 5, 103, NULL), ZOK, "create child");
	is_int(r1.n, 2, "child watch fired");
	is_int(r1.ev[1].type, ZEV_CHILD, "NodeChildrenChanged on the parent");
	is_int(r2.n, 3, "recursive watch saw the create");
	is_int(r2.ev[2].type, ZEV_CREATED, "as NodeCreated of the child");
	struct znode *a = datatree_lookup(&dt, "/a");
	znode_stat(a, &st);
	is_int(st.num_children, 1, "numChildren");
	is_int(st.cversion, 1, "visible cversion after one create");
	is_int(datatree_delete(&dt, "/a", 6), ZNOTEMPTY, "delete non-empty refused");
	is_int(datatree_delete(&dt, "/a/b", 6), ZOK, "delete child");
	znode_stat(a, &st);
	is_int(st.cversion, 2, "visible cversion counts the delete (ZooKeeper 3.8)");
	is_int(st.pzxid, 6, "pzxid moved to the delete");
	is_int(a->st.cversion, 1, "internal cversion (sequence source) unchanged by delete");

	/* persistent watch: data and children, not removed by firing */
	watch_add(&w, WT_DATA, "/a", &r1.wo, WM_PERSISTENT);
	watch_add(&w, WT_CHILD, "/a", &r1.wo, WM_PERSISTENT);
	int before = r1.n;
	datatree_set_data(&dt, "/a", "q", 1, 3, 7, 104, NULL);
	datatree_create(&dt, "/a/c", NULL, -1, open, 0, -1, 8, 105, NULL);
	datatree_set_data(&dt, "/a/c", "q", 1, 1, 9, 106, NULL);
	is_int(r1.n - before, 2, "persistent: own change and child change, not grandchild data");
	ok(watch_remove(&w, &r1.wo, "/a", ZWATCHTYPE_ANY), "removeWatches any");
	ok(!watch_contains(&w, &r1.wo, "/a", ZWATCHTYPE_DATA), "gone");

	/* ephemerals and sessions */
	datatree_create(&dt, "/e1", NULL, -1, open, 0x42, -1, 10, 107, NULL);
	datatree_create(&dt, "/e2", NULL, -1, open, 0x42, -1, 11, 107, NULL);
	is_int(datatree_ephemeral_count(&dt), 2, "two ephemerals");
	datatree_kill_session(&dt, 0x42, 12);
	ok(!datatree_lookup(&dt, "/e1") && !datatree_lookup(&dt, "/e2"), "killSession deletes them");
	is_int(datatree_ephemeral_count(&dt), 0, "none left");

	/* container and TTL nodes read ephemeralOwner 0 */
	datatree_create(&dt, "/con", NULL, -1, open, ZK_CONTAINER_OWNER, -1, 13, 108, &st);
	is_int(st.ephemeral_owner, 0, "container owner hidden");
	ok(dt.containers != NULL, "container tracked");

	watch_owner_drop(&w, &r2.wo);
	is_int(watch_total(&w), 0, "no watches left");
	datatree_free(&dt);
	watch_free(&w);
}

static int prep_str(struct prep *p, struct prep_ctx *c, int type, struct buf *body, struct buf *out,
		    struct multi_err *me)
{
	struct jute_in in;
	jute_in_init(&in, body->data, body->len, c->arena);
	return prep_request(p, c, type, &in, out, me);
}

static void put_create(struct buf *b, const char *path, int flags)
{
	jute_put_string(b, path);
	jute_put_buffer(b, "d", 1);
	jute_put_int(b, 1);
	jute_put_int(b, ZPERM_ALL);
	jute_put_string(b, "world");
	jute_put_string(b, "anyone");
	jute_put_int(b, flags);
}

static void test_prep(void)
{
	struct datatree dt;
	struct prep p;
	struct arena arena = { BUF_INIT, NULL };
	struct auth_info ai = { NULL, 0, false };
	struct prep_ctx c = { 0x77, 1, 1000, &ai, &arena };
	struct buf body = BUF_INIT, out = BUF_INIT;
	struct multi_err me = { 0, NULL };

	datatree_init(&dt, NULL);
	prep_init(&p, &dt);
	put_create(&body, "/p", 0);
	is_int(prep_str(&p, &c, ZOP_CREATE, &body, &out, &me), ZOK, "prep create /p");
	is_int(p.last_zxid, 1, "zxid 1 assigned");
	body.len = 0;
	put_create(&body, "/p/c", 0);
	is_int(prep_str(&p, &c, ZOP_CREATE, &body, &out, &me), ZOK,
	       "create under an uncommitted parent (speculative state)");
	body.len = 0;
	put_create(&body, "/p", 0);
	is_int(prep_str(&p, &c, ZOP_CREATE, &body, &out, &me), ZNODEEXISTS, "pending node exists");
	is_int(p.last_zxid, 2, "failed request consumes no zxid");

	/* multi: create /m1, create /p (exists) -> all rolled back */
	body.len = 0;
	jute_put_int(&body, ZOP_CREATE); jute_put_bool(&body, false); jute_put_int(&body, -1);
	put_create(&body, "/m1", 0);
	jute_put_int(&body, ZOP_CREATE); jute_put_bool(&body, false); jute_put_int(&body, -1);
	put_create(&body, "/p", 0);
	jute_put_int(&body, ZOP_DELETE); jute_put_bool(&body, false); jute_put_int(&body, -1);
	jute_put_string(&body, "/p"); jute_put_int(&body, -1);
	jute_put_int(&body, -1); jute_put_bool(&body, true); jute_put_int(&body, -1);
	size_t len_before = out.len;
	is_int(prep_str(&p, &c, ZOP_MULTI, &body, &out, &me), ZNODEEXISTS, "multi fails on op 2");
	is_int(me.n, 3, "three per-op results");
	ok(me.n == 3 && me.errs[0] == ZOK && me.errs[1] == ZNODEEXISTS && me.errs[2] == ZRUNTIMEINCONSISTENCY,
	   "results: ok, NODEEXISTS, RUNTIMEINCONSISTENCY");
	is_int(out.len, len_before, "nothing encoded for a failed multi");
	body.len = 0;
	put_create(&body, "/m1", 0);
	is_int(prep_str(&p, &c, ZOP_CREATE, &body, &out, &me), ZOK, "/m1 was rolled back");

	/* a failed multi of many ops on one path restores its state exactly */
	body.len = 0;
	for (int i = 0; i < 300; i++) {
		jute_put_int(&body, ZOP_SETDATA); jute_put_bool(&body, false); jute_put_int(&body, -1);
		jute_put_string(&body, "/m1"); jute_put_buffer(&body, "z", 1); jute_put_int(&body, -1);
	}
	jute_put_int(&body, ZOP_CREATE); jute_put_bool(&body, false); jute_put_int(&body, -1);
	put_create(&body, "/p", 0);
	jute_put_int(&body, -1); jute_put_bool(&body, true); jute_put_int(&body, -1);
	is_int(prep_str(&p, &c, ZOP_MULTI, &body, &out, &me), ZNODEEXISTS, "300 setData + a failing create");
	body.len = 0;
	jute_put_string(&body, "/m1"); jute_put_buffer(&body, "y", 1); jute_put_int(&body, 0);
	is_int(prep_str(&p, &c, ZOP_SETDATA, &body, &out, &me), ZOK,
	       "after the rollback /m1 is at version 0 again");

	/* sequential names come from the speculative cversion */
	body.len = 0;
	put_create(&body, "/p/s-", ZCM_PERSISTENT_SEQUENTIAL);
	out.len = 0;
	is_int(prep_str(&p, &c, ZOP_CREATE, &body, &out, &me), ZOK, "sequential create");
	ok(memmem(out.data, out.len, "/p/s-0000000001", 15) != NULL, "named from parent's cversion 1");

	/* commit everything, then closeSession sees committed and pending ephemerals */
	body.len = 0;
	put_create(&body, "/eph", ZCM_EPHEMERAL);
	is_int(prep_str(&p, &c, ZOP_CREATE, &body, &out, &me), ZOK, "pending ephemeral");
	out.len = 0;
	prep_close_session(&p, &c, &out);
	body.len = 0;
	put_create(&body, "/eph", 0);
	is_int(prep_str(&p, &c, ZOP_CREATE, &body, &out, &me), ZOK,
	       "after closeSession the ephemeral's name is free");
	ok(prep_outstanding(&p) > 0, "outstanding changes before commit");
	prep_committed(&p, p.last_zxid);
	is_int(prep_outstanding(&p), 0, "all change records dropped at commit");

	prep_free(&p);
	datatree_free(&dt);
	buf_free(&body);
	buf_free(&out);
	arena_free(&arena);
}

static void test_acl(void)
{
	struct auth_info ai = { NULL, 0, false };
	char id[128];
	struct acl_entry e = { ZPERM_READ, "digest", NULL };

	acl_digest("user:pw", id, sizeof(id));
	is_str(id, "user:2Om+GBbT2q/tS6pdvACZbbm7/1A=", "digest of user:pw (as ZooKeeper computes it)");
	e.id = id;
	struct acl *a = acl_intern(&e, 1);
	ok(acl_intern(&e, 1) == a, "equal lists are interned once");
	acl_unref(a);
	is_int(acl_check(a, ZPERM_READ, &ai), ZNOAUTH, "anonymous cannot read");
	auth_add(&ai, "digest", id);
	is_int(acl_check(a, ZPERM_READ, &ai), ZOK, "the digest id can");
	is_int(acl_check(a, ZPERM_WRITE, &ai), ZNOAUTH, "but not write");
	struct acl_entry ipe = { ZPERM_ALL, "ip", "10.0.0.0/8" };
	struct acl *ipa = acl_intern(&ipe, 1);
	struct auth_info ip = { NULL, 0, false };
	auth_add(&ip, "ip", "10.1.2.3");
	is_int(acl_check(ipa, ZPERM_WRITE, &ip), ZOK, "ip CIDR match");
	auth_free(&ip);
	auth_add(&ip, "ip", "11.1.2.3");
	is_int(acl_check(ipa, ZPERM_WRITE, &ip), ZNOAUTH, "ip CIDR mismatch");
	acl_unref(ipa);
	acl_unref(a);
	auth_free(&ip);
	auth_free(&ai);
}

int main(void)
{
	test_paths();
	test_tree_and_watches();
	test_prep();
	test_acl();
	return done_testing();
}
