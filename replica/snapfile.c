/*
 * snapfile.c - snapshot files; format and API in snapfile.h.
 *
 * Invariants:
 *  (1) A file named snapshot.<zxid> appears only through rename() of a
 *      temporary file that was completely written and fsync'ed, and the
 *      directory is fsync'ed before snapfile_commit() reports success.
 *  (2) A snapshot is used only if it validates from end to end: header zxid
 *      equal to the name, records exactly filling the space before the
 *      trailer, record count and whole-file crc32c equal to the trailer's.
 *  (3) Purging never deletes a snapshot newer than the oldest of the `keep`
 *      newest valid ones, and deletes nothing unless that many exist; so
 *      after a purge at least `keep` valid snapshots remain, and the log from
 *      the oldest one's zxid onwards is all a restart needs.
 *
 * ZooKeeper's FileSnap does the same dance (checksum at the end, newest valid
 * snapshot wins, snapRetainCount >= 3); our trailer also carries the record
 * count, so that a file truncated exactly at a record boundary is caught.
 */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "crc32c.h"
#include "buf.h"
#include "log.h"
#include "snapfile.h"
#include "xalloc.h"

#define TAG "snapfile"
#define HEAD_MAGIC "CSNP"
#define TAIL_MAGIC "CEND"
#define SNAP_VERSION 1
#define HDR 16
#define TRAILER 16
#define BUF_SIZE ((size_t)256 << 10)
#define NAME_PREFIX "snapshot."
#define PREFIX_LEN (sizeof(NAME_PREFIX) - 1)
#define NAME_LEN (PREFIX_LEN + 16)
#define TMP_SUFFIX ".tmp"

struct snapfile_writer {
	char *dir;
	int dirfd, fd;
	char tmp[NAME_LEN + 32];
	char name[NAME_LEN + 1];
	uint8_t *buf;
	size_t len;
	uint32_t crc;			/* over everything handed to out() */
	uint64_t count;
	int err;			/* sticky */
};

/* Parse 16 lowercase hex digits; the one spelling we write. */
static bool parse_hex16(const char *p, uint64_t *out)
{
	uint64_t v = 0;

	for (int i = 0; i < 16; i++, p++) {
		int d;
		if (*p >= '0' && *p <= '9')
			d = *p - '0';
		else if (*p >= 'a' && *p <= 'f')
			d = *p - 'a' + 10;
		else
			return false;
		v = v << 4 | (uint64_t)d;
	}
	*out = v;
	return true;
}

static bool parse_name(const char *name, uint64_t *zxid)
{
	return strlen(name) == NAME_LEN && strncmp(name, NAME_PREFIX, PREFIX_LEN) == 0 &&
	       parse_hex16(name + PREFIX_LEN, zxid);
}

/* "snapshot.<16 hex>.<pid>.tmp" -> pid, or 0. */
static pid_t parse_tmp_name(const char *name)
{
	uint64_t zxid;
	size_t n = strlen(name), sl = sizeof(TMP_SUFFIX) - 1;

	if (n <= NAME_LEN + 1 + sl || strncmp(name, NAME_PREFIX, PREFIX_LEN) != 0 ||
	    !parse_hex16(name + PREFIX_LEN, &zxid) || name[NAME_LEN] != '.' ||
	    strcmp(name + n - sl, TMP_SUFFIX) != 0)
		return 0;
	long pid = 0;
	for (const char *p = name + NAME_LEN + 1; p < name + n - sl; p++) {
		if (*p < '0' || *p > '9' || pid > 1000000000)
			return 0;
		pid = pid * 10 + (*p - '0');
	}
	return (pid_t)pid;
}

