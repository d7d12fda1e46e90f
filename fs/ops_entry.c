/*
 * ops_entry.c - FUSE ops on names and attributes: lookup, forget, getattr,
 * setattr.  Every op replies exactly once, on every path; most reply from a
 * fetch callback, after the cache has the node.
 */
#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "coordfs.h"
#include "log.h"
#include "xalloc.h"
#include "zkpath.h"

/* A file name that can be a znode name (PathUtils rules), as an errno. */
int name_check(const char *name)
{
	char buf[300];
	size_t n = strlen(name);
	if (n > 255)
		return ENAMETOOLONG;
	buf[0] = '/';
	memcpy(buf + 1, name, n + 1);
	return path_validate(buf, (int32_t)n + 1) == ZOK ? 0 : EINVAL;
}

void fill_entry(struct cfs *fs, struct cfs_inode *in, struct fuse_entry_param *e)
{
	memset(e, 0, sizeof(*e));
	e->ino = in->nodeid;
	e->generation = 1;
	in->kknown = true;
	inode_fill_attr(fs, in, &e->attr);
	e->attr_timeout = fs->opt.timeout;
	e->entry_timeout = fs->opt.timeout;
}

struct lookup_ctx {
	fuse_req_t req;
	struct cfs_inode *parent;
	char *name;
	char *path;
};

static void negative(fuse_req_t req)
{
	/* A negative entry the kernel may cache: a remote create invalidates it. */
	struct fuse_entry_param e;
	memset(&e, 0, sizeof(e));
	e.entry_timeout = cfs->opt.timeout;
	fuse_reply_entry(req, &e);
}

static void lookup_data_file(struct cfs_inode *dir, int err, void *arg)
{
	struct lookup_ctx *lc = arg;
	if (err) {
		fuse_reply_err(lc->req, err);
	} else if (!dir->exists || dir->datalen < 0 || !inode_is_dir(dir)) {
		negative(lc->req);
	} else {
		struct cfs_inode *df = inode_ref_path(cfs, dir->path, true);
		if (!df->have_node) {
			df->st = dir->st;
			df->datalen = dir->datalen;
			df->data = dir->datalen > 0 ? xmemdup(dir->data, (size_t)dir->datalen) : NULL;
			df->exists = true;
			df->have_node = true;
			df->epoch = cfs->epoch;
			kview_sync(df);
		}
		struct fuse_entry_param e;
		fill_entry(cfs, df, &e);
		fuse_reply_entry(lc->req, &e);
	}
	free(lc->name);
	free(lc->path);
	free(lc);
}

static void lookup_done(struct cfs_inode *in, int err, void *arg)
{
	struct lookup_ctx *lc = arg;
	if (err) {
		fuse_reply_err(lc->req, err);
	} else if (!in->exists) {
		if (!strcmp(lc->name, CFS_DATA_NAME)) {
			/* no real child named .data: maybe the parent's own data */
			fetch_node(cfs, lc->parent, false, lookup_data_file, lc);
			inode_forget(cfs, in, 0);
			return;
		}
		negative(lc->req);
	} else {
		in->nlookup++;
		struct fuse_entry_param e;
		fill_entry(cfs, in, &e);
		fuse_reply_entry(lc->req, &e);
	}
	inode_forget(cfs, in, 0);
	free(lc->name);
	free(lc->path);
	free(lc);
}

static void op_lookup(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	struct cfs_inode *p = inode_get(cfs, parent);
	if (!p || p->data_file)
		return (void)fuse_reply_err(req, p ? ENOTDIR : ENOENT);
	int err = name_check(name);
	if (err)
		return (void)fuse_reply_err(req, err == EINVAL ? ENOENT : err);
	int kind;
	char rpath[4096];
	if (notify_replaying(req, &kind, rpath, sizeof(rpath))) {
		char *path = path_join(p->path, name);
		bool match = !strcmp(path, rpath);
		if (match && (kind == RP_CREATE_FILE || kind == RP_CREATE_DIR)) {
			/* let the replayed create reach us, so the kernel reports IN_CREATE */
			free(path);
			return (void)fuse_reply_err(req, ENOENT);
		}
		if (match && (kind == RP_DELETE || kind == RP_DELETE_DIR)) {
			/* the node is gone on the server; the replayed unlink needs its name */
			struct cfs_inode *in = inode_ref_path(cfs, path, false);
			free(path);
			if (!in->have_node) {
				in->have_node = true;
				in->exists = true;
				in->datalen = kind == RP_DELETE_DIR ? -1 : 0;
				memset(&in->st, 0, sizeof(in->st));
				in->epoch = cfs->epoch - 1; /* never trusted for real requests */
				kview_sync(in);
			}
			struct fuse_entry_param e;
			fill_entry(cfs, in, &e);
			e.attr_timeout = e.entry_timeout = 0;
			return (void)fuse_reply_entry(req, &e);
		}
		free(path);
	}
	struct lookup_ctx *lc = xcalloc(1, sizeof(*lc));
	lc->req = req;
	lc->parent = p;
	lc->name = xstrdup(name);
	lc->path = path_join(p->path, name);
	/* Make (or find) the inode without a kernel reference yet. */
	struct cfs_inode *in = inode_ref_path(cfs, lc->path, false);
	in->nlookup--;
	fetch_node(cfs, in, false, lookup_done, lc);
}

