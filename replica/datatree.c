/*
 * datatree.c - see datatree.h.  Stat bookkeeping copies ZooKeeper's
 * DataTree.createNode/deleteNode/setData/setACL exactly:
 *  - create bumps the parent's cversion (to the value prep computed) and
 *    pzxid; delete only moves the parent's pzxid forward, so sequential
 *    numbers (taken from cversion) never repeat;
 *  - setData bumps version, mzxid and mtime; setACL bumps aversion only.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "datatree.h"
#include "xalloc.h"

struct eph_owner {
	struct eph_owner *hnext;
	int64_t id;
	struct znode *head;
	size_t count;
};

static uint32_t hash_path(const char *s, size_t n)
{
	uint32_t h = 2166136261u;
	for (size_t i = 0; i < n; i++)
		h = (h ^ (uint8_t)s[i]) * 16777619u;
	return h;
}

enum eph_type eph_type_of(int64_t owner)
{
	if (owner == 0)
		return EPH_NORMAL;
	if (owner == ZK_CONTAINER_OWNER)
		return EPH_CONTAINER;
	if (((uint64_t)owner & ZK_EXTENDED_MASK) == ZK_EXTENDED_MASK)
		return EPH_TTL;
	return EPH_EPHEMERAL;
}

static void hash_insert(struct datatree *dt, struct znode *n)
{
	if (dt->count >= dt->nb) {
		size_t nb = dt->nb * 2;
		struct znode **b = xcalloc(nb, sizeof(*b));
		for (size_t i = 0; i < dt->nb; i++) {
			struct znode *p = dt->b[i], *next;
			for (; p; p = next) {
				next = p->hnext;
				p->hnext = b[p->hash & (nb - 1)];
				b[p->hash & (nb - 1)] = p;
			}
		}
		free(dt->b);
		dt->b = b;
		dt->nb = nb;
	}
	n->hnext = dt->b[n->hash & (dt->nb - 1)];
	dt->b[n->hash & (dt->nb - 1)] = n;
	dt->count++;
}

static void hash_remove(struct datatree *dt, struct znode *n)
{
	struct znode **pp = &dt->b[n->hash & (dt->nb - 1)];
	while (*pp != n)
		pp = &(*pp)->hnext;
	*pp = n->hnext;
	dt->count--;
}

struct znode *datatree_lookup(const struct datatree *dt, const char *path)
{
	size_t len = strlen(path);
	uint32_t h = hash_path(path, len);
	for (struct znode *n = dt->b[h & (dt->nb - 1)]; n; n = n->hnext)
		if (n->hash == h && n->pathlen == len && !memcmp(n->path, path, len))
			return n;
	return NULL;
}

static struct eph_owner **owner_slot(const struct datatree *dt, int64_t id)
{
	size_t i = ((uint64_t)id * 0x9E3779B97F4A7C15ull) >> 54; /* 1024 buckets */
	struct eph_owner **pp = &dt->owners[i & (dt->nowners_b - 1)];
	while (*pp && (*pp)->id != id)
		pp = &(*pp)->hnext;
	return pp;
}

static void list_add(struct znode **head, struct znode *n)
{
	n->lprev = NULL;
	n->lnext = *head;
	if (*head)
		(*head)->lprev = n;
	*head = n;
}

static void list_del(struct znode **head, struct znode *n)
{
	if (n->lprev)
		n->lprev->lnext = n->lnext;
	else
		*head = n->lnext;
	if (n->lnext)
		n->lnext->lprev = n->lprev;
	n->lnext = n->lprev = NULL;
}

static void track(struct datatree *dt, struct znode *n)
{
	switch (eph_type_of(n->st.ephemeral_owner)) {
	case EPH_NORMAL:
		break;
	case EPH_CONTAINER:
		list_add(&dt->containers, n);
		break;
	case EPH_TTL:
		list_add(&dt->ttls, n);
		break;
	case EPH_EPHEMERAL: {
		struct eph_owner **pp = owner_slot(dt, n->st.ephemeral_owner);
		if (!*pp) {
			*pp = xcalloc(1, sizeof(**pp));
			(*pp)->id = n->st.ephemeral_owner;
		}
		list_add(&(*pp)->head, n);
		(*pp)->count++;
		break;
	}
	}
}

