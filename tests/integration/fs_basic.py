#!/usr/bin/python3
"""coordfs with the ordinary tools: cat, echo, ls, stat, mkdir, rmdir, rm,
mv, sed -i, cp, getfattr; two mounts of one coordd plus a kazoo client that
changes data underneath them."""

import os
import threading
import time

import coordtest as ct
import fstest as ft

t = ct.TAP()
ft.require_fuse()
ct.require_server()
srv = ct.Server().start()
a = ft.Mount(srv.hosts)
b = ft.Mount(srv.hosts)
zk = ct.kazoo_client(srv)
A, B = a.path, b.path


def read(p):
    with open(p, "rb") as f:
        return f.read()


@t.case
def files():
    rc, out = ft.sh("echo hello > %s" % A("/f1"))
    t.is_eq(rc, 0, "echo > new file")
    t.is_eq(read(A("/f1")), b"hello\n", "cat on the same mount")
    t.ok(ct.wait_for(lambda: read(B("/f1")) == b"hello\n", 5), "cat on the other mount")
    t.is_eq(zk.get("/f1")[0], b"hello\n", "a ZooKeeper client sees the content")
    ft.sh("echo world > %s" % A("/f1"))
    t.ok(ct.wait_for(lambda: read(B("/f1")) == b"world\n", 5), "overwrite seen elsewhere")
    ft.sh("echo more >> %s" % A("/f1"))
    t.is_eq(read(A("/f1")), b"world\nmore\n", "append")
    t.is_eq(os.stat(A("/f1")).st_size, 11, "size is the data length")
    zk.set("/f1", b"from zk")
    t.ok(ct.wait_for(lambda: read(A("/f1")) == b"from zk", 5),
         "a change by a ZooKeeper client reaches the mount (no stale cache)")
    t.is_eq(os.stat(A("/f1")).st_size, 7, "size follows the remote change")
    rc, out = ft.sh("printf 'a\\nb\\n' > %s && cp %s %s" % (A("/src"), A("/src"), A("/copy")))
    t.is_eq((rc, read(A("/copy"))), (0, b"a\nb\n"), "cp")
    # cp compares stat and fstat of its source: a file just written here must
    # keep its st_ino when the create reaches the server
    rc, out = ft.sh("cd %s && for i in $(seq 150); do printf 'a\\nb\\n' > cps$i && "
                    "cp cps$i cpd$i && cat cpd$i >/dev/null || exit 1; done; rm -f cps* cpd*"
                    % A("/"))
    t.is_eq((rc, out), (0, ""), "150 x (printf > new; cp new copy; cat copy) at once")
    rc, out = ft.sh("rm %s" % A("/copy"))
    t.ok(rc == 0 and not os.path.exists(A("/copy")), "rm")
    t.ok(ct.wait_for(lambda: not os.path.exists(B("/copy")), 5), "rm seen on the other mount")
    t.is_eq(zk.exists("/copy"), None, "rm deleted the znode")


@t.case
def dirs():
    rc, out = ft.sh("mkdir %s" % A("/d"))
    t.is_eq(rc, 0, "mkdir")
    t.ok(os.path.isdir(B("/d")), "directory seen on the other mount")
    data, st = zk.get("/d")
    t.ok(data in (b"", None) and st.numChildren == 0, "mkdir made a znode with no data")
    ft.sh("echo x > %s; echo y > %s" % (A("/d/x"), A("/d/y")))
    t.ok(ct.wait_for(lambda: sorted(os.listdir(B("/d"))) == ["x", "y"], 5),
         "ls lists the children (on the other mount)")
    t.is_eq(sorted(os.listdir(A("/d"))), ["x", "y"], "and at once on the writer's mount")
    rc, out = ft.sh("rmdir %s" % A("/d"))
    t.ok(rc != 0 and "Directory not empty" in out, "rmdir of a non-empty dir fails", out)
    rc, out = ft.sh("mkdir %s" % A("/d/x/sub"))
    t.ok(rc != 0, "mkdir under a file fails", out)
    rc, out = ft.sh("rm %s %s && rmdir %s" % (A("/d/x"), A("/d/y"), A("/d")))
    t.is_eq(rc, 0, "rm the files, rmdir the empty dir")
    t.is_eq(zk.exists("/d"), None, "gone from the server")
    zk.create("/zkdir/child", b"c", makepath=True)
    t.ok(ct.wait_for(lambda: os.path.isdir(A("/zkdir")), 5), "a node with children is a directory")
    t.is_eq(read(A("/zkdir/child")), b"c", "its child is a file")
    zk.set("/zkdir", b"dir data")
    t.ok(ct.wait_for(lambda: os.path.exists(A("/zkdir/.data")), 5),
         "a directory node's own data shows as .data")
    t.is_eq(read(A("/zkdir/.data")), b"dir data", "... with the node's content")


