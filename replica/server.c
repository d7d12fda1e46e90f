/*
 * server.c - the commit pipeline (see server.h for the steps and their
 * invariants), the client listener, and the periodic jobs: session expiry
 * and the container/TTL reaper (ZooKeeper's ContainerManager).
 */
#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include "cluster.h"
#include "log.h"
#include "server.h"
#include "txn.h"
#include "txnlog.h"
#include "xalloc.h"

int64_t server_now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t server_now_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* ---- pending items ---- */

/* A new item; it counts against c's outstanding requests (FIFO) from now. */
static struct pending *pending_new(struct server *srv, struct conn *c, int32_t xid, int32_t type)
{
	struct pending *p = srv->pfree;
	if (p) {
		srv->pfree = p->next;
	} else {
		p = xcalloc(1, sizeof(*p));
	}
	p->next = NULL;
	p->conn = c;
	p->xid = xid;
	p->type = type;
	p->err = 0;
	p->has_txn = false;
	p->start_us = server_now_us();
	p->txn.len = 0;
	p->merr.n = 0;
	p->merr.errs = NULL;
	p->sync_path = NULL;
	p->origin = 0;
	p->wait_round = 0;
	p->zxid = srv->prep.last_zxid;
	if (c) {
		c->pending++;
		c->refs++;
	}
	return p;
}

/* Lets go of the item's connection (it gets no reply). */
static void pending_detach(struct server *srv, struct pending *p)
{
	if (p->conn) {
		p->conn->pending--;
		struct conn *c = p->conn;
		p->conn = NULL;
		/*
		 * A read waits for all earlier writes; a connection at the
		 * outstanding limit may go on once it is half drained.
		 */
		if (c->stalled && (c->pending == 0 ||
				   c->pending == srv->cfg->global_outstanding_limit / 2))
			conn_resume(c);
		conn_unref(c);
	}
}

static void pending_free(struct server *srv, struct pending *p)
{
	free(p->merr.errs);
	free(p->sync_path);
	p->merr.errs = NULL;
	p->sync_path = NULL;
	if (p->txn.cap > 64 * 1024)
		buf_free(&p->txn); /* do not keep big setData buffers around */
	pending_detach(srv, p);
	p->next = srv->pfree;
	srv->pfree = p;
}

struct pending *server_pending_new(struct server *srv, struct conn *c, int32_t xid, int32_t type)
{
	return pending_new(srv, c, xid, type);
}

void server_pending_free(struct server *srv, struct pending *p)
{
	pending_free(srv, p);
}

static void release(struct server *srv);

static void enqueue(struct server *srv, struct pending *p)
{
	if (srv->ptail)
		srv->ptail->next = p;
	else
		srv->phead = p;
	srv->ptail = p;
	srv->npending++;
	/* An error reply behind nothing can go right away. */
	if (srv->phead == p && !p->has_txn)
		release(srv);
}

/* ---- commit: apply durable txns in zxid order and reply ---- */

static void hook_session_created(void *arg, int64_t id, int32_t timeout, const char *pw, int32_t pwlen)
{
	struct server *srv = arg;
	session_add(&srv->sessions, id, timeout, (const uint8_t *)pw, pwlen);
}

static void hook_session_closed(void *arg, int64_t id)
{
	struct server *srv = arg;
	struct session *s = session_find(&srv->sessions, id);
	if (!s)
		return;
	if (s->conn) {
		struct conn *c = s->conn;
		c->session = NULL;
		s->conn = NULL;
		/*
		 * Closed by someone else than its own connection: expired by the
		 * leader while the client is connected here (a follower).
		 */
		if (!s->closing)
			conn_close_after_flush(c);
	}
	session_remove(&srv->sessions, id);
}

const struct txn_hooks *server_txn_hooks(struct server *srv)
{
	static struct txn_hooks h;
	h.session_created = hook_session_created;
	h.session_closed = hook_session_closed;
	h.arg = srv;
	return &h;
}

