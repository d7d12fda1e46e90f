#!/usr/bin/python3
"""badinput - bad input never crashes or wedges the server.

Crafted frames (tests/integration/rawzk.py) are thrown at one server while a
well-behaved raw session and a kazoo session stay connected; after every
attack the raw session must still be served on the same TCP connection, and
at the end the server must answer ruok with imok and kazoo must never have
lost its connection.

Each case asserts exactly what Apache ZooKeeper 3.8.0 (NIOServerCnxn,
jute.maxbuffer 0xfffff) does, so coordd can copy it.  Summary:

  before the handshake (every frame is read as a ConnectRequest)
    frame length 0, < 0, > 0xfffff ..... close, nothing sent
    frame length == 0xfffff ............ accepted; waits for the payload
    garbage / short ConnectRequest ..... close, nothing sent
    truncated frame .................... waits for the rest (open)
    request instead of ConnectRequest .. close, nothing sent
    lastZxidSeen > server's last zxid .. close, nothing sent
    protocolVersion junk ............... ignored; reply protocolVersion 0
    no trailing readOnly byte .......... reply has no readOnly byte (36 bytes)
    unknown session id / wrong password  ConnectResponse{0, timeOut 0,
                                         sessionId 0, 16 zero bytes, false},
                                         then close
    timeOut < 2*tick or > 20*tick ...... clamped into [2*tick, 20*tick]
  after the handshake
    frame length 0, < 0, > 0xfffff,
    or shorter than a RequestHeader .... close, nothing sent
    unknown opcode ..................... ReplyHeader{xid, zxid -1,
                                         ZUNIMPLEMENTED -6}, no body, then
                                         close; the session survives
    second ConnectRequest .............. read as xid 0 / opcode 0: -6, close
    body that does not decode (string or
    vector length past the frame, null
    path, empty body, bad multi) ....... ReplyHeader{xid, zxid, ZMARSHALLINGERROR
                                         -5}, no body, connection stays open
    malformed auth packet .............. close, nothing sent
    sasl (102) without SASL ............ close, nothing sent
    ping with any xid .................. reply xid is -2
    trailing bytes after a request ..... ignored
"""

import os
import re
import socket
import struct
import sys
import threading
import time

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import coordtest as ct  # noqa: E402
import rawzk as z       # noqa: E402

ct.require_server()

TICK = 1000
MAXBUF = 0xfffff          # jute.maxbuffer: the largest accepted frame length
CLOSE_WAIT = 2.0          # ZooKeeper closes within milliseconds
t = ct.TAP()
srv = ct.Server(tick=TICK).start()
HOST, PORT = "127.0.0.1", srv.port


class Good:
    """The well-behaved raw session, connected for the whole run.  A thread
    pings it every tick so that slow cases cannot expire it; every use takes
    the lock.  If a server bug kills it, served() reports that and opens a
    new one, so that later cases are judged on their own."""

    def __init__(self):
        self.lock = threading.Lock()
        self.open()
        threading.Thread(target=self._pinger, daemon=True).start()

    def open(self):
        self.c = z.session(HOST, PORT, timeout_ms=20 * TICK)
        self.sid = self.c.session_id

    def _pinger(self):
        while True:
            time.sleep(TICK / 1000.0)
            with self.lock:
                try:
                    self.c.ping(timeout=2)
                except Exception:                             # noqa
                    pass          # served() will notice

    def __getattr__(self, name):
        """good.create(...), good.call(...): run under the lock."""
        if name in ("c", "lock", "sid"):
            raise AttributeError(name)
        fn = getattr(self.c, name)

        def locked(*a, **kw):
            with self.lock:
                return fn(*a, **kw)
        return locked


good = Good()
good.create("/bi")
good.create("/bi/good", b"payload")

kz_states = []
kz = ct.kazoo_client(srv)
kz.add_listener(lambda s: kz_states.append(str(s)))
kz.ensure_path("/bi/kazoo")


