/*
 * test_snapfile.c - snapshot files: roundtrip (empty, small and buffer-sized
 * records), every single-bit flip detected, fallback to an older snapshot,
 * torn writes (temporary file never renamed), abort, and purge retention.
 * Everything happens in a mkdtemp directory.
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
#include <sys/wait.h>
#include <unistd.h>

#include "log.h"
#include "replica/snapfile.h"
#include "tap.h"

#define ROOT_MAX 512
#define DIR_MAX 1024
static char root[ROOT_MAX];

/* Record i of snapshot `seed`: its length and bytes follow from both. */
static size_t rec_len(int seed, int i)
{
	if (i == 0)
		return 0;			/* empty records are allowed */
	if (i == 1)
		return 300 << 10;		/* bigger than the write buffer */
	return (size_t)((i * 37 + seed * 11) % 700);
}

static void rec_fill(uint8_t *buf, int seed, int i)
{
	size_t len = rec_len(seed, i);
	for (size_t k = 0; k < len; k++)
		buf[k] = (uint8_t)(i * 31 + seed * 7 + (int)k);
}

static uint8_t scratch[300 << 10];

static int write_snap(const char *dir, uint64_t zxid, int seed, int n)
{
	struct snapfile_writer *w;
	int rc = snapfile_create(&w, dir, zxid);
	if (rc)
		return rc;
	for (int i = 0; i < n; i++) {
		rec_fill(scratch, seed, i);
		if ((rc = snapfile_write(w, scratch, rec_len(seed, i))) < 0) {
			snapfile_abort(w);
			return rc;
		}
	}
	return snapfile_commit(w);
}

struct check {
	int seed, n, bad;
	uint8_t buf[300 << 10];
};

static int check_rec(void *arg, const void *rec, size_t len)
{
	struct check *c = arg;

	rec_fill(c->buf, c->seed, c->n);
	if (len != rec_len(c->seed, c->n) || memcmp(rec, c->buf, len) != 0)
		c->bad++;
	c->n++;
	return 0;
}

static struct check chk;

/* Read path and check it holds records 0..n-1 of seed. */
static bool snap_is(const char *path, int seed, int n)
{
	memset(&chk, 0, sizeof(chk));
	chk.seed = seed;
	int rc = snapfile_read(path, check_rec, &chk);
	return rc == 0 && chk.n == n && chk.bad == 0;
}

static void mkcase(char *dir, const char *name)
{
	snprintf(dir, DIR_MAX, "%s/%.200s", root, name);
	if (mkdir(dir, 0755) < 0)
		diag("mkdir %s: %s", dir, strerror(errno));
}

static char *snap_path(char *buf, const char *dir, uint64_t zxid)
{
	snprintf(buf, PATH_MAX, "%s/snapshot.%016" PRIx64, dir, zxid);
	return buf;
}

static bool exists(const char *path)
{
	struct stat st;
	return stat(path, &st) == 0;
}

/* Number of directory entries whose name contains `part`. */
static int count(const char *dir, const char *part)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	int n = 0;

	while (d && (de = readdir(d)))
		n += strstr(de->d_name, part) != NULL;
	if (d)
		closedir(d);
	return n;
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

static void test_roundtrip(void)
{
	char dir[DIR_MAX], path[PATH_MAX];
	uint64_t zxid = 0;
	char *latest = NULL;

	mkcase(dir, "roundtrip");
	is_int(snapfile_latest(dir, &zxid, &latest), -ENOENT, "no snapshot: -ENOENT");
	is_int(write_snap(dir, 0x10, 1, 500), 0, "write 500 records, one of 300 KiB");
	ok(exists(snap_path(path, dir, 0x10)) && count(dir, ".tmp") == 0,
	   "snapshot.0..10 published, no temporary file left");
	is_int(snapfile_latest(dir, &zxid, &latest), 0, "latest finds it");
	ok(zxid == 0x10 && latest && strcmp(latest, path) == 0, "zxid 0x10 at %s",
	   latest ? latest : "(null)");
	ok(snap_is(latest, 1, 500), "every record reads back");
	free(latest);

	is_int(write_snap(dir, 0x11, 2, 0), 0, "an empty snapshot");
	ok(snap_is(snap_path(path, dir, 0x11), 2, 0), "reads back as zero records");

	struct snapfile_writer *w;
	snapfile_create(&w, dir, 0x12);
	is_int(snapfile_write(w, scratch, SNAPFILE_MAX_RECORD + 1), -EMSGSIZE,
	       "oversized record refused");
	snapfile_abort(w);
	ok(count(dir, ".tmp") == 0 && !exists(snap_path(path, dir, 0x12)),
	   "abort leaves nothing behind");

	memset(&chk, 0, sizeof(chk));
	is_int(snapfile_read(snap_path(path, dir, 0x10), check_rec, &chk), 0, "read");
}

static int stop_at_3(void *arg, const void *rec, size_t len)
{
	(void)rec; (void)len;
	return ++*(int *)arg == 3 ? 42 : 0;
}

