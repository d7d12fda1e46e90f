/*
 * locks.c - cluster-wide flock(2) and fcntl(2) locks: the ZooKeeper lock
 * recipe (Curator's InterProcessReadWriteLock, ZooKeeper's "Recipes and
 * Solutions: Shared Locks") run by the mount on behalf of its processes.
 *
 * Lock state for the file whose znode is P lives in the cluster, under
 *
 *     /.coordfs/locks/<P with '%' as %25 and '/' as %2F>/
 *
 * (a container node, so the server reaps it once the last lock is gone).
 * Each lock a process takes or waits for is one EPHEMERAL_SEQUENTIAL child
 *
 *     w-<token>-0000000042    exclusive (LOCK_EX, F_WRLCK)
 *     r-<token>-0000000043    shared    (LOCK_SH, F_RDLCK)
 *
 * where <token> is unique to the request in the whole cluster (a random
 * per-process nonce and a counter).  The node of the lowest sequence number
 * holds; a "w-" node is granted when it is the lowest, an "r-" node when no
 * "w-" node is lower.  Waiters are served in sequence order (fair), and a
 * reader queued behind a waiting writer waits too.
 *
 * Notes on the design:
 * (1) Everything runs on the loop thread; no request handler blocks.  A
 *     blocking request (flock without LOCK_NB, F_SETLKW) is parked without
 *     a reply until a re-check grants it.
 * (2) Re-checks are driven by the mount's persistent recursive watch on "/":
 *     every NodeDeleted of a child of a lock directory we wait in (notify.c
 *     calls locks_on_event) and every reconnect (events may have been
 *     missed) re-reads the children.  One getChildren answers every lock of
 *     this mount in that directory.
 * (3) A lock is judged only by a getChildren sent after its node was known
 *     to exist (ready_seq), so a reply in flight from before the create can
 *     never make it look lost.
 * (4) The token makes creates idempotent (Curator's "protected" mode): when
 *     the create's outcome is unknown (connection loss) the mount syncs and
 *     looks for a child with its prefix before creating again, and any
 *     later check deletes a duplicate with a known prefix.
 * (5) A lock is never re-acquired behind the holder's back.  When the
 *     session expires, or a held node disappears (deleted by someone else),
 *     the lock is forgotten and logged as an error: the holder still
 *     believes it holds it, and the mount cannot tell it otherwise.  Parked
 *     waiters fail with ENOLCK.  No node is ever re-created for a lock that
 *     was granted.
 * (6) Every request gets exactly one reply: lk->req is cleared by the one
 *     place that answers it (lk_reply), and an lk is freed only after its
 *     request is answered and no ZooKeeper callback refers to it (cbs).
 * (7) EINTR is returned only from the interrupt callback, i.e. only for a
 *     request the kernel actually interrupted.
 *
 * Owners and release (shared/notes/fuse-lab.md, Q2):
 *  - flock locks belong to fi->lock_owner (one per open file description);
 *    they are dropped by LOCK_UN and at RELEASE with fi->flock_release;
 *  - POSIX locks belong to fi->lock_owner in setlk (the process's
 *    files_struct); they are dropped by F_UNLCK and at every FLUSH with
 *    that owner (POSIX: any close of the file drops the process's locks);
 *  - at RELEASE every lock taken through the handle (fi->fh) is dropped as
 *    well, which also covers open-file-description (F_OFD_*) locks, whose
 *    owner is the open file and never comes with a FLUSH.
 *
 * Semantics that differ from a local file system:
 *  - POSIX byte ranges are not supported: every fcntl lock covers the whole
 *    file, whatever l_start/l_len say, and F_UNLCK of any range drops it;
 *  - flock and fcntl locks on one file share one queue, so they exclude
 *    each other (as flock over NFS does on Linux);
 *  - conversion (shared <-> exclusive by the same owner) drops the old
 *    lock and queues anew, like flock(2) does; it is not atomic for fcntl;
 *  - a lock re-requested with the type the owner already holds succeeds at
 *    once without a new node;
 *  - F_GETLK reports l_pid only for a holder on this mount, else 0, and
 *    always the whole file as the range;
 *  - a lock belongs to the file's NAME (its znode path when it was taken):
 *    rm and re-create keeps excluding, but after a rename of a locked file
 *    lockers of the new name do not see the old lock;
 *  - a mount cut off from the ensemble cannot know when the server expires
 *    its session: until it reconnects, its holders believe they hold locks
 *    that others may already have taken (as with any ZooKeeper lock).
 *
 * States of one lock request (struct lk):
 *
 *   NEW --> CREATING --> CHECKING --> HELD --> DROPPING --> DEAD
 *             |  ^          |   ^       |
 *             v  |          v   |       +--(node gone, session lost)--> DEAD
 *           FINDING       WAITING
 *
 *   NEW -> CREATING              [lock_request]
 *   CREATING -> CHECKING         [create_done: node made]
 *   CREATING -> FINDING          [create_done: outcome unknown]
 *   FINDING -> CHECKING|CREATING [find_done: our node found | not found]
 *   CHECKING|WAITING -> HELD     [dir_checked: granted]
 *   CHECKING -> WAITING          [dir_checked: not granted, may sleep]
 *   CHECKING -> DROPPING         [dir_checked: not granted, LOCK_NB: EAGAIN]
 *   CHECKING|WAITING -> DROPPING [lk_interrupt: EINTR]
 *   HELD -> DROPPING             [unlock, flush, release, conversion]
 *   DROPPING -> DEAD             [delete_done]
 *   any -> DEAD                  [lk_kill: session expired, node lost]
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include "coordfs.h"
#include "log.h"
#include "xalloc.h"

#define TAG "locks"
#define LOCKS_TOP "/.coordfs"
#define LOCKS_ROOT "/.coordfs/locks"
#define SEQ_DIGITS 10
/* Creates that find the lock directory missing (reaped between tries). */
#define MAX_CREATE_TRIES 8

