/*
 * txn.h - transactions: what prep produces, what the log stores and
 * replicas apply.  The encoding is ours (jute primitives, not ZooKeeper's
 * txn records) so one body format serves every create flavour and the apply
 * step never has to guess a node's type.
 *
 *   header: clientId long, cxid int, zxid long, time long, type int
 *   CREATE, CREATE2, CREATECONTAINER, CREATETTL:
 *           path, data buffer, acl vector, ephemeralOwner long, parentCVersion int
 *   DELETE, DELETECONTAINER: path
 *   SETDATA: path, data buffer, version int      (the new version)
 *   SETACL:  path, acl vector, version int       (the new aversion)
 *   CHECK:   path, version int
 *   CREATESESSION: timeout int, passwd buffer
 *   CLOSESESSION:  (nothing: every ephemeral of clientId goes)
 *   MULTI:   count int, then per op: type int and that op's body
 *
 * The request opcode is kept as the type so the reply can be shaped
 * (create answers a path, create2 a path and a Stat) from the txn alone.
 *
 * Invariant: txn_apply is deterministic - given the same tree and bytes it
 * makes the same change on every replica and on every replay.
 */
#ifndef COORD_TXN_H
#define COORD_TXN_H

#include <stdint.h>

#include "buf.h"
#include "datatree.h"
#include "jute.h"

struct txn_header {
	int64_t client_id;
	int32_t cxid;
	int64_t zxid;
	int64_t time;
	int32_t type;
};

struct txn_result {
	int32_t type;
	int32_t err;
	char *path;       /* created path (arena) */
	struct zk_stat stat;
	int32_t nmulti;
	struct txn_result *multi; /* arena */
};

struct txn_hooks {
	void (*session_created)(void *arg, int64_t id, int32_t timeout, const char *passwd, int32_t pwlen);
	void (*session_closed)(void *arg, int64_t id);
	void *arg;
};

/* The session a txn belongs to (its header's clientId). */
static inline int64_t txn_client_id(const struct buf *b)
{
	return b->len >= 8 ? (int64_t)be64_get(b->data) : 0;
}

void txn_put_header(struct buf *b, const struct txn_header *h);
int txn_get_header(struct jute_in *in, struct txn_header *h);

/*
 * Applies one encoded transaction to the tree and advances dt->last_zxid.
 * res (may be NULL) receives per-op results; its strings live in arena.
 * Returns 0, or -EBADMSG if the record does not decode (a corrupt log that
 * passed its checksum: the caller must stop).
 */
int txn_apply(struct datatree *dt, const struct txn_hooks *hooks, const void *rec, size_t len,
	      struct txn_result *res, struct arena *arena);

#endif
