/*
 * zkclient_proto.c - the ZooKeeper client's requests and replies in the
 * records of zookeeper.jute: argument checks, the request functions of
 * zkclient.h, the multi builder and the reply decoder.  The session they
 * travel on is zkclient.c's (see zkclient_proto.h for the split).
 *
 * Invariants:
 * (1) Nothing here trusts a reply: every count is bounded by the bytes left
 *     (jute_get_count) and a multi never yields more results than it had
 *     ops, so a hostile server cannot make the client allocate at will.
 * (2) Decoded strings and arrays live in the caller's arena or point into
 *     the frame; they die with the callback (zkclient.h: "valid only during
 *     the callback").
 * (3) Argument checks happen before anything is encoded, so a rejected call
 *     leaves no partial request behind and runs no callback (a multi
 *     remembers its first error and refuses to be submitted).
 * (4) Requests are encoded once, at the call, into a recycled buffer: the
 *     caller's data is copied then, and a request queued while disconnected
 *     is sent later byte for byte (only its xid is patched in).
 */
#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "xalloc.h"
#include "zkclient_proto.h"

/* ---- argument checks ---- */

/*
 * PathUtils.validatePath: absolute, no empty, "." or ".." component, no
 * trailing slash (except that a sequential create may end in '/': the
 * server appends the counter), no control characters.
 */
int zkc_proto_check_path(const char *path, bool sequential)
{
	if (!path || path[0] != '/')
		return -EINVAL;
	if (path[1] == 0)
		return 0;
	const char *comp = path + 1;
	for (const char *p = path + 1;; p++) {
		unsigned char ch = (unsigned char)*p;
		if (ch != '/' && ch != 0) {
			if (ch < 0x20 || ch == 0x7f)
				return -EINVAL;
			continue;
		}
		size_t len = (size_t)(p - comp);
		/* ZooKeeper checks path + "1" for sequential nodes: the counter
		 * completes the last component, so it may be empty or dots. */
		if (!(ch == 0 && sequential)) {
			if (len == 0)
				return -EINVAL;
			if ((len == 1 && comp[0] == '.') ||
			    (len == 2 && comp[0] == '.' && comp[1] == '.'))
				return -EINVAL;
		}
		if (ch == 0)
			return 0;
		comp = p + 1;
	}
}

int zkc_proto_check_data(const void *data, int32_t len)
{
	if (len < -1 || (!data && len > 0))
		return -EINVAL;
	if (len > ZKC_MAX_DATA)
		return -EMSGSIZE;
	return 0;
}

int zkc_proto_check_acl(const struct zkc_acl *acl, int nacl)
{
	if (!acl)
		return 0;
	if (nacl < 0 || nacl > 1024)
		return -EINVAL;
	for (int i = 0; i < nacl; i++)
		if (!acl[i].scheme || !acl[i].id)
			return -EINVAL;
	return 0;
}

static bool is_ttl_mode(int flags)
{
	return flags == ZCM_PERSISTENT_WITH_TTL || flags == ZCM_PERSISTENT_SEQUENTIAL_WITH_TTL;
}

static bool is_sequential(int flags)
{
	return flags == ZCM_PERSISTENT_SEQUENTIAL || flags == ZCM_EPHEMERAL_SEQUENTIAL ||
	       flags == ZCM_PERSISTENT_SEQUENTIAL_WITH_TTL;
}

int zkc_proto_check_create(const char *path, int flags, int64_t ttl)
{
	if (flags < ZCM_PERSISTENT || flags > ZCM_PERSISTENT_SEQUENTIAL_WITH_TTL)
		return -EINVAL;
	if (is_ttl_mode(flags) ? ttl <= 0 || ttl > ZK_TTL_MAX : ttl != 0)
		return -EINVAL;
	return zkc_proto_check_path(path, is_sequential(flags));
}

int32_t zkc_proto_create_op(int flags)
{
	if (flags == ZCM_CONTAINER)
		return ZOP_CREATECONTAINER;
	return is_ttl_mode(flags) ? ZOP_CREATETTL : ZOP_CREATE2;
}

/* ---- encoders ---- */

