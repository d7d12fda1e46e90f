/*
 * session.c - coordctl's one ZooKeeper session (coordctl.h invariants 1-3).
 *
 * lib/zkclient is asynchronous; a command line tool mostly wants one answer
 * after another.  Each request here is sent with ctl_reply_cb as its
 * callback, and ctl_wait() runs the loop until that callback has copied the
 * result out.  Several requests can be in flight at once (ls -l, rm -r):
 * each reply points at a struct ctl_batch that counts them down.
 *
 * Timeouts are zkclient's: a request that no connection could carry within
 * the session timeout fails with ZOPERATIONTIMEOUT, so an unreachable
 * ensemble makes every command fail after -t milliseconds with exit code 4.
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "coordctl.h"
#include "xalloc.h"

/* How many times a read is sent when the connection drops under it. */
#define READ_TRIES 3

static void on_state(struct zkclient *zk, enum zkc_state state, void *arg)
{
	struct ctl *c = arg;
	(void)zk;
	c->state = state;
	if (state == ZKC_CONNECTED)
		c->ever_connected = true;
	if (c->on_state)
		c->on_state(c, state);
}

static void on_watch(struct zkclient *zk, int type, const char *path, void *arg)
{
	struct ctl *c = arg;
	(void)zk;
	if (c->on_watch)
		c->on_watch(c, type, path);
}

int ctl_connect(struct ctl *c)
{
	struct zkc_options zo;
	memset(&zo, 0, sizeof(zo));
	zo.servers = c->servers;
	zo.timeout_ms = c->timeout_ms;
	zo.on_state = on_state;
	zo.on_watch = on_watch;
	zo.arg = c;
	c->state = ZKC_CONNECTING;
	int err = zkc_new(&c->zk, c->loop, &zo);
	if (err < 0) {
		c->zk = NULL;
		ctl_msg("bad server list '%s': %s", c->servers, strerror(-err));
		return CTL_USAGE;
	}
	if (c->auth) {
		const char *colon = strchr(c->auth, ':');
		if (!colon || colon == c->auth) {
			ctl_msg("-a wants SCHEME:CREDENTIALS, e.g. digest:user:password");
			return CTL_USAGE;
		}
		char *scheme = xstrndup(c->auth, (size_t)(colon - c->auth));
		struct ctl_reply r;
		memset(&r, 0, sizeof(r));
		err = zkc_add_auth(c->zk, scheme, colon + 1, (int32_t)strlen(colon + 1),
				   ctl_reply_cb, &r);
		free(scheme);
		if (err < 0)
			ctl_reply_refused(&r, err);
		int rc = ctl_wait(c, &r);
		ctl_reply_free(&r);
		if (rc != ZOK) {
			const char *saved = c->cmd;
			c->cmd = "auth";
			int code = ctl_fail(c, NULL, rc, false);
			c->cmd = saved;
			return code;
		}
	}
	return CTL_OK;
}

static void closed(void *arg)
{
	*(bool *)arg = true;
}

