/*
 * ops_dir.c - directories: listing, mkdir, rmdir, unlink, rename.
 *
 * mkdir creates a znode with null data, so "mkdir /coord/locks/x" succeeds on
 * exactly one mount in the cluster (ZooKeeper's create is the arbiter) and
 * fails with EEXIST everywhere else.  rename is one multi transaction
 * (create the new name with the old data and ACL, delete the old one, and
 * delete a replaced target), so readers never see both names or neither.
 */
#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "coordfs.h"
#include "log.h"
#include "xalloc.h"

/* ---- listing ---- */

struct dirh {
	char *path;
	char **names;
	unsigned char *types;
	int32_t n;
};

static void list_done(struct cfs_inode *in, int err, void *arg)
{
	fuse_req_t req = arg;
	struct fuse_file_info fi;
	if (err)
		return (void)fuse_reply_err(req, err);
	if (!in->exists)
		return (void)fuse_reply_err(req, ENOENT);
	if (!inode_is_dir(in))
		return (void)fuse_reply_err(req, ENOTDIR);
	struct dirh *d = xcalloc(1, sizeof(*d));
	bool has_data_name = false;
	d->path = xstrdup(in->path);
	d->names = xcalloc((size_t)in->nkids + 1, sizeof(char *));
	for (int32_t i = 0; i < in->nkids; i++) {
		d->names[d->n++] = xstrdup(in->kids[i]);
		if (!strcmp(in->kids[i], CFS_DATA_NAME))
			has_data_name = true;
	}
	/* Files created here but not published yet are ours to show. */
	for (struct cfs_inode *pc = cfs->pending; pc; pc = pc->pend_next) {
		const char *slash = strrchr(pc->path, '/');
		size_t plen = slash == pc->path ? 1 : (size_t)(slash - pc->path);
		if (strlen(in->path) != plen || strncmp(pc->path, in->path, plen))
			continue;
		bool listed = false;
		for (int32_t i = 0; i < in->nkids && !listed; i++)
			listed = !strcmp(in->kids[i], slash + 1);
		if (!listed) {
			d->names = xrealloc(d->names, (size_t)(d->n + 2) * sizeof(char *));
			d->names[d->n++] = xstrdup(slash + 1);
		}
	}
	/* A directory node's own data shows as ".data" unless a child has the name. */
	if (in->datalen >= 0 && in->nodeid != FUSE_ROOT_ID && !has_data_name)
		d->names[d->n++] = xstrdup(CFS_DATA_NAME);
	memset(&fi, 0, sizeof(fi));
	fi.fh = (uint64_t)(uintptr_t)d;
	fuse_reply_open(req, &fi);
}

static void op_opendir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct cfs_inode *in = inode_get(cfs, ino);
	(void)fi;
	if (!in)
		return (void)fuse_reply_err(req, ENOENT);
	if (in->data_file)
		return (void)fuse_reply_err(req, ENOTDIR);
	fetch_node(cfs, in, true, list_done, req);
}

static void op_readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
		       struct fuse_file_info *fi)
{
	struct dirh *d = (struct dirh *)(uintptr_t)fi->fh;
	char *buf = xmalloc(size);
	size_t used = 0;
	(void)ino;
	for (off_t i = off; i < d->n + 2; i++) {
		struct stat st;
		memset(&st, 0, sizeof(st));
		const char *name = i == 0 ? "." : i == 1 ? ".." : d->names[i - 2];
		st.st_mode = i < 2 ? S_IFDIR : 0;
		/* readdir(3) skips entries with inode 0; the real st_ino comes from lookup */
		st.st_ino = (ino_t)(i + 1);
		size_t need = fuse_add_direntry(req, buf + used, size - used, name, &st, i + 1);
		if (need > size - used)
			break;
		used += need;
	}
	fuse_reply_buf(req, buf, used);
	free(buf);
}

