/*
 * conn.c - one client connection speaking the ZooKeeper protocol: framing,
 * the connect handshake, and every request that does not change state
 * (ZooKeeper's NIOServerCnxn + FinalRequestProcessor for reads).
 *
 * Connection states (enum conn_state):
 *
 *   HANDSHAKE --ConnectRequest, new session--> CONNECTING --txn durable--> ACTIVE
 *   HANDSHAKE --ConnectRequest, reattach-----------------------------> ACTIVE
 *   HANDSHAKE --four-letter word--> (answer, close)
 *   any --EOF, bad frame, closeSession done, expiry--> CLOSING --handle closed--> freed
 *
 *   HANDSHAKE -> CONNECTING  [handle_connect]
 *   CONNECTING -> ACTIVE     [conn_finish_session]
 *   * -> CLOSING             [conn_close]
 *
 * Invariants:
 * (1) Requests of one connection are answered in the order they arrived:
 *     a request that is not a write waits (stalled) while any earlier write
 *     of the connection is still pending; writes are pipelined.
 * (2) A connection's memory lives until its handle is closed and no pending
 *     item refers to it (refs == 0); a CLOSING connection gets no replies.
 * (3) Nothing read from the network is trusted: every length is checked
 *     against jute.maxbuffer before use; a malformed frame closes only this
 *     connection, with a log line.
 */
#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "server.h"
#include "txn.h"
#include "xalloc.h"

#define OUTPUT_HIGH_WATER (4u << 20)

static void conn_parse(struct conn *c);

static struct conn *from_stream(struct stream *s)
{
	return container_of(s, struct conn, s);
}

void conn_unref(struct conn *c)
{
	if (--c->refs > 0)
		return;
	auth_free(&c->auth);
	free(c);
}

static void on_close(struct stream *s)
{
	conn_unref(from_stream(s));
}

/* Leaves the server's bookkeeping: session, watches, connection list. */
static void detach(struct conn *c)
{
	struct server *srv = c->srv;
	c->state = CONN_CLOSING;
	if (c->session && c->session->conn == c)
		c->session->conn = NULL;
	c->session = NULL;
	watch_owner_drop(&srv->watches, &c->wo);
	if (c->prev)
		c->prev->next = c->next;
	else
		srv->conns = c->next;
	if (c->next)
		c->next->prev = c->prev;
	c->next = c->prev = NULL;
	srv->nconns--;
}

void conn_close(struct conn *c, const char *why)
{
	if (c->state == CONN_CLOSING)
		return;
	if (why && c->state != CONN_HANDSHAKE)
		log_debug("conn", "closing %s session 0x%llx: %s", c->s.peer,
			  (unsigned long long)c->sid, why);
	detach(c);
	stream_close(&c->s);
}

void conn_close_after_flush(struct conn *c)
{
	if (c->state == CONN_CLOSING)
		return;
	detach(c);
	stream_close_after_flush(&c->s);
}

static void on_eof(struct stream *s, int status)
{
	struct conn *c = from_stream(s);
	if (status != UV_EOF && status != UV_ECONNRESET)
		log_warn("conn", "%s: %s", s->peer, uv_strerror(status));
	conn_close(c, "client closed");
}

static void on_drain(struct stream *s)
{
	struct conn *c = from_stream(s);
	if (c->stalled && stream_backlog(s) < OUTPUT_HIGH_WATER / 2)
		conn_resume(c);
}

static void on_read(struct stream *s)
{
	struct conn *c = from_stream(s);
	if (c->session)
		session_touch(&c->srv->sessions, c->session);
	if (!c->stalled)
		conn_parse(c);
	/* Do not buffer unboundedly behind a stalled connection. */
	if (c->stalled && s->in.len - s->in_off > (size_t)c->srv->cfg->jute_maxbuffer + 4 + 65536)
		stream_pause(s);
}

/* ---- watch events ---- */

static void notify(struct watch_owner *o, int type, const char *path, int64_t zxid)
{
	struct conn *c = container_of(o, struct conn, wo);
	struct buf *b = &c->s.out;
	(void)zxid;
	if (c->state != CONN_ACTIVE)
		return;
	size_t off = jute_frame_begin(b);
	jute_put_int(b, ZXID_NOTIFICATION);
	jute_put_long(b, -1); /* ZooKeeper 3.8 sends -1 as the zxid of an event */
	jute_put_int(b, 0);
	jute_put_int(b, type);
	jute_put_int(b, ZSTATE_SYNC_CONNECTED);
	jute_put_string(b, path);
	jute_frame_end(b, off);
	c->packets_out++;
	c->srv->stats.packets_sent++;
	stream_mark_dirty(&c->s);
}

