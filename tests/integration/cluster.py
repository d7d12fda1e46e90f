#!/usr/bin/python3
"""cluster -- multi-server harness for the replication tests (cluster_*.py).

Built on coordtest (TAP, wait_for, Raw, fourlw, cleanup).  Provides

  * Cluster(n): n servers (coordd, or Apache ZooKeeper 3.8 with
    COORD_SERVER=zookeeper), each with its own zoo.cfg and dataDir/myid in a
    temporary directory, configured exactly as an Apache ZooKeeper ensemble:

        tickTime=200  initLimit=10  syncLimit=5
        dataDir=/tmp/cluster.XXXX/sN/data      (holds myid: "N\\n")
        clientPort=P  clientPortAddress=HOST
        minSessionTimeout=400  maxSessionTimeout=4000  maxClientCnxns=200
        4lw.commands.whitelist=*
        admin.enableServer=false        (coordd ignores it with a warning)
        server.1=HOST1:QUORUMPORT1:ELECTIONPORT1
        ...

    Server i (0-based in this API) has myid i+1.  On loopback every server
    has its own three free ports on 127.0.0.1; in network namespaces (NetNS)
    every server has its own address 10.77.0.(i+1) and the same ports
    (2181/2888/3888).  start/stop (SIGTERM)/kill9/restart/freeze (SIGSTOP)/
    thaw (SIGCONT) server i; mode(i) from the four-letter word srvr
    ("leader", "follower", "observer", "standalone", "looking" for "This
    ZooKeeper instance is not currently serving requests", None when there
    is no answer); wait_stable() (every running server serving, exactly one
    leader); connect_string(); client(i or [i, j, ...]) (a started kazoo
    client); dump(i) (the whole tree, read through server i after a sync)
    and wait_all_equal(); crashes() (server processes that exited although
    the harness did not stop them, with their exit status: -9 = SIGKILL
    from someone else); wait_for() (gives up at once when no server runs).

  * ChildSession: a kazoo client in a child process that holds a session
    and an ephemeral node, to be SIGKILLed (a client that really vanishes).

  * NetNS: each server in a network namespace of its own, on a bridge that
    lives in a private "router" namespace; the test process moves itself
    (only its network namespace, with setns(2)) into a "client" namespace on
    the same bridge, so kazoo clients in this process reach every server
    directly.  The host's own interfaces are never touched.  Partitions are
    nftables rules (DROP, not reject) inside the node namespaces; clients are
    never cut off.  NetNS.unavailable() says why it cannot be used here.

  * Load: writer threads, each with its own kazoo client, creating unique
    nodes and bumping a counter; every operation is recorded with its
    invoke/return time and outcome (ok / fail / info = unknown), so a test
    can check that no acknowledged write is lost.

Timings: coordd and ZooKeeper both run with tickTime 200 ms, initLimit 10,
syncLimit 5 (a silent leader is given up after ~1 s); session timeouts are
negotiated between 2 and 20 ticks (0.4 .. 4 s) unless a test says otherwise.
CLUSTER_TICK overrides the tick.  ZooKeeper additionally gets
-Dzookeeper.cnxTimeout=1000 (election connections to an unreachable peer
give up after 1 s instead of 5 s).

COORDTEST_KEEP=1 keeps the servers' directories (cfg, data, server.log).
"""

import ctypes
import os
import random
import re
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import coordtest as ct                                        # noqa: E402

KIND = ct.server_kind()
TICK = int(os.environ.get("CLUSTER_TICK", "200"))
ZK_MAIN = "org.apache.zookeeper.server.quorum.QuorumPeerMain"



# --------------------------------------------------------------------------
# network namespaces
# --------------------------------------------------------------------------

def _run(cmd, input=None, check=True):
    p = subprocess.run(cmd, input=input, stdout=subprocess.PIPE,
                       stderr=subprocess.STDOUT, text=True)
    if check and p.returncode != 0:
        raise RuntimeError("%s: exit %d: %s" % (" ".join(cmd), p.returncode,
                                                p.stdout.strip()))
    return p.returncode, p.stdout


_CLONE_NEWNET = 0x40000000


def _setns(path):
    libc = ctypes.CDLL(None, use_errno=True)
    fd = os.open(path, os.O_RDONLY)
    try:
        if libc.setns(fd, _CLONE_NEWNET) != 0:
            e = ctypes.get_errno()
            raise OSError(e, "setns(%s): %s" % (path, os.strerror(e)))
    finally:
        os.close(fd)