void zkc_proto_put_acl(struct buf *b, const struct zkc_acl *acl, int nacl)
{
	if (!acl) {
		/* ZooDefs.Ids.OPEN_ACL_UNSAFE */
		jute_put_int(b, 1);
		jute_put_int(b, ZPERM_ALL);
		jute_put_string(b, "world");
		jute_put_string(b, "anyone");
		return;
	}
	jute_put_int(b, nacl);
	for (int i = 0; i < nacl; i++) {
		jute_put_int(b, acl[i].perms);
		jute_put_string(b, acl[i].scheme);
		jute_put_string(b, acl[i].id);
	}
}

void zkc_proto_put_data(struct buf *b, const void *data, int32_t len)
{
	if (len < 0)
		jute_put_buffer(b, NULL, -1);
	else
		jute_put_buffer(b, len ? data : NULL, len);
}

size_t zkc_proto_begin(struct buf *b, int32_t xid, int32_t op)
{
	size_t off = jute_frame_begin(b);
	jute_put_int(b, xid);
	jute_put_int(b, op);
	return off;
}

void zkc_proto_put_connect(struct buf *b, int64_t last_zxid, int32_t timeout, int64_t sid,
			   const uint8_t *passwd, bool read_only)
{
	size_t off = jute_frame_begin(b);
	jute_put_int(b, 0); /* protocolVersion */
	jute_put_long(b, last_zxid);
	jute_put_int(b, timeout);
	jute_put_long(b, sid);
	jute_put_buffer(b, passwd, ZKC_PASSWD_LEN);
	/* Always sent: 3.4+ servers answer with the flag too (ConnectResponse.readOnly). */
	jute_put_bool(b, read_only);
	jute_frame_end(b, off);
}

/* ---- multi builder ---- */

struct zkc_multi *zkc_multi_new(void)
{
	return xcalloc(1, sizeof(struct zkc_multi));
}

void zkc_multi_free(struct zkc_multi *m)
{
	if (!m)
		return;
	buf_free(&m->body);
	free(m);
}

static void op_header(struct zkc_multi *m, int32_t type)
{
	jute_put_int(&m->body, type);
	jute_put_bool(&m->body, false);
	jute_put_int(&m->body, -1);
	m->nops++;
}

/* Records the first bad argument; the multi is then refused as a whole. */
static bool multi_ok(struct zkc_multi *m, int rc)
{
	if (!m)
		return false;
	if (rc && !m->err)
		m->err = rc;
	return !m->err;
}

void zkc_multi_create_ttl(struct zkc_multi *m, const char *path, const void *data, int32_t len,
			  const struct zkc_acl *acl, int nacl, int flags, int64_t ttl)
{
	int rc = zkc_proto_check_create(path, flags, ttl);
	if (!rc)
		rc = zkc_proto_check_data(data, len);
	if (!rc)
		rc = zkc_proto_check_acl(acl, nacl);
	if (!multi_ok(m, rc))
		return;
	/* Inside a multi a plain create is answered like create (path only) by
	 * ZooKeeper 3.8 anyway, so send the classic opcode. */
	int32_t type = zkc_proto_create_op(flags);
	if (type == ZOP_CREATE2)
		type = ZOP_CREATE;
	op_header(m, type);
	jute_put_string(&m->body, path);
	zkc_proto_put_data(&m->body, data, len);
	zkc_proto_put_acl(&m->body, acl, nacl);
	jute_put_int(&m->body, flags);
	if (type == ZOP_CREATETTL)
		jute_put_long(&m->body, ttl);
}

void zkc_multi_create(struct zkc_multi *m, const char *path, const void *data, int32_t len,
		      const struct zkc_acl *acl, int nacl, int flags)
{
	zkc_multi_create_ttl(m, path, data, len, acl, nacl, flags, 0);
}

void zkc_multi_delete(struct zkc_multi *m, const char *path, int32_t version)
{
	if (!multi_ok(m, zkc_proto_check_path(path, false)))
		return;
	op_header(m, ZOP_DELETE);
	jute_put_string(&m->body, path);
	jute_put_int(&m->body, version);
}

