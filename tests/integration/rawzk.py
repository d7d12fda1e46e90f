"""rawzk - a tiny raw-jute ZooKeeper protocol client for crafted packets.

Only what the conformance tests need: a jute encoder/decoder (big-endian
ints/longs, length-prefixed buffers and strings, -1 for null), the
ConnectRequest/ConnectResponse handshake, RequestHeader/ReplyHeader framing
and a few request bodies (create, getData, exists, ping, ...).  Everything
is explicit so that a test can build any frame, valid or not, and look at
exactly what the server sends back, including "nothing, socket closed".

Record layouts (zookeeper.jute):
  frame          = int len, len bytes
  ConnectRequest = int protocolVersion, long lastZxidSeen, int timeOut,
                   long sessionId, buffer passwd [, bool readOnly]
  ConnectResponse= int protocolVersion, int timeOut, long sessionId,
                   buffer passwd [, bool readOnly]
  RequestHeader  = int xid, int type
  ReplyHeader    = int xid, long zxid, int err
  Stat           = long czxid, mzxid, ctime, mtime; int version, cversion,
                   aversion; long ephemeralOwner; int dataLength,
                   numChildren; long pzxid
"""

import socket
import struct
import time

# Opcodes (ZooDefs.OpCode).
OP = dict(notification=0, create=1, delete=2, exists=3, getData=4, setData=5,
          getACL=6, setACL=7, getChildren=8, sync=9, ping=11, getChildren2=12,
          check=13, multi=14, create2=15, reconfig=16, checkWatches=17,
          removeWatches=18, createContainer=19, deleteContainer=20,
          createTTL=21, multiRead=22, auth=100, setWatches=101, sasl=102,
          getEphemerals=103, getAllChildrenNumber=104, setWatches2=105,
          addWatch=106, whoAmI=107, createSession=-10, closeSession=-11,
          error=-1)

# Special xids (ClientCnxn).
XID_NOTIFICATION = -1
XID_PING = -2
XID_AUTH = -4
XID_SET_WATCHES = -8

# Error codes (KeeperException.Code).
ZOK = 0
ZSYSTEMERROR = -1
ZRUNTIMEINCONSISTENCY = -2
ZMARSHALLINGERROR = -5
ZUNIMPLEMENTED = -6
ZBADARGUMENTS = -8
ZNONODE = -101
ZNOAUTH = -102
ZBADVERSION = -103
ZNODEEXISTS = -110
ZNOTEMPTY = -111
ZSESSIONEXPIRED = -112
ZINVALIDACL = -114
ZNOWATCHER = -121

OPEN_ACL = [(31, "world", "anyone")]


class Writer:
    """Jute serializer.  Every method returns self so calls chain."""

    def __init__(self):
        self.b = bytearray()

    def int(self, v):
        self.b += struct.pack(">i", v)
        return self

    def uint(self, v):
        """Raw 32 bits, for crafting out-of-range lengths."""
        self.b += struct.pack(">I", v & 0xffffffff)
        return self

    def long(self, v):
        self.b += struct.pack(">q", v)
        return self

    def bool(self, v):
        self.b += b"\x01" if v else b"\x00"
        return self

    def buffer(self, v):
        if v is None:
            return self.int(-1)
        self.int(len(v))
        self.b += v
        return self

    def string(self, v):
        return self.buffer(None if v is None else v.encode())

    def raw(self, v):
        self.b += v
        return self

    def acl(self, acls):
        self.int(len(acls))
        for perms, scheme, ident in acls:
            self.int(perms).string(scheme).string(ident)
        return self

    def bytes(self):
        return bytes(self.b)


