#!/usr/bin/python3
"""coordfs: inotify events for changes made elsewhere, ephemeral files that
live as long as their open handle, lock directories that go with their
mount's session, and a mount that outlives its server's restart."""

import os
import signal
import subprocess
import time

import coordtest as ct
import fstest as ft

t = ct.TAP()
ft.require_fuse()
ct.require_server()
if not os.path.exists("/usr/bin/inotifywait"):
    ct.skip_all("inotifywait (inotify-tools) not installed")
srv = ct.Server().start()
a = ft.Mount(srv.hosts, "session_timeout=1000")
b = ft.Mount(srv.hosts)
zk = ct.kazoo_client(srv)
A, B = a.path, b.path


@t.case
def inotify_across_mounts():
    os.mkdir(A("/app"))
    t.ok(ct.wait_for(lambda: os.path.isdir(B("/app")), 5), "directory visible on B")
    w = ft.Watcher(B("/app"))
    t0 = time.monotonic()
    with open(A("/app/conf"), "w") as f:
        f.write("v1\n")
    t.ok(ct.wait_for(lambda: w.seen("CREATE", "conf"), 5), "IN_CREATE on B for a file made on A")
    lat = (w.times[0] - t0) * 1000 if w.times else -1
    t.diag("create on A -> inotify on B: %.1f ms (includes close and publish)" % lat)
    with open(A("/app/conf"), "w") as f:
        f.write("v2\n")
    t.ok(ct.wait_for(lambda: w.seen("MODIFY", "conf"), 5), "IN_MODIFY on B for a write on A")
    t.ok(ct.wait_for(lambda: w.seen("CLOSE_WRITE", "conf"), 5), "IN_CLOSE_WRITE too (entr, .path units)")
    def modifies():
        return len([l for l in w.poll() if l.endswith(" conf") and "MODIFY" in l.split(" ")[2]])
    ct.wait_for(lambda: False, 0.3)  # let the replays of A's writes finish
    before = modifies()
    zk.set("/app/conf", b"from zk")
    t.ok(ct.wait_for(lambda: modifies() > before, 10),
         "a ZooKeeper client's setData gives IN_MODIFY", "\n".join(w.poll()))
    zk.create("/app/zkfile", b"z")
    t.ok(ct.wait_for(lambda: w.seen("CREATE", "zkfile"), 5), "a ZooKeeper client's create gives IN_CREATE")
    zk.create("/app/zkdir", None)  # null data: a directory
    zk.create("/app/zkdir/child", b"c")
    t.ok(ct.wait_for(lambda: w.seen("CREATE,ISDIR", "zkdir"), 5), "a node with null data arrives as IN_CREATE|IN_ISDIR")
    os.unlink(A("/app/conf"))
    t.ok(ct.wait_for(lambda: w.seen("DELETE", "conf"), 5), "IN_DELETE on B for rm on A")
    zk.delete("/app/zkfile")
    t.ok(ct.wait_for(lambda: w.seen("DELETE", "zkfile"), 5), "IN_DELETE for a ZooKeeper client's delete")
    t.is_eq(open(B("/app/zkdir/child")).read(), "c", "replayed names resolve to the real nodes")
    dup = [l for l in w.poll() if l.endswith(" conf") and " CREATE" in " " + l.split(" ", 2)[2]]
    t.is_eq(len(dup), 1, "exactly one IN_CREATE for one create")
    # a local change is seen once, natively, not replayed again
    wa = ft.Watcher(A("/app"))
    with open(A("/app/local"), "w") as f:
        f.write("x")
    time.sleep(0.3)
    creates = [l for l in wa.poll() if l.endswith(" local") and "CREATE" in l]
    t.is_eq(len(creates), 1, "a local create is reported once on its own mount")
    wa.stop()
    w.stop()


@t.case
def ephemeral_files():
    os.mkdir(A("/services"))
    rc, out = ft.sh("setfattr -n user.coord.ephemeral -v 1 %s" % A("/services"))
    t.is_eq(rc, 0, "setfattr user.coord.ephemeral on a directory")
    # a service registration: the handle stays open while the service runs
    holder = subprocess.Popen(["bash", "-c", "exec 3>%s; echo 10.0.0.5:80 >&3; sleep 60" %
                               A("/services/web1")])
    ct._cleanups.append(lambda: holder.kill())
    t.ok(ct.wait_for(lambda: os.path.exists(B("/services/web1")) and
                     open(B("/services/web1")).read() == "10.0.0.5:80\n", 3),
         "content written through a handle kept open is visible elsewhere within a second")
    _, st = zk.get("/services/web1")
    t.ok(st.ephemeralOwner != 0, "the node is ephemeral")
    holder.kill()
    holder.wait()
    t0 = time.monotonic()
    t.ok(ct.wait_for(lambda: not os.path.exists(B("/services/web1")), 5),
         "kill -9 of the holder: the file disappears everywhere")
    t.diag("gone %.0f ms after kill -9" % ((time.monotonic() - t0) * 1000))
    t.is_eq(zk.exists("/services/web1"), None, "and the znode is gone")
    # a lock directory in an ephemeral dir goes with its mount's session
    rc, out = ft.sh("mkdir %s" % A("/services/lock"))
    t.is_eq(rc, 0, "mkdir a lock in the ephemeral dir")
    t.ok(zk.exists("/services/lock").ephemeralOwner != 0, "the lock is ephemeral")
    rc, out = ft.sh("mkdir %s" % B("/services/lock"))
    t.ok(rc != 0 and "File exists" in out, "held: mkdir on B says File exists", out)
    a.kill9()
    # libfuse's watchdog (fusermount3) removes it; coordfs's guardian makes
    # sure the watchdog looks only once the connection is dead (fs/main.c)
    gone = ct.wait_for(lambda: not ft.is_mounted(a.dir), 10)
    t.ok(gone, "kill -9 of coordfs leaves no wedged mount (auto_unmount)",
         None if gone else ft.sh("grep coordfs /proc/self/mounts; pgrep -a fusermount3")[1])
    t.ok(ct.wait_for(lambda: zk.exists("/services/lock") is None, 10),
         "kill -9 of mount A: its lock goes when the session expires")
    rc, out = ft.sh("mkdir %s" % B("/services/lock"))
    t.is_eq(rc, 0, "and B can take it")


@t.case
def server_restart():
    with open(B("/keep"), "w") as f:
        f.write("cached\n")
    t.ok(ct.wait_for(lambda: zk.exists("/keep") is not None, 5), "published")
    t.is_eq(open(B("/keep")).read(), "cached\n", "read while the server is up")
    srv.stop()
    t.is_eq(open(B("/keep")).read(), "cached\n", "reads keep serving the last known state")
    t0 = time.monotonic()
    rc, out = ft.sh("mkdir %s" % B("/while_down"), timeout=60)
    t.ok(rc != 0, "a write without a server fails", out)
    t.diag("the failed write took %.1f s" % (time.monotonic() - t0))
    srv.start()
    t.ok(ct.wait_for(lambda: ft.sh("mkdir %s" % B("/after"))[0] == 0, 20),
         "the mount reconnects by itself and writes work again")
    t.is_eq(open(B("/keep")).read(), "cached\n", "data intact")


t.run()
