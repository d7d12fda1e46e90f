#!/bin/sh
# run.sh - coordd against Apache ZooKeeper 3.8 standalone, on this machine.
#
# usage: run.sh [path/to/coordd]
#
# Starts Apache ZooKeeper and coordd on two free loopback ports, with fresh
# data directories on the same filesystem, warms both up, then runs the same
# matrix of bench/zkbench loads against one server at a time, alternating
# between them scenario by scenario so that drift on a shared machine hits
# both alike.  Prints a table of medians and the ratios, with >1 always
# meaning coordd is better.  Builds nothing: "make bench" builds zkbench and
# then runs this.  See bench/README.md for what each scenario means.
#
# Environment (all optional):
#   top_builddir      where bench/zkbench and replica/coordd are (.)
#   ZKBENCH           the load generator ($top_builddir/bench/zkbench)
#   COORDD            coordd, if not given as $1 ($top_builddir/replica/coordd)
#   BENCH_QUICK=1     one short repetition, about 30 s in all
#   BENCH_REPS        repetitions of the matrix per server (3; quick 1)
#   BENCH_SECS        measured seconds per scenario (1.5; quick 0.5)
#   BENCH_ONLY        space-separated scenario names to run (all)
#   BENCH_SERVERS     "zk coordd" (default), "zk" or "coordd"
#   BENCH_TMPDIR      parent of the data directories (/var/tmp)
#   BENCH_RESULTS     raw zkbench lines are appended here (./bench-results.txt)
#   BENCH_KEEP=1      keep the data directories and server logs
#   JAVA              java (java)
#   ZK_CLASSPATH      the ZooKeeper server's classpath (Debian's jars)
#   ZK_JVMFLAGS       JVM flags for ZooKeeper (see ZK_JVMFLAGS_DEFAULT below)

set -u
LC_ALL=C
export LC_ALL

: "${top_builddir:=.}"
ZKBENCH=${ZKBENCH:-$top_builddir/bench/zkbench}
COORDD=${1:-${COORDD:-$top_builddir/replica/coordd}}
JAVA=${JAVA:-java}
ZK_CLASSPATH=${ZK_CLASSPATH:-/usr/share/java/zookeeper.jar:/usr/share/java/slf4j-simple.jar}
# A fixed 1 GiB heap, touched up front so page faults do not land inside a
# measurement, and the parallel collector: on two cores its short
# stop-the-world young collections cost less than G1's concurrent threads
# (bench/README.md has the comparison).  forceSync=yes is ZooKeeper's
# default, spelled out because the comparison depends on it.
ZK_JVMFLAGS_DEFAULT="-Xms1g -Xmx1g -XX:+UseParallelGC -XX:ParallelGCThreads=2 -XX:+AlwaysPreTouch -Dzookeeper.forceSync=yes"
ZK_JVMFLAGS=${ZK_JVMFLAGS:-$ZK_JVMFLAGS_DEFAULT}

if [ "${BENCH_QUICK:-0}" = 1 ]; then
	reps=${BENCH_REPS:-1}
	secs=${BENCH_SECS:-0.5}
	warm=0.2
	warmup_secs=1.5
	fsync_secs=1
else
	reps=${BENCH_REPS:-3}
	secs=${BENCH_SECS:-1.5}
	warm=0.5
	warmup_secs=3
	fsync_secs=2
fi
servers=${BENCH_SERVERS:-zk coordd}
results=${BENCH_RESULTS:-./bench-results.txt}

# The matrix: name, then zkbench arguments.  Each create scenario also
# yields a "-delete" row: deleting, with the same load, what it created.
scenarios='
lat-create   -o create -c 1 -w 1
lat-set      -o set    -c 1 -w 1
lat-get      -o get    -c 1 -w 1
conc-create  -o create -c 32 -w 1
tput-create  -o create -c 8 -w 64
tput-set     -o set    -c 8 -w 64
tput-get     -o get    -c 8 -w 64
tput-mixed   -o mixed  -c 32 -w 8 -r 90
'