class Reader:
    """Jute deserializer over one received frame."""

    def __init__(self, data):
        self.d = data
        self.o = 0

    def _take(self, n):
        if n < 0 or self.o + n > len(self.d):
            raise ValueError("short record: need %d at %d of %d"
                             % (n, self.o, len(self.d)))
        v = self.d[self.o:self.o + n]
        self.o += n
        return v

    def int(self):
        return struct.unpack(">i", self._take(4))[0]

    def long(self):
        return struct.unpack(">q", self._take(8))[0]

    def bool(self):
        return self._take(1) != b"\x00"

    def buffer(self):
        n = self.int()
        return None if n == -1 else bytes(self._take(n))

    def string(self):
        v = self.buffer()
        return None if v is None else v.decode()

    def strings(self):
        n = self.int()
        return None if n == -1 else [self.string() for _ in range(n)]

    def stat(self):
        keys = ("czxid", "mzxid", "ctime", "mtime")
        s = {k: self.long() for k in keys}
        for k in ("version", "cversion", "aversion"):
            s[k] = self.int()
        s["ephemeralOwner"] = self.long()
        s["dataLength"] = self.int()
        s["numChildren"] = self.int()
        s["pzxid"] = self.long()
        return s

    def remaining(self):
        return len(self.d) - self.o


def connect_request(timeout_ms=10000, last_zxid=0, session_id=0,
                    passwd=b"\x00" * 16, protocol_version=0,
                    read_only=False):
    w = Writer().int(protocol_version).long(last_zxid).int(timeout_ms)
    w.long(session_id).buffer(passwd)
    if read_only is not None:
        w.bool(read_only)
    return w.bytes()


def frame(payload):
    return struct.pack(">i", len(payload)) + payload


def request(xid, op, body=b""):
    return Writer().int(xid).int(OP.get(op, op) if isinstance(op, str)
                                 else op).raw(body).bytes()


def create_body(path, data=b"", acl=OPEN_ACL, flags=0):
    return Writer().string(path).buffer(data).acl(acl).int(flags).bytes()


def path_watch_body(path, watch=False):
    """getData, exists, getChildren, getChildren2 requests."""
    return Writer().string(path).bool(watch).bytes()


def delete_body(path, version=-1):
    return Writer().string(path).int(version).bytes()


def set_data_body(path, data, version=-1):
    return Writer().string(path).buffer(data).int(version).bytes()


class Closed(Exception):
    """The server closed the connection (EOF or reset)."""


class Timeout(Exception):
    """Nothing arrived before the deadline; the connection is still open."""