void zkc_multi_set_data(struct zkc_multi *m, const char *path, const void *data, int32_t len,
			int32_t version)
{
	int rc = zkc_proto_check_path(path, false);
	if (!rc)
		rc = zkc_proto_check_data(data, len);
	if (!multi_ok(m, rc))
		return;
	op_header(m, ZOP_SETDATA);
	jute_put_string(&m->body, path);
	zkc_proto_put_data(&m->body, data, len);
	jute_put_int(&m->body, version);
}

void zkc_multi_check(struct zkc_multi *m, const char *path, int32_t version)
{
	if (!multi_ok(m, zkc_proto_check_path(path, false)))
		return;
	op_header(m, ZOP_CHECK);
	jute_put_string(&m->body, path);
	jute_put_int(&m->body, version);
}

/* ---- the reply decoder ---- */

static const char *const *get_children(struct jute_in *in, int32_t *n)
{
	*n = jute_get_count(in, 4);
	if (in->err)
		return NULL;
	char **v = arena_alloc(in->arena, ((size_t)*n + 1) * sizeof(*v));
	for (int32_t i = 0; i < *n; i++) {
		v[i] = jute_get_string(in, NULL);
		if (!v[i] && !in->err)
			v[i] = (char *)""; /* a null name; no server sends one */
	}
	v[*n] = NULL;
	return (const char *const *)v;
}

static const struct zkc_acl *get_acl(struct jute_in *in, int32_t *n)
{
	/* perms + two string lengths: at least 12 bytes per entry */
	*n = jute_get_count(in, 12);
	if (in->err)
		return NULL;
	struct zkc_acl *v = arena_alloc(in->arena, ((size_t)*n + 1) * sizeof(*v));
	for (int32_t i = 0; i < *n; i++) {
		v[i].perms = jute_get_int(in);
		v[i].scheme = jute_get_string(in, NULL);
		v[i].id = jute_get_string(in, NULL);
	}
	return v;
}

static int decode_multi(int32_t nops, struct jute_in *in, struct zkc_result *res)
{
	/* An error reply may come without a body (e.g. a marshalling error). */
	if (jute_remaining(in) == 0)
		return 0;
	size_t cap = nops > 0 ? (size_t)nops : 1;
	struct zkc_op_result *r = arena_alloc(in->arena, cap * sizeof(*r));
	struct zk_stat *stats = arena_alloc(in->arena, cap * sizeof(*stats));
	int32_t n = 0;
	int first = ZOK;

	for (;;) {
		int32_t type = jute_get_int(in);
		bool done = jute_get_bool(in);
		int32_t err = jute_get_int(in);
		if (in->err)
			return in->err;
		if (done)
			break;
		if (n >= nops)
			return -EBADMSG;
		struct zkc_op_result *o = &r[n];
		memset(o, 0, sizeof(*o));
		o->type = type;
		switch (type) {
		case ZOP_CREATE:
			o->path = jute_get_string(in, NULL);
			break;
		case ZOP_CREATE2:
		case ZOP_CREATECONTAINER:
		case ZOP_CREATETTL:
			o->path = jute_get_string(in, NULL);
			jute_get_stat(in, &stats[n]);
			o->stat = &stats[n];
			break;
		case ZOP_SETDATA:
			jute_get_stat(in, &stats[n]);
			o->stat = &stats[n];
			break;
		case ZOP_DELETE:
		case ZOP_CHECK:
			break;
		case ZOP_ERROR:
			/* ErrorResult: the header carries err too; the body is authoritative. */
			o->err = jute_get_int(in);
			(void)err;
			break;
		default:
			return -EBADMSG;
		}
		if (o->err && first == ZOK)
			first = o->err;
		n++;
	}
	res->nresults = n;
	res->results = r;
	if (res->rc == ZOK)
		res->rc = first;
	return in->err;
}