static int write_all(int fd, const void *buf, size_t n)
{
	const uint8_t *p = buf;

	while (n) {
		ssize_t w = write(fd, p, n);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

static int flush_buf(struct snapfile_writer *w)
{
	int rc = write_all(w->fd, w->buf, w->len);
	w->len = 0;
	return rc;
}

/* Buffer and checksum n bytes; a large record goes straight to the file. */
static int out(struct snapfile_writer *w, const void *p, size_t n)
{
	int rc;

	w->crc = crc32c(w->crc, p, n);
	if (w->len + n > BUF_SIZE && (rc = flush_buf(w)) < 0)
		return rc;
	if (n >= BUF_SIZE)
		return write_all(w->fd, p, n);
	memcpy(w->buf + w->len, p, n);
	w->len += n;
	return 0;
}

static void writer_free(struct snapfile_writer *w, bool unlink_tmp)
{
	if (w->fd >= 0)
		close(w->fd);
	if (unlink_tmp && unlinkat(w->dirfd, w->tmp, 0) < 0 && errno != ENOENT)
		log_err(-errno, TAG, "%s/%s: unlink", w->dir, w->tmp);
	close(w->dirfd);
	free(w->buf);
	free(w->dir);
	free(w);
}

int snapfile_create(struct snapfile_writer **out_w, const char *dir, uint64_t zxid)
{
	int dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dirfd < 0)
		return -errno;

	struct snapfile_writer *w = xcalloc(1, sizeof(*w));
	w->dir = xstrdup(dir);
	w->dirfd = dirfd;
	snprintf(w->name, sizeof(w->name), NAME_PREFIX "%016" PRIx64, zxid);
	snprintf(w->tmp, sizeof(w->tmp), "%s.%ld" TMP_SUFFIX, w->name, (long)getpid());
	w->fd = openat(dirfd, w->tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (w->fd < 0) {
		int rc = -errno;
		log_err(rc, TAG, "%s/%s: create", dir, w->tmp);
		writer_free(w, false);
		return rc;
	}
	w->buf = xmalloc(BUF_SIZE);

	uint8_t hdr[HDR];
	memcpy(hdr, HEAD_MAGIC, 4);
	be32_put(hdr + 4, SNAP_VERSION);
	be64_put(hdr + 8, zxid);
	out(w, hdr, sizeof(hdr));	/* only buffers: cannot fail */
	*out_w = w;
	return 0;
}

int snapfile_write(struct snapfile_writer *w, const void *rec, size_t len)
{
	uint8_t lenbuf[4];

	if (w->err)
		return w->err;
	if (len > SNAPFILE_MAX_RECORD)
		return -EMSGSIZE;
	be32_put(lenbuf, (uint32_t)len);
	int rc = out(w, lenbuf, 4);
	if (!rc && len)
		rc = out(w, rec, len);
	if (rc) {
		log_err(rc, TAG, "%s/%s: write", w->dir, w->tmp);
		w->err = rc;
		return rc;
	}
	w->count++;
	return 0;
}

int snapfile_commit(struct snapfile_writer *w)
{
	uint8_t tr[TRAILER];
	int rc = w->err;

	memcpy(tr, TAIL_MAGIC, 4);
	be64_put(tr + 4, w->count);
	if (!rc)
		rc = out(w, tr, 12);
	if (!rc) {
		be32_put(tr + 12, w->crc);	/* the crc does not cover itself */
		w->crc = 0;
		rc = out(w, tr + 12, 4);
	}
	if (!rc)
		rc = flush_buf(w);
	if (!rc && fsync(w->fd) < 0)
		rc = -errno;
	if (!rc && close(w->fd) < 0)
		rc = -errno;
	w->fd = -1;
	if (!rc && renameat(w->dirfd, w->tmp, w->dirfd, w->name) < 0)
		rc = -errno;
	if (rc) {
		log_err(rc, TAG, "%s/%s: committing snapshot", w->dir, w->tmp);
		writer_free(w, true);
		return rc;
	}
	/* The rename is visible; only its durability is at stake now. */
	if (fsync(w->dirfd) < 0) {
		rc = -errno;
		log_err(rc, TAG, "%s: fsync directory after renaming to %s", w->dir, w->name);
		if (unlinkat(w->dirfd, w->name, 0) < 0)
			log_err(-errno, TAG, "%s/%s: unlink", w->dir, w->name);
		writer_free(w, false);
		return rc;
	}
	log_info(TAG, "%s/%s: snapshot written, %" PRIu64 " records", w->dir, w->name,
		 w->count);
	writer_free(w, false);
	return 0;
}

void snapfile_abort(struct snapfile_writer *w)
{
	if (w)
		writer_free(w, true);
}

/* A sequential reader that checksums bytes [0, crc_end) as they arrive. */
struct reader {
	int fd;
	uint8_t *buf;
	size_t cap, pos, len;
	off_t base;			/* file offset of buf[0] */
	off_t crc_end;
	uint32_t crc;
};

static ssize_t rd_fill(struct reader *r, size_t n)
{
	if (r->len - r->pos >= n)
		return (ssize_t)n;
	memmove(r->buf, r->buf + r->pos, r->len - r->pos);
	r->base += (off_t)r->pos;
	r->len -= r->pos;
	r->pos = 0;
	if (n > r->cap) {
		r->cap = n;
		r->buf = xrealloc(r->buf, r->cap);
	}
	while (r->len < n) {
		off_t at = r->base + (off_t)r->len;
		ssize_t got = pread(r->fd, r->buf + r->len, r->cap - r->len, at);
		if (got < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (got == 0)
			break;
		if (at < r->crc_end) {
			off_t c = r->crc_end - at < got ? r->crc_end - at : got;
			r->crc = crc32c(r->crc, r->buf + r->len, (size_t)c);
		}
		r->len += (size_t)got;
	}
	return (ssize_t)(r->len < n ? r->len : n);
}

/*
 * Read and check the snapshot in file fd, calling cb (if any) per record.
 * *why says what is wrong when -EBADMSG is returned.
 */
static int scan(int fd, uint64_t *zxid, int (*cb)(void *, const void *, size_t),
		void *arg, const char **why)
{
	struct stat st;
	struct reader r = { .fd = fd, .cap = BUF_SIZE };
	uint64_t count = 0;
	ssize_t got;
	int rc = 0;

	*why = NULL;
	if (fstat(fd, &st) < 0)
		return -errno;
	if (st.st_size < HDR + TRAILER) {
		*why = "file too short";
		return -EBADMSG;
	}
	off_t data_end = st.st_size - TRAILER;
	r.crc_end = st.st_size - 4;
	r.buf = xmalloc(r.cap);

	if ((got = rd_fill(&r, HDR)) < 0) {
		rc = (int)got;
		goto out;
	}
	if (got < HDR || memcmp(r.buf, HEAD_MAGIC, 4) != 0 || be32_get(r.buf + 4) != SNAP_VERSION) {
		*why = "bad header";
		rc = -EBADMSG;
		goto out;
	}
	*zxid = be64_get(r.buf + 8);
	r.pos = HDR;

	while (r.base + (off_t)r.pos < data_end) {
		off_t left = data_end - (r.base + (off_t)r.pos);
		if (left < 4) {
			*why = "record header runs into the trailer";
			rc = -EBADMSG;
			goto out;
		}
		if ((got = rd_fill(&r, 4)) < 0) {
			rc = (int)got;
			goto out;
		}
		uint32_t len = be32_get(r.buf + r.pos);
		if (len > SNAPFILE_MAX_RECORD || (off_t)len > left - 4) {
			*why = "record length runs past the trailer";
			rc = -EBADMSG;
			goto out;
		}
		if ((got = rd_fill(&r, 4 + (size_t)len)) < 0) {
			rc = (int)got;
			goto out;
		}
		if (got < 4 + (ssize_t)len) {
			*why = "file shrank while reading";
			rc = -EBADMSG;
			goto out;
		}
		if (cb && (rc = cb(arg, r.buf + r.pos + 4, len)) != 0)
			goto out;
		r.pos += 4 + (size_t)len;
		count++;
	}

	if ((got = rd_fill(&r, TRAILER)) < 0) {
		rc = (int)got;
		goto out;
	}
	const uint8_t *t = r.buf + r.pos;
	if (got < TRAILER || memcmp(t, TAIL_MAGIC, 4) != 0) {
		*why = "bad trailer";
		rc = -EBADMSG;
	} else if (be64_get(t + 4) != count) {
		*why = "record count differs from the trailer";
		rc = -EBADMSG;
	} else if (be32_get(t + 12) != r.crc) {
		*why = "checksum mismatch";
		rc = -EBADMSG;
	}
out:
	free(r.buf);
	return rc;
}

int snapfile_read(const char *path, int (*cb)(void *arg, const void *rec, size_t len),
		  void *arg)
{
	const char *why;
	uint64_t zxid;

	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	int rc = scan(fd, &zxid, cb, arg, &why);
	close(fd);
	if (rc == -EBADMSG)
		log_error(TAG, "%s: %s", path, why);
	else if (rc < 0)
		log_err(rc, TAG, "%s: read", path);
	return rc;
}

/* Validate dir/name against the zxid in its name; logs why not. */
static int validate(int dirfd, const char *dir, const char *name, uint64_t zxid)
{
	const char *why = NULL;
	uint64_t hz = 0;

	int fd = openat(dirfd, name, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		int rc = -errno;
		log_err(rc, TAG, "%s/%s: open", dir, name);
		return rc;
	}
	int rc = scan(fd, &hz, NULL, NULL, &why);
	close(fd);
	if (!rc && hz != zxid) {
		why = "zxid in the header differs from the name";
		rc = -EBADMSG;
	}
	if (rc == -EBADMSG)
		log_warn(TAG, "%s/%s: invalid snapshot (%s), skipping it", dir, name, why);
	else if (rc < 0)
		log_warn_err(rc, TAG, "%s/%s: unreadable snapshot, skipping it", dir, name);
	return rc;
}

static int cmp_desc(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x > y ? -1 : x < y;
}

/* Snapshot zxids in dirfd, newest first; optionally unlink dead writers'
 * temporary files on the way. */
static int list_snaps(int dirfd, const char *dir, bool reap, uint64_t **out,
		      size_t *count, int *reaped)
{
	int fd = dup(dirfd);
	if (fd < 0)
		return -errno;
	DIR *d = fdopendir(fd);
	if (!d) {
		int rc = -errno;
		close(fd);
		return rc;
	}
	rewinddir(d);
	uint64_t *v = NULL, zxid;
	size_t n = 0, cap = 0;
	struct dirent *de;
	pid_t pid;
	int rc = 0;

	for (;;) {
		errno = 0;
		if (!(de = readdir(d))) {
			rc = errno ? -errno : 0;
			break;
		}
		if (parse_name(de->d_name, &zxid)) {
			if (n == cap) {
				cap = cap ? 2 * cap : 16;
				v = xrealloc(v, cap * sizeof(*v));
			}
			v[n++] = zxid;
		} else if (reap && (pid = parse_tmp_name(de->d_name)) > 0 &&
			   kill(pid, 0) < 0 && errno == ESRCH) {
			/* Its writer died before commit: it can never be used. */
			if (unlinkat(dirfd, de->d_name, 0) == 0) {
				log_info(TAG, "%s/%s: removed leftover temporary file",
					 dir, de->d_name);
				(*reaped)++;
			}
		}
	}
	closedir(d);
	if (rc) {
		free(v);
		return rc;
	}
	if (n)
		qsort(v, n, sizeof(*v), cmp_desc);
	*out = v;
	*count = n;
	return 0;
}

int snapfile_latest(const char *dir, uint64_t *zxid, char **path)
{
	char name[NAME_LEN + 1];
	uint64_t *v = NULL;
	size_t n = 0;
	int rc;

	int dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dirfd < 0)
		return -errno;
	if ((rc = list_snaps(dirfd, dir, false, &v, &n, NULL)) < 0)
		goto out;
	rc = n ? -EBADMSG : -ENOENT;
	for (size_t i = 0; i < n; i++) {
		snprintf(name, sizeof(name), NAME_PREFIX "%016" PRIx64, v[i]);
		if (validate(dirfd, dir, name, v[i]) == 0) {
			*zxid = v[i];
			size_t len = strlen(dir) + 1 + NAME_LEN + 1;
			*path = xmalloc(len);
			snprintf(*path, len, "%s/%s", dir, name);
			rc = 0;
			break;
		}
	}
	if (rc == -EBADMSG)
		log_error(TAG, "%s: %zu snapshots, none valid", dir, n);
out:
	free(v);
	close(dirfd);
	return rc;
}

int snapfile_purge(const char *dir, int keep, uint64_t *oldest_kept)
{
	char name[NAME_LEN + 1];
	uint64_t *v = NULL;
	size_t n = 0, kept = 0, i;
	int removed = 0, rc;

	if (keep < SNAPFILE_MIN_RETAIN)
		keep = SNAPFILE_MIN_RETAIN;
	int dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dirfd < 0)
		return -errno;
	if ((rc = list_snaps(dirfd, dir, true, &v, &n, &removed)) < 0)
		goto out;

	/* Newest first: find the keep-th valid snapshot. */
	for (i = 0; i < n && kept < (size_t)keep; i++) {
		snprintf(name, sizeof(name), NAME_PREFIX "%016" PRIx64, v[i]);
		if (validate(dirfd, dir, name, v[i]) == 0) {
			kept++;
			if (oldest_kept)
				*oldest_kept = v[i];
		}
	}
	if (!kept) {
		rc = -ENOENT;
		goto out;
	}
	/* Invariant (3): delete only once `keep` valid ones are known. */
	for (; kept == (size_t)keep && i < n; i++) {
		snprintf(name, sizeof(name), NAME_PREFIX "%016" PRIx64, v[i]);
		if (unlinkat(dirfd, name, 0) < 0) {
			rc = -errno;
			log_err(rc, TAG, "%s/%s: purge", dir, name);
			goto out;
		}
		log_info(TAG, "%s/%s: purged", dir, name);
		removed++;
	}
	if (removed && fsync(dirfd) < 0) {
		rc = -errno;
		goto out;
	}
	rc = removed;
out:
	free(v);
	close(dirfd);
	return rc;
}
