/*
 * zkclient.c - the asynchronous ZooKeeper client (zkclient.h): one session
 * kept across connections to a list of servers, on libuv.  It follows
 * ZooKeeper's own client: ClientCnxn (handshake, pings, xid matching,
 * primeConnection), StaticHostProvider (server list) and ZKWatchManager
 * (client-side watch bookkeeping).  Wire records are in zkclient_proto.c.
 *
 * Client states (enum zkc_state, reported through on_state):
 *
 *                 ConnectResponse              connection lost
 *   CONNECTING ------------------> CONNECTED -----------------> SUSPENDED
 *                                      ^        ConnectResponse     |
 *                                      +----------------------------+
 *   SUSPENDED --ConnectResponse with timeout 0--> EXPIRED       (final)
 *   any live state --auth reply ZAUTHFAILED--> AUTH_FAILED      (final)
 *   any --zkc_close--> [closeSession in flight] --> CLOSED, freed
 *
 *   CONNECTING/SUSPENDED -> CONNECTED  [on_connect_response]
 *   CONNECTED -> SUSPENDED             [conn_lost]
 *   * -> EXPIRED, AUTH_FAILED          [go_final_state]
 *   * -> CLOSED                        [finish_close]
 *
 * One connection attempt (struct zkc_conn, enum conn_phase):
 *   (getaddrinfo for names) -> TCP -> HANDSHAKE -> ACTIVE -> DEAD
 * An attempt that fails before ACTIVE moves on to the next address or
 * server; after a whole round of the list without success the client backs
 * off (50 ms doubling to 1 s, jittered).  Losing an ACTIVE connection tries
 * the next server at once, as ClientCnxn does.
 *
 * Liveness (ClientCnxn): with negotiated timeout T, a ping goes out after T/3
 * without sending, and a connection that received nothing for 2T/3 is
 * dropped.  Requests queued while disconnected fail with ZOPERATIONTIMEOUT
 * after T.  The client never decides on its own that the session expired:
 * only the server says so, when the client reconnects.
 *
 * Invariants:
 * (1) A request accepted by a zkc_* call gets exactly one callback.  It is
 *     on exactly one list: queue (not sent), inflight (sent, reply pending),
 *     authq (auth packet sent) or deferred (result known, callback pending).
 *     Lists are detached before their callbacks run, so a callback that
 *     closes the client cannot complete a request twice.
 * (2) Requests go out in the order they were made, with increasing xids.
 *     The server answers a session in order, so every numbered reply must
 *     match the head of inflight; anything else is a protocol error that
 *     drops the connection (ClientCnxn: "Xid out of order").
 * (3) queue is non-empty only while no connection is ACTIVE.  When one
 *     becomes ACTIVE the re-sent auth packets, then setWatches2, then the
 *     queue go out before on_state(CONNECTED) runs, so a request made in
 *     that callback cannot overtake an older one (ClientCnxn.primeConnection).
 * (4) No user callback runs inside a zkc_* call.  Results known at once go
 *     to deferred and are delivered from the idle handle (or, once closing,
 *     from the last close callback), so callers need not be reentrant.
 * (5) The client's memory is released only when every handle, connection
 *     and getaddrinfo request is done (nopen == 0); until then zk stays
 *     valid, even when a callback calls zkc_close() mid-loop.
 * (6) A watch is recorded only when the server confirmed it (the reply to
 *     exists/getData/getChildren/addWatch); a one-shot one is forgotten when
 *     its event arrives, all are forgotten when the session ends.  After a
 *     reconnect they are re-registered with setWatches2 carrying last_zxid,
 *     so the server fires those whose node changed in between.
 * (7) last_zxid only grows and comes from replies to numbered requests (not
 *     pings or events), as in ClientCnxn; a server behind it refuses us.
 */
#include "config.h"

#include <assert.h>
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "stream.h"
#include "xalloc.h"
#include "zkclient.h"
#include "zkclient_proto.h"

#define TAG "zkclient"
/* Replies above this are a protocol error (a getChildren of ~1M names fits). */
#define MAX_FRAME (64u << 20)
/* ClientCnxn.SET_WATCHES_MAX_LENGTH: path bytes per setWatches2 packet. */
#define SETWATCHES_MAX (128 * 1024)
#define FREE_REQS_MAX 256          /* recycled request structs kept */
#define REQ_BUF_KEEP (16 * 1024)   /* larger frame buffers are not kept */
#define MAX_ADDRS 8                /* addresses kept per resolved name */
#define DEFAULT_TIMEOUT 10000
#define BACKOFF_MIN 50
#define BACKOFF_MAX 1000

enum conn_phase { CP_TCP, CP_HANDSHAKE, CP_ACTIVE, CP_DEAD };

struct zkc_conn {
	struct stream s;
	struct zkclient *zk;
	enum conn_phase phase;
};

struct server_addr {
	char *name;                  /* "host:port" as configured */
	char *host;
	char port[8];
	bool literal;                /* an IP literal: never resolved */
	int naddrs;                  /* 0: resolve before the next attempt */
	struct sockaddr_storage addrs[MAX_ADDRS];
};

struct zkc_req {
	struct zkc_req *next;
	int32_t xid;
	int32_t op;
	int32_t nops;                /* multi: ops sent; addWatch: the mode */
	int32_t rc;                  /* deferred: the result */
	uint32_t path_off;           /* watch to record: the path's offset in frame; 0 = none */
	bool internal;               /* ours (re-sent auth, closeSession): no callback */
	uint64_t deadline;           /* queued: ZOPERATIONTIMEOUT after this */
	zkc_cb cb;
	void *arg;
	struct buf frame;            /* the whole request, length prefix included */
};

struct reqlist {
	struct zkc_req *head, *tail;
};

/* An auth the server accepted once, re-sent on every new connection. */
struct auth_info {
	struct auth_info *next;
	struct buf frame;
};

/* Watch kinds, in the order of SetWatches2's five lists. */
enum { W_DATA = 1, W_EXIST = 2, W_CHILD = 4, W_PERSIST = 8, W_RECURSIVE = 16, W_KINDS = 5 };

