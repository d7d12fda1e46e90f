/*
 * coordctl.h - the command line client: shared pieces of ctl/.
 *
 *   main.c      argv, global options, the command table, exit codes
 *   session.c   one ZooKeeper session (lib/zkclient) driven synchronously:
 *               a request is sent, then the loop runs until its reply
 *   cmd_node.c  get, set, create, rm, ls, stat, exists
 *   cmd_watch.c watch
 *   cmd_lock.c  lock (ZooKeeper's lock recipe, kazoo's node names)
 *   cmd_status.c status (the srvr four-letter word of every server)
 *
 * coordctl is a plain ZooKeeper client: every command works against Apache
 * ZooKeeper as well as coordd.  Data goes to stdout byte for byte; every
 * error goes to stderr as "coordctl: COMMAND PATH: what (CODE)".
 *
 * Invariants:
 * (1) One session per run, made by ctl_connect() only when a command needs
 *     it (after its arguments were checked), and closed by main() with
 *     closeSession, so ephemeral and lock nodes go at once.
 * (2) Everything runs on the one loop thread; a "synchronous" call runs the
 *     loop until its reply came, so timers, signals and watch events keep
 *     being served meanwhile.
 * (3) A read that fails with ZCONNECTIONLOSS is sent again; a write is not
 *     (it may have been applied) and is reported as such.
 */
#ifndef COORD_CTL_COORDCTL_H
#define COORD_CTL_COORDCTL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "coord/zk.h"
#include "zkclient.h"

/* Exit codes (documented in coordctl(1)). */
enum {
	CTL_OK = 0,
	CTL_NO = 1,     /* the answer is no: exists false, lock busy or timed out */
	CTL_USAGE = 2,  /* bad command line */
	CTL_ZKERR = 3,  /* the server refused: no node, bad version, not empty, ... */
	CTL_CONN = 4,   /* no server reachable within the timeout, or session lost */
};

#define CTL_DEFAULT_SERVERS "127.0.0.1:2181"
#define CTL_DEFAULT_TIMEOUT 10000

struct ctl;
typedef void (*ctl_state_hook)(struct ctl *c, enum zkc_state state);
typedef void (*ctl_watch_hook)(struct ctl *c, int type, const char *path);

struct ctl {
	uv_loop_t *loop;
	const char *servers;
	int timeout_ms;            /* requested session timeout */
	const char *auth;          /* -a SCHEME:CREDENTIALS, or NULL */
	const char *cmd;           /* the command's name, for messages */
	struct zkclient *zk;
	enum zkc_state state;
	bool ever_connected;
	/* Set by watch and lock to follow the session and its events. */
	ctl_state_hook on_state;
	ctl_watch_hook on_watch;
	void *hook_arg;
};

/* A batch of requests in flight together; see ctl_wait_batch(). */
struct ctl_batch {
	int pending;
};

/*
 * A reply, copied out of the zkclient callback (whose pointers live only
 * during the callback).  Zero it before use; ctl_reply_free() releases it.
 */
struct ctl_reply {
	bool done;
	int rc;                    /* ZOK or a ZooKeeper error code */
	bool has_stat;
	struct zk_stat stat;
	char *data;                /* getData: NULL for null data */
	int32_t datalen;           /* -1 for null data */
	char *path;                /* create: the path made */
	char **children;           /* getChildren2, sorted */
	int32_t nchildren;
	struct ctl_batch *batch;   /* counted down when done, if set */
};

/* ---- session.c ---- */

/* Starts the session (and sends -a's auth).  Returns CTL_OK or CTL_USAGE. */
int ctl_connect(struct ctl *c);
/* closeSession, waiting at most for what zkc_close() allows. */
void ctl_close(struct ctl *c);

/* The zkclient callback that fills a struct ctl_reply (arg). */
void ctl_reply_cb(struct zkclient *zk, const struct zkc_result *res, void *arg);
void ctl_reply_free(struct ctl_reply *r);
/*
 * Marks r done with rc when a zkc_* call refused it (negative errno): a
 * bad path or data becomes ZBADARGUMENTS / ZMARSHALLINGERROR.
 */
void ctl_reply_refused(struct ctl_reply *r, int err);
/* Runs the loop until r is done; returns r->rc. */
int ctl_wait(struct ctl *c, struct ctl_reply *r);
/* Runs the loop until every request of b is done. */
void ctl_wait_batch(struct ctl *c, struct ctl_batch *b);

/* Synchronous requests; each returns the reply's rc.  Reads retry (3). */
int ctl_get(struct ctl *c, const char *path, struct ctl_reply *r);
int ctl_exists(struct ctl *c, const char *path, bool watch, struct ctl_reply *r);
int ctl_children(struct ctl *c, const char *path, struct ctl_reply *r);
int ctl_create(struct ctl *c, const char *path, const void *data, int32_t len, int flags,
	       struct ctl_reply *r);
int ctl_delete(struct ctl *c, const char *path, int32_t version);
int ctl_set(struct ctl *c, const char *path, const void *data, int32_t len, int32_t version,
	    struct ctl_reply *r);
/* Creates every missing ancestor of path (persistent, null data). */
int ctl_create_parents(struct ctl *c, const char *path);

/*
 * Reports a failed request on stderr ("coordctl: CMD PATH: no node
 * (NONODE)") and returns the exit code for rc.  write: the request changes
 * something, so a lost connection may or may not have applied it.
 */
int ctl_fail(struct ctl *c, const char *path, int rc, bool write);
/* CTL_CONN for connection and session errors, else CTL_ZKERR. */
int ctl_exit_code(int rc);

/* ---- main.c: output and messages ---- */

/* "coordctl: " + message + "\n" on stderr. */
void ctl_msg(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/*
 * Writes to stdout (buffered).  A reader that went away (EPIPE) ends the
 * process with SIGPIPE, as for any filter; another write error ends it
 * with a message and exit code CTL_NO.
 */
void ctl_out(const void *p, size_t n);
void ctl_printf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void ctl_flush(void);
/*
 * getopt_long for a command's own options (argv[0] is the command): errors
 * are reported as "coordctl: CMD: ..." and come back as '?'.
 */
struct option;
int ctl_getopt(struct ctl *c, int argc, char **argv, const char *optstring,
	       const struct option *longopts);
/* "usage: coordctl SYNOPSIS" on stderr; returns CTL_USAGE. */
int ctl_usage(const char *synopsis);
/* A ZooKeeper path check (PathUtils.validatePath); reports and returns false. */
bool ctl_path_ok(struct ctl *c, const char *path, bool sequential);
/* parent + "/" + name, malloc'ed. */
char *ctl_join(const char *parent, const char *name);
/* A decimal int32 argument, or reports and returns false. */
bool ctl_parse_int32(struct ctl *c, const char *opt, const char *s, int32_t *out);

/* ---- the commands ---- */

int cmd_get(struct ctl *c, int argc, char **argv);
int cmd_set(struct ctl *c, int argc, char **argv);
int cmd_create(struct ctl *c, int argc, char **argv);
int cmd_rm(struct ctl *c, int argc, char **argv);
int cmd_ls(struct ctl *c, int argc, char **argv);
int cmd_stat(struct ctl *c, int argc, char **argv);
int cmd_exists(struct ctl *c, int argc, char **argv);
int cmd_watch(struct ctl *c, int argc, char **argv);
int cmd_lock(struct ctl *c, int argc, char **argv);
int cmd_status(struct ctl *c, int argc, char **argv);

#endif
