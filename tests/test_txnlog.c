/*
 * test_txnlog.c - the transaction log: roundtrip, group commit, torn and
 * corrupt tails, injected write/sync failures (SQLite-style I/O error tests),
 * roll, truncate, purge; plus crc32c, and a small group-commit benchmark
 * printed as diag lines.  Everything happens in a mkdtemp directory.
 */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <inttypes.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <uv.h>

#include "crc32c.h"
#include "log.h"
#include "replica/txnlog.h"
#include "tap.h"

static uv_loop_t loop;
/* Sized so that dir + name always fits in a PATH_MAX buffer. */
#define ROOT_MAX 512
#define DIR_MAX 1024
static char root[ROOT_MAX];

/* ---- fault injection ---------------------------------------------------- */

/*
 * Counters and armed failures for the ops table.  The writer thread updates
 * them; the test reads them only after uv_run() has returned, which orders
 * the accesses through libuv's completion queue.
 */
static struct {
	int writes, fdatasyncs, fsyncs, ftruncates;
	int fail_write, fail_fdatasync, fail_fsync, fail_ftruncate; /* call no. */
	int err;
	bool sticky_ftruncate;		/* fail every ftruncate from then on */
	size_t short_write;		/* write at most this much, if non-zero */
} F;

static void faults_reset(void)
{
	memset(&F, 0, sizeof(F));
}

static ssize_t f_write(int fd, const void *buf, size_t n)
{
	if (++F.writes == F.fail_write) {
		errno = F.err;
		return -1;
	}
	if (F.short_write && n > F.short_write)
		n = F.short_write;
	return write(fd, buf, n);
}

static int f_fdatasync(int fd)
{
	if (++F.fdatasyncs == F.fail_fdatasync) {
		errno = F.err;
		return -1;
	}
	return fdatasync(fd);
}

static int f_fsync(int fd)
{
	if (++F.fsyncs == F.fail_fsync) {
		errno = F.err;
		return -1;
	}
	return fsync(fd);
}

static int f_ftruncate(int fd, off_t len)
{
	if (++F.ftruncates == F.fail_ftruncate ||
	    (F.sticky_ftruncate && F.ftruncates >= F.fail_ftruncate)) {
		errno = EIO;
		return -1;
	}
	return ftruncate(fd, len);
}

static const struct txnlog_ops fault_ops = {
	.write = f_write,
	.fdatasync = f_fdatasync,
	.ftruncate = f_ftruncate,
	.fsync = f_fsync,
};

/* ---- helpers ------------------------------------------------------------ */

static struct {
	uint64_t zxid;
	int status;
	int calls;
} D;

static void on_durable(void *arg, uint64_t zxid, int status)
{
	(void)arg;
	D.zxid = zxid;
	D.status = status;
	D.calls++;
}

struct rec {
	uint64_t zxid;
	size_t len;
	uint8_t *data;
};

struct coll {
	struct rec *v;
	size_t n, cap;
};

static int collect(void *arg, uint64_t zxid, const void *data, size_t len)
{
	struct coll *c = arg;

	if (c->n == c->cap) {
		c->cap = c->cap ? 2 * c->cap : 64;
		c->v = realloc(c->v, c->cap * sizeof(*c->v));
	}
	c->v[c->n].zxid = zxid;
	c->v[c->n].len = len;
	c->v[c->n].data = malloc(len);
	memcpy(c->v[c->n].data, data, len);
	c->n++;
	return 0;
}

static void coll_free(struct coll *c)
{
	for (size_t i = 0; i < c->n; i++)
		free(c->v[i].data);
	free(c->v);
	memset(c, 0, sizeof(*c));
}

/* A record whose content says which zxid and which "generation" wrote it. */
static size_t mkrec(uint8_t *buf, uint64_t zxid, int gen)
{
	size_t len = 1 + (zxid * 37 + (uint64_t)gen * 11) % 500;

	for (size_t i = 0; i < len; i++)
		buf[i] = (uint8_t)(zxid * 31 + (uint64_t)gen * 7 + i);
	return len;
}

static bool rec_is(const struct rec *r, uint64_t zxid, int gen)
{
	uint8_t buf[512];
	size_t len = mkrec(buf, zxid, gen);

	return r->zxid == zxid && r->len == len && memcmp(r->data, buf, len) == 0;
}

/* True if c holds exactly zxids from..to, record i of generation gen(i). */
static bool coll_is(const struct coll *c, uint64_t from, uint64_t to, const int *gens)
{
	if (c->n != (to >= from ? to - from + 1 : 0))
		return false;
	for (uint64_t z = from; z <= to; z++)
		if (!rec_is(&c->v[z - from], z, gens ? gens[z] : 0))
			return false;
	return true;
}

