#!/bin/sh
# cluster.sh - the benchmark for ensembles: a three-server coordd ensemble
# against a three-server Apache ZooKeeper 3.8 ensemble, both on this machine
# (loopback), with the same load generator (zkbench) and the same zoo.cfg.
# Prints a table of medians and the ratios, then the time each ensemble
# takes to take writes again after its leader is killed (kill -9).
# bench/README.md describes the method.  It builds nothing; "make
# bench-cluster" builds zkbench and runs it.
#
#   sh bench/cluster.sh [path/to/coordd]
#   sh bench/cluster.sh --table [RESULTS]   medians and ranges of every run in RESULTS
#
# Environment (all optional):
#   BENCH_QUICK=1         one short repetition and 2 failovers, about 2 minutes
#   BENCH_REPS            repetitions of the matrix (3; quick 1)
#   BENCH_SECS            measured seconds per scenario (1.5; quick 0.5)
#   BENCH_ONLY            space-separated scenario names to run (all; none:
#                         only the failovers)
#   BENCH_SERVERS         "zk coordd" (default), "zk" or "coordd"
#   BENCH_FAILOVER_REPS   leader kills per ensemble (5; quick 2; 0: none)
#   BENCH_TICK            tickTime in ms for both ensembles (2000)
#   BENCH_TMPDIR          parent of the data directories (/var/tmp)
#   BENCH_RESULTS         raw zkbench lines are appended here (./bench-cluster-results.txt)
#   BENCH_KEEP=1          keep the data directories and server logs
#   BENCH_AA=zk|coordd    an A/A run: both columns run that server (two
#                         ensembles of it), to show the noise in a ratio
#   JAVA, ZK_CLASSPATH, ZK_JVMFLAGS, ZKBENCH, COORDD as for run.sh

me=cluster.sh
warmup_secs=5
# The settings and functions it shares with run.sh, including the JVM
# flags, for each of the three JVMs.  "make bench-cluster" runs it as
# "sh $(srcdir)/bench/cluster.sh", so lib.sh is beside $0.
# shellcheck source=bench/lib.sh
. "$(dirname "$0")/lib.sh"
ZK_MAIN=org.apache.zookeeper.server.quorum.QuorumPeerMain
if [ "$quick" = 1 ]; then
	fo_reps=${BENCH_FAILOVER_REPS:-2}
else
	fo_reps=${BENCH_FAILOVER_REPS:-5}
fi
tick=${BENCH_TICK:-2000}
results=${BENCH_RESULTS:-./bench-cluster-results.txt}

