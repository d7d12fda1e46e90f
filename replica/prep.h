/*
 * prep.h - turns write requests into transactions (ZooKeeper's
 * PrepRequestProcessor).
 *
 * Writes are validated against the speculative state: the committed tree
 * plus the changes of every transaction prepared but not yet committed
 * (ZooKeeper's outstandingChanges).  That lets a client pipeline
 * "create /a; create /a/b" without waiting for the first fsync, and lets
 * sequential names and versions be assigned before commit.
 *
 * Invariants:
 * (1) zxids are assigned here, consecutively; last_zxid is the last one
 *     handed out.  A failed request consumes no zxid (unlike ZooKeeper, which
 *     logs an error txn): its reply is ordered behind the pending writes
 *     instead, so it cannot be seen before the state that explains it.
 * (2) Every change record carries the zxid of the txn that made it and is
 *     dropped when that zxid commits (prep_committed), after the tree has the
 *     change.  The overlay therefore only ever describes uncommitted txns.
 * (3) A multi is all-or-nothing here too: if any op fails, the records of
 *     its earlier ops are rolled back before the next request is prepared.
 */
#ifndef COORD_PREP_H
#define COORD_PREP_H

#include <stdbool.h>
#include <stdint.h>

#include "acl.h"
#include "buf.h"
#include "datatree.h"
#include "jute.h"

struct change;

struct prep {
	struct datatree *dt;
	int64_t last_zxid;
	struct change **b;
	size_t nb;
	struct change *head, *tail; /* FIFO in zxid order */
	struct change *freelist;
	bool extended_types;
};

struct prep_ctx {
	int64_t session_id;
	int32_t cxid;
	int64_t time;
	const struct auth_info *auth;
	struct arena *arena;
};

/* Per-op outcome of a multi that failed (ZooKeeper's ErrorResult list). */
struct multi_err {
	int32_t n;
	int32_t *errs;
};

void prep_init(struct prep *p, struct datatree *dt);
void prep_free(struct prep *p);

/*
 * Prepares the write request of the given opcode whose body is in `in`.
 * On ZOK, appends the encoded transaction (header included) to out and
 * returns with p->last_zxid being its zxid.  Otherwise returns the error
 * code; for a multi, merr receives every op's code (0 before the failing
 * op, its error, then ZRUNTIMEINCONSISTENCY) and the return value is the
 * failing op's code.  A body that does not decode yields ZMARSHALLINGERROR.
 *
 * Internal requests (session expiry, container reaping) pass session 0 and
 * auth NULL with super rights implied by the caller checking nothing.
 */
int prep_request(struct prep *p, const struct prep_ctx *c, int32_t type, struct jute_in *in,
		 struct buf *out, struct multi_err *merr);
/* Prepares a createSession txn (id, timeout, password). */
void prep_create_session(struct prep *p, const struct prep_ctx *c, int32_t timeout,
			 const uint8_t *passwd, int32_t pwlen, struct buf *out);
/* Prepares closeSession: deletes every ephemeral of c->session_id. */
void prep_close_session(struct prep *p, const struct prep_ctx *c, struct buf *out);

/*
 * Undo the last prepared txn(s) back to a mark taken before preparing them,
 * when the log refused them; last is the zxid to resume numbering from.
 */
struct change *prep_mark(const struct prep *p);
void prep_rollback(struct prep *p, struct change *mark, int64_t last);
/* Drops the change records of every txn with zxid <= zxid (now committed). */
void prep_committed(struct prep *p, int64_t zxid);
/*
 * Forgets every uncommitted change and rewinds zxid assignment to last: used
 * when the log failed to persist a batch (nothing after `last` happened).
 */
void prep_abort_all(struct prep *p, int64_t last);
size_t prep_outstanding(const struct prep *p);

#endif
