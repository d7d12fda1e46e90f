/*
 * ops_file.c - file handles: open, create, read, write, flush, fsync,
 * release, truncate.
 *
 * A file's content is its znode's data, replaced whole: a writer's bytes are
 * staged in its handle and published with one setData, so every reader on
 * every mount sees the old content or the new, never a mix (measurements in
 * shared/notes/fuse-lab.md, Q4).  Publishing happens:
 *  - at RELEASE (the last close of the open file description): not at
 *    FLUSH, because bash's "> f" flushes before writing and a pipeline's
 *    children flush one by one;
 *  - at fsync, which waits for the server and returns its error;
 *  - commit_delay ms after the last write while the handle stays open, so a
 *    registration written through a long-lived descriptor becomes visible.
 * A failed publish is reported by the next flush/fsync on the handle (close
 * returns the error when the kernel gives us a FLUSH after it).
 *
 * Readers see one version per open: a read-only handle either reads through
 * the kernel's page cache a version the kernel holds unchanged for as long
 * as any such handle is open (inode.c, "the kernel view"), or, where that
 * cannot be had, gets a private copy of the content at open (direct_io).
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "coordfs.h"
#include "log.h"
#include "xalloc.h"


/* jute.maxbuffer is 1 MiB - 1 on the server; keep room for the request header. */
#define CFS_MAX_DATA (1024 * 1024 - 1024)

struct fh {
	struct cfs_inode *in;
	bool writable;
	bool dirty;
	bool committing;
	bool recommit;
	bool released;
	bool timer_armed;
	int err;
	struct buf content;
	bool null_data;
	bool ephemeral;   /* the node is an ephemeral of this mount's session */
	int64_t session;  /* ...of this session: after expiry the node is someone else's */
	bool replay;      /* opened by the notify thread's replay: writes are ignored */
	uint32_t create_gen; /* opened while the file was pending_create */
	bool closing;     /* a descriptor was closed after the last write (see op_flush) */
	struct kview *kv; /* a page-cache handle: the version its nodeid shows */
	bool kwriter;     /* counted in its nodeid's kwriters */
	bool kreader;     /* counted in its nodeid's kreaders */
	uv_timer_t timer;
	fuse_req_t fsync_req;
};

static bool read_only_path(const char *path)
{
	return !strncmp(path, "/zookeeper", 10) && (path[10] == 0 || path[10] == '/');
}

static const char *znode_path(const struct fh *h)
{
	return h->in->path; /* a ".data" file's path is its directory's */
}

static void ephemeral_deleted(struct zkclient *zk, const struct zkc_result *res, void *arg)
{
	struct cfs_inode *in = arg;
	(void)zk;
	(void)res;
	inode_invalidate(in, true, true);
	inode_unpin(cfs, in);
}

static void fh_timer_closed(uv_handle_t *t)
{
	struct fh *h = t->data;
	struct cfs_inode *in = h->in;
	in->open_handles--;
	if (h->replay)
		in->replay_handles--;
	/*
	 * An ephemeral file of ours lives as long as a handle to it is open on
	 * this mount: the last close (also the kernel's RELEASE after kill -9)
	 * deletes it.  If the whole mount dies, the session's expiry does.
	 */
	if (in->open_handles == in->replay_handles && h->ephemeral &&
	    h->session == zkc_session_id(cfs->zk)) {
		inode_pin(in);
		notify_own_change(cfs, ZEV_DELETED, in->path);
		if (zkc_delete(cfs->zk, in->path, -1, ephemeral_deleted, in) < 0)
			inode_unpin(cfs, in);
	}
	inode_forget(cfs, in, 0);
	buf_free(&h->content);
	free(h);
}

static void fh_maybe_free(struct fh *h)
{
	if (!h->released || h->committing || h->fsync_req)
		return;
	uv_close((uv_handle_t *)&h->timer, fh_timer_closed);
}

static void commit(struct fh *h);

void pending_drop(struct cfs *fs, struct cfs_inode *in)
{
	if (!in->pending_create)
		return;
	in->pending_create = false;
	in->create_inflight = false;
	struct cfs_inode **pp = &fs->pending;
	while (*pp && *pp != in)
		pp = &(*pp)->pend_next;
	if (*pp)
		*pp = in->pend_next;
	in->pend_next = NULL;
}

static void pending_add(struct cfs *fs, struct cfs_inode *in, int flags)
{
	in->pending_create = true;
	in->create_inflight = false;
	in->create_flags = flags;
	in->create_gen++;
	in->pend_next = fs->pending;
	fs->pending = in;
}

static void created(struct zkclient *zk, const struct zkc_result *res, void *arg);

/* A publish came back: send the next one, answer a waiting fsync, or free. */
static void commit_finished(struct fh *h)
{
	if (h->recommit) {
		h->recommit = false;
		commit(h);
		return;
	}
	if (h->fsync_req && !h->dirty) {
		fuse_reply_err(h->fsync_req, h->err);
		h->fsync_req = NULL;
		h->err = 0;
	}
	fh_maybe_free(h);
}