/* ---- replies ---- */

static size_t reply_begin(struct conn *c, int32_t xid, int64_t zxid, int32_t err)
{
	struct buf *b = &c->s.out;
	size_t off = jute_frame_begin(b);
	jute_put_int(b, xid);
	jute_put_long(b, zxid);
	jute_put_int(b, err);
	if (xid >= 0)
		c->last_zxid = zxid;
	return off;
}

static void reply_end(struct conn *c, size_t off)
{
	jute_frame_end(&c->s.out, off);
	c->packets_out++;
	c->srv->stats.packets_sent++;
	stream_mark_dirty(&c->s);
}

void conn_request_done(struct conn *c, int64_t start_us)
{
	struct server_stats *st = &c->srv->stats;
	int64_t ms = (server_now_us() - start_us) / 1000;
	c->last_latency = ms;
	if (ms < c->lat_min || c->lat_count == 0)
		c->lat_min = ms;
	if (ms > c->lat_max)
		c->lat_max = ms;
	c->lat_sum += ms;
	c->lat_count++;
	if (ms < st->lat_min)
		st->lat_min = ms;
	if (ms > st->lat_max)
		st->lat_max = ms;
	st->lat_sum += ms;
	st->lat_count++;
}

static void put_multi_header(struct buf *b, int32_t type, bool done, int32_t err)
{
	jute_put_int(b, type);
	jute_put_bool(b, done);
	jute_put_int(b, err);
}

void conn_finish_session(struct conn *c, bool valid)
{
	struct server *srv = c->srv;
	struct session *s = valid ? session_find(&srv->sessions, c->sid) : NULL;
	struct buf *b = &c->s.out;
	static const uint8_t zero[SESSION_PASSWD_LEN];

	if (valid && !s)
		valid = false;
	size_t off = jute_frame_begin(b);
	jute_put_int(b, 0); /* protocolVersion */
	jute_put_int(b, valid ? c->timeout : 0);
	jute_put_long(b, valid ? c->sid : 0);
	jute_put_buffer(b, valid ? s->passwd : zero, SESSION_PASSWD_LEN);
	if (c->sent_readonly)
		jute_put_bool(b, false); /* readOnly */
	jute_frame_end(b, off);
	stream_mark_dirty(&c->s);
	if (!valid) {
		/* ZooKeeper answers with timeout 0 (the client reports expiry) and closes. */
		conn_close_after_flush(c);
		return;
	}
	if (s->conn && s->conn != c) {
		struct conn *old = s->conn;
		s->conn = NULL;
		old->session = NULL;
		conn_close(old, "session moved to a new connection");
	}
	s->conn = c;
	c->session = s;
	c->state = CONN_ACTIVE;
	c->established = server_now_ms();
	session_touch(&srv->sessions, s);
	conn_resume(c);
}

static void put_result_body(struct buf *b, const struct txn_result *r, int32_t reply_type)
{
	switch (reply_type) {
	case ZOP_CREATE:
		jute_put_string(b, r->path);
		break;
	case ZOP_CREATE2:
	case ZOP_CREATECONTAINER:
	case ZOP_CREATETTL:
		jute_put_string(b, r->path);
		jute_put_stat(b, &r->stat);
		break;
	case ZOP_SETDATA:
	case ZOP_SETACL:
		jute_put_stat(b, &r->stat);
		break;
	default:
		break;
	}
}