/*
 * READDIRPLUS: names with their attributes, so "ls -l" of a big directory
 * needs no LOOKUP per entry.  Every entry sent with a nodeid counts as one
 * kernel lookup reference (the kernel forgets it like any other).  Entries
 * whose node is not cached are fetched first, all pipelined.
 */
struct plus_ctx;
static void plus_reply(struct plus_ctx *pc);

struct plus_ctx {
	fuse_req_t req;
	struct dirh *d;
	size_t size;
	off_t off;
	int missing;
	struct cfs_inode **pinned; /* fetched for this reply: alive until it is sent */
	int npinned;
};

static void plus_done(struct plus_ctx *pc)
{
	plus_reply(pc);
	for (int i = 0; i < pc->npinned; i++)
		inode_unpin(cfs, pc->pinned[i]);
	free(pc->pinned);
	free(pc);
}

static bool plain_name(const char *name)
{
	/* the ".data" view is resolved by a normal LOOKUP */
	return !strcmp(name, CFS_DATA_NAME);
}

static void plus_reply(struct plus_ctx *pc)
{
	struct dirh *d = pc->d;
	char *buf = xmalloc(pc->size);
	size_t used = 0;
	for (off_t i = pc->off; i < d->n + 2; i++) {
		struct fuse_entry_param e;
		memset(&e, 0, sizeof(e));
		const char *name = i == 0 ? "." : i == 1 ? ".." : d->names[i - 2];
		struct cfs_inode *in = NULL;
		if (i >= 2 && !plain_name(name)) {
			char *p = path_join(d->path, name);
			in = inode_find_path(cfs, p, false);
			free(p);
			if (in && (!in->have_node || !in->exists || in->pending_create))
				in = NULL;
		}
		if (in) {
			fill_entry(cfs, in, &e);
			in->nlookup++;
		} else {
			/* no attributes: the kernel looks it up when it needs them */
			e.attr.st_ino = (ino_t)(i + 1);
			e.attr.st_mode = i < 2 ? S_IFDIR : 0;
		}
		size_t need = fuse_add_direntry_plus(pc->req, buf + used, pc->size - used, name, &e, i + 1);
		if (need > pc->size - used) {
			if (in)
				in->nlookup--;
			break;
		}
		used += need;
	}
	fuse_reply_buf(pc->req, buf, used);
	free(buf);
}

static void plus_fetched(struct cfs_inode *in, int err, void *arg)
{
	struct plus_ctx *pc = arg;
	(void)err;
	(void)in;
	if (--pc->missing == 0)
		plus_done(pc);
}

static void op_readdirplus(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
			   struct fuse_file_info *fi)
{
	struct dirh *d = (struct dirh *)(uintptr_t)fi->fh;
	struct plus_ctx *pc = xcalloc(1, sizeof(*pc));
	(void)ino;
	pc->req = req;
	pc->d = d;
	pc->size = size;
	pc->off = off;
	pc->missing = 1; /* held until every fetch is sent */
	/* an entry takes at least ~150 bytes: look no further than what can fit */
	off_t last = off + (off_t)(size / 128) + 1;
	for (off_t i = off < 2 ? 2 : off; i < d->n + 2 && i < last; i++) {
		if (plain_name(d->names[i - 2]))
			continue;
		char *p = path_join(d->path, d->names[i - 2]);
		struct cfs_inode *in = inode_find_path(cfs, p, false);
		if (!in || !in->have_node) {
			in = inode_ref_path(cfs, p, false);
			in->nlookup--;
			inode_pin(in);
			pc->pinned = xrealloc(pc->pinned, (size_t)(pc->npinned + 1) * sizeof(*pc->pinned));
			pc->pinned[pc->npinned++] = in;
			pc->missing++;
			fetch_node(cfs, in, false, plus_fetched, pc);
		}
		free(p);
	}
	if (--pc->missing == 0)
		plus_done(pc);
}