static void commit_done(struct zkclient *zk, const struct zkc_result *res, void *arg)
{
	struct fh *h = arg;
	(void)zk;
	h->committing = false;
	h->in->commits_inflight--;
	if (res->rc == ZOK && h->in->commits_inflight > 0) {
		/*
		 * A newer publish of this mount is still on its way (publishes
		 * complete in order): this content is already superseded here.
		 */
	} else if (res->rc == ZOK) {
		/* Read-your-writes on this mount: the cache takes what we published. */
		struct cfs_inode *in = h->in;
		free(in->data);
		in->datalen = h->null_data ? -1 : (int32_t)h->content.len;
		in->data = h->content.len ? xmemdup(h->content.data, h->content.len) : NULL;
		in->st = *res->stat;
		in->exists = true;
		in->have_node = true;
		in->epoch = cfs->epoch;
		kview_sync(in);
		if (in->data_file) {
			struct cfs_inode *dir = inode_find_path(cfs, in->path, false);
			if (dir)
				inode_invalidate(dir, true, false);
		} else {
			struct cfs_inode *df = inode_find_path(cfs, in->path, true);
			if (df)
				inode_invalidate(df, true, false);
		}
	} else {
		h->err = zk_to_errno(res->rc);
		if (res->rc == ZNONODE)
			h->err = ESTALE;
		inode_invalidate(h->in, true, false);
		log_warn("coordfs", "publishing %s failed: %s", znode_path(h), zk_strerror(res->rc));
	}
	commit_finished(h);
}

static void commit(struct fh *h)
{
	if (h->committing) {
		h->recommit = true;
		return;
	}
	if (!h->dirty)
		return;
	h->dirty = false;
	struct cfs_inode *in = h->in;
	if (h->create_gen && h->create_gen == in->cancelled_gen)
		return; /* unlinked before it was ever published */
	h->committing = true;
	if (in->pending_create && !in->create_inflight) {
		/*
		 * First publish of a file made here: create the znode with its
		 * content in one step.  A setData sent after this create is
		 * answered after it (FIFO per session), so other handles may go on.
		 */
		in->create_inflight = true;
		in->commits_inflight++;
		notify_own_change(cfs, ZEV_CREATED, in->path);
		if (zkc_create(cfs->zk, in->path, h->content.len ? h->content.data : "",
			       (int32_t)h->content.len, NULL, 0, in->create_flags & ~O_EXCL, 0,
			       created, h) < 0) {
			struct zkc_result res = { .rc = ZSYSTEMERROR };
			created(cfs->zk, &res, h);
		}
		return;
	}
	notify_own_change(cfs, ZEV_CHANGED, znode_path(h));
	in->commits_inflight++;
	if (zkc_set_data(cfs->zk, znode_path(h), h->content.data,
			 h->null_data ? -1 : (int32_t)h->content.len, -1, commit_done, h) < 0) {
		struct zkc_result res = { .rc = ZSYSTEMERROR };
		commit_done(cfs->zk, &res, h);
	}
}

static void created(struct zkclient *zk, const struct zkc_result *res, void *arg)
{
	struct fh *h = arg;
	struct cfs_inode *in = h->in;
	in->commits_inflight--;
	if (res->rc == ZNODEEXISTS && !(in->create_flags & O_EXCL)) {
		/* someone else made it meanwhile: publish over it, as open(O_CREAT) would */
		pending_drop(cfs, in);
		h->committing = false;
		h->dirty = true;
		commit(h);
		return;
	}
	pending_drop(cfs, in);
	char pp[4096];
	snprintf(pp, sizeof(pp), "%s", in->path);
	char *slash = strrchr(pp, '/');
	if (slash == pp)
		slash++;
	*slash = 0;
	struct cfs_inode *parent = inode_find_path(cfs, pp, false);
	if (parent)
		inode_invalidate(parent, true, true);
	if (res->rc != ZOK) {
		in->exists = false;
		in->have_node = false;
		in->commits_inflight++; /* commit_done counts this publish as ending */
		commit_done(zk, res, h); /* records the error for flush/fsync */
		return;
	}
	/* the cache refetches the Stat; the content is what we sent */
	inode_invalidate(in, true, false);
	h->committing = false;
	commit_finished(h);
}

static void timer_cb(uv_timer_t *t)
{
	struct fh *h = t->data;
	h->timer_armed = false;
	commit(h);
}

/*
 * kv: a page-cache handle's view (reads come from it); else snap: the
 * version a direct_io reader copies (a retired nodeid's view), or in's.
 */
static struct fh *fh_new(struct cfs_inode *in, int flags, struct kview *kv,
			 const struct kview *snap)
{
	struct fh *h = xcalloc(1, sizeof(*h));
	h->in = in;
	in->open_handles++;
	h->writable = (flags & O_ACCMODE) != O_RDONLY;
	h->ephemeral = !in->data_file && in->exists &&
		       ((in->pending_create && (in->create_flags & ZCM_EPHEMERAL)) ||
			(in->st.ephemeral_owner && in->st.ephemeral_owner == zkc_session_id(cfs->zk)));
	h->session = zkc_session_id(cfs->zk);
	if (in->pending_create)
		h->create_gen = in->create_gen;
	uv_timer_init(cfs->loop, &h->timer);
	h->timer.data = h;
	h->kv = kv;
	if (kv) {
		/* reads come from kv */
	} else if (snap) {
		buf_append(&h->content, snap->data, (size_t)snap->len);
	} else if (!(flags & O_TRUNC) || !h->writable) {
		if (in->datalen > 0)
			buf_append(&h->content, in->data, (size_t)in->datalen);
	} else {
		h->dirty = true; /* the truncation itself must be published */
	}
	return h;
}

