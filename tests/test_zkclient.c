/*
 * test_zkclient.c - the async ZooKeeper client (lib/zkclient.c) against real
 * coordd processes started here: CRUD, create modes, multi, watches,
 * pipelining, auth, close, failover over a server list, reattach across a
 * server restart, and session expiry through a pausable TCP proxy that
 * runs on the test's own loop.
 *
 * Nothing sleeps-then-asserts: WAIT_FOR runs the loop until a condition
 * holds or a deadline passes.  A "barrier" (a round trip on a client) proves
 * that every event the server sent that client before it has arrived,
 * because one session's replies and notifications come in order.
 */
#include "config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <uv.h>

#include "log.h"
#include "tap.h"
#include "xalloc.h"
#include "zkclient.h"

static uv_loop_t loop_storage, *loop = &loop_storage;
static uv_timer_t tick;

static void tick_cb(uv_timer_t *h)
{
	(void)h;
}

/* One loop iteration, at most ~10 ms long. */
static void step(void)
{
	uv_timer_start(&tick, tick_cb, 10, 0);
	uv_run(loop, UV_RUN_ONCE);
}

static uint64_t now(void)
{
	uv_update_time(loop);
	return uv_now(loop);
}

#define WAIT_FOR(cond, ms) ({ \
	uint64_t dl_ = now() + (ms); \
	while (!(cond) && now() < dl_) \
		step(); \
	(bool)(cond); \
})

static void run_for(int ms)
{
	WAIT_FOR(false, (uint64_t)ms);
}

/* ---- coordd processes ---- */

struct server {
	char dir[256];
	char cfg[300];
	int port;
	pid_t pid;
};

static char coordd_bin[1024];

static int free_port(void)
{
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in a;
	socklen_t len = sizeof(a);
	memset(&a, 0, sizeof(a));
	a.sin_family = AF_INET;
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof(a)) ||
	    getsockname(fd, (struct sockaddr *)&a, &len)) {
		perror("free_port");
		exit(1);
	}
	close(fd);
	return ntohs(a.sin_port);
}

static bool port_open(int port)
{
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in a;
	memset(&a, 0, sizeof(a));
	a.sin_family = AF_INET;
	a.sin_port = htons((uint16_t)port);
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	bool up = fd >= 0 && connect(fd, (struct sockaddr *)&a, sizeof(a)) == 0;
	if (fd >= 0)
		close(fd);
	return up;
}

static void server_init(struct server *s)
{
	const char *tmp = getenv("TMPDIR");
	snprintf(s->dir, sizeof(s->dir), "%s/zkclient.XXXXXX", tmp && *tmp ? tmp : "/tmp");
	if (!mkdtemp(s->dir)) {
		perror("mkdtemp");
		exit(1);
	}
	s->port = free_port();
	snprintf(s->cfg, sizeof(s->cfg), "%s/zoo.cfg", s->dir);
	FILE *f = fopen(s->cfg, "w");
	if (!f) {
		perror(s->cfg);
		exit(1);
	}
	/* tickTime 200: sessions may be 400..4000 ms, so expiry is quick. */
	fprintf(f, "tickTime=200\ndataDir=%s/data\nclientPort=%d\nclientPortAddress=127.0.0.1\n"
		   "4lw.commands.whitelist=*\nextendedTypesEnabled=true\nforceSync=no\n"
		   "maxClientCnxns=0\n", s->dir, s->port);
	fclose(f);
}

static bool server_start(struct server *s)
{
	char log[300];
	snprintf(log, sizeof(log), "%s/coordd.log", s->dir);
	fflush(stdout);
	pid_t pid = fork();
	if (pid < 0)
		return false;
	if (pid == 0) {
		FILE *f = freopen(log, "a", stderr);
		(void)f;
		execl(coordd_bin, "coordd", "-c", s->cfg, (char *)NULL);
		_exit(127);
	}
	s->pid = pid;
	int port = s->port;
	if (!WAIT_FOR(port_open(port), 10000)) {
		diag("coordd did not start; see %s", log);
		return false;
	}
	return true;
}

/* Once reaped, pid is 0: WAIT_FOR evaluates its condition more than once. */
static bool server_reaped(struct server *s)
{
	int st;
	if (s->pid > 0 && waitpid(s->pid, &st, WNOHANG) == s->pid)
		s->pid = 0;
	return s->pid == 0;
}

static bool server_stop(struct server *s)
{
	if (s->pid <= 0)
		return true;
	kill(s->pid, SIGTERM);
	bool gone = WAIT_FOR(server_reaped(s), 10000);
	if (!gone) {
		kill(s->pid, SIGKILL);
		waitpid(s->pid, NULL, 0);
		s->pid = 0;
	}
	return gone;
}

static void server_cleanup(struct server *s, bool keep)
{
	if (keep) {
		diag("kept %s for inspection", s->dir);
		return;
	}
	char cmd[400];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", s->dir);
	if (system(cmd) != 0)
		diag("cannot remove %s", s->dir);
}

/* ---- a pausable TCP proxy on the test loop ---- */

struct pair;

struct half {
	uv_tcp_t tcp;
	struct pair *p;
	bool open;
};

struct pair {
	struct pair *next;
	struct proxy *px;
	struct half down, up;
	uv_connect_t creq;
	bool up_started, up_connected, closing;
	int open_handles;
};

struct proxy {
	uv_tcp_t listener;
	int port, target;
	bool paused;
	struct pair *pairs;
	int live;
};

struct wreq {
	uv_write_t w;
	char data[];
};

static void pair_close(struct pair *p);

static void px_alloc(uv_handle_t *h, size_t sz, uv_buf_t *b)
{
	(void)h;
	b->base = malloc(sz);
	b->len = b->base ? sz : 0;
}

static void px_write_cb(uv_write_t *w, int status)
{
	(void)status;
	free(container_of(w, struct wreq, w));
}

static void px_read(uv_stream_t *st, ssize_t n, const uv_buf_t *b)
{
	struct half *h = container_of((uv_tcp_t *)st, struct half, tcp);
	struct pair *p = h->p;
	struct half *other = h == &p->down ? &p->up : &p->down;
	if (n < 0) {
		pair_close(p);
	} else if (n > 0 && !p->closing) {
		struct wreq *w = malloc(sizeof(*w) + (size_t)n);
		memcpy(w->data, b->base, (size_t)n);
		uv_buf_t ub = uv_buf_init(w->data, (unsigned)n);
		if (uv_write(&w->w, (uv_stream_t *)&other->tcp, &ub, 1, px_write_cb)) {
			free(w);
			pair_close(p);
		}
	}
	free(b->base);
}

