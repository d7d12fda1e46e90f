/*
 * notify.c - remote changes -> cache invalidation -> kernel notifications.
 *
 * The loop thread turns each watch event into cache invalidations at once
 * (so the next request refetches) and queues the kernel notifications for
 * the notify thread.  The kernel calls must not run on the loop thread: an
 * invalidation may wait for a directory lock held by a syscall that is
 * itself waiting for a reply only the loop thread can send.
 *
 * Invariant: a notification for a path is queued after the cache entry was
 * invalidated, so when the kernel comes back for fresh data the mount
 * fetches it instead of serving the old copy.
 *
 * inotify: the kernel makes no inotify event for an invalidation (measured,
 * fuse-lab.md Q1), so a change made elsewhere is also REPLAYED: the notify
 * thread, which is not the thread serving FUSE, performs the change through
 * the mount with ordinary syscalls (open O_CREAT, mkdir, open+write, unlink,
 * rmdir).  The kernel then emits the native events (IN_CREATE, IN_MODIFY,
 * IN_CLOSE_WRITE, IN_DELETE) to every watcher.  The FUSE handlers recognise
 * the replay by the caller's thread id (notify_replaying) and answer from
 * the cache without touching the server.  Changes this mount made itself are
 * not replayed (their events are matched against notify_own_change), and
 * nothing is replayed where no watcher can be: below a directory the kernel
 * has never looked up.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "coordfs.h"
#include "log.h"
#include "xalloc.h"

enum nact { NA_INVAL_INODE, NA_INVAL_ENTRY, NA_DELETE, NA_REPLAY, NA_HOLD, NA_UNHOLD, NA_STOP };

struct nitem {
	struct nitem *next;
	enum nact act;
	fuse_ino_t ino, child;
	uint64_t stamp; /* NA_INVAL_INODE: report completion at this change count */
	bool fence;
	int kind;       /* NA_REPLAY: RP_* */
	bool ready;     /* NA_REPLAY waits for the node's type to be known */
	bool skip;
	bool hold_only; /* RP_MODIFY: replay through holds only (the kernel has no other inode) */
	char name[];    /* NA_REPLAY: the znode path */
};

struct own_change {
	struct own_change *next;
	int type;
	bool vfs;       /* the kernel made the change itself (unlink, rename) */
	uint64_t when;
	char path[];
};

/*
 * A retired nodeid (inode.c, K2/K3) held by this thread: a descriptor of its
 * kernel inode, opened through the name before the name was invalidated.
 * Changes of the path are replayed through it (reopened by /proc/self/fd),
 * so an inotify watch on the file, which stays with that inode, hears them
 * while readers hold the old version open; dropped when they have closed
 * (and the path takes the nodeid back if the watch keeps it: inode.c, K5).
 */
struct hold {
	struct hold *next;
	fuse_ino_t ino;
	int fd;
	char path[];
};

struct fence_done {
	fuse_ino_t ino;
	uint64_t stamp;
	bool found;
};

struct notifier {
	uv_async_t done_async;  /* completed fences, for the loop thread */
	struct fence_done *done;
	size_t ndone, capdone;
	pthread_t thread;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	struct nitem *head, *tail;
	struct nitem *first, *first_tail; /* invalidations opens wait for: ahead of the FIFO */
	struct fuse_session *se;
	const char *mountpoint;
	pid_t tid;              /* the notify thread's id, as FUSE reports callers */
	fuse_ino_t fence_ino;   /* a fence's statx is on its way for this nodeid... */
	bool fence_hit;         /* ...and its GETATTR came (notify_fence_getattr) */
	fuse_ino_t opened_ino;  /* the nodeid of the thread's last OPEN (notify_replay_opened) */
	bool stopped;           /* the thread is out of its loop (under mu) */
	struct hold *holds;     /* notify thread only */
	int replay_kind;        /* what the thread is replaying now, under mu */
	char replay_path[4096];
	struct own_change *own; /* loop thread only */
};

/* An item, name copied (NULL: none); the rest is zero. */
static struct nitem *new_item(enum nact act, fuse_ino_t ino, const char *name, bool ready)
{
	size_t len = name ? strlen(name) : 0;
	struct nitem *it = xcalloc(1, sizeof(*it) + len + 1);
	it->act = act;
	it->ino = ino;
	it->ready = ready;
	memcpy(it->name, name ? name : "", len + 1);
	return it;
}