static void set_open_flags(struct fuse_file_info *fi, struct fh *h)
{
	fi->fh = (uint64_t)(uintptr_t)h;
	/*
	 * A page-cache handle (h->kv): the kernel serves read() from its page
	 * cache, so a warm open+read+close costs OPEN and RELEASE only.
	 * keep_cache everywhere: pages are dropped only by explicit
	 * invalidations (inode.c, K4), never because another handle opened.
	 *
	 * Every other handle is direct_io: its content is its own snapshot,
	 * taken at open, and EOF is where the snapshot ends, so no read mixes
	 * two versions and no size cached by the kernel can cut or pad it.
	 *
	 * Read-only handles skip FLUSH (noflush), which halves the cost of a
	 * warm open+read+close (bench-fs), unless an fcntl lock was ever asked
	 * for on the file here (locks_posix_used).  Our POSIX locks live in the
	 * daemon, so FLUSH is the kernel's only word of a close(): POSIX drops
	 * a process's fcntl locks on a file at any close of it and at exit.
	 * A lock taken through a handle opened before the file's first lock
	 * (so without FLUSH) is dropped at that handle's release, the last
	 * close of its open file description (locks.c locks_release), as an
	 * OFD lock is: not by a close of another descriptor of the file, nor by
	 * the exit of a forked child that shares the description.
	 */
	fi->keep_cache = 1;
	if (!h->kv)
		fi->direct_io = 1;
	if (!h->writable && !h->replay && !locks_posix_used(h->in))
		fi->noflush = 1;
}

/*
 * Opens that must wait, bounded by OPEN_WAIT_MS: while a writer on this
 * mount has closed a descriptor after writing but its RELEASE has not come
 * yet.  The kernel sends RELEASE
 * asynchronously and may queue it behind other background requests, so
 * "echo v > f; cat f" can deliver cat's OPEN first; waiting for the RELEASE
 * gives read-your-writes without publishing at FLUSH (which would expose the
 * intermediate content of "{ cmd1; cmd2; } > f").
 */
#define OPEN_WAIT_MS 200

/* An open parked until something happened (below); open_go runs it again. */
struct parked_open {
	struct cfs_inode *in; /* the path's current inode */
	fuse_req_t req;
	fuse_ino_t ino;
	int flags;
	bool replay;
	bool retry;
};

struct open_waiter {
	struct open_waiter *next;
	struct parked_open op;
	bool queued;
	uv_timer_t timer;
};

static void open_go(fuse_req_t req, struct cfs_inode *in, fuse_ino_t ino, int flags, bool replay,
		    bool retry, uint64_t fence_deadline);

static void unpark(const struct parked_open *p, uint64_t fence_deadline)
{
	open_go(p->req, p->in, p->ino, p->flags, p->replay, p->retry, fence_deadline);
}

static void waiter_closed(uv_handle_t *t)
{
	free(t->data);
}

static void waiter_run(struct open_waiter *w)
{
	uv_timer_stop(&w->timer);
	unpark(&w->op, 0);
	uv_close((uv_handle_t *)&w->timer, waiter_closed);
}

static void unlink_waiter(struct cfs_inode *in, struct open_waiter *w)
{
	struct open_waiter **pp = &in->open_waiters;
	while (*pp && *pp != w)
		pp = &(*pp)->next;
	if (*pp)
		*pp = w->next;
	w->queued = false;
}

static void waiter_timeout(uv_timer_t *t)
{
	struct open_waiter *w = t->data;
	struct cfs_inode *in = w->op.in;
	/*
	 * No RELEASE came: the descriptor lives on elsewhere (exec 3>f; echo >&3).
	 * Later opens must not wait for it again, until the next close after a write.
	 */
	in->closing_expired = true;
	unlink_waiter(in, w);
	waiter_run(w);
	inode_forget(cfs, in, 0);
}

/* Runs the waiting opens that may go now. */
static void wake_opens(struct cfs_inode *in, bool ignore_writers)
{
	if (!ignore_writers && in->closing_writers > 0)
		return;
	struct open_waiter *w = in->open_waiters;
	in->open_waiters = NULL;
	while (w) {
		struct open_waiter *next = w->next;
		w->queued = false;
		waiter_run(w);
		w = next;
	}
}

static bool must_wait(const struct cfs_inode *in)
{
	return in->closing_writers > 0 && !in->closing_expired;
}

static void wait_open(struct cfs_inode *in, fuse_req_t req, fuse_ino_t ino, int flags, bool replay,
		      bool retry)
{
	struct open_waiter *w = xcalloc(1, sizeof(*w));
	w->op = (struct parked_open){ in, req, ino, flags, replay, retry };
	w->queued = true;
	w->next = in->open_waiters;
	in->open_waiters = w;
	uv_timer_init(cfs->loop, &w->timer);
	w->timer.data = w;
	uv_timer_start(&w->timer, waiter_timeout, OPEN_WAIT_MS, 0);
}

