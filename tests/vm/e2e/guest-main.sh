#!/bin/bash
# End-to-end scenarios for vdk blk on the real VDUSE kernel module, in the
# test guest: the Linux virtio-blk driver is the client, through
# virtio_vdpa.  Run by tests/vm/e2e/run.sh; each scenario prints PASS/FAIL.
#
# VDK_E2E_ONLY (kernel command line vdk.only=...) may name a regex of
# scenario groups to run.
set -euo pipefail
. "${VDK_LIB:-/vdk/lib-guest.sh}"

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
export PATH="$HERE/bin:$PATH"
ONLY=$(sed -n 's/.*vdk\.only=\([^ ]*\).*/\1/p' /proc/cmdline)
WORK=/tmp/e2e
mkdir -p "$WORK"

want() { [[ -z $ONLY ]] || [[ $1 =~ $ONLY ]]; }

# The rings the run offers: vdk's default (split on the virtio bus, packed
# on the vhost bus), or those run.sh --ring put on the command line
# (vdk.ring=packed: its vdk then adds --ring packed to every `vdk add`).
RING=$(sed -n 's/.*vdk\.ring=\([a-z]*\).*/\1/p' /proc/cmdline)
RING=${RING:-${VDK_E2E_RING:-default}}
# What a device on the virtio bus takes in this run.
VIRTIO_RING=$RING
[[ $VIRTIO_RING != default ]] || VIRTIO_RING=split
# run.sh --in-order: VIRTIO_F_IN_ORDER offered too (vdk.in_order=1).
IN_ORDER=$(sed -n 's/.*vdk\.in_order=\([01]\).*/\1/p' /proc/cmdline)

# ring_check NAME: the guest's driver of device NAME (virtio bus) took
# the ring format of the run (VIRTIO_RING), VIRTIO_F_RING_PACKED (bit 34) or not, as
# its features in sysfs and `vdk list -j` both say.  With --in-order,
# says whether it took VIRTIO_F_IN_ORDER (bit 35) too: the kernel's
# choice (into VDK_RESULTS/in-order.txt).
ring_check() {
	local name=$1 f got listed io=
	f=$(cat /sys/bus/vdpa/devices/"$name"/virtio*/features)
	got=split
	[[ ${f:34:1} == 1 ]] && got=packed
	listed=$(vdk list -j "$name" | grep -o '"ring": *"[a-z]*"' | grep -o '[a-z]*"$' | tr -d '"' || true)
	if [[ $IN_ORDER == 1 ]]; then
		io=", in order: ${f:35:1}"
		echo "$name $(uname -r) in_order=${f:35:1}" >>"$VDK_RESULTS/in-order.txt"
	fi
	echo "  $name: features $f: $got rings (vdk list: $listed, run: $VIRTIO_RING)$io"
	[[ $got == "$VIRTIO_RING" && $listed == "$VIRTIO_RING" ]]
}

# expect_fail CODE REGEX CMD...: CMD exits with CODE and says REGEX.
expect_fail() {
	local code=$1 re=$2 rc=0 out
	shift 2
	out=$("$@" 2>&1) || rc=$?
	echo "  $* -> $rc: $out"
	[[ $rc -eq $code ]] || { echo "  expected exit $code" >&2; return 1; }
	[[ $out =~ $re ]] || { echo "  expected message /$re/" >&2; return 1; }
}

# add NAME ARGS...: start a daemonized device, print its node.
add() {
	local name=$1
	shift
	vdk add -d -p "$WORK/$name.pid" --log "$WORK/$name.log" "$name" "$@"
}

del() {
	vdk del "$1"
	wait_for 10 bash -c "! test -e /dev/vduse/$1"
	wait_for 10 bash -c "! test -e /sys/bus/vdpa/devices/$1"
}

no_leftovers() {
	local left
	left=$(ls /dev/vduse | grep -v '^control$' || true)
	[[ -z $left ]] || { echo "left in /dev/vduse: $left" >&2; return 1; }
	left=$(ls /sys/bus/vdpa/devices || true)
	[[ -z $left ]] || { echo "left on the vdpa bus: $left" >&2; return 1; }
	! pgrep -x 'vdk|vdk-server' >/dev/null || { echo "vdk still running" >&2; return 1; }
}

sha() { sha256sum | cut -d' ' -f1; }