static int append_range(struct txnlog *log, uint64_t from, uint64_t to, int gen)
{
	uint8_t buf[512];

	for (uint64_t z = from; z <= to; z++) {
		int rc = txnlog_append(log, z, buf, mkrec(buf, z, gen));
		if (rc)
			return rc;
	}
	return 0;
}

static void flush_wait(struct txnlog *log)
{
	txnlog_flush(log);
	uv_run(&loop, UV_RUN_DEFAULT);
}

static struct txnlog *open_log(const char *dir, const struct txnlog_ops *ops,
			       size_t roll, size_t prealloc, uint64_t *last)
{
	struct txnlog *log = NULL;
	int rc = txnlog_open(&log, dir, &loop, ops);
	if (rc) {
		diag("txnlog_open(%s): %s", dir, strerror(-rc));
		return NULL;
	}
	txnlog_set_sizes(log, roll, prealloc);
	rc = txnlog_replay(log, 0, NULL, NULL, last);
	if (rc) {
		diag("txnlog_replay(%s): %d", dir, rc);
		txnlog_close(log);
		return NULL;
	}
	txnlog_set_durable_cb(log, on_durable, NULL);
	return log;
}

/* Open, replay everything after `after` into c, close. */
static int replay_dir(const char *dir, uint64_t after, struct coll *c, uint64_t *last)
{
	struct txnlog *log = NULL;
	int rc = txnlog_open(&log, dir, &loop, NULL);
	if (rc)
		return rc;
	rc = txnlog_replay(log, after, collect, c, last);
	txnlog_close(log);
	return rc;
}

static void mkcase(char *dir, const char *name)
{
	snprintf(dir, DIR_MAX, "%s/%.200s", root, name);
	if (mkdir(dir, 0755) < 0)
		diag("mkdir %s: %s", dir, strerror(errno));
}

static char *pathf(char *buf, const char *dir, uint64_t zxid)
{
	snprintf(buf, PATH_MAX, "%s/log.%016" PRIx64, dir, zxid);
	return buf;
}

static off_t file_size(const char *path)
{
	struct stat st;
	return stat(path, &st) < 0 ? -1 : st.st_size;
}

static int count_logs(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	int n = 0;

	while (d && (de = readdir(d)))
		n += strncmp(de->d_name, "log.", 4) == 0;
	if (d)
		closedir(d);
	return n;
}

static uint8_t *slurp(const char *path, size_t *len)
{
	off_t size = file_size(path);
	int fd = open(path, O_RDONLY);
	if (fd < 0 || size < 0)
		return NULL;
	uint8_t *buf = malloc((size_t)size + 1);
	ssize_t got = pread(fd, buf, (size_t)size, 0);
	close(fd);
	*len = got > 0 ? (size_t)got : 0;
	return buf;
}

static void spew(const char *path, const void *buf, size_t len)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	if (fd < 0 || write(fd, buf, len) != (ssize_t)len)
		diag("writing %s: %s", path, strerror(errno));
	if (fd >= 0)
		close(fd);
}

static void flip(const char *path, off_t off, uint8_t mask)
{
	uint8_t b = 0;
	int fd = open(path, O_RDWR);
	if (fd < 0 || pread(fd, &b, 1, off) != 1 ||
	    (b ^= mask, pwrite(fd, &b, 1, off)) != 1)
		diag("flip %s: %s", path, strerror(errno));
	if (fd >= 0)
		close(fd);
}

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st; (void)flag; (void)ftw;
	return remove(path);
}

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Offset of the record of zxid `z` in a file of records first..z of
 * lengths given by mkrec(gen). */
static off_t rec_off(uint64_t first, uint64_t z, int gen)
{
	uint8_t buf[512];
	off_t off = TXNLOG_FILE_HEADER_SIZE;

	for (uint64_t i = first; i < z; i++)
		off += TXNLOG_RECORD_HEADER_SIZE + (off_t)mkrec(buf, i, gen);
	return off;
}

/* ---- tests -------------------------------------------------------------- */

