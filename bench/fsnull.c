/*
 * fsnull.c - the floor for bench/fs.sh: a FUSE filesystem that does nothing
 * but serve one small file, with the open flags coordfs gives a warm
 * read-only open (FOPEN_KEEP_CACHE, attributes and entries cached for an
 * hour; FLUSH kept, as coordfs keeps it for POSIX locks).  A warm
 * open+read+close then costs the kernel's OPEN and FLUSH round trips and an
 * asynchronous RELEASE, whatever the daemon does (FOPEN_NOFLUSH, with
 * "noflush" as a third argument, saves the FLUSH); this
 * program shows what that costs on this machine with no daemon work at all,
 * so coordfs's figure can be read against it as well as against tmpfs.
 *
 *   fsnull MOUNTPOINT [libfuse|libfuse-mt|spin [noflush]]
 *
 * libfuse: libfuse's single-threaded loop (blocking read of /dev/fuse);
 * libfuse-mt: its multi-threaded loop; spin (default): coordfs's loop, which
 * keeps reading the non-blocking channel for 50 us before it sleeps in
 * poll(), since the opener's next request comes within microseconds.
 * The file is MOUNTPOINT/f.  Runs in the foreground; unmount to stop it.
 */
#define FUSE_USE_VERSION 34
#include <errno.h>
#include <fcntl.h>
#include <fuse_lowlevel.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static const char content[] = "key = value\nother = thing\n";

static void fill(fuse_ino_t ino, struct stat *st)
{
	memset(st, 0, sizeof(*st));
	st->st_ino = ino;
	if (ino == FUSE_ROOT_ID) {
		st->st_mode = S_IFDIR | 0755;
		st->st_nlink = 2;
	} else {
		st->st_mode = S_IFREG | 0444;
		st->st_nlink = 1;
		st->st_size = sizeof(content) - 1;
	}
}

static void op_lookup(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	struct fuse_entry_param e;
	if (parent != FUSE_ROOT_ID || strcmp(name, "f"))
		return (void)fuse_reply_err(req, ENOENT);
	memset(&e, 0, sizeof(e));
	e.ino = 2;
	e.attr_timeout = e.entry_timeout = 3600;
	fill(e.ino, &e.attr);
	fuse_reply_entry(req, &e);
}

static void op_getattr(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct stat st;
	(void)fi;
	fill(ino, &st);
	fuse_reply_attr(req, &st, 3600);
}

static int noflush;

static void op_open(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	(void)ino;
	if ((fi->flags & O_ACCMODE) != O_RDONLY)
		return (void)fuse_reply_err(req, EROFS);
	fi->keep_cache = 1;
	fi->noflush = noflush;
	fuse_reply_open(req, fi);
}

static void op_flush(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	(void)ino;
	(void)fi;
	fuse_reply_err(req, 0);
}

static void op_read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, struct fuse_file_info *fi)
{
	size_t len = sizeof(content) - 1;
	(void)ino;
	(void)fi;
	if (off < 0 || (size_t)off >= len)
		return (void)fuse_reply_buf(req, NULL, 0);
	fuse_reply_buf(req, content + off, len - (size_t)off < size ? len - (size_t)off : size);
}

static void op_release(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	(void)ino;
	(void)fi;
	fuse_reply_err(req, 0);
}

static const struct fuse_lowlevel_ops ops = {
	.lookup = op_lookup,
	.getattr = op_getattr,
	.open = op_open,
	.read = op_read,
	.flush = op_flush,
	.release = op_release,
};

static unsigned long long mono_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (unsigned long long)ts.tv_sec * 1000000000ull + (unsigned long long)ts.tv_nsec;
}

static int spin_loop(struct fuse_session *se)
{
	struct fuse_buf buf = { .mem = NULL };
	int fd = fuse_session_fd(se);
	fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
	unsigned long long idle_since = 0;
	while (!fuse_session_exited(se)) {
		int rc = fuse_session_receive_buf(se, &buf);
		if (rc == -EAGAIN || rc == -EINTR) {
			unsigned long long now = mono_ns();
			if (!idle_since)
				idle_since = now;
			if (now - idle_since > 50000) {
				struct pollfd p = { .fd = fd, .events = POLLIN };
				poll(&p, 1, -1);
				idle_since = 0;
			}
			continue;
		}
		idle_since = 0;
		if (rc <= 0)
			break;
		fuse_session_process_buf(se, &buf);
	}
	free(buf.mem);
	return 0;
}

int main(int argc, char **argv)
{
	if (argc < 2 || argc > 4) {
		fprintf(stderr, "usage: fsnull MOUNTPOINT [libfuse|libfuse-mt|spin [noflush]]\n");
		return 2;
	}
	const char *loop = argc >= 3 ? argv[2] : "spin";
	noflush = argc == 4 && !strcmp(argv[3], "noflush");
	char *fargv[] = { argv[0], NULL };
	struct fuse_args args = FUSE_ARGS_INIT(1, fargv);
	struct fuse_session *se = fuse_session_new(&args, &ops, sizeof(ops), NULL);
	if (!se || fuse_session_mount(se, argv[1])) {
		fprintf(stderr, "fsnull: cannot mount %s\n", argv[1]);
		return 1;
	}
	int rc;
	if (!strcmp(loop, "libfuse")) {
		rc = fuse_session_loop(se);
	} else if (!strcmp(loop, "libfuse-mt")) {
		struct fuse_loop_config *cfg = fuse_loop_cfg_create();
		rc = fuse_session_loop_mt(se, cfg);
		fuse_loop_cfg_destroy(cfg);
	} else {
		rc = spin_loop(se);
	}
	fuse_session_unmount(se);
	fuse_session_destroy(se);
	return rc ? 1 : 0;
}
