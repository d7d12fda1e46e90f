#!/usr/bin/python3
"""crash_snapshot: kill coordd while its forked snapshot child is writing,
restart it at once on the same data directory, and check that it starts
and that every acknowledged write survived.

coordd takes snapshots in a forked child (storage.c).  The child inherits
every descriptor of the parent, including the transaction log directory on
which txnlog_open() holds flock(LOCK_EX); flock belongs to the open file
description, so the lock lives as long as ANY process holds it.  The same
goes for the listening socket and the client connections.  A parent killed
(or stopped) while its child still writes a snapshot must nevertheless be
restartable at once, on the same port, by a supervisor; and its clients
must see their connections close when it dies, not when the child is done.
So: the child must hold no socket, and the restart must succeed.

Each round writes 16 KiB nodes until a snapshot child exists, then kills
the parent (SIGKILL, ATTEMPTS times, then SIGTERM for a clean shutdown)
and restarts at once; acked creates are checked after every restart.
snapCount is 3000, so the first snapshot comes after 1500-3000 txns, with
24-48 MiB of data.  The first round is the sure one: no older snapshot
exists, so the new coordd opens the log within milliseconds, while the
child is still writing.  In later rounds the new coordd first reads the
previous snapshots, which takes about as long as writing one, so whether
they race the child depends on the disk (diag lines say).
"""

import importlib.util
import os
import signal
import sys
import threading
import time

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import coordtest as ct                                        # noqa: E402
import durability_lib as dl                                   # noqa: E402

ct.require_server()
if ct.server_kind() != "coordd":
    ct.skip_all("tests coordd's forked snapshot writer")
if importlib.util.find_spec("kazoo") is None:
    ct.skip_all("python3-kazoo not installed")
if not os.path.exists("/proc/self/task/%d/children" % os.getpid()):
    ct.skip_all("no /proc/PID/task/TID/children to find the snapshot child")

NODE = 16 << 10
ATTEMPTS = 2

t = ct.TAP()
srv = dl.DurableServer(cfg={"snapCount": "3000",
                            "autopurge.purgeInterval": "1",
                            "autopurge.snapRetainCount": "3"})
srv.start()
acked = set()


def node_data(p):
    unit = dl.payload(p)
    return (unit * (NODE // len(unit) + 1))[:NODE]


def children(pid):
    try:
        with open("/proc/%d/task/%d/children" % (pid, pid)) as f:
            return [int(x) for x in f.read().split()]
    except OSError:
        return []


def pump(zk, prefix, until, limit=30.0, window=64):
    """Create nodes prefix<i> (NODE bytes each), pipelined, until
    until(number issued) is true or limit seconds pass.  Returns the
    (path, AsyncResult) pairs; collect() picks the acknowledged ones."""
    sem = threading.Semaphore(window)
    issued = []
    deadline = time.monotonic() + limit
    i = 0
    try:
        while not until(i) and time.monotonic() < deadline:
            if not sem.acquire(timeout=0.01):
                continue
            p = "%s%d" % (prefix, i)
            i += 1
            a = zk.create_async(p, node_data(p))
            a.rawlink(lambda _a: sem.release())
            issued.append((p, a))
    except Exception:                                         # noqa
        pass                        # the client is closed: the server died
    return issued


def collect(issued):
    for p, a in issued:
        if a.ready() and a.exception is None:
            acked.add(p)


def verify(zk, what):
    got = dl.fetch_all(zk, sorted(acked))
    bad = [p for p in acked if got.get(p) is None or
           got[p][0] != node_data(p)]
    t.ok(not bad, "%s: all %d acknowledged creates present with their data"
         % (what, len(acked)), "missing or wrong: %r" % sorted(bad)[:10])


zk = ct.kazoo_client(srv)
zk.create("/big")


def sockets_of(pid):
    """The socket descriptors pid holds, or None if it is gone."""
    try:
        fds = os.listdir("/proc/%d/fd" % pid)
    except OSError:
        return None
    out = []
    for fd in fds:
        try:
            if os.readlink("/proc/%d/fd/%s" % (pid, fd)).startswith("socket:"):
                out.append(int(fd))
        except OSError:
            pass
    return sorted(out)


def crash_during_snapshot(n, sig):
    """Write until a snapshot child exists, send sig to coordd, restart at
    once.  Returns (child_pid or None, child still alive at restart)."""
    global zk
    pid = srv.proc.pid
    issued = pump(zk, "/big/r%d-" % n, lambda _n: children(pid), limit=30)
    kids = children(pid)
    if not kids:
        return None, False
    srv.crash(sig)                  # reap, no waiting for anything else
    alive = [k for k in kids if os.path.exists("/proc/%d" % k)]
    name = "SIGKILL" if sig == signal.SIGKILL else "SIGTERM"
    # Restart at once on the same port, as a supervisor would, in a thread,
    # while this one looks at the child.
    err = []

    def restart():
        try:
            srv.start(timeout=20)
        except RuntimeError as e:
            err.append(e)
    th = threading.Thread(target=restart)
    th.start()
    # The child only writes files; it must not keep the listening socket or
    # client connections: the dead parent's clients would see no FIN until
    # the child exits, and a same-port restart could not bind.  (A freshly
    # forked child may not have run yet: give it a few ms.)
    seen = [None]

    def no_sockets():
        v = sockets_of(kids[0])
        if v is not None:
            seen[0] = v
        return v is None or v == []     # gone, or dropped them
    ct.wait_for(no_sockets, 0.05, 0.001)
    if seen[0] is None:
        t.skip("snapshot child holds no sockets", "it exited too soon")
    else:
        t.ok(seen[0] == [], "snapshot child %d holds no sockets" % kids[0],
             "it holds the parent's socket fds %r (listener, client "
             "connections)" % seen[0])
    th.join()
    ok = not err
    if err:
        t.diag(str(err[0]).splitlines()[0])
        for line in srv.log_text(since_start=True).splitlines()[-4:]:
            t.diag("    " + line)
    t.ok(ok, "%s #%d during a snapshot (child %d %s at restart): restart "
         "succeeds at once" % (name, n, kids[0],
                               "still running" if alive else "done"))
    if not ok:
        # Learn whether it is only the leftover child: wait for it, retry.
        ct.wait_for(lambda: not any(os.path.exists("/proc/%d" % k)
                                    for k in kids), 30)
        srv.stop()
        srv.new_port()
        srv.start(timeout=20)
        t.diag("    a restart after the snapshot child exited worked")
    ct._stop_quietly(zk)            # only now: stopping kazoo takes time
    collect(issued)
    zk = ct.kazoo_client(srv)
    verify(zk, "after %s #%d" % (name, n))
    return kids[0], bool(alive)


caught = 0
for n in range(ATTEMPTS):
    child, alive = crash_during_snapshot(n, signal.SIGKILL)
    if child is None:
        t.skip("SIGKILL #%d during a snapshot" % n, "no snapshot child seen")
    caught += bool(alive)
child, alive = crash_during_snapshot(ATTEMPTS, signal.SIGTERM)
if child is None:
    t.skip("SIGTERM during a snapshot", "no snapshot child seen")
caught += bool(alive)

t.diag("%d of %d restarts raced a still-running snapshot child; %d "
       "'locked by another process' refusals in the server log" %
       (caught, ATTEMPTS + 1, srv.log_count("locked by another process")))
ct._stop_quietly(zk)
srv.stop()
t.done()
