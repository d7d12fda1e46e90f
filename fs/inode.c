/*
 * inode.c - the mount's inode table: kernel nodeids <-> znode paths, lookup
 * counts, and the cached copy of each node (data, Stat, children).
 *
 * Invariants:
 * (1) One inode per (path, data_file); its nodeid never changes while the
 *     kernel holds a lookup reference (nlookup > 0), and the inode is freed
 *     only when nlookup reaches 0 and nothing waits on it.
 * (2) A cached node or child list is either valid (filled by a server reply
 *     that came after every event about it) or marked invalid; watch events
 *     only ever invalidate, they never fill.
 * (3) The root (nodeid 1) is never freed.
 *
 * The kernel view.  Small files are read through the kernel's page cache
 * (ops_file.c), and the kernel keeps a file's size and its pages per inode,
 * apart: a read() takes the pages first and the size after, without a
 * lock against anything we send meanwhile, and a page-cache read sends us
 * nothing at all.  So nothing the mount does can make a change of size and
 * pages atomic for a reader that is inside read() at that moment (a reader
 * holding old pages that samples a new size sees the old content padded
 * with zeros, or cut).  The page cache is therefore used only in a way
 * where neither ever changes under a possible reader:
 *
 * (K1) While page-cache handles are open on a nodeid (pc_open > 0; a
 *      reader can only be inside read() while it holds one), what the
 *      kernel has for that nodeid never changes: every READ of the page
 *      cache and every attribute reply for it come from its kview kv, one
 *      immutable version.
 * (K2) When the content changes while such handles are open, the nodeid
 *      drains (kdrain): it keeps showing kv, opens wait, and once the
 *      handles are closed it goes on as in K4.  Handles are mostly closed
 *      within microseconds; if they are not within DRAIN_MS (or a waiting
 *      open's patience), the nodeid is retired (inode_retire): it stays
 *      with them, frozen at kv, and the path gets a fresh nodeid the kernel
 *      has no state for, which the kernel looks up again once its name is
 *      invalidated.  Nothing is ever changed under a page-cache reader; it
 *      keeps the version it opened, as the per-handle snapshots of direct_io
 *      handles do.  Inotify watches stay with the old inode: while its
 *      handles are open the notify thread holds it and replays the path's
 *      changes through it (notify.c, struct hold), and once they are
 *      closed the path takes the old nodeid back (K5).
 * (K3) Writers change the kernel's size themselves (O_TRUNC at open,
 *      writes past the end), outside our replies.  A writable open of a
 *      nodeid with readers open (kreaders; page-cache ones, and direct_io
 *      ones, whose fstat would see it) waits for them to close, and no new
 *      reader is let in meanwhile (kwait_writers).  If they stay open, it
 *      is answered ESTALE after retiring the nodeid: the kernel looks the
 *      name up again (LOOKUP_REVAL) and opens the fresh nodeid, where no
 *      page-cache handle is granted until that writer came
 *      (kexpect_until).  While writers are open (kwriters), no
 *      page-cache handle is granted on their nodeid, and a reader arriving
 *      there is sent on the same way: the writers keep the nodeid, the
 *      reader gets a fresh one and its page cache (a direct_io copy would
 *      read right, but fstat would give the size the writers left in the
 *      kernel).  An open gets ESTALE once at most: a writer's retry finds
 *      no page-cache handle (kexpect_until), a reader's retry is known by
 *      its thread (ops_file.c) and not sent back again.
 * (K4) When content changes with no page-cache handle open, the nodeid is
 *      kept: the kernel is told to drop its pages and attributes
 *      (notify_fence), and no page-cache handle is granted until that
 *      invalidation has completed with no change since it was queued
 *      (kclean == kchg).  The kernel discards attributes of requests sent
 *      before an invalidation (attr_version), so afterwards it holds only
 *      what we answered later, which was the current content.  The fence
 *      is through only once the kernel has also fetched the new attributes
 *      (a statx from the notify thread, notify.c fence_refresh): a reader
 *      racing with the first refresh of invalidated attributes can find
 *      them marked fresh while the old size is still in place (the kernel
 *      marks before it writes), so the size must be written before any
 *      page-cache handle exists.  Pages are then read on demand from kv.
 * (K5) A retired nodeid whose handles are all closed is given back to its
 *      path (unretire), and the fresh one retired in its place, so the
 *      file's kernel inode outlasts the readers that held it (see there).
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "coordfs.h"
#include "log.h"
#include "xalloc.h"

static uint32_t hash_str(const char *s, bool flag)
{
	uint32_t h = 2166136261u ^ (flag ? 0x5bd1e995u : 0);
	for (; *s; s++)
		h = (h ^ (uint8_t)*s) * 16777619u;
	return h;
}

void inode_init(struct cfs *fs)
{
	fs->nb = 4096;
	fs->by_id = xcalloc(fs->nb, sizeof(*fs->by_id));
	fs->by_path = xcalloc(fs->nb, sizeof(*fs->by_path));
	fs->next_id = FUSE_ROOT_ID;
	struct cfs_inode *root = inode_ref_path(fs, "/", false);
	root->nlookup = 1; /* held by the kernel for the life of the mount */
}