void conn_reply_txn(struct conn *c, struct pending *p, const struct txn_result *res)
{
	struct server *srv = c->srv;
	int64_t zxid = srv->dt.last_zxid;
	int32_t err = p->err;

	if (p->type == ZOP_CREATESESSION) {
		if (c->state == CONN_CONNECTING)
			conn_finish_session(c, err == ZOK);
		return;
	}
	if (res && res->type != ZOP_MULTI && res->err)
		err = res->err; /* apply-time failure: cannot happen after a correct prep */
	conn_request_done(c, p->start_us);
	c->last_cxid = p->xid;
	c->last_op = p->type;

	size_t off = reply_begin(c, p->xid, zxid, p->type == ZOP_MULTI && p->merr.n ? 0 : err);
	struct buf *b = &c->s.out;
	if (p->type == ZOP_MULTI && res) {
		for (int32_t i = 0; i < res->nmulti; i++) {
			const struct txn_result *r = &res->multi[i];
			/*
			 * ZooKeeper 3.8 answers create2 inside a multi like create
			 * (path only), and container/TTL creates like create2.
			 */
			int32_t t = r->type;
			if (t == ZOP_CREATE2)
				t = ZOP_CREATE;
			else if (t == ZOP_CREATECONTAINER || t == ZOP_CREATETTL)
				t = ZOP_CREATE2;
			put_multi_header(b, t, false, 0);
			put_result_body(b, r, t);
		}
		put_multi_header(b, -1, true, -1);
	} else if (p->type == ZOP_MULTI && p->merr.n) {
		for (int32_t i = 0; i < p->merr.n; i++) {
			put_multi_header(b, ZOP_ERROR, false, p->merr.errs[i]);
			jute_put_int(b, p->merr.errs[i]);
		}
		put_multi_header(b, -1, true, -1);
	} else if (p->type == ZOP_SYNC && err == ZOK) {
		jute_put_string(b, p->sync_path);
	} else if (p->type == ZOP_CHECK && res && err == ZOK) {
		jute_put_stat(b, &res->stat); /* ZooKeeper answers check with a SetDataResponse */
	} else if (res && err == ZOK) {
		put_result_body(b, res, p->type);
	}
	reply_end(c, off);
	if (p->type == ZOP_CLOSESESSION)
		conn_close_after_flush(c);
}

/* ---- reads (FinalRequestProcessor) ---- */

struct req {
	struct conn *c;
	int32_t xid;
	int32_t type;
	struct jute_in in;
	int64_t start_us;
};

static void reply_err(struct req *r, int32_t err)
{
	size_t off = reply_begin(r->c, r->xid, r->c->srv->dt.last_zxid, err);
	reply_end(r->c, off);
}

static struct znode *lookup_readable(struct req *r, const char *path, int *err)
{
	struct znode *n = path ? datatree_lookup(&r->c->srv->dt, path) : NULL;
	if (!n) {
		*err = ZNONODE;
		return NULL;
	}
	*err = acl_check(n->acl, ZPERM_READ, &r->c->auth);
	return *err ? NULL : n;
}

static void put_children(struct buf *b, const struct znode *n)
{
	jute_put_int(b, (int32_t)n->nkids);
	for (uint32_t i = 0; i < n->nkids; i++) {
		const char *name = znode_name(n->kids[i]);
		size_t len = n->kids[i]->path + n->kids[i]->pathlen - name;
		jute_put_int(b, (int32_t)len);
		buf_append(b, name, len);
	}
}

/* The body of getData/getChildren for multiRead and the plain requests. */
static int read_op(struct req *r, int32_t type, struct buf *b, bool in_multi)
{
	int32_t len;
	char *path = jute_get_string(&r->in, &len);
	bool watch = jute_get_bool(&r->in);
	struct zk_stat st;
	int err;

	if (r->in.err || !path)
		return ZMARSHALLINGERROR;
	if ((int32_t)strlen(path) != len)
		return ZNONODE; /* a name with NUL cannot exist; ZooKeeper just looks it up */
	struct znode *n = lookup_readable(r, path, &err);
	if (!n)
		return err;
	if (in_multi)
		put_multi_header(b, type, false, 0);
	if (type == ZOP_GETDATA) {
		if (watch)
			watch_add(&r->c->srv->watches, WT_DATA, path, &r->c->wo, WM_STANDARD);
		jute_put_buffer(b, n->data, n->datalen);
		znode_stat(n, &st);
		jute_put_stat(b, &st);
	} else {
		if (watch)
			watch_add(&r->c->srv->watches, WT_CHILD, path, &r->c->wo, WM_STANDARD);
		put_children(b, n);
		if (type == ZOP_GETCHILDREN2) {
			znode_stat(n, &st);
			jute_put_stat(b, &st);
		}
	}
	return ZOK;
}

/* Runs a read whose body is written straight into the output buffer. */
static void simple_read(struct req *r)
{
	struct conn *c = r->c;
	size_t off = reply_begin(c, r->xid, c->srv->dt.last_zxid, 0);
	size_t body = c->s.out.len;
	int err = read_op(r, r->type, &c->s.out, false);
	if (err) {
		c->s.out.len = body;
		buf_patch_be32(&c->s.out, off + 4 + 4 + 8, (uint32_t)err);
	}
	reply_end(c, off);
}

