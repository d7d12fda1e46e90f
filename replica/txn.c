/*
 * txn.c - see txn.h.
 */
#include "config.h"

#include <errno.h>
#include <string.h>

#include "log.h"
#include "txn.h"

void txn_put_header(struct buf *b, const struct txn_header *h)
{
	jute_put_long(b, h->client_id);
	jute_put_int(b, h->cxid);
	jute_put_long(b, h->zxid);
	jute_put_long(b, h->time);
	jute_put_int(b, h->type);
}

int txn_get_header(struct jute_in *in, struct txn_header *h)
{
	h->client_id = jute_get_long(in);
	h->cxid = jute_get_int(in);
	h->zxid = jute_get_long(in);
	h->time = jute_get_long(in);
	h->type = jute_get_int(in);
	return in->err;
}

static struct acl *get_acl(struct jute_in *in)
{
	struct acl_entry *e;
	int n = acl_decode(in, &e);
	if (in->err)
		return NULL;
	return acl_intern(e, n);
}

static void apply_one(struct datatree *dt, const struct txn_hooks *hooks,
		      const struct txn_header *h, int32_t type, struct jute_in *in,
		      struct txn_result *r)
{
	char *path;
	const char *data;
	int32_t len, version;
	struct acl *acl;

	r->type = type;
	r->err = ZOK;
	switch (type) {
	case ZOP_CREATE:
	case ZOP_CREATE2:
	case ZOP_CREATECONTAINER:
	case ZOP_CREATETTL: {
		path = jute_get_string(in, NULL);
		data = jute_get_buffer(in, &len);
		acl = get_acl(in);
		int64_t owner = jute_get_long(in);
		int32_t pcv = jute_get_int(in);
		if (in->err) {
			acl_unref(acl);
			return;
		}
		r->path = path;
		r->err = datatree_create(dt, path, data, len, acl, owner, pcv, h->zxid, h->time, &r->stat);
		acl_unref(acl);
		break;
	}
	case ZOP_DELETE:
	case ZOP_DELETECONTAINER:
		path = jute_get_string(in, NULL);
		if (!in->err)
			r->err = datatree_delete(dt, path, h->zxid);
		break;
	case ZOP_SETDATA:
		path = jute_get_string(in, NULL);
		data = jute_get_buffer(in, &len);
		version = jute_get_int(in);
		if (!in->err)
			r->err = datatree_set_data(dt, path, data, len, version, h->zxid, h->time, &r->stat);
		break;
	case ZOP_SETACL:
		path = jute_get_string(in, NULL);
		acl = get_acl(in);
		version = jute_get_int(in);
		if (!in->err)
			r->err = datatree_set_acl(dt, path, acl, version, &r->stat);
		acl_unref(acl);
		break;
	case ZOP_CHECK: {
		path = jute_get_string(in, NULL);
		version = jute_get_int(in);
		struct znode *n = in->err ? NULL : datatree_lookup(dt, path);
		if (n)
			znode_stat(n, &r->stat);
		break;
	}
	case ZOP_CREATESESSION: {
		int32_t timeout = jute_get_int(in);
		data = jute_get_buffer(in, &len);
		if (!in->err && hooks && hooks->session_created)
			hooks->session_created(hooks->arg, h->client_id, timeout, data, len);
		break;
	}
	case ZOP_CLOSESESSION:
		datatree_kill_session(dt, h->client_id, h->zxid);
		if (hooks && hooks->session_closed)
			hooks->session_closed(hooks->arg, h->client_id);
		break;
	default:
		in->err = -EBADMSG;
		break;
	}
	if (r->err != ZOK)
		log_warn("txn", "apply of %s zxid 0x%llx: %s", zk_opname(type),
			 (unsigned long long)h->zxid, zk_strerror(r->err));
}

int txn_apply(struct datatree *dt, const struct txn_hooks *hooks, const void *rec, size_t len,
	      struct txn_result *res, struct arena *arena)
{
	struct jute_in in;
	struct txn_header h;
	struct txn_result scratch;

	jute_in_init(&in, rec, len, arena);
	if (txn_get_header(&in, &h))
		return -EBADMSG;
	if (!res)
		res = &scratch;
	memset(res, 0, sizeof(*res));
	if (h.type == ZOP_MULTI) {
		int32_t n = jute_get_count(&in, 4);
		res->type = ZOP_MULTI;
		res->nmulti = n;
		res->multi = n ? arena_alloc(arena, (size_t)n * sizeof(*res->multi)) : NULL;
		for (int32_t i = 0; i < n && !in.err; i++) {
			memset(&res->multi[i], 0, sizeof(res->multi[i]));
			int32_t type = jute_get_int(&in);
			apply_one(dt, hooks, &h, type, &in, &res->multi[i]);
		}
	} else {
		apply_one(dt, hooks, &h, h.type, &in, res);
	}
	if (in.err) {
		log_error("txn", "undecodable transaction at zxid 0x%llx", (unsigned long long)h.zxid);
		return -EBADMSG;
	}
	dt->last_zxid = h.zxid;
	return 0;
}