struct cfs_inode *inode_get_raw(struct cfs *fs, fuse_ino_t id)
{
	for (struct cfs_inode *in = fs->by_id[id & (fs->nb - 1)]; in; in = in->id_next)
		if (in->nodeid == id)
			return in;
	return NULL;
}

struct cfs_inode *inode_get(struct cfs *fs, fuse_ino_t id)
{
	struct cfs_inode *in = inode_get_raw(fs, id);
	return in && in->retired ? in->live : in;
}

struct cfs_inode *inode_find_path(struct cfs *fs, const char *path, bool data_file)
{
	uint32_t h = hash_str(path, data_file);
	for (struct cfs_inode *in = fs->by_path[h & (fs->nb - 1)]; in; in = in->path_next)
		if (in->path_hash == h && in->data_file == data_file && !strcmp(in->path, path))
			return in;
	return NULL;
}

struct cfs_inode *inode_ref_path(struct cfs *fs, const char *path, bool data_file)
{
	struct cfs_inode *in = inode_find_path(fs, path, data_file);
	if (!in) {
		in = xcalloc(1, sizeof(*in));
		in->path = xstrdup(path);
		in->data_file = data_file;
		in->path_hash = hash_str(path, data_file);
		in->nodeid = fs->next_id++;
		in->datalen = -1;
		in->id_next = fs->by_id[in->nodeid & (fs->nb - 1)];
		fs->by_id[in->nodeid & (fs->nb - 1)] = in;
		in->path_next = fs->by_path[in->path_hash & (fs->nb - 1)];
		fs->by_path[in->path_hash & (fs->nb - 1)] = in;
		fs->count++;
	}
	in->nlookup++;
	return in;
}

static void unlink_path(struct cfs *fs, struct cfs_inode *in)
{
	struct cfs_inode **pp = &fs->by_path[in->path_hash & (fs->nb - 1)];
	while (*pp && *pp != in)
		pp = &(*pp)->path_next;
	if (*pp)
		*pp = in->path_next;
	in->path_next = NULL;
	in->detached = true;
}

static void move_one(struct cfs *fs, struct cfs_inode *in, const char *newpath)
{
	struct cfs_inode *old = inode_find_path(fs, newpath, in->data_file);
	if (old && old != in)
		unlink_path(fs, old); /* replaced: reachable by its nodeid only */
	if (!in->detached)
		unlink_path(fs, in);
	free(in->path);
	in->path = xstrdup(newpath);
	in->path_hash = hash_str(newpath, in->data_file);
	in->path_next = fs->by_path[in->path_hash & (fs->nb - 1)];
	fs->by_path[in->path_hash & (fs->nb - 1)] = in;
	in->detached = false;
}

