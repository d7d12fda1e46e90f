#!/usr/bin/python3
"""coordfs: the page-cache read path (fs/inode.c, "the kernel view") under
attack.  Read-only opens of small files read through the kernel's page cache
(keep_cache, noflush); these cases check what programs observe: every read
is one whole version, never padded, cut or mixed; new opens see a change
promptly and stat agrees with them; inotify; fcntl locks through read-only
descriptors (which send no FLUSH); mmap; cp/tar/sha256sum of a directory
that a ZooKeeper client rewrites; changes that keep the size."""

import errno
import fcntl
import hashlib
import mmap
import os
import random
import subprocess
import sys
import tarfile
import tempfile
import threading
import time

import coordtest as ct
import fstest as ft

t = ct.TAP()
ft.require_fuse()
ct.require_server()
srv = ct.Server().start()
a = ft.Mount(srv.hosts)   # the readers' mount
b = ft.Mount(srv.hosts)   # another mount that writes
zk = ct.kazoo_client(srv)
A, B = a.path, b.path
tmp = tempfile.mkdtemp(prefix="fs_cache.")
ct._cleanups.append(lambda: subprocess.call(["rm", "-rf", tmp]))

SUPPORT = ft.VERSIONS
ver, check = ft.ver, ft.check


def read(p):
    with open(p, "rb") as f:
        return f.read()


def show(data):
    return "%d bytes %r...%r" % (len(data), data[:28], data[-12:])


# A helper process driven line by line: each line on stdin is the repr of
# Python code run in one namespace (fds, os, fcntl, ...); it answers
# "ok <repr(_)>" or "err <errno name>".  Lets a test hold descriptors in a
# process of its own.
AGENT = SUPPORT + r'''
import ast, errno, fcntl, mmap, os, sys
ns = {"os": os, "fcntl": fcntl, "mmap": mmap, "check": check, "fds": {}, "_": None}
for line in sys.stdin:
    ns["_"] = None
    try:
        exec(ast.literal_eval(line), ns)
        print("ok %r" % (ns["_"],), flush=True)
    except OSError as e:
        print("err %s" % errno.errorcode.get(e.errno, e.errno), flush=True)
    except Exception as e:
        print("exc %r" % (e,), flush=True)
'''


class Agent:
    def __init__(self):
        self.p = subprocess.Popen([sys.executable, "-c", AGENT], stdin=subprocess.PIPE,
                                  stdout=subprocess.PIPE, text=True, bufsize=1)
        ct._cleanups.append(self.kill)

    def __call__(self, code):
        self.p.stdin.write(repr(code) + "\n")
        self.p.stdin.flush()
        line = self.p.stdout.readline().strip()
        return line

    def kill(self):
        if self.p.poll() is None:
            self.p.kill()
            self.p.wait()


