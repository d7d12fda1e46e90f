/*
 * fetch.c - filling the cache from the server.  Many FUSE requests may want
 * the same node at once; they queue on the inode and one getData (plus one
 * getChildren2 for directories) answers them all.
 *
 * Freshness: the mount holds a persistent recursive watch on "/", and
 * ZooKeeper delivers a watch event before any reply that reflects the
 * change, so a reply is never older than the invalidations seen before it
 * (see inode.c, invariant 2).
 */
#include "config.h"

#include <errno.h>
#include <stdlib.h>

#include "coordfs.h"
#include "log.h"
#include "xalloc.h"

struct cfs_waiter {
	struct cfs_waiter *next;
	bool kids;
	fetch_cb cb;
	void *arg;
};

int zk_to_errno(int rc)
{
	switch (rc) {
	case ZOK: return 0;
	case ZNONODE: return ENOENT;
	case ZNODEEXISTS: return EEXIST;
	case ZNOTEMPTY: return ENOTEMPTY;
	case ZNOAUTH: return EACCES;
	case ZBADVERSION: return ESTALE;
	case ZNOCHILDRENFOREPHEMERALS: return EPERM;
	case ZBADARGUMENTS: return EINVAL;
	case ZINVALIDACL: return EINVAL;
	case ZOPERATIONTIMEOUT: return ETIMEDOUT;
	case ZMARSHALLINGERROR: return EFBIG;
	case ZUNIMPLEMENTED: return ENOSYS;
	case ZCONNECTIONLOSS:
	case ZSESSIONEXPIRED:
	case ZCLOSING:
	case ZSYSTEMERROR:
	default:
		return EIO;
	}
}

static bool satisfied(const struct cfs_inode *in, const struct cfs_waiter *w)
{
	if (!in->have_node || in->epoch != cfs->epoch)
		return false;
	if (!in->exists || !w->kids)
		return true;
	return in->have_kids;
}

static void wake(struct cfs_inode *in, int err)
{
	struct cfs_waiter **pp = &in->waiters;
	/* Detach the ready waiters first: callbacks may add new ones. */
	struct cfs_waiter *ready = NULL, **tail = &ready;
	while (*pp) {
		struct cfs_waiter *w = *pp;
		if (err || satisfied(in, w)) {
			*pp = w->next;
			w->next = NULL;
			*tail = w;
			tail = &w->next;
		} else {
			pp = &w->next;
		}
	}
	while (ready) {
		struct cfs_waiter *w = ready;
		ready = w->next;
		w->cb(in, err, w->arg);
		free(w);
	}
}

static void send_fetches(struct cfs *fs, struct cfs_inode *in);

static void node_done(struct zkclient *zk, const struct zkc_result *res, void *arg)
{
	struct cfs_inode *in = arg;
	(void)zk;
	inode_pin(in); /* callbacks below may drop their interest in it */
	in->fetching_node = false;
	if (in->commits_inflight > 0 && (res->rc == ZOK || res->rc == ZNONODE)) {
		/* possibly older than what we are publishing: keep our copy */
		in->have_node = true;
		in->epoch = cfs->epoch;
		wake(in, 0);
	} else if (res->rc == ZNONODE && in->pending_create) {
		in->have_node = true; /* ours, not created on the server yet */
		in->epoch = cfs->epoch;
		wake(in, 0);
	} else if (res->rc == ZOK || res->rc == ZNONODE) {
		inode_set_node(in, res);
		wake(in, 0);
	} else {
		wake(in, zk_to_errno(res->rc));
	}
	send_fetches(cfs, in); /* an invalidation may have raced the reply */
	inode_unpin(cfs, in);
}

static void kids_done(struct zkclient *zk, const struct zkc_result *res, void *arg)
{
	struct cfs_inode *in = arg;
	(void)zk;
	inode_pin(in);
	in->fetching_kids = false;
	if (res->rc == ZOK || res->rc == ZNONODE) {
		inode_set_kids(in, res);
		wake(in, 0);
	} else {
		wake(in, zk_to_errno(res->rc));
	}
	send_fetches(cfs, in);
	inode_unpin(cfs, in);
}

static void send_fetches(struct cfs *fs, struct cfs_inode *in)
{
	bool want_node = false, want_kids = false;
	for (struct cfs_waiter *w = in->waiters; w; w = w->next) {
		if (!in->have_node || in->epoch != fs->epoch)
			want_node = true;
		if (w->kids && (!in->have_kids || in->epoch != fs->epoch))
			want_kids = true;
	}
	if (want_node && !in->fetching_node) {
		in->fetching_node = true;
		if (zkc_get_data(fs->zk, in->path, false, node_done, in) < 0) {
			in->fetching_node = false;
			wake(in, EIO);
			return;
		}
	}
	if (want_kids && !in->fetching_kids && !in->data_file) {
		in->fetching_kids = true;
		if (zkc_get_children(fs->zk, in->path, false, kids_done, in) < 0) {
			in->fetching_kids = false;
			wake(in, EIO);
		}
	}
}

void fetch_node(struct cfs *fs, struct cfs_inode *in, bool kids, fetch_cb cb, void *arg)
{
	struct cfs_waiter w = { NULL, kids && !in->data_file, cb, arg };
	if (satisfied(in, &w)) {
		cb(in, 0, arg);
		return;
	}
	struct cfs_waiter *nw = xmemdup(&w, sizeof(w));
	nw->next = in->waiters;
	in->waiters = nw;
	send_fetches(fs, in);
}