static void do_exists(struct req *r)
{
	struct conn *c = r->c;
	int32_t len;
	char *path = jute_get_string(&r->in, &len);
	bool watch = jute_get_bool(&r->in);
	if (r->in.err || !path)
		return reply_err(r, ZMARSHALLINGERROR);
	if ((int32_t)strlen(path) != len)
		return reply_err(r, ZBADARGUMENTS);
	/* ZooKeeper 3.8 checks no permission for exists. */
	struct znode *n = datatree_lookup(&c->srv->dt, path);
	/* An exists watch is set whether or not the node is there. */
	if (watch)
		watch_add(&c->srv->watches, WT_DATA, path, &c->wo, WM_STANDARD);
	if (!n)
		return reply_err(r, ZNONODE);
	struct zk_stat st;
	znode_stat(n, &st);
	size_t off = reply_begin(c, r->xid, c->srv->dt.last_zxid, 0);
	jute_put_stat(&c->s.out, &st);
	reply_end(c, off);
}

static void do_get_acl(struct req *r)
{
	struct conn *c = r->c;
	char *path = jute_get_string(&r->in, NULL);
	if (r->in.err)
		return reply_err(r, ZMARSHALLINGERROR);
	struct znode *n = path ? datatree_lookup(&c->srv->dt, path) : NULL;
	if (!n)
		return reply_err(r, ZNONODE);
	int err = acl_check(n->acl, ZPERM_READ | ZPERM_ADMIN, &c->auth);
	if (err)
		return reply_err(r, err);
	bool admin = acl_check(n->acl, ZPERM_ADMIN, &c->auth) == ZOK;
	struct zk_stat st;
	znode_stat(n, &st);
	size_t off = reply_begin(c, r->xid, c->srv->dt.last_zxid, 0);
	struct buf *b = &c->s.out;
	jute_put_int(b, n->acl->n);
	for (int i = 0; i < n->acl->n; i++) {
		const struct acl_entry *e = &n->acl->e[i];
		jute_put_int(b, e->perms);
		jute_put_string(b, e->scheme);
		if (!admin && !strcmp(e->scheme, "digest")) {
			/* Without ADMIN, digests are hidden as "user:x" (ZOOKEEPER-1392). */
			const char *colon = strchr(e->id, ':');
			size_t ulen = colon ? (size_t)(colon - e->id) : strlen(e->id);
			jute_put_int(b, (int32_t)ulen + 2);
			buf_append(b, e->id, ulen);
			buf_append(b, ":x", 2);
		} else {
			jute_put_string(b, e->id);
		}
	}
	jute_put_stat(b, &st);
	reply_end(c, off);
}

static void do_all_children(struct req *r)
{
	char *path = jute_get_string(&r->in, NULL);
	int err;
	if (r->in.err)
		return reply_err(r, ZMARSHALLINGERROR);
	struct znode *n = lookup_readable(r, path, &err);
	if (!n)
		return reply_err(r, err);
	size_t off = reply_begin(r->c, r->xid, r->c->srv->dt.last_zxid, 0);
	jute_put_int(&r->c->s.out, datatree_count_descendants(n));
	reply_end(r->c, off);
}

struct eph_list {
	struct buf *b;
	const char *prefix;
	int32_t n;
};

static void add_eph(void *arg, struct znode *n)
{
	struct eph_list *l = arg;
	if (l->prefix && strncmp(n->path, l->prefix, strlen(l->prefix)))
		return;
	jute_put_string(l->b, n->path);
	l->n++;
}

static void do_get_ephemerals(struct req *r)
{
	struct conn *c = r->c;
	char *prefix = jute_get_string(&r->in, NULL);
	if (r->in.err)
		return reply_err(r, ZMARSHALLINGERROR);
	/* null, blank and "/" all mean every ephemeral of the session */
	if (prefix) {
		char *t = prefix;
		while (*t == ' ' || *t == '\t')
			t++;
		if (!*t || !strcmp(t, "/"))
			prefix = NULL;
	}
	size_t off = reply_begin(c, r->xid, c->srv->dt.last_zxid, 0);
	size_t count_at = c->s.out.len;
	jute_put_int(&c->s.out, 0);
	struct eph_list l = { &c->s.out, prefix, 0 };
	datatree_ephemerals(&c->srv->dt, c->sid, add_eph, &l);
	buf_patch_be32(&c->s.out, count_at, (uint32_t)l.n);
	reply_end(c, off);
}