# The matrix: a load, where its sessions connect, then zkbench arguments.
# Each target makes a scenario, named load@target, in the order given:
#   leader     all sessions on the leader
#   follower   all sessions on one follower
#   all        session i on server i % 3 (--spread)
#   followers  session i on follower i % 2 (--spread)
# Each create scenario also yields a "-delete" row, as in run.sh.
# $scenarios is the expanded list: name, target, then the arguments.
scenarios=$(echo '
lat-create    leader,follower  -o create -c 1 -w 1
lat-set       leader,follower  -o set    -c 1 -w 1
lat-get       leader,follower  -o get    -c 1 -w 1
conc-create   all              -o create -c 32 -w 1
tput-create   all,leader       -o create -c 9 -w 64
tput-set      all,leader       -o set    -c 9 -w 64
tput-get      followers        -o get    -c 8 -w 64
tput-mixed    all              -o mixed  -c 33 -w 8 -r 90
' | awk 'NF {
	n = split($2, t, ",")
	for (i = 1; i <= n; i++) {
		$2 = t[i]
		load = $1
		$1 = load "@" t[i]
		print
		$1 = load
	}
}')

# Per-server state lives in shell variables named <sys>_<what><i>.
get() { eval "printf '%s' \"\${$1:-}\""; }
set_() { eval "$1=\$2"; }

# $1: the results file; $2: the start time in the header of the run to
# show, or "" for every run in the file (of A/A runs of $3 only, else of
# the others); $3: zk, coordd or "" (see BENCH_AA); $4: 1 to show the
# lowest and highest sample beside each median.  Names are in $names.
print_table() {
	lz=zookeeper lc=coordd
	[ -z "$3" ] || { lz="$3(A)" lc="$3(B)"; }
	awk -v started="$2" -v aa="${3:-none}" -v ranges="${4:-0}" -v order="$names" \
	    -v lz="$lz" -v lc="$lc" -v scw=21 -v lw=18 -v lat_cpu=1 \
	    -v cpu_label="3-server cpu us/op" -v fsync_label="ops/leader fsync" "$table_awk"'
		/^# cluster.sh / {
			if (started != "") {
				mine = index($0, "# cluster.sh " started " ") == 1
			} else {
				a = "none"
				for (i = 1; i <= NF; i++)
					if ($i ~ /^aa=/)
						a = substr($i, 4)
				mine = a == aa
			}
			runs += mine
			next
		}
		!mine || /^#/ { next }
		{
			parse()
			if (f["server"] == "disk")
				next
			sc = f["scenario"]
			k = f["server"] SUBSEP sc
			if (sc == "failover") {
				fo[f["server"]] = 1
				# failed=: probers that never wrote (or a whole run that failed)
				if (f["failed"] + 0 > 0 || f["lost"] + 0 > 0)
					fobad[f["server"]] = 1
				nm = split("first_write_ms session_ms fresh_ms", ms, " ")
				for (i = 1; i <= nm; i++)
					if ((ms[i] in f) && f[ms[i]] + 0 > 0)
						add(ms[i], k, f[ms[i]])
				next
			}
			record(sc, k)
		}
		END {
			w = ranges ? 22 : 12
			if (ranges)
				printf("medians of every sample of %d run(s); in brackets the lowest and highest\n\n", runs)
			table(order)
			print "ratio: " lc "/" lz " for ops/s, " lz "/" lc " for latency, cpu and failover; >1 favours " lc
			print "@leader/@follower: every session on that server; @all: sessions spread evenly over the three;"
			print "@followers: over the two followers.  3-server cpu: user+system of all three server processes"
			notes("; includes the idle other ensemble")
			if (fo["zk"] || fo["coordd"]) {
				print ""
				print "leader failover: kill -9 of the leader to the first acknowledged create through a survivor, ms"
				printf("%-44s %18s %18s %7s\n", "median (lowest-highest)", lz, lc, "ratio")
				split("first_write_ms session_ms fresh_ms", fm, " ")
				split("first write, any client|old session (both survivors listed)|new session on one survivor", fl, "|")
				for (i = 1; i <= 3; i++) {
					z = median(fm[i], "zk" SUBSEP "failover")
					c = median(fm[i], "coordd" SUBSEP "failover")
					r = (z != "" && c != "" && z > 0 && c > 0) ? sprintf("%.2f", z / c) : "-"
					printf("%-44s %18s %18s %7s\n", fl[i],
					       z == "" ? "-" : fmt(z) " (" range(fm[i], "zk" SUBSEP "failover") ")",
					       c == "" ? "-" : fmt(c) " (" range(fm[i], "coordd" SUBSEP "failover") ")", r)
				}
				printf("%-44s %18s %18s\n", "kills", cnt["first_write_ms", "zk" SUBSEP "failover"] + 0,
				       cnt["first_write_ms", "coordd" SUBSEP "failover"] + 0)
				if (fobad["zk"] || fobad["coordd"])
					print "!: a failover failed or lost an acknowledged write: " lz " " (fobad["zk"] ? "yes" : "no") ", " lc " " (fobad["coordd"] ? "yes" : "no") " (see the raw lines)"
			}
		}
	' "$1"
}

# "cluster.sh --table [FILE]": the table of every run in FILE (default
# $BENCH_RESULTS or ./bench-cluster-results.txt), with ranges; no servers.
if [ "${1:-}" = --table ]; then
	names=$(echo "$scenarios" | awk 'NF { print $1 }')
	print_table "${2:-$results}" "" "${BENCH_AA:-}" 1
	exit
fi

# The two columns are named zk and coordd; kind_<column> is what runs in
# it, label_<column> its heading (read through get).
# shellcheck disable=SC2034
kind_zk=zk
kind_coordd=coordd
label_zk=zookeeper
label_coordd=coordd
case ${BENCH_AA:-} in
"") ;;
zk|coordd)
	kind_zk=$BENCH_AA kind_coordd=$BENCH_AA
	# shellcheck disable=SC2034
	label_zk="$BENCH_AA(A)" label_coordd="$BENCH_AA(B)"
	;;
*) die "BENCH_AA must be zk or coordd" ;;
esac

[ -x "$ZKBENCH" ] || die "no load generator at $ZKBENCH (run 'make bench-cluster', or set ZKBENCH)"

find_servers
have_zk=$(get "can_$kind_zk")
have_coordd=$(get "can_$kind_coordd")
only_servers

