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
	(void)ino;
	(void)value;
	(void)size;
	(void)flags;
	if (!strncmp(name, PREFIX, strlen(PREFIX)))
		return (void)fuse_reply_err(req, EPERM); /* the Stat is the server's */
	fuse_reply_err(req, ENOTSUP);
}

static void op_removexattr(fuse_req_t req, fuse_ino_t ino, const char *name)
{
	(void)ino;
	fuse_reply_err(req, strncmp(name, PREFIX, strlen(PREFIX)) ? ENODATA : EPERM);
}

int parent_create_flags(struct cfs_inode *parent);
int parent_create_flags(struct cfs_inode *parent)
{
	(void)parent;
	return ZCM_PERSISTENT;
}

void ops_xattr_fill(struct fuse_lowlevel_ops *ops)
{
	ops->getxattr = op_getxattr;
	ops->listxattr = op_listxattr;
	ops->setxattr = op_setxattr;
	ops->removexattr = op_removexattr;
}