static struct nitem *push_item(struct cfs *fs, enum nact act, fuse_ino_t ino, fuse_ino_t child,
			       const char *name, int kind, bool ready)
{
	struct notifier *n = fs->notifier;
	struct nitem *it = new_item(act, ino, name, ready);
	it->child = child;
	it->kind = kind;
	pthread_mutex_lock(&n->mu);
	if (n->tail)
		n->tail->next = it;
	else
		n->head = it;
	n->tail = it;
	pthread_cond_signal(&n->cv);
	pthread_mutex_unlock(&n->mu);
	return it;
}

static void push(struct cfs *fs, enum nact act, fuse_ino_t ino, fuse_ino_t child, const char *name)
{
	push_item(fs, act, ino, child, name, RP_NONE, true);
}

static void set_ready(struct cfs *fs, struct nitem *it, int kind, bool skip)
{
	struct notifier *n = fs->notifier;
	pthread_mutex_lock(&n->mu);
	it->kind = kind;
	it->skip = skip;
	it->ready = true;
	pthread_cond_signal(&n->cv);
	pthread_mutex_unlock(&n->mu);
}

bool notify_replaying(fuse_req_t req, int *kind, char *path, size_t n)
{
	struct notifier *nt = cfs->notifier;
	if (!nt || fuse_req_ctx(req)->pid != nt->tid)
		return false;
	pthread_mutex_lock(&nt->mu);
	*kind = nt->replay_kind;
	snprintf(path, n, "%s", nt->replay_path);
	pthread_mutex_unlock(&nt->mu);
	return *kind != RP_NONE;
}

static void own_change(struct cfs *fs, int type, const char *path, bool vfs)
{
	struct notifier *n = fs->notifier;
	if (!n)
		return;
	size_t len = strlen(path);
	struct own_change *o = xmalloc(sizeof(*o) + len + 1);
	o->type = type;
	o->vfs = vfs;
	o->when = uv_now(fs->loop);
	memcpy(o->path, path, len + 1);
	o->next = n->own;
	n->own = o;
}

void notify_own_change(struct cfs *fs, int type, const char *path)
{
	own_change(fs, type, path, false);
}

void notify_own_vfs_change(struct cfs *fs, int type, const char *path)
{
	own_change(fs, type, path, true);
}

/* Was this event caused by this mount?  Consumes the matching record. */
static bool own(struct cfs *fs, int type, const char *path, bool *vfs)
{
	struct notifier *n = fs->notifier;
	uint64_t now = uv_now(fs->loop);
	bool found = false;
	struct own_change **pp = &n->own, *match = NULL, **match_pp = NULL;
	while (*pp) {
		struct own_change *o = *pp;
		if (now - o->when > 30000) { /* a failed op never sends its event */
			*pp = o->next;
			free(o);
			continue;
		}
		if (o->type == type && !strcmp(o->path, path)) {
			match = o; /* the oldest matching record is the last one in the list */
			match_pp = pp;
		}
		pp = &o->next;
	}
	*vfs = false;
	if (match) {
		*vfs = match->vfs;
		*match_pp = match->next;
		free(match);
		found = true;
	}
	return found;
}

struct create_replay {
	struct nitem *it;
};

static void replay_typed(struct cfs_inode *in, int err, void *arg)
{
	struct create_replay *cr = arg;
	bool ok = !err && in->exists;
	set_ready(cfs, cr->it, ok && inode_is_dir(in) ? RP_CREATE_DIR : RP_CREATE_FILE, !ok);
	inode_unpin(cfs, in);
	free(cr);
}

static bool internal_path(const char *path)
{
	return !strncmp(path, "/.coordfs", 9) && (path[9] == 0 || path[9] == '/');
}

static bool zookeeper_path(const char *path)
{
	return !strncmp(path, "/zookeeper", 10) && (path[10] == 0 || path[10] == '/');
}

static void set_replaying(struct notifier *n, int kind, const char *path)
{
	pthread_mutex_lock(&n->mu);
	n->replay_kind = kind;
	snprintf(n->replay_path, sizeof(n->replay_path), "%s", path);
	pthread_mutex_unlock(&n->mu);
}

