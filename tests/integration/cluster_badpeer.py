#!/usr/bin/python3
"""cluster_badpeer: garbage on the peer ports disturbs nothing.

Anyone who can reach a replica's election or quorum port can send it
bytes.  Each of these is sent to every replica, on both ports, while a
client keeps writing:

  * random garbage, a zero-length frame, a frame longer than any peer
    message may be, a frame cut short by a close;
  * a well-formed vote from a server id that is not in the configuration,
    and one voting for an unknown server;
  * on the quorum port: FOLLOWERINFO from an unknown id and from our own
    id, ACKEPOCH / ACK / REQUEST without FOLLOWERINFO, a FOLLOWERINFO that
    then never answers LEADERINFO;
  * 300 connections opened and dropped.

Afterwards every replica still runs, the leader is the same (nothing made
the ensemble re-elect), every write was acknowledged, and all trees are
identical.  coordd only: the peer protocol is ours, not ZooKeeper's.
"""

import os
import random
import socket
import struct
import sys
import threading
import time

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import coordtest as ct                                        # noqa: E402
import cluster as cl                                          # noqa: E402

ct.require_server()
if cl.KIND != "coordd":
    ct.skip_all("the peer protocol is coordd's own")

MSG_VOTE, MSG_FOLLOWERINFO, MSG_ACKEPOCH, MSG_ACK, MSG_ACKNL, MSG_REQUEST = 1, 10, 11, 12, 13, 14

t = ct.TAP()
C = cl.Cluster(3)
C.start()
leader0 = C.leader()
t.diag("ensemble up: modes %r, leader server %d" % (C.modes(), leader0 + 1))


def frame(typ, body=b""):
    return struct.pack(">IB", 1 + len(body), typ) + body


def vote(sender, state=0, rnd=1, vsid=1, vzxid=0, vepoch=0):
    return frame(MSG_VOTE, struct.pack(">iiqqqq", sender, state, rnd, vsid, vzxid, vepoch))


def send(port, data, wait=0.05):
    try:
        s = socket.create_connection(("127.0.0.1", port), 2)
        s.sendall(data)
        time.sleep(wait)
        s.close()
    except OSError:
        pass


rnd = random.Random(int(os.environ.get("CLUSTER_SEED", "7")))
payloads = [
    ("garbage", bytes(rnd.randrange(256) for _ in range(4096))),
    ("zero-length frame", struct.pack(">I", 0)),
    ("oversized frame", struct.pack(">IB", 0x7fffffff, MSG_VOTE) + b"x" * 100),
    ("truncated frame", struct.pack(">IB", 1000, MSG_VOTE) + b"x" * 10),
    ("vote from unknown id 77", vote(77)),
    ("vote for unknown server 99", vote(1, vsid=99)),
    ("short vote", frame(MSG_VOTE, b"\0\0\0\1")),
    ("unknown message type", frame(200, b"hello")),
    ("FOLLOWERINFO from unknown id", frame(MSG_FOLLOWERINFO, struct.pack(">iqq", 42, 0, 0))),
    ("ACKEPOCH first", frame(MSG_ACKEPOCH, struct.pack(">qq", 0, 0))),
    ("ACK first", frame(MSG_ACK, struct.pack(">q", 1 << 40))),
    ("NEWLEADER ack first", frame(MSG_ACKNL, struct.pack(">q", 1 << 40))),
    ("REQUEST first", frame(MSG_REQUEST, struct.pack(">qiib", 1, 1, 1, 0))),
]

stop = threading.Event()
acked, failed = [], []


def writer():
    k = C.client(list(range(3)))
    n = 0
    while not stop.is_set():
        p = "/bad/w%d" % n
        try:
            k.create(p, b"x", makepath=True)
            acked.append(p)
        except Exception as e:                               # noqa
            failed.append((p, type(e).__name__))
        n += 1
    k.stop()


th = threading.Thread(target=writer, daemon=True)
th.start()


@t.case
def garbage_everywhere():
    for name, data in payloads:
        for nd in C.nodes:
            for port in (nd.election_port, nd.quorum_port):
                send(port, data)
        t.ok(len(C.running()) == 3, "%s: every replica still runs" % name)


@t.case
def fake_follower_that_goes_silent():
    L = C.nodes[C.leader()]
    s = socket.create_connection(("127.0.0.1", L.quorum_port), 2)
    other = [nd.myid for nd in C.nodes if nd.myid != L.myid][0]
    # claims to be a real follower: the leader takes it as a reconnect and
    # drops the real one's link, which must come back by itself
    s.sendall(frame(MSG_FOLLOWERINFO, struct.pack(">iqq", other, 0, 0)))
    time.sleep(0.3)
    s.close()
    ok = ct.wait_for(lambda: C.stable() is not None, 30)
    t.ok(ok, "the ensemble is stable again after an impostor follower")


@t.case
def connection_storm():
    for i in range(300):
        nd = C.nodes[i % 3]
        send(nd.election_port if i % 2 else nd.quorum_port, b"", wait=0)
    t.ok(len(C.running()) == 3, "300 dropped connections: every replica still runs")


@t.case
def still_one_service():
    time.sleep(0.5)
    stop.set()
    th.join(30)
    t.ok(len(acked) > 0, "writes went on during all that (%d acknowledged)" % len(acked))
    t.diag("writes not acknowledged: %d %r" % (len(failed), failed[:5]))
    t.is_eq(C.crashes(), [], "no replica exited by itself")
    ok, tree = C.wait_all_equal()
    t.ok(ok, "all replicas identical", None if ok else tree)
    missing = [p for p in acked if p not in tree]
    t.is_eq(missing, [], "every acknowledged write is there")
    t.diag("leader before: server %d, after: server %d" % (leader0 + 1, C.leader() + 1))


t.run()
