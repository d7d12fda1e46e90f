/*
 * txnlog.c - the fsync'd transaction log with group commit; format and API
 * in txnlog.h.  Copies ZooKeeper's FileTxnLog (files named after their first
 * zxid, zero-padded preallocation, "a zero length means end of log") and the
 * batching of its SyncRequestProcessor, on a libuv threadpool writer.
 *
 * States:
 *
 *   NEW --txnlog_replay--> READY --txnlog_flush--> WRITING --ok/undone--> READY
 *                                                     |
 *                                     undo failed     v
 *   READY <--txnlog_reset_broken / txnlog_truncate_after-- BROKEN
 *
 *   NEW -> READY        [txnlog_replay]     torn tail cut, current file opened
 *   READY -> WRITING    [start_batch]       pending batch handed to the pool
 *   WRITING -> READY    [after_write]       durable cb(status 0 or -errno)
 *   WRITING -> BROKEN   [after_write]       the failed bytes could not be cut
 *   BROKEN -> READY     [txnlog_reset_broken] disk cut back to durable_zxid
 *
 * Invariants:
 *  (1) Every file log.X starts with the record of zxid X, and zxids strictly
 *      increase within and across files; so all records of a file are below
 *      the next file's name, which is all txnlog_purge() looks at.
 *  (2) A zxid is passed to the durable callback with status 0 only after the
 *      write and fdatasync covering it (for a new file: fsync of the file and
 *      of the directory) returned success.  Batches complete in order.
 *  (3) The current file holds valid records up to durable_off and, up to
 *      alloc_end, only zeros that a successful sync covered.  The writer may
 *      put bytes after durable_off while a batch is in flight; if the batch
 *      fails they are cut off (ftruncate + fdatasync) before anything else
 *      is written, or the log becomes BROKEN.
 *  (4) Never call fsync again on pages whose sync failed and take success as
 *      durability (fsyncgate: the kernel may have dropped those pages and
 *      reports the error once).  A failed range is truncated away and the
 *      caller re-appends; it is never "retried".
 *  (5) When a batch fails, it and everything appended after it are dropped
 *      (later records may depend on the failed ones), and txnlog_last_zxid()
 *      falls back to txnlog_durable_zxid().
 *  (6) At most one batch is in flight.  While it is, fd, fd_zxid, durable_off
 *      and alloc_end belong to the writer thread; the loop thread reads or
 *      changes them only in after_write() or when nothing is in flight.
 *  (7) A torn tail is cut only in the newest file, the only one a crash can
 *      leave half-written (a file is synced before the next one is created).
 *      Damage in an older file is corruption: -EBADMSG, nothing changed.
 *
 * Preallocation.  Measured on the dev VM (ext4 on virtio, volatile write
 * cache, otherwise idle): p50 latency of one pwrite + fdatasync at the end of
 * a fresh file, 2000 x 1 KiB or 500 x 4-64 KiB, three runs each:
 *                  1 KiB     4 KiB    16 KiB   64 KiB
 *   append only    0.136 ms  0.169    0.212    0.207
 *   fallocate      0.090     0.155    0.235    0.212
 *   zeros written  0.095     0.110    0.120    0.134
 * and through this code (tests/test_txnlog benchmark, 1 KiB records, closed
 * loop): 1 client 4000-5200 fsync/s with zeros vs 2900-3400 without; 32
 * clients 86k-133k records/s vs 51k-82k.  Overwriting blocks that already
 * hold synced zeros lets fdatasync skip the journal commit (no size or
 * extent change), which appending or writing into fallocate's unwritten
 * extents cannot.  So files are extended by writing zeros, in prealloc_bytes
 * steps (8 MiB takes about 5 ms, paid by one batch), and a zero length field
 * reads as end of log.  Under heavy I/O contention from other tenants all
 * three were 2-4 ms and indistinguishable.
 */
#include "config.h"

#include <assert.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "crc32c.h"
#include "buf.h"
#include "log.h"
#include "txnlog.h"
#include "xalloc.h"

#define TAG "txnlog"
#define FILE_MAGIC "CLOG"
#define FILE_VERSION 1
#define HDR TXNLOG_FILE_HEADER_SIZE
#define RHDR TXNLOG_RECORD_HEADER_SIZE
#define DEFAULT_ROLL_BYTES ((size_t)64 << 20)
#define DEFAULT_PREALLOC_BYTES ((size_t)8 << 20)
#define NAME_PREFIX "log."
#define NAME_LEN (sizeof(NAME_PREFIX) - 1 + 16)
#define READ_CHUNK ((size_t)1 << 20)