static void pair_flow(struct pair *p)
{
	if (p->closing || !p->up_connected)
		return;
	if (p->px->paused) {
		uv_read_stop((uv_stream_t *)&p->down.tcp);
		uv_read_stop((uv_stream_t *)&p->up.tcp);
	} else {
		uv_read_start((uv_stream_t *)&p->down.tcp, px_alloc, px_read);
		uv_read_start((uv_stream_t *)&p->up.tcp, px_alloc, px_read);
	}
}

static void px_up_connected(uv_connect_t *req, int status)
{
	struct pair *p = container_of(req, struct pair, creq);
	if (p->closing)
		return;
	if (status) {
		pair_close(p);
		return;
	}
	p->up_connected = true;
	pair_flow(p);
}

static void pair_start_up(struct pair *p)
{
	struct sockaddr_in a;
	p->up_started = true;
	uv_tcp_init(loop, &p->up.tcp);
	p->up.open = true;
	p->open_handles++;
	uv_ip4_addr("127.0.0.1", p->px->target, &a);
	if (uv_tcp_connect(&p->creq, &p->up.tcp, (struct sockaddr *)&a, px_up_connected))
		pair_close(p);
}

static void px_half_closed(uv_handle_t *h)
{
	struct half *hf = container_of((uv_tcp_t *)h, struct half, tcp);
	struct pair *p = hf->p;
	if (--p->open_handles)
		return;
	struct pair **pp = &p->px->pairs;
	while (*pp != p)
		pp = &(*pp)->next;
	*pp = p->next;
	p->px->live--;
	free(p);
}

static void pair_close(struct pair *p)
{
	if (p->closing)
		return;
	p->closing = true;
	if (p->down.open)
		uv_close((uv_handle_t *)&p->down.tcp, px_half_closed);
	if (p->up.open)
		uv_close((uv_handle_t *)&p->up.tcp, px_half_closed);
}

static void px_accept(uv_stream_t *l, int status)
{
	struct proxy *px = container_of((uv_tcp_t *)l, struct proxy, listener);
	if (status)
		return;
	struct pair *p = calloc(1, sizeof(*p));
	p->px = px;
	p->down.p = p->up.p = p;
	uv_tcp_init(loop, &p->down.tcp);
	p->down.open = true;
	p->open_handles = 1;
	p->next = px->pairs;
	px->pairs = p;
	px->live++;
	if (uv_accept(l, (uv_stream_t *)&p->down.tcp)) {
		pair_close(p);
		return;
	}
	/* While paused, a new connection is held: accepted, never forwarded. */
	if (!px->paused)
		pair_start_up(p);
}

static int proxy_start(struct proxy *px, int target)
{
	struct sockaddr_in a;
	memset(px, 0, sizeof(*px));
	px->target = target;
	uv_tcp_init(loop, &px->listener);
	uv_ip4_addr("127.0.0.1", 0, &a);
	int rc = uv_tcp_bind(&px->listener, (struct sockaddr *)&a, 0);
	if (!rc)
		rc = uv_listen((uv_stream_t *)&px->listener, 16, px_accept);
	int len = sizeof(a);
	if (!rc)
		rc = uv_tcp_getsockname(&px->listener, (struct sockaddr *)&a, &len);
	px->port = ntohs(a.sin_port);
	return rc;
}

static void proxy_pause(struct proxy *px, bool paused)
{
	px->paused = paused;
	for (struct pair *p = px->pairs; p; p = p->next) {
		if (!paused && !p->up_started && !p->closing)
			pair_start_up(p);
		else
			pair_flow(p);
	}
}

static void proxy_stop(struct proxy *px)
{
	for (struct pair *p = px->pairs; p; p = p->next)
		pair_close(p);
	uv_close((uv_handle_t *)&px->listener, NULL);
	WAIT_FOR(px->live == 0, 2000);
}

/* ---- clients and results ---- */

struct ev {
	int type;
	char path[128];
};

struct cli {
	struct zkclient *zk;
	enum zkc_state states[32];
	int nstates;
	struct ev ev[512];
	int nev;
	bool closed;
};

static void cli_state(struct zkclient *zk, enum zkc_state st, void *arg)
{
	struct cli *c = arg;
	(void)zk;
	if (c->nstates < 32)
		c->states[c->nstates++] = st;
}

static void cli_watch(struct zkclient *zk, int type, const char *path, void *arg)
{
	struct cli *c = arg;
	(void)zk;
	if (c->nev < 512) {
		c->ev[c->nev].type = type;
		snprintf(c->ev[c->nev].path, sizeof(c->ev[0].path), "%s", path);
		c->nev++;
	}
}

static int count_ev(const struct cli *c, int type, const char *path)
{
	int n = 0;
	for (int i = 0; i < c->nev; i++)
		n += c->ev[i].type == type && !strcmp(c->ev[i].path, path);
	return n;
}

static int cli_new(struct cli *c, const char *servers, int timeout, bool in_order)
{
	memset(c, 0, sizeof(*c));
	struct zkc_options o = {
		.servers = servers,
		.timeout_ms = timeout,
		.on_state = cli_state,
		.on_watch = cli_watch,
		.arg = c,
		.in_order = in_order,
	};
	return zkc_new(&c->zk, loop, &o);
}

static bool cli_open(struct cli *c, int port, int timeout)
{
	char servers[64];
	snprintf(servers, sizeof(servers), "127.0.0.1:%d", port);
	if (cli_new(c, servers, timeout, true))
		return false;
	struct zkclient *zk = c->zk;
	return WAIT_FOR(zkc_state(zk) == ZKC_CONNECTED, 5000);
}

static void on_closed(void *arg)
{
	((struct cli *)arg)->closed = true;
}

static bool cli_close(struct cli *c)
{
	if (!c->zk)
		return true;
	zkc_close(c->zk, on_closed, c);
	c->zk = NULL;
	return WAIT_FOR(c->closed, 5000);
}

struct res {
	bool done;
	int rc;
	int order;
	char path[256];
	bool has_stat;
	struct zk_stat st;
	bool data_null;
	int32_t datalen;
	char data[256];
	int nchildren;
	char children[16][64];
	int nacl;
	struct { int perms; char scheme[32]; char id[128]; } acl[4];
	int nresults;
	struct { int type, err; char path[128]; bool has_stat; struct zk_stat st; } results[8];
};

static int completions;