class NetNS:
    """Namespaces PREFIXr (router: bridge br0), PREFIXn1..PREFIXnN (servers,
    eth0 = 10.77.0.N/24) and PREFIXc (test clients, 10.77.0.100/24).  The
    subnet exists only inside these namespaces, so it may be the same in
    every run; the names are unique per run (pid + random)."""

    NET = "10.77.0."
    CLIENT_ADDR = NET + "100"
    NAME_RE = re.compile(r"^cft(\d+)x[0-9a-f]{4}[rcn]\d*$")

    @staticmethod
    def unavailable():
        """None if namespaces + nftables can be used here, else the reason."""
        if os.geteuid() != 0:
            return "network namespaces need root"
        if not shutil.which("ip"):
            return "iproute2 (ip) not installed"
        if not shutil.which("nft"):
            return "nft not installed (apt-get install nftables)"
        probe = "cft%dx%04xp" % (os.getpid(), random.randrange(1 << 16))
        rc, out = _run(["ip", "netns", "add", probe], check=False)
        if rc != 0:
            return "ip netns add failed: %s" % out.strip()
        try:
            rc, out = _run(["ip", "netns", "exec", probe, "nft", "add",
                            "table", "inet", "probe"], check=False)
            if rc != 0:
                return "nftables does not work in a namespace: %s" % \
                    out.strip()
        finally:
            _run(["ip", "netns", "del", probe], check=False)
        return None

    def __init__(self, n):
        self.n = n
        self.prefix = "cft%dx%04x" % (os.getpid(), random.randrange(1 << 16))
        self.router = self.prefix + "r"
        self.client = self.prefix + "c"
        self.nodes = [self.prefix + "n%d" % (i + 1) for i in range(n)]
        self.created = []
        self.entered = False
        self.cut = set()         # node indexes carrying partition rules

    def addr(self, i):
        return self.NET + str(i + 1)

    @classmethod
    def reap_stale(cls):
        """Delete namespaces left behind by earlier runs of these tests whose
        process is gone (a run killed with SIGKILL cannot clean up)."""
        rc, out = _run(["ip", "netns", "list"], check=False)
        for line in out.splitlines():
            name = line.split()[0] if line.split() else ""
            m = cls.NAME_RE.match(name)
            if m and not os.path.exists("/proc/%s" % m.group(1)):
                _run(["ip", "netns", "del", name], check=False)

    def setup(self):
        self.reap_stale()
        ct._cleanups.append(self.cleanup)
        r = self.router
        _run(["ip", "netns", "add", r])
        self.created.append(r)
        _run(["ip", "-n", r, "link", "set", "lo", "up"])
        _run(["ip", "-n", r, "link", "add", "br0", "type", "bridge"])
        _run(["ip", "-n", r, "link", "set", "br0", "up"])
        members = [(ns, self.addr(i), "v%d" % (i + 1))
                   for i, ns in enumerate(self.nodes)]
        members.append((self.client, self.CLIENT_ADDR, "vc"))
        for ns, addr, veth in members:
            _run(["ip", "netns", "add", ns])
            self.created.append(ns)
            _run(["ip", "-n", ns, "link", "set", "lo", "up"])
            _run(["ip", "-n", r, "link", "add", veth, "type", "veth", "peer",
                  "name", "eth0", "netns", ns])
            _run(["ip", "-n", r, "link", "set", veth, "master", "br0", "up"])
            _run(["ip", "-n", ns, "addr", "add", addr + "/24", "dev",
                  "eth0"])
            _run(["ip", "-n", ns, "link", "set", "eth0", "up"])
        return self

    def enter_client(self):
        """Move this process's main thread (and every thread it starts from
        now on: kazoo's) into the client namespace."""
        _setns("/run/netns/" + self.client)
        self.entered = True

    def exec_prefix(self, i):
        return ["ip", "netns", "exec", self.nodes[i]]

    def _rules(self, i, blocked):
        ns = self.nodes[i]
        if not blocked:
            script = "table inet coordpart\ndelete table inet coordpart\n"
            self.cut.discard(i)
        else:
            s = ", ".join(self.addr(j) for j in sorted(blocked))
            script = ("table inet coordpart\n"
                      "delete table inet coordpart\n"
                      "table inet coordpart {\n"
                      " chain in { type filter hook input priority 0;"
                      " policy accept; ip saddr { %s } drop; }\n"
                      " chain out { type filter hook output priority 0;"
                      " policy accept; ip daddr { %s } drop; }\n"
                      "}\n" % (s, s))
            self.cut.add(i)
        _run(["ip", "netns", "exec", ns, "nft", "-f", "-"], input=script)

    def partition(self, *groups):
        """Cut the servers into groups (lists of indexes): servers in
        different groups cannot exchange a packet (DROP both ways).  Servers
        not named keep talking to everyone.  Clients reach every server."""
        member = {}
        for g, grp in enumerate(groups):
            for i in grp:
                member[i] = g
        for i in range(self.n):
            if i in member:
                blocked = [j for j in member if member[j] != member[i]]
            else:
                blocked = []
            self._rules(i, blocked)

    def isolate(self, i):
        self.partition([i], [j for j in range(self.n) if j != i])

    def heal(self):
        for i in range(self.n):
            self._rules(i, [])

    def rules(self, i):
        return _run(["ip", "netns", "exec", self.nodes[i], "nft", "list",
                     "ruleset"], check=False)[1]

    def cleanup(self):
        for ns in reversed(self.created):
            # anything still running in a server's or the router's
            # namespace was started by us (this process itself lives in the
            # client namespace, and its children are reaped by their own
            # cleanups)
            if ns != self.client:
                rc, out = _run(["ip", "netns", "pids", ns], check=False)
                for pid in out.split():
                    if pid.isdigit() and int(pid) != os.getpid():
                        try:
                            os.kill(int(pid), signal.SIGKILL)
                        except OSError:
                            pass
            _run(["ip", "netns", "del", ns], check=False)
        self.created = []


