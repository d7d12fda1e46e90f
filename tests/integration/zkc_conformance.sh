#!/bin/sh
# zkc_conformance.sh - run tests/zkc_conformance (the ZooKeeper C client
# conformance test) against a fresh standalone server: coordd by default,
# Apache ZooKeeper 3.8 with COORD_SERVER=zookeeper.
#
# The server is started and stopped by tests/integration/coordtest.py, the
# harness the Python tests use, with tickTime 2000 (so session timeouts
# negotiate into [4000, 40000] ms) and a 500 ms container/TTL check interval.
# The binary gets the address in COORD_TEST_SERVER and prints TAP itself.
#
# Run by hand:
#   COORD_SERVER=zookeeper top_builddir=/tmp/build top_srcdir=/work/main \
#       sh tests/integration/zkc_conformance.sh

here=$(cd "$(dirname "$0")" && pwd)
: "${top_srcdir:=$(cd "$here/../.." && pwd)}"
: "${top_builddir:=$top_srcdir}"
export top_srcdir top_builddir

bin=$top_builddir/tests/zkc_conformance
if [ ! -x "$bin" ]; then
	echo "1..0 # SKIP tests/zkc_conformance not built (no ZooKeeper C client)"
	exit 0
fi

exec /usr/bin/python3 - "$bin" "$top_srcdir/tests/integration" <<'EOF'
import os
import subprocess
import sys

sys.dont_write_bytecode = True
sys.path.insert(0, sys.argv[2])
import coordtest as ct

ct.require_server()               # "1..0 # SKIP coordd not built"
try:
    srv = ct.Server(tick=2000, container_check_ms=500).start()
except Exception as e:            # noqa
    print("Bail out! server did not start: %s" % str(e).splitlines()[0],
          flush=True)
    ct.cleanup()
    sys.exit(1)
env = dict(os.environ, COORD_TEST_SERVER=srv.hosts)
try:
    rc = subprocess.call([sys.argv[1]], env=env, timeout=180)
except subprocess.TimeoutExpired:
    print("Bail out! zkc_conformance timed out", flush=True)
    rc = 1
if srv.proc is not None and srv.proc.poll() is not None:
    print("# server exited with status %d during the test" % srv.proc.poll(),
          flush=True)
    rc = rc or 1
ct.cleanup()
sys.exit(rc)
EOF