enum lk_state {
	LK_NEW,      /* not sent yet */
	LK_CREATING, /* create of our node in flight (parents maybe too) */
	LK_FINDING,  /* create's outcome unknown: looking for our node by its prefix */
	LK_CHECKING, /* node exists; waiting for a getChildren sent after it */
	LK_WAITING,  /* parked: an earlier conflicting node exists */
	LK_HELD,     /* granted */
	LK_DROPPING, /* our node is being deleted */
	LK_DEAD,     /* forgotten; freed once no callback refers to it */
};

struct ldir;
struct unlock_ctx;

struct lk {
	struct lk *next;         /* in dir->lks */
	struct ldir *dir;
	enum lk_state state;
	fuse_ino_t ino;
	uint64_t owner;
	uint64_t fh;             /* the handle the lock was taken through */
	uint32_t pid;
	bool posix;
	bool excl;
	bool sleep;
	bool abandon;            /* delete the node once its name is known */
	int create_tries;
	fuse_req_t req;          /* the request to answer, NULL once answered */
	struct unlock_ctx *unlock; /* an unlock waiting for our delete */
	uint64_t ready_seq;      /* first dir check that can see our node */
	int cbs;                 /* ZooKeeper callbacks that refer to this lk */
	char prefix[48];         /* "w-<token>-" */
	char name[80];           /* our node's name, "" until known */
};

struct ldir {
	struct ldir *next;
	char *path;              /* /.coordfs/locks/<escaped file path> */
	char *file;              /* the file's znode path, for logs */
	struct lk *lks;
	bool checking;           /* a getChildren is in flight */
	bool recheck;            /* run another one when it returns */
	uint64_t sent_seq;       /* number of the last getChildren sent */
};

struct unlock_ctx {
	fuse_req_t req;
	int pending;
};

static struct {
	struct ldir *dirs;
	int nlks;                /* live lks, for a quick return in flush/release */
	uint64_t nonce;
	uint64_t counter;
	bool disconnected;       /* a reconnect must re-check everything */
	char host[64];
} L;

/* ---- helpers ---- */

static void init_once(void)
{
	if (L.nonce)
		return;
	if (getrandom(&L.nonce, sizeof(L.nonce), GRND_NONBLOCK) != (ssize_t)sizeof(L.nonce)) {
		struct timespec ts;
		clock_gettime(CLOCK_REALTIME, &ts);
		L.nonce = ((uint64_t)ts.tv_sec << 32) ^ (uint64_t)ts.tv_nsec ^ ((uint64_t)getpid() << 16);
	}
	L.nonce |= 1; /* never 0, which means "not initialised" */
	if (gethostname(L.host, sizeof(L.host) - 1))
		snprintf(L.host, sizeof(L.host), "unknown");
}

/* The lock directory of a file: "/" and "%" escaped as in ops_xattr.c mark_path(). */
static char *dir_path_of(const char *file)
{
	size_t n = strlen(file);
	char *p = xmalloc(sizeof(LOCKS_ROOT) + 1 + 3 * n + 1);
	char *o = p + sprintf(p, "%s/", LOCKS_ROOT);
	for (const char *s = file; *s; s++) {
		if (*s == '/' || *s == '%')
			o += sprintf(o, "%%%02X", (unsigned char)*s);
		else
			*o++ = *s;
	}
	*o = 0;
	return p;
}


/*
 * The files an fcntl lock was ever asked for on, on this mount (never
 * forgotten, however often their inodes are): their read-only opens keep
 * FLUSH, which POSIX locks need to learn of every close (ops_file.c,
 * set_open_flags).
 */