static void set_closing(struct fh *h, bool closing)
{
	if (h->closing == closing)
		return;
	h->closing = closing;
	h->in->closing_writers += closing ? 1 : -1;
	if (closing)
		h->in->closing_expired = false;
	if (!closing)
		wake_opens(h->in, false);
}

struct open_ctx {
	fuse_req_t req;
	fuse_ino_t ino;  /* the nodeid opened (0: a create, answered with in's) */
	int flags;
	bool create;
	bool replay;
	bool waited;  /* already waited once (timeout): do not wait again */
	bool retry;   /* retrying after our ESTALE: not sent back again */
	uint64_t fence_deadline; /* waiting for invalidations until then (0: not yet) */
};

/*
 * Read-only opens waiting for a kernel invalidation of their nodeid (inode.c,
 * K4), or for writers on it to finish, so that they read through the page
 * cache what the kernel then holds.  A direct_io snapshot would do for
 * read(), but the size fstat() gives would be whatever the writers or the
 * version before left in the kernel until the invalidation is through, and
 * programs read st_size bytes.  Bounded: after FENCE_WAIT_MS they get the
 * snapshot.  Woken by every completed invalidation of the nodeid (a
 * writer's last release queues one).
 */
#define FENCE_WAIT_MS 100
/* A retry cannot be sent on again (RD_AGAIN): it waits longer. */
#define RETRY_WAIT_MS 1000

struct fence_waiter {
	struct fence_waiter *next;
	struct cfs_inode *k;  /* the nodeid's entry, whose list this is on */
	struct parked_open op;
	bool writer;  /* counted in k->kwait_writers */
	uint64_t deadline;
	uv_timer_t timer;
};

static void fence_waiter_closed(uv_handle_t *t)
{
	free(t->data);
}

static void fence_waiter_run(struct fence_waiter *w)
{
	struct cfs_inode *in = w->op.in, *k = w->k;
	uv_timer_stop(&w->timer);
	if (w->writer)
		k->kwait_writers--;
	unpark(&w->op, w->deadline);
	uv_close((uv_handle_t *)&w->timer, fence_waiter_closed);
	inode_unpin(cfs, in);
	inode_unpin(cfs, k);
}

static void fence_timeout(uv_timer_t *t)
{
	struct fence_waiter *w = t->data;
	struct fence_waiter **pp = &w->k->fence_waiters;
	while (*pp && *pp != w)
		pp = &(*pp)->next;
	if (*pp)
		*pp = w->next;
	fence_waiter_run(w);
}

void file_fence_done(struct cfs_inode *in)
{
	struct fence_waiter *w = in->fence_waiters;
	in->fence_waiters = NULL;
	inode_pin(in);
	while (w) {
		struct fence_waiter *next = w->next;
		fence_waiter_run(w);
		w = next;
	}
	inode_unpin(cfs, in);
}

static void wait_fence(struct cfs_inode *k, struct cfs_inode *in, fuse_req_t req, fuse_ino_t ino,
		       int flags, bool retry, bool writer, uint64_t deadline)
{
	struct fence_waiter *w = xcalloc(1, sizeof(*w));
	w->writer = writer;
	if (writer)
		k->kwait_writers++; /* no new readers meanwhile (inode.c, K3) */
	w->k = k;
	w->op = (struct parked_open){ in, req, ino, flags, false, retry };
	w->deadline = deadline;
	w->next = k->fence_waiters;
	k->fence_waiters = w;
	inode_pin(k);
	inode_pin(in);
	uv_timer_init(cfs->loop, &w->timer);
	w->timer.data = w;
	uv_timer_start(&w->timer, fence_timeout, deadline - uv_now(cfs->loop), 0);
}

/* A writer told ESTALE comes back (inode.c, K3) within this time. */
#define EXPECT_WRITER_MS 1000

/*
 * Threads whose open we answered ESTALE: the kernel retries that open at
 * once, from the same thread, and the retry must not get ESTALE again (the
 * kernel retries only once).  Found by the caller's thread id.
 */
#define RETRY_SLOTS 64
static struct {
	pid_t tid;
	uint64_t until;
} retrying[RETRY_SLOTS];

static void retry_note(fuse_req_t req)
{
	uint64_t now = uv_now(cfs->loop);
	int slot = 0;
	for (int i = 0; i < RETRY_SLOTS; i++) {
		if (retrying[i].until <= now) {
			slot = i;
			break;
		}
		if (retrying[i].until < retrying[slot].until)
			slot = i;
	}
	retrying[slot].tid = fuse_req_ctx(req)->pid;
	retrying[slot].until = now + EXPECT_WRITER_MS;
}

static bool retry_take(fuse_req_t req)
{
	uint64_t now = uv_now(cfs->loop);
	pid_t tid = fuse_req_ctx(req)->pid;
	for (int i = 0; i < RETRY_SLOTS; i++) {
		if (retrying[i].until > now && retrying[i].tid == tid) {
			retrying[i].until = 0;
			return true;
		}
	}
	return false;
}

/*
 * How a read-only open of nodeid k (in: its path's current inode) is
 * served: through the page cache (RD_CACHE), after waiting for an
 * invalidation or writers (RD_WAIT), by ESTALE and a retry on the path's
 * fresh nodeid (RD_AGAIN; a retry is never sent back again), or by a
 * direct_io snapshot (RD_COPY).
 */
