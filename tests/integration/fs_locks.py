#!/usr/bin/python3
"""coordfs: flock(1) and fcntl locks are cluster-wide.  Two mounts of one
coordd exclude each other (exclusive, shared, non-blocking, fair FIFO order),
a waiter can be interrupted and leaves no lock node behind, a holder killed
with -9 releases at once, fcntl (lockf) locks go at close, and a mount whose
session expired never re-creates a lock it lost (fs/locks.c)."""

import errno
import fcntl
import os
import queue
import signal
import struct
import subprocess
import sys
import tempfile
import threading
import time

import coordtest as ct
import fstest as ft

t = ct.TAP()
ft.require_fuse()
ct.require_server()
if not os.path.exists("/usr/bin/flock"):
    ct.skip_all("flock(1) (util-linux) not installed")
srv = ct.Server().start()
a = ft.Mount(srv.hosts)
b = ft.Mount(srv.hosts)
zk = ct.kazoo_client(srv)
A, B = a.path, b.path
tmp = tempfile.mkdtemp(prefix="fs_locks.")
ct._cleanups.append(lambda: subprocess.call(["rm", "-rf", tmp]))

os.mkdir(A("/locks"))
if not ct.wait_for(lambda: os.path.isdir(B("/locks")), 5):
    raise RuntimeError("/locks not seen on the second mount")


def lock_dir(path):
    """The lock directory of a file's znode (fs/locks.c)."""
    return "/.coordfs/locks/" + path.replace("%", "%25").replace("/", "%2F")


def nodes(path):
    """The lock nodes of a file, sorted by sequence number."""
    from kazoo.exceptions import NoNodeError
    try:
        kids = zk.get_children(lock_dir(path))
    except NoNodeError:
        return []
    return sorted(kids, key=lambda n: n[-10:])


def mark(name):
    return os.path.join(tmp, name)


class Proc:
    """A background shell command in its own process group; its output
    lines are collected by a thread so expect() can wait with a deadline."""

    def __init__(self, cmd, stdin=False):
        self.p = subprocess.Popen(["bash", "-c", cmd],
                                  stdin=subprocess.PIPE if stdin else subprocess.DEVNULL,
                                  stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                  start_new_session=True, text=True)
        self.lines = queue.Queue()
        self.out = []
        threading.Thread(target=self._read, daemon=True).start()
        ct._cleanups.append(self.kill)

    def _read(self):
        for line in self.p.stdout:
            self.lines.put(line.rstrip("\n"))

    def expect(self, want, timeout=5):
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                return False
            try:
                line = self.lines.get(timeout=left)
            except queue.Empty:
                return False
            self.out.append(line)
            if line == want:
                return True

    def send(self, line):
        self.p.stdin.write(line + "\n")
        self.p.stdin.flush()

    def release(self):
        """Closes the command's stdin: a holder running 'read' exits."""
        try:
            self.p.stdin.close()
        except OSError:
            pass

    def wait(self, timeout):
        try:
            return self.p.wait(timeout)
        except subprocess.TimeoutExpired:
            return None

    def kill(self):
        if self.p.poll() is None:
            try:
                os.killpg(self.p.pid, signal.SIGKILL)
            except OSError:
                pass
            self.p.wait()


def holder(path, opt="-x", name="holder"):
    """flock OPT on path running 'read': holds until release(); returns
    once the lock is held (the command has started)."""
    m = mark(name)
    if os.path.exists(m):
        os.unlink(m)
    p = Proc("exec flock %s %s sh -c 'touch %s; read x || true'" % (opt, path, m), stdin=True)
    if not ct.wait_for(lambda: os.path.exists(m), 10):
        raise RuntimeError("holder did not get %s" % path)
    return p


def gone(path, timeout=5):
    return ct.wait_for(lambda: nodes(path) == [], timeout)


@t.case
def exclusive():
    f = "/locks/excl"
    h = Proc("exec flock %s sh -c 'touch %s; sleep 1'" % (A(f), mark("excl")))
    t.ok(ct.wait_for(lambda: os.path.exists(mark("excl")), 10), "flock on mount A runs its command")
    n = nodes(f)
    t.ok(len(n) == 1 and n[0].startswith("w-"), "one exclusive lock node in /.coordfs/locks", n)
    t0 = time.monotonic()
    rc, out = ft.sh("flock %s true" % B(f))
    waited = time.monotonic() - t0
    t.is_eq(rc, 0, "flock on mount B succeeds")
    t.ok(h.wait(0.5) == 0, "... only after A's command finished")
    t.ok(waited >= 0.3, "B waited for A (%.2f s)" % waited)
    t.ok(gone(f), "no lock node left after both unlocked", nodes(f))