static void rec_cb(struct zkclient *zk, const struct zkc_result *r, void *arg)
{
	struct res *o = arg;
	(void)zk;
	memset(o, 0, sizeof(*o));
	o->done = true;
	o->rc = r->rc;
	o->order = completions++;
	if (r->path)
		snprintf(o->path, sizeof(o->path), "%s", r->path);
	if (r->stat) {
		o->has_stat = true;
		o->st = *r->stat;
	}
	o->data_null = r->data == NULL;
	o->datalen = r->datalen;
	if (r->data && r->datalen > 0)
		memcpy(o->data, r->data, (size_t)(r->datalen < 255 ? r->datalen : 255));
	o->nchildren = r->nchildren;
	for (int i = 0; i < r->nchildren && i < 16; i++)
		snprintf(o->children[i], sizeof(o->children[i]), "%s", r->children[i]);
	o->nacl = r->nacl;
	for (int i = 0; i < r->nacl && i < 4; i++) {
		o->acl[i].perms = r->acl[i].perms;
		snprintf(o->acl[i].scheme, sizeof(o->acl[i].scheme), "%s", r->acl[i].scheme);
		snprintf(o->acl[i].id, sizeof(o->acl[i].id), "%s", r->acl[i].id);
	}
	o->nresults = r->nresults;
	for (int i = 0; i < r->nresults && i < 8; i++) {
		o->results[i].type = r->results[i].type;
		o->results[i].err = r->results[i].err;
		if (r->results[i].path)
			snprintf(o->results[i].path, sizeof(o->results[i].path), "%s", r->results[i].path);
		if (r->results[i].stat) {
			o->results[i].has_stat = true;
			o->results[i].st = *r->results[i].stat;
		}
	}
}

/* Waits for r; a submission error (-errno) is returned as -1000 + -errno... kept apart. */
#define SUBMIT_FAILED 1000

static int wait_res(int submit_rc, struct res *r)
{
	if (submit_rc)
		return SUBMIT_FAILED;
	WAIT_FOR(r->done, 5000);
	return r->done ? r->rc : -9999;
}

static int create(struct cli *c, const char *path, const char *data, int32_t len, int flags,
		  int64_t ttl, struct res *r)
{
	struct res tmp;
	r = r ? r : &tmp;
	memset(r, 0, sizeof(*r));
	return wait_res(zkc_create(c->zk, path, data, len, NULL, 0, flags, ttl, rec_cb, r), r);
}

static int get(struct cli *c, const char *path, bool watch, struct res *r)
{
	struct res tmp;
	r = r ? r : &tmp;
	memset(r, 0, sizeof(*r));
	return wait_res(zkc_get_data(c->zk, path, watch, rec_cb, r), r);
}

static int set(struct cli *c, const char *path, const char *data, int32_t version)
{
	struct res r;
	memset(&r, 0, sizeof(r));
	return wait_res(zkc_set_data(c->zk, path, data, (int32_t)strlen(data), version, rec_cb, &r),
			&r);
}

static int exists(struct cli *c, const char *path, bool watch, struct res *r)
{
	struct res tmp;
	r = r ? r : &tmp;
	memset(r, 0, sizeof(*r));
	return wait_res(zkc_exists(c->zk, path, watch, rec_cb, r), r);
}

static int children(struct cli *c, const char *path, bool watch, struct res *r)
{
	struct res tmp;
	r = r ? r : &tmp;
	memset(r, 0, sizeof(*r));
	return wait_res(zkc_get_children(c->zk, path, watch, rec_cb, r), r);
}

static int del(struct cli *c, const char *path, int32_t version)
{
	struct res r;
	memset(&r, 0, sizeof(r));
	return wait_res(zkc_delete(c->zk, path, version, rec_cb, &r), &r);
}

/* A round trip: every notification sent to c before it has been delivered. */
static bool barrier(struct cli *c)
{
	struct res r;
	memset(&r, 0, sizeof(r));
	return wait_res(zkc_exists(c->zk, "/", false, rec_cb, &r), &r) == ZOK;
}

static bool has_child(const struct res *r, const char *name)
{
	for (int i = 0; i < r->nchildren && i < 16; i++)
		if (!strcmp(r->children[i], name))
			return true;
	return false;
}

static bool is_seq_of(const char *path, const char *prefix)
{
	size_t n = strlen(prefix);
	if (strncmp(path, prefix, n) || strlen(path) != n + 10)
		return false;
	for (size_t i = n; i < n + 10; i++)
		if (path[i] < '0' || path[i] > '9')
			return false;
	return true;
}

/* ---- the tests ---- */

static struct server srv;

static void test_connect(struct cli *a)
{
	ok(a->zk != NULL, "client connects");
	is_int(zkc_state(a->zk), ZKC_CONNECTED, "state CONNECTED");
	ok(a->nstates == 1 && a->states[0] == ZKC_CONNECTED, "on_state saw CONNECTED once");
	ok(zkc_session_id(a->zk) != 0, "session id 0x%llx", (unsigned long long)zkc_session_id(a->zk));
	is_int(zkc_session_timeout(a->zk), 4000, "timeout negotiated down to maxSessionTimeout");
	char want[64];
	snprintf(want, sizeof(want), "127.0.0.1:%d", srv.port);
	is_str(zkc_server(a->zk), want, "zkc_server names the server");
	is_str(zkc_state_name(ZKC_AUTH_FAILED), "AUTH_FAILED", "zkc_state_name");

	struct zkclient *zk;
	struct zkc_options o = { .servers = "" };
	is_int(zkc_new(&zk, loop, &o), -EINVAL, "empty server list refused");
	o.servers = "127.0.0.1:notaport";
	is_int(zkc_new(&zk, loop, &o), -EINVAL, "bad port refused");
	o.servers = "127.0.0.1:2181/chroot";
	is_int(zkc_new(&zk, loop, &o), -EINVAL, "chroot suffix refused");
}