enum { RD_CACHE, RD_WAIT, RD_AGAIN, RD_COPY };

static int reader_kind(struct cfs_inode *k, struct cfs_inode *in, const struct open_ctx *oc)
{
	/* the name leads elsewhere now: go there, fresher */
	if (k->retired && !oc->retry)
		return RD_AGAIN;
	if (k->retired && !k->kv && in->exists && in->datalen >= 0 && !inode_is_dir(in)) {
		/*
		 * A retry that found its name retired again (churn): this nodeid
		 * has no view, and the size the kernel holds for it is what its
		 * writers left.  It takes the current content as its frozen view
		 * from now on, the kernel is told to ask for its size again (at
		 * once: no page of it is locked by anyone, and nothing can be
		 * inside read() of a nodeid without page-cache handles), and the
		 * open reads that view, direct_io (RD_COPY of a retired nodeid
		 * copies its view): fstat then agrees with it.
		 */
		kview_freeze(k, in);
		fuse_lowlevel_notify_inval_inode(cfs->se, k->nodeid, -1, 0);
		return RD_COPY;
	}
	int can = kview_can_cache(k);
	if (can == KV_OK)
		return RD_CACHE;
	if (can == KV_NO)
		return RD_COPY;
	if (k->kwriters > 0 && !oc->retry && !k->retired) {
		/*
		 * K3: writers on this nodeid size it in the kernel themselves,
		 * and may go on doing so for long: they keep it, the name gets a
		 * fresh nodeid for readers.
		 */
		inode_retire(cfs, k);
		return RD_AGAIN;
	}
	if (!oc->fence_deadline || uv_now(cfs->loop) < oc->fence_deadline)
		return RD_WAIT;
	if (!oc->retry && k->kwriters == 0 && !k->retired) {
		/* changes keep coming faster than invalidations: a fresh nodeid needs none */
		inode_retire(cfs, k);
		return RD_AGAIN;
	}
	return RD_COPY;
}

static void open_done(struct cfs_inode *in, int err, void *arg)
{
	struct open_ctx *oc = arg;
	struct fuse_file_info fi;
	memset(&fi, 0, sizeof(fi));
	if (!err && !in->exists)
		err = ENOENT;
	/*
	 * The name was resolved to this node before a rename or delete
	 * replaced it: ESTALE makes the kernel walk the path once more with
	 * revalidation (as NFS does), so a reader opening a file that
	 * `sed -i` or `mv` is replacing gets the new one, never ENOENT.
	 */
	if (err == ENOENT && !oc->create && !oc->replay && !oc->retry) {
		err = ESTALE;
		retry_note(oc->req); /* its retry is not sent back again */
	}
	if (!err && in->data_file && in->datalen < 0)
		err = ENOENT;
	if (!err && inode_is_dir(in))
		err = EISDIR;
	if (err) {
		fuse_reply_err(oc->req, err);
		free(oc);
		return;
	}
	if (!oc->create && !oc->replay && must_wait(in) && !oc->waited) {
		wait_open(in, oc->req, oc->ino, oc->flags, false, oc->retry);
		free(oc);
		return;
	}
	/* k: the entry of the nodeid the kernel opens; in: its path's current inode */
	struct cfs_inode *k = oc->create ? in : inode_get_raw(cfs, oc->ino);
	if (!k)
		k = in;
	bool writer = (oc->flags & O_ACCMODE) != O_RDONLY && !oc->replay;
	struct kview *kv = NULL;
	if (writer && (k->pc_open > 0 || (k->kreaders > 0 && !oc->retry))) {
		/*
		 * K3: this writer would change the size readers of this nodeid
		 * see (page-cache ones inside read(), others in fstat).  It waits
		 * for them to close, for a while.  A create names the nodeid in
		 * its reply: give it a fresh one.  An open cannot: ESTALE, and the
		 * kernel looks the name up again and opens the fresh nodeid, where
		 * no page-cache handle is granted until it came (a direct_io
		 * reader there does not send it back again).
		 */
		uint64_t now = uv_now(cfs->loop);
		if (oc->create) {
			inode_retire(cfs, in);
			k = in;
		} else if (!k->retired && (!oc->fence_deadline || now < oc->fence_deadline)) {
			wait_fence(k, in, oc->req, oc->ino, oc->flags, oc->retry, true,
				   oc->fence_deadline ? oc->fence_deadline : now + FENCE_WAIT_MS);
			free(oc);
			return;
		} else {
			if (!k->retired)
				inode_retire(cfs, k);
			else if (in->kreaders > 0)
				inode_retire(cfs, in);
			in->kexpect_until = uv_now(cfs->loop) + EXPECT_WRITER_MS;
			retry_note(oc->req);
			fuse_reply_err(oc->req, ESTALE);
			free(oc);
			return;
		}
	}
	if (writer) {
		/* the kernel sizes this nodeid itself from now on: its view is void */
		k->kwriters++;
		kview_put(k->kv);
		k->kv = NULL;
		k->kchg++;
		k->kexpect_until = 0;
	} else if (!oc->replay && !oc->create) {
		switch (reader_kind(k, in, oc)) {
		case RD_CACHE:
			kv = kview_get(k);
			k->pc_open++;
			break;
		case RD_WAIT:
			kview_need_fence(k);
			wait_fence(k, in, oc->req, oc->ino, oc->flags, oc->retry, false,
				   oc->fence_deadline ? oc->fence_deadline
				   : uv_now(cfs->loop) + (oc->retry ? RETRY_WAIT_MS : FENCE_WAIT_MS));
			free(oc);
			return;
		case RD_AGAIN:
			retry_note(oc->req);
			fuse_reply_err(oc->req, ESTALE);
			free(oc);
			return;
		default:
			break;
		}
	}
	/* a reader of a retired nodeid without its page cache reads its version */
	const struct kview *snap = !kv && k->retired && !writer && !oc->replay ? k->kv : NULL;
	struct fh *h = fh_new(in, oc->replay ? O_RDONLY : oc->flags, kv, snap);
	h->kwriter = writer;
	h->kreader = !writer && !oc->replay;
	if (h->kreader)
		k->kreaders++;
	h->replay = oc->replay;
	if (h->replay) {
		h->ephemeral = false; /* a replay's close must not end our ephemeral */
		in->replay_handles++; /* nor its being open keep it (fh_timer_closed) */
	}
	set_open_flags(&fi, h);
	if (oc->create) {
		struct fuse_entry_param e;
		in->nlookup++;
		fill_entry(cfs, in, &e);
		fuse_reply_create(oc->req, &e, &fi);
	} else {
		fuse_reply_open(oc->req, &fi);
	}
	free(oc);
}

