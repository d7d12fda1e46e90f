# shellcheck shell=sh disable=SC2034,SC2154 # sets and uses the scripts' variables
# lib.sh - what bench/run.sh and bench/cluster.sh share.  Sourced by both
# (". lib.sh" from beside them), after they set me (their name, which
# starts their messages) and before anything else; it sets the defaults
# below from the environment and the script's $1.

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
# default, spelled out because the comparison depends on it.  cluster.sh
# gives the same flags to each of its three JVMs.
ZK_JVMFLAGS_DEFAULT="-Xms1g -Xmx1g -XX:+UseParallelGC -XX:ParallelGCThreads=2 -XX:+AlwaysPreTouch -Dzookeeper.forceSync=yes"
ZK_JVMFLAGS=${ZK_JVMFLAGS:-$ZK_JVMFLAGS_DEFAULT}

# warmup_secs: the script's own (set before sourcing), or 1.5 when quick.
quick=${BENCH_QUICK:-0}
if [ "$quick" = 1 ]; then
	reps=${BENCH_REPS:-1}
	secs=${BENCH_SECS:-0.5}
	warm=0.2
	warmup_secs=1.5
	fsync_secs=1
else
	reps=${BENCH_REPS:-3}
	secs=${BENCH_SECS:-1.5}
	warm=0.5
	fsync_secs=2
fi
servers=${BENCH_SERVERS:-zk coordd}

say() { printf '%s\n' "$*" >&2; }
die() { say "$me: $*"; exit 1; }

# Sets zk_jar, zk_version, and can_zk and can_coordd to yes or no.
find_servers() {
	zk_jar=$(readlink -f "${ZK_CLASSPATH%%:*}" 2>/dev/null)
	zk_version=$(dpkg-query -W -f '${Version}' zookeeper 2>/dev/null) ||
		zk_version=$(basename "$zk_jar" .jar)
	can_zk=no
	if command -v "$JAVA" >/dev/null 2>&1 && [ -f "$zk_jar" ]; then
		can_zk=yes
	fi
	can_coordd=no
	[ -x "$COORDD" ] && can_coordd=yes
}

# Turns have_zk and have_coordd (yes: it can run) off for the servers
# BENCH_SERVERS leaves out; dies if neither is left.
only_servers() {
	case " $servers " in *" zk "*) ;; *) have_zk=no ;; esac
	case " $servers " in *" coordd "*) ;; *) have_coordd=no ;; esac
	[ "$have_zk" = yes ] || [ "$have_coordd" = yes ] ||
		die "neither ZooKeeper ($zk_jar) nor coordd ($COORDD) can be run"
}

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

# stop_all is the script's: it stops every server it started.
cleanup() {
	stop_all
	if [ "${BENCH_KEEP:-0}" = 1 ]; then
		say "$me: kept $dir"
	else
		rm -rf "$dir"
	fi
}

# $1: a name.  Makes $dir, for data directories and logs, and cleans up
# at exit.
make_dir() {
	tmp_parent=${BENCH_TMPDIR:-/var/tmp}
	dir=$(mktemp -d "$tmp_parent/$1.XXXXXX") || die "mktemp in $tmp_parent failed"
	trap cleanup EXIT
	trap 'exit 130' INT
	trap 'exit 143' TERM HUP
}

# $1: the rest of this run's header line in $results, after the script's
# name and the start time.  Sets fs_type, fs_dev, started and fsync_line
# (the raw fdatasync rate in $dir).
start_results() {
	fs_type=$(findmnt -n -o FSTYPE -T "$dir" 2>/dev/null || stat -f -c %T "$dir" 2>/dev/null)
	fs_dev=$(df -P "$dir" 2>/dev/null | awk 'NR == 2 { print $1 }')
	started=$(date '+%Y-%m-%d %H:%M:%S')
	: > "$dir/zkbench.err"
	echo "# $me $started $1" >> "$results" || die "cannot write $results"

	say "$me: measuring the raw fdatasync rate in $dir ($fs_type on $fs_dev)"
	fsync_line=$("$ZKBENCH" --fsync-test "$dir" -b 100 -d "$fsync_secs")
	echo "server=disk rep=0 scenario=fdatasync $fsync_line" >> "$results"
}