#define POSIX_USED_BUCKETS 256

struct used_file {
	struct used_file *next;
	bool data_file;
	char path[];
};

static struct used_file *posix_used[POSIX_USED_BUCKETS];

static unsigned used_bucket(const char *path)
{
	uint32_t h = 2166136261u;
	for (const unsigned char *s = (const unsigned char *)path; *s; s++)
		h = (h ^ *s) * 16777619u;
	return h % POSIX_USED_BUCKETS;
}

/* Asked at every read-only open: by the inode's own path, no allocation. */
bool locks_posix_used(const struct cfs_inode *in)
{
	for (struct used_file *u = posix_used[used_bucket(in->path)]; u; u = u->next)
		if (u->data_file == in->data_file && !strcmp(u->path, in->path))
			return true;
	return false;
}

static void posix_used_add(const struct cfs_inode *in)
{
	if (locks_posix_used(in))
		return;
	size_t n = strlen(in->path);
	struct used_file *u = xmalloc(sizeof(*u) + n + 1);
	u->data_file = in->data_file;
	memcpy(u->path, in->path, n + 1);
	unsigned b = used_bucket(u->path);
	u->next = posix_used[b];
	posix_used[b] = u;
}

static const char *base_name(const char *path)
{
	const char *s = strrchr(path, '/');
	return s ? s + 1 : path;
}

static struct ldir *dir_find(const char *path)
{
	for (struct ldir *d = L.dirs; d; d = d->next)
		if (!strcmp(d->path, path))
			return d;
	return NULL;
}

static struct ldir *dir_get(const char *file)
{
	char *path = dir_path_of(file);
	struct ldir *d = dir_find(path);
	if (d) {
		free(path);
		return d;
	}
	d = xcalloc(1, sizeof(*d));
	d->path = path;
	d->file = xstrdup(file);
	d->next = L.dirs;
	L.dirs = d;
	return d;
}

static void dir_maybe_free(struct ldir *d)
{
	if (d->lks || d->checking)
		return;
	for (struct ldir **pp = &L.dirs; *pp; pp = &(*pp)->next) {
		if (*pp == d) {
			*pp = d->next;
			break;
		}
	}
	free(d->path);
	free(d->file);
	free(d);
}

static bool retryable(int rc)
{
	return rc == ZCONNECTIONLOSS || rc == ZOPERATIONTIMEOUT;
}

/* The errno for a lock that cannot be had because of the session. */
static int lock_errno(int rc)
{
	if (rc == ZSESSIONEXPIRED || rc == ZAUTHFAILED || rc == ZCLOSING)
		return ENOLCK;
	return zk_to_errno(rc) ? zk_to_errno(rc) : EIO;
}

static void ignore_result(struct zkclient *zk, const struct zkc_result *res, void *arg)
{
	(void)zk;
	(void)res;
	(void)arg;
}

/* ---- the life of an lk ---- */

static void lk_reply(struct lk *k, int err)
{
	if (!k->req)
		return;
	fuse_req_t req = k->req;
	k->req = NULL;
	fuse_reply_err(req, err);
}

static void unlock_ctx_done(struct unlock_ctx *u)
{
	if (--u->pending > 0)
		return;
	fuse_reply_err(u->req, 0);
	free(u);
}

static void lk_free_if_done(struct lk *k)
{
	if (k->state != LK_DEAD || k->cbs > 0)
		return;
	free(k);
}

/* Forgets k: answers what waits on it, unlinks it, frees it when no callback refers to it. */
static void lk_kill(struct lk *k, int err)
{
	if (k->state == LK_DEAD)
		return;
	lk_reply(k, err);
	if (k->unlock) {
		unlock_ctx_done(k->unlock);
		k->unlock = NULL;
	}
	k->state = LK_DEAD;
	L.nlks--;
	struct ldir *d = k->dir;
	for (struct lk **pp = &d->lks; *pp; pp = &(*pp)->next) {
		if (*pp == k) {
			*pp = k->next;
			break;
		}
	}
	k->next = NULL;
	dir_maybe_free(d);
	lk_free_if_done(k);
}

static char *node_path(const struct lk *k, const char *name)
{
	size_t n = strlen(k->dir->path) + 1 + strlen(name) + 1;
	char *p = xmalloc(n);
	snprintf(p, n, "%s/%s", k->dir->path, name);
	return p;
}

static void delete_done(struct zkclient *zk, const struct zkc_result *res, void *arg);

static void send_delete(struct lk *k)
{
	char *p = node_path(k, k->name);
	k->cbs++;
	if (zkc_delete(cfs->zk, p, -1, delete_done, k) < 0) {
		/*
		 * Only after zkc_close or for a bad path.  Callers iterate over
		 * the lists, so k is not freed here: it stays DROPPING and the
		 * node goes with the session.
		 */
		k->cbs--;
		log_error(TAG, "cannot delete %s", p);
		if (k->unlock) {
			unlock_ctx_done(k->unlock);
			k->unlock = NULL;
		}
	}
	free(p);
}