static void untrack(struct datatree *dt, struct znode *n)
{
	switch (eph_type_of(n->st.ephemeral_owner)) {
	case EPH_NORMAL:
		break;
	case EPH_CONTAINER:
		list_del(&dt->containers, n);
		break;
	case EPH_TTL:
		list_del(&dt->ttls, n);
		break;
	case EPH_EPHEMERAL: {
		struct eph_owner **pp = owner_slot(dt, n->st.ephemeral_owner);
		struct eph_owner *o = *pp;
		if (!o)
			return;
		list_del(&o->head, n);
		if (--o->count == 0) {
			*pp = o->hnext;
			free(o);
		}
		break;
	}
	}
}

static struct znode *node_new(const char *path, size_t len)
{
	struct znode *n = xcalloc(1, sizeof(*n));
	n->path = xmemdup(path, len + 1);
	n->pathlen = (uint32_t)len;
	n->hash = hash_path(path, len);
	n->datalen = -1;
	return n;
}

static void node_free(struct znode *n)
{
	free(n->path);
	free(n->kids);
	free(n->data);
	acl_unref(n->acl);
	free(n);
}

static void kid_add(struct znode *p, struct znode *k)
{
	if (p->nkids == p->kcap) {
		p->kcap = p->kcap ? p->kcap * 2 : 4;
		p->kids = xrealloc(p->kids, p->kcap * sizeof(*p->kids));
	}
	k->kidx = p->nkids;
	p->kids[p->nkids++] = k;
	k->parent = p;
}

static void kid_del(struct znode *p, struct znode *k)
{
	struct znode *last = p->kids[--p->nkids];
	p->kids[k->kidx] = last;
	last->kidx = k->kidx;
	if (p->nkids == 0 && p->kcap > 16) {
		free(p->kids);
		p->kids = NULL;
		p->kcap = 0;
	}
}

static void set_data(struct datatree *dt, struct znode *n, const char *data, int32_t len)
{
	dt->data_bytes -= n->datalen > 0 ? (uint64_t)n->datalen : 0;
	free(n->data);
	n->data = NULL;
	n->datalen = len < 0 || !data ? -1 : len;
	if (n->datalen > 0)
		n->data = xmemdup(data, (size_t)len);
	dt->data_bytes += n->datalen > 0 ? (uint64_t)n->datalen : 0;
}

static struct znode *add_system_node(struct datatree *dt, struct znode *parent, const char *path,
				     struct acl *acl)
{
	struct znode *n = node_new(path, strlen(path));
	n->acl = acl_ref(acl);
	n->datalen = 0; /* empty, not null */
	hash_insert(dt, n);
	if (parent)
		kid_add(parent, n);
	return n;
}

void datatree_init(struct datatree *dt, struct watches *w)
{
	memset(dt, 0, sizeof(*dt));
	dt->nb = 1024;
	dt->b = xcalloc(dt->nb, sizeof(*dt->b));
	dt->nowners_b = 1024;
	dt->owners = xcalloc(dt->nowners_b, sizeof(*dt->owners));
	dt->watches = w;
	/*
	 * ZooKeeper's tree starts with /, /zookeeper and /zookeeper/quota (all
	 * world:anyone) and /zookeeper/config (world:anyone READ), all with
	 * empty data and a zero stat; adding them does not bump cversion.
	 */
	dt->root = add_system_node(dt, NULL, "/", acl_open_unsafe());
	struct znode *zk = add_system_node(dt, dt->root, "/zookeeper", acl_open_unsafe());
	add_system_node(dt, zk, "/zookeeper/quota", acl_open_unsafe());
	struct znode *cfg = add_system_node(dt, zk, "/zookeeper/config", acl_read_unsafe());
	cfg->st.aversion = -1; /* ZooKeeper sets its ACL with version -1 */
}

