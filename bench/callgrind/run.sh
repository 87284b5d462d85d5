#!/usr/bin/env bash
# The library's cost per 4 KiB request, in instructions, under callgrind.
#
#   bench/callgrind/run.sh [BUILDDIR]
#
# BUILDDIR defaults to build-bench (configured with the project's defaults,
# debugoptimized, if absent).  bench-vq runs under valgrind --tool=callgrind
# with collection switched on only inside one library function and its
# callees (--toggle-collect), for vdk_vq_pop, vdk_vq_push and vdk_vq_notify
# in turn; inside notify, the simulated kernel's interrupt injection
# (sk_vq_inject_irq, an ioctl on the real kernel) toggles collection off
# again.  Each is measured with N and with 2N requests, and the difference
# divided by N is the steady-state cost per request: set-up and the first
# mapping of driver memory drop out.  The simulated driver is never
# counted.  VDK_BENCH_N sets N (default 20000).
set -euo pipefail

top=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
build=${1:-$top/build-bench}
N=${VDK_BENCH_N:-20000}

for tool in valgrind callgrind_annotate meson ninja; do
	command -v "$tool" >/dev/null || {
		echo "run.sh: $tool is missing" >&2
		exit 77
	}
done
if [[ ! -f $build/build.ninja ]]; then
	meson setup "$build" "$top" >/dev/null
fi
ninja -C "$build" bench/bench-vq >/dev/null
bin=$build/bench/bench-vq
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# run N COLLECT... -- ARGS...: instructions collected over a whole run.
run() {
	local n=$1 opts=() out=$tmp/cg
	shift
	while [[ $1 != -- ]]; do
		opts+=("--toggle-collect=$1")
		shift
	done
	shift
	valgrind --tool=callgrind --collect-atstart=no "${opts[@]}" \
		--callgrind-out-file="$out" "$bin" "$n" "$@" \
		>/dev/null 2>"$tmp/log" || {
		cat "$tmp/log" >&2
		exit 1
	}
	awk '/^summary:/ { print $2; found = 1 } END { if (!found) exit 1 }' \
		"$out"
}

# per COLLECT... -- ARGS...: instructions per request at steady state.
per() {
	local a b
	a=$(run "$N" "$@")
	b=$(run "$((2 * N))" "$@")
	echo $(((b - a + N / 2) / N))
}

# measure LABEL ARGS...: one row of the table.
measure() {
	local label=$1 pop push notify
	shift
	pop=$(per vdk_vq_pop -- "$@")
	push=$(per vdk_vq_push -- "$@")
	notify=$(per vdk_vq_notify sk_vq_inject_irq -- "$@")
	printf '%-26s %6d %6d %7d %8d\n' "$label" "$pop" "$push" "$notify" \
		"$((pop + push + notify))"
}

echo "instructions per 4 KiB request (N=$N and 2N; $(valgrind --version))"
printf '%-26s %6s %6s %7s %8s\n' configuration pop push notify total
measure "direct, batch 1" 1 direct
measure "direct, batch 32" 32 direct
measure "indirect, batch 1" 1 indirect
measure "indirect, batch 32" 32 indirect
measure "indirect, batch 32, log" 32 indirect log
measure "packed direct, batch 1" 1 direct nolog packed
measure "packed direct, batch 32" 32 direct nolog packed
measure "packed indirect, batch 1" 1 indirect nolog packed
measure "packed indirect, batch 32" 32 indirect nolog packed
measure "packed ind., batch 32, log" 32 indirect log packed
