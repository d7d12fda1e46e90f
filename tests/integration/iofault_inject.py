#!/usr/bin/python3
"""iofault_inject: injected I/O errors in coordd's transaction log
(replica/faultinject.h, COORD_FAULT_FILE) prove that the server reports
errors to clients and never acknowledges what it could not persist.

For each fault (EIO / ENOSPC on write, fdatasync, fsync, with and without a
failing rollback, transient and lasting) the same cycle runs:

  faults off        -> writes succeed (acknowledged)
  fault on          -> writes get ZSYSTEMERROR (-1; kazoo
                       SystemZookeeperError), never an ack, and are not
                       visible; reads still work; the server stays up
  faults off        -> writes succeed again, without a restart
  restart           -> every acknowledged write is there with its data,
                       none of the failed ones is (SIGTERM or SIGKILL)

plus: a torn record left behind by a failed rollback and a SIGKILL (cut at
replay), a log roll whose new file cannot be synced, and concurrent pipelined
writers while a fault window opens and closes (every reply is an ack or
ZSYSTEMERROR; after a restart exactly the acked ones exist).
"""

import os
import signal
import sys
import tempfile
import threading
import time

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import coordtest as ct                                        # noqa: E402
import durability_lib as dl                                   # noqa: E402

ct.require_server()
if ct.server_kind() != "coordd":
    ct.skip_all("fault injection is a coordd feature")
try:
    from kazoo.exceptions import (SystemZookeeperError,      # noqa: E402
                                  ConnectionLoss)
except ImportError:
    ct.skip_all("python3-kazoo not installed")

t = ct.TAP()
tmp = tempfile.mkdtemp(prefix="iofault.")
ct._cleanups.append(lambda: __import__("shutil").rmtree(tmp, True))
FF = dl.FaultFile(os.path.join(tmp, "faults"))
# A big snapCount: no snapshot, so no log roll, so every batch goes through
# write + fdatasync of the current file (the roll has its own case below).
srv = dl.DurableServer(env={"COORD_FAULT_FILE": FF.path},
                       cfg={"snapCount": "1000000"})
srv.start()

acked = {}          # path -> data: acknowledged, must exist forever
failed = set()      # paths answered ZSYSTEMERROR: must never exist
other = []          # (path, exception) for any other outcome
seq = [0]


def new_path(tag):
    seq[0] += 1
    return "/%s-%d" % (tag, seq[0])


def write(zk, tag):
    """One create; returns 'ok', 'syserr' or the exception."""
    p = new_path(tag)
    data = dl.payload(p)
    try:
        zk.create(p, data)
    except SystemZookeeperError as e:
        failed.add(p)
        return "syserr" if e.code == -1 else e
    except Exception as e:                                    # noqa
        other.append((p, e))
        return e
    acked[p] = data
    return "ok"


def show(r):
    return r if isinstance(r, str) else type(r).__name__


def writes_work_again(zk, tag, timeout=5.0):
    """Poll with a deadline: does a write succeed again?"""
    return ct.wait_for(lambda: write(zk, tag) == "ok", timeout, 0.05)


def verify_after_restart(zk, what, fails):
    """All acked writes (of every case so far) exist with their data; none
    of `fails` (this case's ZSYSTEMERROR writes) exists."""
    got = dl.fetch_all(zk, sorted(set(acked) | fails))
    lost = [p for p in acked if got.get(p) is None or got[p][0] != acked[p]]
    t.ok(not lost, "%s: all %d acknowledged writes present with their data"
         % (what, len(acked)), "lost: %r" % sorted(lost)[:10])
    back = [p for p in fails if got.get(p) is not None]
    t.ok(not back, "%s: none of the %d writes answered ZSYSTEMERROR exists"
         % (what, len(fails)), "present although failed: %r" %
         sorted(back)[:10])


def restart(sig):
    srv.stop(sig)
    srv.start()
    return ct.kazoo_client(srv)


@t.case
def armed_warning():
    t.ok("FAULT INJECTION IS ARMED" in srv.log_text(),
         "coordd logs a loud warning when fault injection is armed")
    ok = [ln for ln in srv.log_text().splitlines() if "faultinject" in ln]
    t.ok(any(" W faultinject:" in ln for ln in ok),
         "the warning is a W (warning) level line")
    plain = dl.DurableServer()
    plain.start()
    zk = ct.kazoo_client(plain)
    zk.create("/plain", b"x")
    ct._stop_quietly(zk)
    plain.stop()
    t.ok("faultinject" not in plain.log_text(),
         "without COORD_FAULT_* nothing is armed (no faultinject line)")


