#!/bin/bash
# Sets up a fresh Debian 12 machine (as root), starts a local coordd on
# 127.0.0.1:2181 and mounts the tree at /coord.  Runs in the foreground;
# Ctrl-C unmounts /coord and stops coordd.
set -e
cd "$(dirname "$0")/.."
bash .ci/deps
autoreconf -fi
mkdir -p build && cd build
[ -f Makefile ] || ../configure
make -j2
mkdir -p /var/lib/coordd /coord
./replica/coordd -c ../examples/standalone.cfg &
coordd=$!
trap 'fusermount3 -u /coord 2>/dev/null; kill $coordd 2>/dev/null; wait' EXIT INT TERM
for i in $(seq 50); do
	(exec 3<>/dev/tcp/127.0.0.1/2181) 2>/dev/null && break
	sleep 0.1
done
./fs/coordfs -o auto_unmount,allow_other 127.0.0.1:2181 /coord
echo "coordd serves 127.0.0.1:2181 and the tree is mounted at /coord."
echo "Try: echo hello > /coord/greeting; ls -l /coord; zkCli.sh -server 127.0.0.1:2181"
wait $coordd