/* Deletes our node; the lk dies when the server confirms. */
static void start_delete(struct lk *k)
{
	k->state = LK_DROPPING;
	send_delete(k);
}

static void delete_done(struct zkclient *zk, const struct zkc_result *res, void *arg)
{
	struct lk *k = arg;
	(void)zk;
	k->cbs--;
	if (k->state == LK_DEAD)
		return lk_free_if_done(k);
	if (retryable(res->rc)) {
		/* It may or may not be gone: delete again (ZNONODE is fine). */
		send_delete(k);
		return;
	}
	if (res->rc != ZOK && res->rc != ZNONODE && res->rc != ZSESSIONEXPIRED)
		log_warn(TAG, "deleting lock node %s/%s: %s", k->dir->path, k->name,
			 zk_strerror(res->rc));
	lk_kill(k, 0);
}

/*
 * Gives k up: the request (if any) was answered by the caller.  What must
 * be undone depends on how far the lock got.
 */
static void lk_abandon(struct lk *k)
{
	switch (k->state) {
	case LK_NEW:
		k->state = LK_DEAD; /* not linked yet: lock_request frees it */
		break;
	case LK_CREATING:
	case LK_FINDING:
		k->abandon = true; /* the callback deletes the node once it is known */
		break;
	case LK_CHECKING:
	case LK_WAITING:
	case LK_HELD:
		start_delete(k);
		break;
	case LK_DROPPING:
	case LK_DEAD:
		break;
	}
}

/* FUSE_INTERRUPT for a lock request: on the loop thread, from libfuse. */
static void lk_interrupt(fuse_req_t req, void *data)
{
	struct lk *k = data;
	if (k->req != req)
		return; /* already answered (libfuse clears this callback on reply) */
	lk_reply(k, EINTR);
	lk_abandon(k);
}

/* ---- checking a lock directory ---- */

struct child {
	uint64_t seq;
	bool excl;
	const char *name;
};

/* "w-<token>-NNNNNNNNNN" or "r-...": a lock node; anything else is ignored. */
static bool parse_child(const char *name, struct child *c)
{
	size_t n = strlen(name);
	if (n < 3 + SEQ_DIGITS || (name[0] != 'w' && name[0] != 'r') || name[1] != '-' ||
	    name[n - SEQ_DIGITS - 1] != '-')
		return false;
	uint64_t seq = 0;
	for (size_t i = n - SEQ_DIGITS; i < n; i++) {
		if (name[i] < '0' || name[i] > '9')
			return false;
		seq = seq * 10 + (uint64_t)(name[i] - '0');
	}
	c->seq = seq;
	c->excl = name[0] == 'w';
	c->name = name;
	return true;
}

static int child_cmp(const void *a, const void *b)
{
	const struct child *x = a, *y = b;
	return x->seq < y->seq ? -1 : x->seq > y->seq;
}

/* Sorted lock nodes of a getChildren reply; *n is set to their number. */
static struct child *sorted_children(const struct zkc_result *res, int *n)
{
	struct child *v = xcalloc((size_t)res->nchildren + 1, sizeof(*v));
	int m = 0;
	for (int i = 0; i < res->nchildren; i++)
		if (parse_child(res->children[i], &v[m]))
			m++;
	qsort(v, (size_t)m, sizeof(*v), child_cmp);
	*n = m;
	return v;
}

static bool granted(const struct child *v, int idx)
{
	if (v[idx].excl)
		return idx == 0;
	for (int i = 0; i < idx; i++)
		if (v[i].excl)
			return false;
	return true;
}

static void dir_checked(struct zkclient *zk, const struct zkc_result *res, void *arg);

/* Re-reads d's children and judges every lock of ours in it (see note 3). */
static void dir_check(struct ldir *d)
{
	if (d->checking) {
		d->recheck = true;
		return;
	}
	d->checking = true;
	d->recheck = false;
	d->sent_seq++;
	if (zkc_get_children(cfs->zk, d->path, false, dir_checked, d) < 0) {
		d->checking = false;
		log_error(TAG, "cannot list %s", d->path);
	}
}

/* Our node is ready: judge it by the next check of its directory. */
static void lk_ready(struct lk *k)
{
	k->state = LK_CHECKING;
	k->ready_seq = k->dir->sent_seq + 1;
	dir_check(k->dir);
}

static bool dir_has_waiters(const struct ldir *d)
{
	for (const struct lk *k = d->lks; k; k = k->next)
		if (k->state == LK_CHECKING || k->state == LK_WAITING)
			return true;
	return false;
}