# --------------------------------------------------------------------------
# the cluster
# --------------------------------------------------------------------------

class Node:
    def __init__(self, cluster, idx, host, client_port, quorum_port,
                 election_port):
        self.cluster = cluster
        self.idx = idx
        self.myid = idx + 1
        self.host = host
        self.port = client_port
        self.quorum_port = quorum_port
        self.election_port = election_port
        self.dir = os.path.join(cluster.dir, "s%d" % self.myid)
        self.datadir = os.path.join(self.dir, "data")
        self.cfg = os.path.join(self.dir, "zoo.cfg")
        self.log = os.path.join(self.dir, "server.log")
        self.proc = None
        self.frozen = False
        self.starts = 0
        self.exits = []          # (start number, status) of exits we did not cause
        os.makedirs(self.datadir)
        with open(os.path.join(self.datadir, "myid"), "w") as f:
            f.write("%d\n" % self.myid)

    @property
    def hosts(self):
        return "%s:%d" % (self.host, self.port)

    def alive(self):
        if self.proc is None:
            return False
        if self.proc.poll() is None:
            return True
        # exited although nobody here stopped it: a crash
        self.exits.append((self.starts, self.proc.returncode))
        self.proc = None
        return False

    def log_text(self):
        try:
            with open(self.log, "rb") as f:
                return f.read().decode("utf-8", "replace")
        except OSError:
            return ""