# $1: server, $2: rep, $3: scenario.  Notes a run without figures; returns 1.
failed_run() {
	echo "server=$1 rep=$2 scenario=$3 failed=1" >> "$results"
	return 1
}

# $1: server, $2: rep, $3: scenario, $4: zkbench's exit status, $5: its
# output.  Appends the result lines, tagged, to $results; the delete line
# of a create scenario goes under the delete scenario's name.
record_run() {
	if [ -z "$5" ]; then
		say "$me: $1 $3 failed (exit $4): $(head -n 3 "$dir/zkbench.err")"
		failed_run "$1" "$2" "$3"
		return
	fi
	[ "$4" -eq 0 ] || say "$me: $1 $3: errors (exit $4): $(head -n 3 "$dir/zkbench.err")"
	echo "$5" | while read -r line; do
		case $line in
		op=delete*) s=$(echo "$3" | sed -e 's/create$/delete/' -e 's/create@/delete@/') ;;
		*) s=$3 ;;
		esac
		echo "server=$1 rep=$2 scenario=$s $line"
	done >> "$results"
}

# Sets names: the scenarios to run, BENCH_ONLY's or all of $scenarios.
scenario_names() {
	names=$(echo "$scenarios" | awk 'NF { print $1 }')
	if [ -n "${BENCH_ONLY:-}" ]; then
		names=$BENCH_ONLY
	fi
}

# $reps times, each scenario of $names on each server of $active, through
# the script's run_one (server, rep, scenario, then the scenario's words).
# Each scenario runs on one server and then at once on the other, so the
# two figures of a pair see the same neighbours on this shared machine.
run_matrix() {
	rep=1
	while [ $rep -le "$reps" ]; do
		for name in $names; do
			args=$(echo "$scenarios" | awk -v n="$name" '$1 == n { $1 = ""; print }')
			[ -n "$args" ] || die "unknown scenario '$name'"
			for srv in $active; do
				say "$me: [$rep/$reps] $name on $srv"
				# shellcheck disable=SC2086 # the words, split
				run_one "$srv" "$rep" "$name" $args
			done
		done
		rep=$((rep + 1))
	done
}

print_disk() {
	echo "$fsync_line" | awk '{
		for (i = 1; i <= NF; i++) { split($i, kv, "="); f[kv[1]] = kv[2] }
		printf("disk ceiling: %.0f fdatasync/s of 100-byte appends, p50 %.0f us, p99 %.0f us\n",
		       f["ops_per_sec"], f["p50_us"], f["p99_us"])
	}'
}

# $1: yes if ZooKeeper ran, $2: what its JVM flags are for, if anything.
print_zk() {
	if [ "$1" = yes ]; then
		echo "zookeeper: $zk_version ($zk_jar), $("$JAVA" -version 2>&1 | head -n 1)"
		echo "  JVM flags$2: $ZK_JVMFLAGS"
	else
		echo "zookeeper: not run"
	fi
}

# $1: yes if coordd can run.
print_coordd() {
	if [ "$1" = yes ]; then
		echo "coordd: $COORDD"
	else
		echo "coordd: not found at $COORDD, so ZooKeeper only (pass its path as the argument)"
	fi
}

