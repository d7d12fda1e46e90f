/*
 * zkclient.h - an asynchronous ZooKeeper-protocol client on libuv, shared by
 * coordfs (the FUSE mount) and coordctl.  One zkclient holds one session and
 * keeps it across connections: it connects to one server of a list, fails
 * over to the others when the connection breaks, reattaches the session with
 * its id and password, and re-registers watches (setWatches2) so no change is
 * missed while disconnected.
 *
 * Threading: every function must be called on the loop thread, and every
 * callback runs on it.  The client writes through lib/stream.c and flushes
 * from a uv_prepare handle of its own.  libuv writes with write(2), so the
 * application must ignore SIGPIPE (coordd does).
 *
 * Requests are pipelined: any number may be in flight; replies come back in
 * the order the requests were sent (the server guarantees FIFO per session).
 * Each request gets exactly one callback:
 *   - with rc = ZOK or a ZooKeeper error code (ZNONODE, ZNODEEXISTS, ...);
 *   - with ZCONNECTIONLOSS if the connection broke before the reply came (the
 *     request may or may not have been applied);
 *   - with ZSESSIONEXPIRED once the session is gone for good;
 *   - with ZOPERATIONTIMEOUT if no connection could carry it within the
 *     session timeout.
 * Requests made while disconnected are queued and sent after reconnecting,
 * unless they time out first.
 *
 * Ownership: data passed in is copied before the call returns; result
 * pointers passed to callbacks are valid only during the callback.
 *
 * Return values: the request functions return 0 (the callback will run) or
 * a negative errno and no callback: -EINVAL for a bad argument (path not
 * absolute/valid, bad flags, NULL data with len > 0, ...), -EMSGSIZE for
 * data over 64 MiB, -ESHUTDOWN after zkc_close().  No callback ever runs
 * inside a zkc_* call: in the EXPIRED and AUTH_FAILED states requests are
 * accepted and fail from the loop with ZSESSIONEXPIRED / ZAUTHFAILED.
 * EXPIRED and AUTH_FAILED are final: the application makes a new client.
 * Data: a NULL pointer with len -1 is null data, len 0 is empty data.
 */
#ifndef COORD_ZKCLIENT_H
#define COORD_ZKCLIENT_H

#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

#include "coord/zk.h"

struct zkclient;

enum zkc_state {
	ZKC_CONNECTING,   /* no session yet, or looking for a server */
	ZKC_CONNECTED,    /* session established on a live connection */
	ZKC_SUSPENDED,    /* connection lost; reconnecting within the session timeout */
	ZKC_EXPIRED,      /* the session is gone: ephemerals deleted, watches lost */
	ZKC_AUTH_FAILED,
	ZKC_CLOSED,
};

/* Session state changes (including every reconnect). */
typedef void (*zkc_state_cb)(struct zkclient *zk, enum zkc_state state, void *arg);
/* A watch event: type is ZEV_*, path is the znode's path. */
typedef void (*zkc_watch_cb)(struct zkclient *zk, int type, const char *path, void *arg);

struct zkc_options {
	const char *servers;  /* "host:port,host:port" */
	int32_t timeout_ms;   /* requested session timeout (default 10000) */
	zkc_state_cb on_state;
	zkc_watch_cb on_watch;
	void *arg;
	bool read_only;       /* send the readOnly flag */
	/*
	 * Try the servers in the order listed.  By default the client starts
	 * at a random entry (ZooKeeper shuffles the list) so many clients
	 * given the same list spread over the ensemble.
	 */
	bool in_order;
};

/* Creates the client and starts connecting.  Returns 0 or -errno. */
int zkc_new(struct zkclient **out, uv_loop_t *loop, const struct zkc_options *opt);
/*
 * Closes the session (closeSession, ephemerals go at once) and the
 * connection; pending requests get ZCLOSING.  done runs once everything is
 * released; then zk is freed.
 *
 * Details: when connected, closeSession is sent after what is in flight, and
 * those requests still get their replies; anything else (queued while
 * disconnected, or in flight when the connection or the wait for the
 * closeSession reply, at most 2/3 of the timeout, ends) gets ZCLOSING.  Not
 * connected, nothing is sent and ephemerals stay until the server expires
 * the session.  From the call on, watch and state callbacks stop (CLOSED is
 * reported by done, not on_state), and new requests return -ESHUTDOWN.
 * Callbacks still due run from the loop before done.  A second call is
 * ignored.
 */