static void test_crud(struct cli *a)
{
	struct res r;
	is_int(create(a, "/crud", "hello", 5, ZCM_PERSISTENT, 0, &r), ZOK, "create /crud");
	is_str(r.path, "/crud", "create returns the path");
	ok(r.has_stat && r.st.version == 0 && r.st.data_length == 5, "create2 returns a stat");
	is_int(create(a, "/crud", "x", 1, ZCM_PERSISTENT, 0, NULL), ZNODEEXISTS, "create again: ZNODEEXISTS");
	is_int(get(a, "/crud", false, &r), ZOK, "getData");
	ok(r.datalen == 5 && !memcmp(r.data, "hello", 5), "getData returns the data");
	is_int(set(a, "/crud", "world!", 0), ZOK, "setData version 0");
	is_int(set(a, "/crud", "again", 0), ZBADVERSION, "setData stale version: ZBADVERSION");
	get(a, "/crud", false, &r);
	ok(r.datalen == 6 && !memcmp(r.data, "world!", 6) && r.st.version == 1, "data and version updated");
	is_int(exists(a, "/crud", false, &r), ZOK, "exists");
	ok(r.has_stat && r.st.version == 1, "exists returns the stat");
	is_int(exists(a, "/crud/none", false, NULL), ZNONODE, "exists on a missing node: ZNONODE");

	/* null vs empty data */
	is_int(create(a, "/crud/null", NULL, -1, ZCM_PERSISTENT, 0, NULL), ZOK, "create with null data");
	is_int(create(a, "/crud/empty", "", 0, ZCM_PERSISTENT, 0, NULL), ZOK, "create with empty data");
	get(a, "/crud/null", false, &r);
	ok(r.data_null && r.datalen == -1, "null data reads back as NULL/-1");
	get(a, "/crud/empty", false, &r);
	ok(!r.data_null && r.datalen == 0, "empty data reads back as non-NULL/0");

	is_int(children(a, "/crud", false, &r), ZOK, "getChildren");
	ok(r.nchildren == 2 && has_child(&r, "null") && has_child(&r, "empty"), "children listed");
	ok(r.has_stat && r.st.num_children == 2, "getChildren2 stat");

	memset(&r, 0, sizeof(r));
	is_int(wait_res(zkc_get_acl(a->zk, "/crud", rec_cb, &r), &r), ZOK, "getACL");
	ok(r.nacl == 1 && r.acl[0].perms == ZPERM_ALL && !strcmp(r.acl[0].scheme, "world") &&
	   !strcmp(r.acl[0].id, "anyone"), "default ACL is world:anyone ALL");
	struct zkc_acl ro = { ZPERM_READ | ZPERM_ADMIN, "world", "anyone" };
	memset(&r, 0, sizeof(r));
	is_int(wait_res(zkc_set_acl(a->zk, "/crud/empty", &ro, 1, -1, rec_cb, &r), &r), ZOK, "setACL");
	is_int(set(a, "/crud/empty", "no", -1), ZNOAUTH, "write after read-only ACL: ZNOAUTH");
	memset(&r, 0, sizeof(r));
	is_int(wait_res(zkc_sync(a->zk, "/crud", rec_cb, &r), &r), ZOK, "sync");
	is_str(r.path, "/crud", "sync returns the path");

	is_int(del(a, "/crud", -1), ZNOTEMPTY, "delete non-empty: ZNOTEMPTY");
	is_int(del(a, "/crud/null", 5), ZBADVERSION, "delete with wrong version: ZBADVERSION");
	is_int(del(a, "/crud/null", -1), ZOK, "delete");
	is_int(del(a, "/crud/empty", -1), ZOK, "delete second");
	is_int(del(a, "/crud", -1), ZOK, "delete parent");
	is_int(get(a, "/crud", false, NULL), ZNONODE, "deleted node: ZNONODE");

	/* Argument checks happen before anything is sent; no callback follows. */
	struct res never;
	memset(&never, 0, sizeof(never));
	is_int(zkc_create(a->zk, "rel", NULL, -1, NULL, 0, 0, 0, rec_cb, &never), -EINVAL, "relative path refused");
	is_int(zkc_create(a->zk, "/a/", NULL, -1, NULL, 0, 0, 0, rec_cb, &never), -EINVAL, "trailing slash refused");
	is_int(zkc_get_data(a->zk, "/a//b", false, rec_cb, &never), -EINVAL, "empty component refused");
	is_int(zkc_get_data(a->zk, "/a/../b", false, rec_cb, &never), -EINVAL, "'..' refused");
	is_int(zkc_create(a->zk, "/a", NULL, 3, NULL, 0, 0, 0, rec_cb, &never), -EINVAL, "NULL data with len>0 refused");
	is_int(zkc_create(a->zk, "/a", NULL, -1, NULL, 0, 9, 0, rec_cb, &never), -EINVAL, "bad create flags refused");
	is_int(zkc_add_watch(a->zk, "/a", 7, rec_cb, &never), -EINVAL, "bad addWatch mode refused");
	ok(barrier(a) && !never.done, "no callback for refused calls");
}

static void test_modes(struct cli *a)
{
	struct res r, r2;
	create(a, "/modes", NULL, -1, ZCM_PERSISTENT, 0, NULL);
	is_int(create(a, "/modes/s-", "", 0, ZCM_PERSISTENT_SEQUENTIAL, 0, &r), ZOK, "sequential create");
	is_int(create(a, "/modes/s-", "", 0, ZCM_PERSISTENT_SEQUENTIAL, 0, &r2), ZOK, "sequential create again");
	ok(is_seq_of(r.path, "/modes/s-") && is_seq_of(r2.path, "/modes/s-") && strcmp(r.path, r2.path) < 0,
	   "sequential names get increasing 10-digit suffixes (%s, %s)", r.path, r2.path);
	is_int(create(a, "/modes/", "", 0, ZCM_PERSISTENT_SEQUENTIAL, 0, &r), ZOK, "sequential with trailing slash");
	ok(is_seq_of(r.path, "/modes/"), "named by the counter alone (%s)", r.path);

	is_int(create(a, "/modes/e", "x", 1, ZCM_EPHEMERAL, 0, &r), ZOK, "ephemeral create");
	ok(r.has_stat && r.st.ephemeral_owner == zkc_session_id(a->zk), "ephemeralOwner is our session");
	is_int(create(a, "/modes/e/child", "x", 1, ZCM_PERSISTENT, 0, NULL), ZNOCHILDRENFOREPHEMERALS,
	       "no children under an ephemeral");
	is_int(create(a, "/modes/es-", "x", 1, ZCM_EPHEMERAL_SEQUENTIAL, 0, &r), ZOK, "ephemeral sequential");
	ok(is_seq_of(r.path, "/modes/es-") && r.st.ephemeral_owner == zkc_session_id(a->zk),
	   "ephemeral sequential name and owner");

	is_int(create(a, "/modes/c", NULL, -1, ZCM_CONTAINER, 0, &r), ZOK, "container create");
	/* ZooKeeper shows clients ephemeralOwner 0 for containers and TTL nodes. */
	ok(r.has_stat && r.st.ephemeral_owner == 0, "container create returns a stat");
	is_int(create(a, "/modes/t", "x", 1, ZCM_PERSISTENT_WITH_TTL, 60000, &r), ZOK, "TTL create");
	ok(r.has_stat && r.st.ephemeral_owner == 0 && r.st.data_length == 1, "TTL create returns a stat");
	is_int(create(a, "/modes/ts-", "x", 1, ZCM_PERSISTENT_SEQUENTIAL_WITH_TTL, 60000, &r), ZOK,
	       "sequential TTL create");
	ok(is_seq_of(r.path, "/modes/ts-"), "sequential TTL name");
	struct res never;
	memset(&never, 0, sizeof(never));
	is_int(zkc_create(a->zk, "/modes/t2", NULL, -1, NULL, 0, ZCM_PERSISTENT_WITH_TTL, 0, rec_cb, &never),
	       -EINVAL, "TTL mode without ttl refused");
	is_int(zkc_create(a->zk, "/modes/t2", NULL, -1, NULL, 0, ZCM_PERSISTENT, 5, rec_cb, &never),
	       -EINVAL, "ttl without a TTL mode refused");
}

