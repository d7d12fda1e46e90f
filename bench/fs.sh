#!/bin/bash
# coordfs benchmark (not a test): warm open+read+close of a small file against
# tmpfs, latency from a write on one mount to the inotify event on another,
# and "ls -l" of a 10,000-entry directory.  Needs root and /dev/fuse.
#   make bench-fs   (or: top_builddir=BUILD bash bench/fs.sh)
set -u
b=${top_builddir:-.}
coordd=$b/replica/coordd coordfs=$b/fs/coordfs fsread=$b/bench/fsread
for x in "$coordd" "$coordfs" "$fsread"; do
	[ -x "$x" ] || { echo "fs bench: $x not built" >&2; exit 1; }
done
work=$(mktemp -d /var/tmp/coordfs-bench.XXXXXX)
port=$((20000 + RANDOM % 20000))
cleanup() {
	for m in "$work"/m1 "$work"/m2 "$work"/tmpfs; do
		fusermount3 -u "$m" 2>/dev/null || umount "$m" 2>/dev/null
	done
	[ -n "${dpid:-}" ] && kill "$dpid" 2>/dev/null
	wait 2>/dev/null
	rm -rf "$work"
}
trap cleanup EXIT
mkdir -p "$work"/data "$work"/m1 "$work"/m2 "$work"/tmpfs
cat > "$work"/zoo.cfg <<CFG
tickTime=2000
dataDir=$work/data
clientPort=$port
clientPortAddress=127.0.0.1
CFG
"$coordd" -c "$work"/zoo.cfg 2>"$work"/coordd.log & dpid=$!
for i in $(seq 100); do (exec 3<>/dev/tcp/127.0.0.1/$port) 2>/dev/null && break; sleep 0.05; done
"$coordfs" 127.0.0.1:$port "$work"/m1 2>"$work"/m1.log
"$coordfs" 127.0.0.1:$port "$work"/m2 2>"$work"/m2.log
mount -t tmpfs tmpfs "$work"/tmpfs

n=${BENCH_ITER:-20000}
printf 'key = value\nother = thing\n' > "$work"/m1/app.conf
printf 'key = value\nother = thing\n' > "$work"/tmpfs/app.conf
sleep 0.5
"$fsread" "$work"/m1/app.conf 1000 >/dev/null   # warm
"$fsread" "$work"/tmpfs/app.conf 1000 >/dev/null
med() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
c=$(for r in 1 2 3 4 5; do "$fsread" "$work"/m1/app.conf "$n"; done | med)
t=$(for r in 1 2 3 4 5; do "$fsread" "$work"/tmpfs/app.conf "$n"; done | med)
echo "warm open+read+close of a 28-byte file (median of 5 x $n):"
echo "  tmpfs    $t /s"
echo "  coordfs  $c /s"
awk -v c="$c" -v t="$t" 'BEGIN { printf "  ratio    %.3f of tmpfs\n", c / t }'

# inotify latency: write on m1, event on m2
mkdir "$work"/m1/watched
sleep 0.5
lat=()
for i in $(seq 10); do
	coproc W { inotifywait -q -e modify,create --format '%e' "$work"/m2/watched 2>/dev/null; }
	sleep 0.3
	s=$(date +%s%N)
	echo "v$i" > "$work"/m1/watched/f
	read -r -u "${W[0]}" ev
	e=$(date +%s%N)
	wait "$W_PID" 2>/dev/null
	lat+=($(( (e - s) / 1000 )))
done
printf '%s\n' "${lat[@]}" | sort -n | awk '{a[NR]=$1} END {printf "write on one mount -> inotify event on another: median %d us, max %d us (10 runs, includes close and publish)\n", a[int((NR+1)/2)], a[NR]}'

# ls -l of 10,000 entries
mkdir "$work"/m1/big
/usr/bin/python3 - "$port" <<'PY'
import sys
from kazoo.client import KazooClient
zk = KazooClient(hosts="127.0.0.1:%s" % sys.argv[1]); zk.start()
ops = [zk.create_async("/big/f%05d" % i, b"x") for i in range(10000)]
for o in ops: o.get()
zk.stop()
PY
s=$(date +%s%N); ls -l "$work"/m2/big | wc -l >/dev/null; e=$(date +%s%N)
s2=$(date +%s%N); ls -l "$work"/m2/big | wc -l >/dev/null; e2=$(date +%s%N)
echo "ls -l of 10,000 entries: cold $(( (e - s) / 1000000 )) ms, warm $(( (e2 - s2) / 1000000 )) ms"