class Cluster:
    """n servers forming one ensemble; see the module docstring."""

    def __init__(self, n=3, tick=None, init_limit=10, sync_limit=5,
                 net=None, cfg=None, props=None, jvm_props=None,
                 min_session_timeout=None, max_session_timeout=None):
        self.kind = KIND
        self.n = n
        self.tick = tick or TICK
        self.init_limit = init_limit
        self.sync_limit = sync_limit
        self.net = net
        self.dir = tempfile.mkdtemp(prefix="cluster.")
        if os.environ.get("COORDTEST_KEEP"):
            print("# cluster dir (kept): %s" % self.dir, flush=True)
        else:
            ct._cleanups.append(lambda: shutil.rmtree(self.dir,
                                                      ignore_errors=True))
        self.min_session_timeout = min_session_timeout or 2 * self.tick
        self.max_session_timeout = max_session_timeout or 20 * self.tick
        self.props = dict(props or {})
        self.jvm_props = {"zookeeper.admin.enableServer": "false",
                          "zookeeper.cnxTimeout": "1000"}
        self.jvm_props.update(jvm_props or {})
        used = set()

        def port():
            while True:
                p = ct.free_port()
                if p not in used:
                    used.add(p)
                    return p
        self.nodes = []
        for i in range(n):
            if net is not None:
                self.nodes.append(Node(self, i, net.addr(i), 2181, 2888,
                                       3888))
            else:
                self.nodes.append(Node(self, i, "127.0.0.1", port(), port(),
                                       port()))
        self.extra_cfg = dict(cfg or {})
        for nd in self.nodes:
            self._write_cfg(nd)
        ct._cleanups.append(self._reap_all)

    # -- configuration --
    def cfg_keys(self, nd):
        keys = {
            "tickTime": str(self.tick),
            "initLimit": str(self.init_limit),
            "syncLimit": str(self.sync_limit),
            "dataDir": nd.datadir,
            "clientPort": str(nd.port),
            "clientPortAddress": nd.host,
            "minSessionTimeout": str(self.min_session_timeout),
            "maxSessionTimeout": str(self.max_session_timeout),
            "maxClientCnxns": "200",
            "4lw.commands.whitelist": "*",
            "admin.enableServer": "false",
        }
        keys.update(self.extra_cfg)
        return keys

    def _write_cfg(self, nd):
        with open(nd.cfg + ".tmp", "w") as f:
            for k, v in self.cfg_keys(nd).items():
                f.write("%s=%s\n" % (k, v))
            for k, v in self.props.items():
                f.write("%s=%s\n" % (k, v))
            for o in self.nodes:
                f.write("server.%d=%s:%d:%d\n" % (o.myid, o.host,
                                                  o.quorum_port,
                                                  o.election_port))
        os.rename(nd.cfg + ".tmp", nd.cfg)

    def _cmd(self, nd):
        if self.kind == "coordd":
            cmd = [ct.coordd_path(), "-c", nd.cfg]
        else:
            cmd = ["java", "-Xmx256m", "-XX:+UseSerialGC",
                   "-XX:TieredStopAtLevel=1", "-Xshare:auto"]
            cmd += ["-D%s=%s" % kv for kv in self.jvm_props.items()]
            cmd += ["-D%s=%s" % kv for kv in self.props.items()]
            cmd += ["-cp", ct.ZK_CLASSPATH, ZK_MAIN, nd.cfg]
        if self.net is not None:
            # ip netns exec execs the command itself: the pid is the server's
            cmd = self.net.exec_prefix(nd.idx) + cmd
        return cmd

    # -- processes --
    def start(self, i=None, wait=True, timeout=60):
        """Start server i (all servers if i is None).  With wait, waits until
        every running server serves with one leader (wait_stable)."""
        idxs = range(self.n) if i is None else [i]
        for j in idxs:
            nd = self.nodes[j]
            if nd.alive():
                continue
            nd.starts += 1
            with open(nd.log, "ab") as logf:
                logf.write(("=== start %d (%s) ===\n" %
                            (nd.starts, time.strftime("%T"))).encode())
                logf.flush()
                nd.proc = subprocess.Popen(self._cmd(nd), stdout=logf,
                                           stderr=logf, cwd=nd.dir,
                                           stdin=subprocess.DEVNULL)
            nd.frozen = False
        if wait:
            if self.wait_stable(timeout) is None:
                raise RuntimeError("no stable ensemble (waited up to %d s): "
                                   "modes %r\n"
                                   "%s" % (timeout, self.modes(),
                                           self.log_tails()))
        return self

    def signal(self, i, sig):
        nd = self.nodes[i]
        if nd.alive():
            os.kill(nd.proc.pid, sig)

    def kill9(self, i):
        nd = self.nodes[i]
        nd.alive()                      # records an exit of its own first
        if nd.proc is not None:
            if nd.proc.poll() is None:
                os.kill(nd.proc.pid, signal.SIGKILL)
            nd.proc.wait()
            nd.proc = None
        nd.frozen = False

    def stop(self, i, timeout=20):
        """SIGTERM (after SIGCONT if frozen); SIGKILL if it lingers."""
        nd = self.nodes[i]
        nd.alive()                      # records an exit of its own first
        if nd.proc is None:
            return
        if nd.proc.poll() is None:
            if nd.frozen:
                os.kill(nd.proc.pid, signal.SIGCONT)
            nd.proc.terminate()
            try:
                nd.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                nd.proc.kill()
                nd.proc.wait()
        nd.proc = None
        nd.frozen = False

    def restart(self, i, wait=True, timeout=60):
        self.kill9(i)
        return self.start(i, wait=wait, timeout=timeout)

    def freeze(self, i):
        """SIGSTOP: a hung replica (sockets stay open, nothing answers)."""
        self.signal(i, signal.SIGSTOP)
        self.nodes[i].frozen = True

    def thaw(self, i):
        self.signal(i, signal.SIGCONT)
        self.nodes[i].frozen = False

    def kill_all(self):
        for i in range(self.n):
            self.kill9(i)

    def _reap_all(self):
        for nd in self.nodes:
            if nd.proc is not None and nd.proc.poll() is None:
                nd.proc.kill()
                nd.proc.wait()
            nd.proc = None

    def running(self):
        """Indexes of servers whose process runs and is not frozen."""
        return [nd.idx for nd in self.nodes if nd.alive() and not nd.frozen]

    def crashes(self):
        """[(myid, start number, exit status)] of every server process that
        exited without being stopped or killed by this harness (a negative
        status is the signal that ended it)."""
        for nd in self.nodes:
            nd.alive()
        return [(nd.myid, k, st) for nd in self.nodes for k, st in nd.exits]

    def tap_no_crashes(self, t):
        """The TAP check every cluster test ends with."""
        t.is_eq(self.crashes(), [], "no server exited by itself "
                "[(myid, start, status)]")
        if self.crashes():
            t.diag(self.log_tails(3000))

    def log_tails(self, n=1500):
        out = []
        for nd in self.nodes:
            state = "running" if nd.alive() else "down"
            if nd.exits:
                state += ", exited by itself: %r" % nd.exits
            out.append("--- server %d (%s) log tail:\n%s" %
                       (nd.myid, state, nd.log_text()[-n:]))
        return "\n".join(out)

    # -- four-letter words --
    def fourlw(self, i, cmd, timeout=2):
        nd = self.nodes[i]
        return ct.fourlw(nd.port, cmd, timeout, host=nd.host)

    def srvr(self, i, timeout=2):
        try:
            return self.fourlw(i, "srvr", timeout)
        except (OSError, socket.timeout):
            return None

    @staticmethod
    def parse_mode(out):
        if out is None:
            return None
        if "not currently serving requests" in out:
            return "looking"
        m = re.search(r"^Mode: (\w+)", out, re.M)
        return m.group(1) if m else None

    def mode(self, i, timeout=1):
        if not self.nodes[i].alive() or self.nodes[i].frozen:
            return None
        return self.parse_mode(self.srvr(i, timeout))

    def modes(self):
        return [self.mode(i) for i in range(self.n)]

    def zxid(self, i):
        out = self.srvr(i)
        m = re.search(r"^Zxid: (0x[0-9a-fA-F]+)", out or "", re.M)
        return int(m.group(1), 16) if m else None

    def leader(self, among=None):
        """Index of a server (among the given, default all running ones)
        that says Mode: leader, else None."""
        for i in (self.running() if among is None else among):
            if self.mode(i) == "leader":
                return i
        return None

    def wait_leader(self, among=None, timeout=30):
        """Wait until a server (among those given) says Mode: leader;
        returns its index, or None (at once if no server runs at all)."""
        def probe():
            if self._none_running():
                return -1
            i = self.leader(among)
            return None if i is None else i + 1
        r = ct.wait_for(probe, timeout, 0.02)
        return r - 1 if r and r > 0 else None

    def stable(self, among=None):
        idxs = self.running() if among is None else among
        modes = [self.mode(i) for i in idxs]
        if modes.count("leader") != 1:
            return None
        if any(m not in ("leader", "follower", "observer") for m in modes):
            return None
        return idxs[modes.index("leader")] + 1   # truthy even for index 0

    def _none_running(self):
        return not self.running() and not any(nd.frozen for nd in self.nodes)

    def wait_for(self, pred, timeout=10.0, interval=0.02):
        """coordtest.wait_for that gives up at once when no server of the
        cluster runs (all crashed or killed): nothing can change then."""
        return ct.wait_for(pred, timeout, interval, give_up=self._none_running)

    def wait_stable(self, timeout=60, among=None):
        """Wait until every running server (or those given) serves and
        exactly one of them leads; returns the leader's index or None
        (at once if no server runs at all)."""
        r = ct.wait_for(lambda: self.stable(among) or
                        (self._none_running() and -1), timeout, 0.05)
        return r - 1 if r and r > 0 else None

    def wait_serving(self, i, timeout=30):
        return self.wait_for(lambda: self.mode(i) in ("leader", "follower",
                                                    "observer"),
                           timeout, 0.05)

    # -- clients --
    def connect_string(self, idxs=None, rotate=0):
        idxs = list(range(self.n)) if idxs is None else list(idxs)
        if rotate:
            rotate %= len(idxs)
            idxs = idxs[rotate:] + idxs[:rotate]
        return ",".join(self.nodes[i].hosts for i in idxs)

    def client(self, idxs=None, timeout=4.0, start=True, randomize=False,
               **kw):
        """A kazoo client to server idxs (an index, a list, None = all, in
        that order unless randomize).  A single server is listed twice (see
        coordtest.kazoo_client: kazoo waits timeout/len(hosts) for a
        ConnectResponse)."""
        import logging
        from kazoo.client import KazooClient
        if os.environ.get("COORDTEST_DEBUG"):
            logging.basicConfig(level=logging.INFO, stream=sys.stderr,
                                format="%(asctime)s %(threadName)s "
                                       "%(name)s %(message)s")
        else:
            logging.getLogger("kazoo").setLevel(logging.CRITICAL)
        if self._none_running():
            raise RuntimeError("no server of the cluster is running")
        if isinstance(idxs, int):
            idxs = [idxs, idxs]
        kw.setdefault("connection_retry", dict(max_tries=-1, delay=0.05,
                                               backoff=1.5, max_delay=0.5))
        c = KazooClient(hosts=self.connect_string(idxs), timeout=timeout,
                        randomize_hosts=randomize, **kw)
        ct._cleanups.append(lambda: ct._stop_quietly(c))
        if start:
            c.start(timeout=30)
        return c

    def raw(self, i, **kw):
        nd = self.nodes[i]
        kw.setdefault("io_timeout", 5)
        return ct.Raw(nd.port, host=nd.host, **kw)

    # -- whole-tree comparison --
    def dump(self, i, timeout=30, skip=("/zookeeper",)):
        """{path: (data, version, cversion, aversion, czxid, mzxid, pzxid,
        ephemeralOwner, numChildren)} of every node, read through server i
        after sync("/") (pipelined raw requests).  /zookeeper is skipped."""
        r = self.raw(i, timeout_ms=self.max_session_timeout,
                     io_timeout=timeout)
        try:
            err, _ = r.sync("/")
            if err:
                raise RuntimeError("sync: error %d" % err)
            return _walk(r, skip)
        finally:
            try:
                r.close()
            except Exception:                                 # noqa
                pass

    def dumps(self, idxs=None):
        idxs = self.running() if idxs is None else idxs
        out = {}
        for i in idxs:
            try:
                out[i] = self.dump(i)
            except Exception as e:                            # noqa
                out[i] = e
        return out

    def wait_all_equal(self, idxs=None, timeout=60):
        """Poll until the trees of every running server (or those given) are
        identical.  Returns (True, tree) or (False, description)."""
        deadline = time.monotonic() + timeout
        last = "no dump taken"
        while True:
            ds = self.dumps(idxs)
            bad = [i for i, d in ds.items() if isinstance(d, Exception)]
            if not bad and ds:
                trees = list(ds.values())
                if all(t == trees[0] for t in trees[1:]):
                    return True, trees[0]
                last = describe_diff(ds)
            elif bad:
                last = "; ".join("server %d: %r" % (self.nodes[i].myid,
                                                    ds[i]) for i in bad)
            if time.monotonic() >= deadline or self._none_running():
                return False, last
            time.sleep(0.2)