static void test_multi(struct cli *a)
{
	struct res r;
	struct zkc_multi *m = zkc_multi_new();
	zkc_multi_create(m, "/mt", "a", 1, NULL, 0, ZCM_PERSISTENT);
	zkc_multi_create(m, "/mt/seq-", NULL, -1, NULL, 0, ZCM_PERSISTENT_SEQUENTIAL);
	zkc_multi_create(m, "/mt/c", NULL, -1, NULL, 0, ZCM_CONTAINER);
	zkc_multi_set_data(m, "/mt", "bb", 2, 0);
	zkc_multi_check(m, "/mt", 1);
	zkc_multi_create(m, "/mt/gone", NULL, -1, NULL, 0, ZCM_PERSISTENT);
	zkc_multi_delete(m, "/mt/gone", 0);
	zkc_multi_create_ttl(m, "/mt/t", NULL, -1, NULL, 0, ZCM_PERSISTENT_WITH_TTL, 60000);
	memset(&r, 0, sizeof(r));
	is_int(wait_res(zkc_multi_submit(a->zk, m, rec_cb, &r), &r), ZOK, "multi succeeds");
	is_int(r.nresults, 8, "one result per op");
	ok(r.results[0].type == ZOP_CREATE && !strcmp(r.results[0].path, "/mt"), "create result has the path");
	ok(r.results[1].type == ZOP_CREATE && is_seq_of(r.results[1].path, "/mt/seq-"),
	   "sequential create in multi (%s)", r.results[1].path);
	ok(r.results[2].type == ZOP_CREATE2 && r.results[2].has_stat && !strcmp(r.results[2].path, "/mt/c"),
	   "container create comes back as create2 with path and stat");
	ok(r.results[3].type == ZOP_SETDATA && r.results[3].has_stat && r.results[3].st.version == 1,
	   "setData result has the new stat");
	ok(r.results[4].type == ZOP_CHECK && !r.results[4].has_stat, "check result is empty");
	ok(r.results[6].type == ZOP_DELETE, "delete result");
	ok(r.results[7].type == ZOP_CREATE2 && r.results[7].has_stat, "TTL create in multi");
	int errs = 0;
	for (int i = 0; i < 8; i++)
		errs += r.results[i].err != 0;
	is_int(errs, 0, "no per-op errors");

	m = zkc_multi_new();
	zkc_multi_create(m, "/mt/new", NULL, -1, NULL, 0, ZCM_PERSISTENT);
	zkc_multi_check(m, "/mt", 7);
	zkc_multi_delete(m, "/mt/absent", -1);
	memset(&r, 0, sizeof(r));
	is_int(wait_res(zkc_multi_submit(a->zk, m, rec_cb, &r), &r), ZBADVERSION,
	       "failed multi reports the first failing op's error");
	is_int(r.nresults, 3, "failed multi: one result per op");
	ok(r.results[0].type == ZOP_ERROR && r.results[0].err == ZOK, "op before the failure: ok");
	ok(r.results[1].type == ZOP_ERROR && r.results[1].err == ZBADVERSION, "the failing op: ZBADVERSION");
	ok(r.results[2].type == ZOP_ERROR && r.results[2].err == ZRUNTIMEINCONSISTENCY,
	   "op after the failure: ZRUNTIMEINCONSISTENCY");
	is_int(exists(a, "/mt/new", false, NULL), ZNONODE, "failed multi changed nothing");

	m = zkc_multi_new();
	zkc_multi_create(m, "/ok", NULL, -1, NULL, 0, ZCM_PERSISTENT);
	zkc_multi_delete(m, "bad path", -1);
	is_int(zkc_multi_submit(a->zk, m, rec_cb, &r), -EINVAL, "multi with a bad op refused");
	m = zkc_multi_new();
	memset(&r, 0, sizeof(r));
	is_int(wait_res(zkc_multi_submit(a->zk, m, rec_cb, &r), &r), ZOK, "empty multi");
	is_int(r.nresults, 0, "empty multi has no results");
}

static void test_watches(struct cli *a, struct cli *b)
{
	struct res r;
	is_int(exists(a, "/w", true, NULL), ZNONODE, "exists watch on a missing node");
	create(b, "/w2", "0", 1, ZCM_PERSISTENT, 0, NULL);
	is_int(get(a, "/w2", true, NULL), ZOK, "getData watch");
	is_int(children(a, "/w2", true, NULL), ZOK, "getChildren watch");
	is_int(exists(a, "/w2", true, NULL), ZOK, "exists watch on an existing node");

	create(b, "/w", NULL, -1, ZCM_PERSISTENT, 0, NULL);
	set(b, "/w", "1", -1);
	set(b, "/w2", "1", -1);
	set(b, "/w2", "2", -1);
	create(b, "/w2/c1", NULL, -1, ZCM_PERSISTENT, 0, NULL);
	create(b, "/w2/c2", NULL, -1, ZCM_PERSISTENT, 0, NULL);
	ok(barrier(a), "barrier");
	is_int(count_ev(a, ZEV_CREATED, "/w"), 1, "exists watch fired NodeCreated once");
	is_int(count_ev(a, ZEV_CHANGED, "/w"), 0, "and not again for a later change");
	is_int(count_ev(a, ZEV_CHANGED, "/w2"), 1, "data watch fired NodeDataChanged once for two sets");
	is_int(count_ev(a, ZEV_CHILD, "/w2"), 1, "child watch fired once for two creates");

	/* re-arm and delete: data and child watches both see the delete */
	del(b, "/w2/c1", -1);
	del(b, "/w2/c2", -1);
	get(a, "/w2", true, NULL);
	children(a, "/w2", true, &r);
	del(b, "/w2", -1);
	ok(barrier(a), "barrier");
	is_int(count_ev(a, ZEV_DELETED, "/w2"), 1, "NodeDeleted delivered once to the re-armed path");
	is_int(count_ev(a, ZEV_CHILD, "/w2"), 1, "the consumed child watch stayed consumed");
	del(b, "/w", -1);
}