def served(what):
    """After an attack the good raw session still answers on the same TCP
    connection, with the same session."""
    try:
        ping = good.ping()
        err, data, _ = good.get_data("/bi/good")
        okay = ping == 0 and err == 0 and data == b"payload" and \
            good.c.session_id == good.sid
        detail = "ping %r get %r %r" % (ping, err, data)
    except Exception as e:                                    # noqa
        okay, detail = False, "%s: %s" % (type(e).__name__, e)
    if not okay:
        with good.lock:
            good.c.close()
            try:
                good.open()
            except Exception as e:                            # noqa
                detail += "; cannot reconnect: %r" % e
    return t.ok(okay, "still served after: %s" % what, detail)


def probe(data, closed_within=CLOSE_WAIT, open_for=0.5, expect_close=True,
          handshake=False):
    """Send data on a fresh connection (after a handshake if asked) and
    return (closed, received bytes).  If a close is expected, wait for it up
    to closed_within seconds; otherwise watch for open_for seconds."""
    c = z.session(HOST, PORT) if handshake else z.Conn(HOST, PORT)
    try:
        c.send(data)
        closed, got = c.wait_closed(closed_within if expect_close
                                    else open_for)
    except (BrokenPipeError, ConnectionResetError):
        closed, got = True, b""
    finally:
        c.close()
    return closed, got


def frames(blob):
    """Split received bytes into frames."""
    out, o = [], 0
    while o + 4 <= len(blob):
        n = struct.unpack_from(">i", blob, o)[0]
        out.append(blob[o + 4:o + 4 + n])
        o += 4 + n
    return out


def reply_header(frame):
    return struct.unpack_from(">iqi", frame, 0) if len(frame) >= 16 else None


def closed_silently(name, data, **kw):
    closed, got = probe(data, **kw)
    t.ok(closed and got == b"", "%s: connection closed, nothing sent" % name,
         "closed=%r got=%r" % (closed, got[:40]))


# --------------------------------------------------------------------------
# Before the handshake.
# --------------------------------------------------------------------------

@t.case
def garbage_instead_of_connect():
    # "GET " read as a frame length is 0x47455420 > jute.maxbuffer.
    closed_silently("HTTP request", b"GET / HTTP/1.0\r\n\r\n")
    # A 5-byte frame cannot hold a ConnectRequest: EOF while decoding.
    closed_silently("5 bytes of garbage as a ConnectRequest",
                    z.frame(b"hello"))
    closed_silently("a 20-byte frame of 0xff", z.frame(b"\xff" * 20))
    served("garbage instead of a ConnectRequest")


@t.case
def bad_frame_lengths_before_connect():
    for n in (0, -1, -0x80000000, MAXBUF + 1, 0x7fffffff):
        closed_silently("frame length %d before the handshake" % n,
                        struct.pack(">i", n))
    # Exactly jute.maxbuffer is a legal length: the server waits for it.
    closed, got = probe(struct.pack(">i", MAXBUF), expect_close=False)
    t.ok(not closed and got == b"",
         "frame length 0xfffff is accepted (server waits for the payload)",
         "closed=%r got=%r" % (closed, got))
    served("bad frame lengths before the handshake")


@t.case
def truncated_frame_then_disconnect():
    # The server waits for the rest of a partial frame, then sees EOF.
    req = z.frame(z.connect_request())
    for cut in (1, 3, 4, 10, len(req) - 1):
        c = z.Conn(HOST, PORT)
        c.send(req[:cut])
        closed, _ = c.wait_closed(0.2)
        t.ok(not closed, "%d of %d bytes of a ConnectRequest: server waits"
             % (cut, len(req)))
        if cut % 2:
            c.abort()          # RST
        else:
            c.close()          # FIN
    # A truncated request on an established session.
    c = z.session(HOST, PORT)
    body = z.frame(z.request(1, "getData", z.path_watch_body("/bi/good")))
    c.send(body[:-3])
    closed, _ = c.wait_closed(0.2)
    t.ok(not closed, "a truncated request: server waits for the rest")
    c.abort()
    served("truncated frames and disconnects")


