#!/bin/bash
# Sets up a fresh Debian 12 machine (as root), starts a local three-replica
# coordd ensemble (clients on 127.0.0.1:2181, :2182 and :2183, data in
# /var/lib/coordd/N) and mounts the tree at /coord through all three.
# Runs in the foreground; Ctrl-C unmounts /coord and stops the replicas.
# Kill one replica (any) and everything goes on: that is the point.
set -e
cd "$(dirname "$0")/.."
bash .ci/deps
autoreconf -fi
mkdir -p build && cd build
[ -f Makefile ] || ../configure
make -j2
mkdir -p /coord
pids=()
trap 'fusermount3 -u /coord 2>/dev/null; kill ${pids[*]} 2>/dev/null; wait' EXIT INT TERM
for n in 1 2 3; do
	d=/var/lib/coordd/$n
	mkdir -p "$d"
	echo $n > "$d/myid"
	cat > "$d/zoo.cfg" <<CFG
tickTime=500
initLimit=10
syncLimit=5
dataDir=$d
clientPort=$((2180 + n))
4lw.commands.whitelist=*
server.1=127.0.0.1:2888:3888
server.2=127.0.0.1:2889:3889
server.3=127.0.0.1:2890:3890
CFG
	./replica/coordd -c "$d/zoo.cfg" 2>>"$d/coordd.log" &
	pids+=($!)
done
for i in $(seq 100); do
	echo srvr | nc -q1 127.0.0.1 2181 2>/dev/null | grep -q '^Mode: \(leader\|follower\)' && break
	sleep 0.1
done
./fs/coordfs -o auto_unmount,allow_other 127.0.0.1:2181,127.0.0.1:2182,127.0.0.1:2183 /coord
echo "coordd replicas serve 127.0.0.1:2181-2183 (logs in /var/lib/coordd/N/coordd.log);"
echo "the tree is mounted at /coord."
echo "Try: echo hello > /coord/greeting; ls -l /coord; ./ctl/coordctl -s 127.0.0.1:2181,127.0.0.1:2182,127.0.0.1:2183 status"
wait