static void test_persistent(struct cli *a, struct cli *b)
{
	struct res r;
	memset(&r, 0, sizeof(r));
	is_int(wait_res(zkc_add_watch(a->zk, "/p", ZADDWATCH_PERSISTENT_RECURSIVE, rec_cb, &r), &r),
	       ZOK, "addWatch persistent recursive");
	create(b, "/p", NULL, -1, ZCM_PERSISTENT, 0, NULL);
	create(b, "/p/a", NULL, -1, ZCM_PERSISTENT, 0, NULL);
	create(b, "/p/a/b", NULL, -1, ZCM_PERSISTENT, 0, NULL);
	set(b, "/p/a", "1", -1);
	set(b, "/p/a", "2", -1);
	del(b, "/p/a/b", -1);
	ok(barrier(a), "barrier");
	is_int(count_ev(a, ZEV_CREATED, "/p"), 1, "recursive watch: created /p");
	is_int(count_ev(a, ZEV_CREATED, "/p/a/b"), 1, "recursive watch: created grandchild");
	is_int(count_ev(a, ZEV_CHANGED, "/p/a"), 2, "recursive watch fires on every change (persistent)");
	is_int(count_ev(a, ZEV_DELETED, "/p/a/b"), 1, "recursive watch: deleted grandchild");
	is_int(count_ev(a, ZEV_CHILD, "/p"), 0, "recursive watches send no child events");

	memset(&r, 0, sizeof(r));
	is_int(wait_res(zkc_add_watch(a->zk, "/pp", ZADDWATCH_PERSISTENT, rec_cb, &r), &r), ZOK,
	       "addWatch persistent");
	create(b, "/pp", NULL, -1, ZCM_PERSISTENT, 0, NULL);
	create(b, "/pp/x", NULL, -1, ZCM_PERSISTENT, 0, NULL);
	create(b, "/pp/y", NULL, -1, ZCM_PERSISTENT, 0, NULL);
	set(b, "/pp", "1", -1);
	set(b, "/pp", "2", -1);
	ok(barrier(a), "barrier");
	is_int(count_ev(a, ZEV_CREATED, "/pp"), 1, "persistent watch: created");
	is_int(count_ev(a, ZEV_CHILD, "/pp"), 2, "persistent watch: every child change");
	is_int(count_ev(a, ZEV_CHANGED, "/pp"), 2, "persistent watch: every data change");
	is_int(count_ev(a, ZEV_CREATED, "/pp/x"), 0, "persistent (not recursive): no grandchild events");
}

#define NPIPE 1000
static struct res pipe_res[NPIPE];

static void test_pipeline(struct cli *a)
{
	char path[64];
	int rc = 0;
	create(a, "/pipe", NULL, -1, ZCM_PERSISTENT, 0, NULL);
	memset(pipe_res, 0, sizeof(pipe_res));
	int base = completions;
	for (int i = 0; i < NPIPE && !rc; i++) {
		snprintf(path, sizeof(path), "/pipe/n%04d", i / 3);
		switch (i % 3) {
		case 0:
			rc = zkc_create(a->zk, path, path, (int32_t)strlen(path), NULL, 0, 0, 0, rec_cb,
					&pipe_res[i]);
			break;
		case 1:
			rc = zkc_get_data(a->zk, path, false, rec_cb, &pipe_res[i]);
			break;
		default:
			rc = zkc_exists(a->zk, path, false, rec_cb, &pipe_res[i]);
			break;
		}
	}
	is_int(rc, 0, "%d requests submitted without waiting", NPIPE);
	ok(!pipe_res[0].done, "no callback ran inside the submitting calls");
	ok(WAIT_FOR(pipe_res[NPIPE - 1].done, 20000), "all callbacks ran");
	int in_order = 0, okcount = 0, data_ok = 0;
	for (int i = 0; i < NPIPE; i++) {
		in_order += pipe_res[i].done && pipe_res[i].order == base + i;
		okcount += pipe_res[i].rc == ZOK;
		if (i % 3 == 1) {
			snprintf(path, sizeof(path), "/pipe/n%04d", i / 3);
			data_ok += pipe_res[i].datalen == (int32_t)strlen(path) &&
				   !memcmp(pipe_res[i].data, path, strlen(path));
		}
	}
	is_int(in_order, NPIPE, "callbacks ran in submission order");
	is_int(okcount, NPIPE, "all succeeded");
	is_int(data_ok, NPIPE / 3, "each read saw the create pipelined before it");
}

static void test_auth(struct cli *a, struct cli *b)
{
	struct res r;
	memset(&r, 0, sizeof(r));
	is_int(wait_res(zkc_add_auth(a->zk, "digest", "alice:secret", 12, rec_cb, &r), &r), ZOK,
	       "digest auth accepted");
	struct zkc_acl acl = { ZPERM_ALL, "auth", "" };
	memset(&r, 0, sizeof(r));
	is_int(wait_res(zkc_create(a->zk, "/secret", "s", 1, &acl, 1, ZCM_PERSISTENT, 0, rec_cb, &r), &r),
	       ZOK, "create with the auth ACL");
	is_int(get(a, "/secret", false, NULL), ZOK, "owner can read");
	is_int(get(b, "/secret", false, NULL), ZNOAUTH, "others cannot: ZNOAUTH");

	struct cli c;
	if (!ok(cli_open(&c, srv.port, 4000), "third client connects"))
		return;
	struct res bad, after;
	memset(&bad, 0, sizeof(bad));
	memset(&after, 0, sizeof(after));
	is_int(zkc_add_auth(c.zk, "nosuchscheme", "x", 1, rec_cb, &bad), 0, "unknown scheme submitted");
	WAIT_FOR(bad.done, 5000);
	is_int(bad.rc, ZAUTHFAILED, "auth callback gets ZAUTHFAILED");
	is_int(zkc_state(c.zk), ZKC_AUTH_FAILED, "state AUTH_FAILED");
	ok(c.nstates >= 2 && c.states[c.nstates - 1] == ZKC_AUTH_FAILED, "on_state saw AUTH_FAILED");
	is_int(zkc_get_data(c.zk, "/", false, rec_cb, &after), 0, "request after AUTH_FAILED accepted");
	ok(!after.done, "its callback does not run inside the call");
	WAIT_FOR(after.done, 2000);
	is_int(after.rc, ZAUTHFAILED, "and fails with ZAUTHFAILED from the loop");
	ok(cli_close(&c), "AUTH_FAILED client closes");
	del(a, "/secret", -1);
}