static void test_crc32c(void)
{
	is_int(crc32c(0, "123456789", 9), 0xE3069283u, "crc32c check value");
	is_int(crc32c_portable(0, "123456789", 9), 0xE3069283u, "portable check value");

	uint8_t buf[4096 + 8];
	for (size_t i = 0; i < sizeof(buf); i++)
		buf[i] = (uint8_t)(i * 2654435761u >> 13);
	bool same = true, chain = true;
	for (size_t off = 0; off < 8; off++)
		for (size_t len = 0; len < 300; len += 7) {
			uint32_t a = crc32c(0, buf + off, len);
			same &= a == crc32c_portable(0, buf + off, len);
			chain &= a == crc32c(crc32c(0, buf + off, len / 3), buf + off + len / 3,
					     len - len / 3);
		}
	same &= crc32c(0, buf, 4096) == crc32c_portable(0, buf, 4096);
	ok(same, "hardware and portable crc32c agree at all alignments");
	ok(chain, "crc32c chains across calls");
}

static void test_roundtrip(void)
{
	char dir[DIR_MAX];
	uint8_t big[512];
	uint64_t last = 99;
	struct coll c = { 0 };

	mkcase(dir, "roundtrip");
	struct txnlog *log = open_log(dir, NULL, 0, 8 << 20, &last);
	ok(log && last == 0, "empty directory replays to zxid 0");
	if (!log)
		return;
	is_int(append_range(log, 1, 100, 0), 0, "append 100 records");
	is_int(txnlog_append(log, 100, big, 10), -EINVAL, "zxid must increase");
	is_int(txnlog_append(log, 101, big, 0), -EINVAL, "empty record refused");
	is_int(txnlog_append(log, 101, big, TXNLOG_MAX_RECORD + 1), -EMSGSIZE,
	       "oversized record refused");
	D.calls = 0;
	flush_wait(log);
	ok(D.calls == 1 && D.zxid == 100 && D.status == 0, "one batch, durable 0x64");
	txnlog_close(log);

	is_int(replay_dir(dir, 0, &c, &last), 0, "reopen and replay");
	ok(coll_is(&c, 1, 100, NULL) && last == 100, "all 100 records back, in order");
	coll_free(&c);
	is_int(replay_dir(dir, 60, &c, &last), 0, "replay after 60");
	ok(coll_is(&c, 61, 100, NULL) && last == 100, "records 61..100 only");
	coll_free(&c);

	/* Appends continue at the end of the last file; short writes are
	 * retried. */
	faults_reset();
	F.short_write = 7;
	log = open_log(dir, &fault_ops, 0, 0, &last);
	append_range(log, 101, 110, 0);
	flush_wait(log);
	ok(D.zxid == 110 && D.status == 0, "appends after reopen, 7-byte writes");
	txnlog_close(log);
	is_int(count_logs(dir), 1, "still one file");
	is_int(replay_dir(dir, 0, &c, &last), 0, "replay again");
	ok(coll_is(&c, 1, 110, NULL), "records 1..110");
	coll_free(&c);

	struct txnlog *a = NULL, *b = NULL;
	txnlog_open(&a, dir, &loop, NULL);
	is_int(txnlog_open(&b, dir, &loop, NULL), -EWOULDBLOCK, "second open is locked out");
	txnlog_close(a);
}

static void test_group_commit(void)
{
	char dir[DIR_MAX];
	struct coll c = { 0 };

	mkcase(dir, "group");
	faults_reset();
	struct txnlog *log = open_log(dir, &fault_ops, 0, 8 << 20, NULL);
	if (!log)
		return;
	D.calls = 0;
	/* A flush per append, as a server flushing every loop iteration under
	 * load: the first record goes alone, the other 999 wait for it and go
	 * together. */
	for (uint64_t z = 1; z <= 1000; z++) {
		append_range(log, z, z, 0);
		txnlog_flush(log);
	}
	uv_run(&loop, UV_RUN_DEFAULT);
	ok(D.zxid == 1000 && D.status == 0, "all 1000 durable");
	is_int(D.calls, 2, "in two batches");
	is_int(F.fdatasyncs + F.fsyncs, 3, "three syncs (new file, directory, batch)");

	faults_reset();
	for (int round = 0; round < 10; round++) {
		append_range(log, 1001 + 100 * (uint64_t)round, 1100 + 100 * (uint64_t)round, 0);
		flush_wait(log);
	}
	is_int(F.fdatasyncs, 10, "1000 more records in 10 flushes: 10 fdatasyncs");
	is_int(F.fsyncs, 0, "no fsync of file or directory for appends");
	txnlog_close(log);
	replay_dir(dir, 0, &c, NULL);
	ok(coll_is(&c, 1, 2000, NULL), "2000 records replay");
	coll_free(&c);
}

