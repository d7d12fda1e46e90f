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


class Watcher:
    """inotifywait -m -r on a directory, collecting "TIME DIR EVENTS NAME"
    lines (and when each was read, in times); seen(EVENT, NAME)."""

    def __init__(self, d):
        self.p = subprocess.Popen(["inotifywait", "-m", "-r", "--format", "%T %w %e %f",
                                   "--timefmt", "%s", d], stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE, text=True)
        ct._cleanups.append(self.stop)
        # wait for "Watches established."
        while "established" not in self.p.stderr.readline():
            pass
        self.lines = []
        self.times = []
        os.set_blocking(self.p.stdout.fileno(), False)

    def poll(self):
        while True:
            line = self.p.stdout.readline()
            if not line:
                break
            self.lines.append(line.strip())
            self.times.append(time.monotonic())
        return self.lines

    def seen(self, event, name):
        return any((" %s " % event in " " + l.split(" ", 2)[2] + " " or
                    event in l.split(" ")[2].split(",")) and l.endswith(" " + name)
                   for l in self.poll())

    def stop(self):
        if self.p.poll() is None:
            self.p.kill()
            self.p.wait()
