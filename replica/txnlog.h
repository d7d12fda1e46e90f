/*
 * txnlog.h - the fsync'd transaction log of coordd, with group commit
 * (ZooKeeper FileTxnLog + the SyncRequestProcessor's batching).
 *
 * Records are opaque byte strings, each tagged with a zxid that strictly
 * increases across the whole log.  The caller appends records to an
 * in-memory batch from the event loop, calls txnlog_flush() when it likes
 * (once per loop iteration, before replies go out), and learns through the
 * durable callback which prefix of the log is on disk.  The write + fdatasync
 * of a batch runs on the libuv threadpool; at most one is in flight.
 *
 * On-disk format (big-endian integers), files "log.<16 hex digits>" named
 * after the zxid of their first record:
 *
 *   file header (16 bytes):  "CLOG" | u32 version (1) | u64 dbid (0)
 *   record (16 + len bytes): u32 len | u32 crc32c(zxid || payload) |
 *                            u64 zxid | payload[len]
 *
 * len is 1..TXNLOG_MAX_RECORD.  A len of 0 (the zero-filled preallocated
 * tail) or a file that ends before a whole record means end of log.
 *
 * All functions are called from the loop thread that owns the loop given to
 * txnlog_open(), except txnlog_purge(), which touches no struct txnlog.
 * Functions marked "blocks" do synchronous disk I/O; they are meant for
 * startup, replication sync and shutdown, not for the steady state.
 */
#ifndef COORD_TXNLOG_H
#define COORD_TXNLOG_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <uv.h>

#define TXNLOG_FILE_HEADER_SIZE 16
#define TXNLOG_RECORD_HEADER_SIZE 16
#define TXNLOG_MAX_RECORD (64u << 20)

struct txnlog;

/*
 * The system calls the log makes on log files, replaceable so that a test
 * can fail the Nth write or sync with EIO or ENOSPC.  They follow the libc
 * convention (-1 and errno).  A NULL table, or a NULL member, means the real
 * system call.  fsync is used for a newly created file and the directory,
 * fdatasync for appends to an existing file and after truncations.  They are
 * called from threadpool threads (one at a time) and from the loop thread.
 */
struct txnlog_ops {
	ssize_t (*write)(int fd, const void *buf, size_t n);
	int (*fdatasync)(int fd);
	int (*ftruncate)(int fd, off_t len);
	int (*fsync)(int fd);
};

/*
 * Durable callback, run on the loop thread.  status 0: every record up to and
 * including durable_zxid is on disk.  status < 0 (-errno): the last batch
 * failed; it and everything appended after it was discarded, and durable_zxid
 * is the last record that is on disk (0 if none).  The caller re-appends
 * whatever it still wants logged, with zxids > durable_zxid.
 */
typedef void (*txnlog_durable_cb)(void *arg, uint64_t durable_zxid, int status);

/* Replay callback; a non-zero return stops the replay, which returns it. */
typedef int (*txnlog_replay_cb)(void *arg, uint64_t zxid, const void *rec, size_t len);

/*
 * Open the log in the existing directory dir and take an exclusive flock on
 * it (-EWOULDBLOCK if another process has it).  io may be NULL; it is
 * borrowed and must outlive the log.  Nothing is read until txnlog_replay().
 * Returns 0 or -errno.
 */
int txnlog_open(struct txnlog **out, const char *dir, uv_loop_t *loop,
		const struct txnlog_ops *io);

/*
 * Tuning, for tests and benchmarks; call before txnlog_replay().  roll_bytes:
 * a file that has reached this size gets no more records (default 64 MiB).
 * prealloc_bytes: files are extended with written zeros in steps of this size
 * so that fdatasync need not journal size or extent changes (default 8 MiB,
 * 0 disables).  A zero argument for roll_bytes keeps the current value.
 */
void txnlog_set_sizes(struct txnlog *log, size_t roll_bytes, size_t prealloc_bytes);