@t.case
def requests_before_connect():
    # Before the handshake every frame is a ConnectRequest.  A getData frame
    # decodes as protocolVersion=xid, lastZxidSeen=(4<<32|pathlen), ... and is
    # refused for its lastZxidSeen; a ping frame is too short to decode.
    closed_silently("getData before the handshake",
                    z.frame(z.request(1, "getData", z.path_watch_body("/"))))
    closed_silently("ping before the handshake",
                    z.frame(z.request(z.XID_PING, "ping")))
    closed_silently("closeSession before the handshake",
                    z.frame(z.request(1, "closeSession")))
    served("requests before the handshake")


@t.case
def connect_request_fields():
    # lastZxidSeen ahead of the server: "Refusing session request for client
    # as it has seen zxid ... client must try another server"; the
    # connection is closed without a ConnectResponse.
    closed_silently("lastZxidSeen far ahead",
                    z.frame(z.connect_request(last_zxid=1 << 40)))
    closed_silently("lastZxidSeen ahead by 0x100000",
                    z.frame(z.connect_request(last_zxid=good_zxid() +
                                              0x100000)))
    # passwd length past the end of the frame.
    closed_silently("passwd length past the frame",
                    z.frame(z.Writer().int(0).long(0).int(10000).long(0)
                            .int(1000).raw(b"ab").bytes()))

    for pv in (12345, -1):
        c = z.Conn(HOST, PORT)
        try:
            r = c.handshake(protocol_version=pv)
            t.ok(r["protocolVersion"] == 0 and r["sessionId"] != 0 and
                 len(r["passwd"]) == 16,
                 "protocolVersion %d is ignored: session granted, reply "
                 "protocolVersion 0" % pv, repr(r))
            t.is_eq(c.close_session(), 0, "and the session works")
        except Exception as e:                                # noqa
            t.ok(False, "protocolVersion %d" % pv, repr(e))
            t.skip("and the session works", "no session")
        c.close()

    # The readOnly flag at the end of ConnectRequest is optional; the reply
    # carries one only if the request did.
    for ro, size in ((None, 36), (False, 37), (True, 37)):
        c = z.Conn(HOST, PORT)
        c.send_frame(z.connect_request(read_only=ro))
        f = c.recv_frame()
        t.is_eq(len(f), size, "readOnly=%r: ConnectResponse is %d bytes"
                % (ro, size))
        if ro is not None:
            t.is_eq(f[-1], 0, "readOnly=%r: a standalone server answers "
                    "readOnly false" % ro)
        c.close()

    # Trailing bytes inside the ConnectRequest frame are ignored.
    c = z.Conn(HOST, PORT)
    c.send_frame(z.connect_request() + b"junkjunkjunk")
    f = c.recv_frame()
    t.ok(len(f) == 37 and struct.unpack_from(">q", f, 8)[0] != 0,
         "trailing junk after a ConnectRequest is ignored")
    c.close()
    served("odd ConnectRequest fields")


def good_zxid():
    hdr, _ = good.call("exists", z.path_watch_body("/bi"))
    return hdr["zxid"]


@t.case
def session_timeout_clamps():
    # minSessionTimeout = 2 * tickTime, maxSessionTimeout = 20 * tickTime.
    for ask, want in ((0, 2 * TICK), (-5, 2 * TICK), (1, 2 * TICK),
                      (3 * TICK, 3 * TICK), (1000000, 20 * TICK),
                      (0x7fffffff, 20 * TICK)):
        c = z.Conn(HOST, PORT)
        r = c.handshake(timeout_ms=ask)
        t.is_eq(r["timeOut"], want, "timeOut %d negotiates to %d"
                % (ask, want))
        c.close_session()
        c.close()
    served("timeout negotiation")