static void lock_lost(struct lk *k, const char *why)
{
	log_error(TAG, "LOCK LOST: %s lock on %s (%s owner 0x%" PRIx64 ", pid %u, node %s): %s; "
		  "the holder still believes it holds it",
		  k->excl ? "exclusive" : "shared", k->dir->file, k->posix ? "fcntl" : "flock",
		  k->owner, k->pid, k->name, why);
	lk_kill(k, ENOLCK);
}

/* Judges k against the sorted children v (k's node is known to exist). */
static void judge(struct lk *k, const struct child *v, int n)
{
	int idx = -1;
	for (int i = 0; i < n; i++) {
		if (!strcmp(v[i].name, k->name)) {
			idx = i;
			break;
		}
	}
	if (idx < 0) {
		if (k->state == LK_HELD) {
			lock_lost(k, "its node was deleted");
		} else {
			log_warn(TAG, "lock node %s/%s vanished while waiting", k->dir->path, k->name);
			lk_kill(k, ENOLCK);
		}
		return;
	}
	if (k->state == LK_HELD)
		return;
	if (granted(v, idx)) {
		k->state = LK_HELD;
		lk_reply(k, 0);
	} else if (!k->sleep) {
		lk_reply(k, EAGAIN);
		start_delete(k);
	} else {
		k->state = LK_WAITING;
	}
}

static void dir_checked(struct zkclient *zk, const struct zkc_result *res, void *arg)
{
	struct ldir *d = arg;
	uint64_t seq = d->sent_seq;
	(void)zk;
	/* d->checking stays set until the end: it keeps d alive while lks die below. */

	if (res->rc == ZOK || res->rc == ZNONODE) {
		int n = 0;
		struct child *v = res->rc == ZOK ? sorted_children(res, &n) : xcalloc(1, sizeof(*v));
		/* Duplicates of our own nodes from a retried create (note 4). */
		for (int i = 0; i < n; i++) {
			for (struct lk *k = d->lks; k; k = k->next) {
				if (k->name[0] && strcmp(v[i].name, k->name) &&
				    !strncmp(v[i].name, k->prefix, strlen(k->prefix))) {
					log_warn(TAG, "deleting duplicate lock node %s/%s", d->path,
						 v[i].name);
					char *p = node_path(k, v[i].name);
					zkc_delete(cfs->zk, p, -1, ignore_result, NULL);
					free(p);
				}
			}
		}
		struct lk *next;
		for (struct lk *k = d->lks; k; k = next) {
			next = k->next;
			if (k->ready_seq > seq)
				continue;
			if (k->state == LK_CHECKING || k->state == LK_WAITING || k->state == LK_HELD)
				judge(k, v, n);
		}
		free(v);
	} else if (!retryable(res->rc)) {
		/*
		 * The directory cannot be read (ACL, session gone): fail the
		 * requests judged by this check rather than retry for ever.
		 */
		if (d->lks)
			log_warn(TAG, "listing %s: %s", d->path, zk_strerror(res->rc));
		struct lk *next;
		for (struct lk *k = d->lks; k; k = next) {
			next = k->next;
			if ((k->state == LK_CHECKING || k->state == LK_WAITING) && k->ready_seq <= seq) {
				lk_reply(k, lock_errno(res->rc));
				start_delete(k);
			}
		}
	} else {
		d->recheck = true;
	}
	d->checking = false;
	if (d->recheck && dir_has_waiters(d))
		dir_check(d);
	else
		dir_maybe_free(d);
}

/* ---- creating our node ---- */

static void create_done(struct zkclient *zk, const struct zkc_result *res, void *arg);
static void find_done(struct zkclient *zk, const struct zkc_result *res, void *arg);

static void send_create(struct lk *k, bool parents)
{
	char data[160];
	int len = snprintf(data, sizeof(data), "host=%s pid=%u kind=%s type=%s", L.host, k->pid,
			   k->posix ? "fcntl" : "flock", k->excl ? "exclusive" : "shared");
	if (parents) {
		/*
		 * Pipelined: the session is FIFO, so the node's create runs after
		 * these; ZNODEEXISTS from any of them is expected.
		 */
		zkc_create(cfs->zk, LOCKS_TOP, NULL, -1, NULL, 0, ZCM_PERSISTENT, 0, ignore_result, NULL);
		zkc_create(cfs->zk, LOCKS_ROOT, NULL, -1, NULL, 0, ZCM_PERSISTENT, 0, ignore_result, NULL);
		zkc_create(cfs->zk, k->dir->path, NULL, -1, NULL, 0, ZCM_CONTAINER, 0, ignore_result, NULL);
	}
	char *p = node_path(k, k->prefix);
	k->state = LK_CREATING;
	k->create_tries++;
	k->cbs++;
	if (zkc_create(cfs->zk, p, data, len, NULL, 0, ZCM_EPHEMERAL_SEQUENTIAL, 0, create_done, k) < 0) {
		k->cbs--;
		log_error(TAG, "cannot create %s", p);
		lk_kill(k, EIO);
	}
	free(p);
}