/* Build a one-file log of records 1..5 and return the last record's span. */
static void five_records(const char *dir, size_t prealloc, off_t *last_off, off_t *end)
{
	struct txnlog *log = open_log(dir, NULL, 0, prealloc, NULL);
	append_range(log, 1, 5, 0);
	flush_wait(log);
	txnlog_close(log);
	*last_off = rec_off(1, 5, 0);
	*end = rec_off(1, 6, 0);
}

static void test_torn_tail(void)
{
	char dir[DIR_MAX], path[PATH_MAX];
	off_t last_off, end;
	uint64_t last;
	size_t len;

	mkcase(dir, "torn");
	five_records(dir, 0, &last_off, &end);
	pathf(path, dir, 1);
	uint8_t *orig = slurp(path, &len);
	is_int(len, end, "file holds header and five records, no padding");

	bool all = true;
	for (off_t k = 0; k < end - last_off; k++) {
		struct coll c = { 0 };
		/* A few zero bytes (the start of a big-endian length) are
		 * indistinguishable from preallocation and may stay. */
		off_t want = last_off;
		while (want < last_off + k && orig[want] == 0)
			want++;
		if (want != last_off + k)
			want = last_off;
		spew(path, orig, (size_t)(last_off + k));
		int rc = replay_dir(dir, 0, &c, &last);
		if (rc || !coll_is(&c, 1, 4, NULL) || last != 4 || file_size(path) != want) {
			diag("cut at +%lld: rc %d, %zu records, last %" PRIu64 ", size %lld",
			     (long long)k, rc, c.n, last, (long long)file_size(path));
			all = false;
		}
		coll_free(&c);
	}
	ok(all, "torn last record at each of %lld offsets: cut, 1..4 survive",
	   (long long)(end - last_off));

	/* After the cut the log appends where the valid records end. */
	struct coll c = { 0 };
	int gens[7] = { 0, 0, 0, 0, 0, 1, 1 };
	spew(path, orig, (size_t)(last_off + 9));
	struct txnlog *log = open_log(dir, NULL, 0, 8 << 20, &last);
	append_range(log, 5, 6, 1);
	flush_wait(log);
	txnlog_close(log);
	replay_dir(dir, 0, &c, &last);
	ok(coll_is(&c, 1, 6, gens), "new records follow the cut");
	coll_free(&c);
	free(orig);
}

static void test_bit_flips(void)
{
	char dir[DIR_MAX], path[PATH_MAX];
	off_t last_off, end;
	uint64_t last;
	size_t len;

	mkcase(dir, "flip");
	/* With the zero-filled preallocation, as the log leaves its files. */
	five_records(dir, 64 << 10, &last_off, &end);
	pathf(path, dir, 1);
	uint8_t *orig = slurp(path, &len);
	is_int(len, 64 << 10, "file preallocated to 64 KiB");

	bool all = true;
	int n = 0;
	for (off_t off = last_off; off < end; off++)
		for (int bit = 0; bit < 8; bit++, n++) {
			struct coll c = { 0 };
			spew(path, orig, len);
			flip(path, off, (uint8_t)(1 << bit));
			int rc = replay_dir(dir, 0, &c, &last);
			if (rc || !coll_is(&c, 1, 4, NULL) || file_size(path) != last_off) {
				diag("flip at %lld bit %d: rc %d, %zu records, size %lld",
				     (long long)off, bit, rc, c.n, (long long)file_size(path));
				all = false;
			}
			coll_free(&c);
		}
	ok(all, "each of %d single-bit flips in the last record is cut", n);

	/* Stale bytes in the zero tail: the records stay, the tail goes. */
	struct coll c = { 0 };
	spew(path, orig, len);
	flip(path, end + 1000, 0x40);
	is_int(replay_dir(dir, 0, &c, &last), 0, "replay with garbage in the zero tail");
	ok(coll_is(&c, 1, 5, NULL) && file_size(path) == end,
	   "all five records kept, garbage cut");
	coll_free(&c);

	/* An untouched zero tail is kept as preallocation. */
	spew(path, orig, len);
	replay_dir(dir, 0, &c, &last);
	ok(coll_is(&c, 1, 5, NULL) && file_size(path) == (off_t)len,
	   "clean zero tail is end of log and stays allocated");
	coll_free(&c);
	free(orig);
}

