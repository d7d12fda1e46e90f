/*
 * server.h - the replica's request pipeline and the state it runs on.
 *
 * A request goes through these steps, all on the one libuv loop thread
 * (ZooKeeper's Prep -> Sync -> Final request processors):
 *
 *   conn.c   frame -> decode header; reads are answered at once from the
 *            committed tree, unless this session has writes in flight
 *            (then they wait: FIFO per session, as in ZooKeeper's
 *            CommitProcessor)
 *   prep.c   write -> transaction with the next zxid, checked against the
 *            speculative state
 *   txnlog   appended to the log batch; one fdatasync per loop iteration
 *            covers every write that arrived meanwhile (group commit)
 *   commit   once the log says zxid Z is durable, every pending item up to
 *            Z is applied to the tree in zxid order, its watches fire, and
 *            its reply is queued (server_commit)
 *   stream   all queued replies leave in one write per connection at the
 *            end of the loop iteration
 *
 * Standalone is a quorum of one: "durable on my disk" is the commit rule.
 * In an ensemble (cluster.h) the rule is "acknowledged by a quorum": the
 * leader learns it from its followers' ACKs, a follower from the leader's
 * COMMITs, and an item is released once it is both committed and durable
 * here.  A follower runs the same pipeline minus prep: it forwards writes
 * to the leader, logs the PROPOSALs the leader sends, and releases them
 * (with its own clients' replies) as they commit.
 *
 * Invariants:
 * (1) The tree only ever contains durable transactions; a reply or watch
 *     event is sent only for state that is durable.
 * (2) Pending items are released strictly in zxid order; an item without a
 *     txn of its own (failed write, sync) carries the zxid of the last txn
 *     prepared before it and is released right after that one.
 * (3) If the log fails to persist a batch, every pending item after the
 *     last durable zxid is failed with ZSYSTEMERROR and the speculative
 *     state is discarded: nothing unacknowledged is applied.
 */
#ifndef COORD_SERVER_H
#define COORD_SERVER_H

#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

#include "acl.h"
#include "buf.h"
#include "datatree.h"
#include "jute.h"
#include "prep.h"
#include "session.h"
#include "stream.h"
#include "watch.h"
#include "zoocfg.h"

struct txnlog;
struct conn;
struct txn_hooks;
struct txn_result;

enum conn_state {
	CONN_HANDSHAKE,  /* waiting for ConnectRequest (or a four-letter word) */
	CONN_CONNECTING, /* createSession txn in flight */
	CONN_ACTIVE,
	CONN_CLOSING,
	CONN_STATE_MAX
};

struct conn {
	struct stream s;
	struct server *srv;
	enum conn_state state;
	struct session *session;
	int64_t sid;
	int32_t timeout;
	struct watch_owner wo;
	struct auth_info auth;
	int pending;      /* items of this connection in the commit queue */
	int refs;         /* pending items + 1 while open */
	bool stalled;     /* input parsing waits for pending writes */
	bool on_ready;
	bool sent_readonly; /* the ConnectRequest carried the readOnly flag */
	bool sync_waiting;  /* a sync waits for the leader's ping round */
	struct conn *ready_next;
	struct conn *next, *prev;
	/* statistics for cons/stat */
	uint64_t packets_in, packets_out;
	int64_t last_zxid;
	int32_t last_cxid;
	int32_t last_op;
	int64_t established;
	int64_t last_latency;
	int64_t lat_min, lat_max, lat_sum, lat_count;
};

struct pending {
	struct pending *next;
	int64_t zxid;
	struct conn *conn; /* NULL for internal requests */
	int32_t xid;
	int32_t type;
	int32_t err;       /* != 0: an error reply, no txn */
	bool has_txn;
	int64_t start_us;
	struct buf txn;
	struct multi_err merr; /* errs malloc'd */
	char *sync_path;
	int origin;        /* server id whose client asked (cluster), 0 here */
	int64_t wait_round; /* a leader's sync: the ping round it waits for */
};

struct server_stats {
	uint64_t packets_received;
	uint64_t packets_sent;
	int64_t lat_min, lat_max, lat_sum, lat_count;
	uint64_t fsyncs;
	uint64_t txns;
	uint64_t log_errors;
	int64_t started;
};