static void release(struct server *srv)
{
	struct pending *p;
	int64_t limit = srv->durable_zxid;

	if (srv->cl && srv->commit_zxid < limit)
		limit = srv->commit_zxid;
	while ((p = srv->phead) != NULL && p->zxid <= limit) {
		struct txn_result res;
		bool applied = false;

		srv->phead = p->next;
		if (!srv->phead)
			srv->ptail = NULL;
		srv->npending--;
		if (p->has_txn) {
			int rc = txn_apply(&srv->dt, server_txn_hooks(srv), p->txn.data, p->txn.len, &res,
					   &srv->arena);
			COORD_ASSERT(rc == 0); /* we encoded it ourselves */
			prep_committed(&srv->prep, p->zxid);
			srv->stats.txns++;
			srv->txns_since_snap++;
			applied = true;
		}
		if (p->conn && p->conn->state != CONN_CLOSING)
			conn_reply_txn(p->conn, p, applied ? &res : NULL);
		arena_reset(&srv->arena);
		pending_free(srv, p);
	}
	if (srv->cl) {
		history_trim(&srv->cl->hist, srv->dt.last_zxid);
		if (!srv->cl->serving)
			return; /* snapshot only states a quorum has committed and served */
	}
	storage_maybe_snapshot(srv);
}

bool server_serving(const struct server *srv)
{
	return !srv->cl || srv->cl->serving;
}

void server_commit(struct server *srv, int64_t zxid)
{
	if (zxid > srv->commit_zxid)
		srv->commit_zxid = zxid;
	release(srv);
}

/*
 * The log's group-commit callback.  status < 0 means the batch after
 * `durable` could not be persisted: everything still pending beyond it
 * fails, and prep forgets its speculative state (invariant 3).
 */
static void on_durable(void *arg, uint64_t durable, int status)
{
	struct server *srv = arg;

	srv->stats.fsyncs++;
	if ((int64_t)durable > srv->durable_zxid)
		srv->durable_zxid = (int64_t)durable;
	if (srv->cl) {
		if (status == 0) {
			cluster_on_durable(srv->cl, srv->durable_zxid);
			release(srv);
			return;
		}
		srv->stats.log_errors++;
		log_err(status, "txnlog", "could not persist transactions after 0x%llx",
			(unsigned long long)srv->durable_zxid);
		if (txnlog_is_broken(srv->log) && txnlog_reset_broken(srv->log) < 0) {
			/* like a crash: the quorum has the data, restart recovers */
			log_error("txnlog", "the log cannot be repaired; exiting");
			exit(1);
		}
		cluster_log_failed(srv->cl);
		return;
	}
	release(srv);
	if (status == 0)
		return;
	srv->stats.log_errors++;
	log_err(status, "txnlog", "could not persist transactions after 0x%llx; failing %zu requests",
		(unsigned long long)srv->durable_zxid, srv->npending);
	/*
	 * If the failed records could not be cut off the disk, a restart would
	 * replay them: their outcome is unknown, so the clients must not hear
	 * ZSYSTEMERROR (which says "not done"); close them instead, as a
	 * crashed server would.
	 */
	bool unknown = txnlog_is_broken(srv->log) && txnlog_reset_broken(srv->log) < 0;
	struct pending *p;
	while ((p = srv->phead) != NULL) {
		srv->phead = p->next;
		srv->npending--;
		if (unknown && p->conn && p->conn->state != CONN_CLOSING && p->has_txn) {
			conn_close(p->conn, "transaction log broken: outcome unknown");
			pending_free(srv, p);
			continue;
		}
		if (p->type == ZOP_CLOSESESSION && !p->conn) {
			/* an expiry that did not happen: let the tracker try again */
			struct session *s = session_find(&srv->sessions, txn_client_id(&p->txn));
			if (s)
				s->closing = false;
		}
		if (p->conn && p->conn->state != CONN_CLOSING) {
			p->err = ZSYSTEMERROR;
			p->has_txn = false;
			p->merr.n = 0;
			conn_reply_txn(p->conn, p, NULL);
		}
		pending_free(srv, p);
	}
	srv->ptail = NULL;
	prep_abort_all(&srv->prep, srv->durable_zxid);
}