static void op_releasedir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct dirh *d = (struct dirh *)(uintptr_t)fi->fh;
	(void)ino;
	for (int32_t i = 0; i < d->n; i++)
		free(d->names[i]);
	free(d->names);
	free(d->path);
	free(d);
	fuse_reply_err(req, 0);
}

/* ---- mkdir, rmdir, unlink ---- */

struct op_ctx {
	fuse_req_t req;
	struct cfs_inode *parent;
	char *name;
	char *path;
	char *path2;
	struct cfs_inode *newparent;
	char *newname;
	unsigned int flags;
	int retries;
};

static void op_ctx_free(struct op_ctx *c)
{
	free(c->name);
	free(c->path);
	free(c->path2);
	free(c->newname);
	free(c);
}

static void reply_new_entry(struct cfs_inode *in, int err, void *arg)
{
	struct op_ctx *c = arg;
	if (err) {
		fuse_reply_err(c->req, err);
	} else if (!in->exists) {
		fuse_reply_err(c->req, ENOENT); /* deleted again before we looked */
	} else {
		in->nlookup++;
		struct fuse_entry_param e;
		fill_entry(cfs, in, &e);
		fuse_reply_entry(c->req, &e);
	}
	inode_forget(cfs, in, 0);
	op_ctx_free(c);
}

void fs_after_create(struct op_ctx *c, const struct zkc_result *res);
void fs_after_create(struct op_ctx *c, const struct zkc_result *res)
{
	if (res->rc != ZOK) {
		fuse_reply_err(c->req, zk_to_errno(res->rc));
		op_ctx_free(c);
		return;
	}
	inode_invalidate(c->parent, true, true);
	struct cfs_inode *in = inode_ref_path(cfs, c->path, false);
	in->nlookup--;
	inode_invalidate(in, true, true);
	fetch_node(cfs, in, false, reply_new_entry, c);
}

static void mkdir_done(struct zkclient *zk, const struct zkc_result *res, void *arg)
{
	(void)zk;
	fs_after_create(arg, res);
}

static void mkdir_flags(int err, int flags, void *arg)
{
	struct op_ctx *c = arg;
	if (err) {
		fuse_reply_err(c->req, err);
		op_ctx_free(c);
		return;
	}
	/* null data: a directory, even while it has no children */
	notify_own_change(cfs, ZEV_CREATED, c->path);
	if (zkc_create(cfs->zk, c->path, NULL, -1, NULL, 0, flags, 0, mkdir_done, c) < 0) {
		fuse_reply_err(c->req, EIO);
		op_ctx_free(c);
	}
}

static void op_mkdir(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode)
{
	struct cfs_inode *p = inode_get(cfs, parent);
	int kind;
	char rpath[4096];
	(void)mode;
	if (!p)
		return (void)fuse_reply_err(req, ENOENT);
	if (notify_replaying(req, &kind, rpath, sizeof(rpath))) {
		/* the notify thread replays a remote mkdir: it exists already */
		struct op_ctx *c = xcalloc(1, sizeof(*c));
		c->req = req;
		c->parent = p;
		c->path = path_join(p->path, name);
		struct cfs_inode *in = inode_ref_path(cfs, c->path, false);
		in->nlookup--;
		fetch_node(cfs, in, false, reply_new_entry, c);
		return;
	}
	int err = name_check(name);
	if (err)
		return (void)fuse_reply_err(req, err);
	struct op_ctx *c = xcalloc(1, sizeof(*c));
	c->req = req;
	c->parent = p;
	c->name = xstrdup(name);
	c->path = path_join(p->path, name);
	if (!strncmp(c->path, "/zookeeper", 10) && (c->path[10] == 0 || c->path[10] == '/')) {
		fuse_reply_err(req, EROFS);
		op_ctx_free(c);
		return;
	}
	create_flags_for(p, mkdir_flags, c);
}