/* The create's outcome is unknown: sync, then look for our prefix (note 4). */
static void send_find(struct lk *k)
{
	k->state = LK_FINDING;
	zkc_sync(cfs->zk, k->dir->path, ignore_result, NULL);
	k->cbs++;
	if (zkc_get_children(cfs->zk, k->dir->path, false, find_done, k) < 0) {
		k->cbs--;
		lk_kill(k, EIO);
	}
}

static void create_done(struct zkclient *zk, const struct zkc_result *res, void *arg)
{
	struct lk *k = arg;
	(void)zk;
	k->cbs--;
	if (k->state == LK_DEAD)
		return lk_free_if_done(k);
	if (res->rc == ZOK) {
		snprintf(k->name, sizeof(k->name), "%s", base_name(res->path));
		if (k->abandon)
			start_delete(k);
		else
			lk_ready(k);
		return;
	}
	if (retryable(res->rc)) {
		if (!k->sleep && res->rc == ZOPERATIONTIMEOUT) {
			/* LOCK_NB must not hang for ever; clean up behind the answer. */
			lk_reply(k, ETIMEDOUT);
			k->abandon = true;
		}
		send_find(k);
		return;
	}
	if (k->abandon) {
		lk_kill(k, 0);
		return;
	}
	if (res->rc == ZNONODE && k->create_tries < MAX_CREATE_TRIES) {
		send_create(k, true); /* the lock directory (or its parents) is missing */
		return;
	}
	log_warn(TAG, "lock on %s: creating the node: %s", k->dir->file, zk_strerror(res->rc));
	lk_kill(k, lock_errno(res->rc));
}

static void find_done(struct zkclient *zk, const struct zkc_result *res, void *arg)
{
	struct lk *k = arg;
	(void)zk;
	k->cbs--;
	if (k->state == LK_DEAD)
		return lk_free_if_done(k);
	if (retryable(res->rc)) {
		send_find(k);
		return;
	}
	if (res->rc == ZOK || res->rc == ZNONODE) {
		size_t pl = strlen(k->prefix);
		for (int i = 0; res->rc == ZOK && i < res->nchildren; i++) {
			if (!strncmp(res->children[i], k->prefix, pl)) {
				snprintf(k->name, sizeof(k->name), "%s", res->children[i]);
				if (k->abandon)
					start_delete(k);
				else
					lk_ready(k);
				return;
			}
		}
		/* The create never happened. */
		if (k->abandon)
			lk_kill(k, 0);
		else if (k->create_tries < MAX_CREATE_TRIES)
			send_create(k, res->rc == ZNONODE);
		else
			lk_kill(k, EIO);
		return;
	}
	log_warn(TAG, "lock on %s: looking for our node: %s", k->dir->file, zk_strerror(res->rc));
	lk_kill(k, lock_errno(res->rc));
}

/* ---- the requests ---- */

/*
 * Whether two nodeids are one file.  A path keeps its nodeid unless the
 * kernel view retires it (inode.c, K2/K3): then descriptors opened before
 * stay on the old nodeid and later ones get the new, yet to POSIX they are
 * the same file, and a process's lock taken through one is unlocked,
 * converted and dropped at close through the other.
 */
static bool same_file(fuse_ino_t a, fuse_ino_t b)
{
	if (a == b)
		return true;
	struct cfs_inode *x = inode_get(cfs, a); /* a retired nodeid: its path's inode */
	return x && x == inode_get(cfs, b);
}

static bool same_owner(const struct lk *k, fuse_ino_t ino, uint64_t owner, bool posix)
{
	return k->owner == owner && k->posix == posix && same_file(k->ino, ino);
}

/* Drops every held lock of (ino, owner, posix); req (if any) is answered when all are gone. */
static void drop_owner(fuse_ino_t ino, uint64_t owner, bool posix, fuse_req_t req)
{
	struct unlock_ctx *u = NULL;
	if (req) {
		u = xcalloc(1, sizeof(*u));
		u->req = req;
		u->pending = 1; /* ours, released below */
	}
	for (struct ldir *d = L.dirs; d; d = d->next) {
		for (struct lk *k = d->lks; k; k = k->next) {
			if (k->state != LK_HELD || !same_owner(k, ino, owner, posix))
				continue;
			if (u && !k->unlock) {
				k->unlock = u;
				u->pending++;
			}
			start_delete(k);
		}
	}
	/* start_delete never completes synchronously, so d and k stayed valid above. */
	if (u)
		unlock_ctx_done(u);
}