@t.case
def locks_by_mkdir():
    results = []

    def attempt(m):
        rc, out = ft.sh("mkdir %s" % m.path("/lock"))
        results.append((rc, out))

    ths = [threading.Thread(target=attempt, args=(m,)) for m in (a, b, a, b)]
    for th in ths:
        th.start()
    for th in ths:
        th.join()
    wins = [r for r in results if r[0] == 0]
    t.is_eq(len(wins), 1, "mkdir succeeds on exactly one of four concurrent tries")
    t.ok(all("File exists" in r[1] for r in results if r[0] != 0),
         "the others print File exists", results)


@t.case
def rename():
    ft.sh("echo v1 > %s" % A("/conf"))
    rc, out = ft.sh("echo v2 > %s && mv %s %s" % (A("/conf.tmp"), A("/conf.tmp"), A("/conf")))
    t.is_eq(rc, 0, "write temp then mv over the target")
    t.ok(ct.wait_for(lambda: read(B("/conf")) == b"v2\n", 5), "other mount sees the new content")
    t.is_eq(zk.exists("/conf.tmp"), None, "temp name gone")
    rc, out = ft.sh("sed -i s/v2/v3/ %s" % A("/conf"))
    t.is_eq((rc, read(A("/conf"))), (0, b"v3\n"), "sed -i")
    ft.sh("mkdir -p %s && echo k > %s" % (A("/full"), A("/full/k")))
    rc, out = ft.sh("mv %s %s" % (A("/full"), A("/full2")))
    t.ok(rc != 0 and os.path.exists(A("/full/k")), "mv of a non-empty directory fails cleanly", out)
    ft.sh("mkdir %s" % A("/empty"))
    rc, out = ft.sh("mv %s %s" % (A("/empty"), A("/empty2")))
    t.ok(rc == 0 and os.path.isdir(A("/empty2")) and not os.path.exists(A("/empty")),
         "mv of an empty directory", out)


@t.case
def rename_over_is_atomic():
    """Readers never miss a file that write-temp-then-rename tools replace:
    not on the mount that renames (the kernel already has the new entry
    when the deletion's watch event arrives), not on another mount (the
    delete and create come as two events of one transaction)."""
    ft.sh("echo r0 > %s" % A("/ratomic"))
    # the file is new: a reader on B that starts before B can see it gets
    # ENOENT rightly (close() returns before the create reaches the server)
    t.ok(ct.wait_for(lambda: read(B("/ratomic")) == b"r0\n", 5), "both mounts have the file")
    stop = threading.Event()
    misses = {A: 0, B: 0}
    reads = {A: 0, B: 0}

    def reader(M):
        while not stop.is_set():
            try:
                with open(M("/ratomic"), "rb") as f:
                    f.read()
                reads[M] += 1
            except FileNotFoundError:
                misses[M] += 1
            except OSError as e:
                # ESTALE reaching a program, say: as bad as a miss
                errors.append(repr(e))
    errors = []
    ths = [threading.Thread(target=reader, args=(M,), daemon=True) for M in (A, B)]
    for th in ths:
        th.start()
    for i in range(60):
        ft.sh("sed -i s/r%d/r%d/ %s" % (i, i + 1, A("/ratomic")))
        ft.sh("echo x%d > %s && mv %s %s" % (i, B("/ratomic.new"), B("/ratomic.new"), B("/ratomic")))
        ft.sh("echo r%d > %s" % (i + 1, A("/ratomic")))
    stop.set()
    for th in ths:
        th.join(10)
    t.diag("reads: %d on the renaming mount, %d on the other" % (reads[A], reads[B]))
    t.is_eq(misses[A], 0, "no ENOENT while sed -i and mv replace the file (mount A)")
    t.is_eq(misses[B], 0, "no ENOENT while sed -i and mv replace the file (mount B)")
    t.is_eq(errors[:5], [], "no other error either")