static void do_who_am_i(struct req *r)
{
	struct conn *c = r->c;
	size_t off = reply_begin(c, r->xid, c->srv->dt.last_zxid, 0);
	struct buf *b = &c->s.out;
	jute_put_int(b, c->auth.n);
	for (int i = 0; i < c->auth.n; i++) {
		const struct auth_id *a = &c->auth.ids[i];
		jute_put_string(b, a->scheme);
		/* digest ids are "user:hash"; the user name is what whoAmI reports */
		const char *colon = !strcmp(a->scheme, "digest") ? strchr(a->id, ':') : NULL;
		if (colon) {
			jute_put_int(b, (int32_t)(colon - a->id));
			buf_append(b, a->id, (size_t)(colon - a->id));
		} else {
			jute_put_string(b, a->id);
		}
	}
	reply_end(c, off);
}

static void do_multi_read(struct req *r)
{
	struct conn *c = r->c;
	size_t off = reply_begin(c, r->xid, c->srv->dt.last_zxid, 0);
	struct buf *b = &c->s.out;
	for (;;) {
		int32_t type = jute_get_int(&r->in);
		bool done = jute_get_bool(&r->in);
		jute_get_int(&r->in);
		if (r->in.err)
			goto marshal;
		if (done)
			break;
		if (type != ZOP_GETDATA && type != ZOP_GETCHILDREN)
			goto marshal;
		size_t mark = b->len;
		int err = read_op(r, type, b, true);
		if (err == ZMARSHALLINGERROR)
			goto marshal;
		if (err) {
			b->len = mark;
			put_multi_header(b, ZOP_ERROR, false, err);
			jute_put_int(b, err);
		}
	}
	put_multi_header(b, -1, true, -1);
	reply_end(c, off);
	return;
marshal:
	/* ZooKeeper: error -5 and an empty MultiResponse (just the end marker) */
	b->len = off;
	off = reply_begin(c, r->xid, c->srv->dt.last_zxid, ZMARSHALLINGERROR);
	put_multi_header(b, -1, true, -1);
	reply_end(c, off);
}

static void set_watches(struct req *r, bool v2)
{
	struct conn *c = r->c;
	struct datatree *dt = &c->srv->dt;
	struct watches *w = &c->srv->watches;
	int64_t rel = jute_get_long(&r->in);
	int lists = v2 ? 5 : 3;

	for (int l = 0; l < lists && !r->in.err; l++) {
		int32_t n = jute_get_count(&r->in, 4);
		for (int32_t i = 0; i < n && !r->in.err; i++) {
			char *path = jute_get_string(&r->in, NULL);
			if (!path)
				continue;
			struct znode *z = datatree_lookup(dt, path);
			switch (l) {
			case 0: /* data watches: fire what changed since rel */
				if (!z)
					notify(&c->wo, ZEV_DELETED, path, rel);
				else if (z->st.mzxid > rel)
					notify(&c->wo, ZEV_CHANGED, path, rel);
				else
					watch_add(w, WT_DATA, path, &c->wo, WM_STANDARD);
				break;
			case 1: /* exist watches */
				if (z)
					notify(&c->wo, ZEV_CREATED, path, rel);
				else
					watch_add(w, WT_DATA, path, &c->wo, WM_STANDARD);
				break;
			case 2: /* child watches */
				if (!z)
					notify(&c->wo, ZEV_DELETED, path, rel);
				else if (z->st.pzxid > rel)
					notify(&c->wo, ZEV_CHILD, path, rel);
				else
					watch_add(w, WT_CHILD, path, &c->wo, WM_STANDARD);
				break;
			case 3:
				watch_add(w, WT_DATA, path, &c->wo, WM_PERSISTENT);
				watch_add(w, WT_CHILD, path, &c->wo, WM_PERSISTENT);
				break;
			case 4:
				watch_add(w, WT_DATA, path, &c->wo, WM_RECURSIVE);
				break;
			}
		}
	}
	if (r->in.err)
		return reply_err(r, ZMARSHALLINGERROR);
	size_t off = reply_begin(c, ZXID_SETWATCHES, c->srv->dt.last_zxid, 0);
	reply_end(c, off);
}

static void do_add_watch(struct req *r)
{
	struct conn *c = r->c;
	char *path = jute_get_string(&r->in, NULL);
	int32_t mode = jute_get_int(&r->in);
	if (r->in.err || !path)
		return reply_err(r, ZMARSHALLINGERROR);
	if (mode == ZADDWATCH_PERSISTENT) {
		watch_add(&c->srv->watches, WT_DATA, path, &c->wo, WM_PERSISTENT);
		watch_add(&c->srv->watches, WT_CHILD, path, &c->wo, WM_PERSISTENT);
	} else if (mode == ZADDWATCH_PERSISTENT_RECURSIVE) {
		watch_add(&c->srv->watches, WT_DATA, path, &c->wo, WM_RECURSIVE);
	} else {
		return reply_err(r, ZBADARGUMENTS);
	}
	size_t off = reply_begin(c, r->xid, c->srv->dt.last_zxid, 0);
	jute_put_int(&c->s.out, 0); /* ErrorResponse(0) */
	reply_end(c, off);
}

