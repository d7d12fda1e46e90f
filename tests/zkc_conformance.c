/*
 * zkc_conformance.c - conformance tests driven through the stock ZooKeeper C
 * client (libzookeeper_mt 3.8, sync and async APIs) and its cli_mt shell.
 *
 * They cover what kazoo cannot express: null versus empty data, create2,
 * containers, TTL nodes, multi with per-op results, ACLs and digest auth,
 * watcher objects and watch removal, session timeout negotiation, session
 * reattach by client id, expiry as the C client sees it, and watches that
 * survive a reconnect.  Every assertion was first run against Apache
 * ZooKeeper 3.8.0 (tickTime 2000, default min/max session timeouts,
 * -Dzookeeper.extendedTypesEnabled=true, -Dznode.container.checkIntervalMs=500)
 * and states what it does; the server under test must do the same.
 *
 * The server address comes from COORD_TEST_SERVER (host:port); without it the
 * test is skipped.  tests/integration/zkc_conformance.sh starts a server and
 * runs this binary.  A small in-process TCP proxy lets a test drop a client's
 * connection without closing its session (zookeeper_close would close it).
 *
 * Findings about this C client (3.8.0 headers and libzookeeper_mt.so.2):
 * it has no API for addWatch (persistent watches), multiRead, getEphemerals
 * or whoAmI; tests/integration/rawzk.py covers those opcodes on the wire.
 * Path validation, TTL range checks and ZNOWATCHER for watches it does not
 * hold happen inside the client, so those return codes say nothing about the
 * server; the raw tests check the server's own answers.
 */
#include "config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#ifndef THREADED
#define THREADED 1 /* the synchronous API is declared only for the mt library */
#endif
#include <zookeeper/zookeeper.h>

#include "tap.h"

#define WAIT_MS 10000 /* default deadline for anything asynchronous */

static const char *server;    /* COORD_TEST_SERVER */
static char root[64];         /* per-run test root, e.g. /zkc1234 */
static const char digest_id[] = "zkc:34sRkpQM98SnUrIeD6Jap5620a4="; /* zkc:secret */

static int64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void sleep_ms(int ms)
{
	struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };
	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

/* pth("a/b") -> "<root>/a/b" in one of a few rotating static buffers. */
static const char *pth(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static const char *pth(const char *fmt, ...)
{
	static char bufs[16][256];
	static int next;
	char *b = bufs[next++ % 16];
	va_list ap;
	int n = snprintf(b, 256, "%s/", root);

	va_start(ap, fmt);
	vsnprintf(b + n, (size_t)(256 - n), fmt, ap);
	va_end(ap);
	return b;
}

/* ---------------------------------------------------------------------- */
/* Watcher events: every handle and watcher object gets its own queue.    */

struct event {
	int type, state, used;
	char path[256];
};

struct evq {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	int state; /* last session state reported, 0 before any */
	int n;
	struct event ev[256];
};

static void evq_init(struct evq *q)
{
	memset(q, 0, sizeof(*q));
	pthread_mutex_init(&q->mu, NULL);
	pthread_cond_init(&q->cv, NULL);
}

static void watcher(zhandle_t *zh, int type, int state, const char *path, void *ctx)
{
	struct evq *q = ctx;

	(void)zh;
	if (!q)
		return;
	pthread_mutex_lock(&q->mu);
	if (type == ZOO_SESSION_EVENT)
		q->state = state;
	if (q->n < (int)(sizeof(q->ev) / sizeof(q->ev[0]))) {
		struct event *e = &q->ev[q->n++];
		e->type = type;
		e->state = state;
		e->used = 0;
		snprintf(e->path, sizeof(e->path), "%s", path ? path : "");
	}
	pthread_cond_broadcast(&q->cv);
	pthread_mutex_unlock(&q->mu);
}

static void cond_wait_ms(pthread_cond_t *cv, pthread_mutex_t *mu, int ms)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_nsec += (long)ms * 1000000L;
	ts.tv_sec += ts.tv_nsec / 1000000000L;
	ts.tv_nsec %= 1000000000L;
	pthread_cond_timedwait(cv, mu, &ts);
}

static struct event *evq_find(struct evq *q, int type, const char *path)
{
	for (int i = 0; i < q->n; i++) {
		struct event *e = &q->ev[i];
		if (!e->used && e->type == type && (!path || !strcmp(e->path, path)))
			return e;
	}
	return NULL;
}

/* Waits for an unconsumed event of this type (and path, unless NULL),
 * consumes it and returns true; false at the deadline. */
static bool evq_wait(struct evq *q, int type, const char *path, int ms)
{
	int64_t deadline = now_ms() + ms;
	bool found = false;

	pthread_mutex_lock(&q->mu);
	for (;;) {
		struct event *e = evq_find(q, type, path);
		if (e) {
			e->used = 1;
			found = true;
			break;
		}
		if (now_ms() >= deadline)
			break;
		cond_wait_ms(&q->cv, &q->mu, 20);
	}
	pthread_mutex_unlock(&q->mu);
	return found;
}

/* Number of unconsumed events of this type (and path); for "nothing fired"
 * checks, which must follow a barrier(). */
static int evq_count(struct evq *q, int type, const char *path)
{
	int c = 0;

	pthread_mutex_lock(&q->mu);
	for (int i = 0; i < q->n; i++) {
		struct event *e = &q->ev[i];
		if (!e->used && e->type == type && (!path || !strcmp(e->path, path)))
			c++;
	}
	pthread_mutex_unlock(&q->mu);
	return c;
}

static bool evq_wait_state(struct evq *q, int state, int ms)
{
	int64_t deadline = now_ms() + ms;
	bool ok;

	pthread_mutex_lock(&q->mu);
	while (q->state != state && now_ms() < deadline)
		cond_wait_ms(&q->cv, &q->mu, 20);
	ok = q->state == state;
	pthread_mutex_unlock(&q->mu);
	return ok;
}

/* Waits for a SESSION_EVENT with this state, even if the state has moved on
 * since (a reconnect can follow a disconnect within microseconds). */
static bool evq_wait_session(struct evq *q, int state, int ms)
{
	int64_t deadline = now_ms() + ms;
	bool found = false;

	pthread_mutex_lock(&q->mu);
	for (;;) {
		for (int i = 0; i < q->n && !found; i++) {
			struct event *e = &q->ev[i];
			if (!e->used && e->type == ZOO_SESSION_EVENT && e->state == state) {
				e->used = 1;
				found = true;
			}
		}
		if (found || now_ms() >= deadline)
			break;
		cond_wait_ms(&q->cv, &q->mu, 20);
	}
	pthread_mutex_unlock(&q->mu);
	return found;
}

/* ---------------------------------------------------------------------- */
/* Completions for the async API.                                          */

struct done {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	int fired, rc;
	int value_len;      /* data completion; -2 if value was NULL but len not -1 */
	bool value_null;
	char value[256];
	struct Stat stat;
};

static void done_init(struct done *d)
{
	memset(d, 0, sizeof(*d));
	pthread_mutex_init(&d->mu, NULL);
	pthread_cond_init(&d->cv, NULL);
}

static void done_fire(struct done *d, int rc)
{
	pthread_mutex_lock(&d->mu);
	d->rc = rc;
	d->fired = 1;
	pthread_cond_broadcast(&d->cv);
	pthread_mutex_unlock(&d->mu);
}

/* Returns the completion's rc, or INT_MIN if it did not fire in time. */
static int done_wait(struct done *d, int ms)
{
	int64_t deadline = now_ms() + ms;
	int rc;

	pthread_mutex_lock(&d->mu);
	while (!d->fired && now_ms() < deadline)
		cond_wait_ms(&d->cv, &d->mu, 20);
	rc = d->fired ? d->rc : INT_MIN;
	pthread_mutex_unlock(&d->mu);
	return rc;
}

static void void_cb(int rc, const void *data)
{
	done_fire((struct done *)data, rc);
}

static void stat_cb(int rc, const struct Stat *st, const void *data)
{
	struct done *d = (struct done *)data;
	if (st)
		d->stat = *st;
	done_fire(d, rc);
}

