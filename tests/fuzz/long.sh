#!/usr/bin/env bash
# Long fuzzing: every target for minutes, one after the other, and the
# figures of the run appended to tests/fuzz/RESULTS.md.
#
#   tests/fuzz/long.sh [MINUTES] [TARGET...]
#
# MINUTES per target (default 10); TARGET defaults to every fuzz-*.c here.
# Each target goes through tests/fuzz/run.sh alone (one fuzzer process at a
# time), in the same build directory as CI's run (build-fuzz, or
# VDK_FUZZ_BUILD), so that the corpus each run grows in BUILD/corpus/TARGET
# is where the next one starts.  At the end, one row per target is appended
# to RESULTS.md: date, commit, minutes, executions, executions per second,
# corpus inputs (and how many this run added) and bytes, libFuzzer's final
# cov: and ft:, and the inputs that crashed (a crash ends that target's
# run; copy the input into regress/TARGET/, see run.sh).
# Exit 0 when no target crashed, 1 when one did or the build failed, 77 when
# clang is missing.
set -uo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
top=$(cd "$here/../.." && pwd)
build=${VDK_FUZZ_BUILD:-$top/build-fuzz}
results=$here/RESULTS.md

minutes=${1:-10}
shift $(($# > 0 ? 1 : 0))
if ! [[ $minutes =~ ^[0-9]+([.][0-9]+)?$ ]]; then
	echo "long.sh: MINUTES must be a number, not $minutes" >&2
	exit 2
fi
secs=$(awk -v m="$minutes" 'BEGIN { printf "%d", m * 60 + 0.5 }')
if ((secs < 1)); then
	echo "long.sh: MINUTES too small" >&2
	exit 2
fi
if [[ $# -gt 0 ]]; then
	targets=("$@")
else
	targets=()
	for f in "$here"/fuzz-*.c; do
		targets+=("$(basename "$f" .c)")
	done
fi

date=$(date -u '+%Y-%m-%d %H:%M')
commit=$(git -C "$top" rev-parse --short=12 HEAD 2>/dev/null || echo '?')
# A tree that differs from its commit says so (RESULTS.md aside).
if [[ -n $(git -C "$top" status --porcelain --untracked-files=no -- . \
	':!tests/fuzz/RESULTS.md' 2>/dev/null) ]]; then
	commit+=+dirty
fi

rows=()
failed=0
for t in "${targets[@]}"; do
	before=$(find "$build/corpus/$t" -type f 2>/dev/null | wc -l)
	rm -f "$build/fuzz-$t.stats"
	VDK_FUZZ_BUILD=$build "$here/run.sh" "$secs" "$t"
	rc=$?
	((rc == 77)) && exit 77
	stats=$build/fuzz-$t.stats
	if [[ ! -f $stats ]]; then
		echo "long.sh: $t did not run (build failed?)" >&2
		exit 1
	fi
	declare -A st=()
	while read -r key value; do
		st[$key]=$value
	done <"$stats"
	crashes=0
	if [[ -n ${st[artifacts]:-} ]]; then
		read -ra list <<<"${st[artifacts]}"
		crashes="${#list[@]}:"
		for a in "${list[@]}"; do
			crashes+=" \`$(basename "$a")\`"
		done
	fi
	((rc == 0)) || failed=1
	row="| $date | $commit | $t | $minutes | ${st[execs]} | ${st[rate]}"
	row+=" | ${st[inputs]} ($(printf '%+d' $((st[inputs] - before))))"
	row+=" | ${st[bytes]}"
	row+=" | ${st[cov]} | ${st[ft]} | $crashes |"
	rows+=("$row")
done

header='| date (UTC) | commit | target | minutes | executions | exec/s | corpus inputs (new) | corpus bytes | cov | ft | crashes |
|---|---|---|---:|---:|---:|---:|---:|---:|---:|---|'
if [[ ! -f $results ]]; then
	cat >"$results" <<'HEAD'
# Long fuzzing runs

Written by `tests/fuzz/long.sh [MINUTES] [TARGET...]` (see README.md
here), which runs every libFuzzer target for MINUTES, one after the
other, and appends a row per target below. Each run starts from the
target's seeds, its regressions and the corpus earlier runs of the same
build directory grew (`build-fuzz/corpus/TARGET`).

- executions: libFuzzer's `stat::number_of_executed_units`; exec/s its
  `stat::average_exec_per_sec`.
- corpus: inputs (and how many this run added) and bytes in
  `build-fuzz/corpus/TARGET` at the end.
- cov, ft: the last `cov:` and `ft:` libFuzzer printed: code edges and
  features (edges with hit counts, comparisons) reached.
- crashes: inputs that crashed, timed out or ran out of memory, as named
  in `build-fuzz/artifacts/`; a crash ends that target's run.

Figures depend on the machine and on what else it runs.
HEAD
fi
# Rows go under a header: a new one when something else ends the file.
if [[ $(grep -v '^$' "$results" | tail -1) != '|'* ]]; then
	printf '\n%s\n' "$header" >>"$results"
fi
printf '%s\n' "${rows[@]}" >>"$results"
echo "long.sh: appended to $results:"
printf '%s\n' "${rows[@]}"
exit $failed
