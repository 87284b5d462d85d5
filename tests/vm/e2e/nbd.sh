# shellcheck shell=bash
# End-to-end scenarios for vdk blk on the nbd backend, in the test guest:
# nbdkit and qemu-nbd serve on Unix sockets inside the guest.  Sourced by
# guest-main.sh, whose helpers it uses (run_scenario, add, del, wait_for,
# sha, expect_fail, $WORK); nbd_scenarios runs them all.

NBD_SERVERS=()

# nbd_kill_servers: what this scenario started, gone.
nbd_kill_servers() {
	local pid
	for pid in "${NBD_SERVERS[@]}"; do
		kill -9 "$pid" 2>/dev/null || true
	done
	NBD_SERVERS=()
}

# nbd_cleanup NAME...: the devices first (so that nothing waits for a
# server that is gone), then the servers.
nbd_cleanup() {
	local name
	for name in "$@"; do
		[[ -e /sys/bus/vdpa/devices/$name ]] && vdk del "$name" >/dev/null 2>&1
	done
	nbd_kill_servers
}

# nbdkit_start NAME PLUGIN ARGS...: nbdkit on $WORK/NAME.sock, in the
# background; returns once it accepts connections.
nbdkit_start() {
	local name=$1 sock=$WORK/$1.sock pidf=$WORK/$1.nbdkit.pid
	shift
	rm -f "$sock" "$pidf"
	nbdkit -U "$sock" -P "$pidf" "$@"
	wait_for 10 test -s "$pidf"
	# The serving process connects as its user, not as root.
	chmod 0666 "$sock"
	NBD_SERVERS+=("$(cat "$pidf")")
}

# qemu_nbd_start NAME FILE: qemu-nbd exporting the raw FILE as "disk" on
# $WORK/NAME.sock; persistent (-t: the backend's first connection only
# checks the export), four clients at once.
qemu_nbd_start() {
	local name=$1 file=$2 sock=$WORK/$1.sock pidf=$WORK/$1.qnbd.pid
	rm -f "$sock" "$pidf"
	qemu-nbd --fork -t -e 4 -f raw -x disk -k "$sock" --pid-file="$pidf" \
		"$file"
	wait_for 10 test -s "$pidf"
	chmod 0666 "$sock"
	NBD_SERVERS+=("$(cat "$pidf")")
}

nbd_uri() { echo "uri=nbd+unix:///${2:-}?socket=$WORK/$1.sock"; }

# nbd_dd DEV EXPORT_COPY: patterned writes of several sizes and offsets,
# each read back through the device, and then compared with what the
# server has: EXPORT_COPY prints the path of a file holding the export.
nbd_dd() {
	local dev=$1 copy=$2 bs off a b c img specs
	specs=("512 0" "4096 1" "65536 7" "1048576 3" "4096 16383")
	head -c 8M /dev/urandom >"$WORK/nbd.pat"
	for spec in "${specs[@]}"; do
		read -r bs off <<<"$spec"
		dd if="$WORK/nbd.pat" of="$dev" bs="$bs" seek="$off" count=1 \
			oflag=direct conv=notrunc status=none
		a=$(head -c "$bs" "$WORK/nbd.pat" | sha)
		b=$(dd if="$dev" bs="$bs" skip="$off" count=1 iflag=direct status=none | sha)
		[[ $a == "$b" ]]
	done
	dd if="$WORK/nbd.pat" of="$dev" bs=1M count=8 seek=8 oflag=direct status=none
	[[ $(dd if="$dev" bs=1M skip=8 count=8 iflag=direct status=none | sha) == $(sha <"$WORK/nbd.pat") ]]
	# What the server holds, read by another client or from its file.
	img=$($copy)
	for spec in "${specs[@]}"; do
		read -r bs off <<<"$spec"
		a=$(head -c "$bs" "$WORK/nbd.pat" | sha)
		c=$(dd if="$img" bs="$bs" skip="$off" count=1 status=none | sha)
		echo "  bs=$bs off=$off: $a $c"
		[[ $a == "$c" ]]
	done
	[[ $(dd if="$img" bs=1M skip=8 count=8 status=none | sha) == $(sha <"$WORK/nbd.pat") ]]
}

# The nbdkit memory export, copied out by qemu-img (another NBD client).
nbd_copy_export() {
	rm -f "$WORK/nbd-export.raw"
	qemu-img convert -f raw -O raw "nbd+unix:///disk?socket=$WORK/nbdmem.sock" \
		"$WORK/nbd-export.raw"
	echo "$WORK/nbd-export.raw"
}
nbd_copy_file() { echo "$WORK/nbd-raw.img"; }

