# Crash safety scenarios, sourced by guest-main.sh: the daemon is killed
# with SIGKILL at random moments under fio with verification and started
# again with `vdk recover`; a device whose daemon is gone for good is taken
# down with `vdk rescue`.
# shellcheck shell=bash

# Cycles of kill + recover; the kernel command line can ask for more
# (vdk.crash_cycles=100, as tests/vm/e2e/run.sh --crash-cycles does).
CRASH_CYCLES=$(sed -n 's/.*vdk\.crash_cycles=\([0-9]*\).*/\1/p' /proc/cmdline)
CRASH_CYCLES=${CRASH_CYCLES:-10}

rand_ms() { echo $((RANDOM % ($2 - $1) + $1)); }
sleep_ms() { sleep "$(printf '0.%03d' "$1")"; }

# kill_and_recover NAME: SIGKILL the daemon, start it again, print the
# milliseconds `vdk recover` took.
kill_and_recover() {
	local name=$1 pid t0 t1
	pid=$(cat "$WORK/$name.pid")
	kill -KILL "$pid"
	wait_for 10 bash -c "! kill -0 $pid 2>/dev/null"
	sleep_ms "$(rand_ms 0 500)"
	t0=$(date +%s%N)
	vdk recover -d -p "$WORK/$name.pid" --log "$WORK/$name.log" "$name" >/dev/null
	t1=$(date +%s%N)
	echo $(((t1 - t0) / 1000000))
}

crash_fio_verify() {
	local img=$WORK/crash.img dev fio_pid i ms total=0 max=0 out=$WORK/crash.fio
	truncate -s 128M "$img"
	dev=$(add crash -q 2 file path="$img")
	ring_check crash
	fio --name=crash --filename="$dev" --direct=1 --ioengine=libaio \
		--rw=randwrite --bs=4k --iodepth=16 --numjobs=2 \
		--size=16M --offset_increment=16M \
		--verify=crc32c --verify_backlog=128 --verify_fatal=1 \
		--time_based --runtime=3600 --group_reporting \
		--output="$out" >/dev/null 2>&1 &
	fio_pid=$!
	sleep 3
	for i in $(seq 1 "$CRASH_CYCLES"); do
		sleep_ms "$(rand_ms 200 999)"
		kill -0 "$fio_pid" 2>/dev/null || { echo "fio stopped early" >&2; cat "$out" >&2; return 1; }
		ms=$(kill_and_recover crash)
		total=$((total + ms))
		((ms > max)) && max=$ms
	done
	sleep 2
	# Taken over as it was made: the same rings after every recover.
	ring_check crash
	fio_stop_verify "$fio_pid" "$out"
	grep -E "IOPS" "$out" | sed 's/^/  /'
	echo "  $CRASH_CYCLES kills, recover took avg $((total / CRASH_CYCLES)) ms, max $max ms"
	echo "crash_cycles=$CRASH_CYCLES recover_avg_ms=$((total / CRASH_CYCLES)) recover_max_ms=$max fio_errors=0" \
		>>"$VDK_RESULTS/crash-numbers.txt"
	del crash
}

# Data made durable (fsync → FLUSH) before a kill reads back after recovery.
crash_flush_durable() {
	local img=$WORK/dur.img dev i
	truncate -s 64M "$img"
	dev=$(add dur file path="$img")
	for i in $(seq 1 5); do
		head -c 1M /dev/urandom >"$WORK/dur.$i"
		dd if="$WORK/dur.$i" of="$dev" bs=1M seek="$i" oflag=direct conv=fsync status=none
		sync "$dev"
		kill_and_recover dur >/dev/null
	done
	for i in $(seq 1 5); do
		[[ $(dd if="$dev" bs=1M skip="$i" count=1 iflag=direct status=none | sha) == \
		   $(sha <"$WORK/dur.$i") ]]
	done
	del dur
}

# The daemon is gone for good: rescue ends the waiting I/O and removes the
# device within seconds; the name can be used again.
crash_rescue() {
	local img=$WORK/res.img dev pid fio_pid t0
	truncate -s 64M "$img"
	dev=$(add res file path="$img")
	pid=$(cat "$WORK/res.pid")
	fio --name=hang --filename="$dev" --direct=1 --ioengine=libaio \
		--rw=randrw --bs=4k --iodepth=8 --time_based --runtime=600 \
		--output="$WORK/res.fio" >/dev/null 2>&1 &
	fio_pid=$!
	sleep 2
	kill -KILL "$pid"
	sleep 2
	t0=$SECONDS
	vdk rescue res
	wait_for 30 bash -c "! kill -0 $fio_pid 2>/dev/null"
	wait "$fio_pid" || true
	echo "  rescue and fio's end took $((SECONDS - t0)) s"
	[[ ! -e /dev/vduse/res && ! -e /sys/bus/vdpa/devices/res ]]
	echo "rescue_s=$((SECONDS - t0))" >>"$VDK_RESULTS/crash-numbers.txt"
	dev=$(add res file path="$img")
	dd if="$dev" of=/dev/null bs=1M count=1 iflag=direct status=none
	del res
}

crash_scenarios() {
	run_scenario "11a. SIGKILL + recover x$CRASH_CYCLES under fio verify: 0 errors" crash_fio_verify
	run_scenario "11b. data flushed before each SIGKILL reads back" crash_flush_durable
	run_scenario "11c. rescue: waiting I/O ends, device removed, name reusable" crash_rescue
	run_scenario "11d. nothing left behind" no_leftovers
}