static void test_old_file_corrupt(void)
{
	char dir[DIR_MAX], p1[PATH_MAX], p2[PATH_MAX];
	struct coll c = { 0 };
	uint64_t last;

	mkcase(dir, "oldcorrupt");
	struct txnlog *log = open_log(dir, NULL, 0, 64 << 10, NULL);
	append_range(log, 1, 5, 0);
	txnlog_roll(log);
	append_range(log, 6, 10, 0);
	flush_wait(log);
	txnlog_close(log);
	pathf(p1, dir, 1);
	pathf(p2, dir, 6);
	off_t s1 = file_size(p1), s2 = file_size(p2);
	is_int(s1, rec_off(1, 6, 0), "rolled file was cut to its records");
	ok(s2 > 0, "log.6 exists");

	flip(p1, rec_off(1, 3, 0) + 20, 0x01);
	is_int(replay_dir(dir, 0, &c, &last), -EBADMSG, "damage in an older file: -EBADMSG");
	ok(file_size(p1) == s1 && file_size(p2) == s2, "and nothing was cut");
	coll_free(&c);

	/* Files wholly covered by the snapshot are not even read. */
	is_int(replay_dir(dir, 5, &c, &last), 0, "replay after 5 skips the damaged file");
	ok(coll_is(&c, 6, 10, NULL) && last == 10, "records 6..10");
	coll_free(&c);

	flip(p1, rec_off(1, 3, 0) + 20, 0x01);
	flip(p2, rec_off(6, 8, 0) + 20, 0x01);
	is_int(replay_dir(dir, 0, &c, &last), 0, "damage in the newest file is a torn tail");
	ok(coll_is(&c, 1, 7, NULL) && last == 7, "records 1..7, cut at 8");
	coll_free(&c);
}

/* A crash right after a roll leaves a newest file with no records. */
static void test_empty_newest(void)
{
	char dir[DIR_MAX], path[PATH_MAX];
	struct coll c = { 0 };
	uint64_t last;

	mkcase(dir, "emptynewest");
	struct txnlog *log = open_log(dir, NULL, 0, 0, NULL);
	append_range(log, 1, 5, 0);
	flush_wait(log);
	txnlog_close(log);
	spew(pathf(path, dir, 9), "CLOG\0\0\0\1", 8);
	is_int(replay_dir(dir, 0, &c, &last), 0, "replay with a half-created newest file");
	ok(coll_is(&c, 1, 5, NULL) && file_size(path) < 0, "records 1..5, empty file removed");
	coll_free(&c);

	log = open_log(dir, NULL, 0, 0, NULL);
	append_range(log, 6, 6, 0);
	flush_wait(log);
	txnlog_close(log);
	replay_dir(dir, 0, &c, &last);
	ok(coll_is(&c, 1, 6, NULL), "appends continue in the previous file");
	coll_free(&c);
}

/*
 * Fail one call of one op with err while a batch is in flight and more
 * records are pending; then check the failed and later records are gone,
 * the log still works, and a reopen sees only what was reported durable.
 */
static void fault_case(const char *name, int which, int err)
{
	char dir[DIR_MAX];
	struct coll c = { 0 };
	int gens[16] = { 0 };

	mkcase(dir, name);
	faults_reset();
	struct txnlog *log = open_log(dir, &fault_ops, 0, 8 << 20, NULL);
	append_range(log, 1, 10, 0);
	flush_wait(log);

	F.err = err;
	if (which == 0)
		F.fail_write = F.writes + 1;
	else
		F.fail_fdatasync = F.fdatasyncs + 1;
	append_range(log, 11, 20, 1);
	txnlog_flush(log);
	append_range(log, 21, 25, 1);	/* pending behind the failing batch */
	D.calls = 0;
	uv_run(&loop, UV_RUN_DEFAULT);
	ok(D.calls == 1 && D.status == -err && D.zxid == 10,
	   "%s: callback status %d, durable zxid %" PRIu64, name, D.status, D.zxid);
	ok(txnlog_last_zxid(log) == 10 && !txnlog_is_broken(log),
	   "%s: failed and later records dropped, log not broken", name);

	append_range(log, 11, 15, 2);
	flush_wait(log);
	ok(D.status == 0 && D.zxid == 15, "%s: log works after the fault clears", name);
	txnlog_close(log);

	for (int i = 11; i <= 15; i++)
		gens[i] = 2;
	replay_dir(dir, 0, &c, NULL);
	ok(coll_is(&c, 1, 15, gens), "%s: reopen replays 1..10 and the new 11..15 only", name);
	coll_free(&c);
}

static void test_faults(void)
{
	fault_case("write_eio", 0, EIO);
	fault_case("write_enospc", 0, ENOSPC);
	fault_case("fdatasync_eio", 1, EIO);
	fault_case("fdatasync_enospc", 1, ENOSPC);
}