/* ---- submission ---- */

static int append(struct server *srv, struct pending *p)
{
	int rc = txnlog_append(srv->log, (uint64_t)p->zxid, p->txn.data, p->txn.len);
	if (rc == -EIO && txnlog_is_broken(srv->log) && !srv->npending &&
	    txnlog_reset_broken(srv->log) == 0) {
		/* the disk takes writes again: the failed records are cut off */
		log_info("txnlog", "log repaired; accepting writes again");
		rc = txnlog_append(srv->log, (uint64_t)p->zxid, p->txn.data, p->txn.len);
	}
	if (rc < 0) {
		if (!srv->log_broken)
			log_err(rc, "txnlog", "append zxid 0x%llx", (unsigned long long)p->zxid);
		srv->log_broken = true;
		return rc;
	}
	srv->log_broken = false;
	if (srv->cl)
		cluster_on_append(srv->cl, p->zxid, p->txn.data, p->txn.len, p->origin);
	return 0;
}

/* A follower sends its clients' writes to the leader. */
static bool forwarding(const struct server *srv)
{
	return srv->cl && srv->cl->role == ROLE_FOLLOWING;
}

static struct prep_ctx ctx_for(struct server *srv, struct conn *c, int64_t sid, int32_t xid)
{
	struct prep_ctx ctx = { sid, xid, server_now_ms(), c ? &c->auth : NULL, &srv->arena };
	return ctx;
}

int server_submit_write(struct server *srv, struct conn *c, int32_t xid, int32_t type,
			struct jute_in *in)
{
	struct pending *p = pending_new(srv, c, xid, type);
	struct change *mark = prep_mark(&srv->prep);
	int64_t before = srv->prep.last_zxid;

	if (forwarding(srv)) {
		cluster_forward(srv->cl, p, c->sid, type, in->p + in->off, in->len - in->off, c);
		return 0;
	}
	if (!c->session || c->session->closing) {
		p->err = ZSESSIONEXPIRED;
	} else {
		struct prep_ctx ctx = ctx_for(srv, c, c->sid, xid);
		struct multi_err merr = { 0, NULL };
		int rc = prep_request(&srv->prep, &ctx, type, in, &p->txn, &merr);
		if (rc == ZOK) {
			p->zxid = srv->prep.last_zxid;
			p->has_txn = true;
			if (append(srv, p) < 0) {
				prep_rollback(&srv->prep, mark, before);
				p->has_txn = false;
				p->err = ZSYSTEMERROR;
				p->zxid = before;
			}
		} else {
			p->err = rc;
			if (merr.n) {
				p->merr.n = merr.n;
				p->merr.errs = xmemdup(merr.errs, (size_t)merr.n * sizeof(int32_t));
			}
		}
	}
	arena_reset(&srv->arena);
	enqueue(srv, p);
	return 0;
}

int server_submit_session(struct server *srv, struct conn *c, int32_t timeout)
{
	uint8_t pw[SESSION_PASSWD_LEN];
	if (getrandom(pw, sizeof(pw), 0) != (ssize_t)sizeof(pw))
		return -EIO;
	int64_t sid = session_next_id(&srv->sessions);
	struct pending *p = pending_new(srv, c, 0, ZOP_CREATESESSION);
	struct prep_ctx ctx = ctx_for(srv, NULL, sid, 0);
	int64_t before = srv->prep.last_zxid;

	c->sid = sid;
	c->timeout = timeout;
	if (forwarding(srv)) {
		struct buf body = BUF_INIT;
		jute_put_int(&body, timeout);
		jute_put_buffer(&body, pw, sizeof(pw));
		cluster_forward(srv->cl, p, sid, ZOP_CREATESESSION, body.data, body.len, c);
		buf_free(&body);
		return 0;
	}
	prep_create_session(&srv->prep, &ctx, timeout, pw, sizeof(pw), &p->txn);
	p->zxid = srv->prep.last_zxid;
	p->has_txn = true;
	if (append(srv, p) < 0) {
		srv->prep.last_zxid = before;
		p->has_txn = false;
		p->err = ZSYSTEMERROR;
		p->zxid = before;
	}
	enqueue(srv, p);
	return 0;
}

