/*
 * snapfile.h - snapshot files of coordd (ZooKeeper FileSnap): the caller
 * serializes the data tree and sessions into records in a forked child, and
 * this module frames them, checksums them and publishes the file atomically.
 * Plain blocking code with no libuv, so it is safe in the child.
 *
 * On-disk format (big-endian integers), file "snapshot.<16 hex zxid>":
 *
 *   header (16 bytes):   "CSNP" | u32 version (1) | u64 zxid
 *   record (4 + len):    u32 len | payload[len]           (len may be 0)
 *   trailer (16 bytes):  "CEND" | u64 record count | u32 crc32c of every
 *                        byte of the file before this crc field
 *
 * A snapshot is written as "snapshot.<zxid>.<pid>.tmp", synced, renamed and
 * the directory synced; so a file with the final name is complete unless the
 * disk damaged it, which the whole-file crc detects.
 */
#ifndef COORD_SNAPFILE_H
#define COORD_SNAPFILE_H

#include <stddef.h>
#include <stdint.h>

#define SNAPFILE_MAX_RECORD (64u << 20)
#define SNAPFILE_MIN_RETAIN 3

struct snapfile_writer;

/*
 * Start a snapshot of the state at zxid in the existing directory dir.
 * Returns 0 or -errno.  The writer is consumed by snapfile_commit() or
 * snapfile_abort().
 */
int snapfile_create(struct snapfile_writer **out, const char *dir, uint64_t zxid);

/*
 * Append one record (copied, buffered in 256 KiB).  Returns 0, -EMSGSIZE
 * (len > SNAPFILE_MAX_RECORD) or -errno from a write; after an error every
 * later call returns it too.
 */
int snapfile_write(struct snapfile_writer *w, const void *rec, size_t len);

/*
 * Write the trailer, fsync, rename to snapshot.<zxid>, fsync the directory,
 * and free w.  On failure the temporary file is removed.  Returns 0 or -errno.
 */
int snapfile_commit(struct snapfile_writer *w);

/* Remove the temporary file and free w.  NULL is a no-op. */
void snapfile_abort(struct snapfile_writer *w);

/*
 * Find the newest snapshot in dir that validates (header zxid matches the
 * name, records fill the file exactly, count and crc in the trailer match);
 * invalid ones are logged and skipped.  *path is malloc'ed (free() it).
 * Returns 0, -ENOENT (no snapshot at all), -EBADMSG (snapshots exist but none
 * validates: the caller should not start empty) or -errno.  Reads every
 * snapshot it checks in full.
 */
int snapfile_latest(const char *dir, uint64_t *zxid, char **path);

/*
 * Call cb for each record of the snapshot at path, in order, checking the
 * format as it goes.  The record is valid only during the call.  cb runs
 * before the trailer crc has been checked, so on any non-zero return the
 * caller must discard what it built.  Returns 0, -EBADMSG, -errno, or cb's
 * non-zero value (which stops the read).
 */
int snapfile_read(const char *path, int (*cb)(void *arg, const void *rec, size_t len),
		  void *arg);

/*
 * Keep the newest `keep` valid snapshots (at least SNAPFILE_MIN_RETAIN, as
 * ZooKeeper's autopurge.snapRetainCount) and delete every snapshot older than
 * the oldest one kept.  Invalid snapshots newer than that are left for
 * inspection.  Also removes temporary files of dead writers.  *oldest_kept
 * (may be NULL) gets the zxid of the oldest kept snapshot, so the caller can
 * txnlog_purge() up to it.  Returns the number of files removed, -ENOENT
 * (no valid snapshot, nothing removed) or -errno.  Blocks; reads each kept
 * snapshot in full.
 */
int snapfile_purge(const char *dir, int keep, uint64_t *oldest_kept);

#endif