void inode_move(struct cfs *fs, struct cfs_inode *in, const char *newpath)
{
	struct cfs_inode *df = inode_find_path(fs, in->path, true);
	move_one(fs, in, newpath);
	if (df)
		move_one(fs, df, newpath);
}

static void free_kids(struct cfs_inode *in)
{
	for (int32_t i = 0; i < in->nkids; i++)
		free(in->kids[i]);
	free(in->kids);
	in->kids = NULL;
	in->nkids = 0;
}

static void maybe_free(struct cfs *fs, struct cfs_inode *in)
{
	if (in->nlookup || in->waiters || in->open_handles || in->pins || in->pending_create ||
	    in->open_waiters || in->fence_waiters || in->pc_open || in->kreaders || in->kwriters ||
	    in->nodeid == FUSE_ROOT_ID ||
	    in->fetching_node || in->fetching_kids)
		return;
	struct cfs_inode **pp = &fs->by_id[in->nodeid & (fs->nb - 1)];
	while (*pp != in)
		pp = &(*pp)->id_next;
	*pp = in->id_next;
	if (!in->detached && !in->retired)
		unlink_path(fs, in);
	fs->count--;
	free_kids(in);
	free(in->data);
	free(in->path);
	kview_put(in->kv);
	if (in->retired) {
		notify_unhold(fs, in);
		inode_unpin(fs, in->live);
	}
	free(in);
}

void inode_forget(struct cfs *fs, struct cfs_inode *in, uint64_t n)
{
	in->nlookup = n > in->nlookup ? 0 : in->nlookup - n;
	maybe_free(fs, in);
}

void inode_pin(struct cfs_inode *in)
{
	in->pins++;
}

void inode_unpin(struct cfs *fs, struct cfs_inode *in)
{
	in->pins--;
	maybe_free(fs, in);
}

void inode_invalidate(struct cfs_inode *in, bool node, bool kids)
{
	if (node)
		in->have_node = false;
	if (kids)
		in->have_kids = false;
}

bool inode_is_dir(const struct cfs_inode *in)
{
	if (in->data_file)
		return false;
	if (in->nodeid == FUSE_ROOT_ID)
		return true;
	return in->st.num_children > 0 || in->datalen < 0;
}

uint64_t inode_stable_ino(const struct cfs_inode *in)
{
	/*
	 * From the path alone (64-bit FNV-1a, then the splitmix64 finalizer):
	 * the same on every mount, unique in practice, and unchanged when a
	 * file made on this mount is published.  Its czxid is not known until
	 * then (the create goes out with the content, at the last close), and
	 * an st_ino that changed at that moment made "cp new copy" right after
	 * "echo > new" fail: stat and fstat of the source disagreed, and cp
	 * took the file for replaced while it copied.
	 */
	if (in->nodeid == FUSE_ROOT_ID)
		return 1;
	uint64_t x = 0xcbf29ce484222325ull;
	for (const unsigned char *s = (const unsigned char *)in->path; *s; s++)
		x = (x ^ *s) * 0x100000001b3ull;
	if (in->data_file)
		x = (x ^ '/') * 0x100000001b3ull; /* ".data" of a directory: another file */
	x ^= x >> 30;
	x *= 0xbf58476d1ce4e5b9ull;
	x ^= x >> 27;
	x *= 0x94d049bb133111ebull;
	x ^= x >> 31;
	return x < 2 ? x + 2 : x;
}

char *inode_file_path(const struct cfs_inode *in)
{
	return in->data_file ? path_join(in->path, CFS_DATA_NAME) : xstrdup(in->path);
}

/* ---- the kernel view (see the top of this file) ---- */

/* A view of from's content and Stat, with one reference. */
static struct kview *kview_new(const struct cfs_inode *from)
{
	struct kview *kv = xcalloc(1, sizeof(*kv));
	kv->refs = 1;
	kv->len = from->datalen > 0 ? from->datalen : 0;
	kv->data = kv->len ? xmemdup(from->data, (size_t)kv->len) : NULL;
	kv->st = from->st;
	return kv;
}