static void remove_done(struct zkclient *zk, const struct zkc_result *res, void *arg)
{
	struct op_ctx *c = arg;
	(void)zk;
	int err = zk_to_errno(res->rc);
	if (!err) {
		struct cfs_inode *in = inode_find_path(cfs, c->path, false);
		if (in)
			inode_invalidate(in, true, true);
		inode_invalidate(c->parent, true, true);
	}
	fuse_reply_err(c->req, err);
	op_ctx_free(c);
}

static void remove_checked(struct cfs_inode *in, int err, void *arg)
{
	struct op_ctx *c = arg;
	bool want_dir = c->flags;
	if (!err && !in->exists)
		err = ENOENT;
	if (!err && want_dir && !inode_is_dir(in))
		err = ENOTDIR;
	if (!err && !want_dir && inode_is_dir(in))
		err = EISDIR;
	if (!err && want_dir && in->st.num_children > 0)
		err = ENOTEMPTY;
	inode_forget(cfs, in, 0);
	if (err) {
		fuse_reply_err(c->req, err);
		op_ctx_free(c);
		return;
	}
	notify_own_vfs_change(cfs, ZEV_DELETED, c->path);
	if (zkc_delete(cfs->zk, c->path, -1, remove_done, c) < 0) {
		fuse_reply_err(c->req, EIO);
		op_ctx_free(c);
	}
}

static void remove_data(struct zkclient *zk, const struct zkc_result *res, void *arg)
{
	struct op_ctx *c = arg;
	(void)zk;
	struct cfs_inode *df = inode_find_path(cfs, c->parent->path, true);
	if (df)
		inode_invalidate(df, true, false);
	inode_invalidate(c->parent, true, true);
	fuse_reply_err(c->req, zk_to_errno(res->rc));
	op_ctx_free(c);
}

static void do_remove(fuse_req_t req, fuse_ino_t parent, const char *name, bool dir)
{
	struct cfs_inode *p = inode_get(cfs, parent);
	int kind;
	char rpath[4096];
	if (!p)
		return (void)fuse_reply_err(req, ENOENT);
	if (notify_replaying(req, &kind, rpath, sizeof(rpath))) {
		/* replay of a remote delete: the node is gone already */
		char *path = path_join(p->path, name);
		struct cfs_inode *in = inode_find_path(cfs, path, false);
		if (in)
			inode_invalidate(in, true, true);
		inode_invalidate(p, true, true);
		free(path);
		return (void)fuse_reply_err(req, 0);
	}
	struct op_ctx *c = xcalloc(1, sizeof(*c));
	c->req = req;
	c->parent = p;
	c->name = xstrdup(name);
	c->path = path_join(p->path, name);
	c->flags = dir;
	struct cfs_inode *in = inode_find_path(cfs, c->path, false);
	if (in && in->pending_create && !in->create_inflight) {
		/*
		 * Never published: forget it here, and its handles will not
		 * publish.  (With its create on the way, the delete below follows
		 * it on the session, so the node does not outlive the rm.)
		 */
		in->cancelled_gen = in->create_gen;
		pending_drop(cfs, in);
		in->exists = false;
		inode_invalidate(p, true, true);
		fuse_reply_err(req, 0);
		op_ctx_free(c);
		return;
	}
	if (!dir && !strcmp(name, CFS_DATA_NAME) && (!in || (in->have_node && !in->exists))) {
		/* rm DIR/.data: the directory node keeps its children, loses its data */
		notify_own_change(cfs, ZEV_CHANGED, p->path);
		if (zkc_set_data(cfs->zk, p->path, NULL, -1, -1, remove_data, c) < 0) {
			fuse_reply_err(req, EIO);
			op_ctx_free(c);
		}
		return;
	}
	in = inode_ref_path(cfs, c->path, false);
	in->nlookup--;
	fetch_node(cfs, in, false, remove_checked, c);
}

static void op_unlink(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	do_remove(req, parent, name, false);
}

static void op_rmdir(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	do_remove(req, parent, name, true);
}

/* ---- rename: one multi ---- */