def _walk(r, skip, window=200):
    """Breadth-first getData + getChildren of the whole tree over one Raw
    connection, up to `window` requests in flight."""
    tree = {}
    queue = ["/"]
    pending = {}                      # xid -> (kind, path)
    from collections import deque
    todo = deque()                    # (kind, path) not yet sent

    def send(kind, path):
        r.xid += 1
        xid = r.xid
        op = ct.OP["getData"] if kind == "d" else ct.OP["getChildren"]
        r._send_frame(struct.pack(">ii", xid, op) +
                      ct.Enc().str(path).bool(False).bytes())
        pending[xid] = (kind, path)

    for p in queue:
        todo.append(("d", p))
        todo.append(("c", p))
    while todo or pending:
        while todo and len(pending) < window:
            send(*todo.popleft())
        rep = r._read_one()
        if rep is None or rep.xid < 0:
            continue
        kind, path = pending.pop(rep.xid)
        if rep.err == ct.ERR["NONODE"]:
            continue                  # deleted meanwhile (dumps compare)
        if rep.err:
            raise RuntimeError("%s %s: error %d" % (kind, path, rep.err))
        d = rep.dec()
        if kind == "d":
            data = d.buf()
            st = d.stat()
            tree[path] = (data, st.version, st.cversion, st.aversion,
                          st.czxid, st.mzxid, st.pzxid, st.ephemeralOwner,
                          st.numChildren)
        else:
            for name in d.strs():
                child = (path.rstrip("/") + "/" + name)
                if child in skip:
                    continue
                todo.append(("d", child))
                todo.append(("c", child))
    return tree