static void op_forget(fuse_req_t req, fuse_ino_t ino, uint64_t nlookup)
{
	struct cfs_inode *in = inode_get_raw(cfs, ino);
	if (in)
		inode_forget(cfs, in, nlookup);
	fuse_reply_none(req);
}

static void op_forget_multi(fuse_req_t req, size_t count, struct fuse_forget_data *f)
{
	for (size_t i = 0; i < count; i++) {
		struct cfs_inode *in = inode_get_raw(cfs, f[i].ino);
		if (in)
			inode_forget(cfs, in, f[i].nlookup);
	}
	fuse_reply_none(req);
}

struct attr_ctx {
	fuse_req_t req;
	fuse_ino_t ino;
};

/*
 * A retired nodeid keeps the attributes of its frozen version: page-cache
 * readers of it may be inside read() (inode.c, K1).
 */
static bool frozen_attr(fuse_req_t req, fuse_ino_t ino)
{
	struct cfs_inode *k = inode_get_raw(cfs, ino);
	if (!k || !k->retired || !k->kv)
		return false;
	struct stat st;
	kview_fill_attr(cfs, k, &st);
	fuse_reply_attr(req, &st, cfs->opt.timeout);
	return true;
}

static void getattr_done(struct cfs_inode *in, int err, void *arg)
{
	struct attr_ctx ac = *(struct attr_ctx *)arg;
	free(arg);
	if (frozen_attr(ac.req, ac.ino)) /* retired while we fetched */
		return;
	if (err)
		return (void)fuse_reply_err(ac.req, err);
	if (!in->exists || (in->data_file && in->datalen < 0))
		return (void)fuse_reply_err(ac.req, ENOENT);
	struct stat st;
	inode_fill_attr(cfs, in, &st);
	/* a retired nodeid without a view must not keep these (inode_retire) */
	struct cfs_inode *k = inode_get_raw(cfs, ac.ino);
	fuse_reply_attr(ac.req, &st, k && k->retired ? 0 : cfs->opt.timeout);
}

static void fetch_attr(fuse_req_t req, fuse_ino_t ino, struct cfs_inode *in)
{
	struct attr_ctx *ac = xcalloc(1, sizeof(*ac));
	ac->req = req;
	ac->ino = ino;
	fetch_node(cfs, in, false, getattr_done, ac);
}

static void op_getattr(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct cfs_inode *in = inode_get(cfs, ino);
	(void)fi;
	notify_fence_getattr(req, ino);
	if (!in)
		return (void)fuse_reply_err(req, ENOENT);
	if (frozen_attr(req, ino))
		return;
	fetch_attr(req, ino, in);
}


static void op_setattr(fuse_req_t req, fuse_ino_t ino, struct stat *attr, int to_set,
		       struct fuse_file_info *fi)
{
	struct cfs_inode *in = inode_get(cfs, ino);
	if (!in)
		return (void)fuse_reply_err(req, ENOENT);
	if (to_set & FUSE_SET_ATTR_SIZE) {
		file_setattr_size(req, ino, in, fi, attr->st_size);
		return;
	}
	/*
	 * Owner, mode and times are the mount's (uid=, gid=, umask=); znodes have
	 * no such fields.  Accept the call so tools like sed -i and cp -p work.
	 */
	if (frozen_attr(req, ino))
		return;
	fetch_attr(req, ino, in);
}

void ops_entry_fill(struct fuse_lowlevel_ops *ops)
{
	ops->lookup = op_lookup;
	ops->forget = op_forget;
	ops->forget_multi = op_forget_multi;
	ops->getattr = op_getattr;
	ops->setattr = op_setattr;
}
