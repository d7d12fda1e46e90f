/*
 * prep.c - see prep.h.  Check order and error codes follow ZooKeeper's
 * PrepRequestProcessor.pRequest2Txn so clients see the same code for the
 * same mistake (e.g. NOAUTH is reported before NODEEXISTS on create).
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "prep.h"
#include "txn.h"
#include "xalloc.h"

/* A speculative view of one path: the committed node with pending changes applied. */
struct change {
	struct change *fnext;  /* FIFO */
	struct change *hnext;  /* hash chain */
	struct change *shadow; /* record this one hides; only valid during one multi */
	int64_t zxid;
	bool exists;
	struct znode_stat st;
	int32_t nkids;
	struct acl *acl;
	uint32_t hash;
	char *path;
};

static uint32_t hash_path(const char *s)
{
	uint32_t h = 2166136261u;
	for (; *s; s++)
		h = (h ^ (uint8_t)*s) * 16777619u;
	return h;
}

void prep_init(struct prep *p, struct datatree *dt)
{
	memset(p, 0, sizeof(*p));
	p->dt = dt;
	p->nb = 1024;
	p->b = xcalloc(p->nb, sizeof(*p->b));
	p->last_zxid = dt->last_zxid;
}

static void change_release(struct prep *p, struct change *c)
{
	acl_unref(c->acl);
	free(c->path);
	c->acl = NULL;
	c->path = NULL;
	c->fnext = p->freelist;
	p->freelist = c;
}

void prep_free(struct prep *p)
{
	prep_abort_all(p, p->last_zxid);
	while (p->freelist) {
		struct change *c = p->freelist;
		p->freelist = c->fnext;
		free(c);
	}
	free(p->b);
}

static struct change **slot(struct prep *p, const char *path, uint32_t h)
{
	struct change **pp = &p->b[h & (p->nb - 1)];
	while (*pp && ((*pp)->hash != h || strcmp((*pp)->path, path)))
		pp = &(*pp)->hnext;
	return pp;
}

/* Current speculative record of path; false if the node does not exist. */
static bool get_record(struct prep *p, const char *path, struct change *out)
{
	struct change *c = *slot(p, path, hash_path(path));
	if (c) {
		*out = *c;
		return c->exists;
	}
	struct znode *n = datatree_lookup(p->dt, path);
	if (!n)
		return false;
	memset(out, 0, sizeof(*out));
	out->exists = true;
	out->st = n->st;
	out->nkids = (int32_t)n->nkids;
	out->acl = n->acl;
	return true;
}

/* Records the new speculative state of a path (copying v). */
static void add_change(struct prep *p, const char *path, const struct change *v, int64_t zxid)
{
	struct change *c = p->freelist;
	if (c)
		p->freelist = c->fnext;
	else
		c = xmalloc(sizeof(*c));
	*c = *v;
	c->zxid = zxid;
	c->path = xstrdup(path);
	c->hash = hash_path(path);
	c->acl = v->acl ? acl_ref(v->acl) : NULL;
	c->fnext = NULL;
	struct change **pp = slot(p, path, c->hash);
	c->shadow = *pp;
	c->hnext = *pp ? (*pp)->hnext : NULL;
	*pp = c;
	if (p->tail)
		p->tail->fnext = c;
	else
		p->head = c;
	p->tail = c;
}

/* Unhooks c from the hash if it is the visible record of its path. */
static void unhash(struct prep *p, struct change *c, struct change *restore)
{
	struct change **pp = slot(p, c->path, c->hash);
	if (*pp != c)
		return;
	if (restore) {
		restore->hnext = c->hnext;
		*pp = restore;
	} else {
		*pp = c->hnext;
	}
}

void prep_committed(struct prep *p, int64_t zxid)
{
	while (p->head && p->head->zxid <= zxid) {
		struct change *c = p->head;
		p->head = c->fnext;
		if (!p->head)
			p->tail = NULL;
		unhash(p, c, NULL);
		change_release(p, c);
	}
}