# Ports for both ensembles, all picked at once so that no two are the same,
# and below the kernel's ephemeral range (ip_local_port_range) so that no
# outgoing connection takes one between our check and the server's bind.
pick_ports() {
	if command -v python3 >/dev/null 2>&1; then
		python3 - "$1" <<-'EOF'
		import random, socket, sys
		lo = int(open("/proc/sys/net/ipv4/ip_local_port_range").read().split()[0])
		held, ports = [], []
		while len(ports) < int(sys.argv[1]):
		    p = random.randrange(10000, min(lo, 65536))
		    s = socket.socket()
		    try:
		        s.bind(("127.0.0.1", p))
		    except OSError:
		        s.close()
		        continue
		    held.append(s)
		    if p not in ports:
		        ports.append(p)
		print(" ".join(map(str, ports)))
		EOF
		return
	fi
	p=$(( $$ % 10000 + 20000 )) n=0
	while [ $n -lt "$1" ]; do
		if ! ss -Htln "sport = :$p" 2>/dev/null | grep -q .; then
			printf '%s ' "$p"
			n=$((n + 1))
		fi
		p=$((p + 1))
	done
	echo
}
ports=$(pick_ports 18) || die "cannot pick ports"
# $1: variable to set to the next unused port of $ports.
next_port() {
	# shellcheck disable=SC2086 # the list, split
	set -- "$1" $ports
	[ $# -ge 2 ] || die "out of ports"
	eval "$1=\$2"
	shift 2
	ports=$*
}

stop_all() {
	for sys in zk coordd; do
		for i in 1 2 3; do
			stop_server "$(get "${sys}_pid$i")"
			set_ "${sys}_pid$i" ""
		done
	done
}

make_dir coordfs-bench-cluster

# $1: sys.  Picks the ports and writes the three zoo.cfg files and myids:
# the same keys for both systems, as run.sh does, plus the ensemble.
write_cfgs() {
	for i in 1 2 3; do
		next_port "${1}_port$i"
		next_port "${1}_qport$i"
		next_port "${1}_eport$i"
	done
	for i in 1 2 3; do
		d=$dir/$1/s$i
		mkdir -p "$d/data" "$d/log"
		echo "$i" > "$d/data/myid"
		{
			echo "tickTime=$tick"
			echo "initLimit=10"
			echo "syncLimit=5"
			echo "dataDir=$d/data"
			echo "dataLogDir=$d/log"
			echo "clientPort=$(get "${1}_port$i")"
			echo "clientPortAddress=127.0.0.1"
			echo "4lw.commands.whitelist=srvr,ruok,mntr,stat"
			echo "snapCount=100000"
			if [ "$(get "kind_$1")" = zk ]; then
				echo "admin.enableServer=false"
				echo "maxClientCnxns=0"
			fi
			for j in 1 2 3; do
				echo "server.$j=127.0.0.1:$(get "${1}_qport$j"):$(get "${1}_eport$j")"
			done
		} > "$d/zoo.cfg"
	done
	hosts=
	for i in 1 2 3; do
		hosts="$hosts${hosts:+,}127.0.0.1:$(get "${1}_port$i")"
	done
	set_ "${1}_hosts" "$hosts"
}

# $1: sys, $2: i.  Starts server i (its log is appended to).
start_one() {
	d=$dir/$1/s$2
	echo "=== start $(date '+%T') ===" >> "$d/server.log"
	if [ "$(get "kind_$1")" = zk ]; then
		# shellcheck disable=SC2086 # ZK_JVMFLAGS is a list of words
		"$JAVA" $ZK_JVMFLAGS -cp "$ZK_CLASSPATH" $ZK_MAIN "$d/zoo.cfg" \
			>> "$d/server.log" 2>&1 < /dev/null &
	else
		"$COORDD" -c "$d/zoo.cfg" >> "$d/server.log" 2>&1 < /dev/null &
	fi
	set_ "${1}_pid$2" $!
}

# $1: sys, $2: i.  Mode from srvr: leader, follower, looking or "" (no answer).
mode_of() {
	out=$("$ZKBENCH" --4lw srvr -s "127.0.0.1:$(get "${1}_port$2")" 2>/dev/null) || return 0
	case $out in
	*"not currently serving"*) echo looking ;;
	*) echo "$out" | awk '/^Mode: / { print $2 }' ;;
	esac
}