@t.case
def attributes():
    ft.sh("echo abc > %s" % A("/attr"))
    # close() returns before the publish reaches the server: wait for it
    t.ok(ct.wait_for(lambda: zk.exists("/attr"), 5), "published")
    rc, out = ft.sh("getfattr -d -m user.coord %s" % A("/attr"))
    _, st = zk.get("/attr")
    t.ok(rc == 0 and ("user.coord.version=\"%d\"" % st.version) in out, "getfattr shows the version", out)
    t.ok("user.coord.czxid=\"0x%x\"" % st.czxid in out, "... and czxid", out)
    i1, i2 = os.stat(A("/attr")).st_ino, os.stat(B("/attr")).st_ino
    t.is_eq(i1, i2, "st_ino is the same on both mounts")
    t.ok(os.stat(A("/attr")).st_ino != os.stat(A("/conf")).st_ino, "and differs between files")
    rc, out = ft.sh("echo x > %s" % A("/zookeeper/x"))
    t.ok(rc != 0 and "Read-only" in out, "/zookeeper is read-only", out)


@t.case
def bad_input():
    big = A("/big")
    rc, out = ft.sh("head -c 2000000 /dev/zero > %s" % big)
    t.ok(rc != 0 and "too large" in out.lower(), "writing past the data limit: EFBIG", out)
    rc, out = ft.sh("touch %s" % A("/bad\x01name"))
    t.ok(rc != 0, "a name ZooKeeper refuses: error", out)
    rc, out = ft.sh("ln %s %s" % (A("/attr"), A("/hard")))
    t.ok(rc != 0, "hard links are refused", out)
    rc, out = ft.sh("mkfifo %s" % A("/fifo"))
    t.ok(rc != 0, "special files are refused", out)
    rc, out = ft.sh("cat %s" % A("/attr"))
    t.is_eq((rc, out), (0, "abc\n"), "the mount still works")


@t.case
def atomic_replace():
    # The writer pauses between its two writes; a handle idle for
    # commit_delay (200 ms by default) publishes what it has by design, and
    # a loaded machine can stretch a 10 ms pause past that: give this
    # writer's mount a commit_delay no scheduler delay reaches.
    wm = ft.Mount(srv.hosts, "commit_delay=10000")
    path = wm.path("/atomic")
    old, new = b"OLD" * 3000 + b"\n", b"NEW" * 5000 + b"\n"
    with open(path, "wb") as f:
        f.write(old)
    # close() returns before the publish reaches the server: wait for it
    t.ok(ct.wait_for(lambda: read(B("/atomic")) == old, 5), "the first version arrives")
    seen = set()
    stop = time.monotonic() + 2

    def reader():
        while time.monotonic() < stop:
            try:
                seen.add(read(B("/atomic")))
            except OSError:
                seen.add(b"<error>")

    th = threading.Thread(target=reader)
    th.start()
    for i in range(20):
        # a writer that needs two write() calls, with a pause between them
        ft.sh("{ printf '%%s' '%s'; sleep 0.01; printf '%%s' '%s'; } > %s" %
              (new.decode()[:7000], new.decode()[7000:].strip(), path))
        ft.sh("printf '%%s' '%s' > %s" % (old.decode().strip(), path))
    th.join()
    t.ok(seen <= {old.strip(), new.strip(), old, new}, "readers saw only whole versions",
         [(len(s), s[:20], s[-20:]) for s in seen if s not in (old, new, old.strip(), new.strip())])
    wm.close()


def version(v):
    """Version v of cache_consistency's file: 24 bytes to 13 KiB (up to four pages)."""
    return ft.ver("cc", v, 24 + (v * 7919) % 13000)