void datatree_free(struct datatree *dt)
{
	for (size_t i = 0; i < dt->nb; i++) {
		struct znode *n = dt->b[i], *next;
		for (; n; n = next) {
			next = n->hnext;
			node_free(n);
		}
	}
	for (size_t i = 0; i < dt->nowners_b; i++) {
		struct eph_owner *o = dt->owners[i], *next;
		for (; o; o = next) {
			next = o->hnext;
			free(o);
		}
	}
	free(dt->owners);
	free(dt->b);
	memset(dt, 0, sizeof(*dt));
}

void znode_stat(const struct znode *n, struct zk_stat *o)
{
	o->czxid = n->st.czxid;
	o->mzxid = n->st.mzxid;
	o->ctime = n->st.ctime;
	o->mtime = n->st.mtime;
	o->version = n->st.version;
	o->cversion = n->st.cversion;
	o->aversion = n->st.aversion;
	/* Containers and TTL nodes show an ephemeralOwner of 0 to clients. */
	o->ephemeral_owner = eph_type_of(n->st.ephemeral_owner) == EPH_EPHEMERAL ? n->st.ephemeral_owner : 0;
	o->data_length = n->datalen > 0 ? n->datalen : 0;
	o->num_children = (int32_t)n->nkids;
	/*
	 * ZooKeeper keeps a count of child creations internally (sequential
	 * names come from it) and shows clients a count of child changes:
	 * every create but the children still present also had a delete.
	 */
	o->cversion = n->st.cversion * 2 - (int32_t)n->nkids;
	o->pzxid = n->st.pzxid;
}

static struct znode *parent_of(const struct datatree *dt, const char *path)
{
	char tmp[1024];
	size_t len = strlen(path);
	char *p = len < sizeof(tmp) ? tmp : xmalloc(len + 1);
	path_parent(path, p);
	struct znode *n = datatree_lookup(dt, p);
	if (p != tmp)
		free(p);
	return n;
}

static void fire(struct datatree *dt, enum watch_table t, const char *path, int type, int64_t zxid)
{
	if (dt->watches)
		watch_trigger(dt->watches, t, path, type, zxid, 0);
}

int datatree_create(struct datatree *dt, const char *path, const char *data, int32_t len,
		    struct acl *acl, int64_t owner, int32_t parent_cversion, int64_t zxid,
		    int64_t time, struct zk_stat *out)
{
	struct znode *parent = parent_of(dt, path);
	if (!parent)
		return ZNONODE;
	if (datatree_lookup(dt, path))
		return ZNODEEXISTS;
	if (parent_cversion < 0)
		parent_cversion = parent->st.cversion + 1;
	if (parent_cversion > parent->st.cversion) {
		parent->st.cversion = parent_cversion;
		parent->st.pzxid = zxid;
	}
	struct znode *n = node_new(path, strlen(path));
	set_data(dt, n, data, len);
	n->acl = acl_ref(acl);
	n->st.czxid = n->st.mzxid = n->st.pzxid = zxid;
	n->st.ctime = n->st.mtime = time;
	n->st.ephemeral_owner = owner;
	hash_insert(dt, n);
	kid_add(parent, n);
	track(dt, n);
	if (out)
		znode_stat(n, out);
	fire(dt, WT_DATA, path, ZEV_CREATED, zxid);
	fire(dt, WT_CHILD, parent->path, ZEV_CHILD, zxid);
	return ZOK;
}

