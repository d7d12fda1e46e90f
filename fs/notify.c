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
 */
#include "config.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "coordfs.h"
#include "log.h"
#include "xalloc.h"

enum nact { NA_INVAL_INODE, NA_INVAL_ENTRY, NA_DELETE, NA_STOP };

struct nitem {
	struct nitem *next;
	enum nact act;
	fuse_ino_t ino, child;
	char name[];
};

struct notifier {
	pthread_t thread;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	struct nitem *head, *tail;
	struct fuse_session *se;
};

static void push(struct cfs *fs, enum nact act, fuse_ino_t ino, fuse_ino_t child, const char *name)
{
	struct notifier *n = fs->notifier;
	size_t len = name ? strlen(name) : 0;
	struct nitem *it = xmalloc(sizeof(*it) + len + 1);
	it->next = NULL;
	it->act = act;
	it->ino = ino;
	it->child = child;
	memcpy(it->name, name ? name : "", len + 1);
	pthread_mutex_lock(&n->mu);
	if (n->tail)
		n->tail->next = it;
	else
		n->head = it;
	n->tail = it;
	pthread_cond_signal(&n->cv);
	pthread_mutex_unlock(&n->mu);
}

static void *notify_main(void *arg)
{
	struct notifier *n = arg;
	for (;;) {
		pthread_mutex_lock(&n->mu);
		while (!n->head)
			pthread_cond_wait(&n->cv, &n->mu);
		struct nitem *it = n->head;
		n->head = it->next;
		if (!n->head)
			n->tail = NULL;
		pthread_mutex_unlock(&n->mu);
		int rc = 0;
		switch (it->act) {
		case NA_INVAL_INODE:
			rc = fuse_lowlevel_notify_inval_inode(n->se, it->ino, 0, 0);
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
		case NA_STOP:
			free(it);
			return NULL;
		}
		/* ENOENT: the kernel had nothing cached for it, which is fine. */
		if (rc && rc != -ENOENT)
			log_debug("notify", "kernel notification %d for %lu/%s: %d", it->act,
				  (unsigned long)it->ino, it->name, rc);
		free(it);
	}
}

int notify_start(struct cfs *fs)
{
	struct notifier *n = xcalloc(1, sizeof(*n));
	pthread_mutex_init(&n->mu, NULL);
	pthread_cond_init(&n->cv, NULL);
	n->se = fs->se;
	fs->notifier = n;
	if (pthread_create(&n->thread, NULL, notify_main, n)) {
		log_error("notify", "cannot start the notification thread");
		return -1;
	}
	return 0;
}

void notify_stop(struct cfs *fs)
{
	if (!fs->notifier)
		return;
	push(fs, NA_STOP, 0, 0, NULL);
	pthread_join(fs->notifier->thread, NULL);
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

void notify_watch_event(struct cfs *fs, int type, const char *path)
{
	struct cfs_inode *in = inode_find_path(fs, path, false);
	struct cfs_inode *df = inode_find_path(fs, path, true);
	bool membership = type == ZEV_CREATED || type == ZEV_DELETED;

	if (in) {
		inode_invalidate(in, true, membership);
		push(fs, NA_INVAL_INODE, in->nodeid, 0, NULL);
	}
	if (df) {
		inode_invalidate(df, true, false);
		push(fs, NA_INVAL_INODE, df->nodeid, 0, NULL);
	}
	if (!membership || !strcmp(path, "/"))
		return;
	char parent_path[4096];
	parent_of(path, parent_path, sizeof(parent_path));
	struct cfs_inode *parent = inode_find_path(fs, parent_path, false);
	if (!parent)
		return;
	/* The parent's numChildren (and so maybe its type) and listing changed. */
	inode_invalidate(parent, true, true);
	if (type == ZEV_DELETED && in)
		push(fs, NA_DELETE, parent->nodeid, in->nodeid, base_name(path));
	else
		push(fs, NA_INVAL_ENTRY, parent->nodeid, 0, base_name(path));
	push(fs, NA_INVAL_INODE, parent->nodeid, 0, NULL);
}

struct resync_ctx {
	struct cfs *fs;
};

static void resync_one(struct cfs_inode *in, void *arg)
{
	struct cfs *fs = arg;
	inode_invalidate(in, true, true);
	push(fs, NA_INVAL_INODE, in->nodeid, 0, NULL);
	if (in->nodeid == FUSE_ROOT_ID)
		return;
	char parent_path[4096];
	parent_of(in->path, parent_path, sizeof(parent_path));
	struct cfs_inode *parent = in->data_file ? inode_find_path(fs, in->path, false)
						 : inode_find_path(fs, parent_path, false);
	if (parent)
		push(fs, NA_INVAL_ENTRY, parent->nodeid, 0,
		     in->data_file ? CFS_DATA_NAME : base_name(in->path));
}

void notify_resync(struct cfs *fs)
{
	fs->epoch++;
	inode_foreach(fs, resync_one, fs);
}
