#!/usr/bin/python3
"""fs_failover: a coordfs mount with all three servers of an ensemble in
its server list survives kill -9 of the server it is connected to.

Round after round (each time the server it failed over to is killed; at
least twice, and until one round killed the leader):
  * reads keep serving at once;
  * writes succeed again after the failover (and reach the ensemble);
  * an ephemeral file held open by a process survives (the mount's
    session moved to another server, same session id, well past the
    session timeout);
  * inotify events for changes made by other clients keep arriving;
and finally the holder's exit still removes its ephemeral file everywhere.
Which server the mount is connected to is read from the socket table
(ss -tnp: coordfs's established TCP connection to a client port).

coordfs is a plain ZooKeeper client, so this runs against a ZooKeeper
ensemble too (COORD_SERVER=zookeeper).  Needs root, /dev/fuse and
inotifywait (SKIP otherwise).
"""

import os
import re
import subprocess
import sys
import time

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import coordtest as ct                                        # noqa: E402
import fstest as ft                                           # noqa: E402
import cluster as cl                                          # noqa: E402

t = ct.TAP()
ft.require_fuse()
ct.require_server()
if not os.path.exists("/usr/bin/inotifywait"):
    ct.skip_all("inotifywait (inotify-tools) not installed")
if not os.path.exists("/usr/bin/ss") and not os.path.exists("/bin/ss"):
    ct.skip_all("ss (iproute2) not installed")

SESSION_MS = 4000
C = cl.Cluster(3)
C.start()
t.diag("%s ensemble up: modes %r" % (C.kind, C.modes()))
m = ft.Mount(C.connect_string(), "session_timeout=%d" % SESSION_MS)
M = m.path
zk = C.client(None)


def connected_to():
    """Indexes of the servers coordfs has an established connection to."""
    out = subprocess.run(["ss", "-Htnp", "state", "established"],
                         stdout=subprocess.PIPE, text=True).stdout
    ports = {nd.port: nd.idx for nd in C.nodes}
    found = set()
    for line in out.splitlines():
        if "pid=%d," % m.proc.pid not in line:
            continue
        addrs = re.findall(r"127\.0\.0\.1:(\d+)", line)
        if len(addrs) >= 2 and int(addrs[1]) in ports:
            found.add(ports[int(addrs[1])])
    return sorted(found)


def write(path, data):
    """Write and fsync: coordfs publishes at fsync and reports the outcome
    (the publish at the last close happens after close() returned)."""
    try:
        with open(path, "w") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        return True
    except OSError:
        return False


def read(path):
    with open(path) as f:
        return f.read()


@t.case
def setup():
    os.mkdir(M("/app"))
    t.ok(write(M("/app/conf"), "v0\n"), "a file written through the mount")
    os.mkdir(M("/svc"))
    rc, out = ft.sh("setfattr -n user.coord.ephemeral -v 1 %s" % M("/svc"))
    t.is_eq(rc, 0, "an ephemeral directory")
    global holder, owner, w
    holder = subprocess.Popen(["bash", "-c", "exec 3>%s; echo 10.0.0.5:80 "
                               ">&3; sleep 120" % M("/svc/web1")])
    ct._cleanups.append(lambda: holder.kill())
    st = C.wait_for(lambda: zk.exists("/svc/web1"), 5)
    t.ok(st and st.ephemeralOwner != 0, "a process holds an ephemeral file "
         "open")
    owner = st.ephemeralOwner if st else None
    t.diag("mount session %#x" % (owner or 0))
    w = ft.Watcher(M("/app"))
    zk.create("/app/before", b"b")
    t.ok(C.wait_for(lambda: w.seen("CREATE", "before"), 5),
         "inotify sees a create made by another client")


def failover(round_no):
    conn = C.wait_for(connected_to, 10)
    t.ok(conn and len(conn) == 1, "round %d: the mount is connected to one "
         "server (%r)" % (round_no, conn))
    if not conn:
        return
    victim = conn[0]
    role = C.mode(victim)
    t0 = time.monotonic()
    C.kill9(victim)
    t.diag("round %d: killed server %d (%s), the mount's server" %
           (round_no, victim + 1, role))
    t.is_eq(read(M("/app/conf")), "v%d\n" % (round_no - 1),
            "round %d: reads serve right after the kill" % round_no)
    ok = C.wait_for(lambda: write(M("/app/conf"), "v%d\n" % round_no), 30,
                     0.1)
    t.ok(ok, "round %d: a write (fsync'd) succeeds after the failover" %
         round_no)
    t.diag("round %d: first successful write %.2f s after the kill" %
           (round_no, time.monotonic() - t0))
    zk.sync("/app/conf")
    t.is_eq(zk.get("/app/conf")[0], ("v%d\n" % round_no).encode(),
            "round %d: and it reached the ensemble" % round_no)
    now = C.wait_for(connected_to, 10)
    t.ok(now and victim not in now, "round %d: the mount is now connected "
         "to server %s" % (round_no, now and now[0] + 1))
    name = "after%d" % round_no
    zk.create("/app/" + name, b"x")
    t.ok(C.wait_for(lambda: w.seen("CREATE", name), 10),
         "round %d: inotify still sees creates made by another client" %
         round_no, "\n".join(w.poll()))
    zk.set("/app/before", ("r%d" % round_no).encode())
    t.ok(C.wait_for(lambda: len([l for l in w.poll()
                                  if l.endswith(" before") and
                                  "MODIFY" in l.split(" ")[2].split(",")])
                     >= round_no, 10),
         "round %d: and setData as IN_MODIFY" % round_no, "\n".join(w.poll()))
    # well past the session timeout: the session must have moved, not died
    rest = SESSION_MS / 1000.0 + 1.0 - (time.monotonic() - t0)
    if rest > 0:
        time.sleep(rest)
    st = zk.exists("/svc/web1")
    t.ok(st is not None and st.ephemeralOwner == owner,
         "round %d: the held-open ephemeral file survives (same session, "
         "%.1f s after the kill)" % (round_no, time.monotonic() - t0))
    t.is_eq(read(M("/svc/web1")), "10.0.0.5:80\n",
            "round %d: and reads back through the mount" % round_no)
    C.start(victim, wait=False)
    t.ok(C.wait_stable(60) is not None, "round %d: server %d back" %
         (round_no, victim + 1))
    return role


@t.case
def failovers():
    # at least two rounds, and on until the killed server was the leader
    # (the mount moves along its server list, so it gets there)
    killed_leader = False
    r = 1
    while r <= 2 or (not killed_leader and r <= 4):
        killed_leader |= failover(r) == "leader"
        r += 1
    t.ok(killed_leader, "the mount's server was the leader in one round")
    if t.failed:
        m.log.flush()
        with open(m.dir + ".log", errors="replace") as f:
            t.diag("coordfs log (tail):\n" + f.read()[-4000:])
        t.diag(C.log_tails(800))


@t.case
def holder_exit():
    holder.kill()
    holder.wait()
    t.ok(C.wait_for(lambda: zk.exists("/svc/web1") is None, 10),
         "the holder exits: its ephemeral file is removed on the ensemble")
    t.ok(C.wait_for(lambda: not os.path.exists(M("/svc/web1")), 10),
         "and from the mount")
    os.mkdir(M("/app/end"))
    zk.sync("/app")
    t.ok(zk.exists("/app/end") is not None, "the mount still writes")


@t.case
def no_crashes():
    C.tap_no_crashes(t)


t.run()