static void op_open(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct cfs_inode *in = inode_get(cfs, ino);
	if (!in)
		return (void)fuse_reply_err(req, ENOENT);
	if ((fi->flags & O_ACCMODE) != O_RDONLY && read_only_path(in->path))
		return (void)fuse_reply_err(req, EROFS);
	if (in->data_file && !in->have_node)
		inode_invalidate(in, true, false);
	int kind;
	char rpath[4096];
	bool replay = notify_replaying(req, &kind, rpath, sizeof(rpath));
	if (replay)
		notify_replay_opened(ino); /* a hold checks which nodeid it got */
	open_go(req, in, ino, fi->flags, replay, !replay && retry_take(req), 0);
}

static void open_go(fuse_req_t req, struct cfs_inode *in, fuse_ino_t ino, int flags, bool replay,
		    bool retry, uint64_t fence_deadline)
{
	struct open_ctx *oc = xcalloc(1, sizeof(*oc));
	oc->req = req;
	oc->ino = ino;
	oc->flags = flags;
	oc->replay = replay;
	oc->retry = retry;
	oc->fence_deadline = fence_deadline;
	oc->waited = in->closing_writers > 0; /* woken by the timeout: go on */
	/* Reads take the freshest copy we know; writers start from it. */
	fetch_node(cfs, in, false, open_done, oc);
}

struct create_ctx {
	fuse_req_t req;
	int flags;
	int create_flags;
	char *path;
	struct cfs_inode *parent;
};

static void create_checked(struct cfs_inode *in, int err, void *arg)
{
	struct create_ctx *cc = arg;
	struct open_ctx *oc;

	if (err) {
		fuse_reply_err(cc->req, err);
		goto out;
	}
	if (in->exists && (cc->flags & O_EXCL)) {
		fuse_reply_err(cc->req, EEXIST);
		goto out;
	}
	oc = xcalloc(1, sizeof(*oc));
	oc->req = cc->req;
	oc->flags = cc->flags;
	oc->create = true;
	if (!in->exists) {
		/*
		 * A new file stays on this mount until its first publish creates
		 * the znode with its content (commit), so nobody sees it empty.
		 * In an ephemeral directory it is created ephemeral, so there is no
		 * moment at which a crash would leave it behind.
		 */
		free(in->data);
		in->data = NULL;
		in->datalen = 0;
		memset(&in->st, 0, sizeof(in->st));
		in->st.ctime = in->st.mtime = (int64_t)uv_now(cfs->loop);
		in->exists = true;
		in->have_node = true;
		in->epoch = cfs->epoch;
		pending_add(cfs, in, cc->create_flags | (cc->flags & O_EXCL));
		kview_sync(in);
		inode_invalidate(cc->parent, false, true);
		oc->flags |= O_TRUNC; /* publish even if nothing is written (touch) */
	}
	/* It may exist (made elsewhere, or pending here): open it as open(2) would. */
	open_done(in, 0, oc);
out:
	inode_unpin(cfs, in);
	free(cc->path);
	free(cc);
}

static void create_flags(int err, int flags, void *arg)
{
	struct create_ctx *cc = arg;
	if (err) {
		fuse_reply_err(cc->req, err);
		free(cc->path);
		free(cc);
		return;
	}
	cc->create_flags = flags;
	struct cfs_inode *in = inode_ref_path(cfs, cc->path, false);
	in->nlookup--;
	inode_pin(in);
	if (!in->pending_create)
		inode_invalidate(in, true, false); /* decide on the server's current answer */
	fetch_node(cfs, in, false, create_checked, cc);
}