struct wentry {
	struct wentry *next;
	uint32_t hash;
	uint32_t len;
	uint8_t mask;
	char path[];
};

struct wtable {
	struct wentry **b;
	size_t nb, n;
};

struct zkclient {
	uv_loop_t *loop;
	zkc_state_cb on_state;
	zkc_watch_cb on_watch;
	void *arg;
	bool read_only;
	enum zkc_state state;
	bool closing;                /* zkc_close() was called */
	bool dying;                  /* handles are closing; nothing new starts */
	void (*done)(void *arg);
	void *done_arg;
	int nopen;                   /* handles + connections + getaddrinfo */

	struct server_addr *servers;
	int nservers;
	int cur, cur_addr;           /* the server (and address) tried now or next */
	int round_start;             /* where the current round of attempts began */
	int rounds;                  /* failed rounds since the last success */
	bool resolving;
	uv_getaddrinfo_t gai;
	struct zkc_conn *conn;       /* the current attempt or connection */
	bool retry_pending;
	uint64_t retry_at;
	uint64_t attempt_deadline;
	uint64_t close_deadline;
	uint64_t last_send, last_recv;
	uint32_t rnd;

	int64_t sid;
	uint8_t passwd[ZKC_PASSWD_LEN];
	int32_t req_timeout;         /* asked for in every ConnectRequest */
	int32_t timeout;             /* negotiated (the requested one until then) */
	int64_t last_zxid;
	int32_t next_xid;

	struct reqlist queue, inflight, authq, deferred;
	struct zkc_req *free_reqs;
	int nfree;
	struct auth_info *auths, **auth_tail;
	struct wtable watches;
	struct arena arena;
	struct buf scratch;

	uv_timer_t timer;
	uv_prepare_t prepare;
	uv_idle_t idle;
};

static void conn_lost(struct zkc_conn *c, int status);
static void finish_close(struct zkclient *zk);
static void arm_timer(struct zkclient *zk);
static void start_attempt(struct zkclient *zk);

static uint64_t now_ms(const struct zkclient *zk)
{
	return uv_now(zk->loop);
}

static uint32_t next_rand(struct zkclient *zk)
{
	/* xorshift32: jitter and the start server only, nothing secret */
	uint32_t x = zk->rnd;
	x ^= x << 13;
	x ^= x >> 17;
	x ^= x << 5;
	return zk->rnd = x;
}

static bool is_final_state(enum zkc_state st)
{
	return st == ZKC_EXPIRED || st == ZKC_AUTH_FAILED || st == ZKC_CLOSED;
}

static const char *server_name(const struct zkclient *zk)
{
	return zk->servers[zk->cur].name;
}

/* ---- request lists and recycling ---- */

static void rl_push(struct reqlist *l, struct zkc_req *r)
{
	r->next = NULL;
	if (l->tail)
		l->tail->next = r;
	else
		l->head = r;
	l->tail = r;
}

static struct zkc_req *rl_pop(struct reqlist *l)
{
	struct zkc_req *r = l->head;
	if (r) {
		l->head = r->next;
		if (!l->head)
			l->tail = NULL;
		r->next = NULL;
	}
	return r;
}

/* Moves all of src to the end of dst. */
static void rl_move(struct reqlist *dst, struct reqlist *src)
{
	if (!src->head)
		return;
	if (dst->tail)
		dst->tail->next = src->head;
	else
		dst->head = src->head;
	dst->tail = src->tail;
	src->head = src->tail = NULL;
}

/* A request with its frame header written; the struct and buffer are reused. */
static struct zkc_req *req_get(struct zkclient *zk, int32_t op, int32_t xid, zkc_cb cb, void *arg)
{
	struct zkc_req *r = zk->free_reqs;
	if (r) {
		zk->free_reqs = r->next;
		zk->nfree--;
	} else {
		r = xcalloc(1, sizeof(*r));
	}
	struct buf keep = r->frame;
	memset(r, 0, sizeof(*r));
	r->frame = keep;
	buf_reset(&r->frame);
	r->op = op;
	r->cb = cb;
	r->arg = arg;
	zkc_proto_begin(&r->frame, xid, op);
	return r;
}

static void req_put(struct zkclient *zk, struct zkc_req *r)
{
	if (zk->nfree >= FREE_REQS_MAX) {
		buf_free(&r->frame);
		free(r);
		return;
	}
	if (r->frame.cap > REQ_BUF_KEEP)
		buf_free(&r->frame);
	r->next = zk->free_reqs;
	zk->free_reqs = r;
	zk->nfree++;
}

/* ---- the interface for the request functions (zkclient_proto.h) ---- */

struct zkc_req *zkc_req_start(struct zkclient *zk, int32_t op, int32_t xid, zkc_cb cb, void *arg)
{
	return zk->closing ? NULL : req_get(zk, op, xid, cb, arg);
}

struct buf *zkc_req_frame(struct zkc_req *r)
{
	return &r->frame;
}

void zkc_req_path(struct zkc_req *r, const char *path, bool watch)
{
	if (watch)
		r->path_off = (uint32_t)r->frame.len;
	jute_put_string(&r->frame, path);
}

void zkc_req_set_aux(struct zkc_req *r, int32_t aux)
{
	r->nops = aux;
}

static void complete(struct zkclient *zk, struct zkc_req *r, const struct zkc_result *res)
{
	if (r->cb && !r->internal)
		r->cb(zk, res, r->arg);
	req_put(zk, r);
}

static void complete_rc(struct zkclient *zk, struct zkc_req *r, int rc)
{
	struct zkc_result res;
	memset(&res, 0, sizeof(res));
	res.rc = rc;
	res.datalen = -1;
	complete(zk, r, &res);
}

/* l must be detached from zk (invariant 1): callbacks may touch zk's lists. */
static void complete_list(struct zkclient *zk, struct reqlist *l, int rc)
{
	struct zkc_req *r;
	while ((r = rl_pop(l)))
		complete_rc(zk, r, rc);
}