void notify_replay_opened(fuse_ino_t ino)
{
	struct notifier *n = cfs->notifier;
	pthread_mutex_lock(&n->mu);
	n->opened_ino = ino;
	pthread_mutex_unlock(&n->mu);
}

/* Takes a hold (see struct hold) if the name still leads to the retired nodeid. */
static void hold_open(struct notifier *n, struct nitem *it)
{
	char full[8192];
	snprintf(full, sizeof(full), "%s%s", n->mountpoint, it->name);
	pthread_mutex_lock(&n->mu);
	n->opened_ino = 0;
	pthread_mutex_unlock(&n->mu);
	set_replaying(n, RP_HOLD, it->name);
	int fd = open(full, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
	set_replaying(n, RP_NONE, "");
	pthread_mutex_lock(&n->mu);
	fuse_ino_t got = n->opened_ino;
	pthread_mutex_unlock(&n->mu);
	if (fd < 0)
		return;
	if (got != it->ino) {
		close(fd); /* the name was looked up afresh already: nothing to hold */
		return;
	}
	size_t len = strlen(it->name);
	struct hold *h = xmalloc(sizeof(*h) + len + 1);
	h->ino = it->ino;
	h->fd = fd;
	memcpy(h->path, it->name, len + 1);
	h->next = n->holds;
	n->holds = h;
}

static void hold_drop(struct notifier *n, fuse_ino_t ino)
{
	struct hold **pp = &n->holds;
	while (*pp) {
		struct hold *h = *pp;
		if (h->ino != ino) {
			pp = &h->next;
			continue;
		}
		*pp = h->next;
		close(h->fd);
		free(h);
	}
}

/* A local change's events on every held inode of path: open, write, close. */
static bool replay_holds(struct notifier *n, const char *path)
{
	bool any = false;
	for (struct hold *h = n->holds; h; h = h->next) {
		if (strcmp(h->path, path))
			continue;
		char proc[64];
		snprintf(proc, sizeof(proc), "/proc/self/fd/%d", h->fd);
		int fd = open(proc, O_WRONLY | O_CLOEXEC);
		if (fd < 0)
			continue;
		if (write(fd, "", 1) < 0)
			log_debug("notify", "replay write %s (held): %s", path, strerror(errno));
		close(fd);
		any = true;
	}
	return any;
}

static void replay(struct notifier *n, struct nitem *it)
{
	char full[8192];
	const char *path = it->name;
	snprintf(full, sizeof(full), "%s%s", n->mountpoint, path);
	set_replaying(n, it->kind, path);
	int fd;
	switch (it->kind) {
	case RP_CREATE_FILE:
		/* drop a dentry the kernel may hold, so the create really happens */
		fuse_lowlevel_notify_inval_entry(n->se, it->ino, strrchr(path, '/') + 1,
						 strlen(strrchr(path, '/') + 1));
		fd = open(full, O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC, 0644);
		if (fd >= 0)
			close(fd);
		break;
	case RP_CREATE_DIR:
		fuse_lowlevel_notify_inval_entry(n->se, it->ino, strrchr(path, '/') + 1,
						 strlen(strrchr(path, '/') + 1));
		if (mkdir(full, 0755) < 0)
			log_debug("notify", "replay mkdir %s: %s", path, strerror(errno));
		break;
	case RP_MODIFY:
		if (replay_holds(n, path) && it->hold_only)
			break;
		fd = open(full, O_WRONLY | O_CLOEXEC);
		if (fd >= 0) {
			/* one byte, so the kernel reports IN_MODIFY; the handler ignores it */
			if (write(fd, "", 1) < 0)
				log_debug("notify", "replay write %s: %s", path, strerror(errno));
			close(fd);
		}
		break;
	case RP_DELETE:
		if (unlink(full) < 0 && (errno == EISDIR || errno == EPERM))
			rmdir(full);
		break;
	case RP_DELETE_DIR:
		if (rmdir(full) < 0 && errno == ENOTDIR)
			unlink(full);
		break;
	}
	set_replaying(n, RP_NONE, "");
}

/*
 * The second half of a fence (inode.c, K4).  The invalidation leaves the
 * kernel's old size in place, marked stale; the first reply to refresh it
 * then writes the new size, and the kernel marks the attributes fresh a
 * moment before it writes the size (fuse_change_attributes_i, under a lock
 * that stat() and read() do not take).  A reader racing with that refresh
 * sees "fresh" with the old size: read() stops at the old size on new pages
 * (measured: a 12,746-byte version cut at 3,620).  So the fence makes the
 * kernel refresh now, from this thread (a statx that must ask us), and is
 * through only when that refresh has been written, before any page-cache
 * handle exists; later refreshes write the same size again.  The GETATTR
 * must be for the fenced nodeid (the name may lead elsewhere by now).
 */
static bool fence_refresh(struct notifier *n, struct nitem *it)
{
	char full[8192];
	struct statx stx;
	if (!it->name[0])
		return false;
	snprintf(full, sizeof(full), "%s%s", n->mountpoint, it->name);
	pthread_mutex_lock(&n->mu);
	n->fence_ino = it->ino;
	n->fence_hit = false;
	pthread_mutex_unlock(&n->mu);
	int r = statx(AT_FDCWD, full, AT_STATX_FORCE_SYNC | AT_SYMLINK_NOFOLLOW, STATX_SIZE, &stx);
	pthread_mutex_lock(&n->mu);
	bool hit = r == 0 && n->fence_hit;
	n->fence_ino = 0;
	pthread_mutex_unlock(&n->mu);
	return hit;
}

void notify_fence_getattr(fuse_req_t req, fuse_ino_t ino)
{
	struct notifier *n = cfs->notifier;
	if (!n || fuse_req_ctx(req)->pid != n->tid)
		return;
	pthread_mutex_lock(&n->mu);
	if (n->fence_ino == ino)
		n->fence_hit = true;
	pthread_mutex_unlock(&n->mu);
}

static void *notify_main(void *arg)
{
	struct notifier *n = arg;
	n->tid = (pid_t)syscall(SYS_gettid);
	for (;;) {
		pthread_mutex_lock(&n->mu);
		/* a replay waits at the head until its node's type is known */
		while (!n->first && (!n->head || (n->head->act == NA_REPLAY && !n->head->ready)))
			pthread_cond_wait(&n->cv, &n->mu);
		struct nitem *it;
		if (n->first) {
			/*
			 * Fences and the names of retired nodeids overtake the
			 * queue (a replay is a round trip through the mount): opens
			 * wait for them, and dropping kernel caches early is never
			 * wrong (a replay looks its path up again).
			 */
			it = n->first;
			n->first = it->next;
			if (!n->first)
				n->first_tail = NULL;
		} else {
			it = n->head;
			n->head = it->next;
			if (!n->head)
				n->tail = NULL;
		}
		pthread_mutex_unlock(&n->mu);
		int rc = 0;
		switch (it->act) {
		case NA_INVAL_INODE:
			rc = fuse_lowlevel_notify_inval_inode(n->se, it->ino, 0, 0);
			if (it->fence) {
				/* returned: the kernel has bumped attr_version and dropped pages */
				bool found = rc != -ENOENT && fence_refresh(n, it);
				pthread_mutex_lock(&n->mu);
				if (n->ndone == n->capdone) {
					n->capdone = n->capdone ? n->capdone * 2 : 64;
					n->done = xrealloc(n->done, n->capdone * sizeof(*n->done));
				}
				n->done[n->ndone].ino = it->ino;
				n->done[n->ndone].found = found;
				n->done[n->ndone++].stamp = it->stamp;
				pthread_mutex_unlock(&n->mu);
				uv_async_send(&n->done_async);
			}
			break;
		case NA_INVAL_ENTRY:
			rc = fuse_lowlevel_notify_inval_entry(n->se, it->ino, it->name, strlen(it->name));
			break;
		case NA_DELETE:
			rc = fuse_lowlevel_notify_delete(n->se, it->ino, it->child, it->name, strlen(it->name));
			if (rc == -ENOENT || rc == -ENOTEMPTY || rc == -EBUSY)
				rc = fuse_lowlevel_notify_inval_entry(n->se, it->ino, it->name,
								      strlen(it->name));
			break;
		case NA_REPLAY:
			if (!it->skip)
				replay(n, it);
			break;
		case NA_HOLD:
			hold_open(n, it);
			break;
		case NA_UNHOLD:
			hold_drop(n, it->ino);
			break;
		case NA_STOP:
			/*
			 * Holds are left to the exit: closing one sends FLUSH,
			 * which the loop thread may no longer answer.
			 */
			free(it);
			pthread_mutex_lock(&n->mu);
			n->stopped = true;
			pthread_mutex_unlock(&n->mu);
			return NULL;
		}
		/* ENOENT: the kernel had nothing cached for it, which is fine. */
		if (rc && rc != -ENOENT)
			log_debug("notify", "kernel notification %d for %lu/%s: %d", it->act,
				  (unsigned long)it->ino, it->name, rc);
		free(it);
	}
}

void notify_inval(struct cfs *fs, struct cfs_inode *in)
{
	push(fs, NA_INVAL_INODE, in->nodeid, 0, NULL);
}

/* Queue an item ahead of the FIFO (see notify_main). */
static void push_first(struct notifier *n, struct nitem *it)
{
	pthread_mutex_lock(&n->mu);
	if (n->first_tail)
		n->first_tail->next = it;
	else
		n->first = it;
	n->first_tail = it;
	pthread_cond_signal(&n->cv);
	pthread_mutex_unlock(&n->mu);
}

/* A fence (inode.c, K4): kview_fenced hears when it is through. */
void notify_fence(struct cfs *fs, struct cfs_inode *in)
{
	struct notifier *n = fs->notifier;
	in->kfences++;
	if (!n) {
		kview_fenced(fs, in->nodeid, in->kchg, false);
		return;
	}
	/* the name its statx takes (fence_refresh) */
	char *p = inode_file_path(in);
	struct nitem *it = new_item(NA_INVAL_INODE, in->nodeid, p, true);
	free(p);
	it->stamp = in->kchg;
	it->fence = true;
	push_first(n, it);
}

static void fences_done(uv_async_t *a)
{
	struct notifier *n = a->data;
	pthread_mutex_lock(&n->mu);
	struct fence_done *done = n->done;
	size_t count = n->ndone;
	n->done = NULL;
	n->ndone = n->capdone = 0;
	pthread_mutex_unlock(&n->mu);
	for (size_t i = 0; i < count; i++)
		kview_fenced(cfs, done[i].ino, done[i].stamp, done[i].found);
	free(done);
}

static const char *base_name(const char *path);
static void parent_of(const char *path, char *out, size_t n);

void notify_hold(struct cfs *fs, struct cfs_inode *r)
{
	struct notifier *n = fs->notifier;
	if (!n || r->held)
		return;
	char *p = inode_file_path(r);
	struct nitem *it = new_item(NA_HOLD, r->nodeid, p, true);
	free(p);
	r->held = true;
	r->live->held_by_notify++;
	push_first(n, it); /* ahead of the name's invalidation (notify_inval_name) */
}

void notify_unhold(struct cfs *fs, struct cfs_inode *r)
{
	if (!r->held)
		return;
	r->held = false;
	r->live->held_by_notify--;
	/* ahead of the FIFO, as the name's invalidation an unretire sends with it */
	push_first(fs->notifier, new_item(NA_UNHOLD, r->nodeid, NULL, true));
}

void notify_inval_name(struct cfs *fs, struct cfs_inode *in)
{
	char pp[4096];
	struct cfs_inode *parent;
	const char *name;
	if (in->data_file) {
		parent = inode_find_path(fs, in->path, false);
		name = CFS_DATA_NAME;
	} else {
		if (!strcmp(in->path, "/"))
			return;
		parent_of(in->path, pp, sizeof(pp));
		parent = inode_find_path(fs, pp, false);
		name = base_name(in->path);
	}
	if (!parent || !fs->notifier)
		return;
	/* ahead of the queue: until it is through, opens of the name get ESTALE */
	push_first(fs->notifier, new_item(NA_INVAL_ENTRY, parent->nodeid, name, true));
}

int notify_start(struct cfs *fs)
{
	struct notifier *n = xcalloc(1, sizeof(*n));
	uv_async_init(fs->loop, &n->done_async, fences_done);
	n->done_async.data = n;
	pthread_mutex_init(&n->mu, NULL);
	pthread_cond_init(&n->cv, NULL);
	n->se = fs->se;
	n->mountpoint = fs->mountpoint;
	n->tid = -1;
	fs->notifier = n;
	if (pthread_create(&n->thread, NULL, notify_main, n)) {
		log_error("notify", "cannot start the notification thread");
		return -1;
	}
	return 0;
}

/*
 * Stopping: the thread may be inside a call into the mount (a replay, a
 * fence's statx, a hold), which only the loop thread answers, so the loop
 * goes on serving FUSE until the thread is out (notify_stopped); it stops
 * after the item at hand, whatever is queued behind.
 */
void notify_stop_begin(struct cfs *fs)
{
	if (fs->notifier)
		push_first(fs->notifier, new_item(NA_STOP, 0, NULL, true));
}

bool notify_stopped(struct cfs *fs)
{
	struct notifier *n = fs->notifier;
	if (!n)
		return true;
	pthread_mutex_lock(&n->mu);
	bool stopped = n->stopped;
	pthread_mutex_unlock(&n->mu);
	return stopped;
}

void notify_stop(struct cfs *fs)
{
	if (!fs->notifier)
		return;
	if (notify_stopped(fs))
		pthread_join(fs->notifier->thread, NULL);
	else
		pthread_detach(fs->notifier->thread); /* stuck in the mount: the exit ends it */
	uv_close((uv_handle_t *)&fs->notifier->done_async, NULL);
}

static const char *base_name(const char *path)
{
	const char *s = strrchr(path, '/');
	return s ? s + 1 : path;
}

static void parent_of(const char *path, char *out, size_t n)
{
	const char *s = strrchr(path, '/');
	size_t len = s ? (size_t)(s - path) : 0;
	if (len == 0) {
		snprintf(out, n, "/");
		return;
	}
	if (len >= n)
		len = n - 1;
	memcpy(out, path, len);
	out[len] = 0;
}

struct delete_replay {
	struct cfs *fs;
	struct nitem *it;
	bool dir;
};

static void delete_replay_checked(struct zkclient *zk, const struct zkc_result *res, void *arg)
{
	struct delete_replay *dr = arg;
	(void)zk;
	if (res->rc == ZOK && !dr->dir)
		set_ready(dr->fs, dr->it, RP_MODIFY, false);
	else
		set_ready(dr->fs, dr->it, dr->dir ? RP_DELETE_DIR : RP_DELETE, res->rc == ZOK);
	free(dr);
}

/* Queue the inotify replay of a remote change, if anyone can be watching. */
static void queue_replay(struct cfs *fs, int type, const char *path, struct cfs_inode *in,
			 struct cfs_inode *df, struct cfs_inode *parent)
{
	if (!strcmp(path, "/") || internal_path(path) || zookeeper_path(path))
		return;
	bool watched_parent = parent && (parent->nlookup > 0 || parent->nodeid == FUSE_ROOT_ID);
	bool watched_self = (in && in->nlookup > 0) || (df && df->nlookup > 0);
	if (!watched_parent && !watched_self)
		return;
	if (type == ZEV_CREATED) {
		struct create_replay *cr = xcalloc(1, sizeof(*cr));
		cr->it = push_item(fs, NA_REPLAY, parent ? parent->nodeid : FUSE_ROOT_ID, 0, path,
				   RP_NONE, false);
		struct cfs_inode *node = in ? in : inode_ref_path(fs, path, false);
		if (!in)
			node->nlookup--;
		inode_pin(node);
		fetch_node(fs, node, false, replay_typed, cr);
	} else if (type == ZEV_DELETED) {
		/*
		 * A delete and a create of the same name in one transaction (a
		 * rename over it elsewhere) must not be replayed as an unlink:
		 * readers here would see the name missing until the create's
		 * replay.  The replay waits for the name's existence now: gone,
		 * it is a delete; back, it is a change of content.
		 */
		struct delete_replay *dr = xcalloc(1, sizeof(*dr));
		dr->fs = fs;
		dr->dir = in && in->have_node && inode_is_dir(in);
		dr->it = push_item(fs, NA_REPLAY, 0, 0, path, RP_NONE, false);
		if (zkc_exists(fs->zk, path, false, delete_replay_checked, dr) < 0) {
			set_ready(fs, dr->it, dr->dir ? RP_DELETE_DIR : RP_DELETE, false);
			free(dr);
		}
	} else if (type == ZEV_CHANGED) {
		/*
		 * While a retired nodeid of the file is held (struct hold), the
		 * change is replayed through it too; through the name only if the
		 * kernel has an inode for the path's current nodeid, which an
		 * inotify watch may be on (else the directory would hear twice).
		 */
		struct nitem *it;
		struct cfs_inode *f;
		if (in && in->have_node && inode_is_dir(in)) {
			/* a directory node's data is its ".data" file */
			char *p = path_join(path, CFS_DATA_NAME);
			it = push_item(fs, NA_REPLAY, 0, 0, p, RP_MODIFY, false);
			free(p);
			f = df;
		} else {
			it = push_item(fs, NA_REPLAY, 0, 0, path, RP_MODIFY, false);
			f = in;
		}
		it->hold_only = f && f->held_by_notify > 0 && f->nlookup == 0; /* before ready: under mu */
		set_ready(fs, it, RP_MODIFY, false);
	}
}

struct delete_check {
	struct cfs *fs;
	fuse_ino_t parent, child;
	char name[];
};

static void delete_checked(struct zkclient *zk, const struct zkc_result *res, void *arg)
{
	struct delete_check *dc = arg;
	(void)zk;
	if (res->rc == ZNONODE)
		push(dc->fs, NA_DELETE, dc->parent, dc->child, dc->name);
	else
		push(dc->fs, NA_INVAL_ENTRY, dc->parent, 0, dc->name);
	free(dc);
}

void notify_watch_event(struct cfs *fs, int type, const char *path)
{
	locks_on_event(fs, type, path); /* lock waiters re-check on deletions (locks.c) */
	struct cfs_inode *in = inode_find_path(fs, path, false);
	struct cfs_inode *df = inode_find_path(fs, path, true);
	bool membership = type == ZEV_CREATED || type == ZEV_DELETED;
	bool vfs;
	bool mine = own(fs, type, path, &vfs);

	if (!mine) {
		char pp[4096];
		parent_of(path, pp, sizeof(pp));
		queue_replay(fs, type, path, in, df, inode_find_path(fs, pp, false));
	}

	if (in) {
		inode_invalidate(in, true, membership);
		notify_inval(fs, in);
	}
	if (df) {
		inode_invalidate(df, true, false);
		notify_inval(fs, df);
	}
	/*
	 * A change made elsewhere under open page-cache readers: no new opens of
	 * the old version from now on (inode.c, K2).  Our own changes were seen
	 * here already (kview_sync decides on those).
	 */
	if (!mine && in && in->pc_open > 0)
		kview_changed(in);
	if (!mine && df && df->pc_open > 0)
		kview_changed(df);
	if (!membership || !strcmp(path, "/"))
		return;
	char parent_path[4096];
	parent_of(path, parent_path, sizeof(parent_path));
	struct cfs_inode *parent = inode_find_path(fs, parent_path, false);
	if (!parent)
		return;
	/* The parent's numChildren (and so maybe its type) and listing changed. */
	inode_invalidate(parent, true, true);
	if (type == ZEV_DELETED && in && vfs) {
		/* our unlink or rename: the kernel's dentries are already right */
	} else if (type == ZEV_DELETED && in) {
		/*
		 * notify_delete leaves a negative dentry that is trusted until the
		 * entry timeout: if the name exists again by now (a rename over it,
		 * a delete and create in one multi), a reader would get ENOENT until
		 * the create's event arrives.  Ask first; the answer is at least as
		 * new as this event.
		 */
		struct delete_check *dc = xmalloc(sizeof(*dc) + strlen(base_name(path)) + 1);
		dc->fs = fs;
		dc->parent = parent->nodeid;
		dc->child = in->nodeid;
		strcpy(dc->name, base_name(path));
		if (zkc_exists(fs->zk, path, false, delete_checked, dc) < 0) {
			free(dc);
			push(fs, NA_INVAL_ENTRY, parent->nodeid, 0, base_name(path));
		}
	} else {
		push(fs, NA_INVAL_ENTRY, parent->nodeid, 0, base_name(path));
	}
	notify_inval(fs, parent);
}

static void resync_one(struct cfs_inode *in, void *arg)
{
	struct cfs *fs = arg;
	inode_invalidate(in, true, true);
	notify_inval(fs, in);
	notify_inval_name(fs, in);
}

void notify_resync(struct cfs *fs)
{
	fs->epoch++;
	inode_foreach(fs, resync_one, fs);
}
