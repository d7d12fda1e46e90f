/*
 * datatree.h - the in-memory znode tree (ZooKeeper's DataTree).
 *
 * The tree holds committed state only: every mutation here is the apply step
 * of a transaction that is already durable (standalone) or committed by a
 * quorum (replicated).  Requests are validated earlier, against the
 * speculative state in prep.c; the functions here still check their
 * preconditions and return ZooKeeper error codes, because log replay runs
 * through them too and must be idempotent-safe.
 *
 * Invariants:
 * (1) Every node but the root has its parent in the tree; a node's path is
 *     its parent's path + "/" + its name.
 * (2) A node whose ephemeralOwner is a session id is on that session's
 *     ephemeral list; containers and TTL nodes are on their own lists.
 * (3) The tree carries the zxid of the last transaction applied
 *     (last_zxid); snapshots are taken at exactly that zxid.
 * (4) Watches fire in apply order, before any later reply is queued, so a
 *     client sees an event before data that reflects it.
 */
#ifndef COORD_DATATREE_H
#define COORD_DATATREE_H

#include <stdbool.h>
#include <stdint.h>

#include "acl.h"
#include "coord/zk.h"
#include "watch.h"
#include "zkpath.h"

struct znode_stat {
	int64_t czxid, mzxid, ctime, mtime;
	int32_t version, cversion, aversion;
	int64_t ephemeral_owner;
	int64_t pzxid;
};

struct znode {
	char *path;
	uint32_t pathlen;
	uint32_t hash;
	struct znode *hnext;
	struct znode *parent;
	struct znode **kids;
	uint32_t nkids, kcap;
	uint32_t kidx; /* index in parent->kids */
	char *data;
	int32_t datalen; /* -1: null data, distinct from empty */
	struct acl *acl;
	struct znode_stat st;
	struct znode *lnext, *lprev; /* ephemeral / container / ttl list */
};

struct eph_owner;

struct datatree {
	struct znode **b;
	size_t nb;
	size_t count;
	struct znode *root;
	int64_t last_zxid;
	struct eph_owner **owners;
	size_t nowners_b;
	struct znode *containers;
	struct znode *ttls;
	struct watches *watches; /* may be NULL: no watch triggering (replay) */
	uint64_t data_bytes;
};

void datatree_init(struct datatree *dt, struct watches *w);
void datatree_free(struct datatree *dt);

struct znode *datatree_lookup(const struct datatree *dt, const char *path);
static inline const char *znode_name(const struct znode *n)
{
	const char *s = n->path + n->pathlen;
	while (s > n->path && s[-1] != '/')
		s--;
	return s;
}

void znode_stat(const struct znode *n, struct zk_stat *out);

/* Classify an ephemeralOwner value (EphemeralType.get). */
enum eph_type { EPH_NORMAL, EPH_EPHEMERAL, EPH_CONTAINER, EPH_TTL };
enum eph_type eph_type_of(int64_t owner);
static inline int64_t ttl_of(int64_t owner) { return owner & ZK_TTL_MAX; }

/*
 * Mutations: return ZOK or a ZooKeeper error code; out may be NULL.
 * parent_cversion < 0 means "parent's cversion + 1" (ZooKeeper's -1).
 */
int datatree_create(struct datatree *dt, const char *path, const char *data, int32_t len,
		    struct acl *acl, int64_t owner, int32_t parent_cversion, int64_t zxid,
		    int64_t time, struct zk_stat *out);
int datatree_delete(struct datatree *dt, const char *path, int64_t zxid);
int datatree_set_data(struct datatree *dt, const char *path, const char *data, int32_t len,
		      int32_t version, int64_t zxid, int64_t time, struct zk_stat *out);
int datatree_set_acl(struct datatree *dt, const char *path, struct acl *acl, int32_t version,
		     struct zk_stat *out);
/* Deletes every ephemeral of the session (closeSession / expiry). */
void datatree_kill_session(struct datatree *dt, int64_t owner, int64_t zxid);

typedef void (*znode_cb)(void *arg, struct znode *n);
void datatree_ephemerals(const struct datatree *dt, int64_t owner, znode_cb cb, void *arg);
size_t datatree_ephemeral_count(const struct datatree *dt);
/* Depth-first, parents before children (snapshot order). */
void datatree_walk(const struct datatree *dt, znode_cb cb, void *arg);
int32_t datatree_count_descendants(const struct znode *n);

/*
 * Snapshot loading: inserts a node with a full persisted stat; the parent
 * must already be present (snapshots are written parents first).
 */
int datatree_load_node(struct datatree *dt, const char *path, const char *data, int32_t len,
		       struct acl *acl, const struct znode_stat *st);


#endif