static void data_cb(int rc, const char *value, int value_len, const struct Stat *st,
		    const void *data)
{
	struct done *d = (struct done *)data;

	d->value_null = value == NULL;
	d->value_len = value_len;
	if (value && value_len > 0)
		snprintf(d->value, sizeof(d->value), "%.*s", value_len, value);
	if (st)
		d->stat = *st;
	done_fire(d, rc);
}

static void string_cb(int rc, const char *value, const void *data)
{
	struct done *d = (struct done *)data;
	if (value)
		snprintf(d->value, sizeof(d->value), "%s", value);
	done_fire(d, rc);
}

/* Round trip through the completion thread: watcher events and async
 * completions are delivered on one thread in arrival order, and the server
 * sends a notification before the reply to any later request, so once this
 * returns every event caused by earlier requests has been dispatched. */
static int barrier(zhandle_t *zh)
{
	struct done d;
	done_init(&d);
	if (zoo_aexists(zh, "/", 0, stat_cb, &d) != ZOK)
		return -1;
	return done_wait(&d, WAIT_MS);
}

/* ---------------------------------------------------------------------- */
/* Sessions.                                                               */

static zhandle_t *session_open(const char *host, struct evq *q, int timeout_ms,
			       const clientid_t *cid)
{
	evq_init(q);
	return zookeeper_init(host, watcher, timeout_ms, cid, q, 0);
}

/* Opens a session and waits until it is connected; NULL on failure. */
static zhandle_t *session_connect(const char *host, struct evq *q, int timeout_ms)
{
	zhandle_t *zh = session_open(host, q, timeout_ms, NULL);

	if (zh && !evq_wait_state(q, ZOO_CONNECTED_STATE, WAIT_MS)) {
		diag("no session to %s (state %d)", host, zoo_state(zh));
		zookeeper_close(zh);
		zh = NULL;
	}
	return zh;
}

static int get_str(zhandle_t *zh, const char *path, char *buf, int size)
{
	int len = size - 1;
	int rc = zoo_get(zh, path, 0, buf, &len, NULL);

	buf[rc == ZOK && len >= 0 ? len : 0] = '\0';
	return rc;
}

/* Polls until exists() returns want or the deadline passes; returns the
 * last rc. */
static int wait_exists_rc(zhandle_t *zh, const char *path, int want, int ms)
{
	int64_t deadline = now_ms() + ms;
	int rc;

	while ((rc = zoo_exists(zh, path, 0, NULL)) != want && now_ms() < deadline)
		sleep_ms(50);
	return rc;
}

/* Field by field: struct Stat has padding that memcmp would compare. */
static bool stat_eq(const struct Stat *a, const struct Stat *b)
{
	return a->czxid == b->czxid && a->mzxid == b->mzxid && a->ctime == b->ctime &&
	       a->mtime == b->mtime && a->version == b->version &&
	       a->cversion == b->cversion && a->aversion == b->aversion &&
	       a->ephemeralOwner == b->ephemeralOwner && a->dataLength == b->dataLength &&
	       a->numChildren == b->numChildren && a->pzxid == b->pzxid;
}

/* "<prefix>" followed by exactly ten decimal digits. */
static bool is_seq_name(const char *s, const char *prefix)
{
	size_t n = strlen(prefix);

	if (strncmp(s, prefix, n) || strlen(s) != n + 10)
		return false;
	for (size_t i = n; i < n + 10; i++)
		if (s[i] < '0' || s[i] > '9')
			return false;
	return true;
}

/* ---------------------------------------------------------------------- */
/* A TCP proxy that can drop every connection and refuse new ones, so a    */
/* client loses its socket while its session lives on in the server.      */

#define PROXY_MAX 16

struct proxy {
	int lfd, port;
	struct sockaddr_storage target;
	socklen_t target_len;
	pthread_t thread;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	int blocked, stop;
	int cut_req, cut_done; /* generations */
	int pairs[PROXY_MAX][2];
	int npairs;
};

static void proxy_close_all(struct proxy *p)
{
	for (int i = 0; i < p->npairs; i++) {
		close(p->pairs[i][0]);
		close(p->pairs[i][1]);
	}
	p->npairs = 0;
}

static void proxy_drop(struct proxy *p, int i)
{
	close(p->pairs[i][0]);
	close(p->pairs[i][1]);
	p->pairs[i][0] = p->pairs[p->npairs - 1][0];
	p->pairs[i][1] = p->pairs[p->npairs - 1][1];
	p->npairs--;
}