static void on_idle(uv_idle_t *h)
{
	struct zkclient *zk = h->data;
	uv_idle_stop(h);
	struct reqlist l = zk->deferred;
	zk->deferred.head = zk->deferred.tail = NULL;
	struct zkc_req *r;
	while ((r = rl_pop(&l)))
		complete_rc(zk, r, r->rc);
}

/* Completes r with rc from the loop, never from the caller's stack (invariant 4). */
static void defer(struct zkclient *zk, struct zkc_req *r, int rc)
{
	if (r->internal) {
		req_put(zk, r);
		return;
	}
	r->rc = rc;
	rl_push(&zk->deferred, r);
	if (!zk->dying)
		uv_idle_start(&zk->idle, on_idle);
}

static void set_state(struct zkclient *zk, enum zkc_state st)
{
	if (zk->state == st)
		return;
	zk->state = st;
	if (zk->on_state && !zk->closing)
		zk->on_state(zk, st, zk->arg);
}

/* ---- the watch registry (ZKWatchManager) ---- */

static uint32_t hash_path(const char *s, size_t n)
{
	uint32_t h = 2166136261u;
	for (size_t i = 0; i < n; i++)
		h = (h ^ (uint8_t)s[i]) * 16777619u;
	return h;
}

static struct wentry **wfind(struct wtable *t, const char *path, uint32_t len, uint32_t h)
{
	struct wentry **pp = &t->b[h & (t->nb - 1)];
	while (*pp && !((*pp)->hash == h && (*pp)->len == len && !memcmp((*pp)->path, path, len)))
		pp = &(*pp)->next;
	return pp;
}

static void wtable_add(struct wtable *t, const char *path, uint32_t len, uint8_t kind)
{
	uint32_t h = hash_path(path, len);
	if (!t->nb) {
		t->nb = 64;
		t->b = xcalloc(t->nb, sizeof(*t->b));
	}
	struct wentry **pp = wfind(t, path, len, h);
	if (*pp) {
		(*pp)->mask |= kind;
		return;
	}
	if (t->n >= t->nb) {
		size_t nb = t->nb * 2;
		struct wentry **b = xcalloc(nb, sizeof(*b));
		for (size_t i = 0; i < t->nb; i++) {
			struct wentry *e = t->b[i], *next;
			for (; e; e = next) {
				next = e->next;
				e->next = b[e->hash & (nb - 1)];
				b[e->hash & (nb - 1)] = e;
			}
		}
		free(t->b);
		t->b = b;
		t->nb = nb;
		pp = wfind(t, path, len, h);
	}
	struct wentry *e = xmalloc(sizeof(*e) + len + 1);
	e->next = NULL;
	e->hash = h;
	e->len = len;
	e->mask = kind;
	memcpy(e->path, path, len);
	e->path[len] = 0;
	*pp = e;
	t->n++;
}

static void wtable_drop(struct wtable *t, const char *path, uint32_t len, uint8_t kinds)
{
	if (!t->n)
		return;
	struct wentry **pp = wfind(t, path, len, hash_path(path, len));
	struct wentry *e = *pp;
	if (!e)
		return;
	e->mask &= (uint8_t)~kinds;
	if (e->mask)
		return;
	*pp = e->next;
	free(e);
	t->n--;
}

static void wtable_clear(struct wtable *t)
{
	for (size_t i = 0; i < t->nb; i++) {
		struct wentry *e = t->b[i], *next;
		for (; e; e = next) {
			next = e->next;
			free(e);
		}
	}
	free(t->b);
	t->b = NULL;
	t->nb = t->n = 0;
}

/* Walks the table once per kind, in SetWatches2 list order. */
struct wit {
	int kind;
	size_t bucket;
	struct wentry *e;
};

static struct wentry *wit_next(const struct wtable *t, struct wit *it)
{
	for (;;) {
		it->e = it->e ? it->e->next : NULL;
		while (!it->e) {
			if (it->bucket >= t->nb) {
				if (++it->kind >= W_KINDS)
					return NULL;
				it->bucket = 0;
			}
			it->e = t->b[it->bucket++];
		}
		if (it->e->mask & (1u << it->kind))
			return it->e;
	}
}

/* What a confirmed request leaves registered (ZKWatchManager.*WatchRegistration). */
static void record_watch(struct zkclient *zk, const struct zkc_req *r, int rc)
{
	uint8_t kind = 0;
	switch (r->op) {
	case ZOP_EXISTS:
		/* exists on a missing node watches for its creation */
		kind = rc == ZOK ? W_DATA : rc == ZNONODE ? W_EXIST : 0;
		break;
	case ZOP_GETDATA:
		kind = rc == ZOK ? W_DATA : 0;
		break;
	case ZOP_GETCHILDREN:
	case ZOP_GETCHILDREN2:
		kind = rc == ZOK ? W_CHILD : 0;
		break;
	case ZOP_ADDWATCH:
		if (rc == ZOK)
			kind = r->nops == ZADDWATCH_PERSISTENT ? W_PERSIST : W_RECURSIVE;
		break;
	}
	if (!kind)
		return;
	const char *p = r->frame.data + r->path_off;
	wtable_add(&zk->watches, p + 4, be32_get(p), kind);
}

/* An event consumes the one-shot watches it fires (ZKWatchManager.materialize). */
static void watch_fired(struct zkclient *zk, int type, const char *path, uint32_t len)
{
	switch (type) {
	case ZEV_CREATED:
	case ZEV_CHANGED:
		wtable_drop(&zk->watches, path, len, W_DATA | W_EXIST);
		break;
	case ZEV_CHILD:
		wtable_drop(&zk->watches, path, len, W_CHILD);
		break;
	case ZEV_DELETED:
		wtable_drop(&zk->watches, path, len, W_DATA | W_EXIST | W_CHILD);
		break;
	default:
		break;
	}
}

/* ---- sending ---- */