struct rename_ctx {
	struct op_ctx *c;
	struct cfs_inode *src, *dst;
	bool src_done, dst_done, acl_done;
	int err;
	struct zkc_acl *acl;
	int nacl;
	char *acl_strings;
};

static void rename_start(struct op_ctx *c);

static void rename_free(struct rename_ctx *r)
{
	inode_unpin(cfs, r->src);
	inode_unpin(cfs, r->dst);
	for (int i = 0; i < r->nacl; i++) {
		free((char *)r->acl[i].scheme);
		free((char *)r->acl[i].id);
	}
	free(r->acl);
	free(r);
}

static void rename_committed(struct zkclient *zk, const struct zkc_result *res, void *arg)
{
	struct rename_ctx *r = arg;
	struct op_ctx *c = r->c;
	(void)zk;
	if (res->rc == ZOK)
		inode_move(cfs, r->src, c->path2); /* the kernel moves its dentry to it */
	inode_invalidate(r->src, true, true);
	inode_invalidate(r->dst, true, true);
	inode_invalidate(c->parent, true, true);
	inode_invalidate(c->newparent, true, true);
	if ((res->rc == ZBADVERSION || res->rc == ZNODEEXISTS || res->rc == ZNONODE) && c->retries++ < 5) {
		/* someone changed a name between our look and the multi: look again */
		rename_free(r);
		rename_start(c);
		return;
	}
	fuse_reply_err(c->req, zk_to_errno(res->rc));
	rename_free(r);
	op_ctx_free(c);
}

static void rename_go(struct rename_ctx *r)
{
	struct op_ctx *c = r->c;
	struct cfs_inode *src = r->src, *dst = r->dst;
	int err = r->err;

	if (!err && !src->exists)
		err = ENOENT;
	if (!err && src->pending_create)
		err = EBUSY; /* still being written: its content is not published yet */
	if (!err && dst->exists && (c->flags & RENAME_NOREPLACE))
		err = EEXIST;
	if (!err && (c->flags & RENAME_EXCHANGE))
		err = EINVAL; /* not supported: no atomic swap of two znodes' identities */
	if (!err && inode_is_dir(src) && src->st.num_children > 0)
		err = ENOTSUP; /* a subtree cannot move in one transaction: fail cleanly */
	if (!err && dst->exists) {
		if (inode_is_dir(dst) && !inode_is_dir(src))
			err = EISDIR;
		else if (!inode_is_dir(dst) && inode_is_dir(src))
			err = ENOTDIR;
		else if (inode_is_dir(dst) && dst->st.num_children > 0)
			err = ENOTEMPTY;
	}
	int flags = 0;
	if (!err && src->st.ephemeral_owner) {
		if (src->st.ephemeral_owner != zkc_session_id(cfs->zk))
			err = EPERM; /* cannot keep another session's ephemeral alive under a new name */
		else
			flags = ZCM_EPHEMERAL;
	}
	if (!err && !strcmp(c->path, c->path2)) {
		fuse_reply_err(c->req, 0);
		rename_free(r);
		op_ctx_free(c);
		return;
	}
	if (err) {
		fuse_reply_err(c->req, err);
		rename_free(r);
		op_ctx_free(c);
		return;
	}
	struct zkc_multi *m = zkc_multi_new();
	if (dst->exists) {
		notify_own_vfs_change(cfs, ZEV_DELETED, c->path2);
		zkc_multi_delete(m, c->path2, dst->st.version);
	}
	notify_own_change(cfs, ZEV_CREATED, c->path2);
	notify_own_vfs_change(cfs, ZEV_DELETED, c->path);
	zkc_multi_create(m, c->path2, src->data, src->datalen, r->acl, r->nacl, flags);
	zkc_multi_delete(m, c->path, src->st.version);
	if (zkc_multi_submit(cfs->zk, m, rename_committed, r) < 0) {
		fuse_reply_err(c->req, EIO);
		rename_free(r);
		op_ctx_free(c);
	}
}