void prep_abort_all(struct prep *p, int64_t last)
{
	while (p->head) {
		struct change *c = p->head;
		p->head = c->fnext;
		unhash(p, c, NULL);
		change_release(p, c);
	}
	p->tail = NULL;
	p->last_zxid = last;
}

size_t prep_outstanding(const struct prep *p)
{
	size_t n = 0;
	for (struct change *c = p->head; c; c = c->fnext)
		n++;
	return n;
}

/* Undo the records a failed multi added (all carry its zxid, at the tail). */
static void rollback(struct prep *p, struct change *mark)
{
	/*
	 * Undo newest first, so each shadow becomes visible again before its
	 * own record goes: reverse the discarded tail in place, then walk it.
	 */
	struct change *c = mark ? mark->fnext : p->head, *rev = NULL;
	while (c) {
		struct change *next = c->fnext;
		c->fnext = rev;
		rev = c;
		c = next;
	}
	while (rev) {
		c = rev;
		rev = c->fnext;
		unhash(p, c, c->shadow);
		change_release(p, c);
	}
	if (mark)
		mark->fnext = NULL;
	else
		p->head = NULL;
	p->tail = mark;
}

static int check_acl(const struct prep_ctx *c, const struct acl *acl, int perm)
{
	if (!c->auth)
		return ZOK; /* internal request: session expiry, container reaper */
	return acl_check(acl, perm, c->auth);
}

static int check_version(int32_t cur, int32_t expected, int32_t *next)
{
	if (expected != -1 && expected != cur)
		return ZBADVERSION;
	/* ZOOKEEPER-4743: skip -1 when wrapping, it means "any version". */
	*next = cur + 1 == -1 ? 0 : cur + 1;
	return ZOK;
}

static void put_acl(struct buf *out, const struct acl_entry *acl, int n)
{
	jute_put_int(out, n);
	for (int i = 0; i < n; i++) {
		jute_put_int(out, acl[i].perms);
		jute_put_string(out, acl[i].scheme);
		jute_put_string(out, acl[i].id);
	}
}

struct prep_op {
	struct prep *p;
	const struct prep_ctx *c;
	int64_t zxid;
	struct buf *out;
};

static int parent_path_for_delete(const char *path, char *parent)
{
	if (!path || !strchr(path, '/') || !strcmp(path, "/") || !strcmp(path, "/zookeeper") ||
	    !strcmp(path, "/zookeeper/quota") || !strcmp(path, "/zookeeper/config"))
		return ZBADARGUMENTS;
	path_parent(path, parent);
	return ZOK;
}

