#!/bin/bash
# SPDX-License-Identifier: MIT
#
# The vdk command's life cycle on the real VDUSE kernel, in the test guest
# of tests/vm (run by tests/cli/vm/run.sh): add in the foreground and as a
# daemon, list, resize, del, the vhost bus, orphans, and failures that
# must unwind (a disk that never comes, a signal while waiting, del while
# the daemon starts) leaving nothing behind.
set -uo pipefail
# shellcheck source=../../vm/lib-guest.sh
. "${VDK_LIB:-/vdk/lib-guest.sh}"
export PATH=/vdk-test/bin:$PATH
W=$(mktemp -d /tmp/vdk-cli-XXXXXX)

# gone NAME: no trace of the device anywhere.
gone() {
	[[ ! -e /sys/class/vduse/$1 && ! -e /sys/bus/vdpa/devices/$1 &&
	   ! -e /dev/vduse/$1 && ! -e /run/vdk/$1.json ]]
}

t_modules_missing() {
	local rc=0 out
	out=$(vdk add d0 ram size=16M 2>&1) || rc=$?
	echo "rc=$rc $out"
	[[ $rc -eq 3 &&
	   $out == "vdk: add: kernel support missing: run 'modprobe vduse virtio_vdpa virtio_blk'" ]]
}

t_add() {
	local node
	head -c 16M /dev/urandom >"$W/d0.img"
	node=$(vdk add -d -p "$W/d0.pid" --log "$W/d0.log" d0 file \
		path="$W/d0.img")
	echo "node: $node"
	[[ $node == /dev/vd? && -b $node ]]
	echo "$node" >"$W/node"
	[[ $(cat "$W/d0.pid") -gt 1 ]]
	cat /run/vdk/d0.json
	vdk list
	vdk list d0 | grep -q 'd0 .*file .*16M .*virtio *running'
	vdk list -j | grep -q '"state":"running"'
	cmp <(dd if="$node" bs=1M iflag=direct status=none) "$W/d0.img"
	head -c 4M /dev/urandom >"$W/patch"
	dd if="$W/patch" of="$node" bs=1M seek=2 oflag=direct conv=fsync \
		status=none
	cmp <(dd if="$W/d0.img" bs=1M skip=2 count=4 status=none) "$W/patch"
}

t_in_use() {
	local rc=0 out
	out=$(vdk add d0 ram size=16M 2>&1) || rc=$?
	echo "rc=$rc $out"
	[[ $rc -eq 5 && $out == "vdk: add: device name 'd0' is in use" ]]
}