/*
 * Read every log file in zxid order and call cb for each valid record with
 * zxid > after_zxid; *last_zxid (may be NULL) gets the last valid zxid in the
 * log, or 0.  Blocks.
 *
 * A torn or corrupt tail of the newest file (short record, bad crc, len over
 * TXNLOG_MAX_RECORD, non-increasing zxid, garbage after the end) is logged and
 * cut off with ftruncate + fsync, so it is never replayed; a newest file left
 * without records is removed.  Damage in any older file fails the replay
 * with -EBADMSG and changes nothing.  Must be called exactly once, before the
 * first append (also on an empty directory).  Returns 0, -errno, or cb's
 * non-zero value.
 */
int txnlog_replay(struct txnlog *log, uint64_t after_zxid, txnlog_replay_cb cb,
		  void *arg, uint64_t *last_zxid);

/*
 * Copy one record into the pending batch.  Never blocks and does not allocate
 * once the batch buffers have grown to the working size.  Returns 0,
 * -EINVAL (not replayed yet, len 0, or zxid not above txnlog_last_zxid()),
 * -EMSGSIZE (len > TXNLOG_MAX_RECORD) or -EIO (the log is broken).
 */
int txnlog_append(struct txnlog *log, uint64_t zxid, const void *rec, size_t len);

void txnlog_set_durable_cb(struct txnlog *log, txnlog_durable_cb cb, void *arg);

/*
 * Start writing the pending batch unless a write is already in flight (then
 * the batch starts by itself when that write completes) or nothing is
 * pending.  Cheap; call it once per loop iteration.
 */
void txnlog_flush(struct txnlog *log);

/*
 * Make the next appended record start a new file.  The current file has its
 * preallocated tail cut and is synced before the new one is created, by the
 * writer thread, so this does not block.  Returns 0 or -EIO (broken).
 */
int txnlog_roll(struct txnlog *log);

/*
 * Remove every record with a zxid above zxid, pending or on disk (files
 * wholly above it are deleted, the one containing zxid is cut).  For
 * replication's TRUNC.  Blocks; -EBUSY while a write is in flight (wait for
 * the durable callback).  Returns 0 or -errno.
 */
int txnlog_truncate_after(struct txnlog *log, uint64_t zxid);

/* Highest zxid appended (durable or not); 0 for an empty log. */
uint64_t txnlog_last_zxid(const struct txnlog *log);
/* Highest zxid known to be on disk; 0 for an empty log. */
uint64_t txnlog_durable_zxid(const struct txnlog *log);

/* Whether a failed write could not be undone (see txnlog_reset_broken). */
int txnlog_is_broken(const struct txnlog *log);

/*
 * After a failed batch whose rollback (truncation) also failed, the log is
 * broken: the disk may hold records that were reported as not durable, so it
 * refuses appends.  This retries the rollback: every record above
 * txnlog_durable_zxid() is removed from disk and synced.  Blocks; returns 0
 * (the log works again), -EBUSY (write in flight) or -errno (still broken).
 *
 * If it keeps failing, exit.  A restart replays whatever the files hold,
 * which may include the failed records: like a crash between write and sync,
 * which ZAB tolerates for records never acknowledged.  But within the same
 * boot those records may be read back from the page cache although their
 * writeback failed, so restart only once the I/O error is understood.
 */
int txnlog_reset_broken(struct txnlog *log);

/*
 * Close the log and free it.  Records appended but not yet in a batch are
 * dropped (they were never reported durable).  If a write is in flight, this
 * runs the loop (UV_RUN_ONCE) until its completion has been processed, so the
 * durable callback may still run from inside txnlog_close(); therefore
 * txnlog_close() must be called outside uv_run() (after it has returned),
 * never from a callback.  NULL is a no-op.
 */
void txnlog_close(struct txnlog *log);

/*
 * Delete the log files in dir whose records all have zxid <= keep_from_zxid,
 * i.e. those followed by a file named at most keep_from_zxid + 1.  Never the
 * file holding keep_from_zxid + 1, never the newest file.  Safe while a
 * txnlog is open on dir.  Blocks; returns the number of files removed or
 * -errno.
 */
int txnlog_purge(const char *dir, uint64_t keep_from_zxid);

#endif
