#!/usr/bin/python3
"""coordctl: every command of the command line client against a real server
(coordd, or Apache ZooKeeper with COORD_SERVER=zookeeper: coordctl must be a
plain ZooKeeper client), checked from the outside with kazoo.

Covers exit codes (0 ok, 1 no, 2 usage, 3 ZooKeeper error, 4 no server /
session lost), byte-exact binary data through get and set (NUL bytes, no
trailing newline, stdin), create modes, rm -r, ls -l/-R, stat, exists,
watch --once / -n / -r triggered by kazoo and across a server restart, the
lock recipe (mutual exclusion among coordctl runs and a kazoo Lock, -n, -w,
exit status, release when the holder is killed -9, loss when the node is
deleted or the server dies) and status against running and dead servers."""

import os
import signal
import subprocess
import sys
import threading
import time

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import coordtest as ct                                        # noqa: E402
from coordtest import Raw                                     # noqa: E402


def coordctl_path():
    top = os.environ.get("top_builddir") or os.path.join(
        os.path.dirname(os.path.abspath(__file__)), "..", "..")
    return os.path.join(top, "ctl", "coordctl")


CTL = coordctl_path()
if not os.access(CTL, os.X_OK):
    ct.skip_all("coordctl not built")
ct.require_server()
from kazoo.recipe.lock import Lock                            # noqa: E402

t = ct.TAP()
srv = ct.Server().start()
zk = ct.kazoo_client(srv)
tmp = srv.dir                   # scratch files live with the server's dir
t.diag("server: %s on %s; coordctl: %s" % (srv.kind, srv.hosts, CTL))


def ctl(*args, servers=None, timeout_ms=None, stdin=None, env=None,
        limit=60):
    """Runs coordctl; returns (exit code, stdout bytes, stderr str)."""
    cmd = [CTL]
    if servers is not False:
        cmd += ["-s", servers or srv.hosts]
    if timeout_ms:
        cmd += ["-t", str(timeout_ms)]
    cmd += list(args)
    p = subprocess.run(cmd, input=stdin, stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, env=env, timeout=limit)
    return p.returncode, p.stdout, p.stderr.decode("utf-8", "replace")


def spawn(*args, timeout_ms=None, **kw):
    cmd = [CTL, "-s", srv.hosts]
    if timeout_ms:
        cmd += ["-t", str(timeout_ms)]
    return subprocess.Popen(cmd + list(args), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, **kw)


def dead_port():
    return "127.0.0.1:%d" % ct.free_port()


