#!/bin/bash
# Smoke test of the VM harness itself, no vdk code: QEMU's storage daemon
# serves a vduse-blk export, the kernel attaches it as a virtio-blk disk, and
# 16 MiB of random data read back identical.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=../lib-guest.sh
. "${VDK_LIB:-/vdk/lib-guest.sh}"

QSD_PID=

modules() {
	load_vduse_modules
	vdpa mgmtdev show
}

qsd_start() {
	truncate -s 64M /tmp/disk.raw
	qemu-storage-daemon \
		--blockdev file,filename=/tmp/disk.raw,node-name=d0 \
		--export vduse-blk,id=e0,node-name=d0,name=qsd0,writable=on,num-queues=1 \
		>"$VDK_RESULTS/qsd.log" 2>&1 &
	QSD_PID=$!
	echo "$QSD_PID" >/tmp/qsd.pid
	wait_for 20 test -c /dev/vduse/qsd0
}

attach() {
	vdpa dev add name qsd0 mgmtdev vduse
	dev=$(wait_vdpa_disk qsd0 30)
	echo "disk: $dev ($(blockdev --getsize64 "$dev") bytes)"
}

roundtrip() {
	local dev
	dev=$(vdpa_disk qsd0)
	head -c 16M /dev/urandom >/tmp/data
	dd if=/tmp/data of="$dev" bs=1M count=16 oflag=direct conv=fsync status=none
	dd if="$dev" of=/tmp/back bs=1M count=16 iflag=direct status=none
	local a b
	a=$(sha256sum </tmp/data | cut -d' ' -f1)
	b=$(sha256sum </tmp/back | cut -d' ' -f1)
	echo "written $a"
	echo "read    $b"
	[[ $a == "$b" ]]
	# And through the backing file, as QSD sees it.
	b=$(head -c 16M /tmp/disk.raw | sha256sum | cut -d' ' -f1)
	[[ $a == "$b" ]]
}

detach() {
	vdpa dev del qsd0
	wait_for 10 bash -c '! test -e /sys/bus/vdpa/devices/qsd0'
	kill -TERM "$(cat /tmp/qsd.pid)"
	wait_for 20 bash -c "! kill -0 $(cat /tmp/qsd.pid) 2>/dev/null"
	wait_for 10 bash -c '! test -e /dev/vduse/qsd0'
}

log "kernel $(uname -r)"
dmesg_mark
run_scenario "load vduse, virtio_vdpa, virtio_blk" modules
run_scenario "qemu-storage-daemon vduse-blk export" qsd_start
run_scenario "vdpa dev add: disk appears" attach
run_scenario "16 MiB O_DIRECT write/read-back, sha256 equal" roundtrip
run_scenario "vdpa dev del, daemon stops, device gone" detach
check_dmesg
summary