static void send_req(struct zkclient *zk, struct zkc_req *r)
{
	struct zkc_conn *c = zk->conn;
	assert(c && c->phase == CP_ACTIVE);
	if (r->op == ZOP_AUTH) {
		/* Auth replies carry xid -4 and may overtake others: their own FIFO. */
		if (!r->internal) {
			struct auth_info *a = xcalloc(1, sizeof(*a));
			buf_append(&a->frame, r->frame.data, r->frame.len);
			*zk->auth_tail = a;
			zk->auth_tail = &a->next;
		}
		rl_push(&zk->authq, r);
	} else {
		if (zk->next_xid == INT32_MAX)
			zk->next_xid = 0;
		r->xid = ++zk->next_xid;
		buf_patch_be32(&r->frame, ZKC_XID_OFF, (uint32_t)r->xid);
		rl_push(&zk->inflight, r);
	}
	stream_write(&c->s, r->frame.data, r->frame.len);
	zk->last_send = now_ms(zk);
}

static void send_ping(struct zkclient *zk)
{
	struct stream *s = &zk->conn->s;
	size_t off = zkc_proto_begin(&s->out, ZXID_PING, ZOP_PING);
	jute_frame_end(&s->out, off);
	stream_mark_dirty(s);
	zk->last_send = now_ms(zk);
}

static void resend_auth(struct zkclient *zk)
{
	for (struct auth_info *a = zk->auths; a; a = a->next) {
		struct zkc_req *r = req_get(zk, ZOP_AUTH, ZXID_AUTH, NULL, NULL);
		r->internal = true;
		buf_reset(&r->frame);
		buf_append(&r->frame, a->frame.data, a->frame.len);
		send_req(zk, r);
	}
}

/*
 * Re-registers every watch, split into packets of at most SETWATCHES_MAX
 * path bytes like ClientCnxn, so a big registry stays under jute.maxbuffer.
 */
static void send_set_watches(struct zkclient *zk)
{
	const struct wtable *t = &zk->watches;
	struct wit it = { 0, 0, NULL };
	struct wentry *e = t->n ? wit_next(t, &it) : NULL;
	struct buf *b = &zk->scratch;

	while (e) {
		size_t bytes = 0;
		buf_reset(b);
		size_t off = zkc_proto_begin(b, ZXID_SETWATCHES, ZOP_SETWATCHES2);
		jute_put_long(b, zk->last_zxid);
		for (int k = 0; k < W_KINDS; k++) {
			size_t count_at = b->len;
			int32_t n = 0;
			jute_put_int(b, 0);
			while (e && it.kind == k && bytes < SETWATCHES_MAX) {
				jute_put_int(b, (int32_t)e->len);
				buf_append(b, e->path, e->len);
				bytes += e->len;
				n++;
				e = wit_next(t, &it);
			}
			buf_patch_be32(b, count_at, (uint32_t)n);
		}
		jute_frame_end(b, off);
		stream_write(&zk->conn->s, b->data, b->len);
	}
	zk->last_send = now_ms(zk);
}

/* Hands r to the connection, or queues it (invariant 3). */
int zkc_req_submit(struct zkclient *zk, struct zkc_req *r)
{
	jute_frame_end(&r->frame, 0);
	if (zk->closing) {
		req_put(zk, r);
		return -ESHUTDOWN;
	}
	if (zk->state == ZKC_EXPIRED || zk->state == ZKC_AUTH_FAILED) {
		defer(zk, r, zk->state == ZKC_EXPIRED ? ZSESSIONEXPIRED : ZAUTHFAILED);
		return 0;
	}
	if (zk->conn && zk->conn->phase == CP_ACTIVE) {
		send_req(zk, r);
		return 0;
	}
	/* Keep deadlines ordered so the head of the queue is always the first due. */
	uint64_t due = now_ms(zk) + (uint64_t)zk->timeout;
	if (zk->queue.tail && zk->queue.tail->deadline > due)
		due = zk->queue.tail->deadline;
	r->deadline = due;
	bool first = !zk->queue.head;
	rl_push(&zk->queue, r);
	if (first)
		arm_timer(zk);
	return 0;
}

/* ---- connecting ---- */

static uint64_t read_timeout(const struct zkclient *zk)
{
	return (uint64_t)zk->timeout * 2 / 3;
}

static uint64_t ping_interval(const struct zkclient *zk)
{
	return (uint64_t)zk->timeout / 3;
}

/* StaticHostProvider/ClientCnxn: sessionTimeout / number of servers. */
static uint64_t attempt_timeout(const struct zkclient *zk)
{
	uint64_t t = (uint64_t)zk->timeout / (uint64_t)zk->nservers;
	uint64_t floor = zk->timeout < 500 ? (uint64_t)zk->timeout : 500;
	return t < floor ? floor : t;
}

static void schedule_retry(struct zkclient *zk, uint64_t delay)
{
	zk->retry_pending = true;
	zk->retry_at = now_ms(zk) + delay;
	arm_timer(zk);
}

static void next_server(struct zkclient *zk)
{
	struct server_addr *sv = &zk->servers[zk->cur];
	if (++zk->cur_addr < sv->naddrs)
		return;
	zk->cur_addr = 0;
	if (!sv->literal)
		sv->naddrs = 0; /* names are resolved afresh each round: servers move */
	zk->cur = (zk->cur + 1) % zk->nservers;
}

static void attempt_failed(struct zkclient *zk)
{
	uint64_t delay = 0;
	next_server(zk);
	if (zk->cur_addr == 0 && zk->cur == zk->round_start) {
		/* A whole round failed: back off, jittered so clients spread out. */
		int shift = zk->rounds < 5 ? zk->rounds : 5;
		uint64_t d = (uint64_t)BACKOFF_MIN << shift;
		if (d > BACKOFF_MAX)
			d = BACKOFF_MAX;
		delay = d / 2 + next_rand(zk) % (d / 2 + 1);
		if (zk->rounds++ == 0)
			log_warn(TAG, "no server of %d reachable, retrying", zk->nservers);
	}
	schedule_retry(zk, delay);
}

static void on_prepare(uv_prepare_t *h)
{
	(void)h;
	/* One write per connection per loop iteration, however many requests. */
	stream_flush_all();
}