say() { printf '%s\n' "$*" >&2; }
die() { say "run.sh: $*"; exit 1; }

[ -x "$ZKBENCH" ] || die "no load generator at $ZKBENCH (run 'make bench', or set ZKBENCH)"

zk_jar=$(readlink -f "${ZK_CLASSPATH%%:*}" 2>/dev/null)
zk_version=$(dpkg-query -W -f '${Version}' zookeeper 2>/dev/null) ||
	zk_version=$(basename "$zk_jar" .jar)
have_zk=no
if command -v "$JAVA" >/dev/null 2>&1 && [ -f "$zk_jar" ]; then
	have_zk=yes
fi
have_coordd=no
[ -x "$COORDD" ] && have_coordd=yes

case " $servers " in *" zk "*) ;; *) have_zk=no ;; esac
case " $servers " in *" coordd "*) ;; *) have_coordd=no ;; esac
[ $have_zk = yes ] || [ $have_coordd = yes ] ||
	die "neither ZooKeeper ($zk_jar) nor coordd ($COORDD) can be run"

# A port nobody listens on.  The kernel picks it; we only borrow it for the
# moment between closing this socket and the server binding it.
free_port() {
	if command -v python3 >/dev/null 2>&1; then
		python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
		return
	fi
	p=$(( $$ % 20000 + 30000 ))
	while ss -Htln "sport = :$p" 2>/dev/null | grep -q .; do
		p=$((p + 1))
	done
	echo "$p"
}

tmp_parent=${BENCH_TMPDIR:-/var/tmp}
dir=$(mktemp -d "$tmp_parent/coordfs-bench.XXXXXX") || die "mktemp in $tmp_parent failed"
zk_pid=
coordd_pid=

stop_server() {
	# $1: pid.  TERM, then KILL if it has not gone within five seconds.
	[ -n "$1" ] || return 0
	kill "$1" 2>/dev/null || return 0
	n=0
	while kill -0 "$1" 2>/dev/null && [ $n -lt 50 ]; do
		sleep 0.1
		n=$((n + 1))
	done
	kill -9 "$1" 2>/dev/null
	wait "$1" 2>/dev/null
	return 0
}

