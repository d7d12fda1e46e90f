/*
 * faultinject.h - injected I/O errors for the transaction log, for tests
 * only (SQLite's "I/O error tests").  Unarmed, it changes nothing: the
 * getter returns NULL and txnlog makes the real system calls.
 *
 * Two environment variables arm it, both read once by faultinject_init():
 *
 *   COORD_FAULT_INJECT="RULE[;RULE...]"
 *       Fixed rules for the life of the process.
 *   COORD_FAULT_FILE=/path/to/control
 *       A control file holding rules in the same syntax (';', ',' or
 *       newlines between rules, '#' to end of line is a comment).  It is
 *       re-read before every intercepted call, so a test can switch faults
 *       on and off while coordd runs; write the new contents to a
 *       temporary file and rename() it over the old one so coordd never
 *       reads a half-written file.  A missing or empty file means no
 *       faults.  Whenever the contents change, the rules' counters start
 *       again from zero.  A file that does not parse is logged and ignored.
 *
 * Both may be set; a call fails if any armed rule says so.  Rules are tried
 * in order, environment first; the first that fires wins, and rules after
 * it do not count that call.
 *
 * RULE is  OP:ERRNO[:after=N][:count=M][:partial]
 *
 *   OP        write | fdatasync | fsync | ftruncate
 *             | sync (fdatasync and fsync) | any (all four)
 *   ERRNO     EIO | ENOSPC | EDQUOT | EROFS | EFBIG | EINTR, or a number
 *   after=N   let the first N matching calls through (default 0)
 *   count=M   then fail the next M matching calls and let every later one
 *             through (default: fail forever)
 *   partial   (write only) a failing write first writes the first half of
 *             its buffer for real and returns that short count, the way a
 *             filling disk does; the following write call then fails.  The
 *             short write does not use up one of the M failures.
 *
 * Examples:
 *   fsync:EIO:after=3:count=2    4th and 5th fsync fail with EIO
 *   write:ENOSPC:after=100       every write after the 100th fails
 *   fdatasync:EIO:count=1        the next fdatasync fails once
 *   write:ENOSPC:partial         torn writes until the rule is removed
 *
 * "Calls" are the calls txnlog makes through struct txnlog_ops: record and
 * preallocation writes (up to 256 KiB each), the fdatasync of a batch, the
 * fsyncs of a new file and of the directory, and the ftruncate of an undo
 * or of a torn tail at replay.  Snapshots (written by a forked child with
 * plain system calls) are not affected.
 *
 * Every injected failure is logged as a warning with tag "faultinject", and
 * faultinject_init() logs a loud warning when anything is armed.
 */
#ifndef COORD_FAULTINJECT_H
#define COORD_FAULTINJECT_H

#include "txnlog.h"

/*
 * Read COORD_FAULT_INJECT and COORD_FAULT_FILE; call once from main() before
 * the log is opened.  Returns 0 (armed or not) or -EINVAL when
 * COORD_FAULT_INJECT does not parse (logged; the server should refuse to
 * start rather than run a test without its faults).
 */
int faultinject_init(void);

/*
 * The ops table to give txnlog_open(): NULL when nothing is armed (the real
 * system calls), else a static table that injects the configured faults.
 * Its functions are safe to call from any thread.
 */
const struct txnlog_ops *faultinject_txnlog_ops(void);

#endif