int zkc_proto_decode(int32_t op, int32_t nops, struct jute_in *in, struct zkc_result *res,
		     struct zk_stat *st)
{
	if (op == ZOP_MULTI)
		return decode_multi(nops, in, res);
	if (res->rc != ZOK)
		return 0; /* error replies carry no body */
	switch (op) {
	case ZOP_CREATE:
	case ZOP_SYNC:
		res->path = jute_get_string(in, NULL);
		break;
	case ZOP_CREATE2:
	case ZOP_CREATECONTAINER:
	case ZOP_CREATETTL:
		res->path = jute_get_string(in, NULL);
		jute_get_stat(in, st);
		res->stat = st;
		break;
	case ZOP_EXISTS:
	case ZOP_SETDATA:
	case ZOP_SETACL:
		jute_get_stat(in, st);
		res->stat = st;
		break;
	case ZOP_GETDATA:
		res->data = jute_get_buffer(in, &res->datalen);
		jute_get_stat(in, st);
		res->stat = st;
		break;
	case ZOP_GETCHILDREN:
		res->children = get_children(in, &res->nchildren);
		break;
	case ZOP_GETCHILDREN2:
		res->children = get_children(in, &res->nchildren);
		jute_get_stat(in, st);
		res->stat = st;
		break;
	case ZOP_GETACL:
		res->acl = get_acl(in, &res->nacl);
		jute_get_stat(in, st);
		res->stat = st;
		break;
	default:
		/* delete, addWatch (an ErrorResponse), closeSession: nothing we need */
		break;
	}
	if (in->err) {
		res->stat = NULL;
		res->children = NULL;
		res->acl = NULL;
		res->nchildren = res->nacl = 0;
	}
	return in->err;
}

/* ---- the request functions of zkclient.h ---- */

int zkc_create(struct zkclient *zk, const char *path, const void *data, int32_t len,
	       const struct zkc_acl *acl, int nacl, int flags, int64_t ttl, zkc_cb cb, void *arg)
{
	int rc = zkc_proto_check_create(path, flags, ttl);
	if (!rc)
		rc = zkc_proto_check_data(data, len);
	if (!rc)
		rc = zkc_proto_check_acl(acl, nacl);
	if (rc)
		return rc;
	int32_t op = zkc_proto_create_op(flags);
	struct zkc_req *r = zkc_req_start(zk, op, 0, cb, arg);
	if (!r)
		return -ESHUTDOWN;
	struct buf *f = zkc_req_frame(r);
	zkc_req_path(r, path, false);
	zkc_proto_put_data(f, data, len);
	zkc_proto_put_acl(f, acl, nacl);
	jute_put_int(f, flags);
	if (op == ZOP_CREATETTL)
		jute_put_long(f, ttl);
	return zkc_req_submit(zk, r);
}

int zkc_delete(struct zkclient *zk, const char *path, int32_t version, zkc_cb cb, void *arg)
{
	int rc = zkc_proto_check_path(path, false);
	if (rc)
		return rc;
	struct zkc_req *r = zkc_req_start(zk, ZOP_DELETE, 0, cb, arg);
	if (!r)
		return -ESHUTDOWN;
	zkc_req_path(r, path, false);
	jute_put_int(zkc_req_frame(r), version);
	return zkc_req_submit(zk, r);
}

/* exists, getData, getChildren2: {path, watch}. */
static int read_req(struct zkclient *zk, int32_t op, const char *path, bool watch, zkc_cb cb,
		    void *arg)
{
	int rc = zkc_proto_check_path(path, false);
	if (rc)
		return rc;
	struct zkc_req *r = zkc_req_start(zk, op, 0, cb, arg);
	if (!r)
		return -ESHUTDOWN;
	zkc_req_path(r, path, watch);
	jute_put_bool(zkc_req_frame(r), watch);
	return zkc_req_submit(zk, r);
}

int zkc_exists(struct zkclient *zk, const char *path, bool watch, zkc_cb cb, void *arg)
{
	return read_req(zk, ZOP_EXISTS, path, watch, cb, arg);
}

int zkc_get_data(struct zkclient *zk, const char *path, bool watch, zkc_cb cb, void *arg)
{
	return read_req(zk, ZOP_GETDATA, path, watch, cb, arg);
}

int zkc_get_children(struct zkclient *zk, const char *path, bool watch, zkc_cb cb, void *arg)
{
	/* getChildren2: the same watch, plus the parent's stat */
	return read_req(zk, ZOP_GETCHILDREN2, path, watch, cb, arg);
}