int datatree_delete(struct datatree *dt, const char *path, int64_t zxid)
{
	struct znode *n = datatree_lookup(dt, path);
	if (!n || n == dt->root)
		return ZNONODE;
	if (n->nkids)
		return ZNOTEMPTY; /* prep prevents this; replay must not orphan children */
	struct znode *parent = n->parent;
	kid_del(parent, n);
	if (zxid > parent->st.pzxid)
		parent->st.pzxid = zxid;
	hash_remove(dt, n);
	untrack(dt, n);
	dt->data_bytes -= n->datalen > 0 ? (uint64_t)n->datalen : 0;
	if (dt->watches) {
		uint64_t gen = watch_trigger(dt->watches, WT_DATA, path, ZEV_DELETED, zxid, 0);
		watch_trigger(dt->watches, WT_CHILD, path, ZEV_DELETED, zxid, gen);
		watch_trigger(dt->watches, WT_CHILD, parent->path, ZEV_CHILD, zxid, 0);
	}
	node_free(n);
	return ZOK;
}

int datatree_set_data(struct datatree *dt, const char *path, const char *data, int32_t len,
		      int32_t version, int64_t zxid, int64_t time, struct zk_stat *out)
{
	struct znode *n = datatree_lookup(dt, path);
	if (!n)
		return ZNONODE;
	set_data(dt, n, data, len);
	n->st.mtime = time;
	n->st.mzxid = zxid;
	n->st.version = version;
	if (out)
		znode_stat(n, out);
	fire(dt, WT_DATA, path, ZEV_CHANGED, zxid);
	return ZOK;
}

int datatree_set_acl(struct datatree *dt, const char *path, struct acl *acl, int32_t version,
		     struct zk_stat *out)
{
	struct znode *n = datatree_lookup(dt, path);
	if (!n)
		return ZNONODE;
	acl_unref(n->acl);
	n->acl = acl_ref(acl);
	n->st.aversion = version;
	if (out)
		znode_stat(n, out);
	return ZOK;
}

void datatree_kill_session(struct datatree *dt, int64_t owner, int64_t zxid)
{
	struct eph_owner *o;
	/* Ephemerals cannot have children, so any order of deletion works. */
	while ((o = *owner_slot(dt, owner)) != NULL) {
		char *path = xstrdup(o->head->path);
		datatree_delete(dt, path, zxid);
		free(path);
	}
}

void datatree_ephemerals(const struct datatree *dt, int64_t owner, znode_cb cb, void *arg)
{
	struct eph_owner *o = *owner_slot(dt, owner);
	for (struct znode *n = o ? o->head : NULL; n; n = n->lnext)
		cb(arg, n);
}

size_t datatree_ephemeral_count(const struct datatree *dt)
{
	size_t c = 0;
	for (size_t i = 0; i < dt->nowners_b; i++)
		for (struct eph_owner *o = dt->owners[i]; o; o = o->hnext)
			c += o->count;
	return c;
}

static void walk(struct znode *n, znode_cb cb, void *arg)
{
	cb(arg, n);
	for (uint32_t i = 0; i < n->nkids; i++)
		walk(n->kids[i], cb, arg);
}

void datatree_walk(const struct datatree *dt, znode_cb cb, void *arg)
{
	walk(dt->root, cb, arg);
}

int32_t datatree_count_descendants(const struct znode *n)
{
	int32_t c = 0;
	for (uint32_t i = 0; i < n->nkids; i++)
		c += 1 + datatree_count_descendants(n->kids[i]);
	return c;
}

int datatree_load_node(struct datatree *dt, const char *path, const char *data, int32_t len,
		       struct acl *acl, const struct znode_stat *st)
{
	struct znode *n = datatree_lookup(dt, path);
	if (n) {
		/* The system nodes exist already; take the snapshot's copy. */
		set_data(dt, n, data, len);
		acl_unref(n->acl);
		n->acl = acl_ref(acl);
		untrack(dt, n);
		n->st = *st;
		track(dt, n);
		return ZOK;
	}
	struct znode *parent = parent_of(dt, path);
	if (!parent)
		return ZNONODE;
	n = node_new(path, strlen(path));
	set_data(dt, n, data, len);
	n->acl = acl_ref(acl);
	n->st = *st;
	hash_insert(dt, n);
	kid_add(parent, n);
	track(dt, n);
	return ZOK;
}