/* Retired r shows kv (which it owns) from now on: content and Stat. */
static void retired_view(struct cfs_inode *r, struct kview *kv)
{
	kview_put(r->kv);
	r->kv = kv;
	r->have_node = r->exists = true;
	if (kv) {
		r->st = kv->st;
		r->datalen = kv->len;
	}
}

struct kview *kview_get(struct cfs_inode *in)
{
	if (!in->kv)
		in->kv = kview_new(in);
	in->kv->refs++;
	return in->kv;
}

void kview_put(struct kview *kv)
{
	if (kv && --kv->refs == 0) {
		free(kv->data);
		free(kv);
	}
}

/* What decides what a reader sees: existence, type, length, bytes. */
static uint64_t content_sig(const struct cfs_inode *in)
{
	uint64_t h = 1469598103934665603ull;
	uint64_t head[3] = { in->exists, (uint64_t)(int64_t)in->datalen,
			     (uint64_t)(in->st.num_children > 0) };
	const unsigned char *p = (const unsigned char *)head;
	for (size_t i = 0; i < sizeof(head); i++)
		h = (h ^ p[i]) * 1099511628211ull;
	for (int32_t i = 0; i < in->datalen; i++)
		h = (h ^ (unsigned char)in->data[i]) * 1099511628211ull;
	return h;
}

void kview_sync(struct cfs_inode *in)
{
	uint64_t sig = content_sig(in);
	if (sig == in->ksig)
		return;
	in->ksig = sig;
	kview_changed(in);
}

/* K2: a nodeid still draining after this long is retired. */
#define DRAIN_MS 100

struct drain_timer {
	uv_timer_t timer;
	fuse_ino_t ino;
	uint32_t gen;
};

static void drain_timer_closed(uv_handle_t *t)
{
	free(t->data);
}

static void drain_timeout(uv_timer_t *t)
{
	struct drain_timer *d = t->data;
	struct cfs_inode *in = inode_get_raw(cfs, d->ino);
	if (in && !in->retired && in->kdrain && in->kdrain_gen == d->gen && in->pc_open > 0)
		inode_retire(cfs, in);
	uv_close((uv_handle_t *)&d->timer, drain_timer_closed);
}

void kview_changed(struct cfs_inode *in)
{
	if (in->retired)
		return; /* frozen for good (K2), or never cached again */
	if (in->pc_open > 0) {
		/* K2: kv stays what the kernel has until the handles are closed */
		in->kchg++;
		if (!in->kdrain) {
			in->kdrain = true;
			struct drain_timer *d = xcalloc(1, sizeof(*d));
			d->ino = in->nodeid;
			d->gen = ++in->kdrain_gen;
			uv_timer_init(cfs->loop, &d->timer);
			d->timer.data = d;
			uv_timer_start(&d->timer, drain_timeout, DRAIN_MS, 0);
		}
		return;
	}
	in->kdrain = false;
	kview_put(in->kv);
	in->kv = NULL;
	in->kchg++;
	if (!in->kknown)
		in->kclean = in->kchg; /* the kernel has nothing for this nodeid */
	else if (in->kwriters == 0)
		notify_fence(cfs, in); /* K4; with writers, their last release does it */
}

void kview_fenced(struct cfs *fs, fuse_ino_t id, uint64_t stamp, bool found)
{
	struct cfs_inode *in = inode_get_raw(fs, id);
	if (!in)
		return;
	in->kfences--;
	if (in->retired)
		return;
	/*
	 * ENOENT: the kernel had no inode for the nodeid, but it may be making
	 * one right now from an entry reply we sent before the change, with
	 * the old attributes (a new kernel inode takes them whatever their
	 * age).  Not a fence then: the next open queues another one
	 * (kview_need_fence), which finds the inode the kernel opens.
	 */
	if (found && stamp == in->kchg && in->kwriters == 0)
		in->kclean = stamp;
	if (in->fence_waiters)
		file_fence_done(in);
}