static void *proxy_main(void *arg)
{
	struct proxy *p = arg;
	char buf[65536];

	for (;;) {
		struct pollfd pf[1 + 2 * PROXY_MAX];
		int nfds = 0, blocked;

		pthread_mutex_lock(&p->mu);
		if (p->stop) {
			pthread_mutex_unlock(&p->mu);
			break;
		}
		if (p->cut_done != p->cut_req) {
			proxy_close_all(p);
			p->cut_done = p->cut_req;
			pthread_cond_broadcast(&p->cv);
		}
		blocked = p->blocked;
		pthread_mutex_unlock(&p->mu);

		pf[nfds++] = (struct pollfd){ .fd = p->lfd, .events = POLLIN };
		for (int i = 0; i < p->npairs; i++) {
			pf[nfds++] = (struct pollfd){ .fd = p->pairs[i][0], .events = POLLIN };
			pf[nfds++] = (struct pollfd){ .fd = p->pairs[i][1], .events = POLLIN };
		}
		if (poll(pf, (nfds_t)nfds, 20) <= 0)
			continue;
		if (pf[0].revents & POLLIN) {
			int c = accept(p->lfd, NULL, NULL);
			if (c >= 0 && (blocked || p->npairs == PROXY_MAX)) {
				close(c);
			} else if (c >= 0) {
				int s = socket(p->target.ss_family, SOCK_STREAM, 0);
				int one = 1;
				if (s < 0 || connect(s, (struct sockaddr *)&p->target,
						     p->target_len) < 0) {
					close(c);
					if (s >= 0)
						close(s);
				} else {
					setsockopt(c, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
					setsockopt(s, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
					p->pairs[p->npairs][0] = c;
					p->pairs[p->npairs][1] = s;
					p->npairs++;
				}
			}
		}
		/* Walk the pairs backwards so proxy_drop() can swap in the last. */
		for (int i = (nfds - 1) / 2 - 1; i >= 0; i--) {
			for (int side = 0; side < 2; side++) {
				struct pollfd *f = &pf[1 + 2 * i + side];
				ssize_t n;
				if (!(f->revents & (POLLIN | POLLHUP | POLLERR)))
					continue;
				n = read(f->fd, buf, sizeof(buf));
				if (n > 0) {
					int to = p->pairs[i][!side];
					ssize_t off = 0;
					while (off < n) {
						ssize_t w = send(to, buf + off, (size_t)(n - off),
								 MSG_NOSIGNAL);
						if (w <= 0)
							break;
						off += w;
					}
					if (off == n)
						continue;
				}
				proxy_drop(p, i);
				break;
			}
		}
	}
	proxy_close_all(p);
	return NULL;
}

static int proxy_start(struct proxy *p, const char *hostport)
{
	char host[128];
	const char *colon = strrchr(hostport, ':');
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM }, *ai;
	struct sockaddr_in la = { .sin_family = AF_INET };
	socklen_t len = sizeof(la);
	int one = 1;

	memset(p, 0, sizeof(*p));
	pthread_mutex_init(&p->mu, NULL);
	pthread_cond_init(&p->cv, NULL);
	if (!colon || (size_t)(colon - hostport) >= sizeof(host))
		return -1;
	snprintf(host, sizeof(host), "%.*s", (int)(colon - hostport), hostport);
	if (getaddrinfo(host, colon + 1, &hints, &ai))
		return -1;
	memcpy(&p->target, ai->ai_addr, ai->ai_addrlen);
	p->target_len = ai->ai_addrlen;
	freeaddrinfo(ai);

	la.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	p->lfd = socket(AF_INET, SOCK_STREAM, 0);
	setsockopt(p->lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (p->lfd < 0 || bind(p->lfd, (struct sockaddr *)&la, sizeof(la)) < 0 ||
	    listen(p->lfd, 16) < 0 ||
	    getsockname(p->lfd, (struct sockaddr *)&la, &len) < 0)
		return -1;
	p->port = ntohs(la.sin_port);
	return pthread_create(&p->thread, NULL, proxy_main, p) ? -1 : 0;
}

/* Drops every proxied connection and refuses new ones until proxy_open();
 * returns once the sockets are closed. */
static void proxy_cut(struct proxy *p)
{
	pthread_mutex_lock(&p->mu);
	p->blocked = 1;
	p->cut_req++;
	while (p->cut_done != p->cut_req)
		pthread_cond_wait(&p->cv, &p->mu);
	pthread_mutex_unlock(&p->mu);
}

static void proxy_open(struct proxy *p)
{
	pthread_mutex_lock(&p->mu);
	p->blocked = 0;
	pthread_mutex_unlock(&p->mu);
}

static void proxy_stop(struct proxy *p)
{
	pthread_mutex_lock(&p->mu);
	p->stop = 1;
	pthread_mutex_unlock(&p->mu);
	pthread_join(p->thread, NULL);
	close(p->lfd);
}

/* ---------------------------------------------------------------------- */
/* The tests.                                                              */

static void test_null_and_empty_data(zhandle_t *zh)
{
	char path[256], buf[64];
	int len;
	struct Stat st;
	struct done d;

	/* NULL with length -1 is sent as a jute buffer of length -1 and stored
	 * as null; getData then answers with length -1, not 0. */
	is_int(zoo_create(zh, pth("null"), NULL, -1, &ZOO_OPEN_ACL_UNSAFE, 0,
			  path, sizeof(path)), ZOK, "create with NULL data (-1 length)");
	is_str(path, pth("null"), "create returns the created path");
	len = sizeof(buf);
	is_int(zoo_get(zh, pth("null"), 0, buf, &len, &st), ZOK, "get null node");
	is_int(len, -1, "null data comes back with length -1");
	is_int(st.dataLength, 0, "null data has stat.dataLength 0");

	is_int(zoo_create(zh, pth("empty"), "", 0, &ZOO_OPEN_ACL_UNSAFE, 0, NULL, 0),
	       ZOK, "create with empty data");
	len = sizeof(buf);
	is_int(zoo_get(zh, pth("empty"), 0, buf, &len, &st), ZOK, "get empty node");
	is_int(len, 0, "empty data comes back with length 0, not -1");

	/* The same through the async API. */
	done_init(&d);
	is_int(zoo_aget(zh, pth("null"), 0, data_cb, &d), ZOK, "aget null node queued");
	is_int(done_wait(&d, WAIT_MS), ZOK, "aget null node completes");
	ok(d.value_null && d.value_len == -1, "aget: null data is value NULL, length -1 (got %s, %d)",
	   d.value_null ? "NULL" : "non-NULL", d.value_len);
	done_init(&d);
	zoo_aget(zh, pth("empty"), 0, data_cb, &d);
	is_int(done_wait(&d, WAIT_MS), ZOK, "aget empty node completes");
	is_int(d.value_len, 0, "aget: empty data has length 0");

	/* setData can turn data back into null. */
	is_int(zoo_set(zh, pth("empty"), NULL, -1, -1), ZOK, "set NULL data");
	len = sizeof(buf);
	zoo_get(zh, pth("empty"), 0, buf, &len, &st);
	is_int(len, -1, "data set to NULL reads back with length -1");
	is_int(st.version, 1, "set bumped the version to 1");
	is_int(zoo_set(zh, pth("empty"), "xyz", 3, 1), ZOK, "set with matching version");
	is_int(zoo_set(zh, pth("empty"), "xyz", 3, 1), ZBADVERSION,
	       "set with a stale version is ZBADVERSION");
}

static void test_create2_and_stat(zhandle_t *zh)
{
	struct Stat st, st2;
	char path[256];
	int64_t wall = (int64_t)time(NULL) * 1000;

	memset(&st, 0, sizeof(st));
	is_int(zoo_create2(zh, pth("c2"), "abc", 3, &ZOO_OPEN_ACL_UNSAFE, 0, path,
			   sizeof(path), &st), ZOK, "create2");
	is_str(path, pth("c2"), "create2 returns the path");
	ok(st.czxid > 0, "create2 stat czxid > 0 (0x%" PRIx64 ")", st.czxid);
	ok(st.mzxid == st.czxid && st.pzxid == st.czxid,
	   "new node: mzxid == pzxid == czxid");
	ok(st.ctime == st.mtime && llabs(st.ctime - wall) < 60000,
	   "new node: ctime == mtime, wall-clock milliseconds");
	ok(!st.version && !st.cversion && !st.aversion && !st.numChildren &&
	   !st.ephemeralOwner, "new node: versions, children, owner all 0");
	is_int(st.dataLength, 3, "create2 stat dataLength");
	is_int(zoo_exists(zh, pth("c2"), 0, &st2), ZOK, "exists after create2");
	ok(stat_eq(&st, &st2), "create2 stat equals exists stat");
	is_int(zoo_create2(zh, pth("c2"), "abc", 3, &ZOO_OPEN_ACL_UNSAFE, 0, NULL, 0, &st),
	       ZNODEEXISTS, "create2 of an existing node is ZNODEEXISTS");
	is_int(zoo_create2(zh, pth("nope/c2"), "abc", 3, &ZOO_OPEN_ACL_UNSAFE, 0, NULL, 0,
			   &st), ZNONODE, "create2 without a parent is ZNONODE");
}

static void test_sequential(zhandle_t *zh)
{
	char path[256], last[256];
	struct String_vector kids;
	struct Stat st, child;

	zoo_create(zh, pth("seq"), NULL, -1, &ZOO_OPEN_ACL_UNSAFE, 0, NULL, 0);
	is_int(zoo_create(zh, pth("seq/n-"), "", 0, &ZOO_OPEN_ACL_UNSAFE,
			  ZOO_PERSISTENT_SEQUENTIAL, path, sizeof(path)), ZOK,
	       "create persistent sequential");
	is_str(path, pth("seq/n-0000000000"), "first suffix is 0000000000 (%%010d)");
	zoo_create(zh, pth("seq/n-"), "", 0, &ZOO_OPEN_ACL_UNSAFE,
		   ZOO_PERSISTENT_SEQUENTIAL, path, sizeof(path));
	is_str(path, pth("seq/n-0000000001"), "second suffix is 0000000001");
	/* ZooKeeper stores in the parent the number of children ever created
	 * and names sequential nodes from it; deletes do not advance it.  The
	 * cversion that clients see is derived: 2 * creates - numChildren, which
	 * equals creates + deletes. */
	zoo_create(zh, pth("seq/plain"), "", 0, &ZOO_OPEN_ACL_UNSAFE, 0, NULL, 0);
	zoo_delete(zh, pth("seq/plain"), -1);
	zoo_create(zh, pth("seq/n-"), "", 0, &ZOO_OPEN_ACL_UNSAFE,
		   ZOO_PERSISTENT_SEQUENTIAL, last, sizeof(last));
	is_str(last, pth("seq/n-0000000003"),
	       "suffix counts child creates; a delete does not advance it");

	memset(&kids, 0, sizeof(kids));
	is_int(zoo_get_children2(zh, pth("seq"), 0, &kids, &st), ZOK, "get_children2");
	is_int(kids.count, 3, "get_children2 lists three children");
	is_int(st.numChildren, 3, "get_children2 stat numChildren");
	is_int(st.cversion, 5, "get_children2 stat cversion counts 4 creates + 1 delete");
	zoo_exists(zh, last, 0, &child);
	is_int(st.pzxid, child.czxid, "parent pzxid is the zxid of the last child change");
	deallocate_String_vector(&kids);
	zoo_delete(zh, pth("seq/n-0000000000"), -1);
	zoo_exists(zh, pth("seq"), 0, &st);
	is_int(st.cversion, 6, "a delete advances the visible cversion");
	ok(st.pzxid > child.czxid, "and pzxid");
}

static void test_ephemeral(zhandle_t *zh)
{
	struct evq q;
	zhandle_t *e = session_connect(server, &q, 10000);
	char path[256];
	struct Stat st;

	if (!ok(e != NULL, "second session for ephemerals")) {
		skip(7, "no second session");
		return;
	}
	zoo_create(zh, pth("eph"), NULL, -1, &ZOO_OPEN_ACL_UNSAFE, 0, NULL, 0);
	is_int(zoo_create(e, pth("eph/e-"), "x", 1, &ZOO_OPEN_ACL_UNSAFE,
			  ZOO_EPHEMERAL_SEQUENTIAL, path, sizeof(path)), ZOK,
	       "create ephemeral sequential");
	ok(is_seq_name(path, pth("eph/e-")), "ephemeral sequential name %s", path);
	is_int(zoo_exists(zh, path, 0, &st), ZOK, "other session sees the ephemeral");
	is_int(st.ephemeralOwner, zoo_client_id(e)->client_id,
	       "stat.ephemeralOwner is the owner's session id");
	is_int(zoo_create(e, pth("eph/kid"), "", 0, &ZOO_OPEN_ACL_UNSAFE, ZOO_EPHEMERAL,
			  NULL, 0), ZOK, "create plain ephemeral");
	is_int(zoo_create(zh, pth("eph/kid/grandkid"), "", 0, &ZOO_OPEN_ACL_UNSAFE, 0,
			  NULL, 0), ZNOCHILDRENFOREPHEMERALS,
	       "child of an ephemeral is ZNOCHILDRENFOREPHEMERALS");
	/* closeSession deletes the ephemerals in the same txn, before the reply:
	 * no polling is needed once zookeeper_close() has returned. */
	zookeeper_close(e);
	is_int(zoo_exists(zh, path, 0, NULL), ZNONODE,
	       "ephemerals are gone as soon as zookeeper_close returns");
}

static void test_container(zhandle_t *zh)
{
	struct Stat st;
	char path[256];

	is_int(zoo_create(zh, pth("ctr"), NULL, -1, &ZOO_OPEN_ACL_UNSAFE, ZOO_CONTAINER,
			  path, sizeof(path)), ZOK, "create container");
	is_str(path, pth("ctr"), "container create returns the path");
	/* Internally ZooKeeper marks containers with ephemeralOwner
	 * 0x8000000000000000 and TTL nodes with 0xff00000000000000 | ttl, but
	 * DataNode.copyStat() shows both to clients as 0. */
	zoo_exists(zh, pth("ctr"), 0, &st);
	is_int(st.ephemeralOwner, 0, "container stat.ephemeralOwner reads as 0");
	is_int(zoo_create(zh, pth("ctr-unused"), NULL, -1, &ZOO_OPEN_ACL_UNSAFE,
			  ZOO_CONTAINER, NULL, 0), ZOK, "create a container that never gets a child");
	is_int(zoo_create(zh, pth("ctr/kid"), "", 0, &ZOO_OPEN_ACL_UNSAFE, 0, NULL, 0),
	       ZOK, "create a child in the container");
	is_int(zoo_delete(zh, pth("ctr/kid"), -1), ZOK, "delete the last child");
	is_int(wait_exists_rc(zh, pth("ctr"), ZNONODE, WAIT_MS), ZNONODE,
	       "emptied container is reaped");
	/* ContainerManager only reaps containers whose cversion > 0, i.e. that
	 * once had a child (znode.container.maxNeverUsedIntervalMs is 0). */
	is_int(zoo_exists(zh, pth("ctr-unused"), 0, NULL), ZOK,
	       "a container that never had a child is not reaped");
}

static void test_ttl(zhandle_t *zh)
{
	struct Stat st;
	char path[256], seqpath[256];
	int64_t t0;

	is_int(zoo_create_ttl(zh, pth("ttl"), "t", 1, &ZOO_OPEN_ACL_UNSAFE,
			      ZOO_PERSISTENT_WITH_TTL, 500, path, sizeof(path)), ZOK,
	       "create persistent with ttl 500 ms");
	t0 = now_ms();
	zoo_exists(zh, pth("ttl"), 0, &st);
	is_int(st.ephemeralOwner, 0, "ttl stat.ephemeralOwner reads as 0");
	is_int(zoo_create_ttl(zh, pth("ttls-"), "t", 1, &ZOO_OPEN_ACL_UNSAFE,
			      ZOO_PERSISTENT_SEQUENTIAL_WITH_TTL, 500, seqpath,
			      sizeof(seqpath)), ZOK, "create persistent sequential with ttl");
	ok(is_seq_name(seqpath, pth("ttls-")), "sequential ttl name %s", seqpath);
	is_int(zoo_create_ttl(zh, pth("ttlp"), "t", 1, &ZOO_OPEN_ACL_UNSAFE,
			      ZOO_PERSISTENT_WITH_TTL, 500, NULL, 0), ZOK,
	       "create a ttl node that will have a child");
	zoo_create(zh, pth("ttlp/kid"), "", 0, &ZOO_OPEN_ACL_UNSAFE, 0, NULL, 0);
	/* The client itself rejects a ttl <= 0 or > 0xffffffffff. */
	is_int(zoo_create_ttl(zh, pth("ttl0"), "t", 1, &ZOO_OPEN_ACL_UNSAFE,
			      ZOO_PERSISTENT_WITH_TTL, 0, NULL, 0), ZBADARGUMENTS,
	       "ttl 0 is ZBADARGUMENTS (client-side check)");

	is_int(wait_exists_rc(zh, pth("ttl"), ZNONODE, WAIT_MS), ZNONODE,
	       "ttl node expires");
	ok(now_ms() - t0 >= 400, "not before its ttl (%" PRId64 " ms)", now_ms() - t0);
	is_int(wait_exists_rc(zh, seqpath, ZNONODE, WAIT_MS), ZNONODE,
	       "sequential ttl node expires");
	is_int(zoo_exists(zh, pth("ttlp"), 0, NULL), ZOK,
	       "a ttl node with a child does not expire");
	zoo_delete(zh, pth("ttlp/kid"), -1);
	is_int(wait_exists_rc(zh, pth("ttlp"), ZNONODE, WAIT_MS), ZNONODE,
	       "it expires once the child is gone");
}

static void test_multi(zhandle_t *zh)
{
	zoo_op_t ops[5];
	zoo_op_result_t res[5];
	char p0[256], p1[256], buf[64];
	struct Stat setst;
	struct done d;
	int rc;

	zoo_create(zh, pth("m"), NULL, -1, &ZOO_OPEN_ACL_UNSAFE, 0, NULL, 0);
	zoo_create(zh, pth("m/b"), "", 0, &ZOO_OPEN_ACL_UNSAFE, 0, NULL, 0);

	memset(res, 0x55, sizeof(res));
	zoo_create_op_init(&ops[0], pth("m/a"), "1", 1, &ZOO_OPEN_ACL_UNSAFE, 0, p0, sizeof(p0));
	zoo_create_op_init(&ops[1], pth("m/s-"), "", 0, &ZOO_OPEN_ACL_UNSAFE,
			   ZOO_PERSISTENT_SEQUENTIAL, p1, sizeof(p1));
	zoo_set_op_init(&ops[2], pth("m/a"), "2", 1, 0, &setst);
	zoo_check_op_init(&ops[3], pth("m/a"), 1);
	zoo_delete_op_init(&ops[4], pth("m/b"), 0);
	is_int(zoo_multi(zh, 5, ops, res), ZOK, "multi create/create-seq/set/check/delete");
	ok(res[0].err == ZOK && res[1].err == ZOK && res[2].err == ZOK &&
	   res[3].err == ZOK && res[4].err == ZOK, "every op result is ZOK");
	is_str(p0, pth("m/a"), "multi create result carries the path");
	is_str(p1, pth("m/s-0000000002"),
	       "multi sequential create counts the create before it in the same txn");
	is_int(setst.version, 1, "multi setData result carries the new stat");
	get_str(zh, pth("m/a"), buf, sizeof(buf));
	is_str(buf, "2", "later ops in a multi see earlier ones");
	is_int(zoo_exists(zh, pth("m/b"), 0, NULL), ZNONODE, "multi delete applied");

	/* A failing op: everything before it reports ZOK, the op its own
	 * error, everything after ZRUNTIMEINCONSISTENCY; nothing is applied. */
	memset(res, 0x55, sizeof(res));
	zoo_create_op_init(&ops[0], pth("m/c"), "", 0, &ZOO_OPEN_ACL_UNSAFE, 0, NULL, 0);
	zoo_set_op_init(&ops[1], pth("m/a"), "3", 1, 99, NULL);
	zoo_create_op_init(&ops[2], pth("m/d"), "", 0, &ZOO_OPEN_ACL_UNSAFE, 0, NULL, 0);
	is_int(zoo_multi(zh, 3, ops, res), ZBADVERSION, "multi returns the failing op's error");
	is_int(res[0].err, ZOK, "op before the failure: ZOK");
	is_int(res[1].err, ZBADVERSION, "failing op: ZBADVERSION");
	is_int(res[2].err, ZRUNTIMEINCONSISTENCY, "op after the failure: ZRUNTIMEINCONSISTENCY");
	is_int(zoo_exists(zh, pth("m/c"), 0, NULL), ZNONODE, "failed multi applied nothing");

	memset(res, 0x55, sizeof(res));
	zoo_check_op_init(&ops[0], pth("m/none"), 0);
	zoo_create_op_init(&ops[1], pth("m/e"), "", 0, &ZOO_OPEN_ACL_UNSAFE, 0, NULL, 0);
	is_int(zoo_multi(zh, 2, ops, res), ZNONODE, "check of a missing node: ZNONODE");
	ok(res[0].err == ZNONODE && res[1].err == ZRUNTIMEINCONSISTENCY,
	   "per-op: ZNONODE, ZRUNTIMEINCONSISTENCY (got %d, %d)", res[0].err, res[1].err);

	zoo_check_op_init(&ops[0], pth("m/a"), 0);
	is_int(zoo_multi(zh, 1, ops, res), ZBADVERSION, "check with a wrong version");
	zoo_create_op_init(&ops[0], pth("m/a"), "", 0, &ZOO_OPEN_ACL_UNSAFE, 0, NULL, 0);
	is_int(zoo_multi(zh, 1, ops, res), ZNODEEXISTS, "multi create of an existing node");
	zoo_delete_op_init(&ops[0], pth("m"), -1);
	is_int(zoo_multi(zh, 1, ops, res), ZNOTEMPTY, "multi delete of a non-empty node");
	zoo_create_op_init(&ops[0], pth("m/p"), "", 0, &ZOO_OPEN_ACL_UNSAFE, 0, NULL, 0);
	zoo_create_op_init(&ops[1], pth("m/p/q"), "", 0, &ZOO_OPEN_ACL_UNSAFE, 0, NULL, 0);
	zoo_delete_op_init(&ops[2], pth("m/p/q"), 0);
	zoo_delete_op_init(&ops[3], pth("m/p"), 0);
	is_int(zoo_multi(zh, 4, ops, res), ZOK, "multi creating and deleting a subtree");
	is_int(zoo_exists(zh, pth("m/p"), 0, NULL), ZNONODE, "and leaving nothing");
	is_int(zoo_multi(zh, 0, ops, res), ZOK, "empty multi is ZOK");

	/* The async flavour. */
	done_init(&d);
	zoo_create_op_init(&ops[0], pth("m/async"), "", 0, &ZOO_OPEN_ACL_UNSAFE, 0, NULL, 0);
	zoo_check_op_init(&ops[1], pth("m/async"), 0);
	rc = zoo_amulti(zh, 2, ops, res, void_cb, &d);
	is_int(rc, ZOK, "amulti queued");
	is_int(done_wait(&d, WAIT_MS), ZOK, "amulti completes with ZOK");
}

static void auth_cb_wait(zhandle_t *zh, const char *scheme, const char *cred, int *rc)
{
	struct done d;
	done_init(&d);
	*rc = zoo_add_auth(zh, scheme, cred, (int)strlen(cred), void_cb, &d);
	if (*rc == ZOK)
		*rc = done_wait(&d, WAIT_MS);
}

static void test_acl(zhandle_t *zh)
{
	struct evq qa, qf;
	zhandle_t *a, *f;
	struct ACL bad_scheme[] = { { ZOO_PERM_ALL, { "bogus", "x" } } };
	struct ACL bad_ip[] = { { ZOO_PERM_ALL, { "ip", "not-an-ip" } } };
	struct ACL digest[] = { { ZOO_PERM_ALL, { "digest", (char *)digest_id } } };
	struct ACL_vector v_bad_scheme = { 1, bad_scheme }, v_bad_ip = { 1, bad_ip };
	struct ACL_vector v_empty = { 0, NULL }, v_digest = { 1, digest };
	struct ACL_vector acl;
	struct Stat st;
	char buf[64];
	int rc, len;

	is_int(zoo_create(zh, pth("acl0"), "", 0, &ZOO_CREATOR_ALL_ACL, 0, NULL, 0),
	       ZINVALIDACL, "auth-scheme ACL without any auth is ZINVALIDACL");
	is_int(zoo_create(zh, pth("acl0"), "", 0, &v_empty, 0, NULL, 0), ZINVALIDACL,
	       "empty ACL is ZINVALIDACL");
	is_int(zoo_create(zh, pth("acl0"), "", 0, &v_bad_scheme, 0, NULL, 0), ZINVALIDACL,
	       "unknown ACL scheme is ZINVALIDACL");
	is_int(zoo_create(zh, pth("acl0"), "", 0, &v_bad_ip, 0, NULL, 0), ZINVALIDACL,
	       "malformed ip ACL is ZINVALIDACL");

	a = session_connect(server, &qa, 10000);
	if (!ok(a != NULL, "session for digest auth")) {
		skip(19, "no session");
		return;
	}
	auth_cb_wait(a, "digest", "zkc:secret", &rc);
	is_int(rc, ZOK, "add_auth digest completes with ZOK");
	is_int(zoo_create(a, pth("acl1"), "s", 1, &ZOO_CREATOR_ALL_ACL, 0, NULL, 0), ZOK,
	       "authenticated create with the creator ACL");
	memset(&acl, 0, sizeof(acl));
	is_int(zoo_get_acl(a, pth("acl1"), &acl, &st), ZOK, "get_acl");
	ok(acl.count == 1 && acl.data[0].perms == ZOO_PERM_ALL &&
	   !strcmp(acl.data[0].id.scheme, "digest"),
	   "auth ACL is stored as one digest entry with all perms");
	is_str(acl.count == 1 ? acl.data[0].id.id : NULL, digest_id,
	       "digest id is user:base64(sha1(user:password))");
	deallocate_ACL_vector(&acl);

	len = sizeof(buf);
	is_int(zoo_get(zh, pth("acl1"), 0, buf, &len, NULL), ZNOAUTH,
	       "unauthenticated get is ZNOAUTH");
	is_int(zoo_set(zh, pth("acl1"), "x", 1, -1), ZNOAUTH, "unauthenticated set is ZNOAUTH");
	is_int(zoo_exists(zh, pth("acl1"), 0, NULL), ZOK, "exists needs no permission");
	is_int(zoo_set_acl(zh, pth("acl1"), -1, &ZOO_OPEN_ACL_UNSAFE), ZNOAUTH,
	       "set_acl without ADMIN is ZNOAUTH");
	is_int(zoo_set_acl(a, pth("acl1"), 5, &ZOO_READ_ACL_UNSAFE), ZBADVERSION,
	       "set_acl with a wrong aversion is ZBADVERSION");
	is_int(zoo_set_acl(a, pth("acl1"), 0, &ZOO_READ_ACL_UNSAFE), ZOK,
	       "set_acl world:anyone READ");
	zoo_exists(zh, pth("acl1"), 0, &st);
	is_int(st.aversion, 1, "set_acl bumped aversion");
	len = sizeof(buf);
	is_int(zoo_get(zh, pth("acl1"), 0, buf, &len, NULL), ZOK, "now readable by anyone");
	is_int(zoo_set(a, pth("acl1"), "x", 1, -1), ZNOAUTH,
	       "but not writable, even by its creator");
	is_int(zoo_create(zh, pth("acl2"), "", 0, &v_digest, 0, NULL, 0), ZOK,
	       "an explicit digest ACL needs no auth to create");
	len = sizeof(buf);
	is_int(zoo_get(a, pth("acl2"), 0, buf, &len, NULL), ZOK,
	       "and is readable by the session holding that digest");
	zookeeper_close(a);

	/* An unknown auth scheme fails the auth packet with ZAUTHFAILED and the
	 * server drops the connection; the client stops in AUTH_FAILED. */
	f = session_connect(server, &qf, 10000);
	if (!ok(f != NULL, "session for a failing auth")) {
		skip(2, "no session");
		return;
	}
	auth_cb_wait(f, "nosuchscheme", "x", &rc);
	is_int(rc, ZAUTHFAILED, "add_auth with an unknown scheme: ZAUTHFAILED");
	ok(evq_wait_state(&qf, ZOO_AUTH_FAILED_STATE, WAIT_MS),
	   "session state becomes ZOO_AUTH_FAILED_STATE");
	zookeeper_close(f);
}

static void test_bad_paths(zhandle_t *zh)
{
	/* All of these are rejected inside the C client before anything is
	 * sent; badinput.py checks the server's own path validation. */
	is_int(zoo_create(zh, "noslash", "", 0, &ZOO_OPEN_ACL_UNSAFE, 0, NULL, 0),
	       ZBADARGUMENTS, "relative path: ZBADARGUMENTS");
	is_int(zoo_create(zh, pth("trailing/"), "", 0, &ZOO_OPEN_ACL_UNSAFE, 0, NULL, 0),
	       ZBADARGUMENTS, "trailing slash: ZBADARGUMENTS");
	is_int(zoo_exists(zh, pth("a//b"), 0, NULL), ZBADARGUMENTS, "empty component: ZBADARGUMENTS");
	is_int(zoo_delete(zh, pth("a/./b"), -1), ZBADARGUMENTS, "'.' component: ZBADARGUMENTS");
	is_int(zoo_create(zh, "/", "", 0, &ZOO_OPEN_ACL_UNSAFE, 0, NULL, 0), ZNODEEXISTS,
	       "create / is ZNODEEXISTS");
	is_int(zoo_delete(zh, pth("nope"), -1), ZNONODE, "delete of a missing node: ZNONODE");
	is_int(zoo_delete(zh, root, -1), ZNOTEMPTY, "delete of a parent: ZNOTEMPTY");
}

static void test_watches(zhandle_t *zh, struct evq *global)
{
	struct evq w;
	struct Stat st;
	char buf[64];
	int len;
	struct String_vector kids;

	evq_init(&w);
	zoo_create(zh, pth("w"), NULL, -1, &ZOO_OPEN_ACL_UNSAFE, 0, NULL, 0);

	is_int(zoo_wexists(zh, pth("w/a"), watcher, &w, &st), ZNONODE,
	       "wexists on a missing node leaves a watch");
	zoo_create(zh, pth("w/a"), "1", 1, &ZOO_OPEN_ACL_UNSAFE, 0, NULL, 0);
	ok(evq_wait(&w, ZOO_CREATED_EVENT, pth("w/a"), WAIT_MS), "ZOO_CREATED_EVENT with the path");

	len = sizeof(buf);
	is_int(zoo_wget(zh, pth("w/a"), watcher, &w, buf, &len, &st), ZOK, "wget");
	zoo_set(zh, pth("w/a"), "2", 1, -1);
	ok(evq_wait(&w, ZOO_CHANGED_EVENT, pth("w/a"), WAIT_MS), "ZOO_CHANGED_EVENT on set");
	/* Watches are one-shot. */
	zoo_set(zh, pth("w/a"), "3", 1, -1);
	barrier(zh);
	is_int(evq_count(&w, ZOO_CHANGED_EVENT, NULL), 0, "a fired watch does not fire again");

	len = sizeof(buf);
	zoo_wget(zh, pth("w/a"), watcher, &w, buf, &len, &st);
	memset(&kids, 0, sizeof(kids));
	is_int(zoo_wget_children(zh, pth("w"), watcher, &w, &kids), ZOK, "wget_children");
	deallocate_String_vector(&kids);
	zoo_delete(zh, pth("w/a"), -1);
	ok(evq_wait(&w, ZOO_DELETED_EVENT, pth("w/a"), WAIT_MS), "ZOO_DELETED_EVENT on delete");
	ok(evq_wait(&w, ZOO_CHILD_EVENT, pth("w"), WAIT_MS),
	   "ZOO_CHILD_EVENT on the parent, with the parent's path");

	/* A child watch on a node that is deleted fires DELETED, not CHILD. */
	zoo_create(zh, pth("w/b"), "", 0, &ZOO_OPEN_ACL_UNSAFE, 0, NULL, 0);
	memset(&kids, 0, sizeof(kids));
	zoo_wget_children(zh, pth("w/b"), watcher, &w, &kids);
	deallocate_String_vector(&kids);
	zoo_delete(zh, pth("w/b"), -1);
	ok(evq_wait(&w, ZOO_DELETED_EVENT, pth("w/b"), WAIT_MS),
	   "child watch on a deleted node fires ZOO_DELETED_EVENT");
	barrier(zh);
	is_int(evq_count(&w, ZOO_CHILD_EVENT, pth("w/b")), 0, "and no ZOO_CHILD_EVENT");

	/* setData does not trigger a child watch on the parent. */
	zoo_create(zh, pth("w/c"), "", 0, &ZOO_OPEN_ACL_UNSAFE, 0, NULL, 0);
	memset(&kids, 0, sizeof(kids));
	zoo_wget_children(zh, pth("w"), watcher, &w, &kids);
	deallocate_String_vector(&kids);
	zoo_set(zh, pth("w/c"), "x", 1, -1);
	barrier(zh);
	is_int(evq_count(&w, ZOO_CHILD_EVENT, pth("w")), 0, "setData on a child is no CHILD event");

	/* watch=1 goes to the handle's global watcher. */
	is_int(zoo_exists(zh, pth("w/c"), 1, &st), ZOK, "exists with watch=1");
	zoo_set(zh, pth("w/c"), "y", 1, -1);
	ok(evq_wait(global, ZOO_CHANGED_EVENT, pth("w/c"), WAIT_MS),
	   "the global watcher gets ZOO_CHANGED_EVENT");

	/* Removing a data watch: the client asks the server with checkWatches
	 * (opcode 17) and drops its own watcher; nothing fires afterwards. */
	len = sizeof(buf);
	zoo_wget(zh, pth("w/c"), watcher, &w, buf, &len, &st);
	is_int(zoo_remove_watches(zh, pth("w/c"), ZWATCHTYPE_DATA, watcher, &w, 0), ZOK,
	       "remove_watches of a data watch");
	is_int(zoo_remove_watches(zh, pth("w/c"), ZWATCHTYPE_DATA, watcher, &w, 0), ZNOWATCHER,
	       "removing it again: ZNOWATCHER (client-side)");
	zoo_set(zh, pth("w/c"), "z", 1, -1);
	barrier(zh);
	is_int(evq_count(&w, ZOO_CHANGED_EVENT, pth("w/c")), 0, "removed watch does not fire");

	/* remove_all_watches (opcode 18) of one type keeps the other type. */
	len = sizeof(buf);
	zoo_wget(zh, pth("w/c"), watcher, &w, buf, &len, &st);
	memset(&kids, 0, sizeof(kids));
	zoo_wget_children(zh, pth("w/c"), watcher, &w, &kids);
	deallocate_String_vector(&kids);
	is_int(zoo_remove_all_watches(zh, pth("w/c"), ZWATCHTYPE_CHILD, 0), ZOK,
	       "remove_all_watches CHILD");
	zoo_create(zh, pth("w/c/k"), "", 0, &ZOO_OPEN_ACL_UNSAFE, 0, NULL, 0);
	zoo_set(zh, pth("w/c"), "q", 1, -1);
	ok(evq_wait(&w, ZOO_CHANGED_EVENT, pth("w/c"), WAIT_MS), "the data watch still fires");
	barrier(zh);
	is_int(evq_count(&w, ZOO_CHILD_EVENT, pth("w/c")), 0, "the child watch does not");
	is_int(zoo_remove_all_watches(zh, pth("w/c"), ZWATCHTYPE_ANY, 0), ZNOWATCHER,
	       "remove_all_watches with none left: ZNOWATCHER (client-side)");

	/* sync: the completion gets the path back; it does not need to exist. */
	{
		struct done d;
		done_init(&d);
		is_int(zoo_async(zh, pth("w"), string_cb, &d), ZOK, "zoo_async (sync) queued");
		is_int(done_wait(&d, WAIT_MS), ZOK, "sync completes with ZOK");
		is_str(d.value, pth("w"), "sync returns the path");
		done_init(&d);
		zoo_async(zh, pth("w/missing"), string_cb, &d);
		is_int(done_wait(&d, WAIT_MS), ZOK, "sync of a missing path is ZOK too");
	}
}

static void test_timeouts(void)
{
	static const struct { int ask, want; } cases[] = {
		{ 1000, 4000 },       /* below minSessionTimeout = 2 * tickTime */
		{ 10000, 10000 },     /* in range: granted as asked */
		{ 1000000, 40000 },   /* above maxSessionTimeout = 20 * tickTime */
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct evq q;
		zhandle_t *zh = session_connect(server, &q, cases[i].ask);
		is_int(zh ? zoo_recv_timeout(zh) : -1, cases[i].want,
		       "session timeout %d ms negotiates to %d", cases[i].ask, cases[i].want);
		if (zh)
			zookeeper_close(zh);
	}
}

static void test_reconnect(zhandle_t *zh, struct proxy *px, const char *via)
{
	struct evq q, w;
	zhandle_t *c;
	char buf[64];
	int len;
	struct Stat st;
	struct String_vector kids;
	int64_t sid;

	c = session_connect(via, &q, 10000);
	if (!ok(c != NULL, "session through the proxy")) {
		skip(7, "no session through the proxy");
		return;
	}
	sid = zoo_client_id(c)->client_id;
	evq_init(&w);
	zoo_create(zh, pth("rw"), "a", 1, &ZOO_OPEN_ACL_UNSAFE, 0, NULL, 0);
	zoo_create(zh, pth("rwd"), "", 0, &ZOO_OPEN_ACL_UNSAFE, 0, NULL, 0);
	len = sizeof(buf);
	zoo_wget(c, pth("rw"), watcher, &w, buf, &len, &st);
	zoo_wexists(c, pth("rw2"), watcher, &w, &st);
	memset(&kids, 0, sizeof(kids));
	zoo_wget_children(c, pth("rwd"), watcher, &w, &kids);
	deallocate_String_vector(&kids);

	proxy_cut(px);
	ok(evq_wait_session(&q, ZOO_CONNECTING_STATE, WAIT_MS),
	   "losing the socket gives a SESSION_EVENT in ZOO_CONNECTING_STATE");
	zoo_set(zh, pth("rw"), "b", 1, -1);
	zoo_create(zh, pth("rw2"), "", 0, &ZOO_OPEN_ACL_UNSAFE, 0, NULL, 0);
	zoo_create(zh, pth("rwd/k"), "", 0, &ZOO_OPEN_ACL_UNSAFE, 0, NULL, 0);
	proxy_open(px);
	ok(evq_wait_session(&q, ZOO_CONNECTED_STATE, WAIT_MS), "reconnects: ZOO_CONNECTED_STATE");
	is_int(zoo_client_id(c)->client_id, sid, "same session after the reconnect");
	/* The client re-registers its watches with setWatches and the server
	 * fires those whose nodes changed after the client's last zxid. */
	ok(evq_wait(&w, ZOO_CHANGED_EVENT, pth("rw"), WAIT_MS),
	   "data watch fires for a change made while disconnected");
	ok(evq_wait(&w, ZOO_CREATED_EVENT, pth("rw2"), WAIT_MS),
	   "exists watch fires for a create made while disconnected");
	ok(evq_wait(&w, ZOO_CHILD_EVENT, pth("rwd"), WAIT_MS),
	   "child watch fires for a child added while disconnected");
	len = sizeof(buf);
	is_int(zoo_get(c, pth("rw"), 0, buf, &len, NULL), ZOK, "session works after reconnect");
	zookeeper_close(c);
}

static void test_reattach(zhandle_t *zh, struct proxy *px, const char *via)
{
	struct evq q1, q2, q3, q4;
	zhandle_t *c, *r, *x;
	clientid_t cid, bogus;
	struct Stat st;
	char path[256];

	/* Reattach: the first handle loses its socket (not its session) and a
	 * second handle takes the session over with zoo_client_id(). */
	c = session_connect(via, &q1, 10000);
	if (!ok(c != NULL, "session through the proxy")) {
		skip(12, "no session");
		return;
	}
	cid = *zoo_client_id(c);
	is_int(zoo_create(c, pth("reat"), "", 0, &ZOO_OPEN_ACL_UNSAFE, ZOO_EPHEMERAL,
			  path, sizeof(path)), ZOK, "ephemeral owned by the first handle");
	proxy_cut(px);
	evq_wait_session(&q1, ZOO_CONNECTING_STATE, WAIT_MS);
	r = session_open(server, &q2, 10000, &cid);
	ok(r && evq_wait_state(&q2, ZOO_CONNECTED_STATE, WAIT_MS),
	   "zookeeper_init with the saved client id connects");
	is_int(r ? zoo_client_id(r)->client_id : 0, cid.client_id, "to the same session id");
	ok(r && !memcmp(zoo_client_id(r)->passwd, cid.passwd, sizeof(cid.passwd)),
	   "with the same password");
	is_int(r ? zoo_recv_timeout(r) : 0, 10000, "and the session timeout");
	zoo_exists(zh, pth("reat"), 0, &st);
	is_int(st.ephemeralOwner, cid.client_id, "the ephemeral survived the socket loss");
	/* c is not connected, so closing it sends no closeSession. */
	zookeeper_close(c);
	proxy_open(px);
	is_int(r ? zoo_create(r, pth("reat/x"), "", 0, &ZOO_OPEN_ACL_UNSAFE, 0, NULL, 0) : 0,
	       ZNOCHILDRENFOREPHEMERALS, "the reattached handle is served");
	if (r)
		zookeeper_close(r);
	is_int(zoo_exists(zh, pth("reat"), 0, NULL), ZNONODE,
	       "closing the reattached handle ends the session");

	/* A closed session, or a wrong password, is reported as expired: the
	 * server answers the ConnectRequest with timeOut 0 and session id 0. */
	x = session_open(server, &q3, 10000, &cid);
	ok(x && evq_wait_state(&q3, ZOO_EXPIRED_SESSION_STATE, WAIT_MS),
	   "reattach to a closed session: ZOO_EXPIRED_SESSION_STATE");
	if (x) {
		is_int(zoo_exists(x, "/", 0, NULL), ZINVALIDSTATE,
		       "an expired handle is unusable (ZINVALIDSTATE)");
		zookeeper_close(x);
	} else {
		skip(1, "no handle");
	}

	c = session_connect(server, &q1, 10000);
	if (c) {
		bogus = *zoo_client_id(c);
		memset(bogus.passwd, 0x5a, sizeof(bogus.passwd));
		x = session_open(server, &q4, 10000, &bogus);
		ok(x && evq_wait_state(&q4, ZOO_EXPIRED_SESSION_STATE, WAIT_MS),
		   "reattach with a wrong password: ZOO_EXPIRED_SESSION_STATE");
		if (x)
			zookeeper_close(x);
		/* ZooKeeper drops the session's current connection before it
		 * checks the password; the owner reconnects and carries on. */
		ok(evq_wait_state(&q1, ZOO_CONNECTED_STATE, WAIT_MS) &&
		   wait_exists_rc(c, "/", ZOK, WAIT_MS) == ZOK,
		   "the real owner keeps its session");
		zookeeper_close(c);
	} else {
		skip(2, "no session");
	}
}

static void test_expiry(zhandle_t *zh, struct proxy *px, const char *via)
{
	struct evq q;
	zhandle_t *c;
	int64_t t0;

	c = session_connect(via, &q, 4000);
	if (!ok(c != NULL, "4 s session through the proxy")) {
		skip(4, "no session");
		return;
	}
	zoo_create(c, pth("exp"), "", 0, &ZOO_OPEN_ACL_UNSAFE, ZOO_EPHEMERAL, NULL, 0);
	proxy_cut(px);
	t0 = now_ms();
	/* The server expires the session some time after 4 s without traffic
	 * (ZooKeeper rounds expiry up to the next tick) and deletes its
	 * ephemerals; the client only learns of it when it reconnects. */
	is_int(wait_exists_rc(zh, pth("exp"), ZNONODE, 15000), ZNONODE,
	       "server expires the session and deletes its ephemeral");
	ok(now_ms() - t0 >= 3500, "not before the session timeout (%" PRId64 " ms)",
	   now_ms() - t0);
	proxy_open(px);
	ok(evq_wait_state(&q, ZOO_EXPIRED_SESSION_STATE, WAIT_MS),
	   "on reconnect the client gets ZOO_EXPIRED_SESSION_STATE");
	is_int(zoo_state(c), ZOO_EXPIRED_SESSION_STATE, "zoo_state reports it too");
	zookeeper_close(c);
}

/* ---------------------------------------------------------------------- */
/* cli_mt, driven line by line through its stdin.                         */

struct cli {
	pid_t pid;
	int in, out;
	char buf[65536];
	size_t len, seen;
};

static int cli_start(struct cli *c, const char *bin, const char *host)
{
	int pin[2], pout[2];

	memset(c, 0, sizeof(*c));
	if (pipe(pin) < 0 || pipe(pout) < 0)
		return -1;
	c->pid = fork();
	if (c->pid < 0)
		return -1;
	if (c->pid == 0) {
		dup2(pin[0], 0);
		dup2(pout[1], 1);
		dup2(pout[1], 2);
		close(pin[1]);
		close(pout[0]);
		execl(bin, bin, "-h", host, (char *)NULL);
		_exit(127);
	}
	close(pin[0]);
	close(pout[1]);
	c->in = pin[1];
	c->out = pout[0];
	fcntl(c->out, F_SETFL, O_NONBLOCK);
	return 0;
}

/* Reads output until `want` appears after everything already matched;
 * consumes it and returns true, or false at the deadline. */
static bool cli_expect(struct cli *c, const char *want, int ms)
{
	int64_t deadline = now_ms() + ms;

	for (;;) {
		char *hit;
		c->buf[c->len] = '\0';
		hit = strstr(c->buf + c->seen, want);
		if (hit) {
			c->seen = (size_t)(hit - c->buf) + strlen(want);
			return true;
		}
		if (now_ms() >= deadline || c->len + 1 >= sizeof(c->buf)) {
			diag("cli_mt output so far:\n%s", c->buf + c->seen);
			return false;
		}
		struct pollfd pf = { .fd = c->out, .events = POLLIN };
		if (poll(&pf, 1, 50) > 0) {
			ssize_t n = read(c->out, c->buf + c->len, sizeof(c->buf) - 1 - c->len);
			if (n > 0)
				c->len += (size_t)n;
			else if (n == 0)
				sleep_ms(20); /* EOF: the process is gone */
		}
	}
}

static bool cli_cmd(struct cli *c, const char *cmd, const char *want)
{
	char line[512];
	int n = snprintf(line, sizeof(line), "%s\n", cmd);

	if (write(c->in, line, (size_t)n) != n)
		return false;
	return cli_expect(c, want, WAIT_MS);
}

static void test_cli(zhandle_t *zh)
{
	const char *bin = getenv("ZKC_CLI_MT");
	struct cli c;
	char cmd[300], want[300], buf[64];
	int status = -1;

	if (!bin)
		bin = "/usr/lib/zookeeper/bin/cli_mt";
	if (access(bin, X_OK) < 0) {
		skip(10, "cli_mt not installed");
		return;
	}
	if (!ok(cli_start(&c, bin, server) == 0, "start %s -h %s", bin, server)) {
		skip(9, "cli_mt did not start");
		return;
	}
	ok(cli_expect(&c, "state = CONNECTED_STATE", WAIT_MS), "cli_mt connects");
	/* cli_mt's create takes no data: the rest of the line is the path. */
	snprintf(cmd, sizeof(cmd), "create %s", pth("cli"));
	snprintf(want, sizeof(want), "[%s]: rc = 0\n\tname = %s\n", pth("cli"), pth("cli"));
	ok(cli_cmd(&c, cmd, want), "cli: create prints rc = 0 and the name");
	snprintf(cmd, sizeof(cmd), "set %s hello", pth("cli"));
	snprintf(want, sizeof(want), "%s: rc = 0 Stat:", pth("cli"));
	ok(cli_cmd(&c, cmd, want) && cli_expect(&c, "\tversion=1\taversion=0", WAIT_MS),
	   "cli: set prints the new stat, version=1");
	snprintf(cmd, sizeof(cmd), "get %s", pth("cli"));
	snprintf(want, sizeof(want), "%s: rc = 0\n value_len = 5\nhello\nStat:", pth("cli"));
	ok(cli_cmd(&c, cmd, want), "cli: get prints value_len and the data");
	snprintf(cmd, sizeof(cmd), "create +s %s", pth("clis-"));
	snprintf(want, sizeof(want), "\tname = %s", pth("clis-"));
	ok(cli_cmd(&c, cmd, want), "cli: create +s makes a sequential node");
	snprintf(cmd, sizeof(cmd), "ls %s", pth("w"));
	snprintf(want, sizeof(want), "%s: rc = 0\n\tc\n", pth("w"));
	ok(cli_cmd(&c, cmd, want), "cli: ls lists the children");
	snprintf(cmd, sizeof(cmd), "delete %s", pth("cli"));
	snprintf(want, sizeof(want), "%s: rc = 0\n", pth("cli"));
	ok(cli_cmd(&c, cmd, want), "cli: delete prints rc = 0");
	snprintf(cmd, sizeof(cmd), "get %s", pth("cli"));
	snprintf(want, sizeof(want), "%s: rc = -101\n", pth("cli"));
	ok(cli_cmd(&c, cmd, want), "cli: get of the deleted node prints rc = -101");
	if (write(c.in, "quit\n", 5) != 5)
		diag("write quit failed");
	close(c.in);
	for (int64_t t = now_ms() + WAIT_MS; now_ms() < t; sleep_ms(20))
		if (waitpid(c.pid, &status, WNOHANG) == c.pid)
			break;
	if (!WIFEXITED(status)) {
		kill(c.pid, SIGKILL);
		waitpid(c.pid, &status, 0);
	}
	close(c.out);
	is_int(get_str(zh, pth("cli"), buf, sizeof(buf)), ZNONODE,
	       "cli's delete is visible to the C client");
}

int main(void)
{
	struct evq gq;
	zhandle_t *zh;
	struct proxy px;
	char via[64];

	server = getenv("COORD_TEST_SERVER");
	if (!server || !*server)
		skip_all("COORD_TEST_SERVER is not set");
	signal(SIGPIPE, SIG_IGN);
	zoo_set_debug_level(getenv("ZKC_DEBUG") ? ZOO_LOG_LEVEL_DEBUG : ZOO_LOG_LEVEL_ERROR);
	zoo_deterministic_conn_order(1);
	snprintf(root, sizeof(root), "/zkc%d", (int)getpid());

	plan(187);
	zh = session_connect(server, &gq, 10000);
	if (!ok(zh != NULL, "connect to %s", server)) {
		done_testing();
		return 1;
	}
	is_int(zoo_create(zh, root, NULL, -1, &ZOO_OPEN_ACL_UNSAFE, 0, NULL, 0), ZOK,
	       "create test root %s", root);
	if (!ok(proxy_start(&px, server) == 0, "start the TCP proxy")) {
		done_testing();
		return 1;
	}
	snprintf(via, sizeof(via), "127.0.0.1:%d", px.port);

	test_null_and_empty_data(zh);
	test_create2_and_stat(zh);
	test_sequential(zh);
	test_ephemeral(zh);
	test_container(zh);
	test_ttl(zh);
	test_multi(zh);
	test_acl(zh);
	test_bad_paths(zh);
	test_watches(zh, &gq);
	test_timeouts();
	test_reconnect(zh, &px, via);
	test_reattach(zh, &px, via);
	test_expiry(zh, &px, via);
	test_cli(zh);

	proxy_stop(&px);
	is_int(zookeeper_close(zh), ZOK, "close the main session");
	return done_testing();
}
