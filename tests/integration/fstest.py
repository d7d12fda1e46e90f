#!/usr/bin/python3
"""fstest -- real coordfs mounts for the filesystem tests.

Mount(server_hosts) starts $top_builddir/fs/coordfs in the foreground on a
fresh temporary directory, waits until the kernel shows the mount, and
unmounts it (and kills the daemon) at exit.  require_fuse() skips the whole
test file when FUSE cannot be used here (not root, no /dev/fuse, coordfs not
built).
"""

import os
import signal
import subprocess
import sys
import tempfile
import time

import coordtest as ct


def coordfs_path():
    return os.path.join(os.environ.get("top_builddir", "."), "fs", "coordfs")


def require_fuse():
    if not os.path.exists(coordfs_path()):
        ct.skip_all("coordfs not built")
    if os.geteuid() != 0:
        ct.skip_all("FUSE tests need root")
    if not os.path.exists("/dev/fuse"):
        ct.skip_all("no /dev/fuse")


def is_mounted(path):
    with open("/proc/self/mounts") as f:
        for line in f:
            parts = line.split()
            if len(parts) > 2 and parts[1] == path and parts[2].startswith("fuse"):
                return True
    return False


class Mount:
    def __init__(self, hosts, opts=None):
        self.dir = tempfile.mkdtemp(prefix="coordfs-mnt-")
        self.log = open(self.dir + ".log", "w")
        args = [coordfs_path(), "-f", "-o", "auto_unmount"]
        if opts:
            args += ["-o", opts]
        args += [hosts, self.dir]
        self.proc = subprocess.Popen(args, stdout=self.log, stderr=subprocess.STDOUT)
        ct._cleanups.append(self.close)
        if not ct.wait_for(lambda: is_mounted(self.dir), 10):
            raise RuntimeError("coordfs did not mount %s; log:\n%s" %
                               (self.dir, open(self.dir + ".log").read()))

    def path(self, p):
        return os.path.join(self.dir, p.lstrip("/"))

    def kill9(self):
        self.proc.kill()
        self.proc.wait()

    def close(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if is_mounted(self.dir):
            subprocess.call(["fusermount3", "-u", "-z", self.dir],
                            stderr=subprocess.DEVNULL)
        ct.wait_for(lambda: not is_mounted(self.dir), 5)
        try:
            os.rmdir(self.dir)
        except OSError:
            pass
        self.log.close()
        if os.environ.get("COORDTEST_KEEP") is None:
            try:
                os.unlink(self.dir + ".log")
            except OSError:
                pass


def sh(cmd, **kw):
    """Runs a shell command; returns (exit status, stdout+stderr)."""
    p = subprocess.run(["bash", "-c", cmd], stdout=subprocess.PIPE,
                       stderr=subprocess.STDOUT, timeout=kw.get("timeout", 30))
    return p.returncode, p.stdout.decode(errors="replace")


class Inotify:
    """inotifywait -m ARGS in the background; poll() collects its output
    lines (and when each was read, in times)."""

    def __init__(self, args):
        self.p = subprocess.Popen(["inotifywait", "-m"] + args, stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE, text=True)
        ct._cleanups.append(self.stop)
        # wait for "Watches established."
        while "established" not in self.p.stderr.readline():
            if self.p.poll() is not None:
                raise RuntimeError("inotifywait %s failed" % " ".join(args))
        self.lines = []
        self.times = []
        os.set_blocking(self.p.stdout.fileno(), False)

    def poll(self):
        while True:
            line = self.p.stdout.readline()
            if not line:
                break
            self.lines.append(line.rstrip("\n"))
            self.times.append(time.monotonic())
        return self.lines

    def stop(self):
        if self.p.poll() is None:
            self.p.kill()
            self.p.wait()


class Watcher(Inotify):
    """inotifywait -m -r on a directory: lines "TIME DIR EVENTS NAME";
    seen(EVENT, NAME)."""

    def __init__(self, d):
        super().__init__(["-r", "--format", "%T %w %e %f", "--timefmt", "%s", d])

    def seen(self, event, name):
        return any((" %s " % event in " " + l.split(" ", 2)[2] + " " or
                    event in l.split(" ")[2].split(",")) and l.endswith(" " + name)
                   for l in self.poll())


# One version of a file: a header naming it and its size, then filler that
# depends on the version, so a mix of two versions, zero padding or a cut
# never passes check().  VERSIONS is shared with the tests' helper processes.
VERSIONS = r'''
import re
def ver(tag, n, size):
    head = b"<%s:%06d:%06d>" % (tag.encode(), n, size)
    fill = b"%06d." % n
    body = (fill * (size // len(fill) + 1))[:size - len(head) - 1]
    return head + body + b"\n"

HEAD = re.compile(rb"<([^:<>]*):(\d{6}):(\d{6})>")

def check(data):
    """(tag, n) if data is exactly one whole version, else None."""
    m = HEAD.match(data)
    if not m:
        return None
    tag, n, size = m.group(1).decode(), int(m.group(2)), int(m.group(3))
    return (tag, n) if data == ver(tag, n, size) else None
'''
_support = {}
exec(VERSIONS, _support)
ver, check = _support["ver"], _support["check"]


# A reader process: reads PATH for SECS seconds (or until STOPFILE exists),
# one open per read, and prints a line per read that is not one whole
# version, then "DONE reads bad versions".  Modes: whole (Python's read():
# fstat, read to EOF), small (1000-byte reads: several per page), stat
# (fstat, then st_size bytes, then EOF must follow).
READER = VERSIONS + r'''
import os, sys, time
path, secs, mode = sys.argv[1], float(sys.argv[2]), sys.argv[3]
stopfile = sys.argv[4] if len(sys.argv) > 4 else None
n = bad = 0
seen = set()
end = time.monotonic() + secs
while time.monotonic() < end and not (stopfile and n % 64 == 0 and os.path.exists(stopfile)):
    try:
        if mode == "whole":
            with open(path, "rb") as f:
                data = f.read()
        else:
            fd = os.open(path, os.O_RDONLY)
            parts = []
            if mode == "stat":
                size = os.fstat(fd).st_size
                parts.append(os.read(fd, size))
                if os.read(fd, 65536):
                    parts.append(b"<more than st_size>")
            while True:
                b = os.read(fd, 1000 if mode == "small" else 65536)
                if not b:
                    break
                parts.append(b)
            os.close(fd)
            data = b"".join(parts)
    except FileNotFoundError:
        continue  # not there yet
    except OSError as e:
        print("ERR %s" % e, flush=True)
        bad += 1
        continue
    n += 1
    v = check(data)
    if v:
        seen.add(v)
    else:
        bad += 1
        if bad <= 5:
            print("BAD %d %r...%r" % (len(data), data[:28], data[-12:]), flush=True)
print("DONE %d %d %d" % (n, bad, len(seen)), flush=True)
'''


def start_readers(path, secs, modes, stopfile=None):
    return [(m, subprocess.Popen([sys.executable, "-c", READER, path, str(secs), m] +
                                 ([stopfile] if stopfile else []),
                                 stdout=subprocess.PIPE, stderr=subprocess.STDOUT))
            for m in modes]


def reap_readers(readers):
    """(reads, bad, versions seen per reader, problem lines)"""
    total = bad = 0
    seen, problems = [], []
    for mode, r in readers:
        out = r.communicate(timeout=60)[0].decode(errors="replace")
        lines = out.strip().splitlines()
        done = [ln for ln in lines if ln.startswith("DONE ")]
        if not done:
            problems.append("%s: %s" % (mode, out[-400:]))
            bad += 1
            continue
        n, nbad, nseen = map(int, done[0].split()[1:])
        total += n
        bad += nbad
        seen.append(nseen)
        problems += ["%s: %s" % (mode, ln) for ln in lines if not ln.startswith("DONE ")]
    return total, bad, seen, problems
