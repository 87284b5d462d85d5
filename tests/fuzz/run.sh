#!/usr/bin/env bash
# Build the libFuzzer targets with clang and run each for a bounded time.
#
#   tests/fuzz/run.sh [SECONDS] [TARGET...]
#
# SECONDS per target (default 60); TARGET defaults to every fuzz-*.c here.
# Builds in build-fuzz (CC=clang, -Dfuzz=true, ASan+UBSan; VDK_FUZZ_BUILD
# overrides).  Each target starts from its seed corpus (corpus/TARGET) and
# its regressions (regress/TARGET), both only read, and from what earlier
# runs found (BUILD/corpus/TARGET, kept).  A crash leaves its input in
# BUILD/artifacts/: copy it into regress/TARGET/ and the unit test
# replay-TARGET runs it from then on, without libFuzzer.
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
for t in "${targets[@]}"; do
	corpus=$build/corpus/$t
	log=$build/fuzz-$t.log
	seeds=()
	mkdir -p "$corpus"
	for d in "$here/corpus/$t" "$here/regress/$t"; do
		[[ -d $d ]] && seeds+=("$d")
	done
	"$build/tests/fuzz/$t" -max_total_time="$secs" -timeout=30 \
		-rss_limit_mb=4096 -print_final_stats=1 \
		-artifact_prefix="$build/artifacts/$t-" \
		"$corpus" "${seeds[@]}" >"$log" 2>&1
	rc=$?
	execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log")
	rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log")
	cov=$(grep -o 'cov: [0-9]*' "$log" | tail -1)
	if ((rc == 0)); then
		printf 'fuzz %s: %s runs in %s s (%s/s), %s, corpus %s\n' \
			"$t" "${execs:-?}" "$secs" "${rate:-?}" \
			"${cov:-cov: ?}" "$(ls "$corpus" | wc -l)"
	else
		failed=1
		echo "fuzz $t: FAILED (exit $rc); log $log" >&2
		grep -E 'ERROR|SUMMARY|check failed|runtime error|Test unit' \
			"$log" | head -20 >&2
	fi
done
exit $failed