static void test_close(struct cli *b)
{
	struct cli e;
	struct res r, inflight;
	if (!ok(cli_open(&e, srv.port, 4000), "ephemeral owner connects"))
		return;
	is_int(create(&e, "/eph", "x", 1, ZCM_EPHEMERAL, 0, NULL), ZOK, "ephemeral created");
	is_int(exists(b, "/eph", true, NULL), ZOK, "other client watches it");
	memset(&inflight, 0, sizeof(inflight));
	is_int(zkc_get_data(e.zk, "/eph", false, rec_cb, &inflight), 0, "request in flight at close");
	uint64_t t0 = now();
	struct zkclient *ezk = e.zk;
	zkc_close(ezk, on_closed, &e);
	memset(&r, 0, sizeof(r));
	is_int(zkc_exists(ezk, "/", false, rec_cb, &r), -ESHUTDOWN, "requests after zkc_close refused");
	e.zk = NULL;
	ok(WAIT_FOR(e.closed, 5000), "close completes (done callback)");
	ok(inflight.done && inflight.rc == ZOK, "the in-flight request still got its reply (rc %d)", inflight.rc);
	ok(WAIT_FOR(count_ev(b, ZEV_DELETED, "/eph") == 1, 3000), "watcher sees the ephemeral deleted");
	ok(now() - t0 < 2000, "at once, not at session expiry (%llu ms)", (unsigned long long)(now() - t0));
	is_int(exists(b, "/eph", false, NULL), ZNONODE, "ephemeral is gone");
}

static void test_server_list(void)
{
	struct cli c;
	char servers[128];
	int dead = free_port();
	snprintf(servers, sizeof(servers), "127.0.0.1:%d, 127.0.0.1:%d", dead, srv.port);
	is_int(cli_new(&c, servers, 4000, true), 0, "client with a dead first server");
	ok(WAIT_FOR(zkc_state(c.zk) == ZKC_CONNECTED, 5000), "connects to the live one");
	char want[64];
	snprintf(want, sizeof(want), "127.0.0.1:%d", srv.port);
	is_str(zkc_server(c.zk), want, "zkc_server is the live server");
	cli_close(&c);

	snprintf(servers, sizeof(servers), "localhost:%d", srv.port);
	is_int(cli_new(&c, servers, 4000, true), 0, "client given a host name");
	ok(WAIT_FOR(zkc_state(c.zk) == ZKC_CONNECTED, 5000), "resolves and connects");
	cli_close(&c);

	/* Nothing reachable: queued requests time out after the session timeout. */
	snprintf(servers, sizeof(servers), "127.0.0.1:%d", dead);
	cli_new(&c, servers, 600, true);
	struct res r;
	memset(&r, 0, sizeof(r));
	uint64_t t0 = now();
	is_int(zkc_get_data(c.zk, "/", false, rec_cb, &r), 0, "request while no server is up is queued");
	WAIT_FOR(r.done, 3000);
	ok(r.done && r.rc == ZOPERATIONTIMEOUT, "fails with ZOPERATIONTIMEOUT (rc %d)", r.rc);
	ok(now() - t0 >= 550, "after the session timeout (%llu ms)", (unsigned long long)(now() - t0));
	is_int(zkc_state(c.zk), ZKC_CONNECTING, "still CONNECTING");
	ok(cli_close(&c), "closes while connecting");
}

static void test_restart(struct cli *b)
{
	struct cli c;
	struct res r, queued;
	if (!ok(cli_open(&c, srv.port, 4000), "client for the restart test"))
		return;
	int64_t sid = zkc_session_id(c.zk);
	create(&c, "/r-eph", NULL, -1, ZCM_EPHEMERAL, 0, NULL);
	create(&c, "/r-w", "0", 1, ZCM_PERSISTENT, 0, NULL);
	create(&c, "/r-w/k", NULL, -1, ZCM_PERSISTENT, 0, NULL);
	is_int(get(&c, "/r-w", true, NULL), ZOK, "data watch set before restart");
	is_int(children(&c, "/r-w", true, NULL), ZOK, "child watch set before restart");
	is_int(exists(&c, "/r-new", true, NULL), ZNONODE, "exists watch set before restart");
	memset(&r, 0, sizeof(r));
	is_int(wait_res(zkc_add_watch(c.zk, "/r-p", ZADDWATCH_PERSISTENT_RECURSIVE, rec_cb, &r), &r), ZOK,
	       "recursive watch set before restart");
	memset(&r, 0, sizeof(r));
	is_int(wait_res(zkc_add_auth(c.zk, "digest", "bob:pw", 6, rec_cb, &r), &r), ZOK, "auth before restart");
	struct zkc_acl acl = { ZPERM_ALL, "auth", "" };
	memset(&r, 0, sizeof(r));
	is_int(wait_res(zkc_create(c.zk, "/r-sec", "s", 1, &acl, 1, ZCM_PERSISTENT, 0, rec_cb, &r), &r), ZOK,
	       "node only bob may read");
	int64_t zxid_before = zkc_last_zxid(c.zk);
	ok(zxid_before > 0, "last zxid tracked (0x%llx)", (unsigned long long)zxid_before);

	ok(server_stop(&srv), "server stopped (SIGTERM)");
	ok(WAIT_FOR(zkc_state(c.zk) == ZKC_SUSPENDED, 5000), "client SUSPENDED");
	ok(zkc_server(c.zk) == NULL, "no server while suspended");
	memset(&queued, 0, sizeof(queued));
	is_int(zkc_get_data(c.zk, "/r-w", false, rec_cb, &queued), 0, "request made while disconnected");
	run_for(300);
	ok(!queued.done, "it waits for a connection");

	ok(server_start(&srv), "server restarted on the same port and data");
	ok(WAIT_FOR(zkc_state(c.zk) == ZKC_CONNECTED, 5000), "client reconnected");
	is_int(zkc_session_id(c.zk), sid, "same session id");
	WAIT_FOR(queued.done, 3000);
	ok(queued.done && queued.rc == ZOK && queued.datalen == 1,
	   "queued request completed after reconnect (rc %d)", queued.rc);
	int n = c.nstates;
	ok(n >= 3 && c.states[n - 3] == ZKC_CONNECTED && c.states[n - 2] == ZKC_SUSPENDED &&
	   c.states[n - 1] == ZKC_CONNECTED, "states: CONNECTED, SUSPENDED, CONNECTED");

	is_int(exists(b, "/r-eph", false, NULL), ZOK, "ephemeral survived the restart");
	is_int(get(&c, "/r-sec", false, NULL), ZOK, "auth was re-sent on reconnect");
	is_int(get(b, "/r-sec", false, NULL), ZNOAUTH, "(others still cannot read it)");
	set(b, "/r-w", "1", -1);
	create(b, "/r-w/k2", NULL, -1, ZCM_PERSISTENT, 0, NULL);
	create(b, "/r-new", NULL, -1, ZCM_PERSISTENT, 0, NULL);
	create(b, "/r-p", NULL, -1, ZCM_PERSISTENT, 0, NULL);
	create(b, "/r-p/x", NULL, -1, ZCM_PERSISTENT, 0, NULL);
	ok(barrier(&c), "barrier");
	is_int(count_ev(&c, ZEV_CHANGED, "/r-w"), 1, "data watch from before the restart fired");
	is_int(count_ev(&c, ZEV_CHILD, "/r-w"), 1, "child watch from before the restart fired");
	is_int(count_ev(&c, ZEV_CREATED, "/r-new"), 1, "exists watch from before the restart fired");
	is_int(count_ev(&c, ZEV_CREATED, "/r-p/x"), 1, "recursive watch from before the restart fired");
	ok(zkc_last_zxid(c.zk) > zxid_before, "last zxid moved on");

	del(&c, "/r-sec", -1);
	ok(cli_close(&c), "closed");
	del(b, "/r-p/x", -1);
}