def proc_gone(pid):
    """True when pid has ended (a zombie that nobody reaps counts too)."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().rsplit(")", 1)[1].split()[0] in ("Z", "X")
    except OSError:
        return True


def children_of(pid):
    out = []
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                with open("/proc/%s/stat" % d) as f:
                    if int(f.read().rsplit(")", 1)[1].split()[1]) == pid:
                        out.append(int(d))
            except (OSError, ValueError, IndexError):
                pass
    return out


def contenders(path):
    try:
        return [c for c in zk.get_children(path) if "__lock__" in c]
    except Exception:                                         # noqa
        return []


@t.case
def usage_and_exit_2():
    rc, out, err = ctl(servers=False)
    t.is_eq(rc, 2, "no command: exit 2")
    t.ok("usage:" in err, "no command: usage on stderr", err)
    rc, out, err = ctl("-h", servers=False)
    t.ok(rc == 0 and b"usage:" in out and b"lock" in out,
         "-h: usage on stdout, exit 0")
    rc, out, _ = ctl("--version", servers=False)
    t.ok(rc == 0 and out.startswith(b"coordctl "), "--version: exit 0")
    rc, _, err = ctl("frobnicate")
    t.ok(rc == 2 and "unknown command 'frobnicate'" in err,
         "unknown command: exit 2 and named", err)
    rc, _, err = ctl("get", "-x", "/a")
    t.ok(rc == 2 and "unknown option -x" in err, "unknown option: exit 2",
         err)
    rc, _, err = ctl("get")
    t.ok(rc == 2 and "usage: coordctl get" in err, "get without PATH: exit 2",
         err)
    rc, _, err = ctl("get", "relative/path")
    t.ok(rc == 2 and "relative/path: invalid path" in err,
         "relative path: exit 2, path named", err)
    rc, _, err = ctl("-t", "soon", "get", "/")
    t.is_eq(rc, 2, "-t not a number: exit 2")
    rc, _, err = ctl("rm", "-r", "/")
    t.is_eq(rc, 2, "rm -r / is refused: exit 2")
    rc, _, err = ctl("lock", "/l")
    t.is_eq(rc, 2, "lock without COMMAND: exit 2")
    rc, _, err = ctl("create", "-e", "-c", "/x")
    t.is_eq(rc, 2, "create -e -c: exit 2")


@t.case
def create_get_set():
    rc, out, err = ctl("create", "/c", "hello")
    t.ok(rc == 0 and out == b"/c\n", "create prints the path, exit 0",
         (rc, out, err))
    t.is_eq(zk.get("/c")[0], b"hello", "kazoo sees the data")
    rc, out, _ = ctl("get", "/c")
    t.ok(rc == 0 and out == b"hello", "get: exactly the data, no newline added",
         out)
    rc, out, _ = ctl("set", "/c", "world")
    t.ok(rc == 0 and out == b"", "set DATA: exit 0, nothing printed")
    data, st = zk.get("/c")
    t.is_eq((data, st.version), (b"world", 1), "set: new data, version 1")
    rc, _, _ = ctl("set", "/c", "-5")
    t.ok(rc == 0 and zk.get("/c")[0] == b"-5", "set: DATA may begin with -")
    rc, _, _ = ctl("set", "/c", stdin=b"from stdin\n")
    t.ok(rc == 0 and zk.get("/c")[0] == b"from stdin\n",
         "set without DATA reads stdin")
    rc, _, _ = ctl("set", "/c", "")
    t.ok(rc == 0 and zk.get("/c")[0] == b"", "set to empty data")
    rc, out, err = ctl("get", "/nothing/here")
    t.ok(rc == 3 and out == b"", "get of a missing node: exit 3, no output")
    t.ok("get /nothing/here" in err and "no node" in err and "NONODE" in err,
         "error names the command, path and ZooKeeper error", err)
    rc, _, err = ctl("create", "/c", "again")
    t.ok(rc == 3 and "/c" in err and "NODEEXISTS" in err,
         "create of an existing node: exit 3, NODEEXISTS", err)
    rc, _, err = ctl("set", "/nothing", "x")
    t.ok(rc == 3 and "NONODE" in err, "set of a missing node: exit 3", err)


@t.case
def binary_round_trip():
    blob = bytes(range(256)) + b"\0\0\n\0tail\0"        # ends in NUL, no newline
    zk.create("/bin", b"")
    rc, _, err = ctl("set", "/bin", stdin=blob)
    t.is_eq(rc, 0, "set from stdin with NUL bytes: exit 0")
    t.is_eq(zk.get("/bin")[0], blob, "kazoo reads exactly the bytes sent")
    rc, out, _ = ctl("get", "/bin")
    t.is_eq(out, blob, "get returns them byte for byte")
    blob2 = os.urandom(4096) + b"\0"
    zk.set("/bin", blob2)
    rc, out, _ = ctl("get", "/bin")
    t.ok(rc == 0 and out == blob2, "get of random binary data kazoo wrote is "
         "byte-exact")
    rc, out, _ = ctl("create", "-i", "/bin2", stdin=b"\0a\0")
    t.ok(rc == 0 and zk.get("/bin2")[0] == b"\0a\0",
         "create -i takes binary data from stdin")
    big = os.urandom(500 * 1024)
    rc, _, _ = ctl("set", "/bin", stdin=big)
    rc2, out, _ = ctl("get", "/bin")
    t.ok(rc == 0 and rc2 == 0 and out == big, "500 KiB round trip")


@t.case
def null_and_empty_data():
    rc, _, _ = ctl("create", "/nulldata")
    raw = Raw(srv.port)
    err, data, st = raw.get("/nulldata")
    t.ok(rc == 0 and err == 0 and data is None,
         "create without DATA makes null data (as zkCli)", (rc, err, data))
    rc, out, _ = ctl("get", "/nulldata")
    t.ok(rc == 0 and out == b"", "get of null data prints nothing, exit 0")
    ctl("create", "/emptydata", "")
    err, data, st = raw.get("/emptydata")
    t.ok(err == 0 and data == b"", "create with \"\" makes empty data")
    raw.close()


@t.case
def get_s_and_stat():
    zk.create("/st", b"abc")
    zk.set("/st", b"abcd")
    data, st = zk.get("/st")
    rc, out, _ = ctl("get", "-s", "/st")
    lines = out.split(b"\n")
    t.is_eq(lines[0], b"abcd", "get -s: data first, then a newline")
    kv = dict(l.decode().split(" = ", 1) for l in lines[1:] if l)
    t.is_eq(kv.get("dataVersion"), str(st.version), "get -s: dataVersion")
    rc, out, _ = ctl("stat", "/st")
    keys = [l.split(" = ")[0] for l in out.decode().splitlines()]
    t.is_eq(keys, ["cZxid", "ctime", "mZxid", "mtime", "pZxid", "cversion",
                   "dataVersion", "aclVersion", "ephemeralOwner",
                   "dataLength", "numChildren"], "stat: zkCli's keys, in order")
    kv = dict(l.split(" = ", 1) for l in out.decode().splitlines())
    t.is_eq((kv["cZxid"], kv["mZxid"], kv["dataVersion"], kv["dataLength"],
             kv["numChildren"], kv["ephemeralOwner"]),
            (hex(st.czxid), hex(st.mzxid), str(st.version), "4", "0", "0x0"),
            "stat values match kazoo's Stat")
    rc, _, err = ctl("stat", "/nope")
    t.ok(rc == 3 and "stat /nope" in err, "stat of a missing node: exit 3")


@t.case
def set_versions_and_create_missing():
    zk.create("/cas", b"0")
    rc, _, _ = ctl("set", "-v", "0", "/cas", "1")
    t.is_eq(rc, 0, "set -v with the right version: exit 0")
    rc, _, err = ctl("set", "-v", "0", "/cas", "2")
    t.ok(rc == 3 and "bad version" in err and "BADVERSION" in err,
         "set -v with a stale version: exit 3 BADVERSION", err)
    t.is_eq(zk.get("/cas")[0], b"1", "the stale set changed nothing")
    rc, _, _ = ctl("set", "-c", "/made/by/set", "x")
    t.is_eq(rc, 3, "set -c does not make parents: exit 3")
    rc, _, _ = ctl("set", "-c", "/madebyset", "x")
    t.ok(rc == 0 and zk.get("/madebyset")[0] == b"x",
         "set -c creates a missing node")


@t.case
def create_modes():
    zk.create("/q")
    rc1, out1, _ = ctl("create", "-s", "/q/item-", "a")
    rc2, out2, _ = ctl("create", "-s", "/q/item-", "b")
    p1, p2 = out1.decode().strip(), out2.decode().strip()
    t.ok(rc1 == rc2 == 0 and p1.startswith("/q/item-") and p1 < p2,
         "create -s prints the sequential path", (out1, out2))
    t.is_eq(sorted(zk.get_children("/q")), [p1[3:], p2[3:]],
            "the printed paths are the nodes made")
    rc, out, _ = ctl("create", "-e", "/eph", "x")
    t.ok(rc == 0 and out == b"/eph\n", "create -e: exit 0")
    t.is_eq(zk.exists("/eph"), None, "the ephemeral node went with "
            "coordctl's session (closed at exit)")
    rc, _, err = ctl("create", "/no/parent/here")
    t.ok(rc == 3 and "NONODE" in err, "create without parents: exit 3", err)
    rc, out, _ = ctl("create", "-p", "/p1/p2/p3", "deep")
    t.ok(rc == 0 and zk.get("/p1/p2/p3")[0] == b"deep",
         "create -p makes the parents", out)
    t.ok(zk.exists("/p1") and zk.exists("/p1/p2"), "parents exist")
    # A container is reaped by the server once its last child is gone
    # (servers show it with ephemeralOwner 0, so that is how to tell).
    rc, out, _ = ctl("create", "-c", "/cont")
    zk.create("/cont/kid")
    zk.delete("/cont/kid")
    t.ok(rc == 0 and ct.wait_for(lambda: zk.exists("/cont") is None, 20),
         "create -c makes a container: reaped when its child goes")


@t.case
def rm_and_exists():
    zk.create("/rm/leaf", b"x", makepath=True)
    rc, _, _ = ctl("exists", "/rm/leaf")
    t.is_eq(rc, 0, "exists: exit 0 for a node")
    rc, out, err = ctl("exists", "/rm/none")
    t.ok(rc == 1 and out == b"" and err == "",
         "exists: exit 1 and silent for no node")
    rc, _, _ = ctl("rm", "/rm/leaf")
    t.ok(rc == 0 and zk.exists("/rm/leaf") is None, "rm a leaf")
    rc, _, err = ctl("rm", "/rm/leaf")
    t.ok(rc == 3 and "NONODE" in err, "rm of a missing node: exit 3")
    rc, _, _ = ctl("rm", "-f", "/rm/leaf")
    t.is_eq(rc, 0, "rm -f of a missing node: exit 0")
    zk.create("/rm/v", b"x")
    rc, _, err = ctl("rm", "-v", "5", "/rm/v")
    t.ok(rc == 3 and "BADVERSION" in err, "rm -v with a wrong version: exit 3")
    rc, _, _ = ctl("rm", "-v", "0", "/rm/v")
    t.is_eq(rc, 0, "rm -v with the right version")
    for i in range(60):
        zk.create("/rm/tree/d%d/e" % (i % 6), b"", makepath=True,
                  sequence=True)
    zk.create("/rm/tree/x/y/z/w", b"", makepath=True)
    rc, _, err = ctl("rm", "/rm/tree")
    t.ok(rc == 3 and "NOTEMPTY" in err, "rm of a node with children: exit 3 "
         "NOTEMPTY", err)
    rc, _, err = ctl("rm", "-r", "/rm/tree")
    t.ok(rc == 0 and zk.exists("/rm/tree") is None,
         "rm -r deletes a whole tree", err)
    t.ok(zk.exists("/rm") is not None, "rm -r leaves the parent")


@t.case
def ls():
    zk.create("/ls/b", b"12345", makepath=True)
    zk.create("/ls/a/x", b"", makepath=True)
    zk.create("/ls/c", b"", ephemeral=True)
    rc, out, _ = ctl("ls", "/ls")
    t.is_eq((rc, out), (0, b"a\nb\nc\n"), "ls: sorted names, one per line")
    rc, out, _ = ctl("ls", "-l", "/ls")
    rows = [l.split() for l in out.decode().splitlines()]
    t.is_eq([(r[0], r[2], r[3], r[-1]) for r in rows],
            [("-", "0", "1", "a"), ("-", "5", "0", "b"), ("e", "0", "0", "c")],
            "ls -l: kind, data length, children, name")
    rc, out, _ = ctl("ls", "-R", "/ls")
    t.is_eq(out, b"/ls\n/ls/a\n/ls/a/x\n/ls/b\n/ls/c\n",
            "ls -R: full paths, depth first")
    rc, out, _ = ctl("ls", "/ls", "-lR")
    t.ok(rc == 0 and len(out.splitlines()) == 5 and
         out.splitlines()[0].split()[-1] == b"/ls",
         "ls -lR (options after PATH)")
    rc, _, err = ctl("ls", "/ls/none")
    t.ok(rc == 3 and "ls /ls/none" in err, "ls of a missing node: exit 3")


@t.case
def env_and_unreachable():
    env = dict(os.environ, COORD_SERVERS=srv.hosts)
    rc, out, _ = ctl("get", "/c", servers=False, env=env)
    t.is_eq(rc, 0, "the server list comes from $COORD_SERVERS")
    t0 = time.monotonic()
    rc, out, err = ctl("get", "/c", servers=dead_port(), timeout_ms=800)
    dt = time.monotonic() - t0
    t.ok(rc == 4 and "cannot connect" in err, "no server reachable: exit 4",
         err)
    t.ok(dt < 10, "... after about -t (%.1f s)" % dt)
    rc, _, err = ctl("get", "/c", servers="not a list:x:y")
    t.is_eq(rc, 2, "a bad server list: exit 2")


def read_lines(p, into):
    for line in p.stdout:
        into.append(line.decode().rstrip("\n"))


@t.case
def watch():
    zk.create("/w/cfg", b"v0", makepath=True)
    p = spawn("watch", "--once", "/w/cfg")
    # The watch is set some time after start: change until it reports.
    i = 0
    while p.poll() is None and i < 200:
        i += 1
        zk.set("/w/cfg", b"v%d" % i)
        time.sleep(0.05)
    out, err = p.communicate(timeout=10)
    t.is_eq((p.returncode, out), (0, b"NodeDataChanged /w/cfg\n"),
            "watch --once: one line, exit 0, after a kazoo set")

    zk.create("/w/r")
    p = spawn("watch", "/w/r", "-r", "-n", "2")
    i = 0
    while p.poll() is None and i < 200:
        zk.create("/w/r/c%03d" % i)
        i += 1
        time.sleep(0.05)
    out, err = p.communicate(timeout=10)
    lines = out.decode().splitlines()
    ok = p.returncode == 0 and len(lines) == 2 and \
        all(l.startswith("NodeCreated /w/r/c") for l in lines)
    t.ok(ok, "watch -r -n 2: two NodeCreated of children, exit 0",
         (p.returncode, out, err))

    p = spawn("watch", "/w/cfg")
    lines = []
    th = threading.Thread(target=read_lines, args=(p, lines), daemon=True)
    th.start()
    i = 0
    while not lines and i < 200:
        i += 1
        zk.set("/w/cfg", b"x%d" % i)
        time.sleep(0.05)
    zk.create("/w/cfg/kid")
    zk.delete("/w/cfg/kid")
    zk.delete("/w/cfg")
    ct.wait_for(lambda: "NodeDeleted /w/cfg" in lines, 10)
    t.ok("NodeChildrenChanged /w/cfg" in lines and
         "NodeDeleted /w/cfg" in lines, "watch: child and delete events",
         lines)
    zk.create("/w/cfg", b"back")
    ct.wait_for(lambda: "NodeCreated /w/cfg" in lines, 10)
    t.ok("NodeCreated /w/cfg" in lines, "watch: stays set after a deletion "
         "(persistent): NodeCreated")
    # across a server restart: the watch is set again by the client
    n = len(lines)
    srv.restart(kill=True)
    ct.wait_for(lambda: zk.connected, 20)
    got = ct.wait_for(lambda: (zk.set("/w/cfg", b"after") and False) or
                      len(lines) > n, 20, 0.2)
    t.ok(got and lines[-1] == "NodeDataChanged /w/cfg",
         "watch: events still come after a server restart", lines[n:])
    p.send_signal(signal.SIGTERM)
    p.wait(10)
    t.is_eq(p.returncode, -signal.SIGTERM, "watch ends by the signal it got")


LOG = os.path.join(tmp, "intervals.log")
HOLD = ("t0=$(date +%s.%N); sleep 0.15; "
        "echo \"$t0 $(date +%s.%N) $1\" >> " + LOG)


@t.case
def lock_mutual_exclusion():
    # Four coordctl runs and one kazoo Lock contend; every holder appends
    # its interval; no two may overlap.
    open(LOG, "w").close()
    procs = [spawn("lock", "/locks/mx", "--", "sh", "-c", HOLD, "sh",
                   "ctl%d" % i) for i in range(4)]

    def kazoo_contender():
        lk = Lock(zk, "/locks/mx", "kazoo")
        with lk:
            t0 = time.time()
            time.sleep(0.15)
            with open(LOG, "a") as f:
                f.write("%f %f kazoo\n" % (t0, time.time()))
    th = threading.Thread(target=kazoo_contender)
    th.start()
    rcs = [p.wait(60) for p in procs]
    th.join(60)
    t.is_eq(rcs, [0, 0, 0, 0], "every lock run exits 0 (the command's status)")
    rows = sorted((float(a), float(b), who) for a, b, who in
                  (l.split() for l in open(LOG)))
    t.is_eq(sorted(r[2] for r in rows),
            ["ctl0", "ctl1", "ctl2", "ctl3", "kazoo"],
            "every contender ran once (coordctl and kazoo's Lock)")
    overlap = [(x, y) for x, y in zip(rows, rows[1:]) if y[0] < x[1]]
    t.ok(not overlap, "no two holders' intervals overlap", overlap)
    t.is_eq(contenders("/locks/mx"), [], "no lock node is left behind")


@t.case
def lock_busy_and_timeout():
    lk = Lock(zk, "/locks/busy", "kazoo-holder")
    lk.acquire()
    marker = os.path.join(tmp, "ran")
    rc, _, err = ctl("lock", "-n", "/locks/busy", "--", "touch", marker)
    t.ok(rc == 1 and not os.path.exists(marker),
         "lock -n while kazoo holds it: exit 1, command not run", err)
    t.ok("busy" in err and "kazoo-holder" in err,
         "the message names the holder", err)
    t0 = time.monotonic()
    rc, _, err = ctl("lock", "/locks/busy", "-w", "0.5", "--", "touch", marker)
    dt = time.monotonic() - t0
    t.ok(rc == 1 and "timed out" in err and not os.path.exists(marker),
         "lock -w 0.5: exit 1 after the wait", err)
    t.ok(0.4 < dt < 10, "... about 0.5 s (%.2f s)" % dt)
    t.is_eq(len(contenders("/locks/busy")), 1, "the waiters withdrew their "
            "nodes")
    p = spawn("lock", "/locks/busy", "--", "touch", marker)
    ct.wait_for(lambda: len(contenders("/locks/busy")) == 2, 10)
    t.is_eq(len(contenders("/locks/busy")), 2, "a waiter queues behind kazoo")
    p.send_signal(signal.SIGTERM)
    p.wait(10)
    t.ok(p.returncode == -signal.SIGTERM and not os.path.exists(marker),
         "SIGTERM while waiting: ends by it, command not run")
    t.is_eq(len(contenders("/locks/busy")), 1, "... and its node is withdrawn")
    lk.release()
    # coordctl holds; kazoo cannot have it
    p = spawn("lock", "/locks/busy", "--", "sleep", "30")
    ct.wait_for(lambda: contenders("/locks/busy"), 10)
    lk2 = Lock(zk, "/locks/busy")
    t.ok(not lk2.acquire(blocking=False), "kazoo's Lock sees coordctl's lock")
    p.terminate()
    p.wait(10)
    t.is_eq(p.returncode, 128 + signal.SIGTERM,
            "SIGTERM passed on: exit 128+15 from the command")
    t.ok(lk2.acquire(timeout=10), "released: kazoo gets it")
    lk2.release()


@t.case
def lock_exit_status():
    rc, _, _ = ctl("lock", "/locks/st", "--", "sh", "-c", "exit 7")
    t.is_eq(rc, 7, "lock exits with the command's status")
    rc, _, _ = ctl("lock", "/locks/st", "sh", "-c", "kill -9 $$")
    t.is_eq(rc, 128 + 9, "a command killed by signal 9: exit 137 (no --)")
    rc, _, err = ctl("lock", "/locks/st", "--", "/nonexistent/cmd")
    t.ok(rc == 127 and "cannot run /nonexistent/cmd" in err,
         "a command that cannot be found: 127", err)
    rc, out, _ = ctl("lock", "/locks/st", "--", "echo", "-n", "out")
    t.ok(rc == 0 and out == b"out", "the command's stdout and arguments "
         "pass through")
    t.is_eq(contenders("/locks/st"), [], "released after each run")


@t.case
def lock_holder_killed():
    p = spawn("lock", "/locks/k9", "--", "sleep", "300", timeout_ms=1000)
    ct.wait_for(lambda: children_of(p.pid), 10)
    kids = children_of(p.pid)
    t.is_eq(len(kids), 1, "the command runs")
    os.kill(p.pid, signal.SIGKILL)
    p.wait(10)
    t.ok(ct.wait_for(lambda: proc_gone(kids[0]), 5),
         "coordctl killed -9: its command is killed at once")
    t0 = time.monotonic()
    rc, _, err = ctl("lock", "-w", "30", "/locks/k9", "--", "true")
    dt = time.monotonic() - t0
    t.ok(rc == 0, "the lock is had again once the dead holder's session "
         "expires (%.1f s)" % dt, err)
    # the command killed -9 instead: released at once
    p = spawn("lock", "/locks/k9", "--", "sleep", "300")
    ct.wait_for(lambda: children_of(p.pid), 10)
    os.kill(children_of(p.pid)[0], signal.SIGKILL)
    p.wait(10)
    t.is_eq(p.returncode, 137, "command killed -9: coordctl exits 137")
    rc, _, _ = ctl("lock", "-n", "/locks/k9", "--", "true")
    t.is_eq(rc, 0, "... and the lock is free at once")


@t.case
def lock_node_deleted():
    p = spawn("lock", "/locks/del", "--", "sh", "-c", "sleep 300")
    ct.wait_for(lambda: children_of(p.pid), 10)
    kids = children_of(p.pid)
    for c in contenders("/locks/del"):
        zk.delete("/locks/del/" + c)
    p.wait(20)
    err = p.stderr.read().decode()
    t.ok(p.returncode == 4 and "deleted by another client" in err,
         "lock node deleted by someone else: exit 4 with a message", err)
    t.ok(all(proc_gone(k) for k in kids), "... and the command was stopped")


@t.case
def lock_server_dies():
    p = spawn("lock", "/locks/sd", "--", "sh", "-c", "sleep 300",
              timeout_ms=2000)
    ct.wait_for(lambda: children_of(p.pid), 10)
    kids = children_of(p.pid)
    srv.kill9()
    t0 = time.monotonic()
    try:
        p.wait(20)
    except subprocess.TimeoutExpired:
        p.kill()
        p.wait()
    dt = time.monotonic() - t0
    err = p.stderr.read().decode()
    t.ok(p.returncode == 4 and "lost" in err,
         "server gone while holding: exit 4, says the lock is lost", err)
    t.ok(dt < 5, "... within a quarter of the session timeout and a margin "
         "(%.2f s)" % dt)
    t.ok(all(proc_gone(k) for k in kids), "... and the command was stopped")
    srv.start()
    ct.wait_for(lambda: zk.connected, 20)


@t.case
def status():
    rc, out, err = ctl("status")
    line = out.decode()
    t.ok(rc == 0 and line.startswith(srv.hosts + "  standalone") and
         "zxid 0x" in line and "connections" in line and "latency" in line,
         "status of a running server: one line, standalone, exit 0",
         (rc, out, err))
    rc, out, _ = ctl("status", "-v")
    t.ok(rc == 0 and b"    Mode: standalone" in out and
         b"1 of 1 serving" in out, "status -v: the srvr answer too")
    dead = dead_port()
    rc, out, _ = ctl("status", servers=dead, timeout_ms=1000)
    t.ok(rc == 4 and b"unreachable" in out, "status of a dead server: "
         "unreachable, exit 4", out)
    rc, out, _ = ctl("status", servers=",".join([srv.hosts, dead, dead_port()]),
                     timeout_ms=1000)
    t.ok(rc == 1 and len(out.splitlines()) == 3,
         "1 of 3 serving: no quorum, exit 1", out)
    rc, out, _ = ctl("status", servers=",".join([srv.hosts, srv.hosts, dead]),
                     timeout_ms=1000)
    t.ok(rc == 0, "2 of 3 serving: a quorum, exit 0", out)
    srv.kill9()
    rc, out, _ = ctl("status", timeout_ms=1000)
    t.ok(rc == 4 and b"unreachable" in out, "status after the server was "
         "killed: exit 4", out)
    srv.start()


t.run()