@t.case
def nonblocking():
    f = "/locks/nb"
    h = holder(A(f))
    t0 = time.monotonic()
    rc, out = ft.sh("flock -n %s true" % B(f))
    took = time.monotonic() - t0
    t.is_eq(rc, 1, "flock -n on mount B fails while A holds")
    t.ok(took < 1.0, "... at once (%.3f s)" % took)
    rc, out = ft.sh("flock -n %s true" % A(f))
    t.is_eq(rc, 1, "flock -n on the same mount (another open file) fails too")
    t.ok(ct.wait_for(lambda: len(nodes(f)) == 1, 5), "the failed tries left no node", nodes(f))
    h.release()
    t.is_eq(h.wait(5), 0, "holder exits")
    t.ok(ct.wait_for(lambda: ft.sh("flock -n %s true" % B(f))[0] == 0, 5),
         "flock -n on B succeeds once A released")
    t.ok(gone(f), "no lock node left", nodes(f))


@t.case
def shared():
    f = "/locks/shared"
    s1 = holder(A(f), "-s", "s1")
    s2 = holder(B(f), "-s", "s2")
    t.ok(s1.p.poll() is None and s2.p.poll() is None,
         "shared locks on A and B are held at the same time")
    n = nodes(f)
    t.ok(len(n) == 2 and all(x.startswith("r-") for x in n), "two shared lock nodes", n)
    rc, out = ft.sh("flock -n -s %s true" % A(f))
    t.is_eq(rc, 0, "a third shared lock is granted at once")
    ex = Proc("exec flock -x %s echo got" % B(f))
    t.ok(ct.wait_for(lambda: len(nodes(f)) == 3, 5), "an exclusive waiter queues", nodes(f))
    s1.release()
    t.is_eq(s1.wait(5), 0, "first reader done")
    t.ok(not ex.expect("got", 0.3), "exclusive still waits for the second reader")
    s2.release()
    t.ok(ex.expect("got", 5), "exclusive granted after both readers unlocked")
    t.ok(gone(f), "no lock node left", nodes(f))


@t.case
def fairness():
    f = "/locks/fair"
    log = mark("fair.log")
    h = holder(A(f))
    waiters = []
    order = [("w1", B), ("w2", A), ("w3", B), ("r4", A)]
    for i, (name, m) in enumerate(order):
        opt = "-s" if name.startswith("r") else "-x"
        waiters.append(Proc("exec flock %s %s sh -c 'echo %s >> %s'" % (opt, m(f), name, log)))
        # each waiter's node must exist before the next one starts
        if not ct.wait_for(lambda: len(nodes(f)) == i + 2, 5):
            break
    t.is_eq(len(nodes(f)), 5, "holder and four waiters queued")
    h.release()
    t.ok(all(w.wait(10) == 0 for w in waiters), "every waiter got the lock")
    with open(log) as fp:
        got = fp.read().split()
    t.is_eq(got, ["w1", "w2", "w3", "r4"], "waiters served in FIFO order across mounts")
    t.ok(gone(f), "no lock node left", nodes(f))


@t.case
def interrupt():
    f = "/locks/intr"
    h = holder(A(f))
    t0 = time.monotonic()
    rc, out = ft.sh("timeout 0.5 flock %s true" % B(f))
    took = time.monotonic() - t0
    t.is_eq(rc, 124, "a waiter killed by timeout(1) exits with its status")
    t.ok(took < 1.5, "... promptly (%.2f s)" % took)
    t.ok(ct.wait_for(lambda: len(nodes(f)) == 1, 5), "the interrupted waiter's node is gone",
         nodes(f))
    t0 = time.monotonic()
    rc, out = ft.sh("flock -w 0.3 %s true" % B(f))
    took = time.monotonic() - t0
    t.ok(rc == 1 and took < 1.5, "flock -w 0.3 gives up (rc %d, %.2f s)" % (rc, took), out)
    t.ok(ct.wait_for(lambda: len(nodes(f)) == 1, 5), "... and leaves no node", nodes(f))
    h.release()
    t.is_eq(h.wait(5), 0, "holder exits")
    t.ok(gone(f), "no lock node left", nodes(f))
    rc, out = ft.sh("flock -n %s true" % B(f))
    t.is_eq(rc, 0, "the lock is free for B")


