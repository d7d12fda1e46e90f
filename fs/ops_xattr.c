/*
 * ops_xattr.c - the znode Stat as extended attributes, for getfattr -d:
 * user.coord.czxid, mzxid, pzxid (hex zxids), ctime, mtime (ms since the
 * epoch), version, cversion, aversion, ephemeralOwner (hex session id),
 * dataLength, numChildren.  They are read-only.
 */
#include "config.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "coordfs.h"
#include "xalloc.h"

#define PREFIX "user.coord."

static void set_ephemeral(fuse_req_t req, struct cfs_inode *in, bool on);

static const char *const names[] = {
	"czxid", "mzxid", "pzxid", "ctime", "mtime", "version", "cversion", "aversion",
	"ephemeralOwner", "dataLength", "numChildren", NULL,
};

static int format(const struct cfs_inode *in, const char *name, char *out, size_t n)
{
	const struct zk_stat *s = &in->st;
	if (!strcmp(name, "czxid"))
		return snprintf(out, n, "0x%" PRIx64, (uint64_t)s->czxid);
	if (!strcmp(name, "mzxid"))
		return snprintf(out, n, "0x%" PRIx64, (uint64_t)s->mzxid);
	if (!strcmp(name, "pzxid"))
		return snprintf(out, n, "0x%" PRIx64, (uint64_t)s->pzxid);
	if (!strcmp(name, "ctime"))
		return snprintf(out, n, "%" PRId64, s->ctime);
	if (!strcmp(name, "mtime"))
		return snprintf(out, n, "%" PRId64, s->mtime);
	if (!strcmp(name, "version"))
		return snprintf(out, n, "%d", s->version);
	if (!strcmp(name, "cversion"))
		return snprintf(out, n, "%d", s->cversion);
	if (!strcmp(name, "aversion"))
		return snprintf(out, n, "%d", s->aversion);
	if (!strcmp(name, "ephemeralOwner"))
		return snprintf(out, n, "0x%" PRIx64, (uint64_t)s->ephemeral_owner);
	if (!strcmp(name, "dataLength"))
		return snprintf(out, n, "%d", s->data_length);
	if (!strcmp(name, "numChildren"))
		return snprintf(out, n, "%d", s->num_children);
	return -1;
}

struct xattr_ctx {
	fuse_req_t req;
	size_t size;
	char *name; /* NULL: list */
};

static void xattr_done(struct cfs_inode *in, int err, void *arg)
{
	struct xattr_ctx *x = arg;
	char buf[1024];
	size_t len = 0;

	if (!err && !in->exists)
		err = ENOENT;
	if (!err && x->name) {
		int n = format(in, x->name, buf, sizeof(buf));
		if (n < 0)
			err = ENODATA;
		else
			len = (size_t)n;
	} else if (!err) {
		for (int i = 0; names[i]; i++) {
			int n = snprintf(buf + len, sizeof(buf) - len, PREFIX "%s", names[i]);
			len += (size_t)n + 1;
		}
	}
	if (err)
		fuse_reply_err(x->req, err);
	else if (x->size == 0)
		fuse_reply_xattr(x->req, len);
	else if (x->size < len)
		fuse_reply_err(x->req, ERANGE);
	else
		fuse_reply_buf(x->req, buf, len);
	free(x->name);
	free(x);
}

static void op_getxattr(fuse_req_t req, fuse_ino_t ino, const char *name, size_t size)
{
	struct cfs_inode *in = inode_get(cfs, ino);
	if (!in)
		return (void)fuse_reply_err(req, ENOENT);
	if (strncmp(name, PREFIX, strlen(PREFIX)))
		return (void)fuse_reply_err(req, ENODATA);
	struct xattr_ctx *x = xcalloc(1, sizeof(*x));
	x->req = req;
	x->size = size;
	x->name = xstrdup(name + strlen(PREFIX));
	fetch_node(cfs, in, false, xattr_done, x);
}

static void op_listxattr(fuse_req_t req, fuse_ino_t ino, size_t size)
{
	struct cfs_inode *in = inode_get(cfs, ino);
	if (!in)
		return (void)fuse_reply_err(req, ENOENT);
	struct xattr_ctx *x = xcalloc(1, sizeof(*x));
	x->req = req;
	x->size = size;
	fetch_node(cfs, in, false, xattr_done, x);
}

static void op_setxattr(fuse_req_t req, fuse_ino_t ino, const char *name, const char *value,
			size_t size, int flags)
{
	struct cfs_inode *in = inode_get(cfs, ino);
	(void)flags;
	if (!in)
		return (void)fuse_reply_err(req, ENOENT);
	if (!strcmp(name, PREFIX "ephemeral")) {
		if (in->data_file || !inode_is_dir(in))
			return (void)fuse_reply_err(req, ENOTDIR);
		bool on = size > 0 && value[0] != '0';
		return set_ephemeral(req, in, on);
	}
	if (!strncmp(name, PREFIX, strlen(PREFIX)))
		return (void)fuse_reply_err(req, EPERM); /* the Stat is the server's */
	fuse_reply_err(req, ENOTSUP);
}