t_resize() {
	local node d
	node=$(cat "$W/node")
	d=${node#/dev/}
	truncate -s 32M "$W/d0.img"
	vdk resize d0
	wait_for 20 test "$(cat "/sys/block/$d/size")" = 65536
	wait_for 5 grep -q '"size":33554432' /run/vdk/d0.json
	vdk list d0 | grep -q 32M
}

t_del() {
	local node pid
	node=$(cat "$W/node")
	pid=$(cat "$W/d0.pid")
	vdk del d0
	gone d0
	[[ ! -e $node && ! -e $W/d0.pid && -z $(vdk list) ]]
	! kill -0 "$pid" 2>/dev/null
}

t_foreground() {
	local pid node d n rc=0
	vdk add -j -q 4 --serial SER1 f0 ram size=32M >"$W/f0.out" \
		2>"$W/f0.err" &
	pid=$!
	wait_for 60 grep -q node "$W/f0.out"
	cat "$W/f0.out"
	node=$(sed 's/.*"node":"\([^"]*\)".*/\1/' "$W/f0.out")
	d=${node#/dev/}
	# virtio_blk uses at most one queue per CPU.
	n=$(nproc)
	((n > 4)) && n=4
	[[ $(ls "/sys/block/$d/mq" | wc -l) -eq $n ]]
	[[ $(cat "/sys/block/$d/serial") == SER1 ]]
	kill -INT "$pid"
	wait "$pid" || rc=$?
	echo "rc=$rc stderr: $(cat "$W/f0.err")"
	[[ $rc -eq 0 && ! -e $node ]]
	gone f0
}

# With drivers_autoprobe off, no virtio driver binds: the device attaches
# and no disk ever comes.
t_timeout_unwind() {
	local rc=0 out
	out=$(vdk add --timeout 3 nb ram size=16M 2>&1) || rc=$?
	echo "rc=$rc $out"
	[[ $rc -eq 1 && $out == "vdk: add: 'nb' not live after 3 s" ]]
	gone nb
}

t_daemon_timeout_unwind() {
	local rc=0 out
	out=$(vdk add -d -p "$W/nb.pid" --timeout 3 nb ram size=16M 2>&1) ||
		rc=$?
	echo "rc=$rc $out"
	[[ $rc -eq 1 && $out == "vdk: add: 'nb' not live after 3 s" ]]
	[[ ! -e $W/nb.pid ]]
	gone nb
}

t_interrupt() {
	local pid rc=0
	vdk add --timeout 60 nb ram size=16M 2>"$W/nb.err" &
	pid=$!
	wait_for 20 test -e /sys/bus/vdpa/devices/nb
	kill -TERM "$pid"
	wait "$pid" || rc=$?
	echo "rc=$rc $(cat "$W/nb.err")"
	[[ $rc -eq 1 && $(cat "$W/nb.err") == "vdk: add: interrupted" ]]
	gone nb
}

t_del_while_starting() {
	local pid rc=0
	vdk add -d --timeout 60 nb ram size=16M >"$W/nb.out" 2>"$W/nb.err" &
	pid=$!
	wait_for 20 test -e /sys/bus/vdpa/devices/nb
	vdk list nb | grep -q starting
	vdk del nb
	wait "$pid" || rc=$?
	echo "rc=$rc $(cat "$W/nb.err")"
	[[ $rc -eq 1 && $(cat "$W/nb.err") == "vdk: add: interrupted" ]]
	gone nb
}

t_readonly_4k() {
	local node d
	node=$(vdk add -d -r -b 4096 ro ram size=16M)
	d=${node#/dev/}
	[[ $(cat "/sys/block/$d/ro") == 1 ]]
	[[ $(cat "/sys/block/$d/queue/logical_block_size") == 4096 ]]
	if dd if=/dev/zero of="$node" bs=4k count=1 oflag=direct \
		status=none; then
		return 1
	fi
	vdk del ro
	gone ro
}

t_vhost() {
	local out
	modprobe vhost_vdpa
	out=$(vdk add -d -j --bus vhost v0 ram size=16M)
	echo "$out"
	[[ $out == *'"node":"/dev/vhost-vdpa-'* ]]
	vdk list v0 | grep -q 'vhost *running'
	[[ $(basename "$(readlink /sys/bus/vdpa/devices/v0/driver)") == \
	   vhost_vdpa ]]
	vdk del v0
	gone v0
}

t_orphan() {
	local rc=0 out
	vdk add -d -p "$W/o.pid" o0 ram size=16M
	kill -KILL "$(cat "$W/o.pid")"
	wait_for 10 sh -c 'vdk list o0 | grep -q orphan'
	# Nobody answers the kernel: detaching takes its msg_timeout.
	out=$(vdk del o0 2>&1) || rc=$?
	echo "rc=$rc $out"
	[[ $rc -eq 0 &&
	   $out == "vdk: del: 'o0' has no daemon: removing the orphan device" ]]
	gone o0
}

t_three() {
	local i
	for i in 0 1 2; do
		vdk add -d -q 2 "m$i" ram size=8M
	done
	vdk list
	[[ $(vdk list | grep -c running) -eq 3 ]]
	for i in 0 1 2; do
		vdk del "m$i"
	done
	[[ -z $(vdk list) ]]
}

log "kernel $(uname -r), $(vdk --version)"
dmesg_mark
run_scenario "modules missing: exit 3" t_modules_missing
load_vduse_modules
run_scenario "add -d file, data" t_add
run_scenario "name in use: exit 5" t_in_use
run_scenario "resize" t_resize
run_scenario "del" t_del
run_scenario "foreground -j -q 4, SIGINT" t_foreground
echo 0 >/sys/bus/virtio/drivers_autoprobe
run_scenario "timeout unwinds" t_timeout_unwind
run_scenario "daemon timeout unwinds" t_daemon_timeout_unwind
run_scenario "SIGTERM while waiting unwinds" t_interrupt
run_scenario "del while starting" t_del_while_starting
echo 1 >/sys/bus/virtio/drivers_autoprobe
run_scenario "read-only, 4096-byte blocks" t_readonly_4k
run_scenario "vhost bus" t_vhost
run_scenario "orphan removed by del" t_orphan
run_scenario "three devices" t_three
scenario "no vdk left running"
if pgrep -a vdk; then fail "vdk still running"; else pass; fi
check_dmesg
summary