static void test_corruption(void)
{
	char dir[DIR_MAX], path[PATH_MAX];
	uint64_t zxid = 0;
	char *latest = NULL;
	struct stat st;

	mkcase(dir, "corrupt");
	write_snap(dir, 0x10, 1, 50);
	write_snap(dir, 0x20, 3, 4);	/* small: about 300 KiB + 3 records */
	snap_path(path, dir, 0x20);
	stat(path, &st);

	int calls = 0;
	is_int(snapfile_read(path, stop_at_3, &calls), 42, "a callback's value stops the read");

	/* Every single-bit flip is caught; skip the big record's payload,
	 * where a flip is no different from one in the small records. */
	bool all = true;
	int n = 0;
	off_t big_start = 16 + 4 + 4, big_end = big_start + (300 << 10);
	for (off_t off = 0; off < st.st_size; off++) {
		if (off >= big_start + 64 && off < big_end - 64)
			continue;
		for (int bit = 0; bit < 8; bit++, n++) {
			flip(path, off, (uint8_t)(1 << bit));
			latest = NULL;
			int rc = snapfile_latest(dir, &zxid, &latest);
			if (rc || zxid != 0x10) {
				diag("flip at %lld bit %d not caught", (long long)off, bit);
				all = false;
			}
			free(latest);
			flip(path, off, (uint8_t)(1 << bit));
		}
	}
	ok(all, "all %d single-bit flips in the newest snapshot fall back to 0x10", n);

	/* Truncated at a record boundary: the record count catches it. */
	ok(truncate(path, st.st_size - 16 - 4 - (off_t)rec_len(3, 3)) == 0, "cut last record");
	latest = NULL;
	is_int(snapfile_latest(dir, &zxid, &latest), 0, "latest with a truncated newest");
	ok(zxid == 0x10, "falls back to 0x10");
	free(latest);

	/* A copy under another name is not a snapshot of that zxid. */
	char other[PATH_MAX];
	rename(snap_path(other, dir, 0x10), snap_path(path, dir, 0x30));
	latest = NULL;
	is_int(snapfile_latest(dir, &zxid, &latest), -EBADMSG,
	       "header zxid differing from the name, nothing valid: -EBADMSG");
	free(latest);
}

static void test_torn(void)
{
	char dir[DIR_MAX];
	uint64_t zxid = 0, oldest = 0;
	char *latest = NULL;

	mkcase(dir, "torn");
	write_snap(dir, 0x10, 1, 20);

	/* The serializing child dies before committing. */
	pid_t pid = fork();
	if (pid == 0) {
		struct snapfile_writer *w;
		if (snapfile_create(&w, dir, 0x20) == 0)
			for (int i = 0; i < 100; i++) {
				rec_fill(scratch, 5, i);
				snapfile_write(w, scratch, rec_len(5, i));
			}
		_exit(0);
	}
	int status;
	waitpid(pid, &status, 0);
	is_int(count(dir, ".tmp"), 1, "the dead writer left its temporary file");
	is_int(snapfile_latest(dir, &zxid, &latest), 0, "latest");
	ok(zxid == 0x10, "ignores the temporary file");
	free(latest);

	/* A live writer's temporary file is not touched by purge. */
	struct snapfile_writer *w;
	snapfile_create(&w, dir, 0x30);
	is_int(snapfile_purge(dir, 3, &oldest), 1, "purge reaps the dead writer's file");
	ok(count(dir, ".tmp") == 1 && oldest == 0x10, "and keeps the live one");
	snapfile_abort(w);
	is_int(count(dir, ".tmp"), 0, "abort removed it");
}

static void test_purge(void)
{
	char dir[DIR_MAX], path[PATH_MAX];
	uint64_t oldest = 0;

	mkcase(dir, "purge");
	for (uint64_t z = 1; z <= 6; z++)
		write_snap(dir, z << 8, (int)z, 3);
	is_int(snapfile_purge(dir, 3, &oldest), 3, "keep 3 of 6: three removed");
	ok(oldest == 0x400 && count(dir, "snapshot.") == 3 &&
	   !exists(snap_path(path, dir, 0x300)), "0x400..0x600 remain");
	is_int(snapfile_purge(dir, 1, &oldest), 0, "keep 1 is raised to 3");
	is_int(count(dir, "snapshot."), 3, "still three");

	/* Damage the newest: only two valid remain, so nothing may go. */
	flip(snap_path(path, dir, 0x600), 40, 0x10);
	is_int(snapfile_purge(dir, 3, &oldest), 0, "two valid of three: nothing removed");
	is_int(oldest, 0x400, "oldest kept 0x400");

	write_snap(dir, 0x700, 7, 3);
	write_snap(dir, 0x800, 8, 3);
	is_int(snapfile_purge(dir, 3, &oldest), 1, "valid 0x800, 0x700, 0x500: 0x400 goes");
	ok(oldest == 0x500 && exists(path) && count(dir, "snapshot.") == 4,
	   "the invalid 0x600 is left for inspection");

	char empty[DIR_MAX];
	mkcase(empty, "purge_empty");
	is_int(snapfile_purge(empty, 3, &oldest), -ENOENT, "no snapshot: -ENOENT");
}

int main(void)
{
	const char *tmp = getenv("TMPDIR");

	snprintf(root, sizeof(root), "%.400s/test_snapfile.XXXXXX", tmp && *tmp ? tmp : "/tmp");
	if (!mkdtemp(root)) {
		printf("Bail out! mkdtemp %s: %s\n", root, strerror(errno));
		return 1;
	}
	/* Skipped invalid snapshots are logged as warnings; TEST_VERBOSE shows them. */
	log_min_level = getenv("TEST_VERBOSE") ? LOG_LEVEL_DEBUG : LOG_LEVEL_ERROR;

	test_roundtrip();
	test_corruption();
	test_torn();
	test_purge();

	nftw(root, rm_one, 16, FTW_DEPTH | FTW_PHYS);
	return done_testing();
}