void kview_closed(struct cfs_inode *k)
{
	if (k->kdrain && k->pc_open == 0 && !k->retired)
		kview_changed(k); /* drained: on as in K4 */
	if (k->fence_waiters)
		file_fence_done(k); /* writers waiting for readers, readers for a drain */
}

void kview_need_fence(struct cfs_inode *in)
{
	if (!in->retired && in->kclean != in->kchg && in->kwriters == 0 && in->kfences == 0 &&
	    in->pc_open == 0 && !in->kdrain)
		notify_fence(cfs, in);
}

int kview_can_cache(const struct cfs_inode *in)
{
	/*
	 * A retired nodeid serves its frozen version; one retired without a
	 * view has had writers, or a truncation, and its kernel attributes
	 * were the path's since (kview_fill_attr): never cached again.
	 */
	if (in->retired)
		return in->kv && !in->kcopy ? KV_OK : KV_NO;
	if (in->kdrain || in->kwait_writers > 0)
		return KV_WAIT;
	if (in->kv)
		return KV_OK;
	/*
	 * An empty file has nothing to cache, and the notify thread's replay
	 * writes one byte at offset 0 (notify.c), which moves the kernel's
	 * size only when it is 0.
	 */
	if (!in->exists || in->datalen <= 0 || in->pending_create || inode_is_dir(in))
		return KV_NO;
	if (in->kwriters > 0 || uv_now(cfs->loop) < in->kexpect_until || in->kclean != in->kchg)
		return KV_WAIT;
	return KV_OK;
}

static void id_insert(struct cfs *fs, struct cfs_inode *in)
{
	in->id_next = fs->by_id[in->nodeid & (fs->nb - 1)];
	fs->by_id[in->nodeid & (fs->nb - 1)] = in;
}

static void id_remove(struct cfs *fs, struct cfs_inode *in)
{
	struct cfs_inode **pp = &fs->by_id[in->nodeid & (fs->nb - 1)];
	while (*pp != in)
		pp = &(*pp)->id_next;
	*pp = in->id_next;
}

struct cfs_inode *inode_retire(struct cfs *fs, struct cfs_inode *in)
{
	struct cfs_inode *r = xcalloc(1, sizeof(*r));
	r->nodeid = in->nodeid;
	r->path = xstrdup(in->path);
	r->data_file = in->data_file;
	r->retired = true;
	r->live = in;
	inode_pin(in);
	r->nlookup = in->nlookup;
	r->kknown = in->kknown;
	retired_view(r, in->kv);
	r->pc_open = in->pc_open;
	r->kreaders = in->kreaders;
	r->kwriters = in->kwriters;
	r->kfences = in->kfences; /* they report by nodeid */
	id_remove(fs, in);
	id_insert(fs, r);
	fs->count++;
	/* in continues the path under a nodeid the kernel has never seen */
	in->nodeid = fs->next_id++;
	id_insert(fs, in);
	in->nlookup = 0;
	in->kknown = false;
	in->kv = NULL;
	in->pc_open = in->kreaders = in->kwriters = 0;
	in->kchg = in->kclean = 0;
	in->kfences = 0;
	in->kdrain = false;
	if (r->pc_open || r->kreaders || r->kwriters)
		notify_hold(fs, r); /* before the name goes: it opens r through it */
	notify_inval_name(fs, in);
	/* opens waiting on the old nodeid decide again (RD_AGAIN, mostly) */
	if (in->fence_waiters)
		file_fence_done(in);
	return r;
}

/*
 * K5: once the handles of a retired nodeid are all closed, the path takes
 * that nodeid back (if the kernel still has it: an inotify watch on the file
 * keeps it, or the notify thread's hold does) and the fresh nodeid it had is
 * retired in its place.  So a file's kernel inode, and a watch on it, outlast
 * a reader that held the file across changes.  Only when nothing is open on
 * either and no invalidation is on its way (else retried for a while); the
 * kernel's pages and size for the old nodeid are of its frozen version, so
 * it goes on as in K4.
 */