# fio_stop_verify PID OUT: stop the time-based fio PID and judge it by its
# report OUT (it exits non-zero when stopped by a signal): no error, no
# verification failure.
fio_stop_verify() {
	local pid=$1 out=$2
	kill -INT "$pid"
	wait_for 60 bash -c "! kill -0 $pid 2>/dev/null"
	wait "$pid" || true
	grep -E "err= *0" "$out" >/dev/null || { cat "$out" >&2; return 1; }
	! grep -qiE "verify.*(fail|bad)|crc32c.*wanted|bad magic" "$out" ||
		{ cat "$out" >&2; return 1; }
	grep -E "issued rwts" "$out" | sed 's/^/  /'
}

# ---- 9. bad command lines and missing modules (modules not loaded yet) ----

cli_no_modules() {
	expect_fail 3 "modprobe vduse" vdk add d0 ram size=64M
}

cli_bad_input() {
	expect_fail 2 "" vdk add
	expect_fail 2 "" vdk frobnicate
	expect_fail 2 "unknown option|unrecognized" vdk add --bogus d0 ram size=1M
	expect_fail 2 "backend" vdk add d0 nosuch size=1M
	expect_fail 2 "size" vdk add d0 ram size=lots
	expect_fail 2 "parameter|key" vdk add d0 ram size=1M colour=red
	expect_fail 2 "" vdk add d0 ram size
	expect_fail 1 "/nonexistent" vdk add d0 file path=/nonexistent/disk.img
	truncate -s 1000 "$WORK/odd.img"
	expect_fail 2 "multiple" vdk add d0 file path="$WORK/odd.img"
	expect_fail 6 "" vdk del nosuchdev
	expect_fail 4 "root" setpriv --reuid=65534 --regid=65534 --clear-groups \
		"$HERE/bin/vdk" add d0 ram size=1M
	vdk add --help | grep -q add
	vdk list
	[[ $(vdk list -j) == "[]" ]]
}

cli_name_in_use() {
	local dev
	dev=$(add inuse ram size=16M)
	expect_fail 5 "in use" vdk add inuse ram size=16M
	del inuse
	[[ -n $dev ]]
}

# ---- 1. patterned data, compared with the backing file ----

data_dd() {
	local img=$WORK/data.img dev off bs
	truncate -s 64M "$img"
	dev=$(add data file path="$img")
	echo "  node $dev"
	[[ -b $dev ]]
	# What this kernel gave: the VDUSE API and features in use.
	vdk list -j data | grep -oE '"vduse_[a-z]*":("[^"]*"|[0-9]+)' | tr '\n' ' ' |
		sed "s/^/  $(uname -r): /;s/ \$/\n/" |
		tee -a "$VDK_RESULTS/vduse.txt"
	[[ $(blockdev --getsize64 "$dev") -eq $((64 << 20)) ]]
	head -c 8M /dev/urandom >"$WORK/pat"
	# Several sizes and offsets, the last sector included.
	for spec in "512 0" "4096 1" "65536 7" "1048576 3" "4096 16383"; do
		read -r bs off <<<"$spec"
		dd if="$WORK/pat" of="$dev" bs="$bs" seek="$off" count=1 \
			oflag=direct conv=notrunc status=none
		a=$(head -c "$bs" "$WORK/pat" | sha)
		b=$(dd if="$dev" bs="$bs" skip="$off" count=1 iflag=direct status=none | sha)
		c=$(dd if="$img" bs="$bs" skip="$off" count=1 status=none | sha)
		echo "  bs=$bs off=$off: $a $b $c"
		[[ $a == "$b" && $a == "$c" ]]
	done
	dd if="$dev" bs=512 skip=$(((64 << 20) / 512 - 1)) count=1 iflag=direct status=none >/dev/null
	# A read past the end fails cleanly.
	! dd if="$dev" bs=512 skip=$(((64 << 20) / 512)) count=1 iflag=direct status=none 2>/dev/null | grep -q .
	# 32 MiB in one stream.
	dd if="$WORK/pat" of="$dev" bs=1M count=8 seek=8 oflag=direct status=none
	[[ $(dd if="$dev" bs=1M skip=8 count=8 iflag=direct status=none | sha) == $(sha <"$WORK/pat") ]]
	del data
	[[ $(dd if="$img" bs=1M skip=8 count=8 status=none | sha) == $(sha <"$WORK/pat") ]]
}

# ---- 2. a file system ----