cleanup() {
	stop_server "$zk_pid"
	stop_server "$coordd_pid"
	zk_pid=
	coordd_pid=
	if [ "${BENCH_KEEP:-0}" = 1 ]; then
		say "run.sh: kept $dir"
	else
		rm -rf "$dir"
	fi
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM HUP

# $1: name (zk or coordd), $2: port.  Writes $dir/$1/zoo.cfg; ZooKeeper gets
# the two keys coordd does not take.
write_cfg() {
	mkdir -p "$dir/$1/data" "$dir/$1/log"
	{
		echo "tickTime=2000"
		echo "dataDir=$dir/$1/data"
		echo "dataLogDir=$dir/$1/log"
		echo "clientPort=$2"
		echo "clientPortAddress=127.0.0.1"
		echo "4lw.commands.whitelist=srvr,ruok,mntr,stat"
		echo "snapCount=100000"
		if [ "$1" = zk ]; then
			echo "admin.enableServer=false"
			echo "maxClientCnxns=0"
		fi
	} > "$dir/$1/zoo.cfg"
}

# $1: name, $2: pid, $3: port.  Waits until the server answers.
wait_ready() {
	if ! "$ZKBENCH" --probe -s "127.0.0.1:$3" -t 60 ||
	   ! kill -0 "$2" 2>/dev/null; then
		say "run.sh: $1 did not come up on port $3; the end of its log:"
		tail -n 20 "$dir/$1/server.log" >&2
		return 1
	fi
}

start_zk() {
	zk_port=$(free_port)
	write_cfg zk "$zk_port"
	# shellcheck disable=SC2086 # ZK_JVMFLAGS is a list of words
	"$JAVA" $ZK_JVMFLAGS -cp "$ZK_CLASSPATH" \
		org.apache.zookeeper.server.ZooKeeperServerMain "$dir/zk/zoo.cfg" \
		> "$dir/zk/server.log" 2>&1 < /dev/null &
	zk_pid=$!
	wait_ready zk "$zk_pid" "$zk_port"
}

start_coordd() {
	coordd_port=$(free_port)
	while [ "$coordd_port" = "${zk_port:-}" ]; do
		coordd_port=$(free_port)
	done
	write_cfg coordd "$coordd_port"
	"$COORDD" -c "$dir/coordd/zoo.cfg" > "$dir/coordd/server.log" 2>&1 < /dev/null &
	coordd_pid=$!
	wait_ready coordd "$coordd_pid" "$coordd_port"
}

# $1: server name, $2: rep, $3: scenario, rest: zkbench arguments.
# Appends the result lines, tagged, to $results.
run_one() {
	srv=$1 rep=$2 name=$3
	shift 3
	if [ "$srv" = zk ]; then port=$zk_port pid=$zk_pid; else port=$coordd_port pid=$coordd_pid; fi
	if ! kill -0 "$pid" 2>/dev/null; then
		if [ ! -f "$dir/$srv/dead" ]; then
			: > "$dir/$srv/dead"
			say "run.sh: $srv (pid $pid) has exited; the end of its log:"
			tail -n 20 "$dir/$srv/server.log" >&2
		fi
		echo "server=$srv rep=$rep scenario=$name failed=1" >> "$results"
		return 1
	fi
	out=$("$ZKBENCH" -s "127.0.0.1:$port" --server-pid "$pid" --mntr -d "$secs" -W "$warm" -b 100 "$@" 2> "$dir/zkbench.err")
	rc=$?
	if [ -z "$out" ]; then
		say "run.sh: $srv $name failed (exit $rc): $(head -n 3 "$dir/zkbench.err")"
		echo "server=$srv rep=$rep scenario=$name failed=1" >> "$results"
		return 1
	fi
	[ $rc -eq 0 ] || say "run.sh: $srv $name: errors (exit $rc): $(head -n 3 "$dir/zkbench.err")"
	echo "$out" | while read -r line; do
		case $line in
		op=delete*) s=$(echo "$name" | sed 's/create$/delete/') ;;
		*) s=$name ;;
		esac
		echo "server=$srv rep=$rep scenario=$s $line"
	done >> "$results"
}

# --- Facts about the machine --------------------------------------------------

fs_type=$(findmnt -n -o FSTYPE -T "$dir" 2>/dev/null || stat -f -c %T "$dir" 2>/dev/null)
fs_dev=$(df -P "$dir" 2>/dev/null | awk 'NR == 2 { print $1 }')
started=$(date '+%Y-%m-%d %H:%M:%S')
: > "$dir/zkbench.err"
{
	echo "# run.sh $started reps=$reps secs=$secs quick=${BENCH_QUICK:-0} dir=$dir"
} >> "$results" || die "cannot write $results"

say "run.sh: measuring the raw fdatasync rate in $dir ($fs_type on $fs_dev)"
fsync_line=$("$ZKBENCH" --fsync-test "$dir" -b 100 -d "$fsync_secs")
echo "server=disk rep=0 scenario=fdatasync $fsync_line" >> "$results"

# --- Start and warm up ---------------------------------------------------------

if [ $have_zk = yes ]; then
	say "run.sh: starting ZooKeeper ($zk_jar)"
	start_zk || have_zk=no
fi
if [ $have_coordd = yes ]; then
	say "run.sh: starting coordd ($COORDD)"
	start_coordd || have_coordd=no
fi
active=
[ $have_zk = yes ] && active="zk"
[ $have_coordd = yes ] && active="$active coordd"
[ -n "$active" ] || die "no server came up"