static int prep_create(struct prep_op *op, int32_t type, struct jute_in *in)
{
	struct prep *p = op->p;
	int32_t pathlen, datalen;
	char *path = jute_get_string(in, &pathlen);
	const char *data = jute_get_buffer(in, &datalen);
	struct acl_entry *acl_in;
	int nacl = acl_decode(in, &acl_in);
	int32_t flags = jute_get_int(in);
	int64_t ttl = type == ZOP_CREATETTL ? jute_get_long(in) : -1;
	if (in->err || !path)
		return ZMARSHALLINGERROR;

	if (flags < ZCM_PERSISTENT || flags > ZCM_PERSISTENT_SEQUENTIAL_WITH_TTL)
		return ZBADARGUMENTS;
	bool is_ttl = flags == ZCM_PERSISTENT_WITH_TTL || flags == ZCM_PERSISTENT_SEQUENTIAL_WITH_TTL;
	bool sequential = flags == ZCM_PERSISTENT_SEQUENTIAL || flags == ZCM_EPHEMERAL_SEQUENTIAL ||
			  flags == ZCM_PERSISTENT_SEQUENTIAL_WITH_TTL;
	if (is_ttl && !p->extended_types)
		return ZUNIMPLEMENTED;
	if (type == ZOP_CREATETTL && !is_ttl)
		return ZBADARGUMENTS; /* createTTL only makes TTL nodes */
	if (is_ttl && (ttl <= 0 || ttl > ZK_TTL_MAX))
		return ZBADARGUMENTS;
	if (!path || !strchr(path, '/') || (int32_t)strlen(path) != pathlen)
		return ZBADARGUMENTS;

	struct acl_entry *acl;
	int n;
	int rc = acl_fixup(acl_in, nacl, op->c->auth, op->c->arena, &acl, &n);
	if (rc)
		return rc;

	char *parent_path = arena_alloc(op->c->arena, (size_t)pathlen + 2);
	path_parent(path, parent_path);
	struct change parent;
	if (!get_record(p, parent_path, &parent))
		return ZNONODE;
	if ((rc = check_acl(op->c, parent.acl, ZPERM_CREATE)))
		return rc;
	if (sequential) {
		char *s = arena_alloc(op->c->arena, (size_t)pathlen + 16);
		snprintf(s, (size_t)pathlen + 16, "%s%010d", path, parent.st.cversion);
		path = s;
	}
	if ((rc = path_validate(path, (int32_t)strlen(path))))
		return rc;
	struct change node;
	if (get_record(p, path, &node))
		return ZNODEEXISTS;
	if (eph_type_of(parent.st.ephemeral_owner) == EPH_EPHEMERAL)
		return ZNOCHILDRENFOREPHEMERALS;

	/*
	 * Only the createContainer opcode makes a container: ZooKeeper turns the
	 * container flag on a plain create into a persistent node.
	 */
	int64_t owner = 0;
	if (type == ZOP_CREATECONTAINER)
		owner = ZK_CONTAINER_OWNER;
	else if (is_ttl)
		owner = (int64_t)(ZK_EXTENDED_MASK | (uint64_t)ttl);
	else if (flags == ZCM_EPHEMERAL || flags == ZCM_EPHEMERAL_SEQUENTIAL)
		owner = op->c->session_id;
	int32_t new_cversion = parent.st.cversion + 1;

	/* The transaction body. */
	jute_put_string(op->out, path);
	jute_put_buffer(op->out, data, datalen);
	put_acl(op->out, acl, n);
	jute_put_long(op->out, owner);
	jute_put_int(op->out, new_cversion);

	/* Speculative state: the parent gains a child, the node appears. */
	parent.nkids++;
	parent.st.cversion = new_cversion;
	parent.st.pzxid = op->zxid;
	add_change(p, parent_path, &parent, op->zxid);
	memset(&node, 0, sizeof(node));
	node.exists = true;
	node.st.czxid = node.st.mzxid = node.st.pzxid = op->zxid;
	node.st.ctime = node.st.mtime = op->c->time;
	node.st.ephemeral_owner = owner;
	node.acl = acl_intern(acl, n);
	add_change(p, path, &node, op->zxid);
	acl_unref(node.acl);
	return ZOK;
}

/* The speculative state of a delete: the parent loses a child, the node goes. */
static void delete_records(struct prep_op *op, const char *path, const char *parent_path,
			   struct change *parent)
{
	parent->nkids--;
	if (op->zxid > parent->st.pzxid)
		parent->st.pzxid = op->zxid;
	add_change(op->p, parent_path, parent, op->zxid);
	struct change gone;
	memset(&gone, 0, sizeof(gone));
	add_change(op->p, path, &gone, op->zxid);
}

static int delete_node(struct prep_op *op, const char *path, const char *parent_path,
		       struct change *parent)
{
	jute_put_string(op->out, path);
	delete_records(op, path, parent_path, parent);
	return ZOK;
}