static void submit_close(struct server *srv, struct conn *c, int64_t sid, int32_t xid, int origin)
{
	struct pending *p = pending_new(srv, c, xid, ZOP_CLOSESESSION);
	p->origin = origin;
	struct prep_ctx ctx = ctx_for(srv, NULL, sid, xid);
	struct change *mark = prep_mark(&srv->prep);
	int64_t before = srv->prep.last_zxid;

	prep_close_session(&srv->prep, &ctx, &p->txn);
	p->zxid = srv->prep.last_zxid;
	p->has_txn = true;
	if (append(srv, p) < 0) {
		prep_rollback(&srv->prep, mark, before);
		p->has_txn = false;
		p->err = ZSYSTEMERROR;
		p->zxid = before;
		struct session *s = session_find(&srv->sessions, sid);
		if (s)
			s->closing = false;
	}
	arena_reset(&srv->arena);
	enqueue(srv, p);
}

void server_submit_close(struct server *srv, struct conn *c, int32_t xid)
{
	if (forwarding(srv)) {
		if (c->session)
			c->session->closing = true; /* its end is ours, not an expiry */
		struct pending *p = pending_new(srv, c, xid, ZOP_CLOSESESSION);
		cluster_forward(srv->cl, p, c->sid, ZOP_CLOSESESSION, NULL, 0, c);
		return;
	}
	if (!c->session || c->session->closing) {
		struct pending *p = pending_new(srv, c, xid, ZOP_CLOSESESSION);
		enqueue(srv, p); /* already going: just answer in order */
		return;
	}
	c->session->closing = true;
	submit_close(srv, c, c->sid, xid, 0);
}

void server_submit_sync(struct server *srv, struct conn *c, int32_t xid, const char *path,
			int32_t err)
{
	struct pending *p = pending_new(srv, c, xid, ZOP_SYNC);
	p->err = err;
	p->sync_path = path ? xstrdup(path) : NULL;
	if (forwarding(srv)) {
		/* the leader answers once it has sent us all it proposed before */
		struct buf body = BUF_INIT;
		if (err == ZOK)
			jute_put_string(&body, path);
		cluster_forward(srv->cl, p, c->sid, ZOP_SYNC, body.data, body.len, c);
		buf_free(&body);
		return;
	}
	if (srv->cl && err == ZOK) {
		/*
		 * Not queued until the leader has proved it still leads (cluster.h);
		 * the connection reads nothing more meanwhile, so its replies stay
		 * in order.  Other clients' txns go on being applied.
		 */
		p->wait_round = leader_sync_need(srv->cl);
		c->sync_waiting = true;
		p->next = srv->sync_waiters;
		srv->sync_waiters = p;
		return;
	}
	enqueue(srv, p);
}

void server_syncs_confirmed(struct server *srv, int64_t round)
{
	struct pending **pp = &srv->sync_waiters, *p;
	while ((p = *pp) != NULL) {
		if (p->wait_round > round) {
			pp = &p->next;
			continue;
		}
		*pp = p->next;
		p->next = NULL;
		p->zxid = srv->prep.last_zxid;
		if (p->conn) {
			p->conn->sync_waiting = false;
			conn_resume(p->conn);
		}
		enqueue(srv, p);
	}
}