static void op_removexattr(fuse_req_t req, fuse_ino_t ino, const char *name)
{
	struct cfs_inode *in = inode_get(cfs, ino);
	if (in && !strcmp(name, PREFIX "ephemeral"))
		return set_ephemeral(req, in, false);
	fuse_reply_err(req, strncmp(name, PREFIX, strlen(PREFIX)) ? ENODATA : EPERM);
}

/* ---- ephemeral directories ---- */

/*
 * "setfattr -n user.coord.ephemeral -v 1 DIR" marks DIR for every mount: the
 * mark is the znode /.coordfs/ephemeral/<DIR with '/' as %2F>, so it lives in
 * the cluster, is seen by every mount through the recursive watch, and is
 * cached like any node.
 */
#define EPH_ROOT "/.coordfs/ephemeral"

static char *mark_path(const char *dir)
{
	size_t n = strlen(dir);
	char *p = xmalloc(sizeof(EPH_ROOT) + 1 + 3 * n + 1);
	char *o = p + sprintf(p, "%s/", EPH_ROOT);
	for (const char *s = dir; *s; s++) {
		if (*s == '/' || *s == '%')
			o += sprintf(o, "%%%02X", (unsigned char)*s);
		else
			*o++ = *s;
	}
	*o = 0;
	return p;
}

struct flags_ctx {
	create_flags_cb cb;
	void *arg;
};

static void mark_fetched(struct cfs_inode *mark, int err, void *arg)
{
	struct flags_ctx *fc = arg;
	int flags = ZCM_PERSISTENT;
	if (!err && mark->exists)
		flags = ZCM_EPHEMERAL;
	inode_unpin(cfs, mark);
	fc->cb(err, flags, fc->arg);
	free(fc);
}

void create_flags_for(struct cfs_inode *parent, create_flags_cb cb, void *arg)
{
	char *p = mark_path(parent->path);
	struct cfs_inode *mark = inode_ref_path(cfs, p, false);
	free(p);
	mark->nlookup--;
	inode_pin(mark);
	struct flags_ctx *fc = xcalloc(1, sizeof(*fc));
	fc->cb = cb;
	fc->arg = arg;
	fetch_node(cfs, mark, false, mark_fetched, fc);
}

struct mark_ctx {
	fuse_req_t req;
	char *path;
	int step;
	bool on;
};

static void mark_step(struct zkclient *zk, const struct zkc_result *res, void *arg)
{
	struct mark_ctx *m = arg;
	(void)zk;
	int rc = res ? res->rc : ZOK;
	if (m->on && m->step < 2 && (rc == ZOK || rc == ZNODEEXISTS)) {
		/* create /.coordfs, /.coordfs/ephemeral, then the mark itself */
		const char *p = m->step == 0 ? "/.coordfs" : EPH_ROOT;
		m->step++;
		zkc_create(cfs->zk, p, NULL, -1, NULL, 0, ZCM_PERSISTENT, 0, mark_step, m);
		return;
	}
	if (m->on && m->step == 2 && (rc == ZOK || rc == ZNODEEXISTS)) {
		m->step++;
		zkc_create(cfs->zk, m->path, NULL, -1, NULL, 0, ZCM_PERSISTENT, 0, mark_step, m);
		return;
	}
	if (rc == ZNODEEXISTS || (!m->on && rc == ZNONODE))
		rc = ZOK;
	struct cfs_inode *mark = inode_find_path(cfs, m->path, false);
	if (mark)
		inode_invalidate(mark, true, true);
	fuse_reply_err(m->req, zk_to_errno(rc));
	free(m->path);
	free(m);
}

static void set_ephemeral(fuse_req_t req, struct cfs_inode *in, bool on)
{
	struct mark_ctx *m = xcalloc(1, sizeof(*m));
	m->req = req;
	m->path = mark_path(in->path);
	m->on = on;
	if (on)
		mark_step(cfs->zk, NULL, m);
	else if (zkc_delete(cfs->zk, m->path, -1, mark_step, m) < 0)
		mark_step(cfs->zk, &(struct zkc_result){ .rc = ZSYSTEMERROR }, m);
}

void ops_xattr_fill(struct fuse_lowlevel_ops *ops)
{
	ops->getxattr = op_getxattr;
	ops->listxattr = op_listxattr;
	ops->setxattr = op_setxattr;
	ops->removexattr = op_removexattr;
}
