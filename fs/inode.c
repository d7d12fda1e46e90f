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
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "coordfs.h"
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

struct cfs_inode *inode_get(struct cfs *fs, fuse_ino_t id)
{
	for (struct cfs_inode *in = fs->by_id[id & (fs->nb - 1)]; in; in = in->id_next)
		if (in->nodeid == id)
			return in;
	return NULL;
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
	    in->open_waiters ||
	    in->nodeid == FUSE_ROOT_ID ||
	    in->fetching_node || in->fetching_kids)
		return;
	struct cfs_inode **pp = &fs->by_id[in->nodeid & (fs->nb - 1)];
	while (*pp != in)
		pp = &(*pp)->id_next;
	*pp = in->id_next;
	if (!in->detached)
		unlink_path(fs, in);
	fs->count--;
	free_kids(in);
	free(in->data);
	free(in->path);
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
	 * czxid alone repeats for nodes made by one multi, so mix in the path;
	 * splitmix64 finalizer spreads it over 64 bits.  Same on every mount.
	 */
	uint64_t x = (uint64_t)in->st.czxid * 0x9E3779B97F4A7C15ull ^ hash_str(in->path, in->data_file);
	x ^= x >> 30;
	x *= 0xbf58476d1ce4e5b9ull;
	x ^= x >> 27;
	x *= 0x94d049bb133111ebull;
	x ^= x >> 31;
	if (in->nodeid == FUSE_ROOT_ID)
		return 1;
	return x < 2 ? x + 2 : x;
}

void inode_fill_attr(const struct cfs *fs, const struct cfs_inode *in, struct stat *st)
{
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
}

void inode_foreach(struct cfs *fs, inode_iter_cb cb, void *arg)
{
	for (size_t i = 0; i < fs->nb; i++) {
		struct cfs_inode *in = fs->by_id[i], *next;
		for (; in; in = next) {
			next = in->id_next;
			cb(in, arg);
		}
	}
}