FIELDS = ("data", "version", "cversion", "aversion", "czxid", "mzxid",
          "pzxid", "ephemeralOwner", "numChildren")


def describe_diff(ds, limit=10):
    """Human-readable differences between dumps {idx: tree}."""
    idxs = sorted(ds)
    base = ds[idxs[0]]
    lines = []
    for i in idxs[1:]:
        t = ds[i]
        only_a = sorted(set(base) - set(t))
        only_b = sorted(set(t) - set(base))
        diff = sorted(p for p in set(base) & set(t) if base[p] != t[p])
        lines.append("server %d vs %d: %d nodes vs %d; %d only on %d, %d only"
                     " on %d, %d differ" % (idxs[0] + 1, i + 1, len(base),
                                            len(t), len(only_a), idxs[0] + 1,
                                            len(only_b), i + 1, len(diff)))
        for p in only_a[:limit]:
            lines.append("  only on %d: %s" % (idxs[0] + 1, p))
        for p in only_b[:limit]:
            lines.append("  only on %d: %s" % (i + 1, p))
        for p in diff[:limit]:
            fields = [(f, a, b) for f, a, b in zip(FIELDS, base[p], t[p])
                      if a != b]
            lines.append("  %s: %s" % (p, ", ".join(
                "%s %r vs %r" % (f, a if f != "data" else a[:40],
                                 b if f != "data" else b[:40])
                for f, a, b in fields)))
    return "\n".join(lines)


# --------------------------------------------------------------------------
# operations with outcomes
# --------------------------------------------------------------------------

