#!/usr/bin/python3
"""coordtest -- Python twin of lib.sh for the coordfs client-conformance tests.

Every tests/integration/*.py test imports this module.  It provides

  * a TAP producer (TAP: plan/ok/is_eq/skip/diag, plus named cases that keep
    running after an exception in one of them);
  * Server: starts coordd or Apache ZooKeeper standalone on a free loopback
    port in a fresh temporary data directory, waits for readiness by polling
    (a real ZooKeeper handshake), and can stop / kill -9 / restart it on the
    same data directory; everything is cleaned up at exit;
  * wait_for(): poll a predicate with a deadline (never sleep-then-assert);
  * Raw: a minimal synchronous ZooKeeper wire-protocol client.  kazoo 2.8 (the
    Debian version) cannot express null data, bad paths (it normalises them),
    containers, TTL nodes, persistent watches, removeWatches, setWatches,
    multiRead, getEphemerals, getAllChildrenNumber or whoAmI, and it hides the
    ordering of notifications against replies; Raw sends exactly the bytes a
    Java or C client sends and shows exactly what the server answers.

Which server: COORD_SERVER unset or "coordd" -> $top_builddir/replica/coordd
-c CFG (skip the whole file with "1..0 # SKIP coordd not built" if missing);
COORD_SERVER=zookeeper -> Apache ZooKeeper 3.8 from the Debian packages.

Configuration convention (same as lib.sh): one zoo.cfg-syntax file serves
both servers.  A key that Apache ZooKeeper only takes as a Java system
property (znode.container.checkIntervalMs, znode.container.maxPerMinute,
zookeeper.extendedTypesEnabled, zookeeper.DigestAuthenticationProvider.
superDigest, ...) is written into the cfg under exactly the system-property
name -- coordd reads it from there -- and is also passed to the JVM as -D.
(Note: Apache ZooKeeper turns an unknown cfg key K into the system property
"zookeeper.K", which is why the -D is needed.)

Run by hand:
  COORD_SERVER=zookeeper top_builddir=/tmp/x top_srcdir=/work/main \
      /usr/bin/python3 tests/integration/kazoo_basic.py
  COORDTEST_KEEP=1 keeps the servers' temp dirs (cfg, data, server.log);
  COORDTEST_DEBUG=1 sends kazoo's log to stderr.
Helper mode used by lib.sh:  coordtest.py ready PORT  -> exit 0 iff a
ZooKeeper session can be established (and is closed again) on PORT.
"""

import atexit
import os
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time
import traceback

sys.dont_write_bytecode = True

# --------------------------------------------------------------------------
# TAP
# --------------------------------------------------------------------------


class TAP:
    """Minimal TAP producer; the plan is printed at the end unless given."""

    def __init__(self):
        self.n = 0
        self.failed = 0
        self.planned = None
        self.cases = []
        self._lock = threading.Lock()
        _start_watchdog()

    def plan(self, n):
        self.planned = n
        print("1..%d" % n, flush=True)

    def _emit(self, ok, name, directive=""):
        with self._lock:
            self.n += 1
            line = "%sok %d - %s" % ("" if ok else "not ", self.n,
                                     name.replace("#", "\\#"))
            if directive:
                line += " # " + directive
            print(line, flush=True)
            if not ok:
                self.failed += 1
        return ok

    def ok(self, cond, name, diag=None):
        r = self._emit(bool(cond), name)
        if not r and diag is not None:
            self.diag(diag)
        return r

    def is_eq(self, got, want, name):
        r = self._emit(got == want, name)
        if not r:
            self.diag("     got: %r" % (got,))
            self.diag("expected: %r" % (want,))
        return r

    def raises(self, exc, fn, name, *args, **kw):
        """ok iff fn(*args, **kw) raises exc (a class or tuple)."""
        try:
            res = fn(*args, **kw)
        except exc:
            return self._emit(True, name)
        except Exception as e:                                # noqa
            self._emit(False, name)
            self.diag("raised %r, expected %r" % (e, exc))
            return False
        self._emit(False, name)
        self.diag("returned %r, expected exception %r" % (res, exc))
        return False

    def skip(self, name, reason):
        self._emit(True, name, "SKIP " + reason)

    def diag(self, msg):
        for line in str(msg).splitlines():
            print("# " + line, flush=True)

    def case(self, fn):
        """Decorator: register a test case; run() runs them in order."""
        self.cases.append(fn)
        return fn

    def run(self):
        for fn in self.cases:
            self.diag("--- %s" % fn.__name__)
            t0 = time.monotonic()
            try:
                fn()
            except Exception:                                 # noqa
                self._emit(False, "%s: unexpected exception" % fn.__name__)
                self.diag(traceback.format_exc())
            self.diag("    (%s: %.2f s)" % (fn.__name__,
                                            time.monotonic() - t0))
        self.done()

    def done(self):
        if self.planned is None:
            print("1..%d" % self.n, flush=True)
        elif self.planned != self.n:
            self.diag("planned %d tests but ran %d" % (self.planned, self.n))
            self.failed += 1
        cleanup()
        sys.stdout.flush()
        os._exit(1 if self.failed else 0)