static void do_watches(struct req *r, bool remove)
{
	struct conn *c = r->c;
	char *path = jute_get_string(&r->in, NULL);
	int32_t type = jute_get_int(&r->in);
	/* 3.8 knows Children (1), Data (2) and Any (3); anything else fails to decode. */
	if (r->in.err || !path || type < ZWATCHTYPE_CHILDREN || type > ZWATCHTYPE_ANY)
		return reply_err(r, ZMARSHALLINGERROR);
	bool found = remove ? watch_remove(&c->srv->watches, &c->wo, path, type)
			    : watch_contains(&c->srv->watches, &c->wo, path, type);
	reply_err(r, found ? ZOK : ZNOWATCHER);
}

static void do_auth(struct req *r)
{
	struct conn *c = r->c;
	jute_get_int(&r->in); /* type, unused */
	char *scheme = jute_get_string(&r->in, NULL);
	int32_t len;
	const char *auth = jute_get_buffer(&r->in, &len);
	char id[512];

	if (r->in.err || !scheme) {
		/* ZooKeeper closes on an undecodable auth packet without answering. */
		log_warn("auth", "%s: malformed auth packet, closing", c->s.peer);
		conn_close(c, "malformed auth packet");
		return;
	}
	if (!strcmp(scheme, "digest") && auth && len > 0 && len < 256) {
		char up[256];
		memcpy(up, auth, (size_t)len);
		up[len] = 0;
		if (strchr(up, ':') && acl_digest(up, id, sizeof(id)) == 0) {
			auth_add(&c->auth, "digest", id);
			if (c->srv->cfg->super_digest[0] && !strcmp(id, c->srv->cfg->super_digest))
				auth_add(&c->auth, "super", "");
			size_t off = reply_begin(c, ZXID_AUTH, 0, 0);
			reply_end(c, off);
			return;
		}
	}
	/* ZooKeeper answers AUTHFAILED and closes the connection. */
	log_warn("auth", "%s: authentication failed for scheme %s", c->s.peer, scheme ? scheme : "(null)");
	size_t off = reply_begin(c, ZXID_AUTH, 0, ZAUTHFAILED);
	reply_end(c, off);
	conn_close_after_flush(c);
}

static bool is_write(int32_t type)
{
	switch (type) {
	case ZOP_CREATE:
	case ZOP_CREATE2:
	case ZOP_CREATECONTAINER:
	case ZOP_CREATETTL:
	case ZOP_DELETE:
	case ZOP_SETDATA:
	case ZOP_SETACL:
	case ZOP_CHECK:
	case ZOP_MULTI:
	case ZOP_CLOSESESSION:
	case ZOP_SYNC:
		return true;
	default:
		return false;
	}
}