def classify(exc):
    """'fail' for errors that prove the operation was not applied, 'info'
    for the rest (connection loss, timeouts, session expiry: unknown)."""
    from kazoo import exceptions as ke
    if isinstance(exc, (ke.NodeExistsError, ke.NoNodeError,
                        ke.BadVersionError, ke.NotEmptyError,
                        ke.BadArgumentsError, ke.NoAuthError)):
        return "fail"
    return "info"


class Op:
    __slots__ = ("proc", "kind", "path", "arg", "expect", "server", "t_inv",
                 "t_ret", "outcome", "result", "error")

    def __init__(self, proc, kind, path, arg=None, expect=None, server=None):
        self.proc, self.kind, self.path, self.arg = proc, kind, path, arg
        self.expect, self.server = expect, server
        self.t_inv = time.monotonic()
        self.t_ret = None
        self.outcome = None           # None (pending) / ok / fail / info
        self.result = None
        self.error = None

    def __repr__(self):
        return "Op(%s %s %s %r exp=%r -> %s %r %s @%.3f..%s)" % (
            self.proc, self.kind, self.path, self.arg, self.expect,
            self.outcome, self.result, self.error, self.t_inv,
            "%.3f" % self.t_ret if self.t_ret else "?")


def run_op(op, async_result, timeout, lock=None):
    """Wait up to timeout for a kazoo async result; fills op.outcome.  A
    result arriving later still updates op (a late acknowledgement is an
    acknowledgement)."""
    ev = threading.Event()

    def done(a):
        try:
            res = a.get_nowait()
            outcome, err = "ok", None
        except Exception as e:                                # noqa
            res, outcome, err = None, classify(e), e
        if op.outcome in (None, "info"):
            op.t_ret = time.monotonic() if outcome != "info" else None
            op.outcome, op.result, op.error = outcome, res, err
        ev.set()
    async_result.rawlink(done)
    if not ev.wait(timeout) and op.outcome is None:
        op.outcome = "info"
        op.error = "timeout"
    return op