@t.case
def expired_or_unknown_session():
    # Unknown session id, and a known one with the wrong password: the
    # server answers with a ConnectResponse of timeOut 0, sessionId 0 and a
    # 16-byte zero password, then closes.  (For a wrong password ZooKeeper
    # first drops the session's current connection; the owner reconnects.)
    expired = struct.pack(">iiqi", 0, 0, 0, 16) + b"\0" * 16 + b"\0"
    c = z.Conn(HOST, PORT)
    c.send_frame(z.connect_request(session_id=0x1234))
    closed, got = c.wait_closed(CLOSE_WAIT)
    t.ok(closed and frames(got) == [expired],
         "unknown session id: expired ConnectResponse, then close",
         "closed=%r got=%r" % (closed, got))
    c.close()

    victim = z.session(HOST, PORT)
    c = z.Conn(HOST, PORT)
    c.send_frame(z.connect_request(session_id=victim.session_id,
                                   passwd=b"\x5a" * 16))
    closed, got = c.wait_closed(CLOSE_WAIT)
    t.ok(closed and frames(got) == [expired],
         "wrong password: expired ConnectResponse, then close",
         "closed=%r got=%r" % (closed, got))
    c.close()
    r = z.Conn(HOST, PORT)
    info = r.handshake(session_id=victim.session_id, passwd=victim.passwd)
    t.is_eq(info["sessionId"], victim.session_id,
            "the session itself survives a wrong-password attempt")
    r.close_session()
    r.close()
    victim.close()

    c = z.session(HOST, PORT)
    sid, pw = c.session_id, c.passwd
    t.is_eq(c.close_session(), 0, "closeSession is answered with err 0")
    closed, _ = c.wait_closed(CLOSE_WAIT)
    t.ok(closed, "and the server then closes the connection")
    c.close()
    c = z.Conn(HOST, PORT)
    c.send_frame(z.connect_request(session_id=sid, passwd=pw))
    closed, got = c.wait_closed(CLOSE_WAIT)
    t.ok(closed and frames(got) == [expired],
         "reattaching to a closed session: expired ConnectResponse, close")
    c.close()
    served("expired and unknown sessions")


# --------------------------------------------------------------------------
# After the handshake.
# --------------------------------------------------------------------------

@t.case
def bad_frame_lengths_after_connect():
    for n in (0, -1, MAXBUF + 1, 0x7fffffff):
        closed_silently("frame length %d on a session" % n,
                        struct.pack(">i", n), handshake=True)
    # 4 and 7 bytes cannot hold a RequestHeader (xid, type).
    closed_silently("4-byte request", z.frame(b"\0\0\0\1"), handshake=True)
    closed_silently("7-byte request", z.frame(b"\0\0\0\1\0\0\0"),
                    handshake=True)
    served("bad frame lengths on a session")


@t.case
def unknown_opcodes():
    # ZooKeeperServer.submitRequest: an unknown type goes to
    # UnimplementedRequestProcessor, which replies ZUNIMPLEMENTED with zxid
    # -1 and no body and then closes the connection (not the session).
    for op in (999, 10, 23, 50, 99, 108, -5, 0, -1, 0x7fffffff):
        c = z.session(HOST, PORT)
        sid, pw = c.session_id, c.passwd
        c.send_frame(z.request(77, op))
        closed, got = c.wait_closed(1.0)
        f = frames(got)
        t.ok(closed and len(f) == 1 and len(f[0]) == 16 and
             reply_header(f[0]) == (77, -1, z.ZUNIMPLEMENTED),
             "opcode %d: ZUNIMPLEMENTED (-6), zxid -1, no body, then close"
             % op, "closed=%r got=%r" % (closed, got))
        c.close()
        if op == 999:
            r = z.Conn(HOST, PORT)
            info = r.handshake(session_id=sid, passwd=pw)
            t.is_eq(info["sessionId"], sid,
                    "the session survives an unknown opcode")
            r.close_session()
            r.close()
    # A second ConnectRequest on a live connection is just an unknown
    # request: xid 0 (protocolVersion), opcode 0 (high half of lastZxidSeen).
    closed, got = probe(z.frame(z.connect_request()), handshake=True)
    f = frames(got)
    t.ok(closed and len(f) == 1 and reply_header(f[0]) ==
         (0, -1, z.ZUNIMPLEMENTED),
         "second ConnectRequest: ZUNIMPLEMENTED for xid 0, then close",
         "closed=%r got=%r" % (closed, got))
    # Pipelined requests: the bad one gets its -6 and nothing after it is
    # answered.  ZooKeeper sends the -6 straight from the reading thread, so
    # the reply to the good request before it may come first, after it, or
    # not at all (the close can overtake it); coordd should answer it first.
    c = z.session(HOST, PORT)
    c.send(z.frame(z.request(1, "exists", z.path_watch_body("/"))) +
           z.frame(z.request(2, 999)) +
           z.frame(z.request(3, "exists", z.path_watch_body("/"))))
    closed, got = c.wait_closed(CLOSE_WAIT)
    hdrs = [reply_header(f) for f in frames(got)]
    xids = [h[0] for h in hdrs]
    t.ok(closed and (2, -1, z.ZUNIMPLEMENTED) in hdrs and 3 not in xids and
         set(xids) <= {1, 2},
         "pipelined: request 2 gets -6, request 3 is never answered",
         "closed=%r xids=%r" % (closed, xids))
    c.close()
    served("unknown opcodes")