static void handle_done(struct zkclient *zk);

static void on_conn_close(struct stream *s)
{
	struct zkc_conn *c = container_of(s, struct zkc_conn, s);
	struct zkclient *zk = c->zk;
	free(c);
	handle_done(zk);
}


/* Drops the connection without any state change (the caller decides). */
static void conn_drop(struct zkclient *zk)
{
	struct zkc_conn *c = zk->conn;
	if (!c)
		return;
	zk->conn = NULL;
	c->phase = CP_DEAD;
	stream_close(&c->s);
}

/*
 * EXPIRED or AUTH_FAILED: the session is unusable for good.  Everything
 * pending fails with rc, watches are forgotten, no reconnect follows.
 */
static void go_final_state(struct zkclient *zk, enum zkc_state st, int rc)
{
	conn_drop(zk);
	if (zk->closing) {
		finish_close(zk);
		return;
	}
	zk->retry_pending = false;
	struct reqlist lost = { NULL, NULL };
	rl_move(&lost, &zk->inflight);
	rl_move(&lost, &zk->authq);
	rl_move(&lost, &zk->queue);
	wtable_clear(&zk->watches);
	arm_timer(zk);
	set_state(zk, st);
	complete_list(zk, &lost, rc);
}

/*
 * The current connection or attempt c ended (EOF, error, timeout, protocol
 * error).  Before ACTIVE this is a failed attempt; an ACTIVE connection
 * suspends the session: in-flight requests get ZCONNECTIONLOSS (they may or
 * may not have been applied) and the next server is tried at once.
 */
static void conn_lost(struct zkc_conn *c, int status)
{
	struct zkclient *zk = c->zk;
	enum conn_phase phase = c->phase;

	if (phase == CP_DEAD || zk->conn != c)
		return;
	conn_drop(zk);
	if (zk->closing) {
		finish_close(zk);
		return;
	}
	if (phase != CP_ACTIVE) {
		log_debug(TAG, "%s: %s", server_name(zk), uv_strerror(status));
		attempt_failed(zk);
		return;
	}
	log_info(TAG, "session 0x%" PRIx64 ": lost %s: %s", (uint64_t)zk->sid, server_name(zk),
		 uv_strerror(status));
	next_server(zk);
	zk->round_start = zk->cur;
	zk->rounds = 0;
	schedule_retry(zk, 0);
	struct reqlist lost = { NULL, NULL };
	rl_move(&lost, &zk->inflight);
	rl_move(&lost, &zk->authq);
	set_state(zk, ZKC_SUSPENDED);
	complete_list(zk, &lost, ZCONNECTIONLOSS);
}

static void on_connect_response(struct zkc_conn *c, const char *p, size_t len)
{
	struct zkclient *zk = c->zk;
	struct jute_in in;
	int32_t pwlen;

	jute_in_init(&in, p, len, &zk->arena);
	jute_get_int(&in); /* protocolVersion */
	int32_t timeout = jute_get_int(&in);
	int64_t sid = jute_get_long(&in);
	const char *pw = jute_get_buffer(&in, &pwlen);
	/* A readOnly flag may follow; we never run in read-only mode. */
	if (in.err || (timeout > 0 && pwlen != ZKC_PASSWD_LEN)) {
		log_warn(TAG, "%s: malformed ConnectResponse", server_name(zk));
		conn_lost(c, UV_EPROTO);
		return;
	}
	if (timeout <= 0 || (zk->sid && sid != zk->sid)) {
		/* ZooKeeper's way of saying the session is gone: timeout 0. */
		log_warn(TAG, "session 0x%" PRIx64 " expired (told by %s)", (uint64_t)zk->sid,
			 server_name(zk));
		go_final_state(zk, ZKC_EXPIRED, ZSESSIONEXPIRED);
		return;
	}
	bool reattach = zk->sid != 0;
	zk->sid = sid;
	memcpy(zk->passwd, pw, ZKC_PASSWD_LEN);
	zk->timeout = timeout;
	c->phase = CP_ACTIVE;
	zk->rounds = 0;
	zk->round_start = zk->cur;
	zk->last_recv = now_ms(zk);
	log_info(TAG, "session 0x%" PRIx64 " %s on %s (timeout %d ms)", (uint64_t)sid,
		 reattach ? "reattached" : "established", server_name(zk), timeout);
	/* Invariant 3: auth, then watches, then what waited, then the callback. */
	resend_auth(zk);
	send_set_watches(zk);
	struct zkc_req *r;
	while ((r = rl_pop(&zk->queue)))
		send_req(zk, r);
	arm_timer(zk);
	set_state(zk, ZKC_CONNECTED);
}

static int handle_event(struct zkclient *zk, struct jute_in *in)
{
	int32_t type = jute_get_int(in);
	jute_get_int(in); /* keeper state: always SyncConnected for node events */
	int32_t len;
	const char *path = jute_get_string(in, &len);
	if (in->err || !path)
		return -EBADMSG;
	watch_fired(zk, type, path, (uint32_t)len);
	if (zk->on_watch && !zk->closing)
		zk->on_watch(zk, type, path, zk->arg);
	return 0;
}

static void handle_auth_reply(struct zkclient *zk, int32_t err)
{
	struct zkc_req *r = rl_pop(&zk->authq);
	if (err == ZAUTHFAILED) {
		/* ClientCnxn: AUTH_FAILED is final; the server closes anyway. */
		log_warn(TAG, "session 0x%" PRIx64 ": authentication failed", (uint64_t)zk->sid);
		if (r) {
			r->next = zk->authq.head;
			zk->authq.head = r;
			if (!zk->authq.tail)
				zk->authq.tail = r;
		}
		go_final_state(zk, ZKC_AUTH_FAILED, ZAUTHFAILED);
		return;
	}
	if (r)
		complete_rc(zk, r, err);
}