int zkc_set_data(struct zkclient *zk, const char *path, const void *data, int32_t len,
		 int32_t version, zkc_cb cb, void *arg)
{
	int rc = zkc_proto_check_path(path, false);
	if (!rc)
		rc = zkc_proto_check_data(data, len);
	if (rc)
		return rc;
	struct zkc_req *r = zkc_req_start(zk, ZOP_SETDATA, 0, cb, arg);
	if (!r)
		return -ESHUTDOWN;
	zkc_req_path(r, path, false);
	zkc_proto_put_data(zkc_req_frame(r), data, len);
	jute_put_int(zkc_req_frame(r), version);
	return zkc_req_submit(zk, r);
}

/* getACL and sync: {path}. */
static int path_req(struct zkclient *zk, int32_t op, const char *path, zkc_cb cb, void *arg)
{
	int rc = zkc_proto_check_path(path, false);
	if (rc)
		return rc;
	struct zkc_req *r = zkc_req_start(zk, op, 0, cb, arg);
	if (!r)
		return -ESHUTDOWN;
	zkc_req_path(r, path, false);
	return zkc_req_submit(zk, r);
}

int zkc_get_acl(struct zkclient *zk, const char *path, zkc_cb cb, void *arg)
{
	return path_req(zk, ZOP_GETACL, path, cb, arg);
}

int zkc_sync(struct zkclient *zk, const char *path, zkc_cb cb, void *arg)
{
	return path_req(zk, ZOP_SYNC, path, cb, arg);
}

int zkc_set_acl(struct zkclient *zk, const char *path, const struct zkc_acl *acl, int nacl,
		int32_t version, zkc_cb cb, void *arg)
{
	int rc = zkc_proto_check_path(path, false);
	if (!rc)
		rc = zkc_proto_check_acl(acl, nacl);
	if (rc)
		return rc;
	struct zkc_req *r = zkc_req_start(zk, ZOP_SETACL, 0, cb, arg);
	if (!r)
		return -ESHUTDOWN;
	zkc_req_path(r, path, false);
	zkc_proto_put_acl(zkc_req_frame(r), acl, nacl);
	jute_put_int(zkc_req_frame(r), version);
	return zkc_req_submit(zk, r);
}

int zkc_add_watch(struct zkclient *zk, const char *path, int mode, zkc_cb cb, void *arg)
{
	int rc = zkc_proto_check_path(path, false);
	if (rc)
		return rc;
	if (mode != ZADDWATCH_PERSISTENT && mode != ZADDWATCH_PERSISTENT_RECURSIVE)
		return -EINVAL;
	struct zkc_req *r = zkc_req_start(zk, ZOP_ADDWATCH, 0, cb, arg);
	if (!r)
		return -ESHUTDOWN;
	zkc_req_set_aux(r, mode);
	zkc_req_path(r, path, true);
	jute_put_int(zkc_req_frame(r), mode);
	return zkc_req_submit(zk, r);
}

int zkc_add_auth(struct zkclient *zk, const char *scheme, const void *auth, int32_t len,
		 zkc_cb cb, void *arg)
{
	if (!scheme || !*scheme || len < 0 || (!auth && len > 0) || len > ZKC_MAX_DATA)
		return -EINVAL;
	struct zkc_req *r = zkc_req_start(zk, ZOP_AUTH, ZXID_AUTH, cb, arg);
	if (!r)
		return -ESHUTDOWN;
	struct buf *f = zkc_req_frame(r);
	jute_put_int(f, 0); /* AuthPacket.type, unused */
	jute_put_string(f, scheme);
	jute_put_buffer(f, len ? auth : NULL, len);
	return zkc_req_submit(zk, r);
}

int zkc_multi_submit(struct zkclient *zk, struct zkc_multi *m, zkc_cb cb, void *arg)
{
	if (!m)
		return -EINVAL;
	struct zkc_req *r = m->err ? NULL : zkc_req_start(zk, ZOP_MULTI, 0, cb, arg);
	if (!r) {
		int rc = m->err ? m->err : -ESHUTDOWN;
		zkc_multi_free(m);
		return rc;
	}
	struct buf *f = zkc_req_frame(r);
	zkc_req_set_aux(r, m->nops);
	buf_append(f, m->body.data, m->body.len);
	jute_put_int(f, -1); /* MultiHeader{-1, true, -1} ends the list */
	jute_put_bool(f, true);
	jute_put_int(f, -1);
	zkc_multi_free(m);
	return zkc_req_submit(zk, r);
}