#define UNRETIRE_MS 50
#define UNRETIRE_TRIES 100

struct unretire_timer {
	uv_timer_t timer;
	struct cfs_inode *r; /* pinned */
	fuse_ino_t ino;      /* its nodeid then: it is another after an unretire */
	int tries;
};

static bool idle_nodeid(const struct cfs_inode *in)
{
	return in->pc_open == 0 && in->kreaders == 0 && in->kwriters == 0 && in->kfences == 0 &&
	       !in->fence_waiters && !in->kdrain && in->kwait_writers == 0;
}

static void unretire(struct cfs *fs, struct cfs_inode *r)
{
	struct cfs_inode *in = r->live;
	fuse_ino_t old = r->nodeid, fresh = in->nodeid;
	uint64_t r_nlookup = r->nlookup;
	notify_unhold(fs, r); /* replays go through the name again, which leads here */
	id_remove(fs, r);
	id_remove(fs, in);
	/* r becomes the fresh nodeid, frozen at what the kernel may hold for it */
	r->nodeid = fresh;
	r->nlookup = in->nlookup;
	r->kknown = in->kknown;
	retired_view(r, in->kv);
	r->kcopy = false;
	in->nodeid = old;
	in->nlookup = r_nlookup;
	in->kknown = true;
	in->kv = NULL;
	if (in->kchg < r->kchg)
		in->kchg = r->kchg;
	id_insert(fs, r);
	id_insert(fs, in);
	log_debug("coordfs", "%s: back on nodeid %llu", in->path, (unsigned long long)old);
	notify_inval_name(fs, in); /* lookups lead to the old nodeid now... */
	kview_changed(in);         /* ...whose pages and size go first (K4) */
}

/* Whether r is dealt with: taken back, or forgotten by the kernel. */
static bool try_unretire(struct cfs_inode *r)
{
	if (!r->retired || !idle_nodeid(r))
		return true; /* handles again (through a stale name): their release retries */
	if (r->nlookup == 0) {
		notify_unhold(cfs, r);
		return true;
	}
	struct cfs_inode *in = r->live;
	if (in->retired || !in->exists || in->pending_create || !idle_nodeid(in) ||
	    in->nodeid == FUSE_ROOT_ID)
		return false;
	unretire(cfs, r);
	return true;
}

static void unretire_closed(uv_handle_t *t)
{
	free(t->data);
}

static void unretire_tick(uv_timer_t *t)
{
	struct unretire_timer *u = t->data;
	struct cfs_inode *r = u->r;
	if (r->retired && r->nodeid == u->ino && !try_unretire(r)) {
		if (++u->tries < UNRETIRE_TRIES) {
			uv_timer_start(&u->timer, unretire_tick, UNRETIRE_MS, 0);
			return;
		}
		notify_unhold(cfs, r); /* busy all along: the path stays on its fresh nodeid */
	}
	inode_unpin(cfs, r);
	uv_close((uv_handle_t *)&u->timer, unretire_closed);
}

void kview_unretire_later(struct cfs_inode *r)
{
	if (!r->retired || !idle_nodeid(r) || try_unretire(r))
		return;
	/*
	 * The path's nodeid is busy: let the kernel inode go now (a hold would
	 * keep the mount busy for umount), and take it back later only if
	 * something else, a watch, keeps it.
	 */
	notify_unhold(cfs, r);
	struct unretire_timer *u = xcalloc(1, sizeof(*u));
	u->r = r;
	u->ino = r->nodeid;
	uv_timer_init(cfs->loop, &u->timer);
	u->timer.data = u;
	inode_pin(r);
	uv_timer_start(&u->timer, unretire_tick, UNRETIRE_MS, 0);
}

void kview_freeze(struct cfs_inode *r, const struct cfs_inode *from)
{
	retired_view(r, kview_new(from));
	r->kcopy = true; /* read direct_io from kv: the kernel's pages were never kv's */
}

