#!/bin/bash
# Runs the libFuzzer request-decoder target for a bounded time (FUZZ_SECONDS,
# default 30) from a seed corpus of valid requests.  TAP: one test point.
bin=$top_builddir/tests/fuzz_request
secs=${FUZZ_SECONDS:-30}
if [ ! -x "$bin" ]; then
	echo "1..0 # SKIP fuzz target not built (needs clang with libFuzzer)"
	exit 0
fi
echo "1..1"
work=$(mktemp -d)
data=$(mktemp -d -p /dev/shm 2>/dev/null || mktemp -d)
trap 'rm -rf "$work" "$data"' EXIT
mkdir -p "$work/corpus"
/usr/bin/python3 "$top_srcdir/tests/integration/fuzz_seeds.py" "$work/corpus"
if COORD_FUZZ_DIR=$data ASAN_OPTIONS=detect_leaks=0:abort_on_error=1 "$bin" -print_final_stats=1 -max_total_time="$secs" -timeout=10 \
	-rss_limit_mb=2048 -artifact_prefix="$work/" "$work/corpus" >"$work/out" 2>&1; then
	echo "ok 1 - request decoder survived ${secs}s of fuzzing ($(grep -o 'stat::number_of_executed_units: [0-9]*' "$work/out" | awk '{print $2}') runs)"
	grep -E '^#[0-9]+.*DONE|cov:' "$work/out" | tail -1 | sed 's/^/# /'
else
	echo "not ok 1 - fuzzer found a failure"
	tail -60 "$work/out" | sed 's/^/# /'
	for f in "$work"/crash-* "$work"/timeout-* "$work"/leak-*; do
		[ -f "$f" ] && echo "# input: $(od -An -tx1 "$f" | tr -d '\n' | head -c 400)"
	done
fi