static void handle_frame(struct zkc_conn *c, const char *p, size_t len)
{
	struct zkclient *zk = c->zk;
	struct jute_in in;

	jute_in_init(&in, p, len, &zk->arena);
	int32_t xid = jute_get_int(&in);
	int64_t zxid = jute_get_long(&in);
	int32_t err = jute_get_int(&in);
	if (in.err) {
		log_warn(TAG, "%s: short reply header", server_name(zk));
		conn_lost(c, UV_EPROTO);
		return;
	}
	switch (xid) {
	case ZXID_NOTIFICATION:
		if (handle_event(zk, &in)) {
			log_warn(TAG, "%s: malformed watch event", server_name(zk));
			conn_lost(c, UV_EPROTO);
		}
		return;
	case ZXID_PING:
		return;
	case ZXID_AUTH:
		handle_auth_reply(zk, err);
		return;
	case ZXID_SETWATCHES:
		if (err)
			log_warn(TAG, "%s: setWatches2 failed: %s", server_name(zk), zk_strerror(err));
		return;
	default:
		break;
	}
	struct zkc_req *r = zk->inflight.head;
	if (!r || r->xid != xid) {
		log_warn(TAG, "%s: reply xid %d, expected %d", server_name(zk), xid, r ? r->xid : -1);
		conn_lost(c, UV_EPROTO);
		return;
	}
	rl_pop(&zk->inflight);
	if (zxid > zk->last_zxid)
		zk->last_zxid = zxid;

	struct zkc_result res;
	struct zk_stat st;
	memset(&res, 0, sizeof(res));
	res.rc = err;
	res.datalen = -1;
	bool bad = zkc_proto_decode(r->op, r->nops, &in, &res, &st) != 0;
	if (bad) {
		log_warn(TAG, "%s: malformed %s reply", server_name(zk), zk_opname(r->op));
		memset(&res, 0, sizeof(res));
		res.rc = ZMARSHALLINGERROR;
		res.datalen = -1;
	} else if (r->path_off) {
		record_watch(zk, r, res.rc);
	}
	if (r->op == ZOP_CLOSESESSION) {
		req_put(zk, r);
		finish_close(zk);
		return;
	}
	complete(zk, r, &res);
	if (bad)
		conn_lost(c, UV_EPROTO);
}

static void on_read(struct stream *s)
{
	struct zkc_conn *c = container_of(s, struct zkc_conn, s);
	struct zkclient *zk = c->zk;

	zk->last_recv = now_ms(zk);
	while (c->phase == CP_HANDSHAKE || c->phase == CP_ACTIVE) {
		size_t avail = s->in.len - s->in_off;
		if (avail < 4)
			return;
		const char *p = s->in.data + s->in_off;
		uint32_t len = be32_get(p);
		if (len > MAX_FRAME) {
			log_warn(TAG, "%s: reply of %u bytes, closing", server_name(zk), len);
			conn_lost(c, UV_EPROTO);
			return;
		}
		if (avail < 4 + (size_t)len)
			return;
		/* Consume first: the handler may drop the connection. */
		s->in_off += 4 + (size_t)len;
		if (c->phase == CP_HANDSHAKE)
			on_connect_response(c, p + 4, len);
		else
			handle_frame(c, p + 4, len);
		arena_reset(&zk->arena);
	}
}

static void on_eof(struct stream *s, int status)
{
	struct zkc_conn *c = container_of(s, struct zkc_conn, s);
	conn_lost(c, status);
}

static void on_connect(struct stream *s, int status)
{
	struct zkc_conn *c = container_of(s, struct zkc_conn, s);
	struct zkclient *zk = c->zk;

	if (status < 0) {
		conn_lost(c, status);
		return;
	}
	c->phase = CP_HANDSHAKE;
	zkc_proto_put_connect(&s->out, zk->last_zxid, zk->req_timeout, zk->sid, zk->passwd,
			      zk->read_only);
	stream_mark_dirty(s);
	zk->last_send = now_ms(zk);
	stream_start(s);
}

static void connect_addr(struct zkclient *zk, const struct sockaddr *addr)
{
	struct zkc_conn *c = xcalloc(1, sizeof(*c));
	c->zk = zk;
	c->phase = CP_TCP;
	c->s.on_read = on_read;
	c->s.on_eof = on_eof;
	c->s.on_close = on_conn_close;
	int rc = stream_connect(zk->loop, &c->s, addr, on_connect);
	if (rc) {
		log_debug(TAG, "connect %s: %s", server_name(zk), uv_strerror(rc));
		if (c->s.closing) {
			c->phase = CP_DEAD;
			zk->nopen++; /* on_conn_close follows */
		} else {
			free(c);
		}
		attempt_failed(zk);
		return;
	}
	zk->nopen++;
	zk->conn = c;
	zk->attempt_deadline = now_ms(zk) + attempt_timeout(zk);
	arm_timer(zk);
}

static void on_resolved(uv_getaddrinfo_t *req, int status, struct addrinfo *res)
{
	struct zkclient *zk = req->data;
	struct server_addr *sv = &zk->servers[zk->cur];
	int n = 0;

	zk->resolving = false;
	for (struct addrinfo *ai = status ? NULL : res; ai && n < MAX_ADDRS; ai = ai->ai_next) {
		if ((ai->ai_family != AF_INET && ai->ai_family != AF_INET6) ||
		    ai->ai_addrlen > sizeof(sv->addrs[0]))
			continue;
		memcpy(&sv->addrs[n++], ai->ai_addr, ai->ai_addrlen);
	}
	uv_freeaddrinfo(res);
	if (zk->dying) {
		handle_done(zk);
		return;
	}
	zk->nopen--; /* cannot reach 0: our handles are open until dying */
	if (!n) {
		log_warn(TAG, "cannot resolve %s: %s", sv->name,
			 status ? uv_strerror(status) : "no address");
		attempt_failed(zk);
		return;
	}
	sv->naddrs = n;
	zk->cur_addr = 0;
	start_attempt(zk);
}

