#!/usr/bin/env bash
# Build the libFuzzer targets with clang and run each for a bounded time.
#
#   tests/fuzz/run.sh [SECONDS] [TARGET...]
#
# SECONDS per target (default 60); TARGET defaults to every fuzz-*.c here.
# CI (scripts/test.sh) runs 30 s per target; tests/fuzz/long.sh runs each
# for minutes and keeps the figures in RESULTS.md (see README.md here).
# Builds in build-fuzz (CC=clang, -Dfuzz=true, ASan+UBSan; VDK_FUZZ_BUILD
# overrides).  Each target starts from its seed corpus (corpus/TARGET) and
# its regressions (regress/TARGET), both only read, and from what earlier
# runs found (BUILD/corpus/TARGET, kept).  A crash leaves its input in
# BUILD/artifacts/: copy it into regress/TARGET/ and the unit test
# replay-TARGET runs it from then on, without libFuzzer.
# Prints a line per target: executions, executions per second, coverage
# (libFuzzer's cov: edges, ft: features), corpus inputs and bytes; the
# same figures go to BUILD/fuzz-TARGET.stats (for long.sh), the whole
# output to BUILD/fuzz-TARGET.log.
# Exit 0 when no target crashed, 1 when one did or the build failed, 77 when
# clang is missing.
set -uo pipefail

secs=${1:-60}
shift $(($# > 0 ? 1 : 0))
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
top=$(cd "$here/../.." && pwd)
build=${VDK_FUZZ_BUILD:-$top/build-fuzz}

if [[ $# -gt 0 ]]; then
	targets=("$@")
else
	targets=()
	for f in "$here"/fuzz-*.c; do
		targets+=("$(basename "$f" .c)")
	done
fi
if ! command -v clang >/dev/null; then
	echo "fuzz: clang is missing" >&2
	exit 77
fi
if [[ ! -f $build/build.ninja ]]; then
	CC=clang meson setup "$build" "$top" -Dfuzz=true \
		-Db_sanitize=address,undefined -Db_lundef=false >"$build.log" \
		2>&1 || {
		cat "$build.log" >&2
		exit 1
	}
	rm -f "$build.log"
fi
ninja -C "$build" "${targets[@]/#/tests/fuzz/}" >/dev/null || {
	ninja -C "$build" "${targets[@]/#/tests/fuzz/}" | tail -30 >&2
	exit 1
}

export UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1
mkdir -p "$build/artifacts"
failed=0
# final_stat LOG NAME: a figure of libFuzzer's -print_final_stats.
final_stat() {
	sed -n "s/^stat::$2: *//p" "$1" | tail -1
}

# last LOG FIELD: the last value of FIELD (cov, ft) in libFuzzer's status
# lines, that is where the run ended.
last() {
	grep -o "$2: [0-9]*" "$1" | tail -1 | cut -d' ' -f2
}

for t in "${targets[@]}"; do
	corpus=$build/corpus/$t
	log=$build/fuzz-$t.log
	seeds=()
	mkdir -p "$corpus"
	for d in "$here/corpus/$t" "$here/regress/$t"; do
		[[ -d $d ]] && seeds+=("$d")
	done
	rm -f "$build/fuzz-$t.stats"
	"$build/tests/fuzz/$t" -max_total_time="$secs" -timeout=30 \
		-rss_limit_mb=4096 -print_final_stats=1 \
		-artifact_prefix="$build/artifacts/$t-" \
		"$corpus" "${seeds[@]}" >"$log" 2>&1
	rc=$?
	execs=$(final_stat "$log" number_of_executed_units)
	rate=$(final_stat "$log" average_exec_per_sec)
	cov=$(last "$log" cov)
	ft=$(last "$log" ft)
	inputs=$(find "$corpus" -type f | wc -l)
	bytes=$(find "$corpus" -type f -printf '%s\n' |
		awk '{ s += $1 } END { print s + 0 }')
	# Crashes, timeouts and OOMs: libFuzzer names the input it kept.
	artifacts=$(sed -n 's/.*Test unit written to //p' "$log" | xargs)
	{
		echo "rc $rc"
		echo "secs $secs"
		echo "execs ${execs:-?}"
		echo "rate ${rate:-?}"
		echo "cov ${cov:-?}"
		echo "ft ${ft:-?}"
		echo "inputs $inputs"
		echo "bytes $bytes"
		echo "artifacts $artifacts"
	} >"$build/fuzz-$t.stats"
	summary=$(printf '%s executions in %s s (%s/s), cov: %s, ft: %s, ' \
		"${execs:-?}" "$secs" "${rate:-?}" "${cov:-?}" "${ft:-?}")
	summary+="corpus $inputs inputs ($bytes bytes)"
	if ((rc == 0)); then
		echo "fuzz $t: $summary"
	else
		failed=1
		echo "fuzz $t: FAILED (exit $rc) after $summary; log $log" >&2
		[[ -n $artifacts ]] && echo "fuzz $t: input in $artifacts" >&2
		grep -E 'ERROR|SUMMARY|check failed|runtime error|Test unit' \
			"$log" | head -20 >&2
	fi
done
exit $failed