def try_wrlock(path):
    """A non-blocking exclusive fcntl lock from this process on another
    mount: True if granted (then dropped again)."""
    fd = os.open(path, os.O_RDWR)
    try:
        fcntl.lockf(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        fcntl.lockf(fd, fcntl.LOCK_UN)
        return True
    except OSError as e:
        if e.errno not in (errno.EAGAIN, errno.EACCES):
            raise
        return False
    finally:
        os.close(fd)


def lock_free_within(path, secs):
    """Seconds until try_wrlock succeeds, or None."""
    t0 = time.monotonic()
    if ct.wait_for(lambda: try_wrlock(path), secs, interval=0.05):
        return time.monotonic() - t0
    return None


class Inw(ft.Inotify):
    """inotifywait -m on one file or directory (not recursive): its lines
    "EVENTS NAME" (NAME empty for a watch on a file)."""

    def __init__(self, target):
        super().__init__(["--format", "%e %f", target])

    def count(self, event, name=""):
        return len([ln for ln in self.poll()
                    if event in ln.split(" ", 1)[0].split(",") and
                    ln.split(" ", 1)[1] == name])


@t.case
def long_lived_reader():
    """A descriptor held open read-only and re-read with pread(0) while the
    file changes size underneath (another mount and a ZooKeeper client):
    each pread is one whole version; new opens on the same mount see each
    change within 2 s and stat agrees with what they read; after the holder
    closes, everything converges."""
    p = "/ll"
    zk.create(p, ver("ll", 0, 100))
    t.ok(ct.wait_for(lambda: read(A(p)) == ver("ll", 0, 100), 5), "the first version arrives")
    fd = os.open(A(p), os.O_RDONLY)
    # a second holder: a shell with the file on fd 3
    holder = subprocess.Popen(["bash", "-c", "exec 3<%s; read -r line <&3; sleep 30" % A(p)])
    ct._cleanups.append(holder.kill)
    stop = threading.Event()
    held = {"n": 0, "bad": [], "versions": set(), "fstat_bad": []}

    def pread_loop():
        k = 0
        while not stop.is_set():
            k += 1
            if k % 4:
                data = os.pread(fd, 1 << 20, 0)
            else:
                # a slow stream: 1000-byte reads from 0 to EOF, pausing
                # between them, so changes come in the middle
                parts, off = [], 0
                while True:
                    chunk = os.pread(fd, 1000, off)
                    if not chunk:
                        break
                    parts.append(chunk)
                    off += len(chunk)
                    time.sleep(0.003)
                data = b"".join(parts)
            size = os.fstat(fd).st_size
            held["n"] += 1
            v = check(data)
            if not v:
                held["bad"].append(show(data))
            else:
                held["versions"].add(v[1])
                if size != len(data):
                    held["fstat_bad"].append((v[1], len(data), size))
            time.sleep(0.001)

    th = threading.Thread(target=pread_loop)
    th.start()
    # and readers that open anew each time, on the same mount
    readers = ft.start_readers(A(p), 1.5, ["stat", "small"])
    sizes = [5000, 13000, 200, 8192, 4097, 100, 12288, 300, 9000]
    late, stat_bad = [], []
    for i, size in enumerate(sizes, 1):
        data = ver("ll", i, size)
        if i % 3 == 1:
            zk.set(p, data)
        elif i % 3 == 2:
            with open(B(p), "wb") as f:
                f.write(data)
        else:
            # a writer on the holders' own mount (inode.c, K3)
            with open(A(p), "wb") as f:
                f.write(data)
            if read(A(p)) != data:
                late.append((i, "read-your-writes", show(read(A(p)))))
        if not ct.wait_for(lambda: read(A(p)) == data, 2, interval=0.01):
            late.append((i, show(read(A(p)))))
            ct.wait_for(lambda: read(A(p)) == data, 5)
        got, st = read(A(p)), os.stat(A(p)).st_size
        if st != len(got):
            stat_bad.append((i, st, len(got)))
        time.sleep(0.05)
    stop.set()
    th.join()
    total, bad, seen, problems = ft.reap_readers(readers)
    t.is_eq(held["bad"][:3], [], "every pread(0) of the held descriptor is one whole version "
            "(%d preads)" % held["n"])
    t.is_eq(bad, 0, "every new open meanwhile reads one whole version, st_size bytes (%d reads, "
            "versions seen %s)" % (total, seen))
    if problems:
        t.diag("\n".join(problems[:10]))
    t.diag("versions the held descriptor saw: %s" % sorted(held["versions"]))
    t.is_eq(held["versions"], {0}, "the held descriptor keeps the version it opened "
            "(documented, inode.c K2: one version per open)")
    t.is_eq(held["fstat_bad"][:3], [], "fstat of the held descriptor agrees with its pread")
    t.is_eq(late, [], "new opens on the same mount see each change within 2 s "
            "(at once after a write on that mount)")
    t.is_eq(stat_bad, [], "stat's size is what a new open reads, after each change")
    os.close(fd)
    holder.kill()
    holder.wait()
    last = ver("ll", len(sizes), sizes[-1])
    t.ok(ct.wait_for(lambda: read(A(p)) == read(B(p)) == zk.get(p)[0] == last, 5),
         "after the holders close: both mounts and the server agree on the last version")
    t.is_eq(os.stat(A(p)).st_size, len(last), "and stat says its size")
    # a fresh descriptor reads the current version
    fd = os.open(A(p), os.O_RDONLY)
    t.is_eq(os.pread(fd, 1 << 20, 0), last, "a new descriptor reads the current version")
    os.close(fd)


@t.case
def inotify_on_file_and_dir():
    """inotifywait -m on a file and on its directory while a ZooKeeper
    client changes the file: with no reader, while a reader holds it open
    (the path may be retired to a fresh nodeid), and after."""
    zk.create("/ev/f", ver("ev", 0, 300), makepath=True)
    t.ok(ct.wait_for(lambda: read(A("/ev/f")) == ver("ev", 0, 300), 5), "the file arrives")
    wd = Inw(A("/ev"))
    wf = Inw(A("/ev/f"))
    n = [0]

    def change(size=300):
        """one remote change; True once the dir watch heard its IN_MODIFY"""
        before = wd.count("MODIFY", "f")
        n[0] += 1
        zk.set("/ev/f", ver("ev", n[0], size))
        heard = ct.wait_for(lambda: wd.count("MODIFY", "f") > before, 5)
        time.sleep(0.3)  # the file watch's events, if any, come with it
        return bool(heard)

    def phase(k):
        f0 = wf.count("MODIFY")
        heard = [change(300 + 100 * i) for i in range(k)]
        return heard, wf.count("MODIFY") - f0

    heard, fmods = phase(3)
    t.is_eq(heard, [True] * 3, "no reader: the directory watch hears IN_MODIFY per change")
    t.is_eq(fmods, 3, "no reader: the file watch hears IN_MODIFY per change")
    # a reader holds the file open (page cache) across the changes
    fd = os.open(A("/ev/f"), os.O_RDONLY)
    os.read(fd, 65536)
    heard, fmods_held = phase(3)
    t.is_eq(heard, [True] * 3, "reader holding it: the directory watch hears IN_MODIFY per change")
    t.ok(ct.wait_for(lambda: check(read(A("/ev/f"))) == ("ev", n[0]), 2),
         "... and new opens read the last change")
    os.close(fd)
    heard, fmods_after = phase(2)
    t.is_eq(heard, [True] * 2, "after the reader closed: the directory watch still hears each change")
    t.diag("file watch, IN_MODIFY per phase: no reader %d/3, reader holding %d/3, after %d/2" %
           (fmods, fmods_held, fmods_after))
    t.diag("file watch, all events: %s" % wf.poll())
    # a reader holding the file keeps its version on a retired nodeid (K2),
    # which the mount holds and replays changes through (notify.c, struct
    # hold), and the path takes it back once the reader closed (K5)
    t.is_eq(fmods_held, 3, "reader holding it: the file watch hears IN_MODIFY per change")
    t.is_eq(fmods_after, 2, "after the reader closed: the file watch still hears each change")
    t.is_eq([ln for ln in wf.poll() if "IGNORED" in ln or "DELETE_SELF" in ln], [],
            "the file watch never loses its inode (no DELETE_SELF/IGNORED)")
    d_mods = wd.count("MODIFY", "f")
    t.is_eq(d_mods, 8, "the directory watch heard each of the 8 changes once")
    # a watch set up afresh on the path hears changes again
    wf2 = Inw(A("/ev/f"))
    heard, _ = phase(1)
    t.ok(ct.wait_for(lambda: wf2.count("MODIFY") >= 1, 3),
         "a watch set up anew on the path hears the next change")
    # a writer on the watches' own mount while a reader there holds the file:
    # the writer's open is sent to a fresh nodeid too (K3)
    fd = os.open(A("/ev/f"), os.O_RDONLY)
    os.read(fd, 65536)
    d0, f0 = wd.count("MODIFY", "f"), wf2.count("MODIFY")
    for i in range(3):
        n[0] += 1
        with open(A("/ev/f"), "wb") as f:
            f.write(ver("ev", n[0], 500))
    t.ok(ct.wait_for(lambda: wd.count("MODIFY", "f") >= d0 + 3, 3),
         "local writes with a reader holding the file: the directory watch hears them")
    time.sleep(0.3)
    fl = wf2.count("MODIFY") - f0
    t.diag("... the file watch heard %d of 3 local writes" % fl)
    t.ok(fl < 3, "... the file watch misses those sent to a fresh nodeid (documented: K3)")
    os.close(fd)
    wf2.stop()
    wf.stop()
    wd.stop()


@t.case
def local_writer_local_readers():
    """On one mount: a shell rewrites the file (cat vN > f, sizes 100 B,
    5000 B, 13000 B across page boundaries) and checks read-your-writes
    with cmp (a new open by the same process after close returned), while
    reader processes on the same mount read it continuously."""
    p = A("/lw")
    sizes = [100, 5000, 13000, 4096, 8193]
    count = 150
    vdir = os.path.join(tmp, "lw")
    os.mkdir(vdir)
    for i in range(1, count + 1):
        with open(os.path.join(vdir, "v%d" % i), "wb") as f:
            f.write(ver("lw", i, sizes[i % len(sizes)]))
    with open(p, "wb") as f:
        f.write(ver("lw", 0, 100))
    stopfile = os.path.join(tmp, "lw.stop")
    readers = ft.start_readers(p, 30, ["whole", "small", "stat"], stopfile)
    time.sleep(0.2)  # the readers are reading
    rc, out = ft.sh("for i in $(seq %d); do cat %s/v$i > %s || echo WRITEFAIL $i; "
                    "cmp -s %s/v$i %s || echo MISMATCH $i; "
                    "[ $(stat -c %%s %s) = $(stat -c %%s %s/v$i) ] || echo SIZE $i; done"
                    % (count, vdir, p, vdir, p, p, vdir), timeout=60)
    open(stopfile, "w").close()
    total, bad, seen, problems = ft.reap_readers(readers)
    t.ok(rc == 0 and "MISMATCH" not in out and "WRITEFAIL" not in out,
         "read-your-writes: cmp right after each cat > f (%d versions, 100..13000 B)" % count,
         out[:400])
    t.ok("SIZE" not in out, "stat's size right after each write is the new size", out[:400])
    t.is_eq(bad, 0, "readers on the same mount never saw empty, torn or padded content "
            "(%d reads)" % total)
    if problems:
        t.diag("\n".join(problems[:10]))
    t.diag("versions seen per reader: %s" % seen)
    t.ok(ct.wait_for(lambda: zk.get("/lw")[0] == read(B("/lw")) == ver("lw", count,
                                                                        sizes[count % len(sizes)]), 5),
         "the other mount and the server end at the last version")


@t.case
def fcntl_locks_read_only():
    """fcntl read locks taken through O_RDONLY descriptors.  Read-only
    opens skip FLUSH (noflush) until an fcntl lock was asked for on the
    file on this mount (fs/ops_file.c, set_open_flags): then they keep it,
    and POSIX's rules hold; a lock taken through a descriptor opened before
    that goes when its open file description does (documented)."""
    ag = Agent()
    # 0. the documented corner: the file's first lock, through a descriptor
    # opened before it (without FLUSH), by a forked child that then exits
    p0 = "/lk0"
    zk.create(p0, ver("lk0", 0, 100))
    t.ok(ct.wait_for(lambda: os.path.exists(A(p0)) and os.path.exists(B(p0)), 5),
         "a file never locked")
    ag("fds[0] = os.open(%r, os.O_RDONLY)" % A(p0))
    r = ag("pid = os.fork()\n"
           "if pid == 0: fcntl.lockf(fds[0], fcntl.LOCK_SH); os._exit(0)\n"
           "_ = os.waitpid(pid, 0)[1]")
    t.is_eq(r, "ok 0", "a child locks through a descriptor opened before any lock, and exits")
    t.ok(not try_wrlock(B(p0)), "the lock stays with the open file description (documented corner)")
    ag("os.close(fds.pop(0))")
    t.ok(lock_free_within(B(p0), 2) is not None, "... and goes when the parent closes it")
    p = "/lk"
    zk.create(p, ver("lk", 0, 100))
    t.ok(ct.wait_for(lambda: os.path.exists(A(p)) and os.path.exists(B(p)), 5), "the file arrives")
    # 1. open O_RDONLY, F_RDLCK, close: the lock goes with the close
    t.is_eq(ag("fds[1] = os.open(%r, os.O_RDONLY)" % A(p)), "ok None", "open O_RDONLY")
    t.is_eq(ag("fcntl.lockf(fds[1], fcntl.LOCK_SH)"), "ok None", "F_RDLCK through it")
    t.ok(not try_wrlock(B(p)), "an exclusive lock on the other mount is refused while held")
    t.is_eq(ag("os.close(fds.pop(1))"), "ok None", "close (the process lives on)")
    lat = lock_free_within(B(p), 2)
    t.ok(lat is not None, "the other mount's exclusive lock is granted within ~1 s of the close")
    t.diag("granted after %s s" % (None if lat is None else "%.2f" % lat))
    # 2. the POSIX corner: two read-only descriptors, lock through fd1, close fd2
    ag("fds[1] = os.open(%r, os.O_RDONLY)" % A(p))
    ag("fds[2] = os.open(%r, os.O_RDONLY)" % A(p))
    t.is_eq(ag("fcntl.lockf(fds[1], fcntl.LOCK_SH)"), "ok None", "F_RDLCK through fd1")
    ag("os.close(fds.pop(2))")
    lat2 = lock_free_within(B(p), 1.5)
    t.diag("close(fd2) of two read-only descriptors: the lock %s" %
           ("went (POSIX)" if lat2 is not None else "stays until fd1 closes"))
    t.ok(lat2 is not None, "closing another descriptor of the file drops the process's lock (POSIX)")
    ag("os.close(fds.pop(1))")
    t.ok(lock_free_within(B(p), 2) is not None, "free once both are closed")
    # 3. a child takes the lock through an inherited read-only descriptor and
    # exits; the parent keeps its descriptor
    ag("fds[1] = os.open(%r, os.O_RDONLY)" % A(p))
    r = ag("pid = os.fork()\n"
           "if pid == 0: fcntl.lockf(fds[1], fcntl.LOCK_SH); os._exit(0)\n"
           "_ = os.waitpid(pid, 0)[1]")
    t.is_eq(r, "ok 0", "a child locks through the inherited descriptor and exits")
    lat3 = lock_free_within(B(p), 2)
    t.ok(lat3 is not None, "the exited child's lock is gone (the parent still holds the descriptor)")
    ag("os.close(fds.pop(1))")
    t.ok(lock_free_within(B(p), 2) is not None, "free once the parent closed too")
    # 4. across a retirement: the path gets a fresh nodeid while the process
    # holds its descriptor; a second descriptor opened then is the same file
    # to POSIX: unlocking, converting or closing through it acts on the lock
    ag("fds[1] = os.open(%r, os.O_RDONLY); os.read(fds[1], 100)" % A(p))
    t.is_eq(ag("fcntl.lockf(fds[1], fcntl.LOCK_SH)"), "ok None", "F_RDLCK through fd1")
    def change_while_held(n, what):
        zk.set(p, ver("lk", n, 100 + 100 * n))
        t.ok(ct.wait_for(lambda: check(read(A(p))) == ("lk", n), 3), what)
        time.sleep(0.3)  # past the drain: the path is retired

    change_while_held(1, "a remote change while held")
    ag("fds[2] = os.open(%r, os.O_RDWR)" % A(p))
    r = ag("fcntl.lockf(fds[2], fcntl.LOCK_EX | fcntl.LOCK_NB)")
    t.is_eq(r, "ok None", "the process upgrades its read lock through a new descriptor (F_SETLK F_WRLCK)")
    t.ok(not try_wrlock(B(p)), "... and holds it against the other mount")
    t.is_eq(ag("fcntl.lockf(fds[2], fcntl.LOCK_UN)"), "ok None", "unlock through the new descriptor")
    t.ok(lock_free_within(B(p), 2) is not None, "... frees the file")
    ag("fcntl.lockf(fds[1], fcntl.LOCK_SH)")
    change_while_held(2, "another remote change while held")
    ag("fds[3] = os.open(%r, os.O_RDONLY)" % A(p))
    t.is_eq(ag("fcntl.lockf(fds[3], fcntl.LOCK_UN)"), "ok None",
            "F_UNLCK through a read-only descriptor opened after the change")
    t.ok(lock_free_within(B(p), 2) is not None, "... frees the file")
    ag("fcntl.lockf(fds[1], fcntl.LOCK_SH)")
    change_while_held(3, "a third remote change while held")
    ag("fds[4] = os.open(%r, os.O_RDONLY)" % A(p))
    t.is_eq(ag("os.close(fds.pop(4))"), "ok None", "close of a descriptor opened after the change")
    t.ok(lock_free_within(B(p), 2) is not None, "... drops the lock taken through the older one (POSIX)")
    for k in (1, 2, 3):
        ag("os.close(fds.pop(%d))" % k)
    ag.kill()


# mmap MAP_SHARED|PROT_READ in a process of its own (a SIGBUS kills only
# it): keeps one mapping and re-reads it, and maps afresh every round; prints
# per round "HELD ok|bad" and "FRESH <tag:n>|bad|<errno>".
MAPPER = SUPPORT + r'''
import errno, mmap, os, sys, time
path, secs = sys.argv[1], float(sys.argv[2])
fd = os.open(path, os.O_RDONLY)
held = mmap.mmap(fd, 0, mmap.MAP_SHARED, mmap.PROT_READ)
end = time.monotonic() + secs
while time.monotonic() < end:
    print("HELD %s" % ("ok" if check(held[:]) else "bad %r" % held[:40]), flush=True)
    try:
        f2 = os.open(path, os.O_RDONLY)
        try:
            m = mmap.mmap(f2, 0, mmap.MAP_SHARED, mmap.PROT_READ)
            v = check(m[:])
            print("FRESH %s" % ("%s:%d" % v if v else "bad %r" % m[:40]), flush=True)
            m.close()
        finally:
            os.close(f2)
    except OSError as e:
        print("FRESH err %s" % errno.errorcode.get(e.errno, e.errno), flush=True)
    time.sleep(0.01)
held.close()
os.close(fd)
print("END", flush=True)
'''


@t.case
def mmap_shared():
    """mmap(MAP_SHARED, PROT_READ) while the file changes remotely: no
    crash, no SIGBUS; a fresh mapping shows the new version."""
    p = "/mm"
    zk.create(p, ver("mm", 0, 9000))
    t.ok(ct.wait_for(lambda: read(A(p)) == ver("mm", 0, 9000), 5), "the file arrives")
    m = subprocess.Popen([sys.executable, "-c", MAPPER, A(p), "2.5"], stdout=subprocess.PIPE,
                         stderr=subprocess.STDOUT, text=True)
    ct._cleanups.append(m.kill)
    sizes = [100, 13000, 4096, 9000, 50, 6000]
    for i, size in enumerate(sizes, 1):
        time.sleep(0.25)
        zk.set(p, ver("mm", i, size))
    last = "mm:%d" % len(sizes)
    out, _ = m.communicate(timeout=60)
    lines = out.splitlines()
    t.is_eq(m.returncode, 0, "the mapping process ends normally (no SIGBUS, no crash)")
    t.ok("END" in lines, "... and finishes its loop", out[-300:])
    held_bad = [ln for ln in lines if ln.startswith("HELD") and ln != "HELD ok"]
    t.is_eq(held_bad[:3], [], "the held mapping always shows one whole version")
    fresh = [ln[6:] for ln in lines if ln.startswith("FRESH")]
    errs = sorted(set(f for f in fresh if f.startswith("err")))
    badf = [f for f in fresh if f.startswith("bad")]
    t.is_eq(badf[:3], [], "every fresh mapping shows one whole version")
    t.diag("fresh mappings: %d, versions %s, errors %s" %
           (len(fresh), sorted(set(f for f in fresh if f.startswith("mm:")),
                               key=lambda s: int(s[3:])), errs))
    t.is_eq(errs, [], "mapping afresh never fails (e.g. ENODEV for a direct_io handle)")
    t.ok(fresh and fresh[-1] == last, "the last fresh mapping shows the last version",
         fresh[-3:])
    # once quiet: a fresh mapping shows the current version
    r = subprocess.run([sys.executable, "-c", MAPPER, A(p), "0.05"], stdout=subprocess.PIPE,
                       text=True, timeout=30)
    t.ok("FRESH %s" % last in r.stdout, "a new process maps the last version", r.stdout[-200:])
    # a file written on this mount a moment ago may still be a direct_io
    # handle's (its create is on its way to the server): MAP_SHARED is then
    # ENODEV (the kernel maps direct_io files shared only with
    # FUSE_DIRECT_IO_ALLOW_MMAP, which libfuse 3.14 cannot ask for)
    outcomes = []
    for i in range(6):
        q = A("/mmnew%d" % i)
        data = ver("mn", i, 3000)
        with open(q, "wb") as f:
            f.write(data)
        fd = os.open(q, os.O_RDONLY)
        try:
            m = mmap.mmap(fd, 0, mmap.MAP_SHARED, mmap.PROT_READ)
            outcomes.append("ok" if m[:] == data else "wrong %s" % show(m[:]))
            m.close()
        except OSError as e:
            outcomes.append(errno.errorcode.get(e.errno, str(e.errno)))
        finally:
            os.close(fd)
    t.diag("MAP_SHARED right after writing a new file on the same mount: %s" % outcomes)
    t.ok(all(o in ("ok", "ENODEV") for o in outcomes),
         "... maps the new content or fails with ENODEV, never shows other content")


@t.case
def tools_over_tree():
    """cp -r, tar and sha256sum of a directory of 200 small files while a
    ZooKeeper client rewrites them: every file read is one whole version."""
    nfiles = 200
    names = ["f%03d" % i for i in range(nfiles)]
    written = {n: set() for n in names}
    tx = zk.transaction()
    zk.create("/tree", None)  # null data: a directory with no .data
    for n in names:
        data = ver(n, 0, 100 + (hash(n) % 5000))
        written[n].add(hashlib.sha256(data).hexdigest())
        tx.create("/tree/" + n, data)
    tx.commit()
    t.ok(ct.wait_for(lambda: len(os.listdir(A("/tree"))) == nfiles, 5), "200 files listed")
    stop = threading.Event()
    nset = [0]

    def rewriter():
        # a few setData in flight at a time, so many files change per copy
        rnd = random.Random(7)
        i = 0
        while not stop.is_set():
            batch = []
            for _ in range(8):
                i += 1
                n = rnd.choice(names)
                data = ver(n, i, rnd.choice([60, 300, 4095, 4097, 5000, 9000, 13000]))
                written[n].add(hashlib.sha256(data).hexdigest())
                batch.append(zk.set_async("/tree/" + n, data))
            for r in batch:
                r.get(timeout=10)
            nset[0] += len(batch)
            time.sleep(0.005)

    th = threading.Thread(target=rewriter)
    th.start()
    try:
        results = {}
        for rnd in range(4):
            dst = os.path.join(tmp, "cp%d" % rnd)
            rc, out = ft.sh("cp -r %s %s" % (A("/tree"), dst), timeout=60)
            bad = [n for n in names if not check(read(os.path.join(dst, n))) or
                   hashlib.sha256(read(os.path.join(dst, n))).hexdigest() not in written[n]]
            results.setdefault("cp", []).append((rc, bad, out[:200]))
            tarf = os.path.join(tmp, "t%d.tar" % rnd)
            rc, out = ft.sh("tar -C %s -cf %s tree" % (a.dir, tarf), timeout=60)
            bad = []
            with tarfile.open(tarf) as tf:
                for mem in tf.getmembers():
                    if mem.isfile():
                        data = tf.extractfile(mem).read()
                        n = os.path.basename(mem.name)
                        if not check(data) or hashlib.sha256(data).hexdigest() not in written[n]:
                            bad.append((n, show(data)))
            results.setdefault("tar", []).append((rc, bad, out[:300]))
            rc, out = ft.sh("cd %s && sha256sum *" % A("/tree"), timeout=60)
            bad = []
            for ln in out.splitlines():
                h, _, n = ln.partition("  ")
                if n not in written or h not in written[n]:
                    bad.append(ln)
            results.setdefault("sha256sum", []).append((rc, bad, ""))
    finally:
        stop.set()
        th.join()
    t.diag("%d rewrites during the copies" % nset[0])
    cp_bad = [r[1] for r in results["cp"]]
    t.ok(all(r[0] == 0 for r in results["cp"]), "cp -r succeeds",
         [r[2] for r in results["cp"]])
    t.is_eq(cp_bad, [[]] * 4, "every file cp copied is one whole version")
    # tar compares before and after: "file changed as we read it" is its
    # right (exit 1), a member that is not a whole version is not
    t.ok(all(r[0] in (0, 1) for r in results["tar"]), "tar completes",
         [r[2] for r in results["tar"]])
    t.diag("tar said: %s" % [r[2].strip().splitlines()[:3] for r in results["tar"]])
    t.is_eq([r[1][:3] for r in results["tar"]], [[]] * 4, "every tar member is one whole version")
    t.ok(all(r[0] == 0 for r in results["sha256sum"]), "sha256sum succeeds")
    t.is_eq([r[1][:3] for r in results["sha256sum"]], [[]] * 4,
            "every checksum is of a whole version")
    # and the mount converges to the server
    t.ok(ct.wait_for(lambda: all(read(A("/tree/" + n)) == zk.get("/tree/" + n)[0]
                                 for n in names), 10),
         "afterwards all 200 files read as the server has them")


@t.case
def same_size_changes():
    """Changes that keep the size (mtime may even stay in the same
    millisecond): new opens still see the new content promptly, with a
    reader holding the file open and without."""
    p = "/same"
    size = 5000
    zk.create(p, ver("sm", 0, size))
    t.ok(ct.wait_for(lambda: read(A(p)) == ver("sm", 0, size), 5), "the file arrives")
    late = []
    n = 0
    for i in range(8):
        read(A(p))  # its pages are in the page cache now
        n += 1
        zk.set(p, ver("sm", n, size))
        if i % 2:
            n += 1  # two sets in a row: probably the same mtime millisecond
            zk.set(p, ver("sm", n, size))
        if not ct.wait_for(lambda: read(A(p)) == ver("sm", n, size), 2, interval=0.01):
            late.append((n, check(read(A(p)))))
    t.is_eq(late, [], "same-size changes by a ZooKeeper client: new opens see them within 2 s")
    for i in range(4):
        read(A(p))
        n += 1
        with open(B(p), "wb") as f:
            f.write(ver("sm", n, size))
        if not ct.wait_for(lambda: read(A(p)) == ver("sm", n, size), 2, interval=0.01):
            late.append((n, check(read(A(p)))))
    t.is_eq(late, [], "same-size changes from another mount: the same")
    fd = os.open(A(p), os.O_RDONLY)
    os.read(fd, 100)
    for i in range(4):
        n += 1
        zk.set(p, ver("sm", n, size))
        if not ct.wait_for(lambda: read(A(p)) == ver("sm", n, size), 2, interval=0.01):
            late.append((n, check(read(A(p)))))
    held = check(os.pread(fd, 1 << 20, 0))
    os.close(fd)
    t.is_eq(late, [], "... and with a reader holding the file open")
    t.ok(held is not None, "the holder still reads one whole version", held)
    t.is_eq(os.stat(A(p)).st_size, size, "the size never changed")
    t.is_eq(read(A(p)), ver("sm", n, size), "the last version stays")


t.run()
