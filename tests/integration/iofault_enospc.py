#!/usr/bin/python3
"""iofault_enospc: a REAL full disk, no injection.  coordd's dataDir is a
small tmpfs; writes fill it until the log cannot grow.  Checks that

  * the failing writes are answered ZSYSTEMERROR (-1), never acknowledged,
    and are not visible;
  * the server stays up and keeps serving reads on the existing session;
  * after deleting a filler file the test placed on the tmpfs, writes work
    again without a restart;
  * after a restart every acknowledged write is there with its data, and
    no failed write is;
  * the same holds with snapshots (snapCount 20) failing for lack of space
    as well (their retries are reported as diag lines);
  * on a tmpfs smaller than one preallocation step (8 MiB, txnlog.c), coordd
    starts and stays up although it cannot create a log file (and so no
    session); what clients see is reported.

Needs root (mount); prints "1..0 # SKIP" otherwise.
"""

import os
import re
import signal
import sys
import tempfile

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import coordtest as ct                                        # noqa: E402
import durability_lib as dl                                   # noqa: E402

ct.require_server()
if ct.server_kind() != "coordd":
    ct.skip_all("tests coordd's log preallocation on a full disk")
try:
    from kazoo.exceptions import SystemZookeeperError        # noqa: E402
except ImportError:
    ct.skip_all("python3-kazoo not installed")

PREALLOC = 8 << 20          # txnlog.c DEFAULT_PREALLOC_BYTES


def mount_tmpfs(size):
    """A fresh tmpfs of `size`; None if mounting is not possible here.  It
    is unmounted at exit (after the servers, whose cleanups run first)."""
    d = tempfile.mkdtemp(prefix="enospc.")
    rc, out = dl.run_quiet(["mount", "-t", "tmpfs", "-o", "size=" + size,
                            "tmpfs", d])
    if rc != 0:
        os.rmdir(d)
        return None, out.strip()

    def umount():
        if dl.run_quiet(["umount", d])[0] != 0:
            dl.run_quiet(["umount", "-l", d])
        try:
            os.rmdir(d)
        except OSError:
            pass
    ct._cleanups.append(umount)
    return d, None


def free_kib(path):
    st = os.statvfs(path)
    return st.f_bavail * st.f_frsize // 1024


if os.geteuid() != 0:
    ct.skip_all("needs root to mount a tmpfs")
probe, why = mount_tmpfs("1m")
if probe is None:
    ct.skip_all("cannot mount a tmpfs here: %s" % why)

t = ct.TAP()
seq = [0]           # node names are unique across all attempts