int server_remote_request(struct server *srv, int origin, int64_t sid, int32_t cxid,
			  int32_t type, const struct auth_info *auth, struct jute_in *in,
			  struct multi_err *merr)
{
	struct session *s = session_find(&srv->sessions, sid);
	struct prep_ctx ctx = { sid, cxid, server_now_ms(), auth, &srv->arena };
	struct pending *p;
	int64_t before = srv->prep.last_zxid;

	merr->n = 0;
	merr->errs = NULL;
	switch (type) {
	case ZOP_SYNC:
		return ZOK;
	case ZOP_CREATESESSION: {
		int32_t timeout = jute_get_int(in);
		int32_t pwlen;
		const char *pw = jute_get_buffer(in, &pwlen);
		if (in->err || pwlen != SESSION_PASSWD_LEN)
			return ZMARSHALLINGERROR;
		if (s)
			return ZSESSIONEXPIRED; /* ids are unique: a replay, not ours to redo */
		p = pending_new(srv, NULL, cxid, ZOP_CREATESESSION);
		p->origin = origin;
		prep_create_session(&srv->prep, &ctx, timeout, (const uint8_t *)pw, pwlen, &p->txn);
		p->zxid = srv->prep.last_zxid;
		p->has_txn = true;
		if (append(srv, p) < 0) {
			srv->prep.last_zxid = before;
			pending_free(srv, p);
			return ZSYSTEMERROR;
		}
		enqueue(srv, p);
		return 1;
	}
	case ZOP_CLOSESESSION:
		if (!s || s->closing)
			return ZOK; /* already gone or going: answer in order */
		session_touch(&srv->sessions, s);
		s->closing = true;
		submit_close(srv, NULL, sid, cxid, origin);
		return srv->ptail && srv->ptail->has_txn ? 1 : ZSYSTEMERROR;
	default:
		break;
	}
	if (!s || s->closing)
		return ZSESSIONEXPIRED;
	session_touch(&srv->sessions, s);
	struct change *mark = prep_mark(&srv->prep);
	p = pending_new(srv, NULL, cxid, type);
	p->origin = origin;
	int rc = prep_request(&srv->prep, &ctx, type, in, &p->txn, merr);
	if (rc == ZOK) {
		p->zxid = srv->prep.last_zxid;
		p->has_txn = true;
		if (append(srv, p) < 0) {
			prep_rollback(&srv->prep, mark, before);
			rc = ZSYSTEMERROR;
		}
	}
	arena_reset(&srv->arena);
	if (rc != ZOK) {
		pending_free(srv, p);
		return rc;
	}
	enqueue(srv, p);
	return 1;
}

int server_follower_txn(struct server *srv, struct pending *p, int64_t zxid, const void *txn,
			size_t len)
{
	if (!p)
		p = pending_new(srv, NULL, 0, 0);
	p->zxid = zxid;
	p->has_txn = true;
	p->txn.len = 0;
	buf_append(&p->txn, txn, len);
	if (append(srv, p) < 0) {
		pending_free(srv, p);
		return -EIO;
	}
	enqueue(srv, p);
	return 0;
}

void server_follower_result(struct server *srv, struct pending *p, int64_t after)
{
	int64_t tail = srv->ptail ? srv->ptail->zxid : srv->dt.last_zxid;
	p->zxid = after > tail ? after : tail;
	enqueue(srv, p);
}

static void clear_closing(void *arg, struct session *s)
{
	(void)arg;
	s->closing = false;
}

void server_unserve(struct server *srv, int64_t keep_upto)
{
	while (srv->conns)
		conn_close(srv->conns, "this server left the quorum");
	struct pending *keep = NULL, **kt = &keep, *p;
	srv->ptail = NULL;
	while ((p = srv->phead) != NULL) {
		srv->phead = p->next;
		if (p->has_txn && (keep_upto < 0 || p->zxid <= keep_upto)) {
			pending_detach(srv, p);
			p->next = NULL;
			*kt = p;
			kt = &p->next;
			srv->ptail = p;
		} else {
			srv->npending--;
			pending_free(srv, p);
		}
	}
	srv->phead = keep;
	while ((p = srv->sync_waiters) != NULL) {
		srv->sync_waiters = p->next;
		pending_free(srv, p);
	}
	prep_abort_all(&srv->prep, srv->prep.last_zxid);
	sessions_stop_expiry(&srv->sessions);
	/* closes in flight may not happen: the next leader decides */
	sessions_foreach(&srv->sessions, clear_closing, NULL);
}