static void test_fault_new_file(void)
{
	char dir[DIR_MAX], path[PATH_MAX];
	struct coll c = { 0 };

	mkcase(dir, "newfile_fault");
	faults_reset();
	struct txnlog *log = open_log(dir, &fault_ops, 0, 64 << 10, NULL);
	append_range(log, 1, 10, 0);
	flush_wait(log);

	/* fsync of the new file fails: it must disappear. */
	txnlog_roll(log);
	F.err = EIO;
	F.fail_fsync = F.fsyncs + 1;
	append_range(log, 11, 12, 0);
	flush_wait(log);
	ok(D.status == -EIO && D.zxid == 10, "failed fsync of a new file reported");
	ok(file_size(pathf(path, dir, 11)) < 0, "the new file was removed");

	/*
	 * ENOSPC while zero-filling the new file: the records themselves fit, so
	 * a nearly full disk must not refuse them; preallocation is skipped.
	 */
	F.err = ENOSPC;
	F.fail_write = F.writes + 3;	/* header, records, first zeros */
	append_range(log, 11, 12, 0);
	flush_wait(log);
	ok(D.status == 0 && D.zxid == 12, "ENOSPC during preallocation does not fail the batch");
	ok(file_size(path) > 0, "log.11 holds the records");

	append_range(log, 13, 14, 0);
	flush_wait(log);
	ok(D.status == 0 && D.zxid == 14, "appends go on after the skipped preallocation");
	txnlog_close(log);
	replay_dir(dir, 0, &c, NULL);
	ok(coll_is(&c, 1, 14, NULL), "replay 1..14");
	coll_free(&c);
}

static void test_broken(void)
{
	char dir[DIR_MAX];
	struct coll c = { 0 };
	int gens[16] = { 0 };
	uint8_t buf[512];

	mkcase(dir, "broken");
	faults_reset();
	struct txnlog *log = open_log(dir, &fault_ops, 0, 8 << 20, NULL);
	append_range(log, 1, 10, 0);
	flush_wait(log);

	/* The sync fails after the records were written, and cutting them
	 * off fails too: they may be on disk, so the log must stop. */
	F.err = EIO;
	F.fail_fdatasync = F.fdatasyncs + 1;
	F.fail_ftruncate = F.ftruncates + 1;
	F.sticky_ftruncate = true;
	append_range(log, 11, 14, 1);
	flush_wait(log);
	ok(D.status == -EIO && D.zxid == 10, "failure reported");
	ok(txnlog_is_broken(log), "log is broken");
	is_int(txnlog_append(log, 11, buf, mkrec(buf, 11, 2)), -EIO, "appends refused");
	is_int(txnlog_roll(log), -EIO, "roll refused");
	ok(txnlog_reset_broken(log) < 0 && txnlog_is_broken(log),
	   "reset fails while truncation still fails");

	F.sticky_ftruncate = false;
	F.fail_ftruncate = 0;
	is_int(txnlog_reset_broken(log), 0, "reset succeeds once truncation works");
	ok(!txnlog_is_broken(log) && txnlog_last_zxid(log) == 10, "back at zxid 10");
	append_range(log, 11, 12, 2);
	flush_wait(log);
	ok(D.status == 0 && D.zxid == 12, "appends work again");
	txnlog_close(log);
	gens[11] = gens[12] = 2;
	replay_dir(dir, 0, &c, NULL);
	ok(coll_is(&c, 1, 12, gens), "the written-but-failed records are gone from disk");
	coll_free(&c);
}

static void test_auto_roll(void)
{
	char dir[DIR_MAX], path[PATH_MAX];
	struct coll c = { 0 };

	mkcase(dir, "autoroll");
	struct txnlog *log = open_log(dir, NULL, 4096, 64 << 10, NULL);
	for (uint64_t z = 1; z <= 200; z += 10) {
		append_range(log, z, z + 9, 0);
		flush_wait(log);
	}
	txnlog_close(log);
	int n = count_logs(dir);
	ok(n >= 8, "200 records of ~250 bytes rolled at 4 KiB: %d files", n);

	/* Every file but the newest is cut to its records. */
	DIR *d = opendir(dir);
	struct dirent *de;
	int small = 0;
	while ((de = readdir(d))) {
		snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
		small += strncmp(de->d_name, "log.", 4) == 0 && file_size(path) < 4096 + 600;
	}
	closedir(d);
	is_int(small, n - 1, "older files hold no preallocated tail");
	replay_dir(dir, 0, &c, NULL);
	ok(coll_is(&c, 1, 200, NULL), "replay across %d files", n);
	coll_free(&c);

	/* A roll in the middle of pending records splits the batch. */
	mkcase(dir, "midroll");
	log = open_log(dir, NULL, 0, 0, NULL);
	append_range(log, 1, 3, 0);
	txnlog_roll(log);
	append_range(log, 4, 6, 0);
	txnlog_roll(log);
	append_range(log, 7, 7, 0);
	D.calls = 0;
	flush_wait(log);
	ok(D.calls == 3 && D.zxid == 7, "three batches, one per file");
	txnlog_close(log);
	ok(count_logs(dir) == 3 && file_size(pathf(path, dir, 4)) == rec_off(4, 7, 0),
	   "files log.1, log.4, log.7");
	replay_dir(dir, 0, &c, NULL);
	ok(coll_is(&c, 1, 7, NULL), "replay 1..7");
	coll_free(&c);
}

