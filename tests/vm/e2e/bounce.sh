# The bounce buffer in the daemon's memory (vdk add --bounce,
# --bounce-size), sourced by guest-main.sh.  What the kernel and the
# process say is checked from outside: the server's pinned memory
# (VmPin: VDUSE_IOTLB_REG_UMEM pins the bounce size), the buffers its
# io_uring rings registered (UserBufs in their fdinfo), the bounce size
# in sysfs, and the log.  The data goes through a loop device over a
# file in /tmp with O_DIRECT, so that 4 KiB requests are single vectors
# sent through the ring (a file on tmpfs would be served inline).
# shellcheck shell=bash

# server_pid NAME: the process serving NAME (the confined server).
server_pid() {
	vdk list -j "$1" | grep -o '"server_pid": *[0-9]*' | grep -o '[0-9]*$'
}

# pinned_kb PID
pinned_kb() { awk '/^VmPin:/ {print $2}' /proc/"$1"/status; }

# uring_bufs PID: buffers registered, over all of PID's io_uring files.
uring_bufs() {
	local n=0 f v
	for f in /proc/"$1"/fdinfo/*; do
		v=$(awk '/^UserBufs:/ {print $2}' "$f" 2>/dev/null || true)
		n=$((n + ${v:-0}))
	done
	echo "$n"
}

# bounce_loop NAME: a 256 MiB loop device over /tmp, printed.
bounce_loop() {
	truncate -s 256M "$WORK/$1.img"
	losetup -f --show "$WORK/$1.img"
}

# bounce_fio DEV BS DEPTH: random writes, verified, 48 MiB.
bounce_fio() {
	fio --name=bounce --filename="$1" --direct=1 --ioengine=libaio \
		--rw=randwrite --bs="$2" --iodepth="$3" --size=48M \
		--verify=crc32c --verify_fatal=1 --do_verify=1 \
		--output="$WORK/bounce.fio"
	grep -E "err= *0" "$WORK/bounce.fio" >/dev/null
	grep -E "IOPS" "$WORK/bounce.fio" | sed 's/^/  /'
}

bounce_umem() {
	local loop dev pid kb bufs
	loop=$(bounce_loop bu)
	dev=$(add bu -v -q 2 file path="$loop" direct=on)
	bounce_fio "$dev" 4k 16
	pid=$(server_pid bu)
	kb=$(pinned_kb "$pid")
	bufs=$(uring_bufs "$pid")
	echo "  server $pid: VmPin ${kb} kB, io_uring buffers $bufs," \
		"bounce_size $(cat /sys/class/vduse/bu/bounce_size)"
	grep -E "bounce buffer" "$WORK/bu.log" | sed 's/^/  log: /'
	grep -q "bounce buffer in 64 MiB of our memory" "$WORK/bu.log"
	((kb >= 65536))
	# Each queue that served a request registered it.
	((bufs >= 1))
	del bu
	losetup -d "$loop"
}

bounce_kernel() {
	local loop dev pid kb bufs
	loop=$(bounce_loop bk)
	dev=$(add bk -v --bounce kernel file path="$loop" direct=on)
	bounce_fio "$dev" 4k 16
	pid=$(server_pid bk)
	kb=$(pinned_kb "$pid")
	bufs=$(uring_bufs "$pid")
	echo "  server $pid: VmPin ${kb} kB, io_uring buffers $bufs"
	((kb == 0 && bufs == 0))
	! grep -q "bounce buffer" "$WORK/bk.log"
	grep -q '"bounce":"kernel"' /run/vdk/bk.json
	del bk
	losetup -d "$loop"
}

# A bounce buffer of 8 MiB under 1 MiB writes 32 deep: the driver waits
# for room, nothing fails.
bounce_size() {
	local loop dev pid kb
	loop=$(bounce_loop bs)
	dev=$(add bs -v --bounce-size 8M file path="$loop" direct=on)
	[[ $(cat /sys/class/vduse/bs/bounce_size) == 8388608 ]]
	bounce_fio "$dev" 1M 32
	pid=$(server_pid bs)
	kb=$(pinned_kb "$pid")
	echo "  server $pid: VmPin ${kb} kB"
	grep -q "bounce buffer in 8 MiB of our memory" "$WORK/bs.log"
	((kb >= 8192 && kb < 65536))
	del bs
	losetup -d "$loop"
}

# Refused: a locked-memory limit of 1 MiB the daemon may not lift (no
# CAP_SYS_RESOURCE).  The log says why; the kernel's memory serves.
bounce_refused() {
	local loop dev pid
	loop=$(bounce_loop br)
	dev=$(prlimit --memlock=1048576:1048576 \
		setpriv --bounding-set=-sys_resource \
		"$HERE/bin/vdk" add -d -p "$WORK/br.pid" --log "$WORK/br.log" \
		-v br file path="$loop" direct=on)
	bounce_fio "$dev" 4k 16
	pid=$(server_pid br)
	grep -E "bounce buffer" "$WORK/br.log" | sed 's/^/  log: /'
	grep -q "bounce buffer stays in the kernel's memory.*RLIMIT_MEMLOCK" \
		"$WORK/br.log"
	(($(pinned_kb "$pid") == 0))
	del br
	losetup -d "$loop"
}

bounce_scenarios() {
	modprobe loop
	run_scenario "10a. bounce buffer in the daemon's memory: pinned, registered, fio verify" bounce_umem
	run_scenario "10b. --bounce kernel: nothing pinned, fio verify" bounce_kernel
	run_scenario "10c. --bounce-size 8M: sysfs, pinned 8 MiB, 1 MiB writes 32 deep verify" bounce_size
	run_scenario "10d. memlock limit too low: said in the log, kernel's memory serves" bounce_refused
}