@t.case
def holder_kill9():
    f = "/locks/kill9"
    h = Proc("exec flock -x %s sleep 30" % A(f))
    t.ok(ct.wait_for(lambda: len(nodes(f)) == 1, 10), "holder on A has the lock")
    rc, out = ft.sh("flock -n %s true" % B(f))
    t.is_eq(rc, 1, "B cannot have it")
    t0 = time.monotonic()
    os.killpg(h.p.pid, signal.SIGKILL)
    tries = 0
    while True:
        tries += 1
        if subprocess.call(["flock", "-n", B(f), "true"]) == 0:
            latency = time.monotonic() - t0
            break
        if time.monotonic() - t0 > 10:
            latency = None
            break
    h.wait(5)
    t.diag("release after kill -9: %s (%d flock -n tries)" %
           ("%.3f s" % latency if latency is not None else "none in 10 s", tries))
    t.ok(latency is not None and latency < 1.0, "flock -n on B succeeds within 1 s of kill -9")
    t.ok(gone(f), "no lock node left", nodes(f))
    # the same with a parked waiter on B: woken by the NodeDeleted event
    h = Proc("exec flock -x %s sleep 30" % A(f))
    t.ok(ct.wait_for(lambda: len(nodes(f)) == 1, 10), "a new holder on A")
    w = Proc("exec flock -x %s echo got" % B(f))
    t.ok(ct.wait_for(lambda: len(nodes(f)) == 2, 5), "a blocking waiter on B queues")
    t0 = time.monotonic()
    os.killpg(h.p.pid, signal.SIGKILL)
    woke = w.expect("got", 10)
    latency = time.monotonic() - t0
    h.wait(5)
    t.diag("parked waiter granted %.3f s after kill -9 of the holder" % latency)
    t.ok(woke and latency < 1.0, "the parked waiter on B gets the lock within 1 s")
    t.ok(gone(f), "no lock node left", nodes(f))


FLOCK_FMT = "hhxxxxqqixxxx"   # struct flock on x86-64 / aarch64 Linux

HOLD_FCNTL = r'''
import fcntl, os, sys
fd = os.open(sys.argv[1], os.O_RDWR | os.O_CREAT)
fcntl.lockf(fd, fcntl.LOCK_EX)
print("locked", flush=True)
sys.stdin.readline()
os.close(fd)
print("closed", flush=True)
sys.stdin.readline()
'''

WAIT_FCNTL = r'''
import fcntl, os, sys
fd = os.open(sys.argv[1], os.O_RDWR | os.O_CREAT)
print("waiting", flush=True)
fcntl.lockf(fd, fcntl.LOCK_EX)
print("got", flush=True)
sys.stdin.readline()
'''