# $1: sys, $2: seconds.  Waits until all three serve with one leader; sets
# <sys>_leader, <sys>_follower (the lowest-numbered follower) and
# <sys>_followers.  Returns 1 on timeout.
wait_stable() {
	end=$(( $(date +%s) + $2 ))
	while [ "$(date +%s)" -lt "$end" ]; do
		leader=''
		fols=''
		ok=yes
		for i in 1 2 3; do
			if ! kill -0 "$(get "${1}_pid$i")" 2>/dev/null; then
				ok=dead
				break
			fi
			m=$(mode_of "$1" "$i")
			case $m in
			leader) [ -z "$leader" ] && leader=$i || ok=no ;;
			follower) fols="$fols $i" ;;
			*) ok=no ;;
			esac
		done
		[ $ok = dead ] && break
		if [ $ok = yes ] && [ -n "$leader" ]; then
			set_ "${1}_leader" "$leader"
			set_ "${1}_followers" "$fols"
			# shellcheck disable=SC2086 # the list, split
			set -- "$1" "$2" $fols
			set_ "${1}_follower" "$3"
			return 0
		fi
		sleep 0.1
	done
	if [ "$ok" = dead ]; then
		say "cluster.sh: $1 server $i has exited"
	else
		say "cluster.sh: $1 ensemble not stable after $2 s; modes: $(for i in 1 2 3; do printf '%s ' "$(mode_of "$1" "$i")"; done)"
	fi
	for i in 1 2 3; do
		say "--- $1 server $i (pid $(get "${1}_pid$i")), the end of its log:"
		tail -n 15 "$dir/$1/s$i/server.log" >&2
	done
	return 1
}

start_ensemble() {
	write_cfgs "$1"
	for i in 1 2 3; do
		start_one "$1" "$i"
	done
	wait_stable "$1" 120
}

# $1: sys, $2: target.  Prints the zkbench -s value (plus --spread).
target_args() {
	case $2 in
	leader) echo "-s 127.0.0.1:$(get "${1}_port$(get "${1}_leader")")" ;;
	follower) echo "-s 127.0.0.1:$(get "${1}_port$(get "${1}_follower")")" ;;
	all) echo "--spread -s $(get "${1}_hosts")" ;;
	followers)
		l=
		for i in $(get "${1}_followers"); do
			l="$l${l:+,}127.0.0.1:$(get "${1}_port$i")"
		done
		echo "--spread -s $l"
		;;
	*) die "unknown target '$2'" ;;
	esac
}

pids_of() {
	echo "$(get "${1}_pid1"),$(get "${1}_pid2"),$(get "${1}_pid3")"
}

# Any server of sys that exited by itself: report it once, with its log.
check_alive() {
	for i in 1 2 3; do
		p=$(get "${1}_pid$i")
		if ! kill -0 "$p" 2>/dev/null && [ ! -f "$dir/$1/s$i/dead" ]; then
			: > "$dir/$1/s$i/dead"
			say "cluster.sh: $1 server $i (pid $p) has exited; the end of its log:"
			tail -n 30 "$dir/$1/s$i/server.log" >&2
			return 1
		fi
	done
	for i in 1 2 3; do
		[ -f "$dir/$1/s$i/dead" ] && return 1
	done
	return 0
}

# $1: sys, $2: rep, $3: scenario, $4: target, rest: zkbench arguments.
run_one() {
	srv=$1 rep=$2 name=$3 tgt=$4
	shift 4
	check_alive "$srv" || { failed_run "$srv" "$rep" "$name"; return; }
	leader_addr=127.0.0.1:$(get "${srv}_port$(get "${srv}_leader")")
	# shellcheck disable=SC2046 # target_args is a list of words
	out=$("$ZKBENCH" $(target_args "$srv" "$tgt") --server-pid "$(pids_of "$srv")" \
		--mntr-server "$leader_addr" -d "$secs" -W "$warm" -b 100 "$@" 2> "$dir/zkbench.err")
	record_run "$srv" "$rep" "$name" $? "$out"
}

# $1: sys, $2: rep.  Kills the leader (zkbench does, and times the first
# write through a survivor), then restarts it and waits for a stable
# ensemble again.
failover_one() {
	sys=$1 rep=$2
	l=$(get "${sys}_leader")
	lpid=$(get "${sys}_pid$l")
	laddr=127.0.0.1:$(get "${sys}_port$l")
	out=$("$ZKBENCH" --failover -s "$(get "${sys}_hosts")" --kill-pid "$lpid" \
		--kill-server "$laddr" -t 60 -b 100 -p /zkbench-failover 2> "$dir/zkbench.err")
	rc=$?
	if kill -0 "$lpid" 2>/dev/null; then
		# zkbench gave up before it killed the leader (it could not write
		# through a survivor beforehand): a failure, and nothing to restart
		say "cluster.sh: $sys failover $rep: no kill (exit $rc): $(grep -v ZOO_ "$dir/zkbench.err" | tail -n 3)"
		failed_run "$sys" "$rep" failover
		return
	fi
	wait "$lpid" 2>/dev/null
	newl=
	for i in 1 2 3; do
		[ "$i" = "$l" ] && continue
		[ "$(mode_of "$sys" "$i")" = leader ] && newl=$i
	done
	if [ -z "$out" ] || [ $rc -ne 0 ]; then
		say "cluster.sh: $sys failover $rep: exit $rc: $out $(head -n 5 "$dir/zkbench.err")"
	fi
	if [ -n "$out" ]; then
		echo "server=$sys rep=$rep scenario=failover old_leader=$l new_leader=${newl:-none} $out" >> "$results"
	else
		failed_run "$sys" "$rep" failover
	fi
	start_one "$sys" "$l"
	wait_stable "$sys" 120
}