def skip_all(reason):
    print("1..0 # SKIP %s" % reason, flush=True)
    cleanup()
    sys.exit(0)


# --------------------------------------------------------------------------
# polling
# --------------------------------------------------------------------------


def wait_for(pred, timeout=10.0, interval=0.02, give_up=None):
    """Poll pred() until it returns a true value or timeout seconds pass
    (or give_up() says waiting is pointless).  Returns the last value of
    pred() (falsy on timeout).  Exceptions raised by pred count as 'not
    yet'."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            v = pred()
        except Exception:                                     # noqa
            v = None
        if v or time.monotonic() >= deadline or (give_up and give_up()):
            return v
        time.sleep(interval)


# --------------------------------------------------------------------------
# servers
# --------------------------------------------------------------------------

ZK_CLASSPATH = "/usr/share/java/zookeeper.jar:/usr/share/java/slf4j-simple.jar"
_cleanups = []


def cleanup():
    while _cleanups:
        fn = _cleanups.pop()
        try:
            fn()
        except Exception:                                     # noqa
            pass


atexit.register(cleanup)


def _start_watchdog():
    """A test that hangs (a client waiting forever on a server that died)
    must fail, not stall the whole run: after COORD_TEST_TIMEOUT seconds
    (default 900, 0 = off) print where every thread is, clean up as far as
    that goes within 30 s, and exit with a Bail out."""
    limit = float(os.environ.get("COORD_TEST_TIMEOUT", "900"))
    if limit <= 0:
        return

    def expire():
        import faulthandler
        print("Bail out! no end after %d s (COORD_TEST_TIMEOUT); stacks follow" % limit,
              flush=True)
        faulthandler.dump_traceback(file=sys.stdout)
        sys.stdout.flush()
        th = threading.Thread(target=cleanup, daemon=True)
        th.start()
        th.join(30)
        os._exit(1)
    timer = threading.Timer(limit, expire)
    timer.daemon = True
    timer.start()


def _on_signal(signum, frame):
    cleanup()
    os._exit(128 + signum)


for _s in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
    signal.signal(_s, _on_signal)


def _excepthook(typ, value, tb):
    # an exception outside a test case (e.g. the server did not start):
    # make the TAP consumer report it instead of a bare traceback
    print("Bail out! %s: %s" % (typ.__name__, str(value).splitlines()[0]
                                if str(value) else ""), flush=True)
    for line in "".join(traceback.format_exception(typ, value, tb)) \
            .splitlines():
        print("# " + line, flush=True)
    cleanup()


sys.excepthook = _excepthook


def server_kind():
    k = os.environ.get("COORD_SERVER", "") or "coordd"
    if k not in ("coordd", "zookeeper"):
        raise SystemExit("COORD_SERVER must be coordd or zookeeper, not %r"
                         % k)
    return k


def free_port():
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def coordd_path():
    top = os.environ.get("top_builddir") or os.path.join(
        os.path.dirname(os.path.abspath(__file__)), "..", "..")
    return os.path.join(top, "replica", "coordd")


def require_server():
    """Skip the whole test file (TAP '1..0 # SKIP') if the selected server
    cannot be run here."""
    if server_kind() == "coordd":
        if not os.access(coordd_path(), os.X_OK):
            skip_all("coordd not built")
    else:
        if not os.path.exists("/usr/share/java/zookeeper.jar") or \
                not shutil.which("java"):
            skip_all("Apache ZooKeeper (Debian zookeeper package) not "
                     "installed")
    import importlib.util
    if importlib.util.find_spec("kazoo") is None:
        skip_all("python3-kazoo not installed")


class Server:
    """One standalone server (coordd or Apache ZooKeeper) on 127.0.0.1.

    tick: tickTime in ms (sessions: min 2*tick, max 20*tick).
    props: extra settings, written to the cfg under their Java system
        property name AND passed to ZooKeeper's JVM as -Dname=value.
    cfg: extra plain cfg keys (zoo.cfg keys known to ZooKeeper)."""

    def __init__(self, tick=250, props=None, cfg=None, whitelist="*",
                 container_check_ms=100):
        self.kind = server_kind()
        self.tick = tick
        self.dir = tempfile.mkdtemp(prefix="coordtest.")
        if os.environ.get("COORDTEST_KEEP"):
            print("# server dir (kept): %s" % self.dir, flush=True)
        else:
            _cleanups.append(lambda: shutil.rmtree(self.dir,
                                                   ignore_errors=True))
        self.datadir = os.path.join(self.dir, "data")
        os.mkdir(self.datadir)
        self.port = free_port()
        self.proc = None
        self.log = os.path.join(self.dir, "server.log")
        self.props = {
            "zookeeper.extendedTypesEnabled": "true",
            "znode.container.checkIntervalMs": str(container_check_ms),
            "znode.container.maxPerMinute": "100000",
        }
        self.props.update(props or {})
        self.cfgkeys = {
            "tickTime": str(tick),
            "dataDir": self.datadir,
            "clientPort": str(self.port),
            "clientPortAddress": "127.0.0.1",
            "4lw.commands.whitelist": whitelist,
            "extendedTypesEnabled": "true",
            "maxClientCnxns": "100",
            "admin.enableServer": "false",
        }
        self.cfgkeys.update(cfg or {})
        self.cfg = os.path.join(self.dir, "zoo.cfg")
        with open(self.cfg, "w") as f:
            for k, v in self.cfgkeys.items():
                f.write("%s=%s\n" % (k, v))
            for k, v in self.props.items():
                f.write("%s=%s\n" % (k, v))
        _cleanups.append(self._reap)

    @property
    def hosts(self):
        return "127.0.0.1:%d" % self.port

    def _cmd(self):
        if self.kind == "coordd":
            return [coordd_path(), "-c", self.cfg]
        cmd = ["java", "-Xmx256m", "-XX:+UseSerialGC",
               "-XX:TieredStopAtLevel=1",
               "-Dzookeeper.admin.enableServer=false"]
        cmd += ["-D%s=%s" % kv for kv in self.props.items()]
        cmd += ["-cp", ZK_CLASSPATH,
                "org.apache.zookeeper.server.ZooKeeperServerMain", self.cfg]
        return cmd

    def start(self, timeout=30):
        assert self.proc is None
        logf = open(self.log, "ab")
        self.proc = subprocess.Popen(self._cmd(), stdout=logf, stderr=logf,
                                     stdin=subprocess.DEVNULL, cwd=self.dir)
        logf.close()
        if not wait_for(lambda: self.proc.poll() is None and
                        handshake_ok(self.port), timeout, 0.05):
            tail = ""
            try:
                with open(self.log, "rb") as f:
                    tail = f.read()[-3000:].decode("utf-8", "replace")
            except OSError:
                pass
            raise RuntimeError("server did not become ready on port %d "
                               "(exit=%r)\n%s" % (self.port, self.proc.poll(),
                                                  tail))
        return self

    def stop(self, sig=signal.SIGTERM):
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None
        # the port must be free again before anything restarts on it
        wait_for(lambda: not port_open(self.port), 10)

    def kill9(self):
        self.stop(signal.SIGKILL)

    def restart(self, kill=False):
        self.stop(signal.SIGKILL if kill else signal.SIGTERM)
        return self.start()

    def _reap(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self.proc = None

    def fourlw(self, cmd, timeout=5):
        return fourlw(self.port, cmd, timeout)


def port_open(port, host="127.0.0.1"):
    try:
        socket.create_connection((host, port), 0.5).close()
        return True
    except OSError:
        return False


def fourlw(port, cmd, timeout=5, host="127.0.0.1"):
    """Send a four-letter word, return everything up to EOF as str."""
    s = socket.create_connection((host, port), timeout)
    try:
        s.sendall(cmd.encode())
        out = b""
        while True:
            b = s.recv(65536)
            if not b:
                break
            out += b
        return out.decode("utf-8", "replace")
    finally:
        s.close()


def handshake_ok(port, host="127.0.0.1"):
    """True iff a session can be created on port (it is closed again)."""
    try:
        r = Raw(port, timeout_ms=10000, io_timeout=2, host=host)
    except Exception:                                         # noqa
        return False
    try:
        r.close()
    except Exception:                                         # noqa
        pass
    return True


# --------------------------------------------------------------------------
# raw wire protocol
# --------------------------------------------------------------------------

OP = dict(notification=0, create=1, delete=2, exists=3, getData=4,
          setData=5, getACL=6, setACL=7, getChildren=8, sync=9, ping=11,
          getChildren2=12, check=13, multi=14, create2=15, reconfig=16,
          checkWatches=17, removeWatches=18, createContainer=19,
          deleteContainer=20, createTTL=21, multiRead=22, auth=100,
          setWatches=101, sasl=102, getEphemerals=103,
          getAllChildrenNumber=104, setWatches2=105, addWatch=106,
          whoAmI=107, createSession=-10, closeSession=-11, error=-1)

# KeeperException codes
ERR = dict(OK=0, SYSTEMERROR=-1, RUNTIMEINCONSISTENCY=-2, DATAINCONSISTENCY=-3,
           CONNECTIONLOSS=-4, MARSHALLINGERROR=-5, UNIMPLEMENTED=-6,
           OPERATIONTIMEOUT=-7, BADARGUMENTS=-8, UNKNOWNSESSION=-12,
           NEWCONFIGNOQUORUM=-13, RECONFIGINPROGRESS=-14, APIERROR=-100,
           NONODE=-101, NOAUTH=-102, BADVERSION=-103,
           NOCHILDRENFOREPHEMERALS=-108, NODEEXISTS=-110, NOTEMPTY=-111,
           SESSIONEXPIRED=-112, INVALIDCALLBACK=-113, INVALIDACL=-114,
           AUTHFAILED=-115, SESSIONMOVED=-118, NOTREADONLY=-119,
           EPHEMERALONLOCALSESSION=-120, NOWATCHER=-121,
           RECONFIGDISABLED=-123, SESSIONCLOSEDREQUIRESASLAUTH=-124,
           QUOTAEXCEEDED=-125, THROTTLEDOP=-127)

# create modes (CreateMode.toFlag)
PERSISTENT, EPHEMERAL, PERSISTENT_SEQUENTIAL, EPHEMERAL_SEQUENTIAL = 0, 1, 2, 3
CONTAINER, PERSISTENT_WITH_TTL, PERSISTENT_SEQUENTIAL_WITH_TTL = 4, 5, 6

# watcher event types and states
EV_NONE, EV_CREATED, EV_DELETED, EV_CHANGED, EV_CHILD = -1, 1, 2, 3, 4
EV_DATAWATCHREMOVED, EV_CHILDWATCHREMOVED, EV_PERSISTENTWATCHREMOVED = 5, 6, 7
STATE_SYNCCONNECTED = 3

# WatcherType for removeWatches/checkWatches
WT_CHILDREN, WT_DATA, WT_ANY, WT_PERSISTENT, WT_PERSISTENT_RECURSIVE = \
    1, 2, 3, 4, 5
# AddWatchMode
PERSISTENT_WATCH, PERSISTENT_RECURSIVE_WATCH = 0, 1

PERM_READ, PERM_WRITE, PERM_CREATE, PERM_DELETE, PERM_ADMIN = 1, 2, 4, 8, 16
PERM_ALL = 31
OPEN_ACL = [(PERM_ALL, "world", "anyone")]

XID_NOTIFICATION, XID_PING, XID_AUTH, XID_SETWATCHES = -1, -2, -4, -8


class Stat(tuple):
    FIELDS = ("czxid", "mzxid", "ctime", "mtime", "version", "cversion",
              "aversion", "ephemeralOwner", "dataLength", "numChildren",
              "pzxid")
    FMT = ">qqqqiiiqiiq"
    SIZE = struct.calcsize(FMT)

    def __new__(cls, values):
        return tuple.__new__(cls, values)

    def __getattr__(self, name):
        try:
            return self[Stat.FIELDS.index(name)]
        except ValueError:
            raise AttributeError(name)

    def asdict(self):
        return dict(zip(Stat.FIELDS, self))

    def __repr__(self):
        return "Stat(%s)" % ", ".join("%s=%r" % kv
                                      for kv in self.asdict().items())


class Enc:
    def __init__(self):
        self.b = bytearray()

    def int(self, v):
        self.b += struct.pack(">i", v)
        return self

    def long(self, v):
        self.b += struct.pack(">q", v)
        return self

    def bool(self, v):
        self.b += b"\x01" if v else b"\x00"
        return self

    def buf(self, v):
        if v is None:
            return self.int(-1)
        self.int(len(v))
        self.b += v
        return self

    def str(self, v):
        if v is None:
            return self.int(-1)
        if isinstance(v, str):
            v = v.encode("utf-8", "surrogatepass")
        return self.buf(v)

    def strs(self, vs):
        self.int(len(vs))
        for v in vs:
            self.str(v)
        return self

    def acl(self, acl):
        if acl is None:
            return self.int(-1)
        self.int(len(acl))
        for perms, scheme, ident in acl:
            self.int(perms).str(scheme).str(ident)
        return self

    def bytes(self):
        return bytes(self.b)


class Dec:
    def __init__(self, b):
        self.b = b
        self.o = 0

    def _u(self, fmt):
        v = struct.unpack_from(fmt, self.b, self.o)
        self.o += struct.calcsize(fmt)
        return v[0]

    def int(self):
        return self._u(">i")

    def long(self):
        return self._u(">q")

    def bool(self):
        return self._u(">B") != 0

    def buf(self):
        n = self.int()
        if n < 0:
            return None
        v = self.b[self.o:self.o + n]
        if len(v) != n:
            raise ValueError("short buffer")
        self.o += n
        return bytes(v)

    def str(self):
        v = self.buf()
        return None if v is None else v.decode("utf-8", "surrogatepass")

    def strs(self):
        n = self.int()
        return None if n < 0 else [self.str() for _ in range(n)]

    def stat(self):
        v = struct.unpack_from(Stat.FMT, self.b, self.o)
        self.o += Stat.SIZE
        return Stat(v)

    def acl(self):
        n = self.int()
        if n < 0:
            return None
        return [(self.int(), self.str(), self.str()) for _ in range(n)]

    def left(self):
        return len(self.b) - self.o


class Reply:
    __slots__ = ("xid", "zxid", "err", "body", "events")

    def __init__(self, xid, zxid, err, body):
        self.xid, self.zxid, self.err, self.body = xid, zxid, err, body
        self.events = []

    def dec(self):
        return Dec(self.body)

    def __repr__(self):
        return "Reply(xid=%d, zxid=%#x, err=%d, %d bytes)" % (
            self.xid, self.zxid, self.err, len(self.body))


class Event(tuple):
    """(type, state, path) of a watcher notification; seq = arrival order."""

    def __new__(cls, typ, state, path, seq):
        e = tuple.__new__(cls, (typ, state, path))
        e.seq = seq
        return e


class ConnectionClosed(Exception):
    pass


class Raw:
    """Synchronous ZooKeeper protocol client (one request in flight).

    Every frame read is recorded in order; notifications go to self.events,
    and each Reply lists the notifications received while waiting for it
    (Reply.events) -- that is how notification-before-reply ordering is
    checked.  Pings are sent when idle in wait_event()."""

    def __init__(self, port, timeout_ms=10000, session_id=0,
                 passwd=b"\0" * 16, last_zxid=0, read_only=False,
                 io_timeout=10, connect=True, host="127.0.0.1"):
        self.host = host
        self.port = port
        self.io_timeout = io_timeout
        self.xid = 0
        self.events = []
        self.frames = []          # ('event'|'reply', xid) in arrival order
        self.seq = 0
        self.last_zxid = last_zxid
        self.sock = None
        self.last_send = time.monotonic()
        if connect:
            self.connect(timeout_ms, session_id, passwd, last_zxid, read_only)

    # -- transport --
    def connect(self, timeout_ms=10000, session_id=0, passwd=b"\0" * 16,
                last_zxid=None, read_only=False, protocol_version=0):
        if last_zxid is None:
            last_zxid = self.last_zxid
        self.sock = socket.create_connection((self.host, self.port),
                                             self.io_timeout)
        self.sock.settimeout(self.io_timeout)
        req = Enc().int(protocol_version).long(last_zxid).int(timeout_ms) \
            .long(session_id).buf(passwd).bool(read_only).bytes()
        self._send_frame(req)
        body = self._recv_frame()
        d = Dec(body)
        self.protocol_version = d.int()
        self.timeout_ms = d.int()
        self.session_id = d.long()
        self.passwd = d.buf()
        self.read_only = d.bool() if d.left() >= 1 else None
        if self.timeout_ms <= 0:
            self.sock.close()
            self.sock = None
            raise ConnectionClosed("session expired (timeout %d, session "
                                   "%#x)" % (self.timeout_ms,
                                             self.session_id))
        return self

    def _send_frame(self, payload):
        self.sock.sendall(struct.pack(">i", len(payload)) + payload)
        self.last_send = time.monotonic()

    def _recvn(self, n):
        out = b""
        while len(out) < n:
            b = self.sock.recv(n - len(out))
            if not b:
                raise ConnectionClosed("server closed the connection")
            out += b
        return out

    def _recv_frame(self):
        n = struct.unpack(">i", self._recvn(4))[0]
        return self._recvn(n)

    def _read_one(self):
        """Read one frame; returns a Reply, or None for a notification."""
        body = self._recv_frame()
        xid, zxid, err = struct.unpack_from(">iqi", body, 0)
        if zxid > 0 and xid != XID_NOTIFICATION:
            self.last_zxid = max(self.last_zxid, zxid)
        if xid == XID_NOTIFICATION:
            d = Dec(body[16:])
            ev = Event(d.int(), d.int(), d.str(), self.seq)
            ev.zxid, ev.err = zxid, err
            self.seq += 1
            self.events.append(ev)
            self.frames.append(("event", ev))
            return None
        self.frames.append(("reply", xid))
        self.seq += 1
        return Reply(xid, zxid, err, body[16:])

    def drop(self):
        """Close the TCP connection WITHOUT closeSession (the session
        lives on until it expires or is reattached)."""
        if self.sock is not None:
            try:
                self.sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            self.sock.close()
            self.sock = None

    def reattach(self, **kw):
        """New TCP connection to the same session (id + password)."""
        self.drop()
        return self.connect(self.timeout_ms, self.session_id, self.passwd,
                            **kw)

    def close(self):
        """closeSession, then close the socket."""
        if self.sock is None:
            return
        try:
            self.call(OP["closeSession"], b"")
        except (ConnectionClosed, OSError):
            pass
        self.drop()

    # -- requests --
    def call(self, op, payload=b"", xid=None):
        if xid is None:
            self.xid += 1
            xid = self.xid
        self._send_frame(struct.pack(">ii", xid, op) + payload)
        before = len(self.events)
        while True:
            r = self._read_one()
            if r is None:
                continue
            if r.xid == XID_PING and xid != XID_PING:
                continue
            if r.xid != xid:
                raise RuntimeError("xid mismatch: sent %d got %d" %
                                   (xid, r.xid))
            r.events = self.events[before:]
            return r

    def ping(self):
        return self.call(OP["ping"], b"", xid=XID_PING)

    def wait_event(self, pred=lambda e: True, timeout=10.0):
        """Wait until a notification satisfying pred has arrived (already
        received ones count).  Pings the server while idle.  Returns the
        event or None."""
        deadline = time.monotonic() + timeout
        for e in self.events:
            if pred(e):
                return e
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                return None
            ping_every = max(self.timeout_ms / 3000.0, 0.05)
            if time.monotonic() - self.last_send > ping_every:
                self._send_frame(struct.pack(">ii", XID_PING, OP["ping"]))
            self.sock.settimeout(min(left, ping_every))
            try:
                r = self._read_one()
            except socket.timeout:
                continue
            finally:
                self.sock.settimeout(self.io_timeout)
            if r is None and pred(self.events[-1]):
                return self.events[-1]

    def auth(self, scheme, cred):
        if isinstance(cred, str):
            cred = cred.encode()
        return self.call(OP["auth"], Enc().int(0).str(scheme).buf(cred)
                         .bytes(), xid=XID_AUTH)

    def create(self, path, data=b"", acl=OPEN_ACL, flags=0, ttl=None,
               op=None):
        """Returns (err, created_path, stat_or_None, reply).
        op defaults to create2 (createTTL for ttl, createContainer for
        flags=CONTAINER).  op='create' uses the old opcode 1."""
        if op is None:
            if ttl is not None:
                op = "createTTL"
            elif flags == CONTAINER:
                op = "createContainer"
            else:
                op = "create2"
        e = Enc().str(path).buf(data).acl(acl).int(flags)
        if op == "createTTL":
            e.long(ttl)
        r = self.call(OP[op], e.bytes())
        if r.err:
            return r.err, None, None, r
        d = r.dec()
        p = d.str()
        st = d.stat() if op != "create" else None
        return 0, p, st, r

    def delete(self, path, version=-1):
        r = self.call(OP["delete"], Enc().str(path).int(version).bytes())
        return r.err

    def exists(self, path, watch=False):
        """Returns (err, stat)."""
        r = self.call(OP["exists"], Enc().str(path).bool(watch).bytes())
        return r.err, (r.dec().stat() if r.err == 0 else None)

    def get(self, path, watch=False):
        """Returns (err, data, stat)."""
        r = self.call(OP["getData"], Enc().str(path).bool(watch).bytes())
        if r.err:
            return r.err, None, None
        d = r.dec()
        return 0, d.buf(), d.stat()

    def get_r(self, path, watch=False):
        """getData returning the Reply (for ordering checks)."""
        return self.call(OP["getData"], Enc().str(path).bool(watch).bytes())

    def set(self, path, data, version=-1):
        """Returns (err, stat)."""
        r = self.call(OP["setData"],
                      Enc().str(path).buf(data).int(version).bytes())
        return r.err, (r.dec().stat() if r.err == 0 else None)

    def children(self, path, watch=False):
        """getChildren2: returns (err, names, stat)."""
        r = self.call(OP["getChildren2"], Enc().str(path).bool(watch).bytes())
        if r.err:
            return r.err, None, None
        d = r.dec()
        return 0, d.strs(), d.stat()

    def children1(self, path, watch=False):
        """getChildren (opcode 8, no stat): returns (err, names)."""
        r = self.call(OP["getChildren"], Enc().str(path).bool(watch).bytes())
        return r.err, (r.dec().strs() if r.err == 0 else None)

    def get_acl(self, path):
        """Returns (err, acl, stat)."""
        r = self.call(OP["getACL"], Enc().str(path).bytes())
        if r.err:
            return r.err, None, None
        d = r.dec()
        return 0, d.acl(), d.stat()

    def set_acl(self, path, acl, version=-1):
        r = self.call(OP["setACL"], Enc().str(path).acl(acl).int(version)
                      .bytes())
        return r.err, (r.dec().stat() if r.err == 0 else None)

    def sync(self, path):
        r = self.call(OP["sync"], Enc().str(path).bytes())
        return r.err, (r.dec().str() if r.err == 0 else None)

    def add_watch(self, path, mode):
        return self.call(OP["addWatch"], Enc().str(path).int(mode).bytes()).err

    def remove_watches(self, path, wtype):
        return self.call(OP["removeWatches"],
                         Enc().str(path).int(wtype).bytes()).err

    def check_watches(self, path, wtype):
        return self.call(OP["checkWatches"],
                         Enc().str(path).int(wtype).bytes()).err

    def set_watches(self, rel_zxid, data=(), exist=(), child=()):
        return self.call(OP["setWatches"], Enc().long(rel_zxid).strs(data)
                         .strs(exist).strs(child).bytes(),
                         xid=XID_SETWATCHES)

    def set_watches2(self, rel_zxid, data=(), exist=(), child=(),
                     persistent=(), persistent_recursive=()):
        return self.call(OP["setWatches2"], Enc().long(rel_zxid).strs(data)
                         .strs(exist).strs(child).strs(persistent)
                         .strs(persistent_recursive).bytes(),
                         xid=XID_SETWATCHES)

    def get_ephemerals(self, prefix):
        r = self.call(OP["getEphemerals"], Enc().str(prefix).bytes())
        return r.err, (r.dec().strs() if r.err == 0 else None)

    def all_children_number(self, path):
        r = self.call(OP["getAllChildrenNumber"], Enc().str(path).bytes())
        return r.err, (r.dec().int() if r.err == 0 else None)

    def whoami(self):
        """Returns (err, [(scheme, id), ...])."""
        r = self.call(OP["whoAmI"], b"")
        if r.err:
            return r.err, None
        d = r.dec()
        n = d.int()
        return 0, [(d.str(), d.str()) for _ in range(max(n, 0))]

    # -- multi --
    @staticmethod
    def op_create(path, data=b"", acl=OPEN_ACL, flags=0, op="create"):
        return (OP[op], Enc().str(path).buf(data).acl(acl).int(flags).bytes())

    @staticmethod
    def op_delete(path, version=-1):
        return (OP["delete"], Enc().str(path).int(version).bytes())

    @staticmethod
    def op_set(path, data, version=-1):
        return (OP["setData"], Enc().str(path).buf(data).int(version).bytes())

    @staticmethod
    def op_check(path, version):
        return (OP["check"], Enc().str(path).int(version).bytes())

    @staticmethod
    def op_getchildren(path):
        return (OP["getChildren"], Enc().str(path).bool(False).bytes())

    @staticmethod
    def op_getdata(path):
        return (OP["getData"], Enc().str(path).bool(False).bytes())

    def multi(self, ops, read=False):
        """ops: list of (opcode, payload).  Returns (reply, results) where
        results is a list of (type, err, value) per op; value is the path
        (create), Stat (setData, create2), data+stat (getData), list of
        names (getChildren) or None."""
        e = Enc()
        for opcode, payload in ops:
            e.int(opcode).bool(False).int(-1)
            e.b += payload
        e.int(-1).bool(True).int(-1)
        r = self.call(OP["multiRead" if read else "multi"], e.bytes())
        results = []
        if len(r.body) == 0:
            return r, results
        d = r.dec()
        while True:
            typ, done, err = d.int(), d.bool(), d.int()
            if done:
                break
            if typ == OP["error"]:
                results.append((typ, d.int(), None))
            elif typ == OP["create"]:
                results.append((typ, 0, d.str()))
            elif typ == OP["create2"]:
                results.append((typ, 0, (d.str(), d.stat())))
            elif typ == OP["setData"]:
                results.append((typ, 0, d.stat()))
            elif typ == OP["getData"]:
                results.append((typ, 0, (d.buf(), d.stat())))
            elif typ == OP["getChildren"]:
                results.append((typ, 0, d.strs()))
            else:                   # delete, check: no body
                results.append((typ, err, None))
        return r, results


# --------------------------------------------------------------------------
# kazoo helpers
# --------------------------------------------------------------------------

def kazoo_client(server, timeout=None, hosts_twice=True, **kw):
    """A started KazooClient connected to server.

    timeout defaults to the server's maximum session timeout (20*tickTime):
    kazoo waits up to the REQUESTED timeout for a ConnectResponse, so asking
    for more than the server grants lets one stalled connect attempt (e.g. to
    a server still starting up) outlive the session it wants to resume."""
    if timeout is None:
        timeout = min(10.0, server.tick * 20 / 1000.0)
    import logging
    from kazoo.client import KazooClient
    # kazoo logs every expected reconnect at WARNING; keep real errors only
    # (COORDTEST_DEBUG=1: log everything, with timestamps, to stderr)
    if os.environ.get("COORDTEST_DEBUG"):
        logging.basicConfig(level=logging.INFO, stream=sys.stderr,
                            format="%(asctime)s %(threadName)s %(name)s "
                                   "%(message)s")
    else:
        logging.getLogger("kazoo").setLevel(logging.ERROR)
    # reconnect quickly and steadily (kazoo's default backoff grows to
    # seconds, which makes restart tests slow and timing-sensitive)
    kw.setdefault("connection_retry", dict(max_tries=-1, delay=0.05,
                                           backoff=1.5, max_delay=0.5))
    # The host is listed twice on purpose: kazoo waits timeout/len(hosts)
    # for a ConnectResponse.  Apache ZooKeeper 3.8.0 never answers (nor
    # closes) a connection that arrives while it is still starting up (a
    # NullPointerException in its close path, "this.zkDb is null"), so after
    # a server restart one kazoo attempt can hang; with the full timeout the
    # session it wants to resume would expire meanwhile.
    # (hosts_twice=False: kazoo then waits its retry delay before
    # reconnecting after a drop instead of trying the "next" host at once.)
    c = KazooClient(hosts=",".join([server.hosts] * (2 if hosts_twice
                                                     else 1)),
                    timeout=timeout, **kw)
    c.start(timeout=15)
    _cleanups.append(lambda: _stop_quietly(c))
    return c


def _stop_quietly(c):
    try:
        c.stop()
        c.close()
    except Exception:                                         # noqa
        pass


def flush_callbacks(client, timeout=10):
    """Wait until every watch callback kazoo has queued so far has run (its
    callback queue is FIFO, so a marker queued now runs after them)."""
    from kazoo.protocol.states import Callback
    ev = threading.Event()
    client.handler.dispatch_callback(Callback("watch", ev.set, ()))
    return ev.wait(timeout)


def roundtrip(client):
    """A server round trip: after it returns, every notification the server
    sent before its reply has been read (and queued) by kazoo."""
    client.sync("/")
    client.exists("/")
    flush_callbacks(client)


# --------------------------------------------------------------------------
# CLI helper mode (used by lib.sh)
# --------------------------------------------------------------------------

if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "ready":
        sys.exit(0 if handshake_ok(int(sys.argv[2])) else 1)
    if len(sys.argv) == 4 and sys.argv[1] == "4lw":
        sys.stdout.write(fourlw(int(sys.argv[2]), sys.argv[3]))
        sys.exit(0)
    sys.stderr.write("usage: coordtest.py ready PORT | 4lw PORT CMD\n")
    sys.exit(2)