static void test_truncate(void)
{
	char dir[DIR_MAX], path[PATH_MAX];
	struct coll c = { 0 };
	int gens[16] = { 0 };

	mkcase(dir, "truncate");
	struct txnlog *log = open_log(dir, NULL, 0, 64 << 10, NULL);
	append_range(log, 1, 5, 0);
	txnlog_roll(log);
	append_range(log, 6, 10, 0);
	flush_wait(log);
	append_range(log, 11, 12, 0);	/* pending only */
	txnlog_flush(log);
	is_int(txnlog_truncate_after(log, 5), -EBUSY, "refused while a write is in flight");
	uv_run(&loop, UV_RUN_DEFAULT);
	append_range(log, 13, 14, 0);
	is_int(txnlog_truncate_after(log, 13), 0, "truncate pending records");
	ok(txnlog_last_zxid(log) == 13 && txnlog_durable_zxid(log) == 12, "last 13, durable 12");
	flush_wait(log);
	ok(D.zxid == 13, "13 becomes durable");

	is_int(txnlog_truncate_after(log, 7), 0, "truncate after 7 (inside log.6)");
	ok(txnlog_last_zxid(log) == 7 && txnlog_durable_zxid(log) == 7, "last zxid 7");
	append_range(log, 8, 8, 1);
	flush_wait(log);
	txnlog_close(log);
	gens[8] = 1;
	replay_dir(dir, 0, &c, NULL);
	ok(coll_is(&c, 1, 8, gens), "replay 1..7 and the new 8");
	coll_free(&c);

	log = open_log(dir, NULL, 0, 64 << 10, NULL);
	is_int(txnlog_truncate_after(log, 3), 0, "truncate after 3 (inside log.1)");
	ok(file_size(pathf(path, dir, 6)) < 0, "log.6 removed");
	append_range(log, 4, 4, 1);
	flush_wait(log);
	txnlog_close(log);
	gens[4] = 1;
	replay_dir(dir, 0, &c, NULL);
	ok(coll_is(&c, 1, 4, gens), "replay 1..3 and the new 4");
	coll_free(&c);

	log = open_log(dir, NULL, 0, 64 << 10, NULL);
	is_int(txnlog_truncate_after(log, 0), 0, "truncate everything");
	ok(count_logs(dir) == 0 && txnlog_last_zxid(log) == 0, "no files left");
	append_range(log, 1, 2, 1);
	flush_wait(log);
	txnlog_close(log);
	replay_dir(dir, 0, &c, NULL);
	gens[1] = gens[2] = 1;
	ok(coll_is(&c, 1, 2, gens) && file_size(pathf(path, dir, 1)) > 0,
	   "a fresh log.1 after truncating everything");
	coll_free(&c);
}

static void test_purge(void)
{
	char dir[DIR_MAX], path[PATH_MAX];

	mkcase(dir, "purge");
	struct txnlog *log = open_log(dir, NULL, 0, 0, NULL);
	for (uint64_t z = 1; z <= 11; z += 5) {
		txnlog_roll(log);
		append_range(log, z, z + 4, 0);
	}
	flush_wait(log);
	is_int(count_logs(dir), 3, "files log.1, log.6, log.b");
	is_int(txnlog_purge(dir, 4), 0, "purge(4): log.1 still holds 5");
	is_int(txnlog_purge(dir, 5), 1, "purge(5) removes log.1");
	ok(file_size(pathf(path, dir, 1)) < 0 && file_size(pathf(path, dir, 6)) > 0,
	   "log.1 gone, log.6 (holding 6) kept");
	is_int(txnlog_purge(dir, 9), 0, "purge(9) keeps log.6");
	is_int(txnlog_purge(dir, 1000), 1, "purge(1000) removes log.6 ...");
	ok(file_size(pathf(path, dir, 11)) > 0, "... but never the newest file");

	/* The open log keeps appending to the surviving file. */
	append_range(log, 16, 16, 0);
	flush_wait(log);
	txnlog_close(log);
	struct coll c = { 0 };
	replay_dir(dir, 0, &c, NULL);
	ok(coll_is(&c, 11, 16, NULL), "replay 11..16 after purge");
	coll_free(&c);
}