/* Zeros for preallocation; never written to, so sharing it is safe. */
static uint8_t zeros[256 << 10];

struct txnlog {
	uv_loop_t *loop;
	struct txnlog_ops ops;		/* NULL members replaced by syscalls */
	char *dir;			/* for log lines */
	int dirfd;			/* flock'ed; fsync'ed after create/unlink */
	size_t roll_bytes, prealloc_bytes;
	bool replayed;
	bool broken;
	bool closing;			/* txnlog_close: start no new batch */

	/* The current (newest) file; see invariant (6) for who owns it. */
	int fd;				/* -1: no file yet */
	uint64_t fd_zxid;		/* its name */
	off_t durable_off;		/* end of its last durable record */
	off_t alloc_end;		/* its size; zeros after durable_off */

	/* Loop-thread state. */
	uint64_t last_zxid;		/* last appended */
	uint64_t durable_zxid;		/* last reported durable */
	bool roll_next;			/* next append starts a new file */
	off_t tail_size;		/* size of the file the next record goes to */
	uint8_t *pend;			/* pending batch: encoded records */
	size_t pend_len, pend_cap;
	uint64_t pend_last;
	size_t *splits;			/* offsets in pend where a file starts */
	size_t nsplits, splits_cap;
	txnlog_durable_cb cb;
	void *cb_arg;

	/* The batch in flight. */
	uv_work_t work;
	bool inflight;
	uint8_t *fl;
	size_t fl_len, fl_cap;
	uint64_t fl_first, fl_last;
	bool fl_new_file;
	int fl_status;			/* set by the writer */
	bool fl_broken;			/* set by the writer */
};

/* One log file found in the directory, and what a scan learnt about it. */
struct lfile {
	uint64_t zxid;			/* from the name */
	int nrecs;
	uint64_t last;			/* last valid zxid, if nrecs */
	off_t end;			/* end of the valid records */
};

static uint32_t record_crc(const uint8_t *zxid_be, const void *rec, size_t len)
{
	return crc32c(crc32c(0, zxid_be, 8), rec, len);
}

static void file_name(char *buf, size_t size, uint64_t zxid)
{
	snprintf(buf, size, NAME_PREFIX "%016" PRIx64, zxid);
}

/* Only lowercase hex, so that each zxid has exactly one file name. */
static bool parse_name(const char *name, uint64_t *zxid)
{
	if (strlen(name) != NAME_LEN || strncmp(name, NAME_PREFIX, 4) != 0)
		return false;
	uint64_t v = 0;
	for (const char *p = name + 4; *p; p++) {
		int d;
		if (*p >= '0' && *p <= '9')
			d = *p - '0';
		else if (*p >= 'a' && *p <= 'f')
			d = *p - 'a' + 10;
		else
			return false;
		v = v << 4 | (uint64_t)d;
	}
	*zxid = v;
	return true;
}

static int cmp_lfile(const void *a, const void *b)
{
	const struct lfile *x = a, *y = b;
	return x->zxid < y->zxid ? -1 : x->zxid > y->zxid;
}

/* The log files in dirfd, sorted by zxid.  *out is malloc'ed. */
static int list_files(int dirfd, struct lfile **out, size_t *count)
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
	/* The dup shares the directory offset with earlier listings. */
	rewinddir(d);
	struct lfile *v = NULL;
	size_t n = 0, cap = 0;
	struct dirent *de;
	uint64_t zxid;
	for (;;) {
		errno = 0;
		if (!(de = readdir(d)))
			break;
		if (!parse_name(de->d_name, &zxid))
			continue;
		if (n == cap) {
			cap = cap ? cap * 2 : 16;
			v = xrealloc(v, cap * sizeof(*v));
		}
		v[n++] = (struct lfile){ .zxid = zxid };
	}
	int rc = errno ? -errno : 0;
	closedir(d);
	if (rc) {
		free(v);
		return rc;
	}
	if (n)
		qsort(v, n, sizeof(*v), cmp_lfile);
	*out = v;
	*count = n;
	return 0;
}