def payload(name):
    """Deterministic data for a node name (different sizes)."""
    n = 8 + (sum(name.encode()) * 2654435761) % 300
    unit = (name + "|").encode()
    return (unit * (n // len(unit) + 1))[:n]


class Load:
    """writers threads; writer w has its own kazoo client with connect
    string hosts(w) (default: every server, starting at w % n).  Each
    writer loops: create PREFIX/wW-SEQ with payload(name), and every 4th
    op setData(/ctr/wW, str(seq)) instead.  Every op is in self.ops."""

    def __init__(self, cluster, writers=3, prefix="/load", hosts=None,
                 op_timeout=10.0, pace=0.0, session_timeout=4.0):
        self.c = cluster
        self.writers = writers
        self.prefix = prefix
        self.hosts = hosts or (lambda w: [(w + k) % cluster.n
                                          for k in range(cluster.n)])
        self.op_timeout = op_timeout
        self.pace = pace
        self.ops = []
        self.lock = threading.Lock()
        self.stopping = threading.Event()
        self.threads = []
        self.clients = []
        self.tag = "%x" % random.randrange(1 << 20)
        self.session_timeout = session_timeout

    def start(self):
        from kazoo.retry import KazooRetry
        from kazoo.exceptions import NodeExistsError
        setup = self.c.client(None, timeout=self.session_timeout)
        retry = KazooRetry(max_tries=20, delay=0.1, max_delay=1)
        retry(setup.ensure_path, self.prefix)
        retry(setup.ensure_path, "/ctr")
        for w in range(self.writers):
            path = "/ctr/%s-w%d" % (self.tag, w)
            op = Op("setup", "create", path, b"0")
            try:
                retry(setup.create, path, b"0")
            except NodeExistsError:
                pass                # a retry after a lost reply
            op.outcome, op.t_ret = "ok", time.monotonic()
            self.ops.append(op)     # verify() checks it like any create
        setup.stop()
        setup.close()
        for w in range(self.writers):
            cl = self.c.client(self.hosts(w), timeout=self.session_timeout)
            self.clients.append(cl)
            th = threading.Thread(target=self._run, args=(w, cl),
                                  daemon=True, name="writer%d" % w)
            self.threads.append(th)
        for th in self.threads:
            th.start()
        return self

    def _run(self, w, cl):
        seq = 0
        while not self.stopping.is_set():
            seq += 1
            if seq % 4 == 0:
                path = "/ctr/%s-w%d" % (self.tag, w)
                op = Op(w, "set", path, seq)
                with self.lock:
                    self.ops.append(op)
                run_op(op, cl.set_async(path, str(seq).encode()),
                       self.op_timeout)
            else:
                name = "%s-w%d-%d" % (self.tag, w, seq)
                path = self.prefix + "/" + name
                op = Op(w, "create", path, payload(name))
                with self.lock:
                    self.ops.append(op)
                run_op(op, cl.create_async(path, op.arg), self.op_timeout)
            if op.outcome != "ok":
                # do not spin while there is no quorum
                self.stopping.wait(0.05)
            elif self.pace:
                self.stopping.wait(self.pace)

    def stop(self):
        self.stopping.set()
        for th in self.threads:
            th.join(30)
        for cl in self.clients:
            ct._stop_quietly(cl)
        self.clients = []

    # -- figures --
    def snapshot(self):
        with self.lock:
            return list(self.ops)

    def acked(self):
        return [o for o in self.snapshot() if o.outcome == "ok"]

    def acks_after(self, t):
        """Ops invoked after t that were acknowledged."""
        return [o for o in self.snapshot()
                if o.outcome == "ok" and o.t_inv >= t]

    def first_ack_after(self, t):
        """Return time of the first op invoked after t and acknowledged."""
        ts = [o.t_ret for o in self.acks_after(t) if o.t_ret is not None]
        return min(ts) if ts else None

    def wait_acks_after(self, t, count=1, timeout=30):
        return self.c.wait_for(lambda: len(self.acks_after(t)) >= count,
                           timeout, 0.02)

    def counts(self):
        ops = self.snapshot()
        return {k: sum(1 for o in ops if o.outcome == k)
                for k in ("ok", "fail", "info", None)}

    def errors(self):
        """{error class name: count} of the ops that did not succeed."""
        out = {}
        for o in self.snapshot():
            if o.outcome in ("fail", "info"):
                name = o.error if isinstance(o.error, str) else \
                    type(o.error).__name__
                out[name] = out.get(name, 0) + 1
        return out

    def verify(self, tree):
        """Problems (list of str) of tree against every acknowledged op:
        each acked create exists with its data; each counter holds a value
        that was sent and is >= the last acknowledged one; nothing under the
        prefix that was never sent."""
        problems = []
        ops = self.snapshot()
        sent_creates = {}
        last_acked = {}
        sent_sets = {}
        for o in ops:
            if o.kind == "create" and o.proc == "setup":
                if o.path not in tree:
                    problems.append("acknowledged create lost: %s" % o.path)
            elif o.kind == "create":
                sent_creates[o.path] = o.arg
                if o.outcome == "ok":
                    got = tree.get(o.path)
                    if got is None:
                        problems.append("acknowledged create lost: %s" %
                                        o.path)
                    elif got[0] != o.arg:
                        problems.append("%s: data %r, wrote %r" %
                                        (o.path, got[0][:40], o.arg[:40]))
            elif o.kind == "set":
                sent_sets.setdefault(o.path, set()).add(o.arg)
                if o.outcome == "ok":
                    last_acked[o.path] = max(last_acked.get(o.path, 0),
                                             o.arg)
        for path, v in last_acked.items():
            got = tree.get(path)
            if got is None:
                problems.append("counter %s missing" % path)
                continue
            val = int(got[0] or b"0")
            if val < v:
                problems.append("counter %s: %d, last acknowledged %d" %
                                (path, val, v))
            if val not in sent_sets[path]:
                problems.append("counter %s: %d was never sent" % (path, val))
        pre = self.prefix + "/%s-" % self.tag
        for p in tree:
            if p.startswith(pre) and p not in sent_creates:
                problems.append("%s was never created" % p)
        return problems


# --------------------------------------------------------------------------
# a client in another process (a client that can really vanish)
# --------------------------------------------------------------------------

_CHILD = r'''
import logging, sys
from kazoo.client import KazooClient
logging.getLogger("kazoo").setLevel(logging.CRITICAL)
hosts, timeout, path = sys.argv[1], float(sys.argv[2]), sys.argv[3]
c = KazooClient(hosts=hosts, timeout=timeout, randomize_hosts=False)
c.start(timeout=30)
c.create(path, b"child", ephemeral=True, makepath=True)
sid, pw = c.client_id
print("%d %s" % (sid, pw.hex()), flush=True)
sys.stdin.read()
'''


class ChildSession:
    """A kazoo client in a child process (same network namespace as this
    one) holding a session on hosts that created the ephemeral node path.
    kill() makes it vanish without closeSession (SIGKILL)."""

    def __init__(self, hosts, path, timeout=4.0):
        self.proc = subprocess.Popen(["/usr/bin/python3", "-c", _CHILD,
                                      hosts, str(timeout), path],
                                     stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, text=True)
        ct._cleanups.append(self.kill)
        line = self.proc.stdout.readline().split()
        if len(line) != 2:
            self.kill()
            raise RuntimeError("child client did not start")
        self.session_id = int(line[0])
        self.passwd = bytes.fromhex(line[1])

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()