# JIT-compile ZooKeeper's hot paths, fill caches and grow buffers; coordd
# gets the same treatment so neither meets the matrix cold.
for srv in $active; do
	say "run.sh: warming up $srv (${warmup_secs}s per load)"
	if [ "$srv" = zk ]; then port=$zk_port; else port=$coordd_port; fi
	for load in "-o create -c 8 -w 64" "-o mixed -c 8 -w 64" "-o create -c 1 -w 1"; do
		# shellcheck disable=SC2086
		"$ZKBENCH" -s "127.0.0.1:$port" -d "$warmup_secs" $load -p /zkbench-warmup \
			> /dev/null 2>> "$dir/zkbench.err" || say "run.sh: warm-up of $srv failed"
	done
done

# --- The matrix ------------------------------------------------------------------

names=$(echo "$scenarios" | awk 'NF { print $1 }')
if [ -n "${BENCH_ONLY:-}" ]; then
	names=$BENCH_ONLY
fi
# Each scenario runs on one server and then at once on the other, so the
# two figures of a pair see the same neighbours on this shared machine.
rep=1
while [ $rep -le "$reps" ]; do
	for name in $names; do
		args=$(echo "$scenarios" | awk -v n="$name" '$1 == n { $1 = ""; print }')
		[ -n "$args" ] || die "unknown scenario '$name'"
		for srv in $active; do
			say "run.sh: [$rep/$reps] $name on $srv"
			# shellcheck disable=SC2086
			run_one "$srv" "$rep" "$name" $args
		done
	done
	rep=$((rep + 1))
done

stop_server "$zk_pid"
stop_server "$coordd_pid"
zk_pid=
coordd_pid=

# --- The table -------------------------------------------------------------------

echo
echo "coordfs benchmark, $started: medians of $reps run(s) of ${secs}s per figure"
echo "loopback, 100-byte payloads, fsync on for both, data on $fs_type ($fs_dev)"
echo "$fsync_line" | awk '{
	for (i = 1; i <= NF; i++) { split($i, kv, "="); f[kv[1]] = kv[2] }
	printf("disk ceiling: %.0f fdatasync/s of 100-byte appends, p50 %.0f us, p99 %.0f us\n",
	       f["ops_per_sec"], f["p50_us"], f["p99_us"])
}'
if [ $have_zk = yes ]; then
	echo "zookeeper: $zk_version ($zk_jar), $("$JAVA" -version 2>&1 | head -n 1)"
	echo "  JVM flags: $ZK_JVMFLAGS"
else
	echo "zookeeper: not run"
fi
if [ $have_coordd = yes ]; then
	echo "coordd: $COORDD"
else
	echo "coordd: not found at $COORDD, so ZooKeeper only (pass its path as the argument)"
fi
echo