struct server {
	uv_loop_t *loop;
	struct config *cfg;
	struct datatree dt;
	struct watches watches;
	struct prep prep;
	struct sessions sessions;
	struct txnlog *log;
	uv_tcp_t listener;
	uv_prepare_t prepare;
	uv_timer_t reaper;
	uv_signal_t sigchld;
	uv_timer_t purge_timer;
	bool purging;
	struct conn *conns;
	size_t nconns;
	struct conn *ready;
	struct pending *phead, *ptail;
	struct pending *pfree;
	struct pending *sync_waiters; /* leader: syncs waiting for a ping round */
	size_t npending;
	struct buf txnbuf;
	struct arena arena;
	struct server_stats stats;
	int64_t durable_zxid; /* the log says everything up to here is on disk */
	int64_t commit_zxid;  /* a quorum has it (standalone: = durable_zxid) */
	struct cluster *cl;   /* NULL when standalone */
	bool reexec;          /* restart the process (after a SNAP sync) */
	int64_t txns_since_snap;
	int64_t snap_threshold;
	int snap_pid;
	int64_t snap_zxid;
	bool log_broken;
	bool stopping;
	char super_digest[256];
};

int server_init(struct server *srv, uv_loop_t *loop, struct config *cfg);
int server_listen(struct server *srv);
void server_stop(struct server *srv);

/* Pipeline entry points used by conn.c. */
int server_submit_write(struct server *srv, struct conn *c, int32_t xid, int32_t type,
			struct jute_in *in);
int server_submit_session(struct server *srv, struct conn *c, int32_t timeout);
void server_submit_close(struct server *srv, struct conn *c, int32_t xid);
void server_submit_sync(struct server *srv, struct conn *c, int32_t xid, const char *path,
			int32_t err);
int64_t server_now_ms(void);

/* Replication (cluster.h) drives the pipeline through these. */
/* Clients may be served (standalone, or a replica in a working quorum). */
bool server_serving(const struct server *srv);
/* Sets the commit point and releases what it allows. */
void server_commit(struct server *srv, int64_t zxid);
/* Leader: a request forwarded by server `origin`.  Returns ZOK when it made a
 * txn (queued and proposed), else its error (merr for a multi). */
int server_remote_request(struct server *srv, int origin, int64_t sid, int32_t cxid,
			  int32_t type, const struct auth_info *auth, struct jute_in *in,
			  struct multi_err *merr);
/* Follower: log and queue a proposal; p is our forwarded request it answers,
 * or NULL.  Returns 0 or -errno (the log refused it). */
int server_follower_txn(struct server *srv, struct pending *p, int64_t zxid, const void *txn,
			size_t len);
/* Follower: queue the reply p of a request that made no txn, after zxid. */
/* Leader: a quorum answered ping round `round`: syncs up to it go on. */
void server_syncs_confirmed(struct server *srv, int64_t round);
void server_follower_result(struct server *srv, struct pending *p, int64_t after);
/* Leaving the serving state: every client connection is closed, replies
 * and forwarded requests are dropped; logged txns stay queued, uncommitted,
 * except those above keep_upto (-1: keep all). */
void server_unserve(struct server *srv, int64_t keep_upto);
/* Recovery of a replica: a logged txn, queued uncommitted. */
int server_replayed_txn(struct server *srv, int64_t zxid, const void *txn, size_t len);
struct pending *server_pending_new(struct server *srv, struct conn *c, int32_t xid, int32_t type);
void server_pending_free(struct server *srv, struct pending *p);
/* Session bookkeeping done when createSession/closeSession txns apply. */
const struct txn_hooks *server_txn_hooks(struct server *srv);
int64_t server_now_us(void);

/* conn.c */
void conn_accept(struct server *srv);
void conn_close(struct conn *c, const char *why);
/* Closes once the replies queued so far have been written. */
void conn_close_after_flush(struct conn *c);
void conn_unref(struct conn *c);
void conn_resume(struct conn *c);
void conn_finish_session(struct conn *c, bool valid);
void conn_request_done(struct conn *c, int64_t start_us);
void conn_process_ready(struct server *srv);
/* Encodes a reply for a committed (or failed) pending item. */
void conn_reply_txn(struct conn *c, struct pending *p, const struct txn_result *res);

/* storage.c: recovery, snapshots, purge. */
int storage_recover(struct server *srv);
void storage_maybe_snapshot(struct server *srv);
int storage_take_snapshot(struct server *srv);
/* Every snapshot record of the current state (sessions, then znodes parents
 * first), as the snapshot file holds them; stops at emit's non-zero return. */
int storage_serialize(struct server *srv, int (*emit)(void *arg, const void *rec, size_t len),
		      void *arg);
void storage_snap_dir(const struct server *srv, char *out, size_t n);
/* Starts the autopurge.purgeInterval timer (no-op when 0). */
void storage_start_purge(struct server *srv);

/* fourlw.c */
bool fourlw_is_command(const void *p, size_t n);
void fourlw_handle(struct conn *c, const char *cmd);

#endif
