#!/usr/bin/python3
"""Writes a seed corpus for tests/fuzz_request: sequences of well-formed
ZooKeeper request frames in the harness's chunk format ([u16 len][body])."""
import os
import struct
import sys

def i32(v): return struct.pack('>i', v)
def i64(v): return struct.pack('>q', v)
def b(v): return struct.pack('>?', v)
def s(v): return i32(-1) if v is None else i32(len(v.encode())) + v.encode()
def buf(v): return i32(-1) if v is None else i32(len(v)) + v
def acl_open(): return i32(1) + i32(31) + s('world') + s('anyone')

def req(xid, op, body): return i32(xid) + i32(op) + body
def create(xid, path, data=b'x', flags=0, op=1, ttl=None):
    body = s(path) + buf(data) + acl_open() + i32(flags)
    if ttl is not None:
        body += i64(ttl)
    return req(xid, op, body)
def multi_hdr(t, done=False): return i32(t) + b(done) + i32(-1)

def chunk(frames):
    return b''.join(struct.pack('>H', len(f)) + f for f in frames)

seeds = {
    'crud': [create(1, '/a'), req(2, 4, s('/a') + b(True)), req(3, 5, s('/a') + buf(b'yy') + i32(-1)),
             req(4, 3, s('/a') + b(True)), req(5, 8, s('/') + b(True)), req(6, 12, s('/a') + b(False)),
             req(7, 2, s('/a') + i32(-1))],
    'seq_eph': [create(1, '/e-', flags=3), create(2, '/p', op=15), create(3, '/p/c-', flags=2),
                req(4, 103, s('/')), req(5, 104, s('/'))],
    'container_ttl': [create(1, '/c', op=19, flags=4), create(2, '/c/x'), create(3, '/t', op=21, flags=5, ttl=100),
                      req(4, 2, s('/c/x') + i32(-1))],
    'multi': [req(1, 14, multi_hdr(1) + s('/m') + buf(b'1') + acl_open() + i32(0) +
                  multi_hdr(13) + s('/m') + i32(0) + multi_hdr(5) + s('/m') + buf(b'2') + i32(-1) +
                  multi_hdr(2) + s('/m') + i32(-1) + multi_hdr(-1, True))],
    'multiread': [create(1, '/r'), req(2, 22, multi_hdr(4) + s('/r') + b(False) + multi_hdr(8) + s('/') + b(False) +
                                       multi_hdr(4) + s('/nope') + b(False) + multi_hdr(-1, True))],
    'acl_auth': [req(-4, 100, i32(0) + s('digest') + buf(b'user:pw')),
                 req(1, 1, s('/sec') + buf(b'x') + i32(1) + i32(31) + s('auth') + s('') + i32(0)),
                 req(2, 6, s('/sec')), req(3, 7, s('/sec') + acl_open() + i32(-1)), req(4, 107, b'')],
    'watches': [req(-8, 105, i64(0) + i32(1) + s('/a') + i32(1) + s('/b') + i32(1) + s('/') + i32(1) + s('/p') + i32(1) + s('/r')),
                req(1, 106, s('/') + i32(1)), req(2, 17, s('/') + i32(3)), req(3, 18, s('/') + i32(3)),
                req(4, 9, s('/')), req(-2, 11, b'')],
    'close': [req(1, -11, b'')],
}
out = sys.argv[1]
for name, frames in seeds.items():
    with open(os.path.join(out, name), 'wb') as f:
        f.write(chunk(frames))
with open(os.path.join(out, 'raw_garbage'), 'wb') as f:
    f.write(b'\xff' + b'\x00\x00\x00\x05hello' + b'\x7f\xff\xff\xff')
