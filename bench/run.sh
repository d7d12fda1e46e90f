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

me=run.sh
warmup_secs=3
# The settings and functions it shares with cluster.sh.  "make bench" runs
# it as "sh $(srcdir)/bench/run.sh", so lib.sh is beside $0.
# shellcheck source=bench/lib.sh
. "$(dirname "$0")/lib.sh"
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

[ -x "$ZKBENCH" ] || die "no load generator at $ZKBENCH (run 'make bench', or set ZKBENCH)"

find_servers
have_zk=$can_zk
have_coordd=$can_coordd
only_servers

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

zk_pid=
coordd_pid=
stop_all() {
	stop_server "$zk_pid"
	stop_server "$coordd_pid"
	zk_pid=
	coordd_pid=
}
make_dir coordfs-bench

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
		failed_run "$srv" "$rep" "$name"
		return
	fi
	out=$("$ZKBENCH" -s "127.0.0.1:$port" --server-pid "$pid" --mntr -d "$secs" -W "$warm" -b 100 "$@" 2> "$dir/zkbench.err")
	record_run "$srv" "$rep" "$name" $? "$out"
}

# --- Facts about the machine --------------------------------------------------

start_results "reps=$reps secs=$secs quick=$quick dir=$dir"

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

scenario_names
run_matrix
stop_all

# --- The table -------------------------------------------------------------------

echo
echo "coordfs benchmark, $started: medians of $reps run(s) of ${secs}s per figure"
echo "loopback, 100-byte payloads, fsync on for both, data on $fs_type ($fs_dev)"
print_disk
print_zk $have_zk ""
print_coordd $have_coordd
echo

# The table is built from this run's lines only: those after our header.
awk -v started="$started" -v order="$names" -v scw=13 -v lw=17 -v w=12 \
    -v lz=zookeeper -v lc=coordd -v lat_cpu=0 \
    -v cpu_label="server cpu us/op" -v fsync_label="ops per fsync" "$table_awk"'
	$0 ~ "^# run.sh " started { mine = 1; next }
	!mine || /^#/ { next }
	{
		parse()
		if (f["server"] == "disk")
			next
		record(f["scenario"], f["server"] SUBSEP f["scenario"])
	}
	END {
		table(order)
		print "ratio: coordd/zookeeper for ops/s, zookeeper/coordd for latency and cpu; >1 favours coordd"
		print "ops per fsync: requests per log fsync as the server counts them (mntr), i.e. group commit"
		if (notes(""))
			print "warning: the machine was busy with other work; figures are noisy, run again"
	}
' "$results"
echo "raw lines: $results"