# nbd_fs DEV: mkfs.ext4, a tree copied in, fsck, remount, compared.
nbd_fs() {
	local dev=$1
	mkfs.ext4 -q -F "$dev"
	mkdir -p /mnt/vdk
	mount "$dev" /mnt/vdk
	cp -a /usr/lib/x86_64-linux-gnu/perl-base /mnt/vdk/tree 2>/dev/null ||
		cp -a /usr/share /mnt/vdk/tree
	(cd /mnt/vdk/tree && find . -type f -print0 | sort -z | xargs -0 sha256sum) >"$WORK/nbd-tree.sum"
	umount /mnt/vdk
	fsck.ext4 -f -n "$dev"
	mount "$dev" /mnt/vdk
	(cd /mnt/vdk/tree && sha256sum --quiet -c "$WORK/nbd-tree.sum")
	echo "  $(wc -l <"$WORK/nbd-tree.sum") files verified"
	umount /mnt/vdk
}

# nbd_fio DEV QUEUES NAME: random writes verified by crc32c, a job a queue.
nbd_fio() {
	local dev=$1 queues=$2 out=$WORK/$3.fio
	[[ $(find /sys/block/"$(basename "$dev")"/mq -mindepth 1 -maxdepth 1 | wc -l) -eq $queues ]]
	fio --name=verify --filename="$dev" --direct=1 --ioengine=libaio \
		--rw=randwrite --bs=4k --iodepth=16 --numjobs="$queues" \
		--size=$((32 / queues))M --offset_increment=$((32 / queues))M \
		--verify=crc32c --verify_fatal=1 --do_verify=1 \
		--group_reporting --output="$out"
	grep -E "err= *0" "$out" >/dev/null
	grep -E "IOPS|err=" "$out" | sed 's/^/  /'
}

# ---- nbdkit memory export ----

nbd_mem_data() {
	local dev
	trap 'nbd_cleanup nbdmem' EXIT
	# Only the export "disk": other names are refused.
	nbdkit_start nbdmem --filter=exportname memory 64M \
		exportname-strict=true exportname=disk
	# Bounded: an add that wrongly succeeded would serve in the foreground.
	expect_fail 1 "no export named 'nope'" \
		timeout 60 vdk add nbdbad nbd "$(nbd_uri nbdmem disk)" export=nope
	expect_fail 1 "No such file" \
		timeout 60 vdk add nbdbad nbd uri="nbd+unix:///?socket=$WORK/none.sock"
	expect_fail 2 "scheme" timeout 60 vdk add nbdbad nbd uri=http://localhost/
	expect_fail 2 "timeout" timeout 60 vdk add nbdbad nbd "$(nbd_uri nbdmem disk)" timeout=0
	dev=$(add nbdmem nbd "$(nbd_uri nbdmem disk)")
	echo "  node $dev"
	[[ $(blockdev --getsize64 "$dev") -eq $((64 << 20)) ]]
	nbd_dd "$dev" nbd_copy_export
	# Write zeroes reach the export.
	blkdiscard -z -o 0 -l $((1 << 20)) "$dev"
	cmp -n $((1 << 20)) "$dev" /dev/zero
	cmp -n $((1 << 20)) "$(nbd_copy_export)" /dev/zero
	rm -f "$WORK/nbd-export.raw"
	del nbdmem
}

nbd_mem_fs() {
	local dev
	trap 'nbd_cleanup nbdfs' EXIT
	nbdkit_start nbdfs memory 256M
	dev=$(add nbdfs nbd "$(nbd_uri nbdfs)")
	nbd_fs "$dev"
	del nbdfs
}

nbd_mem_fio() {
	local queues=$1 dev
	# shellcheck disable=SC2064 # the name, now
	trap "nbd_cleanup nbdfio$queues" EXIT
	nbdkit_start "nbdfio$queues" memory 128M
	# nbdkit's memory plugin allows multi-conn: one connection a queue.
	dev=$(add "nbdfio$queues" -q "$queues" nbd "$(nbd_uri "nbdfio$queues")")
	nbd_fio "$dev" "$queues" "nbdfio$queues"
	del "nbdfio$queues"
}

# ---- qemu-nbd exporting a raw file ----

nbd_qemu_data() {
	local img=$WORK/nbd-raw.img dev
	trap 'nbd_cleanup nbdq' EXIT
	truncate -s 64M "$img"
	qemu_nbd_start nbdq "$img"
	dev=$(add nbdq nbd "$(nbd_uri nbdq disk)")
	[[ $(blockdev --getsize64 "$dev") -eq $((64 << 20)) ]]
	nbd_dd "$dev" nbd_copy_file
	del nbdq
}

nbd_qemu_fs() {
	local img=$WORK/nbd-rawfs.img dev
	trap 'nbd_cleanup nbdqfs' EXIT
	truncate -s 256M "$img"
	qemu_nbd_start nbdqfs "$img"
	dev=$(add nbdqfs nbd "$(nbd_uri nbdqfs disk)")
	nbd_fs "$dev"
	del nbdqfs
	nbd_kill_servers
	# What the device wrote is in the file.
	fsck.ext4 -f -n "$img"
}