data_fs() {
	local img=$WORK/fs.img dev
	truncate -s 256M "$img"
	dev=$(add fs file path="$img")
	mkfs.ext4 -q -F "$dev"
	mkdir -p /mnt/vdk
	mount "$dev" /mnt/vdk
	# The libraries' first 128 MiB, by name: the same tree whatever else
	# the image holds (the whole directory outgrew the disk).
	mkdir /mnt/vdk/tree
	(cd /usr/lib/x86_64-linux-gnu && find . -type f -printf '%s %p\n' |
		sort -k2 | awk '{ s += $1; if (s > 128 * 1048576) exit
			print substr($0, index($0, " ") + 1) }' |
		tar -cf - -T -) | tar -C /mnt/vdk/tree -xf -
	(cd /mnt/vdk/tree && find . -type f -print0 | sort -z | xargs -0 sha256sum) >"$WORK/tree.sum"
	umount /mnt/vdk
	fsck.ext4 -f -n "$dev"
	mount "$dev" /mnt/vdk
	(cd /mnt/vdk/tree && sha256sum --quiet -c "$WORK/tree.sum")
	echo "  $(wc -l <"$WORK/tree.sum") files verified"
	umount /mnt/vdk
	del fs
}

# ---- 3. fio with verification ----

fio_verify() {
	local queues=$1 img=$WORK/fio$1.img dev
	truncate -s 128M "$img"
	dev=$(add "fio$queues" -q "$queues" file path="$img")
	[[ $(ls -d /sys/block/"$(basename "$dev")"/mq/* | wc -l) -eq $queues ]]
	ring_check "fio$queues"
	fio --name=verify --filename="$dev" --direct=1 --ioengine=libaio \
		--rw=randwrite --bs=4k --iodepth=16 --numjobs="$queues" \
		--size=$((32 / queues))M --offset_increment=$((32 / queues))M \
		--verify=crc32c --verify_fatal=1 --do_verify=1 \
		--group_reporting --output="$WORK/fio$queues.out"
	grep -E "err= *0" "$WORK/fio$queues.out" >/dev/null
	grep -E "IOPS|err=" "$WORK/fio$queues.out" | sed 's/^/  /'
	del "fio$queues"
}

# ---- 4. discard and write zeroes reach the backing file ----

discard_zeroes() {
	local img=$WORK/dz.img dev blocks_before blocks_after
	truncate -s 64M "$img"
	dev=$(add dz file path="$img")
	dd if=/dev/urandom of="$dev" bs=1M count=16 oflag=direct status=none
	sync "$img"
	blocks_before=$(stat -c %b "$img")
	blkdiscard -o 0 -l $((8 << 20)) "$dev"
	blkdiscard -z -o $((8 << 20)) -l $((4 << 20)) "$dev"
	cmp -n $((12 << 20)) "$dev" /dev/zero
	cmp -n $((12 << 20)) "$img" /dev/zero
	# The rest is untouched.
	[[ $(dd if="$dev" bs=1M skip=12 count=4 iflag=direct status=none | sha) == \
	   $(dd if="$img" bs=1M skip=12 count=4 status=none | sha) ]]
	! cmp -s -n $((4 << 20)) <(dd if="$img" bs=1M skip=12 count=4 status=none) /dev/zero
	blocks_after=$(stat -c %b "$img")
	echo "  backing file blocks: $blocks_before -> $blocks_after"
	# Discard punched holes in the backing file.
	((blocks_after <= blocks_before - (8 << 20) / 512))
	del dz
}

# ---- 5. read-only ----

read_only() {
	local img=$WORK/ro.img dev
	head -c 16M /dev/urandom >"$img"
	dev=$(add ro -r file path="$img")
	[[ $(blockdev --getro "$dev") -eq 1 ]]
	# Writes fail (the kernel refuses, or the device with IOERR)...
	! dd if=/dev/zero of="$dev" bs=4k count=1 oflag=direct status=none 2>/dev/null
	# ...and the disk stays readable and unchanged.
	[[ $(dd if="$dev" bs=1M iflag=direct status=none | sha) == $(sha <"$img") ]]
	del ro
}

# ---- 6. online resize ----

resize() {
	local img=$WORK/rs.img dev name
	truncate -s 32M "$img"
	dev=$(add rs file path="$img")
	name=$(basename "$dev")
	[[ $(blockdev --getsize64 "$dev") -eq $((32 << 20)) ]]
	truncate -s 96M "$img"
	vdk resize rs
	wait_for 10 bash -c "[[ \$(cat /sys/block/$name/size) -eq $(((96 << 20) / 512)) ]]"
	dd if=/dev/urandom of="$WORK/tail" bs=1M count=1 status=none
	dd if="$WORK/tail" of="$dev" bs=1M seek=95 oflag=direct status=none
	[[ $(dd if="$img" bs=1M skip=95 status=none | sha) == $(sha <"$WORK/tail") ]]
	truncate -s 48M "$img"
	vdk resize rs
	wait_for 10 bash -c "[[ \$(cat /sys/block/$name/size) -eq $(((48 << 20) / 512)) ]]"
	del rs
}

# ---- 7. add / I/O / del cycles ----

cycles() {
	local i dev img=$WORK/cy.img
	truncate -s 16M "$img"
	head -c 1M /dev/urandom >"$WORK/cy.pat"
	for i in $(seq 1 20); do
		dev=$(add cy file path="$img")
		dd if="$WORK/cy.pat" of="$dev" bs=1M oflag=direct status=none
		[[ $(dd if="$dev" bs=1M count=1 iflag=direct status=none | sha) == $(sha <"$WORK/cy.pat") ]]
		del cy
	done
	no_leftovers
}

# ---- 8. SIGTERM during I/O ----

sigterm_during_io() {
	local img=$WORK/st.img dev pid fio_pid t0
	truncate -s 128M "$img"
	dev=$(add st file path="$img")
	pid=$(cat "$WORK/st.pid")
	fio --name=busy --filename="$dev" --direct=1 --ioengine=libaio \
		--rw=randrw --bs=4k --iodepth=32 --time_based --runtime=60 \
		--output="$WORK/st.fio" >/dev/null 2>&1 &
	fio_pid=$!
	sleep 4
	t0=$SECONDS
	kill -TERM "$pid"
	wait_for 40 bash -c "! kill -0 $pid 2>/dev/null"
	echo "  daemon gone after $((SECONDS - t0)) s"
	wait_for 60 bash -c "! kill -0 $fio_pid 2>/dev/null"
	wait "$fio_pid" || true
	echo "  fio ended after $((SECONDS - t0)) s"
	[[ ! -e /dev/vduse/st && ! -e /sys/bus/vdpa/devices/st ]]
	no_leftovers
}

# shellcheck source=crash.sh
. "$HERE/crash.sh"
# shellcheck source=nbd.sh
. "$HERE/nbd.sh"
# shellcheck source=vhost.sh
. "$HERE/vhost.sh"
# shellcheck source=rbd.sh
. "$HERE/rbd.sh"
# shellcheck source=confine.sh
. "$HERE/confine.sh"
# shellcheck source=net.sh
. "$HERE/net.sh"
# shellcheck source=svc.sh
. "$HERE/svc.sh"
# shellcheck source=sysd.sh
. "$HERE/sysd.sh"
# shellcheck source=bounce.sh
. "$HERE/bounce.sh"

log "kernel $(uname -r), vdk $(vdk --version), rings: $RING"
dmesg_mark
if want cli; then
	run_scenario "9a. no modules: clear error, exit 3" cli_no_modules
fi
# Only when named (vdk.only=sysd): systemd as PID 1 and the built
# packages (see run.sh).  Before the modules are loaded: there,
# systemd-modules-load loads them from modules-load.d, as the manual says.
if [[ -n $ONLY ]] && want sysd; then sysd_scenarios; fi
run_scenario "load vduse, virtio_vdpa, virtio_blk" load_vduse_modules
if want cli; then
	run_scenario "9b. bad command lines: clear errors and exit codes" cli_bad_input
	run_scenario "9c. name already in use" cli_name_in_use
fi
want data && run_scenario "1. patterned dd O_DIRECT, compared with the backing file" data_dd
want fs && run_scenario "2. mkfs.ext4, copy a tree, fsck, remount, compare" data_fs
if want fio; then
	run_scenario "3a. fio randwrite verify=crc32c, 1 queue" fio_verify 1
	run_scenario "3b. fio randwrite verify=crc32c, 2 queues" fio_verify 2
fi
want discard && run_scenario "4. discard and write-zeroes reach the backing file" discard_zeroes
want ro && run_scenario "5. read-only device refuses writes, stays readable" read_only
want resize && run_scenario "6. online resize, larger and smaller" resize
want cycles && run_scenario "7. 20 cycles of add / I/O / del, nothing left" cycles
want sigterm && run_scenario "8. SIGTERM during fio: clean detach, I/O ends" sigterm_during_io
want bounce && bounce_scenarios
want crash && crash_scenarios
want nbd && nbd_scenarios
want vhost && vhost_scenarios
want confine && confine_scenarios
want net && net_scenarios
want svc && svc_scenarios
# Only when named (vdk.only=rbd): they need the Ceph image (see run.sh).
if [[ -n $ONLY ]] && want rbd; then rbd_scenarios; fi
check_dmesg
for f in "$WORK"/*.log; do
	[[ -s $f ]] && cp "$f" "$VDK_RESULTS/" || true
done
summary