# The table is built from this run's lines only: those after our header.
awk -v started="$started" -v order="$names" '
	$0 ~ "^# run.sh " started { mine = 1; n = 0; next }
	!mine || /^#/ { next }
	{
		split("", f)
		for (i = 1; i <= NF; i++) {
			eq = index($i, "=")
			f[substr($i, 1, eq - 1)] = substr($i, eq + 1)
		}
		if (f["server"] == "disk")
			next
		sc = f["scenario"]
		if (!(sc in load)) {
			load[sc] = (f["failed"] ? "" : "c=" f["sessions"] " w=" f["window"])
		} else if (load[sc] == "" && !f["failed"]) {
			load[sc] = "c=" f["sessions"] " w=" f["window"]
		}
		if (f["failed"] || f["errors"] > 0) {
			bad[f["server"], sc] = 1
			if (f["failed"])
				next
		}
		k = f["server"] SUBSEP sc
		nm = split("ops_per_sec p50_us p99_us p999_us server_cpu_us_per_op ops_per_fsync", ms, " ")
		for (i = 1; i <= nm; i++) {
			if (!(ms[i] in f))
				continue
			n = ++cnt[ms[i], k]
			v[ms[i], k, n] = f[ms[i]]
		}
		other = f["machine_cpu_pct"] - f["client_cpu_pct"] - f["server_cpu_pct"]
		nother[f["server"]]++
		vother[f["server"], nother[f["server"]]] = other
	}
	function median(metric, k,    n, i, j, a, t) {
		n = cnt[metric, k]
		if (n == 0)
			return ""
		for (i = 1; i <= n; i++)
			a[i] = v[metric, k, i] + 0
		for (i = 2; i <= n; i++)
			for (j = i; j > 1 && a[j - 1] > a[j]; j--) {
				t = a[j]; a[j] = a[j - 1]; a[j - 1] = t
			}
		return (n % 2) ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2
	}
	function median_other(srv,    n, i, j, a, t) {
		n = nother[srv]
		if (n == 0)
			return ""
		for (i = 1; i <= n; i++)
			a[i] = vother[srv, i] + 0
		for (i = 2; i <= n; i++)
			for (j = i; j > 1 && a[j - 1] > a[j]; j--) {
				t = a[j]; a[j] = a[j - 1]; a[j - 1] = t
			}
		return (n % 2) ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2
	}
	function fmt(x) {
		if (x == "")
			return "-"
		return (x >= 100) ? sprintf("%.0f", x) : sprintf("%.1f", x)
	}
	# higher_better: 1 for throughput, 0 for costs, -1 for no ratio
	function row(sc, label, metric, higher_better,    z, c, r, mz, mc) {
		z = median(metric, "zk" SUBSEP sc)
		c = median(metric, "coordd" SUBSEP sc)
		r = "-"
		if (higher_better >= 0 && z != "" && c != "" && z > 0 && c > 0)
			r = sprintf("%.2f", higher_better ? c / z : z / c)
		mz = (("zk", sc) in bad) ? "!" : " "
		mc = (("coordd", sc) in bad) ? "!" : " "
		printf("%-13s %-10s %-17s %12s%s %12s%s %7s\n",
		       first ? sc : "", first ? load[sc] : "", label,
		       fmt(z), mz, fmt(c), mc, r)
		first = 0
		if (mz == "!" || mc == "!")
			anybad = 1
	}
	END {
		printf("%-13s %-10s %-17s %13s %13s %7s\n",
		       "scenario", "load", "metric", "zookeeper", "coordd", "ratio")
		ns = split(order, names, " ")
		for (i = 1; i <= ns; i++) {
			list[++nl] = names[i]
			if (names[i] ~ /create$/) {
				d = names[i]
				sub(/create$/, "delete", d)
				list[++nl] = d
			}
		}
		for (i = 1; i <= nl; i++) {
			sc = list[i]
			if (!(sc in load))
				continue
			first = 1
			if (sc ~ /^lat-/) {
				row(sc, "p50 latency us", "p50_us", 0)
				row(sc, "p99 latency us", "p99_us", 0)
				row(sc, "p99.9 latency us", "p999_us", 0)
			} else {
				row(sc, "ops/s", "ops_per_sec", 1)
				row(sc, "p50 latency us", "p50_us", 0)
				row(sc, "p99 latency us", "p99_us", 0)
				row(sc, "server cpu us/op", "server_cpu_us_per_op", 0)
			}
			if (sc !~ /get$/)
				row(sc, "ops per fsync", "ops_per_fsync", -1)
		}
		print ""
		print "ratio: coordd/zookeeper for ops/s, zookeeper/coordd for latency and cpu; >1 favours coordd"
		print "ops per fsync: requests per log fsync as the server counts them (mntr), i.e. group commit"
		if (anybad)
			print "!: at least one run had errors or failed (see the raw lines)"
		oz = median_other("zk"); oc = median_other("coordd")
		printf("other load on the machine during runs (median %% of one core): zk %s, coordd %s\n",
		       oz == "" ? "-" : sprintf("%.0f", oz), oc == "" ? "-" : sprintf("%.0f", oc))
		if (oz > 25 || oc > 25)
			print "warning: the machine was busy with other work; figures are noisy, run again"
	}
' "$results"
echo "raw lines: $results"