nbd_qemu_fio() {
	local img=$WORK/nbd-rawfio.img dev
	trap 'nbd_cleanup nbdqfio' EXIT
	truncate -s 128M "$img"
	qemu_nbd_start nbdqfio "$img"
	dev=$(add nbdqfio nbd "$(nbd_uri nbdqfio disk)")
	nbd_fio "$dev" 1 nbdqfio
	del nbdqfio
}

# ---- the server killed during fio, and started again ----

# nbdkit's file plugin on a file, so that the data outlives the server.
nbd_kill_start() {
	nbdkit_start nbdkill file "$WORK/nbd-kill.img"
}

nbd_kill_restart() {
	local img=$WORK/nbd-kill.img dev fio_pid t0 el timeout=15 pre
	trap 'nbd_cleanup nbdkill' EXIT
	truncate -s 128M "$img"
	nbd_kill_start
	dev=$(add nbdkill nbd "$(nbd_uri nbdkill)" timeout=$timeout)
	# Data written before the kill.
	head -c 16M /dev/urandom >"$WORK/nbd-kill.pat"
	pre=$(sha <"$WORK/nbd-kill.pat")
	dd if="$WORK/nbd-kill.pat" of="$dev" bs=1M oflag=direct status=none

	# Killed during fio, back after 3 s: I/O waits, then goes on, and
	# fio's verify pass reads back every block it wrote, across the kill.
	# The rate keeps fio writing for about 8 s whatever the machine's
	# speed, so the kill lands in the middle of it.
	fio --name=kill --filename="$dev" --direct=1 --ioengine=libaio \
		--rw=randwrite --bs=4k --iodepth=16 --offset=32M --size=32M \
		--rate_iops=1000 \
		--verify=crc32c --verify_fatal=1 --do_verify=1 \
		--output="$WORK/nbd-kill.fio" &
	fio_pid=$!
	sleep 3
	kill -0 "$fio_pid" # fio is still writing
	kill -9 "${NBD_SERVERS[@]}"
	NBD_SERVERS=()
	echo "  nbdkit killed during fio"
	sleep 3
	nbd_kill_start
	echo "  nbdkit started again"
	kill -0 "$fio_pid" # still running after the restart
	wait "$fio_pid"
	grep -E "err= *0" "$WORK/nbd-kill.fio" >/dev/null
	grep -E "read: IOPS" "$WORK/nbd-kill.fio" >/dev/null # verified
	grep -E "IOPS|err=" "$WORK/nbd-kill.fio" | sed 's/^/  /'
	[[ $(dd if="$dev" bs=1M count=16 iflag=direct status=none | sha) == "$pre" ]]
	[[ $(head -c 16M "$img" | sha) == "$pre" ]]

	# Killed for good: I/O errors, but only after timeout=.
	kill -9 "${NBD_SERVERS[@]}"
	NBD_SERVERS=()
	t0=$(date +%s.%N)
	if dd if="$dev" of=/dev/null bs=4k count=1 skip=100 iflag=direct status=none; then
		echo "  a read succeeded with the server gone" >&2
		return 1
	fi
	el=$(awk -v a="$(date +%s.%N)" -v b="$t0" 'BEGIN { printf "%.1f", a - b }')
	echo "  read failed after $el s (timeout=$timeout)"
	awk -v e="$el" -v t="$timeout" 'BEGIN { exit !(e >= t - 1 && e < t + 10) }'

	# Back: the same device works again, nothing re-attached.
	nbd_kill_start
	wait_for 30 dd if="$dev" of=/dev/null bs=4k count=1 iflag=direct status=none
	[[ $(dd if="$dev" bs=1M count=16 iflag=direct status=none | sha) == "$pre" ]]
	echo "  recovered; data written before the kills intact"
	del nbdkill
}

nbd_scenarios() {
	run_scenario "nbd 1. nbdkit memory: errors at add, dd checksums" nbd_mem_data
	run_scenario "nbd 2. nbdkit memory: mkfs.ext4, copy, fsck, compare" nbd_mem_fs
	run_scenario "nbd 3a. nbdkit memory: fio verify, 1 queue" nbd_mem_fio 1
	run_scenario "nbd 3b. nbdkit memory: fio verify, 2 queues (multi-conn)" nbd_mem_fio 2
	run_scenario "nbd 4. qemu-nbd raw file: dd checksums against the file" nbd_qemu_data
	run_scenario "nbd 5. qemu-nbd raw file: mkfs.ext4, copy, fsck" nbd_qemu_fs
	run_scenario "nbd 6. qemu-nbd raw file: fio verify" nbd_qemu_fio
	run_scenario "nbd 7. nbdkit killed during fio, restarted; then gone; then back" nbd_kill_restart
}