static struct lk *find_held(struct ldir *d, fuse_ino_t ino, uint64_t owner, bool posix)
{
	for (struct lk *k = d->lks; k; k = k->next)
		if (k->state == LK_HELD && same_owner(k, ino, owner, posix))
			return k;
	return NULL;
}

/*
 * One lock request: type is F_RDLCK, F_WRLCK or F_UNLCK.  Answers req now
 * or from a later callback (exactly once).
 */
static void lock_request(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi, bool posix,
			 int type, bool sleep, uint32_t pid)
{
	struct cfs_inode *in = inode_get(cfs, ino);
	if (!in)
		return (void)fuse_reply_err(req, ENOENT);
	if (type == F_UNLCK)
		return drop_owner(ino, fi->lock_owner, posix, req);
	if (type != F_RDLCK && type != F_WRLCK)
		return (void)fuse_reply_err(req, EINVAL);
	if (posix)
		posix_used_add(in); /* its later read-only opens keep FLUSH */
	init_once();
	bool excl = type == F_WRLCK;
	char *file = inode_file_path(in);
	struct ldir *d = dir_get(file);
	free(file);

	struct lk *held = find_held(d, ino, fi->lock_owner, posix);
	if (held && held->excl == excl) {
		fuse_reply_err(req, 0); /* already held, same type: nothing to do */
		return;
	}
	/* Conversion: drop the old lock first, then queue anew (flock(2) semantics). */
	while ((held = find_held(d, ino, fi->lock_owner, posix)))
		start_delete(held);

	struct lk *k = xcalloc(1, sizeof(*k));
	k->dir = d;
	k->state = LK_NEW;
	k->ino = ino;
	k->owner = fi->lock_owner;
	k->fh = fi->fh;
	k->pid = pid;
	k->posix = posix;
	k->excl = excl;
	k->sleep = sleep;
	k->req = req;
	snprintf(k->prefix, sizeof(k->prefix), "%c-%016" PRIx64 "%" PRIx64 "-", excl ? 'w' : 'r',
		 L.nonce, ++L.counter);
	/*
	 * Before anything is sent or linked: this runs lk_interrupt at once if
	 * the kernel already interrupted the request (k is then answered with
	 * EINTR and marked dead).
	 */
	fuse_req_interrupt_func(req, lk_interrupt, k);
	if (k->state == LK_DEAD) {
		free(k);
		dir_maybe_free(d);
		return;
	}
	k->next = d->lks;
	d->lks = k;
	L.nlks++;
	send_create(k, false);
}

/*
 * Valid replies:
 *   fuse_reply_err
 */
static void op_flock(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi, int op)
{
	int type = (op & LOCK_UN) ? F_UNLCK : (op & LOCK_EX) ? F_WRLCK : F_RDLCK;
	lock_request(req, ino, fi, false, type, !(op & LOCK_NB), (uint32_t)fuse_req_ctx(req)->pid);
}

/*
 * Valid replies:
 *   fuse_reply_err
 *
 * The range in lock is ignored: every POSIX lock covers the whole file.
 */
static void op_setlk(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi, struct flock *lock,
		     int sleep)
{
	uint32_t pid = lock->l_pid > 0 ? (uint32_t)lock->l_pid : (uint32_t)fuse_req_ctx(req)->pid;
	lock_request(req, ino, fi, true, lock->l_type, sleep != 0, pid);
}

struct getlk_ctx {
	fuse_req_t req;
	fuse_ino_t ino;
	uint64_t owner;
	bool excl;
	char *dir;
	struct flock lock;
};

static void getlk_done(struct zkclient *zk, const struct zkc_result *res, void *arg)
{
	struct getlk_ctx *g = arg;
	(void)zk;
	if (res->rc != ZOK && res->rc != ZNONODE) {
		fuse_reply_err(g->req, lock_errno(res->rc));
		goto out;
	}
	int n = 0;
	struct child *v = res->rc == ZOK ? sorted_children(res, &n) : xcalloc(1, sizeof(*v));
	struct ldir *d = dir_find(g->dir);
	struct flock out = g->lock;
	out.l_type = F_UNLCK;
	for (int i = 0; i < n && granted(v, i); i++) {
		if (!g->excl && !v[i].excl)
			continue; /* shared does not conflict with shared */
		const struct lk *mine = NULL;
		for (const struct lk *k = d ? d->lks : NULL; k; k = k->next)
			if (!strcmp(k->name, v[i].name))
				mine = k;
		if (mine && same_owner(mine, g->ino, g->owner, true))
			continue; /* a process's own locks never conflict */
		out.l_type = v[i].excl ? F_WRLCK : F_RDLCK;
		out.l_whence = SEEK_SET;
		out.l_start = 0;
		out.l_len = 0;
		out.l_pid = mine ? (pid_t)mine->pid : 0;
		break;
	}
	free(v);
	fuse_reply_lock(g->req, &out);
out:
	free(g->dir);
	free(g);
}