static void op_create(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode,
		      struct fuse_file_info *fi)
{
	struct cfs_inode *p = inode_get(cfs, parent);
	(void)mode;
	if (!p)
		return (void)fuse_reply_err(req, ENOENT);
	if (p->data_file)
		return (void)fuse_reply_err(req, ENOTDIR);
	int err = name_check(name);
	if (err)
		return (void)fuse_reply_err(req, err);
	int kind;
	char rpath[4096];
	if (notify_replaying(req, &kind, rpath, sizeof(rpath))) {
		/* replay of a remote create: answer with the node that exists */
		char *path = path_join(p->path, name);
		struct cfs_inode *in = inode_ref_path(cfs, path, false);
		free(path);
		in->nlookup--;
		struct open_ctx *oc = xcalloc(1, sizeof(*oc));
		oc->req = req;
		oc->flags = fi->flags;
		oc->create = true;
		oc->replay = true;
		fetch_node(cfs, in, false, open_done, oc);
		return;
	}
	struct create_ctx *cc = xcalloc(1, sizeof(*cc));
	cc->req = req;
	cc->flags = fi->flags;
	cc->parent = p;
	cc->path = path_join(p->path, name);
	if (read_only_path(cc->path)) {
		fuse_reply_err(req, EROFS);
		free(cc->path);
		free(cc);
		return;
	}
	create_flags_for(p, create_flags, cc);
}

static void reply_slice(fuse_req_t req, const char *data, size_t len, size_t size, off_t off)
{
	if (off < 0 || (size_t)off >= len)
		return (void)fuse_reply_buf(req, NULL, 0);
	size_t n = len - (size_t)off;
	fuse_reply_buf(req, data + off, n < size ? n : size);
}

static void op_read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, struct fuse_file_info *fi)
{
	struct fh *h = (struct fh *)(uintptr_t)fi->fh;
	if (h->kv)
		return reply_slice(req, h->kv->data, (size_t)h->kv->len, size, off);
	if (fi->lock_owner != 0 || h->replay)
		return reply_slice(req, h->content.data, h->content.len, size, off);
	/*
	 * A direct_io handle's READ without a lock owner is the kernel filling
	 * its page cache (a MAP_PRIVATE mmap): pages of this nodeid must be its
	 * kernel view if it has one (inode.c, K1), and otherwise they are
	 * dropped again before any page-cache handle is granted.
	 */
	struct cfs_inode *k = inode_get_raw(cfs, ino);
	if (k && k->kv)
		return reply_slice(req, k->kv->data, (size_t)k->kv->len, size, off);
	reply_slice(req, h->content.data, h->content.len, size, off);
	if (k)
		kview_changed(k);
}

static void arm(struct fh *h)
{
	uv_timer_start(&h->timer, timer_cb, (uint64_t)cfs->opt.commit_delay_ms, 0);
	h->timer_armed = true;
}

static void op_write(fuse_req_t req, fuse_ino_t ino, const char *buf, size_t size, off_t off,
		     struct fuse_file_info *fi)
{
	struct fh *h = (struct fh *)(uintptr_t)fi->fh;
	(void)ino;
	if (h->replay)
		return (void)fuse_reply_write(req, size); /* a replay's marker byte */
	if (fi->flags & O_APPEND)
		off = (off_t)h->content.len;
	if (off < 0 || (uint64_t)off + size > CFS_MAX_DATA)
		return (void)fuse_reply_err(req, EFBIG);
	size_t end = (size_t)off + size;
	if (end > h->content.len) {
		buf_reserve(&h->content, end - h->content.len);
		memset(h->content.data + h->content.len, 0, end - h->content.len);
		h->content.len = end;
	}
	memcpy(h->content.data + off, buf, size);
	h->dirty = true;
	h->null_data = false;
	set_closing(h, false);
	arm(h);
	fuse_reply_write(req, size);
}

static void op_flush(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct fh *h = (struct fh *)(uintptr_t)fi->fh;
	(void)ino;
	locks_flush(ino, fi->lock_owner); /* a close drops the closer's fcntl locks (locks.c) */
	if (h->writable && h->dirty && !h->replay)
		set_closing(h, true); /* a RELEASE that publishes is probably coming */
	int err = h->err;
	h->err = 0;
	fuse_reply_err(req, err);
}

static void op_fsync(fuse_req_t req, fuse_ino_t ino, int datasync, struct fuse_file_info *fi)
{
	struct fh *h = (struct fh *)(uintptr_t)fi->fh;
	(void)ino;
	(void)datasync;
	if (h->fsync_req)
		return (void)fuse_reply_err(req, EBUSY);
	if (!h->dirty && !h->committing) {
		int err = h->err;
		h->err = 0;
		return (void)fuse_reply_err(req, err);
	}
	uv_timer_stop(&h->timer);
	h->fsync_req = req;
	commit(h);
}