void kview_fill_attr(const struct cfs *fs, struct cfs_inode *k, struct stat *st)
{
	inode_fill_attr(fs, k->retired && !k->kv ? k->live : k, st);
}

void inode_fill_attr(const struct cfs *fs, const struct cfs_inode *in, struct stat *st)
{
	if (in->kdrain && in->kv && !in->retired) {
		/* K1: page-cache readers of this nodeid may be inside read() */
		struct cfs_inode v = *in;
		v.st = in->kv->st;
		v.datalen = in->kv->len;
		v.kdrain = false;
		inode_fill_attr(fs, &v, st);
		return;
	}
	memset(st, 0, sizeof(*st));
	st->st_ino = inode_stable_ino(in);
	st->st_uid = fs->opt.uid;
	st->st_gid = fs->opt.gid;
	if (inode_is_dir(in)) {
		st->st_mode = S_IFDIR | (0777 & ~fs->opt.umask);
		st->st_nlink = 2 + (nlink_t)in->st.num_children;
		st->st_size = in->st.num_children;
	} else {
		st->st_mode = S_IFREG | (0666 & ~fs->opt.umask);
		st->st_nlink = 1;
		st->st_size = in->datalen > 0 ? in->datalen : 0;
	}
	/* /zookeeper is read-only, as ZooKeeper's own ACLs make /zookeeper/config */
	if (!strncmp(in->path, "/zookeeper", 10) && (in->path[10] == 0 || in->path[10] == '/'))
		st->st_mode &= ~(mode_t)0222;
	st->st_blksize = 4096;
	st->st_blocks = (st->st_size + 511) / 512;
	int64_t mtime = in->st.mtime, ctime = in->st.ctime;
	/* A directory changes when its children do: show pzxid's time if known. */
	st->st_mtim.tv_sec = mtime / 1000;
	st->st_mtim.tv_nsec = (mtime % 1000) * 1000000;
	st->st_ctim = st->st_mtim;
	st->st_atim = st->st_mtim;
	(void)ctime;
}

char *path_join(const char *parent, const char *name)
{
	size_t a = strlen(parent), b = strlen(name);
	char *p = xmalloc(a + b + 2);
	memcpy(p, parent, a);
	size_t off = a;
	if (a != 1 || parent[0] != '/')
		p[off++] = '/';
	memcpy(p + off, name, b + 1);
	return p;
}

void inode_set_node(struct cfs_inode *in, const struct zkc_result *res)
{
	free(in->data);
	in->data = NULL;
	in->datalen = -1;
	in->exists = res->rc == ZOK;
	if (in->exists) {
		in->st = *res->stat;
		in->datalen = res->datalen;
		if (res->datalen > 0)
			in->data = xmemdup(res->data, (size_t)res->datalen);
	} else {
		memset(&in->st, 0, sizeof(in->st));
	}
	in->have_node = true;
	in->epoch = cfs->epoch;
	kview_sync(in);
}

void inode_set_kids(struct cfs_inode *in, const struct zkc_result *res)
{
	free_kids(in);
	if (res->rc == ZOK) {
		in->kids = xcalloc((size_t)(res->nchildren ? res->nchildren : 1), sizeof(char *));
		for (int32_t i = 0; i < res->nchildren; i++)
			in->kids[i] = xstrdup(res->children[i]);
		in->nkids = res->nchildren;
		if (res->stat) {
			/* getChildren2's Stat is as fresh as the list: keep counts consistent */
			in->st.num_children = res->stat->num_children;
			in->st.pzxid = res->stat->pzxid;
			in->st.cversion = res->stat->cversion;
		}
	}
	in->have_kids = true;
	in->epoch = cfs->epoch;
	kview_sync(in); /* children can make a file a directory */
}

void inode_foreach(struct cfs *fs, inode_iter_cb cb, void *arg)
{
	for (size_t i = 0; i < fs->nb; i++) {
		struct cfs_inode *in = fs->by_id[i], *next;
		for (; in; in = next) {
			next = in->id_next;
			if (!in->retired)
				cb(in, arg);
		}
	}
}