def marshalling_error(name, op, body, xid=5):
    """A request whose body does not decode: ZMARSHALLINGERROR reply with
    no body, and the connection stays open and usable."""
    c = z.session(HOST, PORT)
    try:
        hdr, r = c.call(op, body, xid=xid)
        rest = r.remaining()
        still = c.ping() == 0
    except Exception as e:                                    # noqa
        t.ok(False, "%s: ZMARSHALLINGERROR, connection kept" % name,
             repr(e))
        return
    finally:
        c.close()
    t.ok(hdr["err"] == z.ZMARSHALLINGERROR and rest == 0 and still,
         "%s: ZMARSHALLINGERROR (-5), no body, connection kept" % name,
         "err=%r body=%d ping=%r" % (hdr["err"], rest, still))


@t.case
def undecodable_bodies():
    # String length past the end of the frame, for every request that
    # starts with a path.
    past = z.Writer().int(1000).raw(b"/abc").bool(False).bytes()
    for op in ("getData", "exists", "create", "create2", "delete", "setData",
               "getChildren", "getChildren2", "sync", "getACL", "setACL",
               "check", "createContainer", "createTTL", "checkWatches",
               "removeWatches", "addWatch", "getEphemerals",
               "getAllChildrenNumber"):
        marshalling_error("%s with a path length past the frame" % op, op,
                          past)
    marshalling_error("getData with path length 0x7fffffff", "getData",
                      z.Writer().int(0x7fffffff).raw(b"/").bytes())
    marshalling_error("getData with path length -2", "getData",
                      z.Writer().int(-2).raw(b"/").bytes())
    marshalling_error("getData with a null path (-1)", "getData",
                      z.Writer().string(None).bool(False).bytes())
    marshalling_error("create with a null path (-1)", "create",
                      z.Writer().string(None).buffer(b"").acl(z.OPEN_ACL)
                      .int(0).bytes())
    marshalling_error("getData with an empty body", "getData", b"")
    marshalling_error("setData with data length past the frame", "setData",
                      z.Writer().string("/bi/good").int(5000).raw(b"x")
                      .bytes())
    marshalling_error("createSession (-10) sent by a client",
                      "createSession", b"")
    marshalling_error("removeWatches with watcher type 9", "removeWatches",
                      z.Writer().string("/").int(9).bytes())
    served("undecodable request bodies")