int server_replayed_txn(struct server *srv, int64_t zxid, const void *txn, size_t len)
{
	struct pending *p = pending_new(srv, NULL, 0, 0);
	p->zxid = zxid;
	p->has_txn = true;
	buf_append(&p->txn, txn, len);
	history_push(&srv->cl->hist, zxid, txn, len);
	enqueue(srv, p);
	return 0;
}

static void expire_session(struct sessions *t, struct session *s)
{
	struct server *srv = t->data;
	log_info("session", "expiring session 0x%llx, timeout of %dms exceeded",
		 (unsigned long long)s->id, s->timeout);
	s->closing = true;
	if (s->conn) {
		struct conn *c = s->conn;
		s->conn = NULL;
		c->session = NULL;
		conn_close(c, "session expired");
	}
	submit_close(srv, NULL, s->id, 0, 0);
}

/* ---- container and TTL reaper (ContainerManager) ---- */

static void reap(struct server *srv, const char *path)
{
	struct buf req = BUF_INIT;
	struct jute_in in;
	struct pending *p = pending_new(srv, NULL, 0, ZOP_DELETECONTAINER);
	struct prep_ctx ctx = ctx_for(srv, NULL, 0, 0);
	struct multi_err merr = { 0, NULL };
	struct change *mark = prep_mark(&srv->prep);
	int64_t before = srv->prep.last_zxid;

	jute_put_string(&req, path);
	jute_in_init(&in, req.data, req.len, &srv->arena);
	if (prep_request(&srv->prep, &ctx, ZOP_DELETECONTAINER, &in, &p->txn, &merr) == ZOK) {
		p->zxid = srv->prep.last_zxid;
		p->has_txn = true;
		if (append(srv, p) < 0) {
			prep_rollback(&srv->prep, mark, before);
			p->has_txn = false;
			p->zxid = before;
		}
	}
	buf_free(&req);
	arena_reset(&srv->arena);
	enqueue(srv, p);
}

static void reaper_cb(uv_timer_t *h)
{
	struct server *srv = container_of(h, struct server, reaper);
	int64_t now = server_now_ms();

	if (srv->cl && !(srv->cl->role == ROLE_LEADING && srv->cl->serving))
		return; /* the leader reaps, through txns */
	int64_t budget = (int64_t)srv->cfg->container_max_per_minute * srv->cfg->container_check_ms / 60000;
	char **paths = NULL;
	size_t n = 0, cap = 0;

	if (budget < 1)
		budget = 1;
	/* Collect first: reaping mutates the lists only at commit, but be safe. */
	for (struct znode *z = srv->dt.containers; z && (int64_t)n < budget; z = z->lnext) {
		if (z->nkids == 0 && z->st.cversion > 0) {
			if (n == cap)
				paths = xrealloc(paths, (cap = cap ? cap * 2 : 16) * sizeof(*paths));
			paths[n++] = xstrdup(z->path);
		}
	}
	for (struct znode *z = srv->dt.ttls; z && (int64_t)n < budget; z = z->lnext) {
		int64_t ttl = ttl_of(z->st.ephemeral_owner);
		if (z->nkids == 0 && ttl && now - z->st.mtime > ttl) {
			if (n == cap)
				paths = xrealloc(paths, (cap = cap ? cap * 2 : 16) * sizeof(*paths));
			paths[n++] = xstrdup(z->path);
		}
	}
	for (size_t i = 0; i < n; i++) {
		reap(srv, paths[i]);
		free(paths[i]);
	}
	free(paths);
}