/*
 * Through a proxy the test can silence: the client loses the connection
 * (read timeout at 2T/3) while the server still counts down the session
 * (expiry at T after the last packet), which opens a window of about T/3.
 */
static void test_proxy(struct cli *b)
{
	struct proxy px;
	struct cli c;
	char servers[64];
	struct res pend, late;

	if (!ok(proxy_start(&px, srv.port) == 0, "proxy started"))
		return;
	snprintf(servers, sizeof(servers), "127.0.0.1:%d", px.port);
	cli_new(&c, servers, 3000, true);
	if (!ok(WAIT_FOR(zkc_state(c.zk) == ZKC_CONNECTED, 5000), "client connects through the proxy")) {
		cli_close(&c);
		proxy_stop(&px);
		return;
	}
	int64_t sid = zkc_session_id(c.zk);
	is_int(zkc_session_timeout(c.zk), 3000, "session timeout 3000");
	is_int(create(&c, "/x-eph", NULL, -1, ZCM_EPHEMERAL, 0, NULL), ZOK, "ephemeral created");
	create(b, "/x-w", "0", 1, ZCM_PERSISTENT, 0, NULL);
	is_int(get(&c, "/x-w", true, NULL), ZOK, "data watch set");

	/* Pings keep the session alive while the proxy passes traffic. */
	run_for(1500);
	is_int(zkc_state(c.zk), ZKC_CONNECTED, "idle session stays connected (pings)");

	/* A change made while the client is away fires when it reattaches. */
	struct res lost;
	memset(&lost, 0, sizeof(lost));
	proxy_pause(&px, true);
	is_int(zkc_get_data(c.zk, "/x-w", false, rec_cb, &lost), 0, "request sent into the silence");
	ok(WAIT_FOR(zkc_state(c.zk) == ZKC_SUSPENDED, 4000), "client notices the silence (read timeout)");
	ok(lost.done && lost.rc == ZCONNECTIONLOSS, "the request in flight got ZCONNECTIONLOSS (rc %d)", lost.rc);
	is_int(set(b, "/x-w", "1", -1), ZOK, "node changed while the client is away");
	is_int(count_ev(&c, ZEV_CHANGED, "/x-w"), 0, "no event yet");
	proxy_pause(&px, false);
	ok(WAIT_FOR(zkc_state(c.zk) == ZKC_CONNECTED, 3000), "client reattached before expiry");
	is_int(zkc_session_id(c.zk), sid, "same session");
	ok(WAIT_FOR(count_ev(&c, ZEV_CHANGED, "/x-w") == 1, 3000),
	   "setWatches2 with the last zxid fired the missed change");
	del(b, "/x-w", -1);

	/* Now stay away longer than the session timeout. */
	proxy_pause(&px, true);
	ok(WAIT_FOR(zkc_state(c.zk) == ZKC_SUSPENDED, 4000), "client suspended again");
	ok(WAIT_FOR(exists(b, "/x-eph", false, NULL) == ZNONODE, 8000), "server expired the session");
	memset(&pend, 0, sizeof(pend));
	is_int(zkc_get_data(c.zk, "/", false, rec_cb, &pend), 0, "request queued while suspended");
	proxy_pause(&px, false);
	ok(WAIT_FOR(zkc_state(c.zk) == ZKC_EXPIRED, 5000), "client learns of the expiry on reconnect");
	ok(pend.done && pend.rc == ZSESSIONEXPIRED, "pending request gets ZSESSIONEXPIRED (rc %d)", pend.rc);
	ok(c.nstates > 0 && c.states[c.nstates - 1] == ZKC_EXPIRED, "on_state saw EXPIRED");
	memset(&late, 0, sizeof(late));
	is_int(zkc_exists(c.zk, "/", false, rec_cb, &late), 0, "request after expiry accepted");
	ok(!late.done, "not completed inside the call");
	ok(WAIT_FOR(late.done, 2000) && late.rc == ZSESSIONEXPIRED, "fails with ZSESSIONEXPIRED");
	run_for(300);
	is_int(zkc_state(c.zk), ZKC_EXPIRED, "EXPIRED is final (no reconnect)");
	ok(cli_close(&c), "expired client closes");
	proxy_stop(&px);
}

int main(void)
{
	const char *top = getenv("top_builddir");
	snprintf(coordd_bin, sizeof(coordd_bin), "%s/replica/coordd", top && *top ? top : ".");
	if (access(coordd_bin, X_OK))
		skip_all("coordd not built");
	signal(SIGPIPE, SIG_IGN); /* libuv writes with write(2); a dead peer must not kill us */
	log_min_level = LOG_LEVEL_INFO;
	uv_loop_init(loop);
	uv_timer_init(loop, &tick);

	server_init(&srv);
	if (!server_start(&srv)) {
		printf("Bail out! coordd did not start\n");
		return 1;
	}
	struct cli a, b;
	bool up = cli_open(&a, srv.port, 10000) && cli_open(&b, srv.port, 10000);
	if (!up) {
		printf("Bail out! cannot connect\n");
		server_stop(&srv);
		return 1;
	}
	test_connect(&a);
	test_crud(&a);
	test_modes(&a);
	test_multi(&a);
	test_watches(&a, &b);
	test_persistent(&a, &b);
	test_pipeline(&a);
	test_auth(&a, &b);
	test_close(&b);
	test_server_list();
	test_restart(&b);
	test_proxy(&b);

	ok(cli_close(&a) && cli_close(&b), "clients close");
	ok(server_stop(&srv), "server stops");
	uv_close((uv_handle_t *)&tick, NULL);
	uv_run(loop, UV_RUN_DEFAULT);
	is_int(uv_loop_close(loop), 0, "loop closes: no handle left open");
	server_cleanup(&srv, tap_failed > 0);
	return done_testing();
}