/* Write all of buf through ops->write, which may write short. */
static int write_all(const struct txnlog *log, int fd, const void *buf, size_t n)
{
	const uint8_t *p = buf;

	while (n) {
		ssize_t w = log->ops.write(fd, p, n);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (w == 0)
			return -EIO;	/* no progress and no errno: give up */
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

/*
 * The file position is at end, just past the records written.  If they went
 * past the preallocated zeros, write zeros up to the next prealloc step;
 * the batch's sync then covers them too.
 */
static int prealloc(const struct txnlog *log, int fd, off_t end, off_t *alloc_end)
{
	if (end <= *alloc_end)
		return 0;
	if (!log->prealloc_bytes) {
		*alloc_end = end;
		return 0;
	}
	off_t step = (off_t)log->prealloc_bytes;
	off_t target = (end + step - 1) / step * step;
	for (off_t pos = end; pos < target;) {
		size_t n = sizeof(zeros);
		if ((off_t)n > target - pos)
			n = (size_t)(target - pos);
		int rc = write_all(log, fd, zeros, n);
		if (rc == -ENOSPC || rc == -EDQUOT) {
			/*
			 * A nearly full disk must not refuse records that fit: give
			 * up preallocating for now (zeros already written still read
			 * as end of log) and let the next batch try again.
			 */
			*alloc_end = pos;
			return 0;
		}
		if (rc)
			return rc;
		pos += (off_t)n;
	}
	*alloc_end = target;
	return 0;
}

/* Writer thread: undo a failed append to the current file (invariant 3). */
static void undo_current(struct txnlog *log)
{
	if (log->ops.ftruncate(log->fd, log->durable_off) < 0 ||
	    log->ops.fdatasync(log->fd) < 0) {
		log_err(-errno, TAG, "%s/log.%016" PRIx64 ": cannot cut failed write back to "
			"offset %lld; log is BROKEN, appends refused until "
			"txnlog_reset_broken() succeeds or a restart",
			log->dir, log->fd_zxid, (long long)log->durable_off);
		log->fl_broken = true;
	}
	log->alloc_end = log->durable_off;
}

/* Writer thread: append the batch to the current file. */
static int write_current(struct txnlog *log)
{
	off_t end = log->durable_off + (off_t)log->fl_len;
	int rc = 0;

	if (lseek(log->fd, log->durable_off, SEEK_SET) < 0)
		rc = -errno;
	if (!rc)
		rc = write_all(log, log->fd, log->fl, log->fl_len);
	if (!rc)
		rc = prealloc(log, log->fd, end, &log->alloc_end);
	if (!rc && log->ops.fdatasync(log->fd) < 0)
		rc = -errno;
	if (!rc) {
		log->durable_off = end;
		return 0;
	}
	log_err(rc, TAG, "%s/log.%016" PRIx64 ": writing zxid 0x%" PRIx64 "..0x%" PRIx64
		" at offset %lld", log->dir, log->fd_zxid, log->fl_first, log->fl_last,
		(long long)log->durable_off);
	undo_current(log);
	return rc;
}

/*
 * Writer thread: the batch starts a new file.  The current file loses its
 * zero tail and is synced first, so that a crash can only ever leave the
 * newest file torn (invariant 7).  On failure, the new file is emptied,
 * synced and unlinked: after fsync failed on it, its content is unknown,
 * and a leftover file with valid records would be replayed.
 */
static int write_new_file(struct txnlog *log)
{
	char name[NAME_LEN + 1];
	uint8_t hdr[HDR];
	off_t end = HDR + (off_t)log->fl_len, alloc = 0;
	int nfd = -1, rc = 0;

	/* Only zeros are cut here, so a failure loses nothing: the batch
	 * fails and the next one tries again. */
	file_name(name, sizeof(name), log->fl_first);
	if (log->fd >= 0 && log->alloc_end > log->durable_off) {
		if (log->ops.ftruncate(log->fd, log->durable_off) < 0 ||
		    log->ops.fdatasync(log->fd) < 0) {
			rc = -errno;
			goto fail;
		}
		log->alloc_end = log->durable_off;
	}
	nfd = openat(log->dirfd, name, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
	if (nfd < 0) {
		rc = -errno;
		goto fail;
	}
	memcpy(hdr, FILE_MAGIC, 4);
	be32_put(hdr + 4, FILE_VERSION);
	be64_put(hdr + 8, 0);		/* dbid, as in ZooKeeper: always 0 */
	rc = write_all(log, nfd, hdr, sizeof(hdr));
	if (!rc)
		rc = write_all(log, nfd, log->fl, log->fl_len);
	if (!rc)
		rc = prealloc(log, nfd, end, &alloc);
	if (!rc && log->ops.fsync(nfd) < 0)
		rc = -errno;
	if (!rc && log->ops.fsync(log->dirfd) < 0)
		rc = -errno;
	if (rc)
		goto fail;
	if (log->fd >= 0)
		close(log->fd);
	log->fd = nfd;
	log->fd_zxid = log->fl_first;
	log->durable_off = end;
	log->alloc_end = alloc;
	return 0;

fail:
	log_err(rc, TAG, "%s/%s: creating log file for zxid 0x%" PRIx64 "..0x%" PRIx64,
		log->dir, name, log->fl_first, log->fl_last);
	if (nfd >= 0) {
		if (log->ops.ftruncate(nfd, 0) < 0 || log->ops.fdatasync(nfd) < 0 ||
		    unlinkat(log->dirfd, name, 0) < 0 || log->ops.fsync(log->dirfd) < 0) {
			log_err(-errno, TAG, "%s/%s: cannot remove failed log file; log is "
				"BROKEN, appends refused until txnlog_reset_broken() "
				"succeeds or a restart", log->dir, name);
			log->fl_broken = true;
		}
		close(nfd);
	}
	return rc;
}

static void work_cb(uv_work_t *req)
{
	struct txnlog *log = container_of(req, struct txnlog, work);

	if (log->fl_new_file)
		log->fl_status = write_new_file(log);
	else
		log->fl_status = write_current(log);
}

static void after_write(uv_work_t *req, int status);

/* Debug check of the loop-thread invariants (5) and (6). */
static void check_state(const struct txnlog *log)
{
	assert(!log->pend_len || log->pend_last == log->last_zxid);
	assert(log->last_zxid >= log->durable_zxid);
	assert(!log->nsplits || log->splits[log->nsplits - 1] <= log->pend_len);
	assert(log->inflight || log->fd < 0 || log->durable_off <= log->alloc_end);
	(void)log;
}

/* Hand the first batch of the pending records to the writer, if allowed. */
static void start_batch(struct txnlog *log)
{
	check_state(log);
	if (log->inflight || log->broken || log->closing || !log->pend_len)
		return;

	bool new_file = false;
	if (log->nsplits && log->splits[0] == 0) {
		new_file = true;
		memmove(log->splits, log->splits + 1, --log->nsplits * sizeof(*log->splits));
	}
	/* A batch never spans files: it ends at the next split. */
	size_t end = log->nsplits ? log->splits[0] : log->pend_len;
	if (end == log->pend_len) {
		uint8_t *b = log->fl;
		size_t cap = log->fl_cap;

		log->fl = log->pend;
		log->fl_cap = log->pend_cap;
		log->pend = b;
		log->pend_cap = cap;
		log->fl_last = log->pend_last;
		log->pend_len = 0;
	} else {
		/* Rare: a roll inside the pending records.  Copy the part before
		 * the split and keep the rest pending. */
		if (log->fl_cap < end) {
			log->fl_cap = end;
			log->fl = xrealloc(log->fl, end);
		}
		memcpy(log->fl, log->pend, end);
		for (size_t off = 0; off < end; off += RHDR + be32_get(log->fl + off))
			log->fl_last = be64_get(log->fl + off + 8);
		memmove(log->pend, log->pend + end, log->pend_len - end);
		log->pend_len -= end;
		for (size_t i = 0; i < log->nsplits; i++)
			log->splits[i] -= end;
	}
	log->fl_len = end;
	log->fl_first = be64_get(log->fl + 8);
	log->fl_new_file = new_file;
	log->fl_status = 0;
	log->fl_broken = false;
	log->inflight = true;
	int rc = uv_queue_work(log->loop, &log->work, work_cb, after_write);
	COORD_ASSERT(rc == 0);
}

static void after_write(uv_work_t *req, int status)
{
	struct txnlog *log = container_of(req, struct txnlog, work);
	int rc = log->fl_status;

	(void)status;		/* only UV_ECANCELED, and we never cancel */
	log->inflight = false;
	if (rc == 0) {
		log->durable_zxid = log->fl_last;
		start_batch(log);
		if (log->cb)
			log->cb(log->cb_arg, log->durable_zxid, 0);
		return;
	}

	/* Invariant (5): drop the failed batch and everything after it. */
	if (log->fl_broken)
		log->broken = true;
	if (log->fl_new_file || log->nsplits || log->fd < 0)
		log->roll_next = true;
	log->pend_len = 0;
	log->nsplits = 0;
	log->last_zxid = log->durable_zxid;
	log->tail_size = log->durable_off;
	log_warn(TAG, "%s: batch 0x%" PRIx64 "..0x%" PRIx64 " failed; dropped it and "
		 "every later record, durable zxid stays 0x%" PRIx64, log->dir,
		 log->fl_first, log->fl_last, log->durable_zxid);
	if (log->cb)
		log->cb(log->cb_arg, log->durable_zxid, rc);
}

int txnlog_open(struct txnlog **out, const char *dir, uv_loop_t *loop,
		const struct txnlog_ops *io)
{
	int dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dirfd < 0)
		return -errno;
	/* Two writers on one log would interleave records: refuse the second. */
	if (flock(dirfd, LOCK_EX | LOCK_NB) < 0) {
		int rc = -errno;
		log_err(rc, TAG, "%s: log directory is locked by another process", dir);
		close(dirfd);
		return rc;
	}

	struct txnlog *log = xcalloc(1, sizeof(*log));
	log->loop = loop;
	if (io)
		log->ops = *io;
	if (!log->ops.write)
		log->ops.write = write;
	if (!log->ops.fdatasync)
		log->ops.fdatasync = fdatasync;
	if (!log->ops.ftruncate)
		log->ops.ftruncate = ftruncate;
	if (!log->ops.fsync)
		log->ops.fsync = fsync;
	log->dir = xstrdup(dir);
	log->dirfd = dirfd;
	log->fd = -1;
	log->roll_bytes = DEFAULT_ROLL_BYTES;
	log->prealloc_bytes = DEFAULT_PREALLOC_BYTES;
	log->pend_cap = log->fl_cap = 64 << 10;
	log->pend = xmalloc(log->pend_cap);
	log->fl = xmalloc(log->fl_cap);
	*out = log;
	return 0;
}

void txnlog_set_sizes(struct txnlog *log, size_t roll_bytes, size_t prealloc_bytes)
{
	if (roll_bytes)
		log->roll_bytes = roll_bytes;
	log->prealloc_bytes = prealloc_bytes;
}

/*
 * A buffered reader over one file.  rd_fill makes n bytes available at
 * buf + pos, growing the buffer for a large record, and returns fewer only
 * at end of file.
 */
struct reader {
	int fd;
	uint8_t *buf;
	size_t cap, pos, len;
	off_t base;			/* file offset of buf[0] */
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
		ssize_t got = pread(r->fd, r->buf + r->len, r->cap - r->len,
				    r->base + (off_t)r->len);
		if (got < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (got == 0)
			break;
		r->len += (size_t)got;
	}
	return (ssize_t)(r->len < n ? r->len : n);
}

static bool all_zero(const uint8_t *p, size_t n)
{
	while (n--)
		if (*p++)
			return false;
	return true;
}

/* 1 if everything from the read position to end of file is zero. */
static int rest_is_zero(struct reader *r)
{
	for (;;) {
		ssize_t got = rd_fill(r, 1);
		if (got < 0)
			return (int)got;
		if (got == 0)
			return 1;
		if (!all_zero(r->buf + r->pos, r->len - r->pos))
			return 0;
		r->pos = r->len;
	}
}

struct scan {
	uint64_t after;			/* cb gets records above this */
	uint64_t stop_above;		/* records above this end the file */
	txnlog_replay_cb cb;
	void *arg;
	uint64_t prev;			/* last zxid seen, 0 at the start */
	const char *why;		/* damage found, or NULL */
};

/*
 * Read one file: header, then records until a clean end (end of file or a
 * zero length followed only by zeros), a record above s->stop_above, or
 * damage (s->why says what).  Fills f.  Returns 0, -errno, or cb's value.
 */
static int scan_file(struct reader *r, struct lfile *f, struct scan *s)
{
	ssize_t got;
	int rc;

	s->why = NULL;
	f->nrecs = 0;
	f->end = 0;
	if ((got = rd_fill(r, HDR)) < 0)
		return (int)got;
	if (got < HDR || memcmp(r->buf, FILE_MAGIC, 4) != 0 ||
	    be32_get(r->buf + 4) != FILE_VERSION) {
		s->why = "bad file header";
		return 0;
	}
	r->pos += HDR;
	f->end = HDR;

	for (;;) {
		if ((got = rd_fill(r, RHDR)) < 0)
			return (int)got;
		const uint8_t *p = r->buf + r->pos;
		if (got == 0)
			return 0;
		if (got < RHDR) {
			if (!all_zero(p, (size_t)got))
				s->why = "short record header";
			return 0;
		}
		uint32_t len = be32_get(p);
		uint64_t zxid = be64_get(p + 8);
		if (len == 0) {
			/* The zero-filled tail.  Anything but zeros after it is a
			 * torn batch or stale bytes, and must not survive. */
			if ((rc = rest_is_zero(r)) < 0)
				return rc;
			if (!rc)
				s->why = "non-zero bytes after end of log";
			return 0;
		}
		if (len > TXNLOG_MAX_RECORD) {
			s->why = "record length over maximum";
			return 0;
		}
		if ((got = rd_fill(r, RHDR + len)) < 0)
			return (int)got;
		p = r->buf + r->pos;
		if (got < RHDR + len) {
			s->why = "record truncated";
			return 0;
		}
		if (record_crc(p + 8, p + RHDR, len) != be32_get(p + 4)) {
			s->why = "record checksum mismatch";
			return 0;
		}
		if (f->nrecs == 0 && zxid != f->zxid) {
			s->why = "first zxid differs from the file name";
			return 0;
		}
		if (zxid <= s->prev) {
			s->why = "zxid not increasing";
			return 0;
		}
		if (zxid > s->stop_above)
			return 0;
		if (zxid > s->after && s->cb &&
		    (rc = s->cb(s->arg, zxid, p + RHDR, len)) != 0)
			return rc;
		s->prev = zxid;
		f->last = zxid;
		f->nrecs++;
		r->pos += RHDR + len;
		f->end = r->base + (off_t)r->pos;
	}
}

/* Open, scan and, for the newest file, cut f at the end of its valid
 * records; the newest file stays open as log->fd. */
static int load_file(struct txnlog *log, struct reader *r, struct lfile *f,
		     bool newest, struct scan *s)
{
	char name[NAME_LEN + 1];
	struct stat st;
	int rc;

	file_name(name, sizeof(name), f->zxid);
	int fd = openat(log->dirfd, name, (newest ? O_RDWR : O_RDONLY) | O_CLOEXEC);
	if (fd < 0) {
		rc = -errno;
		log_err(rc, TAG, "%s/%s: open", log->dir, name);
		return rc;
	}
	r->fd = fd;
	r->pos = r->len = 0;
	r->base = 0;
	rc = scan_file(r, f, s);
	if (rc == 0 && fstat(fd, &st) < 0)
		rc = -errno;
	if (rc) {
		if (rc < 0)
			log_err(rc, TAG, "%s/%s: replay stopped", log->dir, name);
		close(fd);
		return rc;
	}
	if (!newest) {
		close(fd);
		if (s->why) {
			log_error(TAG, "%s/%s: %s at offset %lld; this is not the newest "
				  "log file, so it is corruption, not a torn write: refusing "
				  "to replay past it", log->dir, name, s->why,
				  (long long)f->end);
			return -EBADMSG;
		}
		if (!f->nrecs) {
			log_error(TAG, "%s/%s: no records in a log file that is not the "
				  "newest", log->dir, name);
			return -EBADMSG;
		}
		return 0;
	}

	off_t size = st.st_size;
	if (s->why || (s->stop_above != UINT64_MAX && size > f->end)) {
		if (s->why)
			log_warn(TAG, "%s/%s: %s at offset %lld; cutting the torn tail "
				 "(%lld bytes)", log->dir, name, s->why,
				 (long long)f->end, (long long)(size - f->end));
		if (log->ops.ftruncate(fd, f->end) < 0 || log->ops.fdatasync(fd) < 0) {
			rc = -errno;
			log_err(rc, TAG, "%s/%s: cutting at offset %lld", log->dir, name,
				(long long)f->end);
			close(fd);
			return rc;
		}
		size = f->end;
	}
	if (log->fd >= 0)
		close(log->fd);
	log->fd = fd;
	log->fd_zxid = f->zxid;
	log->durable_off = f->end;
	log->alloc_end = size;
	return 0;
}

/*
 * Bring the directory to a consistent state and make the newest file
 * current: delete files wholly above stop_above, scan the others from the
 * first one holding records above `after` (older ones are only needed by an
 * older snapshot), cut the newest file's tail, and delete a newest file left
 * without records (a crash right after creating it).  Sets fd, durable_zxid
 * and last_zxid.  Blocks.
 */
static int rebuild(struct txnlog *log, uint64_t after, uint64_t stop_above,
		   txnlog_replay_cb cb, void *arg)
{
	struct reader r = { .fd = -1, .cap = READ_CHUNK };
	struct scan s = { .after = after, .stop_above = stop_above, .cb = cb, .arg = arg };
	struct lfile *f = NULL;
	size_t n = 0, start = 0;
	char name[NAME_LEN + 1];
	bool unlinked = false;
	int rc;

	if (log->fd >= 0) {
		close(log->fd);
		log->fd = -1;
	}
	if ((rc = list_files(log->dirfd, &f, &n)) < 0) {
		log_err(rc, TAG, "%s: listing log files", log->dir);
		return rc;
	}
	r.buf = xmalloc(r.cap);

	while (n && f[n - 1].zxid > stop_above) {
		file_name(name, sizeof(name), f[--n].zxid);
		log_info(TAG, "%s/%s: removing, all records are above 0x%" PRIx64,
			 log->dir, name, stop_above);
		if (unlinkat(log->dirfd, name, 0) < 0) {
			rc = -errno;
			log_err(rc, TAG, "%s/%s: unlink", log->dir, name);
			goto out;
		}
		unlinked = true;
	}
	if (stop_above != UINT64_MAX)
		start = n ? n - 1 : 0;	/* only the cut point matters */
	else
		while (start + 1 < n && f[start + 1].zxid - 1 <= after)
			start++;

	for (size_t i = start; i < n; i++)
		if ((rc = load_file(log, &r, &f[i], i == n - 1, &s)) != 0)
			goto out;

	while (n && f[n - 1].nrecs == 0) {
		file_name(name, sizeof(name), f[--n].zxid);
		log_warn(TAG, "%s/%s: no valid records (crash while it was being "
			 "created?); removing it", log->dir, name);
		close(log->fd);
		log->fd = -1;
		if (unlinkat(log->dirfd, name, 0) < 0) {
			rc = -errno;
			log_err(rc, TAG, "%s/%s: unlink", log->dir, name);
			goto out;
		}
		unlinked = true;
		/* The previous file is now the newest: it needs an end offset,
		 * and any damage in it counts as a torn tail from now on. */
		if (n) {
			s.prev = 0;
			s.cb = NULL;
			if ((rc = load_file(log, &r, &f[n - 1], true, &s)) != 0)
				goto out;
		}
	}
	if (unlinked && log->ops.fsync(log->dirfd) < 0) {
		rc = -errno;
		log_err(rc, TAG, "%s: fsync directory", log->dir);
		goto out;
	}

	if (n) {
		log->durable_zxid = f[n - 1].last;
		log->tail_size = log->durable_off;
	} else {
		log->durable_zxid = 0;
		log->durable_off = log->alloc_end = 0;
		log->tail_size = 0;
		log->roll_next = true;
	}
	log->last_zxid = log->durable_zxid;
	rc = 0;
out:
	if (rc && log->fd >= 0) {
		close(log->fd);
		log->fd = -1;
	}
	free(r.buf);
	free(f);
	return rc;
}

int txnlog_replay(struct txnlog *log, uint64_t after_zxid, txnlog_replay_cb cb,
		  void *arg, uint64_t *last_zxid)
{
	if (log->replayed)
		return -EINVAL;
	int rc = rebuild(log, after_zxid, UINT64_MAX, cb, arg);
	if (rc)
		return rc;
	/*
	 * A process killed between write and fdatasync leaves records that
	 * survive in the page cache but not a power loss.  They are about to be
	 * served as committed, so make them durable first.
	 */
	if (log->fd >= 0 && log->ops.fdatasync(log->fd) < 0) {
		rc = -errno;
		log_err(rc, TAG, "%s: syncing the replayed log", log->dir);
		return rc;
	}
	log->replayed = true;
	if (last_zxid)
		*last_zxid = log->last_zxid;
	log_info(TAG, "%s: replayed, last zxid 0x%" PRIx64, log->dir, log->last_zxid);
	return 0;
}

int txnlog_append(struct txnlog *log, uint64_t zxid, const void *rec, size_t len)
{
	assert(log->replayed);
	check_state(log);
	if (!log->replayed || len == 0 || zxid <= log->last_zxid)
		return -EINVAL;
	if (log->broken)
		return -EIO;
	if (len > TXNLOG_MAX_RECORD)
		return -EMSGSIZE;

	if (log->roll_next || log->tail_size >= (off_t)log->roll_bytes) {
		if (log->nsplits == log->splits_cap) {
			log->splits_cap = log->splits_cap ? 2 * log->splits_cap : 4;
			log->splits = xrealloc(log->splits, log->splits_cap * sizeof(*log->splits));
		}
		log->splits[log->nsplits++] = log->pend_len;
		log->roll_next = false;
		log->tail_size = HDR;
	}

	size_t need = log->pend_len + RHDR + len;
	if (need > log->pend_cap) {
		while (log->pend_cap < need)
			log->pend_cap *= 2;
		log->pend = xrealloc(log->pend, log->pend_cap);
	}
	uint8_t *p = log->pend + log->pend_len;
	be32_put(p, (uint32_t)len);
	be64_put(p + 8, zxid);
	be32_put(p + 4, record_crc(p + 8, rec, len));
	memcpy(p + RHDR, rec, len);
	log->pend_len = need;
	log->pend_last = zxid;
	log->last_zxid = zxid;
	log->tail_size += (off_t)(RHDR + len);
	return 0;
}

void txnlog_set_durable_cb(struct txnlog *log, txnlog_durable_cb cb, void *arg)
{
	log->cb = cb;
	log->cb_arg = arg;
}

void txnlog_flush(struct txnlog *log)
{
	start_batch(log);
}

int txnlog_roll(struct txnlog *log)
{
	if (log->broken)
		return -EIO;
	log->roll_next = true;
	return 0;
}

int txnlog_truncate_after(struct txnlog *log, uint64_t zxid)
{
	int rc;

	if (!log->replayed)
		return -EINVAL;
	if (log->inflight)
		return -EBUSY;
	if (log->broken && (rc = txnlog_reset_broken(log)) < 0)
		return rc;

	/* Pending records first; a roll point at or after the cut is kept as
	 * a roll request. */
	size_t off = 0;
	uint64_t last = 0;
	while (off < log->pend_len && be64_get(log->pend + off + 8) <= zxid) {
		last = be64_get(log->pend + off + 8);
		off += RHDR + be32_get(log->pend + off);
	}
	if (off < log->pend_len) {
		size_t keep = 0;
		while (keep < log->nsplits && log->splits[keep] < off)
			keep++;
		if (keep < log->nsplits)
			log->roll_next = true;
		log->nsplits = keep;
		log->pend_len = off;
		log->pend_last = last;
		log->tail_size = (log->nsplits ? HDR - (off_t)log->splits[keep - 1] :
				  log->durable_off) + (off_t)off;
	}

	if (log->durable_zxid > zxid) {
		log_info(TAG, "%s: truncating log after zxid 0x%" PRIx64, log->dir, zxid);
		if ((rc = rebuild(log, UINT64_MAX, zxid, NULL, NULL)) < 0) {
			log_err(rc, TAG, "%s: truncating after 0x%" PRIx64 "; log is BROKEN",
				log->dir, zxid);
			log->broken = true;
			return rc;
		}
	}
	log->last_zxid = log->pend_len ? log->pend_last : log->durable_zxid;
	return 0;
}

uint64_t txnlog_last_zxid(const struct txnlog *log)
{
	return log->last_zxid;
}

uint64_t txnlog_durable_zxid(const struct txnlog *log)
{
	return log->durable_zxid;
}

int txnlog_is_broken(const struct txnlog *log)
{
	return log->broken;
}

int txnlog_reset_broken(struct txnlog *log)
{
	if (!log->broken)
		return 0;
	if (log->inflight)
		return -EBUSY;
	int rc = rebuild(log, UINT64_MAX, log->durable_zxid, NULL, NULL);
	if (rc < 0) {
		log_err(rc, TAG, "%s: log is still BROKEN", log->dir);
		return rc;
	}
	log->broken = false;
	log->pend_len = 0;
	log->nsplits = 0;
	log_info(TAG, "%s: log repaired, durable zxid 0x%" PRIx64, log->dir,
		 log->durable_zxid);
	return 0;
}

void txnlog_close(struct txnlog *log)
{
	if (!log)
		return;
	log->closing = true;
	while (log->inflight)
		uv_run(log->loop, UV_RUN_ONCE);
	if (log->fd >= 0)
		close(log->fd);
	close(log->dirfd);
	free(log->pend);
	free(log->fl);
	free(log->splits);
	free(log->dir);
	free(log);
}

int txnlog_purge(const char *dir, uint64_t keep_from_zxid)
{
	struct lfile *f = NULL;
	size_t n = 0;
	char name[NAME_LEN + 1];
	int removed = 0, rc;

	int dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dirfd < 0)
		return -errno;
	if ((rc = list_files(dirfd, &f, &n)) < 0)
		goto out;
	/* f[i]'s records are all below f[i + 1].zxid (invariant 1). */
	for (size_t i = 0; i + 1 < n && f[i + 1].zxid - 1 <= keep_from_zxid; i++) {
		file_name(name, sizeof(name), f[i].zxid);
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
	free(f);
	close(dirfd);
	return rc;
}