@t.case
def cache_consistency():
    # Readers hammer one mount (through its page cache) while the other mount,
    # a ZooKeeper client and a writer on the readers' own mount replace the
    # file with versions of other sizes (24 bytes to 13 KiB, so up to four
    # pages).  Every read must be exactly one whole version: no old pages
    # with a new size, no new pages cut to an old size, no pages of two
    # versions, no empty intermediate.
    # own mounts: their writers pause between write() calls, which on a loaded
    # machine may outlast the default commit_delay and publish half a version
    # by design (see atomic_replace)
    wm = ft.Mount(srv.hosts, "commit_delay=10000")
    rm = ft.Mount(srv.hosts, "commit_delay=10000")
    path = "/torn"
    zk.create(path, version(0))
    t.ok(ct.wait_for(lambda: read(rm.path(path)) == version(0), 5), "the first version arrives")
    secs = 6.0
    counter = [1]
    lock = threading.Lock()
    stop = time.monotonic() + secs

    def next_version():
        with lock:
            counter[0] += 1
            return counter[0]

    def zk_writer():
        while time.monotonic() < stop:
            zk.set(path, version(next_version()))
            time.sleep(0.002)

    def mount_writer(m, pause):
        while time.monotonic() < stop:
            v = next_version()
            data = version(v)
            with open(m.path(path), "wb") as f:
                if v % 3 == 0:
                    # two write() calls: the first one alone is never a version
                    f.write(data[:len(data) // 2])
                    f.flush()
                    time.sleep(0.001)
                    f.write(data[len(data) // 2:])
                else:
                    f.write(data)
            time.sleep(pause)

    readers = ft.start_readers(rm.path(path), secs, ["whole", "cat", "small", "stat", "whole", "cat"])
    writers = [threading.Thread(target=zk_writer),
               threading.Thread(target=mount_writer, args=(wm, 0.002)),
               threading.Thread(target=mount_writer, args=(rm, 0.02))]
    for w in writers:
        w.start()
    for w in writers:
        w.join()
    total, bad, versions, problems = ft.reap_readers(readers)
    t.diag("%d reads, %d versions written, versions seen per reader: %s" %
           (total, counter[0], versions))
    t.is_eq(bad, 0, "every read is one whole version (%d reads)" % total)
    if problems:
        t.diag("\n".join(problems[:20]))
    t.ok(min(versions) > 3, "the readers saw the file change", versions)
    # (a publish of mount A's last close may still be on its way: compare
    # with what the server has each time)
    t.ok(ct.wait_for(lambda: read(rm.path(path)) == read(wm.path(path)) == zk.get(path)[0], 5),
         "both mounts end at the last version")
    wm.close()
    rm.close()


@t.case
def owner_and_mode_options():
    m = ft.Mount(srv.hosts, "uid=1234,gid=4321,umask=027")
    ft.sh("mkdir %s && echo x > %s" % (m.path("/perm"), m.path("/perm/f")))
    st_d, st_f = os.stat(m.path("/perm")), os.stat(m.path("/perm/f"))
    t.is_eq((st_f.st_uid, st_f.st_gid, oct(st_f.st_mode & 0o777)), (1234, 4321, "0o640"),
            "uid=, gid=, umask= set a file's owner and mode")
    t.is_eq(oct(st_d.st_mode & 0o777), "0o750", "... and a directory's")
    m.close()


@t.case
def read_your_writes():
    # the writer's own mount serves what it just wrote, page cache or not
    # (with another reader hammering the same file, which once let an
    # older publish's reply overwrite newer local content)
    rc, out = ft.sh("(while :; do cat %s >/dev/null 2>&1; done) & bg=$!; "
                    "for i in $(seq 300); do echo v$i > %s; [ \"$(cat %s)\" = v$i ] || "
                    "echo MISMATCH $i; done; kill $bg" % (A("/ryw"), A("/ryw"), A("/ryw")),
                    timeout=120)
    t.ok(rc == 0 and "MISMATCH" not in out,
         "300 x (echo vN > f; cat f) on one mount, with a concurrent reader", out[:300])
    # and a reader on the other mount converges to the last version
    t.ok(ct.wait_for(lambda: read(B("/ryw")) == b"v300\n", 5), "the other mount ends at v300")


t.run()