class Conn:
    """One TCP connection speaking raw frames."""

    def __init__(self, host, port, timeout=10.0):
        self.sock = socket.create_connection((host, port), timeout=timeout)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.xid = 0
        self.session_id = 0
        self.passwd = b""
        self.negotiated_timeout = 0
        self.events = []  # notifications received while awaiting replies

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass

    def abort(self):
        """Close with RST instead of FIN (SO_LINGER 0)."""
        try:
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                                 struct.pack("ii", 1, 0))
        except OSError:
            pass
        self.close()

    def send(self, data):
        self.sock.sendall(data)

    def send_frame(self, payload):
        self.send(frame(payload))

    def _recv_exact(self, n, deadline):
        out = bytearray()
        while len(out) < n:
            left = deadline - time.monotonic()
            if left <= 0:
                raise Timeout("timed out with %d of %d bytes" % (len(out), n))
            self.sock.settimeout(left)
            try:
                chunk = self.sock.recv(n - len(out))
            except socket.timeout:
                continue
            except (ConnectionResetError, BrokenPipeError) as e:
                raise Closed(str(e))
            if not chunk:
                raise Closed("EOF after %d of %d bytes" % (len(out), n))
            out += chunk
        return bytes(out)

    def recv_frame(self, timeout=5.0):
        deadline = time.monotonic() + timeout
        n = struct.unpack(">i", self._recv_exact(4, deadline))[0]
        if n < 0 or n > 64 << 20:
            raise ValueError("bad reply length %d" % n)
        return self._recv_exact(n, deadline)

    def wait_closed(self, timeout=5.0):
        """True if the server closes the socket (EOF/RST) within timeout,
        False if the connection is still open.  Anything the server sends
        meanwhile is returned as the second element."""
        deadline = time.monotonic() + timeout
        got = bytearray()
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                return False, bytes(got)
            self.sock.settimeout(left)
            try:
                chunk = self.sock.recv(65536)
            except socket.timeout:
                continue
            except (ConnectionResetError, BrokenPipeError):
                return True, bytes(got)
            if not chunk:
                return True, bytes(got)
            got += chunk

    def handshake(self, timeout_ms=10000, **kw):
        self.send_frame(connect_request(timeout_ms=timeout_ms, **kw))
        r = Reader(self.recv_frame())
        proto = r.int()
        self.negotiated_timeout = r.int()
        self.session_id = r.long()
        self.passwd = r.buffer()
        ro = r.bool() if r.remaining() else None
        return dict(protocolVersion=proto, timeOut=self.negotiated_timeout,
                    sessionId=self.session_id, passwd=self.passwd,
                    readOnly=ro)

    def next_xid(self):
        self.xid += 1
        return self.xid

    def call(self, op, body=b"", xid=None, timeout=5.0):
        """Send one request, return (ReplyHeader dict, Reader on body).
        Watch notifications that arrive first are queued in self.events."""
        if xid is None:
            xid = self.next_xid()
        self.send_frame(request(xid, op, body))
        return self.reply(xid, timeout)

    def reply(self, xid, timeout=5.0):
        deadline = time.monotonic() + timeout
        while True:
            r = Reader(self.recv_frame(max(0.01, deadline - time.monotonic())))
            hdr = dict(xid=r.int(), zxid=r.long(), err=r.int())
            if hdr["xid"] == XID_NOTIFICATION and xid != XID_NOTIFICATION:
                self.events.append((r.int(), r.int(), r.string()))
                continue
            if hdr["xid"] != xid:
                raise ValueError("reply xid %d, expected %d"
                                 % (hdr["xid"], xid))
            return hdr, r

    def ping(self, timeout=5.0):
        hdr, _ = self.call("ping", xid=XID_PING, timeout=timeout)
        return hdr["err"]

    def create(self, path, data=b"", flags=0, acl=OPEN_ACL):
        hdr, r = self.call("create", create_body(path, data, acl, flags))
        return hdr["err"], (r.string() if hdr["err"] == 0 else None)

    def get_data(self, path, watch=False):
        hdr, r = self.call("getData", path_watch_body(path, watch))
        if hdr["err"]:
            return hdr["err"], None, None
        return 0, r.buffer(), r.stat()

    def exists(self, path, watch=False):
        hdr, r = self.call("exists", path_watch_body(path, watch))
        return hdr["err"], (r.stat() if hdr["err"] == 0 else None)

    def delete(self, path, version=-1):
        hdr, _ = self.call("delete", delete_body(path, version))
        return hdr["err"]

    def close_session(self):
        hdr, _ = self.call("closeSession")
        return hdr["err"]


def session(host, port, timeout_ms=10000, sock_timeout=10.0):
    """Connect and handshake; returns the Conn."""
    c = Conn(host, port, sock_timeout)
    c.handshake(timeout_ms)
    return c


def four_letter(host, port, word, timeout=5.0):
    """Send a four letter word (ruok, srvr, ...) and return the reply text,
    read until the server closes the connection."""
    with socket.create_connection((host, port), timeout=timeout) as s:
        s.sendall(word.encode())
        out = bytearray()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            s.settimeout(max(0.01, deadline - time.monotonic()))
            try:
                chunk = s.recv(4096)
            except socket.timeout:
                break
            except ConnectionResetError:
                break
            if not chunk:
                break
            out += chunk
        return out.decode(errors="replace")


def parse_addr(s):
    host, _, port = s.rpartition(":")
    return host or "127.0.0.1", int(port)