static void start_attempt(struct zkclient *zk)
{
	zk->retry_pending = false;
	if (zk->closing || zk->conn || zk->resolving || is_final_state(zk->state))
		return;
	struct server_addr *sv = &zk->servers[zk->cur];
	if (sv->naddrs) {
		connect_addr(zk, (const struct sockaddr *)&sv->addrs[zk->cur_addr]);
		return;
	}
	struct addrinfo hints;
	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	zk->gai.data = zk;
	int rc = uv_getaddrinfo(zk->loop, &zk->gai, on_resolved, sv->host, sv->port, &hints);
	if (rc) {
		log_warn(TAG, "cannot resolve %s: %s", sv->name, uv_strerror(rc));
		attempt_failed(zk);
		return;
	}
	zk->resolving = true;
	zk->nopen++;
}

/* ---- the timer: pings, read timeout, attempts, retries, queued requests ---- */

static void on_timer(uv_timer_t *h);

/*
 * Starts the one timer for the earliest deadline.  Deadlines that only move
 * later (last_send, last_recv) need no re-arming: the timer fires early,
 * finds nothing due and re-arms itself.
 */
static void arm_timer(struct zkclient *zk)
{
	if (zk->dying)
		return;
	uint64_t now = now_ms(zk), due = UINT64_MAX;
	const struct zkc_conn *c = zk->conn;
	if (c && c->phase == CP_ACTIVE) {
		due = zk->last_send + ping_interval(zk);
		if (zk->last_recv + read_timeout(zk) < due)
			due = zk->last_recv + read_timeout(zk);
	} else if (c) {
		due = zk->attempt_deadline;
	} else if (zk->retry_pending) {
		due = zk->retry_at;
	}
	if (zk->queue.head && zk->queue.head->deadline < due)
		due = zk->queue.head->deadline;
	if (zk->closing && zk->close_deadline < due)
		due = zk->close_deadline;
	if (due == UINT64_MAX) {
		uv_timer_stop(&zk->timer);
		return;
	}
	uv_timer_start(&zk->timer, on_timer, due > now ? due - now : 0, 0);
}

static void expire_queue(struct zkclient *zk, uint64_t now)
{
	struct reqlist l = { NULL, NULL };
	while (zk->queue.head && zk->queue.head->deadline <= now)
		rl_push(&l, rl_pop(&zk->queue));
	if (l.head)
		log_debug(TAG, "requests timed out waiting for a connection");
	complete_list(zk, &l, ZOPERATIONTIMEOUT);
}

static void on_timer(uv_timer_t *h)
{
	struct zkclient *zk = h->data;
	uint64_t now = now_ms(zk);
	struct zkc_conn *c = zk->conn;

	if (zk->closing && now >= zk->close_deadline) {
		log_warn(TAG, "session 0x%" PRIx64 ": no answer to closeSession", (uint64_t)zk->sid);
		finish_close(zk);
		return;
	}
	if (c && c->phase != CP_ACTIVE && now >= zk->attempt_deadline) {
		conn_lost(c, UV_ETIMEDOUT);
	} else if (c && c->phase == CP_ACTIVE) {
		if (now >= zk->last_recv + read_timeout(zk)) {
			log_warn(TAG, "session 0x%" PRIx64 ": nothing from %s for %" PRIu64 " ms",
				 (uint64_t)zk->sid, server_name(zk), now - zk->last_recv);
			conn_lost(c, UV_ETIMEDOUT);
		} else if (now >= zk->last_send + ping_interval(zk)) {
			send_ping(zk);
		}
	}
	/* Callbacks above may have closed the client. */
	if (zk->dying)
		return;
	if (!zk->conn && zk->retry_pending && now >= zk->retry_at)
		start_attempt(zk);
	expire_queue(zk, now);
	arm_timer(zk);
}

/* ---- closing ---- */

static void destroy(struct zkclient *zk)
{
	/* ZCLOSING and other late results; zkc_* calls made now return -ESHUTDOWN. */
	struct zkc_req *r;
	while ((r = rl_pop(&zk->deferred)))
		complete_rc(zk, r, r->rc);
	while ((r = zk->free_reqs)) {
		zk->free_reqs = r->next;
		buf_free(&r->frame);
		free(r);
	}
	struct auth_info *a, *an;
	for (a = zk->auths; a; a = an) {
		an = a->next;
		buf_free(&a->frame);
		free(a);
	}
	wtable_clear(&zk->watches);
	arena_free(&zk->arena);
	buf_free(&zk->scratch);
	for (int i = 0; i < zk->nservers; i++) {
		free(zk->servers[i].name);
		free(zk->servers[i].host);
	}
	free(zk->servers);
	void (*done)(void *) = zk->done;
	void *arg = zk->done_arg;
	free(zk);
	if (done)
		done(arg);
}

static void handle_done(struct zkclient *zk)
{
	if (--zk->nopen == 0 && zk->dying)
		destroy(zk);
}

static void on_handle_close(uv_handle_t *h)
{
	handle_done(h->data);
}

/*
 * Ends everything: what is still pending gets ZCLOSING (delivered from the
 * last close callback, invariant 4), the connection and handles close, and
 * destroy() runs when the last of them is gone (invariant 5).
 */
static void finish_close(struct zkclient *zk)
{
	if (zk->dying)
		return;
	zk->dying = true;
	zk->closing = true;
	zk->state = ZKC_CLOSED;
	conn_drop(zk);
	struct reqlist l = { NULL, NULL };
	rl_move(&l, &zk->inflight);
	rl_move(&l, &zk->authq);
	rl_move(&l, &zk->queue);
	struct zkc_req *r;
	while ((r = rl_pop(&l)))
		defer(zk, r, ZCLOSING);
	if (zk->resolving)
		uv_cancel((uv_req_t *)&zk->gai); /* its callback still runs, with ECANCELED */
	uv_close((uv_handle_t *)&zk->timer, on_handle_close);
	uv_close((uv_handle_t *)&zk->prepare, on_handle_close);
	uv_close((uv_handle_t *)&zk->idle, on_handle_close);
}

