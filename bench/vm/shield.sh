#!/bin/bash
# Run a benchmark with the host's CPU to itself: every other process of the
# root CPU cgroup goes into a group of the least weight for as long as
# COMMAND runs, and back after; COMMAND and its children keep the default
# weight.  (Processes in other groups, such as systemd's slices, are left
# where they are: the script says how many it moved.)  Under TCG the guest is only as fast as the host CPU its
# vCPU threads get: a compiler or a test suite beside it (even at nice 19)
# slows the guest as a whole, and a polling daemon more than one that
# sleeps.  Processes started meanwhile by the others land in the low group
# too, as children of their parents.
#
#   bench/vm/shield.sh COMMAND [ARG...]
#
# Needs root and the cpu controller (cgroup v1 /sys/fs/cgroup/cpu, or v2
# with "cpu" in /sys/fs/cgroup/cgroup.controllers).  Exits with COMMAND's
# status.
set -euo pipefail

die() { printf 'shield: error: %s\n' "$*" >&2; exit 2; }
(($#)) || die "usage: shield.sh COMMAND [ARG...]"
[[ $(id -u) == 0 ]] || die "needs root"

if [[ -f /sys/fs/cgroup/cpu/cpu.shares ]]; then
	ROOT=/sys/fs/cgroup/cpu LOW=2 HIGH=1024 KNOB=cpu.shares
elif grep -qw cpu /sys/fs/cgroup/cgroup.controllers 2>/dev/null; then
	ROOT=/sys/fs/cgroup LOW=1 HIGH=100 KNOB=cpu.weight
	grep -qw cpu "$ROOT/cgroup.subtree_control" ||
		echo +cpu >"$ROOT/cgroup.subtree_control" || die "cannot enable the cpu controller"
else
	die "no cpu cgroup controller"
fi
BG=$ROOT/vdk-shield-bg FG=$ROOT/vdk-shield-fg
mkdir -p "$BG" "$FG"
echo "$LOW" >"$BG/$KNOB"
echo "$HIGH" >"$FG/$KNOB"

# move FROM TO: every process of group FROM into TO (kernel threads
# refuse, and stay).
move() {
	local p
	for p in $(cat "$1/cgroup.procs"); do
		echo "$p" >"$2/cgroup.procs" 2>/dev/null || true
	done
}
restore() {
	move "$BG" "$ROOT"
	move "$FG" "$ROOT"
	rmdir "$BG" "$FG" 2>/dev/null || true
}
trap restore EXIT
move "$ROOT" "$BG"
echo $$ >"$FG/cgroup.procs"
printf 'shield: %s other processes at %s %s while the command runs\n' \
	"$(wc -l <"$BG/cgroup.procs")" "$KNOB" "$LOW" >&2
rc=0
"$@" || rc=$?
exit "$rc"
