#!/usr/bin/python3
"""durability_lib -- helpers shared by the crash_*.py and iofault_*.py tests.

Built on coordtest (TAP, wait_for, kazoo_client, handshake_ok).  Adds:

  * DurableServer: a coordtest.Server whose data directory may live anywhere
    (a tmpfs, a directory kept across runs), that can move to a fresh port
    before a restart, start with extra environment variables (fault
    injection), and report whether it is still alive and what it logged;
  * FaultFile: the COORD_FAULT_FILE control file of replica/faultinject.h,
    rewritten atomically (write + rename) so coordd never reads half a rule;
  * payload(): deterministic node data, so a checker can tell data that was
    never written from data that was;
  * fetch_all(): many getData calls pipelined on one kazoo client.
"""

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import coordtest as ct                                        # noqa: E402


class DurableServer(ct.Server):
    """coordtest.Server plus: datadir= (any directory, kept as is), env=
    (extra environment for the server process), new_port(), crash() (kill
    and reap, no waiting), start_nowait(), alive(), log_text().  Restarts
    reuse the data directory."""

    def __init__(self, datadir=None, env=None, cfg=None, **kw):
        super().__init__(cfg=cfg, **kw)
        # A directory of our own prefix (coordtest's cleanup removes
        # self.dir, whatever it is at exit), so that tidying up other
        # tests' /tmp/coordtest.* never pulls the rug from under a run.
        old = self.dir
        self.dir = tempfile.mkdtemp(prefix="durability.")
        shutil.rmtree(old, ignore_errors=True)
        if os.environ.get("COORDTEST_KEEP"):
            print("# server dir (kept): %s" % self.dir, flush=True)
        self.log = os.path.join(self.dir, "server.log")
        self.cfg = os.path.join(self.dir, "zoo.cfg")
        self.datadir = os.path.join(self.dir, "data")
        os.mkdir(self.datadir)
        self.cfgkeys["dataDir"] = self.datadir
        if datadir is not None:
            self.datadir = datadir
            self.cfgkeys["dataDir"] = datadir
        self.env = dict(env or {})
        self.starts = 0
        self._write_cfg()

    def _write_cfg(self):
        tmp = self.cfg + ".tmp"
        with open(tmp, "w") as f:
            for k, v in self.cfgkeys.items():
                f.write("%s=%s\n" % (k, v))
            for k, v in self.props.items():
                f.write("%s=%s\n" % (k, v))
        os.rename(tmp, self.cfg)

    def new_port(self):
        """Move to a fresh port (call while stopped): clients of the previous
        incarnation can never reconnect and replay queued requests."""
        assert self.proc is None
        self.port = ct.free_port()
        self.cfgkeys["clientPort"] = str(self.port)
        self._write_cfg()

    def _spawn(self, how=""):
        assert self.proc is None
        env = dict(os.environ)
        # Faults only where a test asks for them (faultinject.h).
        env.update(COORD_FAULT_INJECT="", COORD_FAULT_FILE="")
        env.update(self.env)
        self.starts += 1
        with open(self.log, "ab") as logf:
            logf.write(("=== start %d on port %d%s ===\n" %
                        (self.starts, self.port, how)).encode())
            logf.flush()
            self.log_offset = logf.tell()
            self.proc = subprocess.Popen(self._cmd(), stdout=logf,
                                         stderr=logf, cwd=self.dir, env=env,
                                         stdin=subprocess.DEVNULL)

    def start(self, timeout=30):
        """Start and wait for a ZooKeeper handshake; raises RuntimeError with
        the log tail if the server exits or does not become ready."""
        self._spawn()
        # Stop polling as soon as the process exits: a refusal to start is
        # reported at once, with its log, instead of after the timeout.
        ct.wait_for(lambda: self.proc.poll() is not None or
                    ct.handshake_ok(self.port), timeout, 0.02)
        if self.proc.poll() is not None or not ct.handshake_ok(self.port):
            raise RuntimeError("server did not become ready on port %d "
                               "(exit=%r)\n%s" % (self.port, self.proc.poll(),
                                                  self.log_tail()))
        return self

    def start_nowait(self):
        """Start without waiting for a handshake (e.g. a server that cannot
        create sessions on a full disk).  Waits until it listens or exits."""
        self._spawn(" (nowait)")
        ct.wait_for(lambda: self.proc.poll() is not None or
                    ct.port_open(self.port), 30)
        return self

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def exit_status(self):
        return None if self.proc is None else self.proc.poll()

    def crash(self, sig=signal.SIGKILL):
        """Send sig and reap the process, without waiting for its port to
        close (call new_port() before the next start): the fastest restart
        a supervisor could do."""
        if self.proc is not None:
            if self.proc.poll() is None:
                os.kill(self.proc.pid, sig)
            self.proc.wait()
            self.proc = None

    def log_text(self, since_start=False):
        try:
            with open(self.log, "rb") as f:
                if since_start:
                    f.seek(getattr(self, "log_offset", 0))
                return f.read().decode("utf-8", "replace")
        except OSError:
            return ""

    def log_tail(self, n=3000):
        return self.log_text()[-n:]

    def log_count(self, needle):
        return self.log_text().count(needle)


