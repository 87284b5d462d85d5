# Helpers for guest test scripts; in the guest: . /vdk/lib-guest.sh
# (the harness puts this file there; $VDK_LIB names it too).
# shellcheck shell=bash disable=SC2119,SC2120 # pass takes an optional note
#
#   scenario "name"; ...; pass            # or: fail "why"
#   run_scenario "name" some_function     # pass if the function returns 0
#   check_dmesg                           # a scenario failing on kernel splats
#   summary                               # prints "N passed, N failed"; status
#
# Each result is printed as one line: "PASS name (Ns)" or "FAIL name: why".

VDK_PASSED=0
VDK_FAILED=0
VDK_SCENARIO=
VDK_SCENARIO_START=0
VDK_RESULTS=${VDK_RESULTS:-/results}
VDK_DMESG_MARK=0

log() { printf '[%6s] %s\n' "$(cut -d' ' -f1 /proc/uptime)" "$*"; }

_vdk_close_open() {
	if [[ -n $VDK_SCENARIO ]]; then
		fail "ended without pass or fail"
	fi
}

scenario() {
	_vdk_close_open
	VDK_SCENARIO=$1
	VDK_SCENARIO_START=$SECONDS
	printf '==== %s\n' "$VDK_SCENARIO"
}

pass() {
	local name=${VDK_SCENARIO:-unnamed}
	VDK_PASSED=$((VDK_PASSED + 1))
	printf 'PASS %s (%ds)%s\n' "$name" "$((SECONDS - VDK_SCENARIO_START))" "${1:+: $1}"
	VDK_SCENARIO=
}

fail() {
	local name=${VDK_SCENARIO:-unnamed}
	VDK_FAILED=$((VDK_FAILED + 1))
	printf 'FAIL %s (%ds): %s\n' "$name" "$((SECONDS - VDK_SCENARIO_START))" "${1:-failed}"
	VDK_SCENARIO=
}

# skip REASON: the scenario cannot run here (a kernel without what it
# tests); said, and counted apart from those passed and failed.
skip() {
	local name=${VDK_SCENARIO:-unnamed}
	VDK_SKIPPED=$((${VDK_SKIPPED:-0} + 1))
	printf 'SKIP %s: %s\n' "$name" "${1:-skipped}"
	VDK_SCENARIO=
}

# skip_because REASON: in a run_scenario function, end it as skipped.
skip_because() {
	echo "$1" >"${VDK_SKIP_FILE:?skip_because outside run_scenario}"
	exit 77
}

# run_scenario NAME FUNCTION [ARGS...]: runs the function in a subshell with
# "set -e", so any failing command fails the scenario; one that calls
# skip_because is skipped.
run_scenario() {
	local name=$1 rc
	shift
	scenario "$name"
	VDK_SKIP_FILE=$(mktemp)
	set +e
	(
		set -eEuo pipefail
		trap 'echo "  failed: line $LINENO: $BASH_COMMAND (status $?)" >&2' ERR
		"$@"
	)
	rc=$?
	set -e
	if ((rc == 0)); then
		pass
	elif ((rc == 77)) && [[ -s $VDK_SKIP_FILE ]]; then
		skip "$(cat "$VDK_SKIP_FILE")"
	else
		fail "status $rc"
	fi
	rm -f "$VDK_SKIP_FILE"
	return 0
}

# summary: the closing line, alone on its line; returns 0 only if all passed
# and at least one scenario ran.
summary() {
	_vdk_close_open
	if ((${VDK_SKIPPED:-0})); then
		printf '%d skipped (SKIP lines above say why)\n' "$VDK_SKIPPED"
	fi
	printf '%d passed, %d failed\n' "$VDK_PASSED" "$VDK_FAILED"
	((VDK_FAILED == 0 && VDK_PASSED > 0))
}

# dmesg_mark: later check_dmesg calls look only at what the kernel logs after.
dmesg_mark() { VDK_DMESG_MARK=$(dmesg | wc -l); }

# check_dmesg [EXTRA_REGEX]: a scenario that fails if the kernel log (since
# dmesg_mark, if called) has a warning, BUG, Oops, a segfault or a virtio
# ring error.
check_dmesg() {
	local re='WARNING:|BUG:|Oops|is not a head|Out of memory|segfault at' hits
	[[ -n ${1:-} ]] && re="$re|$1"
	scenario "kernel log clean"
	hits=$(dmesg | tail -n +"$((VDK_DMESG_MARK + 1))" | grep -E "$re" || true)
	if [[ -n $hits ]]; then
		printf '%s\n' "$hits" | head -n 20 | sed 's/^/  dmesg: /'  || true
		fail "kernel log matches /$re/"
	else
		pass
	fi
}

# load_vduse_modules [vhost]: VDUSE, the virtio-vdpa bus and virtio_blk
# (without which "vdpa dev add" succeeds but no disk appears); with "vhost",
# vhost_vdpa too. There is no udev in the guest.
load_vduse_modules() {
	modprobe vduse || return
	modprobe virtio_vdpa || return
	modprobe virtio_blk || return
	if [[ ${1:-} == vhost ]]; then modprobe vhost_vdpa || return; fi
	[[ -c /dev/vduse/control ]] || { echo "no /dev/vduse/control" >&2; return 1; }
}

# wait_for SECS CMD...: poll CMD every 0.1 s until it succeeds or SECS pass.
wait_for() {
	local secs=$1 end
	shift
	end=$((SECONDS + secs))
	until "$@"; do
		((SECONDS < end)) || { echo "timed out after ${secs}s waiting for: $*" >&2; return 1; }
		sleep 0.1
	done
}

# vdpa_disk NAME: prints /dev/vdX of the virtio-blk disk of vdpa device NAME.
vdpa_disk() {
	local d
	for d in /sys/bus/vdpa/devices/"$1"/virtio*/block/*; do
		[[ -e $d ]] && { echo "/dev/$(basename "$d")"; return 0; }
	done
	return 1
}

# wait_vdpa_disk NAME [SECS]: waits until the disk exists, prints it.
wait_vdpa_disk() {
	local secs=${2:-30} dev
	wait_for "$secs" vdpa_disk "$1" >/dev/null || return
	dev=$(vdpa_disk "$1")
	wait_for "$secs" test -b "$dev" || return
	echo "$dev"
}