/*
 * Valid replies:
 *   fuse_reply_lock
 *   fuse_reply_err
 */
static void op_getlk(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi, struct flock *lock)
{
	struct cfs_inode *in = inode_get(cfs, ino);
	if (!in)
		return (void)fuse_reply_err(req, ENOENT);
	if (lock->l_type != F_RDLCK && lock->l_type != F_WRLCK) {
		lock->l_type = F_UNLCK;
		return (void)fuse_reply_lock(req, lock);
	}
	struct getlk_ctx *g = xcalloc(1, sizeof(*g));
	char *file = inode_file_path(in);
	g->req = req;
	g->ino = ino;
	g->owner = fi->lock_owner;
	g->excl = lock->l_type == F_WRLCK;
	g->dir = dir_path_of(file);
	g->lock = *lock;
	free(file);
	if (zkc_get_children(cfs->zk, g->dir, false, getlk_done, g) < 0) {
		fuse_reply_err(req, EIO);
		free(g->dir);
		free(g);
	}
}

/* ---- hooks ---- */

void locks_flush(fuse_ino_t ino, uint64_t owner)
{
	if (L.nlks)
		drop_owner(ino, owner, true, NULL);
}

void locks_release(fuse_ino_t ino, const struct fuse_file_info *fi)
{
	if (!L.nlks)
		return;
	if (fi->flock_release)
		drop_owner(ino, fi->lock_owner, false, NULL);
	/* Whatever else was taken through this handle (F_OFD_* locks). */
	for (struct ldir *d = L.dirs; d; d = d->next)
		for (struct lk *k = d->lks; k; k = k->next)
			if (k->state == LK_HELD && k->ino == ino && k->fh == fi->fh)
				start_delete(k);
}

void locks_on_event(struct cfs *fs, int type, const char *path)
{
	(void)fs;
	if (type != ZEV_DELETED || !L.dirs || strncmp(path, LOCKS_ROOT "/", sizeof(LOCKS_ROOT)))
		return;
	const char *slash = strrchr(path, '/');
	size_t dl = (size_t)(slash - path);
	struct ldir *d;
	for (d = L.dirs; d; d = d->next)
		if (strlen(d->path) == dl && !strncmp(d->path, path, dl))
			break;
	if (!d)
		return;
	/* With waiters d keeps lks, so it survives the kills below. */
	bool waiters = dir_has_waiters(d);
	struct lk *next;
	for (struct lk *k = d->lks; k; k = next) {
		next = k->next;
		if (k->state == LK_HELD && !strcmp(k->name, slash + 1))
			lock_lost(k, "its node was deleted");
	}
	if (waiters)
		dir_check(d);
}

void locks_on_state(struct cfs *fs, enum zkc_state state)
{
	(void)fs;
	switch (state) {
	case ZKC_CONNECTED:
		if (!L.disconnected)
			break;
		L.disconnected = false;
		/* Deletions may have happened while away: judge everything again. */
		for (struct ldir *d = L.dirs; d; d = d->next)
			if (d->lks)
				dir_check(d);
		break;
	case ZKC_CONNECTING:
	case ZKC_SUSPENDED: {
		int held = 0;
		for (struct ldir *d = L.dirs; d; d = d->next)
			for (struct lk *k = d->lks; k; k = k->next)
				held += k->state == LK_HELD;
		if (held && !L.disconnected)
			log_warn(TAG, "%d lock(s) held while the connection is lost: they are lost "
				 "if the session expires before it comes back", held);
		L.disconnected = true;
		break;
	}
	case ZKC_EXPIRED:
	case ZKC_AUTH_FAILED:
	case ZKC_CLOSED:
		/* Every node of the session is gone: held locks are lost (note 5). */
		L.disconnected = true;
		/*
		 * Detach the directories first: killing a directory's last lk
		 * frees it, unless a check is in flight (its callback frees it).
		 */
		struct ldir *list = L.dirs;
		L.dirs = NULL;
		while (list) {
			struct ldir *d = list;
			list = d->next;
			d->next = NULL;
			if (!d->lks) {
				dir_maybe_free(d);
				continue;
			}
			for (bool last = false; !last;) {
				struct lk *k = d->lks;
				last = !k->next;
				if (k->state == LK_HELD)
					lock_lost(k, "the session expired");
				else
					lk_kill(k, ENOLCK);
			}
		}
		break;
	}
}

void ops_locks_fill(struct fuse_lowlevel_ops *ops)
{
	ops->flock = op_flock;
	ops->getlk = op_getlk;
	ops->setlk = op_setlk;
}