def fill(zk, tag, size, acked, failed, limit=400):
    """Create size-byte nodes until one fails (then up to 3 more tries, to
    see that they keep failing) or `limit` writes.  Returns the list of
    outcomes ('ok' / 'syserr' / exception)."""
    res = []
    for _ in range(limit):
        seq[0] += 1
        p = "/%s-%d" % (tag, seq[0])
        unit = dl.payload(p)
        data = (unit * (size // len(unit) + 1))[:size]
        try:
            zk.create(p, data)
            acked[p] = data
            res.append("ok")
        except SystemZookeeperError:
            failed.add(p)
            res.append("syserr")
        except Exception as e:                                # noqa
            res.append(e)
        if res.count("syserr") >= 4 or not isinstance(res[-1], str):
            break
    return res


def verify(zk, acked, failed, what):
    # A small window: replies of up to 400 KiB each.
    got = dl.fetch_all(zk, sorted(set(acked) | failed), window=8)
    lost = [p for p in acked if got.get(p) is None or got[p][0] != acked[p]]
    t.ok(not lost, "%s: all %d acknowledged writes present with their data"
         % (what, len(acked)), "lost: %r" % sorted(lost)[:10])
    back = [p for p in failed if got.get(p) is not None]
    t.ok(not back, "%s: none of the %d failed writes exists" %
         (what, len(failed)), "present: %r" % sorted(back)[:10])


@t.case
def full_disk():
    """24 MiB tmpfs, 12 MiB filler: the first log file (8 MiB preallocated)
    fits, growing it by another 8 MiB step does not."""
    mnt, why = mount_tmpfs("24m")
    filler = os.path.join(mnt, "filler")
    with open(filler, "wb") as f:
        f.write(b"\xff" * (12 << 20))
    os.mkdir(os.path.join(mnt, "data"))
    srv = dl.DurableServer(datadir=os.path.join(mnt, "data"),
                           cfg={"snapCount": "1000000"})
    srv.start()
    zk = ct.kazoo_client(srv)
    acked, failed = {}, set()
    res = fill(zk, "big", 400 << 10, acked, failed)
    n_ok = res.count("ok")
    t.diag("full disk: %d x 400 KiB writes acked, then %s; %d KiB free" %
           (n_ok, res[n_ok:], free_kib(mnt)))
    t.ok("syserr" in res, "writes fail once the disk is full")
    t.ok(all(r in ("ok", "syserr") for r in res),
         "every write got an ack or ZSYSTEMERROR, nothing else")
    t.ok("No space left on device" in srv.log_text(),
         "coordd logs ENOSPC")
    t.ok(all(zk.exists(p) is None for p in failed),
         "failed writes are not visible")
    small = fill(zk, "small", 100, acked, failed, limit=1)
    t.diag("a 100-byte write now: %s (%d KiB free; the log grows in %d MiB "
           "preallocation steps)" % (small, free_kib(mnt), PREALLOC >> 20))
    some = sorted(acked)[0]
    t.ok(zk.get(some)[0] == acked[some] and len(zk.get_children("/")) > 1,
         "reads still work on the full disk")
    t.ok(srv.alive(), "coordd still running on the full disk")

    os.unlink(filler)
    t.ok(ct.wait_for(lambda: fill(zk, "again", 1000, acked, failed,
                                  limit=1) == ["ok"], 5, 0.05),
         "after deleting the filler, writes work again without a restart")
    more = fill(zk, "more", 400 << 10, acked, failed, limit=10)
    t.is_eq(more, ["ok"] * 10, "and keep working (10 x 400 KiB)")
    ct._stop_quietly(zk)
    srv.stop()
    srv.start()
    zk = ct.kazoo_client(srv)
    verify(zk, acked, failed, "full disk: after restart")

    # Fill it again and restart while it is full: recovery only reads.
    with open(filler, "wb") as f:
        try:
            while True:
                f.write(b"\xff" * (1 << 20))
                f.flush()
        except OSError:
            pass
    res = fill(zk, "full2", 1000, acked, failed, limit=5)
    t.diag("refilled: %d KiB free, writes %s" % (free_kib(mnt), res))
    ct._stop_quietly(zk)
    srv.stop()
    srv.start_nowait()
    t.ok(not ct.wait_for(lambda: not srv.alive(), 2),
         "restart on a full disk: coordd starts and stays up (exit %r)" %
         srv.exit_status())
    t.diag("restart on a full disk: a client %s get a session (the log "
           "file still had preallocated room)" %
           ("could" if ct.handshake_ok(srv.port) else "could NOT"))
    srv.stop()
    os.unlink(filler)
    srv.start()
    zk = ct.kazoo_client(srv)
    verify(zk, acked, failed, "full disk: after freeing it and restarting")
    ct._stop_quietly(zk)
    srv.stop()


@t.case
def full_disk_with_snapshots():
    """The same with snapCount 20: snapshots (forked writers) fail for lack
    of space too, and every snapshot rolls the log to a new 8 MiB file.
    The filler is 12 MiB, so that deleting it leaves room for a new log
    file however full the snapshots made the disk."""
    mnt, why = mount_tmpfs("32m")
    filler = os.path.join(mnt, "filler")
    with open(filler, "wb") as f:
        f.write(b"\xff" * (12 << 20))
    os.mkdir(os.path.join(mnt, "data"))
    srv = dl.DurableServer(datadir=os.path.join(mnt, "data"),
                           cfg={"snapCount": "20",
                                "autopurge.purgeInterval": "1",
                                "autopurge.snapRetainCount": "3"})
    srv.start()
    zk = ct.kazoo_client(srv)
    acked, failed = {}, set()
    res = fill(zk, "s", 100 << 10, acked, failed, limit=300)
    vdir = os.path.join(mnt, "data", "version-2")
    t.diag("snapshots: %d x 100 KiB acked, %d failed; %d snapshot "
           "failures, %d snapshots written, %d log files" %
           (res.count("ok"), res.count("syserr"),
            srv.log_count("failed (child status"),
            len(re.findall(r"storage: snapshot at zxid \S+ written",
                           srv.log_text())),
            len([f for f in os.listdir(vdir) if f.startswith("log.")])))
    t.diag("snapshots: %d KiB free; %s" % (free_kib(mnt), " ".join(
        "%s=%dK" % (f, os.path.getsize(os.path.join(vdir, f)) >> 10)
        for f in sorted(os.listdir(vdir)))))
    t.ok("syserr" in res and all(r in ("ok", "syserr") for r in res),
         "snapshots: writes fail with ZSYSTEMERROR once the disk is full")
    t.ok(srv.alive(), "snapshots: coordd still running")
    os.unlink(filler)
    t.ok(ct.wait_for(lambda: fill(zk, "sagain", 1000, acked, failed,
                                  limit=1) == ["ok"], 5, 0.05),
         "snapshots: after deleting the filler, writes work again")
    ct._stop_quietly(zk)
    srv.stop(signal.SIGKILL)
    srv.start()
    zk = ct.kazoo_client(srv)
    verify(zk, acked, failed, "snapshots: after SIGKILL and restart")
    ct._stop_quietly(zk)
    srv.stop()


@t.case
def smaller_than_prealloc():
    """A 4 MiB tmpfs: smaller than one preallocation step."""
    mnt, why = mount_tmpfs("4m")
    os.mkdir(os.path.join(mnt, "data"))
    srv = dl.DurableServer(datadir=os.path.join(mnt, "data"))
    srv.start_nowait()
    if ct.handshake_ok(srv.port):
        t.diag("4 MiB disk: a client got a session")
    else:
        t.diag("4 MiB disk: no client can get a session; coordd log says: "
               "%s" % [ln.split(" E ", 1)[-1] for ln in
                       srv.log_text().splitlines()
                       if "creating log file" in ln][:1])
    t.ok(srv.alive(), "4 MiB disk: coordd starts and stays up")
    srv.stop()


t.run()