static void dispatch(struct conn *c, const char *frame, size_t len)
{
	struct server *srv = c->srv;
	struct req r = { c, 0, 0, { 0 }, server_now_us() };

	jute_in_init(&r.in, frame, len, &srv->arena);
	r.xid = jute_get_int(&r.in);
	r.type = jute_get_int(&r.in);
	if (r.in.err) {
		log_warn("conn", "%s: short request header, closing", c->s.peer);
		conn_close(c, "bad request header");
		return;
	}
	c->packets_in++;
	srv->stats.packets_received++;
	if (r.type != ZOP_PING && r.type != ZOP_AUTH && r.type != ZOP_SETWATCHES &&
	    r.type != ZOP_SETWATCHES2) {
		c->last_cxid = r.xid;
		c->last_op = r.type;
	}

	switch (r.type) {
	case ZOP_PING: {
		size_t off = reply_begin(c, ZXID_PING, srv->dt.last_zxid, 0);
		reply_end(c, off);
		break;
	}
	case ZOP_CREATE:
	case ZOP_CREATE2:
	case ZOP_CREATECONTAINER:
	case ZOP_CREATETTL:
	case ZOP_DELETE:
	case ZOP_SETDATA:
	case ZOP_SETACL:
	case ZOP_CHECK:
	case ZOP_MULTI:
		server_submit_write(srv, c, r.xid, r.type, &r.in);
		break;
	case ZOP_CLOSESESSION:
		server_submit_close(srv, c, r.xid);
		break;
	case ZOP_SYNC: {
		char *path = jute_get_string(&r.in, NULL);
		server_submit_sync(srv, c, r.xid, path, r.in.err ? ZMARSHALLINGERROR : ZOK);
		break;
	}
	case ZOP_EXISTS:
		do_exists(&r);
		break;
	case ZOP_GETDATA:
	case ZOP_GETCHILDREN:
	case ZOP_GETCHILDREN2:
		simple_read(&r);
		break;
	case ZOP_GETACL:
		do_get_acl(&r);
		break;
	case ZOP_GETALLCHILDRENNUMBER:
		do_all_children(&r);
		break;
	case ZOP_GETEPHEMERALS:
		do_get_ephemerals(&r);
		break;
	case ZOP_WHOAMI:
		do_who_am_i(&r);
		break;
	case ZOP_MULTIREAD:
		do_multi_read(&r);
		break;
	case ZOP_SETWATCHES:
	case ZOP_SETWATCHES2:
		set_watches(&r, r.type == ZOP_SETWATCHES2);
		break;
	case ZOP_ADDWATCH:
		do_add_watch(&r);
		break;
	case ZOP_CHECKWATCHES:
		do_watches(&r, false);
		break;
	case ZOP_REMOVEWATCHES:
		do_watches(&r, true);
		break;
	case ZOP_AUTH:
		do_auth(&r);
		break;
	case ZOP_SASL: {
		/* No SASL here: ZooKeeper without a SASL provider answers a null token. */
		int32_t tl;
		jute_get_buffer(&r.in, &tl);
		if (r.in.err) {
			conn_close(c, "malformed sasl packet");
			break;
		}
		size_t off = reply_begin(c, r.xid, 0, 0);
		jute_put_buffer(&c->s.out, NULL, -1);
		reply_end(c, off);
		break;
	}
	case ZOP_CREATESESSION:
		reply_err(&r, ZMARSHALLINGERROR); /* only valid as the handshake */
		break;
	case ZOP_RECONFIG:
		/* dynamic membership is not there yet: ZooKeeper's answer when it is off */
		reply_err(&r, ZRECONFIGDISABLED);
		break;
	default: {
		/*
		 * ZooKeeper's UnimplementedRequestProcessor: ZUNIMPLEMENTED with
		 * zxid -1, then the connection is closed (the session lives on).
		 */
		log_warn("conn", "%s: unknown request type %d, closing", c->s.peer, r.type);
		size_t off = reply_begin(c, r.xid, -1, ZUNIMPLEMENTED);
		reply_end(c, off);
		conn_close_after_flush(c);
		break;
	}
	}
	if (!is_write(r.type) && c->state == CONN_ACTIVE)
		conn_request_done(c, r.start_us);
	arena_reset(&srv->arena);
}

/* ---- the handshake ---- */

static void handle_connect(struct conn *c, const char *frame, size_t len)
{
	struct server *srv = c->srv;
	struct jute_in in;
	int32_t pwlen;

	jute_in_init(&in, frame, len, &srv->arena);
	int32_t proto = jute_get_int(&in);
	int64_t last_zxid = jute_get_long(&in);
	int32_t timeout = jute_get_int(&in);
	int64_t sid = jute_get_long(&in);
	const char *pw = jute_get_buffer(&in, &pwlen);
	/* readOnly is optional; old clients do not send it and do not expect it back. */
	c->sent_readonly = jute_remaining(&in) >= 1;
	if (c->sent_readonly)
		jute_get_bool(&in); /* we are never a read-only server */
	(void)proto;
	if (in.err) {
		log_warn("conn", "%s: malformed ConnectRequest, closing", c->s.peer);
		conn_close(c, "malformed connect");
		return;
	}
	if (!server_serving(srv)) {
		/* ZooKeeper: "ZooKeeperServer not running"; the client tries another */
		conn_close(c, "not serving: no quorum");
		return;
	}
	if (last_zxid > srv->dt.last_zxid) {
		/* Single system image: never let a client go back in time. */
		log_info("conn", "refusing session request for client %s as it has seen zxid 0x%llx "
			 "our last zxid is 0x%llx client must try another server",
			 c->s.peer, (unsigned long long)last_zxid, (unsigned long long)srv->dt.last_zxid);
		conn_close(c, "client ahead of server");
		return;
	}
	int32_t min = srv->cfg->min_session_timeout > 0 ? srv->cfg->min_session_timeout
							 : 2 * srv->cfg->tick_time;
	int32_t max = srv->cfg->max_session_timeout > 0 ? srv->cfg->max_session_timeout
							 : 20 * srv->cfg->tick_time;
	if (timeout < min)
		timeout = min;
	if (timeout > max)
		timeout = max;
	c->timeout = timeout;
	c->packets_in++;
	srv->stats.packets_received++;

	if (sid == 0) {
		c->state = CONN_CONNECTING;
		server_submit_session(srv, c, timeout);
		return;
	}
	struct session *s = session_find(&srv->sessions, sid);
	c->sid = sid;
	bool ok = s && !s->closing && pw && pwlen == SESSION_PASSWD_LEN &&
		  !memcmp(pw, s->passwd, SESSION_PASSWD_LEN);
	if (ok)
		s->timeout = timeout; /* ZooKeeper's revalidateSession takes the new timeout */
	conn_finish_session(c, ok);
}