static void op_release(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct fh *h = (struct fh *)(uintptr_t)fi->fh;
	locks_release(ino, fi); /* the last close drops the handle's flock locks (locks.c) */
	h->released = true;
	uv_timer_stop(&h->timer);
	bool was_closing = h->closing;
	if (h->closing) {
		h->closing = false;
		h->in->closing_writers--;
	}
	if (h->dirty) {
		/* Local readers see the new content at once; the server follows. */
		struct cfs_inode *in = h->in;
		free(in->data);
		in->datalen = h->null_data ? -1 : (int32_t)h->content.len;
		in->data = h->content.len ? xmemdup(h->content.data, h->content.len) : NULL;
		kview_sync(in);
		commit(h);
	}
	/* the counts of the nodeid the handle was opened on (inode.c) */
	struct cfs_inode *k = inode_get_raw(cfs, ino);
	bool reader = h->kreader;
	if (h->kv) {
		if (k)
			k->pc_open--;
		kview_put(h->kv);
		h->kv = NULL;
	}
	if (h->kreader && k)
		k->kreaders--;
	if (h->kwriter && k && --k->kwriters == 0)
		kview_changed(k); /* K4: what the writer made the kernel hold goes */
	if (k && reader && (k->pc_open == 0 || k->kreaders == 0)) {
		inode_pin(k);
		kview_closed(k); /* a drain ends, waiting writers go on */
		inode_unpin(cfs, k);
	}
	if (k && k->retired)
		kview_unretire_later(k);
	if (k)
		inode_forget(cfs, k, 0);
	if (was_closing)
		wake_opens(h->in, false);
	fuse_reply_err(req, 0);
	fh_maybe_free(h);
}

struct trunc_ctx {
	fuse_req_t req;
	off_t size;
};

static void trunc_set(struct zkclient *zk, const struct zkc_result *res, void *arg);

static void trunc_fetched(struct cfs_inode *in, int err, void *arg)
{
	struct trunc_ctx *tc = arg;
	if (!err && !in->exists)
		err = ENOENT;
	if (!err && inode_is_dir(in))
		err = EISDIR;
	if (err) {
		fuse_reply_err(tc->req, err);
		free(tc);
		return;
	}
	size_t n = (size_t)tc->size;
	char *d = xcalloc(n ? n : 1, 1);
	if (in->datalen > 0)
		memcpy(d, in->data, n < (size_t)in->datalen ? n : (size_t)in->datalen);
	inode_pin(in);
	notify_own_change(cfs, ZEV_CHANGED, in->path);
	if (zkc_set_data(cfs->zk, in->path, d, (int32_t)n, -1, trunc_set, tc) < 0) {
		fuse_reply_err(tc->req, EIO);
		free(tc);
	}
	inode_unpin(cfs, in);
	free(d);
}

static void trunc_set(struct zkclient *zk, const struct zkc_result *res, void *arg)
{
	struct trunc_ctx *tc = arg;
	(void)zk;
	if (res->rc != ZOK) {
		fuse_reply_err(tc->req, zk_to_errno(res->rc));
	} else {
		struct stat st;
		memset(&st, 0, sizeof(st));
		st.st_size = tc->size;
		st.st_mode = S_IFREG | (0666 & ~cfs->opt.umask);
		st.st_nlink = 1;
		st.st_uid = cfs->opt.uid;
		st.st_gid = cfs->opt.gid;
		fuse_reply_attr(tc->req, &st, 0);
	}
	free(tc);
}

void file_setattr_size(fuse_req_t req, fuse_ino_t ino, struct cfs_inode *in,
		       struct fuse_file_info *fi, off_t size)
{
	if (size < 0 || size > CFS_MAX_DATA)
		return (void)fuse_reply_err(req, EFBIG);
	if (read_only_path(in->path))
		return (void)fuse_reply_err(req, EROFS);
	if (fi && fi->fh) {
		struct fh *h = (struct fh *)(uintptr_t)fi->fh;
		size_t n = (size_t)size;
		if (n > h->content.len) {
			buf_reserve(&h->content, n - h->content.len);
			memset(h->content.data + h->content.len, 0, n - h->content.len);
		}
		h->content.len = n;
		h->dirty = true;
		h->null_data = false;
		arm(h);
		struct stat st;
		inode_fill_attr(cfs, in, &st);
		st.st_size = size;
		return (void)fuse_reply_attr(req, &st, 0);
	}
	/*
	 * truncate(2) by path: the kernel sets this nodeid's size from our reply
	 * once it has come back, and no release tells us when (inode.c, K3).
	 * With page-cache handles open: ESTALE, and the kernel retries on a
	 * fresh nodeid.  Without: this nodeid is left behind without a view,
	 * never to be read through the page cache again.
	 */
	struct cfs_inode *k = inode_get_raw(cfs, ino);
	if (k && (k->pc_open > 0 || (k->kreaders > 0 && !retry_take(req)))) {
		if (!k->retired)
			inode_retire(cfs, k);
		else if (in->kreaders > 0)
			inode_retire(cfs, in);
		in->kexpect_until = uv_now(cfs->loop) + EXPECT_WRITER_MS;
		retry_note(req);
		return (void)fuse_reply_err(req, ESTALE);
	}
	if (k && !k->retired && k->kknown)
		k = inode_retire(cfs, k);
	if (k && k->retired) {
		kview_put(k->kv); /* never read through the page cache again */
		k->kv = NULL;
	}
	/* read, cut, write back in one setData */
	struct trunc_ctx *tc = xcalloc(1, sizeof(*tc));
	tc->req = req;
	tc->size = size;
	fetch_node(cfs, in, false, trunc_fetched, tc);
}

void ops_file_fill(struct fuse_lowlevel_ops *ops)
{
	ops->open = op_open;
	ops->create = op_create;
	ops->read = op_read;
	ops->write = op_write;
	ops->flush = op_flush;
	ops->fsync = op_fsync;
	ops->release = op_release;
}