# The awk functions behind both tables, put in front of each script's
# program.  A results line is parsed into f by parse(), and recorded by
# record(scenario, key) with key "server SUBSEP scenario"; the samples of
# a metric for a key are in cnt[metric, key] and v[metric, key, 1..n],
# and the other load on the machine is metric "other" of key server.
# table(order) prints the header and the rows; it takes from -v:
#   scw, lw     widths of the scenario and metric columns
#   w           width of a figure (with its range when ranges=1)
#   lz, lc      the headings of the two columns
#   lat_cpu     1 for a cpu row in latency scenarios too
#   cpu_label, fsync_label   labels of the cpu and ops-per-fsync rows
# It sets anybad when a figure is marked as from a run that went wrong,
# and ends with a blank line.  notes(what) prints the notes both tables
# end with; what goes in the brackets of the other-load line.
# shellcheck disable=SC2016 # awk's, not the shell's
table_awk='
	function parse(    i, eq) {
		split("", f)
		for (i = 1; i <= NF; i++) {
			eq = index($i, "=")
			f[substr($i, 1, eq - 1)] = substr($i, eq + 1)
		}
	}
	function add(metric, k, x,    n) {
		n = ++cnt[metric, k]
		v[metric, k, n] = x
	}
	function record(sc, k,    nm, ms, i) {
		if (!(sc in load) || (load[sc] == "" && !f["failed"]))
			load[sc] = (f["failed"] ? "" : "c=" f["sessions"] " w=" f["window"])
		if (f["failed"] || f["errors"] > 0) {
			bad[f["server"], sc] = 1
			if (f["failed"])
				return
		}
		nm = split("ops_per_sec p50_us p99_us p999_us server_cpu_us_per_op ops_per_fsync", ms, " ")
		for (i = 1; i <= nm; i++)
			if (ms[i] in f)
				add(ms[i], k, f[ms[i]])
		add("other", f["server"], f["machine_cpu_pct"] - f["client_cpu_pct"] - f["server_cpu_pct"])
	}
	# Puts the samples of metric for k, sorted, in a[1..n]; returns n.
	function samples(metric, k, a,    n, i, j, t) {
		n = cnt[metric, k]
		for (i = 1; i <= n; i++)
			a[i] = v[metric, k, i] + 0
		for (i = 2; i <= n; i++)
			for (j = i; j > 1 && a[j - 1] > a[j]; j--) {
				t = a[j]; a[j] = a[j - 1]; a[j - 1] = t
			}
		return n
	}
	function median(metric, k,    n, a) {
		n = samples(metric, k, a)
		if (n == 0)
			return ""
		return (n % 2) ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2
	}
	function range(metric, k,    n, a) {
		n = samples(metric, k, a)
		if (n == 0)
			return ""
		return fmt(a[1]) "-" fmt(a[n])
	}
	function fmt(x) {
		if (x == "")
			return "-"
		return (x >= 100) ? sprintf("%.0f", x) : sprintf("%.1f", x)
	}
	# the median, and with ranges=1 the lowest and highest sample too
	function cell(metric, k,    m) {
		m = median(metric, k)
		if (m == "" || !ranges)
			return fmt(m)
		return fmt(m) " (" range(metric, k) ")"
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
		printf("%-" scw "s %-10s %-" lw "s %" w "s%s %" w "s%s %7s\n",
		       first ? sc : "", first ? load[sc] : "", label,
		       cell(metric, "zk" SUBSEP sc), mz, cell(metric, "coordd" SUBSEP sc), mc, r)
		first = 0
		if (mz == "!" || mc == "!")
			anybad = 1
	}
	function table(order,    ns, names, nl, list, i, d, sc) {
		printf("%-" scw "s %-10s %-" lw "s %" (w + 1) "s %" (w + 1) "s %7s\n",
		       "scenario", "load", "metric", lz, lc, "ratio")
		ns = split(order, names, " ")
		for (i = 1; i <= ns; i++) {
			list[++nl] = names[i]
			if (names[i] ~ /create(@|$)/) {
				d = names[i]
				sub(/create$/, "delete", d)
				sub(/create@/, "delete@", d)
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
				if (lat_cpu)
					row(sc, cpu_label, "server_cpu_us_per_op", 0)
			} else {
				row(sc, "ops/s", "ops_per_sec", 1)
				row(sc, "p50 latency us", "p50_us", 0)
				row(sc, "p99 latency us", "p99_us", 0)
				row(sc, cpu_label, "server_cpu_us_per_op", 0)
			}
			if (sc !~ /get(@|$)/)
				row(sc, fsync_label, "ops_per_fsync", -1)
		}
		print ""
	}
	# Returns 1 if the other load was high enough to make the figures noisy.
	function notes(what,    oz, oc) {
		if (anybad)
			print "!: at least one run had errors or failed (see the raw lines)"
		oz = median("other", "zk"); oc = median("other", "coordd")
		printf("other load on the machine during runs (median %% of one core%s): zk %s, coordd %s\n",
		       what, oz == "" ? "-" : sprintf("%.0f", oz), oc == "" ? "-" : sprintf("%.0f", oc))
		return oz > 25 || oc > 25
	}
'