# --- Facts about the machine --------------------------------------------------

start_results "reps=$reps secs=$secs tick=$tick quick=$quick aa=${BENCH_AA:-none} dir=$dir"

# --- Start and warm up ---------------------------------------------------------

for srv in zk coordd; do
	[ "$(get "have_$srv")" = yes ] || continue
	say "cluster.sh: starting the $(get "label_$srv") ensemble"
	start_ensemble $srv || set_ "have_$srv" no
done
active=
[ "$have_zk" = yes ] && active="zk"
[ "$have_coordd" = yes ] && active="$active coordd"
[ -n "$active" ] || die "no ensemble came up"
for srv in $active; do
	say "cluster.sh: $srv: leader is server $(get "${srv}_leader"), followers$(get "${srv}_followers")"
done

# Every server of both ensembles meets every path before the matrix: the
# JVMs compile ZooKeeper's hot paths, on the leader and on the followers.
for srv in $active; do
	say "cluster.sh: warming up $srv (${warmup_secs}s per load)"
	for load in "all -o create -c 9 -w 64" "all -o mixed -c 9 -w 64" \
		    "leader -o create -c 1 -w 1" "follower -o create -c 1 -w 1" \
		    "followers -o get -c 8 -w 64"; do
		tgt=${load%% *}
		# shellcheck disable=SC2046,SC2086
		"$ZKBENCH" $(target_args "$srv" "$tgt") -d "$warmup_secs" ${load#* } -p /zkbench-warmup \
			> /dev/null 2> "$dir/zkbench.err" ||
			say "cluster.sh: warm-up of $srv ($load) failed: $(grep -v ZOO_ "$dir/zkbench.err" | tail -n 3)"
	done
done

# --- The matrix ------------------------------------------------------------------

scenario_names
[ "${BENCH_ONLY:-}" != none ] || names=
run_matrix

# --- Failover ----------------------------------------------------------------------

rep=1
while [ $rep -le "$fo_reps" ]; do
	for srv in $active; do
		check_alive "$srv" || continue
		say "cluster.sh: [$rep/$fo_reps] failover of $srv: kill -9 of leader $(get "${srv}_leader")"
		failover_one "$srv" "$rep" || say "cluster.sh: $srv did not recover"
		sleep 1
	done
	rep=$((rep + 1))
done

crashed=
for srv in $active; do
	check_alive "$srv" || crashed="$crashed $srv"
done
stop_all

# --- The table -------------------------------------------------------------------

echo
echo "coordfs ensemble benchmark, $started: 3 servers each, medians of $reps run(s) of ${secs}s per figure"
echo "loopback, 100-byte payloads, fsync on for all six servers, tickTime=$tick initLimit=10 syncLimit=5, data on $fs_type ($fs_dev)"
print_disk
echo "cpus: $(nproc 2>/dev/null || echo '?') for the client and all six servers; load average at the end: $(cut -d' ' -f1-3 /proc/loadavg)"
[ -z "${BENCH_AA:-}" ] || echo "A/A RUN: both columns are $BENCH_AA ensembles; the ratios show the noise"
ran_zk=no
if [ "$can_zk" = yes ] && { [ "$have_zk" = yes ] || [ "$have_coordd" = yes ]; } &&
   { [ "$kind_zk" = zk ] || [ "$kind_coordd" = zk ]; }; then
	ran_zk=yes
fi
print_zk $ran_zk " (each of the three)"
if [ "$kind_zk" = coordd ] || [ "$kind_coordd" = coordd ]; then
	print_coordd $can_coordd
fi
[ -z "$crashed" ] || echo "WARNING: a server exited by itself during the run:$crashed (see the messages above)"
echo

print_table "$results" "$started" "${BENCH_AA:-}" 0
echo "raw lines: $results"
