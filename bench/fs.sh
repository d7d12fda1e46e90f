#!/bin/bash
# coordfs benchmark (not a test): warm open+read+close of a small file against
# tmpfs, latency from a write on one mount to the inotify event on another,
# and "ls -l" of a 10,000-entry directory.  Needs root and /dev/fuse.
#   make bench-fs   (or: top_builddir=BUILD bash bench/fs.sh)
set -u
b=${top_builddir:-.}
coordd=$b/replica/coordd coordfs=$b/fs/coordfs fsread=$b/bench/fsread fsnull=$b/bench/fsnull
for x in "$coordd" "$coordfs" "$fsread" "$fsnull"; do
	[ -x "$x" ] || { echo "fs bench: $x not built" >&2; exit 1; }
done
work=$(mktemp -d /var/tmp/coordfs-bench.XXXXXX)
port=$((20000 + RANDOM % 20000))
cleanup() {
	for m in "$work"/m1 "$work"/m2 "$work"/tmpfs "$work"/null-spin "$work"/null-libfuse "$work"/null-noflush; do
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
# the floor: a filesystem that only answers, with coordfs's open flags
# (bench/fsnull.c), under coordfs's loop and under libfuse's own, and one
# without FLUSH (what FOPEN_NOFLUSH would save; coordfs keeps FLUSH for
# POSIX locks)
for v in spin libfuse noflush; do
	mkdir -p "$work"/null-$v
	case $v in
	noflush) "$fsnull" "$work"/null-$v spin noflush 2>"$work"/null-$v.log & ;;
	*) "$fsnull" "$work"/null-$v $v 2>"$work"/null-$v.log & ;;
	esac
done
for i in $(seq 100); do [ -f "$work"/null-spin/f ] && [ -f "$work"/null-libfuse/f ] && [ -f "$work"/null-noflush/f ] && break; sleep 0.05; done
files=("$work"/tmpfs/app.conf "$work"/m1/app.conf "$work"/null-spin/f "$work"/null-libfuse/f "$work"/null-noflush/f)
for f in "${files[@]}"; do "$fsread" "$f" 1000 >/dev/null; done   # warm
# Rounds interleave the five, so each sees the same noise; medians of 5.
declare -A rate
for r in 1 2 3 4 5; do
	for f in "${files[@]}"; do rate[$f]+="$("$fsread" "$f" "$n") "; done
done
med() { tr ' ' '\n' | grep . | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
t=$(echo "${rate[${files[0]}]}" | med)
echo "warm open+read+close of a 28-byte file (median of 5 x $n, rounds interleaved):"
printf '  %-44s %7s /s\n' "tmpfs" "$t"
label=("" "coordfs" "null FUSE fs, coordfs's loop (bench/fsnull)" "null FUSE fs, libfuse's loop" "null FUSE fs, coordfs's loop, no FLUSH")
for i in 1 2 3 4; do
	c=$(echo "${rate[${files[$i]}]}" | med)
	printf '  %-44s %7s /s  %.3f of tmpfs\n' "${label[$i]}" "$c" "$(awk -v c="$c" -v t="$t" 'BEGIN { print c / t }')"
done
for v in spin libfuse noflush; do fusermount3 -u "$work"/null-$v; done

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