def try_lockf(fd):
    try:
        fcntl.lockf(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        return True
    except OSError as e:
        if e.errno not in (errno.EAGAIN, errno.EACCES):
            raise
        return False


@t.case
def fcntl_locks():
    f = "/locks/fcntl"
    pa = Proc("exec %s -c '%s' %s" % (sys.executable, HOLD_FCNTL.replace("'", "'\\''"), A(f)),
              stdin=True)
    t.ok(pa.expect("locked"), "lockf on mount A", pa.out)
    fd = os.open(B(f), os.O_RDWR | os.O_CREAT)
    try:
        t.ok(not try_lockf(fd), "lockf(LOCK_NB) on mount B fails while A holds")
        got = fcntl.fcntl(fd, fcntl.F_GETLK, struct.pack(FLOCK_FMT, fcntl.F_WRLCK, 0, 0, 0, 0))
        l_type, _, l_start, l_len, l_pid = struct.unpack(FLOCK_FMT, got)
        t.is_eq((l_type, l_start, l_len), (fcntl.F_WRLCK, 0, 0),
                "F_GETLK on B reports A's write lock on the whole file")
        pa.send("close")
        t.ok(pa.expect("closed"), "A closes its descriptor (the process lives on)")
        t.ok(ct.wait_for(lambda: try_lockf(fd), 5), "B's lockf succeeds once A closed")
        got = fcntl.fcntl(fd, fcntl.F_GETLK, struct.pack(FLOCK_FMT, fcntl.F_WRLCK, 0, 0, 0, 0))
        t.is_eq(struct.unpack(FLOCK_FMT, got)[0], fcntl.F_UNLCK,
                "F_GETLK by the holder itself: no conflict")
        pw = Proc("exec %s -c '%s' %s" % (sys.executable, WAIT_FCNTL.replace("'", "'\\''"),
                                           A(f)), stdin=True)
        t.ok(pw.expect("waiting"), "a blocking lockf on A starts")
        t.ok(ct.wait_for(lambda: len(nodes(f)) == 2, 5), "... and queues", nodes(f))
        t.ok(not pw.expect("got", 0.3), "... and waits while B holds")
    finally:
        os.close(fd)
    t.ok(pw.expect("got", 5), "B's close released the lock to A's waiter")
    pw.release()
    pa.release()
    t.ok(pw.wait(5) == 0 and pa.wait(5) == 0, "fcntl lockers exit")
    t.ok(gone(f), "no lock node left", nodes(f))


@t.case
def same_owner():
    f = "/locks/owner"
    fd = os.open(A(f), os.O_RDWR | os.O_CREAT)
    try:
        fcntl.flock(fd, fcntl.LOCK_SH)
        n1 = nodes(f)
        t.ok(len(n1) == 1 and n1[0].startswith("r-"), "LOCK_SH: one shared node", n1)
        data, st = zk.get(lock_dir(f) + "/" + n1[0])
        t.ok(b"kind=flock" in data and st.ephemeralOwner != 0,
             "the node is ephemeral and says what it is", (data, st.ephemeralOwner))
        fcntl.flock(fd, fcntl.LOCK_SH)
        t.is_eq(nodes(f), n1, "LOCK_SH again: the same node, no new one")
        fcntl.flock(fd, fcntl.LOCK_EX)
        n2 = nodes(f)
        t.ok(len(n2) == 1 and n2[0].startswith("w-"), "LOCK_EX converts: one exclusive node", n2)
        rc, out = ft.sh("flock -n -s %s true" % B(f))
        t.is_eq(rc, 1, "B cannot share it now")
        fcntl.flock(fd, fcntl.LOCK_UN)
        t.ok(gone(f), "LOCK_UN deletes the node", nodes(f))
        rc, out = ft.sh("flock -n %s true" % B(f))
        t.is_eq(rc, 0, "B can lock it after LOCK_UN")
    finally:
        os.close(fd)


@t.case
def server_restart():
    """Locks and waiters survive a restart of the server (the sessions do);
    an unlock made while the server is down is applied on reconnect and
    the waiter, re-checked after the reconnect, gets the lock."""
    f = "/locks/restart"
    h = holder(A(f))
    w = Proc("exec flock -x %s echo got" % B(f))
    t.ok(ct.wait_for(lambda: len(nodes(f)) == 2, 5), "a holder on A, a waiter on B")
    srv.stop()
    h.release()
    t.is_eq(h.wait(5), 0, "the holder exits while the server is down")
    t.ok(not w.expect("got", 0.3), "the waiter still waits")
    srv.start()
    t.ok(w.expect("got", 15), "after the restart the waiter gets the lock", w.out)
    t.ok(gone(f, 15), "no lock node left", nodes(f))


@t.case
def session_expiry():
    """A mount whose session expires loses its locks; its parked waiter
    fails, and it never re-creates a lock node for the new session."""
    c = ft.Mount(srv.hosts, "session_timeout=1000")
    C = c.path
    t.ok(ct.wait_for(lambda: os.path.isdir(C("/locks")), 5), "third mount (1 s session)")
    f, g = "/locks/exp1", "/locks/exp2"
    hc = holder(C(f), name="hc")
    hb = holder(B(g), name="hb")
    wb = Proc("exec flock %s echo got" % B(f))          # waits for C's lock
    wc = Proc("exec flock %s echo got" % C(g))          # C waits for B's lock
    t.ok(ct.wait_for(lambda: len(nodes(f)) == 2 and len(nodes(g)) == 2, 5),
         "C holds one lock and waits for another", (nodes(f), nodes(g)))
    os.kill(c.proc.pid, signal.SIGSTOP)
    try:
        t.ok(wb.expect("got", 10), "C's session expired: the server dropped its lock, B got it")
        t.ok(ct.wait_for(lambda: len(nodes(g)) == 1, 5), "... and C's waiting node on the other")
    finally:
        os.kill(c.proc.pid, signal.SIGCONT)
    t.ok(wc.wait(10) not in (None, 0), "C's parked waiter fails after the expiry", wc.out)
    t.ok(ct.wait_for(lambda: "LOCK LOST" in open(c.dir + ".log").read(), 5),
         "the mount logs the lost lock")
    time.sleep(1)  # a lock re-created for a new session would show up by now
    t.ok(nodes(f) == [] and len(nodes(g)) == 1, "no lock node was re-created",
         (nodes(f), nodes(g)))
    hc.release()
    hb.release()
    t.ok(hc.wait(5) == 0 and hb.wait(5) == 0, "holders exit")
    t.ok(gone(g), "no lock node left", nodes(g))
    rc, out = ft.sh("flock -n %s true" % A(f))
    t.is_eq(rc, 0, "the lock is free for the live mounts")
    t.ok(ct.wait_for(lambda: ft.sh("flock -n %s true" % C(f))[0] == 0, 10),
         "C, on its new session, can take a lock when asked again")


t.run()