def fault_cycle(name, rule, nwrites=4, expect_fail=None, sig=signal.SIGTERM,
                unknown_ok=False):
    """The cycle described at the top.  expect_fail: how many of the
    nwrites writes should fail (None: all).  unknown_ok: a failed write may
    also end in ConnectionLoss (outcome unknown: the server could not undo
    it and says so by dropping the connection, as a crashed server would)."""
    zk = ct.kazoo_client(srv)
    before = set(failed)
    res = [write(zk, "pre") for _ in range(3)]
    t.is_eq(res, ["ok"] * 3, "%s: faults off, writes succeed" % name)
    FF.set(rule)
    res = [write(zk, "f") for _ in range(nwrites)]
    want = nwrites if expect_fail is None else expect_fail
    bad = ("syserr", ConnectionLoss) if unknown_ok else ("syserr",)
    t.is_eq(sum(r == "syserr" or (unknown_ok and isinstance(r, bad[-1]))
                for r in res), want,
            "%s: %d of %d writes answered ZSYSTEMERROR%s (%s)" %
            (name, want, nwrites, " or ConnectionLoss" if unknown_ok else "",
             ", ".join(show(r) for r in res)))
    t.ok(all(r in ("ok", "syserr") or (unknown_ok and
                                       isinstance(r, ConnectionLoss))
             for r in res),
         "%s: no write got anything but an ack or ZSYSTEMERROR%s" %
         (name, " (or ConnectionLoss)" if unknown_ok else ""))
    invisible = [p for p in failed - before if zk.exists(p) is not None]
    t.ok(not invisible, "%s: failed writes are not visible" % name,
         "visible: %r" % invisible)
    some = sorted(acked)[0]
    t.ok(zk.get(some)[0] == acked[some] and zk.get_children("/"),
         "%s: reads still work while the fault is on" % name)
    t.ok(srv.alive(), "%s: coordd still running" % name)
    FF.clear()
    t.ok(writes_work_again(zk, "post"),
         "%s: faults off: writes succeed again without a restart" % name)
    ct._stop_quietly(zk)
    zk = restart(sig)
    verify_after_restart(zk, "%s: after %s restart" %
                         (name, "SIGKILL" if sig == signal.SIGKILL
                          else "SIGTERM"), failed - before)
    ct._stop_quietly(zk)


@t.case
def fdatasync_eio_once():
    # The batch's fdatasync fails; the rollback (ftruncate + fdatasync)
    # works, so only that one batch fails.
    fault_cycle("fdatasync EIO once", "fdatasync:EIO:count=1", expect_fail=1)


@t.case
def fdatasync_eio():
    # Lasting EIO: the rollback's own fdatasync fails too, so txnlog turns
    # BROKEN (txnlog.h); the server must still answer, and must come back
    # when the disk does.
    fault_cycle("fdatasync EIO", "fdatasync:EIO", sig=signal.SIGKILL)


@t.case
def write_enospc():
    fault_cycle("write ENOSPC", "write:ENOSPC")


@t.case
def write_enospc_torn():
    # Half of each record reaches the file before ENOSPC, as on a filling
    # disk; the rollback must cut it.
    fault_cycle("write ENOSPC torn", "write:ENOSPC:partial",
                sig=signal.SIGKILL)


@t.case
def write_eio_after():
    # Sequential creates are one batch each, with one write call (the
    # record; no preallocation this early), so after=2 lets two through.
    fault_cycle("write EIO after 2", "write:EIO:after=2", expect_fail=2)


@t.case
def rollback_fails():
    # fdatasync fails AND the rollback cannot cut the record (ftruncate
    # fails): the record may still be in the file, and a restart would
    # replay it.  A client told ZSYSTEMERROR must not find its write applied
    # after a restart; ConnectionLoss (outcome unknown) is an honest answer.
    fault_cycle("fdatasync+ftruncate EIO", "fdatasync:EIO;ftruncate:EIO",
                unknown_ok=True)


@t.case
def torn_tail_after_kill():
    """Half a record reaches the file, the rollback cannot cut it, and the
    server is killed: the restart must cut the torn record and must not
    apply it."""
    zk = ct.kazoo_client(srv)
    before = set(failed)
    t.is_eq(write(zk, "pre"), "ok", "torn tail: faults off, a write works")
    FF.set("write:EIO:partial;ftruncate:EIO")
    r = write(zk, "torn")
    t.ok(r == "syserr" or isinstance(r, ConnectionLoss),
         "torn tail: the torn write is not acknowledged (%s)" % show(r))
    ct._stop_quietly(zk)
    srv.stop(signal.SIGKILL)
    FF.clear()
    srv.start()
    t.ok("cutting the torn tail" in srv.log_text(since_start=True),
         "torn tail: replay found and cut the torn record")
    zk = ct.kazoo_client(srv)
    verify_after_restart(zk, "torn tail: after SIGKILL restart",
                         failed - before)
    t.is_eq(write(zk, "post"), "ok", "torn tail: writes work after restart")
    ct._stop_quietly(zk)