@t.case
def huge_vector_counts():
    marshalling_error("create with ACL count 0x7fffffff", "create",
                      z.Writer().string("/bi/h").buffer(b"")
                      .int(0x7fffffff).bytes())
    marshalling_error("setWatches with a count of 0x7fffffff", "setWatches",
                      z.Writer().long(0).int(0x7fffffff).bytes(),
                      xid=z.XID_SET_WATCHES)
    # multi: MultiHeader{type, done, err} + op, ..., {-1, true, -1}
    marshalling_error("multi: create with ACL count 0x7fffffff", "multi",
                      z.Writer().int(1).bool(False).int(-1).string("/bi/m")
                      .buffer(b"").int(0x7fffffff).bytes())
    marshalling_error("multi: path length past the frame", "multi",
                      z.Writer().int(1).bool(False).int(-1).int(1000)
                      .raw(b"/m").bytes())
    many = z.Writer()
    for _ in range(1000):
        many.int(13).bool(False).int(-1).string("/").int(-1)
    marshalling_error("multi: 1000 checks and no terminator", "multi",
                      many.bytes())
    marshalling_error("multi: unknown op type 99", "multi",
                      z.Writer().int(99).bool(False).int(-1).string("/")
                      .int(-1).int(-1).bool(True).int(-1).bytes())
    marshalling_error("multi: a getData inside a write multi", "multi",
                      z.Writer().int(4).bool(False).int(-1).string("/")
                      .bool(False).int(-1).bool(True).int(-1).bytes())
    # multiRead decodes its ops first and fails on a write op while
    # building the response, so ZooKeeper's -5 reply carries an empty
    # MultiResponse (just the end marker {-1, true, -1}), unlike multi's bare
    # header.  Clients ignore the body of an error reply, so a bare header
    # is accepted too.
    c = z.session(HOST, PORT)
    hdr, r = c.call("multiRead", z.Writer().int(1).bool(False).int(-1)
                    .string("/bi/mr").buffer(b"").acl(z.OPEN_ACL).int(0)
                    .int(-1).bool(True).int(-1).bytes())
    tail = (r.int(), r.bool(), r.int()) if r.remaining() == 9 else \
        r.remaining()
    t.ok(hdr["err"] == z.ZMARSHALLINGERROR and tail in ((-1, True, -1), 0)
         and c.ping() == 0,
         "multiRead with a create inside: -5 (+ end marker), connection "
         "kept", "err=%r tail=%r" % (hdr["err"], tail))
    c.close()
    # Negative and empty ACL vectors decode fine and are refused as ACLs.
    for n in (-1, 0):
        c = z.session(HOST, PORT)
        hdr, _ = c.call("create", z.Writer().string("/bi/acl%d" % n)
                        .buffer(b"").int(n).int(0).bytes())
        t.is_eq(hdr["err"], z.ZINVALIDACL, "create with ACL count %d: "
                "ZINVALIDACL (-114)" % n)
        c.close()
    # A multi whose first header says done decodes as an empty multi.
    c = z.session(HOST, PORT)
    hdr, r = c.call("multi", z.Writer().int(-1).bool(True).int(-1).bytes())
    tail = (r.int(), r.bool(), r.int()) if r.remaining() >= 9 else None
    t.ok(hdr["err"] == 0 and tail == (-1, True, -1),
         "empty multi: err 0 and just the end marker {-1, true, -1}",
         "err=%r tail=%r" % (hdr["err"], tail))
    c.close()
    served("huge vector counts")


@t.case
def auth_and_sasl():
    # AuthPacket that does not decode: the connection is closed.
    closed_silently("malformed auth packet",
                    z.frame(z.request(z.XID_AUTH, "auth",
                                      z.Writer().int(0).int(1000)
                                      .raw(b"dig").bytes())),
                    handshake=True)
    # Unknown auth scheme: ZAUTHFAILED (-115) reply, then close.
    closed, got = probe(z.frame(z.request(z.XID_AUTH, "auth",
                                          z.Writer().int(0)
                                          .string("nosuch")
                                          .buffer(b"x").bytes())),
                        handshake=True)
    f = frames(got)
    t.ok(closed and len(f) == 1 and reply_header(f[0])[0] == z.XID_AUTH and
         reply_header(f[0])[2] == -115,
         "unknown auth scheme: ZAUTHFAILED (-115) with xid -4, then close",
         "closed=%r got=%r" % (closed, got))
    # A SASL token to a server without SASL configured: ZooKeeper answers
    # err 0 with zxid 0 and a null token (SetSASLResponse{-1}) and keeps the
    # connection; a sasl body that does not decode closes it.
    c = z.session(HOST, PORT)
    hdr, r = c.call("sasl", z.Writer().buffer(b"x").bytes(), xid=9)
    tok = r.buffer() if r.remaining() >= 4 else "missing"
    t.ok(hdr["err"] == 0 and hdr["zxid"] == 0 and tok is None and
         c.ping() == 0,
         "sasl (102) without SASL configured: err 0, zxid 0, null token, "
         "connection kept", "hdr=%r token=%r" % (hdr, tok))
    c.close()
    closed_silently("sasl (102) with an empty body",
                    z.frame(z.request(1, "sasl")), handshake=True)
    served("bad auth packets")