static int prep_delete(struct prep_op *op, int32_t type, struct jute_in *in)
{
	int32_t pathlen;
	char *path = jute_get_string(in, &pathlen);
	int32_t version = type == ZOP_DELETE ? jute_get_int(in) : -1;
	if (in->err || !path)
		return ZMARSHALLINGERROR;
	char *parent_path = arena_alloc(op->c->arena, (size_t)(pathlen > 0 ? pathlen : 0) + 2);
	int rc = parent_path_for_delete(path, parent_path);
	if (rc || (int32_t)strlen(path) != pathlen)
		return ZBADARGUMENTS;
	struct change parent, node;
	if (!get_record(op->p, parent_path, &parent))
		return ZNONODE;
	if (type == ZOP_DELETE && (rc = check_acl(op->c, parent.acl, ZPERM_DELETE)))
		return rc;
	if (!get_record(op->p, path, &node))
		return ZNONODE;
	if (type == ZOP_DELETE) {
		int32_t next;
		if ((rc = check_version(node.st.version, version, &next)))
			return rc;
	}
	if (node.nkids > 0)
		return ZNOTEMPTY;
	if (type == ZOP_DELETECONTAINER) {
		enum eph_type t = eph_type_of(node.st.ephemeral_owner);
		if (t != EPH_CONTAINER && t != EPH_TTL)
			return ZBADVERSION;
	}
	return delete_node(op, path, parent_path, &parent);
}

/*
 * The checks setData and check share, in ZooKeeper's order: a valid path,
 * the node exists (speculatively), the caller has perm, the version matches.
 * *next is the version the node will have.
 */
static int existing_node(struct prep_op *op, const char *path, int32_t pathlen, int perm,
			 int32_t version, struct change *node, int32_t *next)
{
	int rc = path_validate(path, pathlen);
	if (rc)
		return rc;
	if (!get_record(op->p, path, node))
		return ZNONODE;
	if ((rc = check_acl(op->c, node->acl, perm)))
		return rc;
	return check_version(node->st.version, version, next);
}

static int prep_set_data(struct prep_op *op, struct jute_in *in)
{
	int32_t pathlen, datalen;
	char *path = jute_get_string(in, &pathlen);
	const char *data = jute_get_buffer(in, &datalen);
	int32_t version = jute_get_int(in);
	if (in->err || !path)
		return ZMARSHALLINGERROR;
	struct change node;
	int32_t next;
	int rc = existing_node(op, path, pathlen, ZPERM_WRITE, version, &node, &next);
	if (rc)
		return rc;
	jute_put_string(op->out, path);
	jute_put_buffer(op->out, data, datalen);
	jute_put_int(op->out, next);
	node.st.version = next;
	node.st.mtime = op->c->time;
	node.st.mzxid = op->zxid;
	add_change(op->p, path, &node, op->zxid);
	return ZOK;
}

static int prep_set_acl(struct prep_op *op, struct jute_in *in)
{
	int32_t pathlen;
	char *path = jute_get_string(in, &pathlen);
	struct acl_entry *acl_in;
	int nacl = acl_decode(in, &acl_in);
	int32_t version = jute_get_int(in);
	if (in->err || !path)
		return ZMARSHALLINGERROR;
	int rc = path_validate(path, pathlen);
	if (rc)
		return rc;
	struct acl_entry *acl;
	int n;
	if ((rc = acl_fixup(acl_in, nacl, op->c->auth, op->c->arena, &acl, &n)))
		return rc;
	struct change node;
	if (!get_record(op->p, path, &node))
		return ZNONODE;
	if ((rc = check_acl(op->c, node.acl, ZPERM_ADMIN)))
		return rc;
	int32_t next;
	if ((rc = check_version(node.st.aversion, version, &next)))
		return rc;
	jute_put_string(op->out, path);
	put_acl(op->out, acl, n);
	jute_put_int(op->out, next);
	node.st.aversion = next;
	node.acl = acl_intern(acl, n);
	add_change(op->p, path, &node, op->zxid);
	acl_unref(node.acl);
	return ZOK;
}