void zkc_close(struct zkclient *zk, void (*done)(void *arg), void *arg);
enum zkc_state zkc_state(const struct zkclient *zk);
/* "CONNECTING", "CONNECTED", ... for logs and coordctl. */
const char *zkc_state_name(enum zkc_state state);
int64_t zkc_session_id(const struct zkclient *zk);
int32_t zkc_session_timeout(const struct zkclient *zk);
int64_t zkc_last_zxid(const struct zkclient *zk);
/* The server currently connected to ("host:port"), or NULL. */
const char *zkc_server(const struct zkclient *zk);

/* ACL entries for create/setACL; NULL list = world:anyone ALL. */
struct zkc_acl {
	int32_t perms;
	const char *scheme;
	const char *id;
};

struct zkc_result {
	int rc;
	const struct zk_stat *stat;   /* exists, getData, setData, create2, getChildren2 */
	const char *data;             /* getData (NULL for null data) */
	int32_t datalen;              /* -1 for null data */
	const char *path;             /* create: the created path (sequential suffix included) */
	int32_t nchildren;            /* getChildren2 */
	const char *const *children;
	int32_t nacl;                 /* getACL */
	const struct zkc_acl *acl;
	int32_t nresults;             /* multi: per-op results */
	const struct zkc_op_result *results;
};

struct zkc_op_result {
	int32_t type;
	int32_t err;
	const char *path;
	const struct zk_stat *stat;
};

typedef void (*zkc_cb)(struct zkclient *zk, const struct zkc_result *res, void *arg);

/* flags are ZCM_*; ttl only for the TTL modes (createTTL), else 0. */
int zkc_create(struct zkclient *zk, const char *path, const void *data, int32_t len,
	       const struct zkc_acl *acl, int nacl, int flags, int64_t ttl, zkc_cb cb, void *arg);
int zkc_delete(struct zkclient *zk, const char *path, int32_t version, zkc_cb cb, void *arg);
int zkc_exists(struct zkclient *zk, const char *path, bool watch, zkc_cb cb, void *arg);
int zkc_get_data(struct zkclient *zk, const char *path, bool watch, zkc_cb cb, void *arg);
int zkc_set_data(struct zkclient *zk, const char *path, const void *data, int32_t len,
		 int32_t version, zkc_cb cb, void *arg);
int zkc_get_children(struct zkclient *zk, const char *path, bool watch, zkc_cb cb, void *arg);
int zkc_get_acl(struct zkclient *zk, const char *path, zkc_cb cb, void *arg);
int zkc_set_acl(struct zkclient *zk, const char *path, const struct zkc_acl *acl, int nacl,
		int32_t version, zkc_cb cb, void *arg);
int zkc_sync(struct zkclient *zk, const char *path, zkc_cb cb, void *arg);
/* mode: ZADDWATCH_PERSISTENT or ZADDWATCH_PERSISTENT_RECURSIVE; kept across reconnects. */
int zkc_add_watch(struct zkclient *zk, const char *path, int mode, zkc_cb cb, void *arg);
int zkc_add_auth(struct zkclient *zk, const char *scheme, const void *auth, int32_t len,
		 zkc_cb cb, void *arg);

/* multi: build a list of ops, then submit it as one transaction. */
struct zkc_multi;
struct zkc_multi *zkc_multi_new(void);
void zkc_multi_create(struct zkc_multi *m, const char *path, const void *data, int32_t len,
		      const struct zkc_acl *acl, int nacl, int flags);
/* The same with a ttl, for the TTL modes (createTTL inside the multi). */
void zkc_multi_create_ttl(struct zkc_multi *m, const char *path, const void *data, int32_t len,
			  const struct zkc_acl *acl, int nacl, int flags, int64_t ttl);
void zkc_multi_delete(struct zkc_multi *m, const char *path, int32_t version);
void zkc_multi_set_data(struct zkc_multi *m, const char *path, const void *data, int32_t len,
			int32_t version);
void zkc_multi_check(struct zkc_multi *m, const char *path, int32_t version);
/*
 * Sends and frees m (also on error).  A bad argument given to any of the
 * builders above makes this return -EINVAL.  res->rc is ZOK or the first
 * failing op's error; res->results has one entry per op.
 */
int zkc_multi_submit(struct zkclient *zk, struct zkc_multi *m, zkc_cb cb, void *arg);
void zkc_multi_free(struct zkc_multi *m);

#endif