@t.case
def oddities_that_are_served():
    c = z.session(HOST, PORT)
    # The server answers every ping with xid -2 whatever xid it carried.
    c.send_frame(z.request(41, "ping"))
    hdr = reply_header(c.recv_frame())
    t.is_eq(hdr[0] if hdr else None, z.XID_PING,
            "ping sent with xid 41 is answered with xid -2")
    # Trailing bytes after a request body are ignored.
    hdr, r = c.call("getData", z.path_watch_body("/bi/good") + b"junk")
    t.ok(hdr["err"] == 0 and r.buffer() == b"payload",
         "trailing bytes after a request are ignored")
    # Root's data is empty (length 0), not null.
    err, data, _ = c.get_data("/")
    t.ok(err == 0 and data == b"", "getData / returns empty data")
    c.close()


@t.case
def server_side_path_validation():
    # The C client and kazoo validate paths before sending; the server
    # validates too.  create checks the parent first (ZNONODE) and then the
    # full path (ZBADARGUMENTS); setData validates; delete of a path that
    # cannot exist is ZNONODE (except relative paths and /).
    c = z.session(HOST, PORT)
    for path, want in (("noslash", z.ZBADARGUMENTS),
                       ("", z.ZBADARGUMENTS),
                       ("/bi/", z.ZBADARGUMENTS),
                       ("/bi/.", z.ZBADARGUMENTS),
                       ("/bi/..", z.ZBADARGUMENTS),
                       ("/bi/x\0y", z.ZBADARGUMENTS),
                       ("/bi/\x01", z.ZBADARGUMENTS),
                       ("/bi//x", z.ZNONODE),
                       ("/nope/x", z.ZNONODE),
                       ("/", z.ZNODEEXISTS)):
        err, _ = c.create(path)
        t.is_eq(err, want, "create %r: %d" % (path, want))
    hdr, _ = c.call("create", z.Writer().buffer(b"/bi/\xff\xfe").buffer(b"")
                    .acl(z.OPEN_ACL).int(0).bytes())
    t.is_eq(hdr["err"], z.ZBADARGUMENTS, "create with invalid UTF-8: -8")
    for path in ("/bi/", "/bi/.", "noslash"):
        hdr, _ = c.call("setData", z.set_data_body(path, b"x"))
        t.is_eq(hdr["err"], z.ZBADARGUMENTS, "setData %r: -8" % path)
    for path, want in (("noslash", z.ZBADARGUMENTS), ("/", z.ZBADARGUMENTS),
                       ("/zookeeper", z.ZBADARGUMENTS),
                       ("/bi/./x", z.ZNONODE)):
        t.is_eq(c.delete(path), want, "delete %r: %d" % (path, want))
    # Sequential create of "<parent>/" is valid: the name is just the
    # 10-digit suffix.
    err, name = c.create("/bi/", flags=2)
    t.ok(err == 0 and re.fullmatch(r"/bi/\d{10}", name or ""),
         "sequential create of '/bi/' makes /bi/NNNNNNNNNN", repr(name))
    for flags in (7, 8, -1, 100):
        err, _ = c.create("/bi/f", flags=flags)
        t.is_eq(err, z.ZBADARGUMENTS, "create flags %d: -8" % flags)

    def ttl(path, flags, ms):
        hdr, _ = c.call("createTTL", z.Writer().string(path).buffer(b"")
                        .acl(z.OPEN_ACL).int(flags).long(ms).bytes())
        return hdr["err"]
    for ms, want in ((0, -8), (-1, -8), (0x10000000000, -8),
                     (0xffffffffff, 0)):
        t.is_eq(ttl("/bi/ttl%x" % (ms & 0xffff), 5, ms), want,
                "createTTL ttl %#x: %d" % (ms, want))
    for flags in (0, 1, 4):
        t.is_eq(ttl("/bi/ttlmode%d" % flags, flags, 1000), -8,
                "createTTL with non-TTL mode %d: -8" % flags)
    err, _ = c.create("/bi/ttlflag", flags=5)
    t.is_eq(err, -8, "create (opcode 1) with a TTL mode: -8")
    # Watch removal for watches the connection does not hold: ZNOWATCHER.
    hdr, _ = c.call("checkWatches", z.Writer().string("/bi").int(2).bytes())
    t.is_eq(hdr["err"], z.ZNOWATCHER, "checkWatches with no watch: -121")
    hdr, _ = c.call("removeWatches", z.Writer().string("/bi").int(3).bytes())
    t.is_eq(hdr["err"], z.ZNOWATCHER, "removeWatches with no watch: -121")
    c.close_session()
    c.close()
    served("paths the server must reject")