static void conn_parse(struct conn *c)
{
	struct server *srv = c->srv;
	struct stream *s = &c->s;
	uint32_t max = (uint32_t)srv->cfg->jute_maxbuffer;

	c->stalled = false;
	for (;;) {
		if (c->state == CONN_CLOSING || c->state == CONN_CONNECTING)
			return;
		size_t avail = s->in.len - s->in_off;
		const char *p = s->in.data + s->in_off;
		if (avail < 4)
			return;
		if (c->state == CONN_HANDSHAKE && fourlw_is_command(p, 4)) {
			char cmd[5];
			memcpy(cmd, p, 4);
			cmd[4] = 0;
			s->in_off += 4;
			fourlw_handle(c, cmd);
			return;
		}
		uint32_t len = be32_get(p);
		if (len > max) {
			/* ZooKeeper: "Len error", the connection is closed. */
			log_warn("conn", "%s: frame length %u exceeds jute.maxbuffer %u, closing",
				 s->peer, len, max);
			conn_close(c, "frame too large");
			return;
		}
		if (avail < 4 + (size_t)len)
			return;
		if (c->state == CONN_ACTIVE) {
			int32_t type = len >= 8 ? (int32_t)be32_get(p + 8) : 0;
			if (c->sync_waiting || (c->pending > 0 && !is_write(type)) ||
			    c->pending >= srv->cfg->global_outstanding_limit ||
			    stream_backlog(s) > OUTPUT_HIGH_WATER) {
				c->stalled = true;
				return;
			}
		}
		s->in_off += 4 + len;
		if (c->state == CONN_HANDSHAKE)
			handle_connect(c, p + 4, len);
		else
			dispatch(c, p + 4, len);
	}
}

void conn_resume(struct conn *c)
{
	if (c->on_ready || c->state == CONN_CLOSING)
		return;
	c->on_ready = true;
	c->refs++;
	c->ready_next = c->srv->ready;
	c->srv->ready = c;
}

void conn_process_ready(struct server *srv)
{
	while (srv->ready) {
		struct conn *c = srv->ready;
		srv->ready = c->ready_next;
		c->on_ready = false;
		if (c->state != CONN_CLOSING) {
			stream_start(&c->s);
			conn_parse(c);
		}
		conn_unref(c);
	}
}

void conn_accept(struct server *srv)
{
	struct conn *c = xcalloc(1, sizeof(*c));
	c->srv = srv;
	c->refs = 1;
	c->wo.notify = notify;
	c->s.on_read = on_read;
	c->s.on_eof = on_eof;
	c->s.on_drain = on_drain;
	c->s.on_close = on_close;
	c->lat_min = 0;
	if (stream_accept((uv_stream_t *)&srv->listener, &c->s)) {
		c->state = CONN_CLOSING;
		stream_close(&c->s);
		return;
	}
	int same = 0;
	for (struct conn *o = srv->conns; o; o = o->next)
		if (!strcmp(o->s.peer_ip, c->s.peer_ip))
			same++;
	c->next = srv->conns;
	if (srv->conns)
		srv->conns->prev = c;
	srv->conns = c;
	srv->nconns++;
	if (srv->cfg->max_client_cnxns > 0 && same >= srv->cfg->max_client_cnxns) {
		log_warn("conn", "too many connections from %s - max is %d", c->s.peer_ip,
			 srv->cfg->max_client_cnxns);
		conn_close(c, "too many connections");
		return;
	}
	auth_add(&c->auth, "ip", c->s.peer_ip);
	stream_start(&c->s);
}