void ctl_close(struct ctl *c)
{
	if (!c->zk)
		return;
	bool done = false;
	c->on_state = NULL;
	c->on_watch = NULL;
	zkc_close(c->zk, closed, &done);
	while (!done)
		uv_run(c->loop, UV_RUN_ONCE);
	c->zk = NULL;
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

void ctl_reply_cb(struct zkclient *zk, const struct zkc_result *res, void *arg)
{
	struct ctl_reply *r = arg;
	(void)zk;
	r->rc = res->rc;
	if (res->stat) {
		r->has_stat = true;
		r->stat = *res->stat;
	}
	r->datalen = -1;
	if (res->data && res->datalen >= 0) {
		/* One byte more, so text data can be used as a C string. */
		r->data = xmalloc((size_t)res->datalen + 1);
		memcpy(r->data, res->data, (size_t)res->datalen);
		r->data[res->datalen] = 0;
		r->datalen = res->datalen;
	}
	if (res->path)
		r->path = xstrdup(res->path);
	if (res->children && res->nchildren > 0) {
		r->nchildren = res->nchildren;
		r->children = xcalloc((size_t)res->nchildren, sizeof(char *));
		for (int32_t i = 0; i < res->nchildren; i++)
			r->children[i] = xstrdup(res->children[i]);
		qsort(r->children, (size_t)r->nchildren, sizeof(char *), cmp_str);
	}
	r->done = true;
	if (r->batch)
		r->batch->pending--;
}

void ctl_reply_free(struct ctl_reply *r)
{
	free(r->data);
	free(r->path);
	for (int32_t i = 0; i < r->nchildren; i++)
		free(r->children[i]);
	free(r->children);
	struct ctl_batch *b = r->batch;
	memset(r, 0, sizeof(*r));
	r->batch = b;
}

void ctl_reply_refused(struct ctl_reply *r, int err)
{
	r->rc = err == -EMSGSIZE ? ZMARSHALLINGERROR : err == -ESHUTDOWN ? ZCLOSING : ZBADARGUMENTS;
	r->datalen = -1;
	r->done = true;
	if (r->batch)
		r->batch->pending--;
}

int ctl_wait(struct ctl *c, struct ctl_reply *r)
{
	while (!r->done)
		uv_run(c->loop, UV_RUN_ONCE);
	return r->rc;
}

void ctl_wait_batch(struct ctl *c, struct ctl_batch *b)
{
	while (b->pending > 0)
		uv_run(c->loop, UV_RUN_ONCE);
}

/* Sends a read again when the connection broke under it (invariant 3). */
#define READ_RETRYING(c, r, call)                                            \
	do {                                                                 \
		for (int try_ = 1;; try_++) {                                \
			ctl_reply_free(r);                                   \
			int err_ = (call);                                   \
			if (err_ < 0) {                                      \
				ctl_reply_refused((r), err_);                \
				return (r)->rc;                              \
			}                                                    \
			if (ctl_wait((c), (r)) != ZCONNECTIONLOSS || try_ == READ_TRIES) \
				return (r)->rc;                              \
		}                                                            \
	} while (0)

int ctl_get(struct ctl *c, const char *path, struct ctl_reply *r)
{
	READ_RETRYING(c, r, zkc_get_data(c->zk, path, false, ctl_reply_cb, r));
}

int ctl_exists(struct ctl *c, const char *path, bool watch, struct ctl_reply *r)
{
	READ_RETRYING(c, r, zkc_exists(c->zk, path, watch, ctl_reply_cb, r));
}

int ctl_children(struct ctl *c, const char *path, struct ctl_reply *r)
{
	READ_RETRYING(c, r, zkc_get_children(c->zk, path, false, ctl_reply_cb, r));
}

int ctl_create(struct ctl *c, const char *path, const void *data, int32_t len, int flags,
	       struct ctl_reply *r)
{
	ctl_reply_free(r);
	int err = zkc_create(c->zk, path, data, len, NULL, 0, flags, 0, ctl_reply_cb, r);
	if (err < 0)
		ctl_reply_refused(r, err);
	return ctl_wait(c, r);
}

int ctl_delete(struct ctl *c, const char *path, int32_t version)
{
	struct ctl_reply r;
	memset(&r, 0, sizeof(r));
	int err = zkc_delete(c->zk, path, version, ctl_reply_cb, &r);
	if (err < 0)
		ctl_reply_refused(&r, err);
	int rc = ctl_wait(c, &r);
	ctl_reply_free(&r);
	return rc;
}

int ctl_set(struct ctl *c, const char *path, const void *data, int32_t len, int32_t version,
	    struct ctl_reply *r)
{
	ctl_reply_free(r);
	int err = zkc_set_data(c->zk, path, data, len, version, ctl_reply_cb, r);
	if (err < 0)
		ctl_reply_refused(r, err);
	return ctl_wait(c, r);
}

int ctl_create_parents(struct ctl *c, const char *path)
{
	char *p = xstrdup(path);
	int rc = ZOK;
	struct ctl_reply r;
	memset(&r, 0, sizeof(r));
	/* Each ancestor from the top: "/a", "/a/b", ... (not path itself). */
	for (char *slash = strchr(p + 1, '/'); slash; slash = strchr(slash + 1, '/')) {
		*slash = 0;
		rc = ctl_create(c, p, NULL, -1, ZCM_PERSISTENT, &r);
		*slash = '/';
		if (rc == ZNODEEXISTS)
			rc = ZOK;
		if (rc != ZOK)
			break;
	}
	ctl_reply_free(&r);
	free(p);
	return rc;
}

int ctl_exit_code(int rc)
{
	switch (rc) {
	case ZOK:
		return CTL_OK;
	case ZCONNECTIONLOSS:
	case ZOPERATIONTIMEOUT:
	case ZSESSIONEXPIRED:
	case ZSESSIONMOVED:
	case ZCLOSING:
		return CTL_CONN;
	default:
		return CTL_ZKERR;
	}
}

int ctl_fail(struct ctl *c, const char *path, int rc, bool write)
{
	char what[256];
	const char *name = zk_errname(rc);
	switch (rc) {
	case ZOPERATIONTIMEOUT:
		if (c->ever_connected)
			snprintf(what, sizeof(what), "no server reachable within %d ms",
				 c->timeout_ms);
		else
			snprintf(what, sizeof(what), "cannot connect to %s within %d ms",
				 c->servers, c->timeout_ms);
		break;
	case ZCONNECTIONLOSS:
		snprintf(what, sizeof(what), "%s", write ?
			 "connection lost; the change may or may not have been applied" :
			 "connection lost");
		break;
	default:
		if (name)
			snprintf(what, sizeof(what), "%s (%s)", zk_strerror(rc), name);
		else
			snprintf(what, sizeof(what), "error %d", rc);
		break;
	}
	if (path)
		ctl_msg("%s %s: %s", c->cmd, path, what);
	else
		ctl_msg("%s: %s", c->cmd, what);
	return ctl_exit_code(rc);
}