@t.case
def many_connections_dropped_mid_frame():
    # 500 connections in waves of 25 (coordtest sets maxClientCnxns=100):
    # each sends part of a frame and goes away, half with FIN, half with RST.
    req = z.frame(z.connect_request())
    t0 = time.monotonic()
    n = 0
    for wave in range(20):
        conns = []
        for i in range(25):
            c = z.Conn(HOST, PORT)
            if i % 3 == 0:
                c.send(req[:2 + (i % 7)])
            elif i % 3 == 1:
                c.send(req[:-1 - (i % 5)])
            else:
                c.handshake()
                c.send(z.frame(z.request(1, "getData",
                                         z.path_watch_body("/bi/good")))[:9])
            conns.append(c)
        for i, c in enumerate(conns):
            if i % 2:
                c.abort()
            else:
                c.close()
            n += 1
        if wave % 5 == 4 and not served("%d connections dropped" % n):
            return
    t.diag("500 connections in %.1f s" % (time.monotonic() - t0))


@t.case
def request_then_vanish():
    # A client sends requests and disappears before reading the replies.
    # Its session then expires normally and its ephemeral goes away.
    c = z.session(HOST, PORT, timeout_ms=2 * TICK)
    t.is_eq(c.create("/bi/vanish", b"", flags=1)[0], 0,
            "ephemeral of a client about to vanish")
    big = b"v" * 500000
    good.create("/bi/good-big", big)
    burst = b"".join(z.frame(z.request(100 + i, "getData",
                                       z.path_watch_body("/bi/good-big")))
                     for i in range(20))
    c.send(burst)
    c.abort()
    # Also: a ConnectRequest and gone before the ConnectResponse.
    d = z.Conn(HOST, PORT)
    d.send_frame(z.connect_request(timeout_ms=2 * TICK))
    d.abort()
    served("a client vanishing with replies in flight")
    gone = ct.wait_for(lambda: good.exists("/bi/vanish")[0] == z.ZNONODE,
                       timeout=10 * TICK / 1000.0 + 5)
    t.ok(gone, "the vanished client's session expires, its ephemeral "
         "is deleted")


@t.case
def four_letter_words_and_good_clients():
    t.is_eq(z.four_letter(HOST, PORT, "ruok"), "imok", "ruok -> imok")
    served("everything")
    t.ok(kz.connected and kz.get("/bi/good")[0] == b"payload",
         "kazoo session still works")
    kz.set("/bi/kazoo", b"done")
    t.is_eq(kz.get("/bi/kazoo")[0], b"done", "kazoo can still write")
    t.ok(not any(s in ("LOST", "SUSPENDED") for s in kz_states),
         "kazoo never lost its connection", repr(kz_states))
    t.ok(srv.proc.poll() is None, "server process still running")


t.run()