static int prep_check(struct prep_op *op, struct jute_in *in)
{
	int32_t pathlen;
	char *path = jute_get_string(in, &pathlen);
	int32_t version = jute_get_int(in);
	if (in->err || !path)
		return ZMARSHALLINGERROR;
	struct change node;
	int32_t next;
	int rc = existing_node(op, path, pathlen, ZPERM_READ, version, &node, &next);
	if (rc)
		return rc;
	jute_put_string(op->out, path);
	jute_put_int(op->out, version);
	return ZOK;
}

static int prep_one(struct prep_op *op, int32_t type, struct jute_in *in)
{
	switch (type) {
	case ZOP_CREATE:
	case ZOP_CREATE2:
	case ZOP_CREATECONTAINER:
	case ZOP_CREATETTL:
		return prep_create(op, type, in);
	case ZOP_DELETE:
	case ZOP_DELETECONTAINER:
		return prep_delete(op, type, in);
	case ZOP_SETDATA:
		return prep_set_data(op, in);
	case ZOP_SETACL:
		return prep_set_acl(op, in);
	case ZOP_CHECK:
		return prep_check(op, in);
	default:
		return ZUNIMPLEMENTED;
	}
}

static void put_header(const struct prep_ctx *c, int32_t type, int64_t zxid, struct buf *out)
{
	struct txn_header h = { c->session_id, c->cxid, zxid, c->time, type };
	txn_put_header(out, &h);
}

/* Skips one op body of a multi that will not be prepared. */
static void skip_op(int32_t type, struct jute_in *in)
{
	struct acl_entry *e;
	int32_t l;
	switch (type) {
	case ZOP_CREATE:
	case ZOP_CREATE2:
	case ZOP_CREATECONTAINER:
	case ZOP_CREATETTL:
		jute_get_buffer(in, &l);
		jute_get_buffer(in, &l);
		acl_decode(in, &e);
		jute_get_int(in);
		if (type == ZOP_CREATETTL)
			jute_get_long(in);
		break;
	case ZOP_DELETE:
	case ZOP_CHECK:
		jute_get_buffer(in, &l);
		jute_get_int(in);
		break;
	case ZOP_SETDATA:
		jute_get_buffer(in, &l);
		jute_get_buffer(in, &l);
		jute_get_int(in);
		break;
	default:
		in->err = -1;
	}
}

static int prep_multi(struct prep *p, const struct prep_ctx *c, struct jute_in *in,
		      struct buf *out, struct multi_err *merr)
{
	size_t start = out->len;
	int64_t zxid = p->last_zxid + 1;
	struct change *mark = p->tail;
	struct prep_op op = { p, c, zxid, out };
	int failed = ZOK;
	int32_t n = 0, cap = 8;
	int32_t *errs = arena_alloc(c->arena, (size_t)cap * sizeof(*errs));

	put_header(c, ZOP_MULTI, zxid, out);
	size_t count_off = out->len;
	jute_put_int(out, 0);
	for (;;) {
		int32_t type = jute_get_int(in);
		bool done = jute_get_bool(in);
		jute_get_int(in); /* err */
		if (in->err)
			goto marshal;
		if (done)
			break;
		if (type != ZOP_CREATE && type != ZOP_CREATE2 && type != ZOP_CREATECONTAINER &&
		    type != ZOP_CREATETTL && type != ZOP_DELETE && type != ZOP_SETDATA &&
		    type != ZOP_CHECK)
			goto marshal; /* MultiOperationRecord: "Invalid type of op" */
		if (n == cap) {
			int32_t *e2 = arena_alloc(c->arena, (size_t)cap * 2 * sizeof(*e2));
			memcpy(e2, errs, (size_t)cap * sizeof(*e2));
			errs = e2;
			cap *= 2;
		}
		if (failed) {
			skip_op(type, in);
			if (in->err)
				goto marshal;
			errs[n++] = ZRUNTIMEINCONSISTENCY;
			continue;
		}
		jute_put_int(out, type);
		int rc = prep_one(&op, type, in);
		if (rc == ZMARSHALLINGERROR)
			goto marshal;
		errs[n++] = rc;
		if (rc) {
			failed = rc;
			for (int32_t i = 0; i < n - 1; i++)
				errs[i] = ZOK;
			rollback(p, mark);
		}
	}
	if (failed) {
		out->len = start;
		merr->n = n;
		merr->errs = errs;
		return failed;
	}
	buf_patch_be32(out, count_off, (uint32_t)n);
	for (struct change *ch = mark ? mark->fnext : p->head; ch; ch = ch->fnext)
		ch->shadow = NULL;
	p->last_zxid = zxid;
	return ZOK;
marshal:
	rollback(p, mark);
	out->len = start;
	merr->n = 0;
	return ZMARSHALLINGERROR;
}