/* ---- benchmark ---------------------------------------------------------- */

/*
 * Closed loop: `clients` requests outstanding, each a 1 KiB record; a request
 * completes when its record is durable and is replaced by a new one at once.
 * Records/s over syncs/s is the group commit's batching factor.
 */
static struct {
	struct txnlog *log;
	uint64_t next, acked;
	double t_end, max_gap, last_cb;
	bool stop;
	uint8_t rec[1024];
} B;

static void bench_cb(void *arg, uint64_t zxid, int status)
{
	(void)arg;
	double t = now();
	if (t - B.last_cb > B.max_gap)
		B.max_gap = t - B.last_cb;
	B.last_cb = t;
	if (status)
		return;
	if (t > B.t_end)
		B.stop = true;
	for (; B.acked < zxid; B.acked++)
		if (!B.stop)
			txnlog_append(B.log, B.next++, B.rec, sizeof(B.rec));
	txnlog_flush(B.log);
}

static void bench(const char *name, int clients, size_t prealloc, double secs)
{
	char dir[DIR_MAX];

	mkcase(dir, name);
	faults_reset();
	memset(&B, 0, sizeof(B));
	B.log = open_log(dir, &fault_ops, 0, prealloc, NULL);
	if (!B.log)
		return;
	/* Warm up: create the file and its first preallocation. */
	B.next = 1;
	txnlog_append(B.log, B.next++, B.rec, sizeof(B.rec));
	flush_wait(B.log);
	B.acked = 1;
	txnlog_set_durable_cb(B.log, bench_cb, NULL);
	faults_reset();

	double t0 = now();
	B.t_end = t0 + secs;
	B.last_cb = t0;
	for (int i = 0; i < clients; i++)
		txnlog_append(B.log, B.next++, B.rec, sizeof(B.rec));
	txnlog_flush(B.log);
	uv_run(&loop, UV_RUN_DEFAULT);
	double dt = now() - t0;
	diag("bench %-22s %3d clients: %8.0f records/s, %6.0f fdatasync/s, "
	     "%5.1f records/sync, max gap %.2f ms", name, clients, (double)(B.acked - 1) / dt,
	     F.fdatasyncs / dt, (double)(B.acked - 1) / (F.fdatasyncs ? F.fdatasyncs : 1),
	     B.max_gap * 1e3);
	txnlog_close(B.log);
	B.log = NULL;
}

static void test_bench(void)
{
	double secs = getenv("TXNLOG_BENCH_SECS") ? atof(getenv("TXNLOG_BENCH_SECS")) : 0.3;

	bench("bench_prealloc_1", 1, 8 << 20, secs);
	bench("bench_noprealloc_1", 1, 0, secs);
	bench("bench_prealloc_32", 32, 8 << 20, secs);
	bench("bench_noprealloc_32", 32, 0, secs);
	bench("bench_prealloc_256", 256, 8 << 20, secs);
	bench("bench_noprealloc_256", 256, 0, secs);
	ok(1, "benchmark ran (figures above are informational)");
}

int main(void)
{
	const char *tmp = getenv("TMPDIR");

	snprintf(root, sizeof(root), "%s/test_txnlog.XXXXXX", tmp && *tmp ? tmp : "/tmp");
	if (!mkdtemp(root)) {
		printf("Bail out! mkdtemp %s: %s\n", root, strerror(errno));
		return 1;
	}
	/* The fault tests log many expected warnings; TEST_VERBOSE shows them. */
	log_min_level = getenv("TEST_VERBOSE") ? LOG_LEVEL_DEBUG : LOG_LEVEL_ERROR;
	uv_loop_init(&loop);

	test_crc32c();
	test_roundtrip();
	test_group_commit();
	test_torn_tail();
	test_bit_flips();
	test_old_file_corrupt();
	test_empty_newest();
	test_faults();
	test_fault_new_file();
	test_broken();
	test_auto_roll();
	test_truncate();
	test_purge();
	test_bench();

	is_int(uv_loop_close(&loop), 0, "no handle or request left on the loop");
	nftw(root, rm_one, 16, FTW_DEPTH | FTW_PHYS);
	return done_testing();
}