void zkc_close(struct zkclient *zk, void (*done)(void *arg), void *arg)
{
	/* A second call (say, from a ZCLOSING callback) changes nothing. */
	if (!zk || zk->closing)
		return;
	zk->closing = true;
	zk->done = done;
	zk->done_arg = arg;
	if (zk->conn && zk->conn->phase == CP_ACTIVE) {
		/* closeSession goes after everything in flight, whose replies still
		 * come back; ephemerals go at once instead of at expiry. */
		struct zkc_req *r = req_get(zk, ZOP_CLOSESESSION, 0, NULL, NULL);
		r->internal = true;
		jute_frame_end(&r->frame, 0);
		send_req(zk, r);
		zk->close_deadline = now_ms(zk) + read_timeout(zk);
		arm_timer(zk);
		return;
	}
	/* Not connected: nothing to tell the server; the session expires there. */
	finish_close(zk);
}

/* ---- creation ---- */

static int parse_server(struct server_addr *sv, const char *tok, size_t n)
{
	char buf[300];
	const char *host, *port = NULL;

	if (n == 0 || n >= sizeof(buf))
		return -EINVAL;
	memcpy(buf, tok, n);
	buf[n] = 0;
	if (strchr(buf, '/'))
		return -EINVAL; /* a chroot suffix: not supported */
	if (buf[0] == '[') {
		char *close = strchr(buf, ']');
		if (!close || (close[1] && close[1] != ':'))
			return -EINVAL;
		*close = 0;
		host = buf + 1;
		if (close[1])
			port = close + 2;
	} else {
		char *colon = strrchr(buf, ':');
		if (colon && strchr(buf, ':') != colon)
			return -EINVAL; /* a bare IPv6 address: write [addr]:port */
		if (colon) {
			*colon = 0;
			port = colon + 1;
		}
		host = buf;
	}
	if (!*host)
		return -EINVAL;
	long pn = 2181;
	if (port) {
		char *end;
		pn = strtol(port, &end, 10);
		if (!*port || *end || pn <= 0 || pn > 65535)
			return -EINVAL;
	}
	snprintf(sv->port, sizeof(sv->port), "%ld", pn);
	sv->host = xstrdup(host);
	sv->name = xstrndup(tok, n);
	struct sockaddr_in *a4 = (struct sockaddr_in *)&sv->addrs[0];
	struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)&sv->addrs[0];
	if (uv_ip4_addr(host, (int)pn, a4) == 0 || uv_ip6_addr(host, (int)pn, a6) == 0) {
		sv->literal = true;
		sv->naddrs = 1;
	}
	return 0;
}

static int parse_servers(struct zkclient *zk, const char *list)
{
	int cap = 1;
	for (const char *p = list; *p; p++)
		cap += *p == ',';
	zk->servers = xcalloc((size_t)cap, sizeof(*zk->servers));
	for (const char *p = list;;) {
		while (*p == ' ' || *p == '\t')
			p++;
		size_t n = strcspn(p, ",");
		size_t t = n;
		while (t && (p[t - 1] == ' ' || p[t - 1] == '\t'))
			t--;
		if (t) {
			int rc = parse_server(&zk->servers[zk->nservers], p, t);
			if (rc)
				return rc;
			zk->nservers++;
		}
		if (!p[n])
			break;
		p += n + 1;
	}
	return zk->nservers ? 0 : -EINVAL;
}

int zkc_new(struct zkclient **out, uv_loop_t *loop, const struct zkc_options *opt)
{
	*out = NULL;
	if (!loop || !opt || !opt->servers)
		return -EINVAL;
	struct zkclient *zk = xcalloc(1, sizeof(*zk));
	int rc = parse_servers(zk, opt->servers);
	if (rc) {
		for (int i = 0; i < zk->nservers; i++) {
			free(zk->servers[i].name);
			free(zk->servers[i].host);
		}
		free(zk->servers);
		free(zk);
		return rc;
	}
	zk->loop = loop;
	zk->on_state = opt->on_state;
	zk->on_watch = opt->on_watch;
	zk->arg = opt->arg;
	zk->read_only = opt->read_only;
	zk->state = ZKC_CONNECTING;
	zk->req_timeout = opt->timeout_ms > 0 ? opt->timeout_ms : DEFAULT_TIMEOUT;
	zk->timeout = zk->req_timeout;
	zk->auth_tail = &zk->auths;
	zk->rnd = (uint32_t)uv_hrtime() ^ (uint32_t)(uintptr_t)zk;
	if (!zk->rnd)
		zk->rnd = 1;
	zk->cur = opt->in_order ? 0 : (int)(next_rand(zk) % (uint32_t)zk->nservers);
	zk->round_start = zk->cur;
	uv_timer_init(loop, &zk->timer);
	uv_prepare_init(loop, &zk->prepare);
	uv_idle_init(loop, &zk->idle);
	zk->timer.data = zk->prepare.data = zk->idle.data = zk;
	zk->nopen = 3;
	uv_prepare_start(&zk->prepare, on_prepare);
	/* Only a helper: the connection and timer decide whether the loop lives. */
	uv_unref((uv_handle_t *)&zk->prepare);
	start_attempt(zk);
	*out = zk;
	return 0;
}

/* ---- accessors ---- */

enum zkc_state zkc_state(const struct zkclient *zk)
{
	return zk->state;
}

const char *zkc_state_name(enum zkc_state state)
{
	switch (state) {
	case ZKC_CONNECTING: return "CONNECTING";
	case ZKC_CONNECTED: return "CONNECTED";
	case ZKC_SUSPENDED: return "SUSPENDED";
	case ZKC_EXPIRED: return "EXPIRED";
	case ZKC_AUTH_FAILED: return "AUTH_FAILED";
	case ZKC_CLOSED: return "CLOSED";
	}
	return "UNKNOWN";
}

int64_t zkc_session_id(const struct zkclient *zk)
{
	return zk->sid;
}

int32_t zkc_session_timeout(const struct zkclient *zk)
{
	return zk->timeout;
}

int64_t zkc_last_zxid(const struct zkclient *zk)
{
	return zk->last_zxid;
}

const char *zkc_server(const struct zkclient *zk)
{
	return zk->conn && zk->conn->phase == CP_ACTIVE ? server_name(zk) : NULL;
}