class FaultFile:
    """The COORD_FAULT_FILE control file.  set("fdatasync:EIO") arms rules,
    clear() disarms; each write replaces the file atomically, and coordd
    re-reads it before every log I/O call (counters restart on a change)."""

    def __init__(self, path):
        self.path = path
        self.clear()

    def set(self, rules):
        tmp = self.path + ".tmp"
        with open(tmp, "w") as f:
            f.write(rules + "\n")
        os.rename(tmp, self.path)

    def clear(self):
        self.set("# no faults")


def payload(path, salt=""):
    """Deterministic data for a node: its path repeated to a length between
    1 and ~1500 bytes derived from the path (different record sizes)."""
    seed = sum(path.encode()) * 31 + len(path)
    size = 1 + (seed * 2654435761) % 1500
    unit = ("%s%s|" % (path, salt)).encode()
    return (unit * (size // len(unit) + 1))[:size]


def fetch_all(client, paths, window=256, timeout=60):
    """getData for every path, pipelined (at most `window` in flight).
    Returns {path: (data, ZnodeStat) or None if it does not exist}.  Reads
    lost with the connection (it can drop on a loaded machine) are asked
    again, up to 3 rounds: a ConnectionLoss says nothing about the data.
    Raises on any other error or if the deadline passes."""
    from kazoo.exceptions import ConnectionLoss
    res = {}
    todo = list(paths)
    for _ in range(4):
        got, errors = _fetch_round(client, todo, window, timeout)
        res.update(got)
        todo = [p for p, e in errors if isinstance(e, ConnectionLoss)]
        hard = [(p, e) for p, e in errors if not isinstance(e, ConnectionLoss)]
        if hard:
            raise RuntimeError("fetch_all: %d errors, first %r" % (len(hard), hard[0]))
        if not todo:
            return res
        time.sleep(0.5)
    raise RuntimeError("fetch_all: %d reads lost with the connection 4 times" % len(todo))


def _fetch_round(client, paths, window, timeout):
    from kazoo.exceptions import NoNodeError
    res = {}
    errors = []
    sem = threading.Semaphore(window)
    done = threading.Event()
    lock = threading.Lock()
    left = [len(paths)]
    if not paths:
        return res, errors

    def cb(a, p):
        try:
            res[p] = a.get_nowait()
        except NoNodeError:
            res[p] = None
        except Exception as e:                                # noqa
            errors.append((p, e))
        sem.release()
        with lock:
            left[0] -= 1
            if left[0] == 0:
                done.set()

    deadline = time.monotonic() + timeout
    for p in paths:
        if not sem.acquire(timeout=max(0.0, deadline - time.monotonic())):
            raise RuntimeError("fetch_all: timed out issuing requests")
        client.get_async(p).rawlink(lambda a, p=p: cb(a, p))
    if not done.wait(max(0.0, deadline - time.monotonic())):
        raise RuntimeError("fetch_all: %d replies missing" % left[0])
    return res, errors


def run_quiet(cmd):
    """Run a command; returns (exit status, combined output)."""
    p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    return p.returncode, p.stdout.decode("utf-8", "replace")