static void rename_step(struct rename_ctx *r)
{
	if (r->src_done && r->dst_done && r->acl_done)
		rename_go(r);
}

static void rename_src(struct cfs_inode *in, int err, void *arg)
{
	struct rename_ctx *r = arg;
	if (err)
		r->err = err;
	r->src_done = true;
	rename_step(r);
}

static void rename_dst(struct cfs_inode *in, int err, void *arg)
{
	struct rename_ctx *r = arg;
	(void)in;
	if (err)
		r->err = err;
	r->dst_done = true;
	rename_step(r);
}

static void rename_acl(struct zkclient *zk, const struct zkc_result *res, void *arg)
{
	struct rename_ctx *r = arg;
	(void)zk;
	if (res->rc == ZOK && res->nacl > 0) {
		r->acl = xcalloc((size_t)res->nacl, sizeof(*r->acl));
		for (int i = 0; i < res->nacl; i++) {
			r->acl[i].perms = res->acl[i].perms;
			r->acl[i].scheme = xstrdup(res->acl[i].scheme);
			r->acl[i].id = xstrdup(res->acl[i].id);
		}
		r->nacl = res->nacl;
	} else if (res->rc != ZOK && res->rc != ZNONODE) {
		r->err = zk_to_errno(res->rc);
	}
	r->acl_done = true;
	rename_step(r);
}

static void rename_start(struct op_ctx *c)
{
	struct rename_ctx *r = xcalloc(1, sizeof(*r));
	r->c = c;
	r->src = inode_ref_path(cfs, c->path, false);
	r->src->nlookup--;
	r->dst = inode_ref_path(cfs, c->path2, false);
	r->dst->nlookup--;
	/* Fresh copies: the multi checks versions, so stale data cannot slip through. */
	inode_invalidate(r->src, true, false);
	inode_invalidate(r->dst, true, false);
	inode_pin(r->src); /* keep both alive across the callbacks */
	inode_pin(r->dst);
	fetch_node(cfs, r->src, false, rename_src, r);
	fetch_node(cfs, r->dst, false, rename_dst, r);
	if (zkc_get_acl(cfs->zk, c->path, rename_acl, r) < 0) {
		r->err = EIO;
		r->acl_done = true;
		rename_step(r);
	}
}

static void op_rename(fuse_req_t req, fuse_ino_t parent, const char *name, fuse_ino_t newparent,
		      const char *newname, unsigned int flags)
{
	struct cfs_inode *p = inode_get(cfs, parent), *np = inode_get(cfs, newparent);
	if (!p || !np)
		return (void)fuse_reply_err(req, ENOENT);
	int err = name_check(newname);
	if (err)
		return (void)fuse_reply_err(req, err);
	if (p->data_file || np->data_file || !strcmp(name, CFS_DATA_NAME) ||
	    !strcmp(newname, CFS_DATA_NAME))
		return (void)fuse_reply_err(req, EPERM);
	struct op_ctx *c = xcalloc(1, sizeof(*c));
	c->req = req;
	c->parent = p;
	c->newparent = np;
	c->name = xstrdup(name);
	c->newname = xstrdup(newname);
	c->path = path_join(p->path, name);
	c->path2 = path_join(np->path, newname);
	c->flags = flags;
	/* moving a directory under itself */
	size_t n = strlen(c->path);
	if (!strncmp(c->path2, c->path, n) && c->path2[n] == '/') {
		fuse_reply_err(req, EINVAL);
		op_ctx_free(c);
		return;
	}
	rename_start(c);
}

void ops_dir_fill(struct fuse_lowlevel_ops *ops)
{
	ops->opendir = op_opendir;
	ops->readdir = op_readdir;
	ops->readdirplus = op_readdirplus;
	ops->releasedir = op_releasedir;
	ops->mkdir = op_mkdir;
	ops->rmdir = op_rmdir;
	ops->unlink = op_unlink;
	ops->rename = op_rename;
}