@t.case
def roll_fsync_eio():
    """A log roll (after a snapshot) whose new file fails its fsync once."""
    ff2 = dl.FaultFile(os.path.join(tmp, "faults2"))
    s2 = dl.DurableServer(env={"COORD_FAULT_FILE": ff2.path},
                          cfg={"snapCount": "20"})
    s2.start()
    zk = ct.kazoo_client(s2)
    mine_acked, mine_failed = {}, set()
    ff2.set("fsync:EIO:count=1")
    res = []
    for i in range(60):
        p = "/roll-%d" % i
        try:
            zk.create(p, dl.payload(p))
            mine_acked[p] = dl.payload(p)
            res.append("ok")
        except SystemZookeeperError:
            mine_failed.add(p)
            res.append("syserr")
    nroll = s2.log_count("creating log file for zxid")
    t.ok(nroll >= 1, "roll: the fsync of a new log file failed (%d times)"
         % nroll)
    t.is_eq(res.count("syserr"), 1, "roll: exactly the one write in that "
            "batch got ZSYSTEMERROR, the next batch made the file")
    ct._stop_quietly(zk)
    s2.stop(signal.SIGKILL)
    s2.start()
    zk = ct.kazoo_client(s2)
    got = dl.fetch_all(zk, sorted(set(mine_acked) | mine_failed))
    t.ok(all(got.get(p) and got[p][0] == d for p, d in mine_acked.items()),
         "roll: after SIGKILL + restart all %d acked writes are there" %
         len(mine_acked))
    t.ok(all(got.get(p) is None for p in mine_failed),
         "roll: the failed write is not")
    ct._stop_quietly(zk)
    s2.stop()


@t.case
def concurrent_window():
    """Pipelined writers on 4 sessions while a fault window opens and
    closes: each reply is an ack or ZSYSTEMERROR, and after a SIGKILL and a
    restart exactly the acked writes exist."""
    clients = [ct.kazoo_client(srv) for _ in range(4)]
    before = set(failed)
    stop = threading.Event()
    ops = []

    def run(w, zk):
        sem = threading.Semaphore(32)
        i = 0
        while not stop.is_set():
            if not sem.acquire(timeout=0.02):
                continue
            i += 1
            p = "/cw%d-%d" % (w, i)
            a = zk.create_async(p, dl.payload(p))
            a.rawlink(lambda _a: sem.release())
            ops.append((p, a))

    th = [threading.Thread(target=run, args=(w, c), daemon=True)
          for w, c in enumerate(clients)]
    for x in th:
        x.start()
    time.sleep(0.15)
    FF.set("write:EIO:partial")
    time.sleep(0.1)
    FF.set("fdatasync:EIO:count=2")
    time.sleep(0.1)
    FF.clear()
    time.sleep(0.15)
    stop.set()
    for x in th:
        x.join(10)
    ct.wait_for(lambda: all(a.ready() for _, a in ops), 15)
    n_ack = n_err = 0
    odd = []
    for p, a in ops:
        if not a.ready():
            odd.append((p, "no reply"))
        elif a.exception is None:
            acked[p] = dl.payload(p)
            n_ack += 1
        elif isinstance(a.exception, SystemZookeeperError):
            failed.add(p)
            n_err += 1
        else:
            odd.append((p, a.exception))
    t.diag("concurrent: %d writes, %d acked, %d ZSYSTEMERROR" %
           (len(ops), n_ack, n_err))
    t.ok(n_err > 0 and n_ack > 0, "concurrent: the fault window failed some "
         "writes (%d) and others were acked (%d)" % (n_err, n_ack))
    t.ok(not odd, "concurrent: every write got an ack or ZSYSTEMERROR",
         "others: %r" % odd[:5])
    for c in clients:
        ct._stop_quietly(c)
    zk = restart(signal.SIGKILL)
    verify_after_restart(zk, "concurrent: after SIGKILL restart",
                         failed - before)
    ct._stop_quietly(zk)


@t.case
def bad_rules():
    """A control file that does not parse is logged and ignored; a bad
    COORD_FAULT_INJECT stops coordd from starting."""
    FF.set("fdatasync:NOSUCHERRNO")
    zk = ct.kazoo_client(srv)
    t.is_eq(write(zk, "bad"), "ok", "unparsable control file: no faults")
    t.ok(wait_log("cannot parse fault rule"), "... and it is logged")
    FF.clear()
    ct._stop_quietly(zk)
    s3 = dl.DurableServer(env={"COORD_FAULT_INJECT": "fsync:EIO:after=x"})
    s3.start_nowait()
    t.ok(ct.wait_for(lambda: s3.exit_status() is not None, 10) and
         s3.exit_status() != 0,
         "bad COORD_FAULT_INJECT: coordd refuses to start (exit %r)" %
         s3.exit_status())
    s3.stop()


def wait_log(needle, timeout=5):
    return ct.wait_for(lambda: needle in srv.log_text(), timeout)


t.run()