/* ---- the loop's batching point ---- */

static void prepare_cb(uv_prepare_t *h)
{
	struct server *srv = container_of(h, struct server, prepare);
	conn_process_ready(srv);
	if (srv->cl && srv->cl->round_wanted)
		leader_start_round(srv->cl);
	txnlog_flush(srv->log);
	stream_flush_all();
}

static void listen_cb(uv_stream_t *l, int status)
{
	struct server *srv = container_of((uv_tcp_t *)l, struct server, listener);
	if (status < 0) {
		log_err(status, "server", "accept");
		return;
	}
	conn_accept(srv);
}

int server_init(struct server *srv, uv_loop_t *loop, struct config *cfg)
{
	int rc;

	memset(srv, 0, sizeof(*srv));
	srv->loop = loop;
	srv->cfg = cfg;
	srv->stats.started = server_now_ms();
	srv->stats.lat_min = INT64_MAX;
	acl_skip = cfg->skip_acl;
	watch_init(&srv->watches);
	datatree_init(&srv->dt, &srv->watches);
	sessions_init(&srv->sessions, loop, cfg->tick_time, cfg->myid);
	srv->sessions.data = srv;
	srv->sessions.expire = expire_session;
	if (cfg->nservers >= 2) {
		srv->cl = xcalloc(1, sizeof(*srv->cl));
		if ((rc = cluster_init(srv->cl, srv)) < 0)
			return rc;
	}
	if ((rc = storage_recover(srv)) < 0)
		return rc;
	prep_init(&srv->prep, &srv->dt);
	srv->prep.extended_types = cfg->extended_types;
	srv->durable_zxid = srv->dt.last_zxid;
	if ((int64_t)txnlog_last_zxid(srv->log) > srv->durable_zxid)
		srv->durable_zxid = (int64_t)txnlog_last_zxid(srv->log);
	srv->commit_zxid = srv->dt.last_zxid;
	txnlog_set_durable_cb(srv->log, on_durable, srv);
	uv_prepare_init(loop, &srv->prepare);
	uv_prepare_start(&srv->prepare, prepare_cb);
	uv_timer_init(loop, &srv->reaper);
	uv_timer_start(&srv->reaper, reaper_cb, (uint64_t)cfg->container_check_ms,
		       (uint64_t)cfg->container_check_ms);
	if (!srv->cl)
		sessions_start_expiry(&srv->sessions);
	storage_start_purge(srv);
	if (srv->cl && (rc = cluster_start(srv->cl)) < 0)
		return rc;
	return 0;
}

int server_listen(struct server *srv)
{
	struct sockaddr_storage addr;
	int rc;

	if (uv_ip4_addr(srv->cfg->client_addr, srv->cfg->client_port, (struct sockaddr_in *)&addr) &&
	    uv_ip6_addr(srv->cfg->client_addr, srv->cfg->client_port, (struct sockaddr_in6 *)&addr)) {
		log_error("server", "clientPortAddress '%s' is not an IP address", srv->cfg->client_addr);
		return -EINVAL;
	}
	uv_tcp_init(srv->loop, &srv->listener);
	if ((rc = uv_tcp_bind(&srv->listener, (struct sockaddr *)&addr, 0)) ||
	    (rc = uv_listen((uv_stream_t *)&srv->listener, 511, listen_cb))) {
		log_err(rc, "server", "listen on %s:%d", srv->cfg->client_addr, srv->cfg->client_port);
		return rc;
	}
	log_info("server", "serving ZooKeeper clients on %s:%d, zxid 0x%llx",
		 srv->cfg->client_addr, srv->cfg->client_port, (unsigned long long)srv->dt.last_zxid);
	return 0;
}

void server_stop(struct server *srv)
{
	srv->stopping = true;
	if (srv->cl)
		cluster_stop(srv->cl);
	uv_close((uv_handle_t *)&srv->listener, NULL);
	while (srv->conns)
		conn_close(srv->conns, "shutdown");
}