int prep_request(struct prep *p, const struct prep_ctx *c, int32_t type, struct jute_in *in,
		 struct buf *out, struct multi_err *merr)
{
	if (type == ZOP_MULTI)
		return prep_multi(p, c, in, out, merr);
	size_t start = out->len;
	int64_t zxid = p->last_zxid + 1;
	struct prep_op op = { p, c, zxid, out };
	put_header(c, type, zxid, out);
	int rc = prep_one(&op, type, in);
	if (rc) {
		out->len = start;
		return rc;
	}
	p->last_zxid = zxid;
	return ZOK;
}

struct change *prep_mark(const struct prep *p)
{
	return p->tail;
}

void prep_rollback(struct prep *p, struct change *mark, int64_t last)
{
	rollback(p, mark);
	p->last_zxid = last;
}

void prep_create_session(struct prep *p, const struct prep_ctx *c, int32_t timeout,
			 const uint8_t *passwd, int32_t pwlen, struct buf *out)
{
	int64_t zxid = ++p->last_zxid;
	put_header(c, ZOP_CREATESESSION, zxid, out);
	jute_put_int(out, timeout);
	jute_put_buffer(out, passwd, pwlen);
}

struct close_ctx {
	struct prep_op *op;
	int64_t sid;
};

static void close_one(struct prep_op *op, const char *path)
{
	char *parent_path = arena_alloc(op->c->arena, strlen(path) + 2);
	path_parent(path, parent_path);
	struct change parent;
	if (!get_record(op->p, parent_path, &parent))
		return;
	delete_records(op, path, parent_path, &parent); /* the closeSession body lists nothing */
}

static void close_tree_eph(void *arg, struct znode *n)
{
	struct close_ctx *cc = arg;
	/* Skip ephemerals a pending txn deleted (or replaced with another owner's node). */
	struct change *c = *slot(cc->op->p, n->path, hash_path(n->path));
	if (c && (!c->exists || c->st.ephemeral_owner != cc->sid))
		return;
	char *copy = arena_alloc(cc->op->c->arena, n->pathlen + 1);
	memcpy(copy, n->path, n->pathlen + 1);
	close_one(cc->op, copy);
}

void prep_close_session(struct prep *p, const struct prep_ctx *c, struct buf *out)
{
	int64_t zxid = p->last_zxid + 1;
	struct prep_op op = { p, c, zxid, out };
	struct close_ctx cc = { &op, c->session_id };
	struct change *last = p->tail;

	put_header(c, ZOP_CLOSESESSION, zxid, out);
	/* Ephemerals created by pending txns (visible records in the overlay)... */
	for (struct change *ch = p->head; ch; ch = ch->fnext) {
		if (ch->exists && ch->st.ephemeral_owner == c->session_id &&
		    *slot(p, ch->path, ch->hash) == ch && !datatree_lookup(p->dt, ch->path)) {
			char *copy = arena_alloc(c->arena, strlen(ch->path) + 1);
			strcpy(copy, ch->path);
			close_one(&op, copy);
		}
		if (ch == last)
			break;
	}
	/* ...and those in the committed tree. */
	datatree_ephemerals(p->dt, c->session_id, close_tree_eph, &cc);
	p->last_zxid = zxid;
}
