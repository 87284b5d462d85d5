#!/bin/bash
# What the benchmark's ceiling measures, inside the test guest (run by
# bench/vm/ceiling.sh): null_blk and two contenders at 4k QD1 and QD32,
# under each of the conditions that differ between the benchmark's
# harness and a plain fio run a user would type:
#
#   plain       fio as a user runs it (processes, not --thread), the disk
#               under test the only one set up
#   none        plain, with the disk's I/O scheduler set to none
#   thread      the same with fio's --thread
#   crowd       plain, while every other contender of the benchmark is set
#               up and idle (vdk-ram, vdk-file, qsd-file, qsd-null,
#               vdk-nbd, nbd)
#   crowd-thread  both, as the benchmark did before this script
#   modparam    (null_blk only) plain, on the nullb0 that `modprobe
#               null_blk` makes by itself, instead of one made in configfs
#   pq0, pq0-none  (null_blk only) plain, on a configfs null_blk with no
#               poll queue (poll_queues=0, as the benchmark set it up
#               before this script): with its I/O scheduler as blk-mq
#               chose it, then set to none
#
# Kernel command line vdk.ceiling=KEY=VAL,...: reps=N (3), runtime=S (8),
# ramp=S (2), size=MiB (512), disks=A+B (null_blk+vdk-file+qsd-file).
#
# Output in $VDK_RESULTS: ceiling.csv, one line per run:
# case,disk,job,rep,iops,slat_us,clat_us,lat_us,scheduler
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=../../tests/vm/lib-guest.sh
. "${VDK_LIB:-/vdk/lib-guest.sh}"

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
export PATH="$HERE/bin:$PATH"
W=/tmp/bench
R=${VDK_RESULTS:-/results}
mkdir -p "$W" "$R"

REPS=3 RUNTIME=8 RAMP=2 SIZE=512 SEED=20240611
DISKS="null_blk vdk-file qsd-file"
# shellcheck source-path=SCRIPTDIR source=lib-bench.sh
. "$HERE/lib-bench.sh"
bench_parse "$(bench_cmdline ceiling)" reps:REPS runtime:RUNTIME ramp:RAMP \
	size:SIZE disks:DISKS
bench_numbers "$REPS" "$RUNTIME" "$RAMP" "$SIZE"
CROWD="vdk-ram vdk-file qsd-file qsd-null vdk-nbd nbd"

# fio_lat FILE: "iops,slat_us,clat_us,lat_us" of the read side.
fio_lat() {
	python3 - "$1" <<'PY'
import json, sys
text = open(sys.argv[1]).read()
r = json.loads(text[text.index("{"):])["jobs"][0]["read"]
print("%.0f,%.1f,%.1f,%.1f" % (r["iops"], r["slat_ns"]["mean"] / 1e3,
      r["clat_ns"]["mean"] / 1e3, r["lat_ns"]["mean"] / 1e3))
PY
}

# scheduler DEV: the disk's I/O scheduler, the one in brackets.
scheduler() {
	sed -n 's/.*\[\(.*\)\].*/\1/p' "/sys/block/${1##*/}/queue/scheduler"
}

ORDER=0
# measure CASE DISK DEV REP THREAD
measure() {
	local case=$1 disk=$2 dev=$3 rep=$4 thread=$5 job qd out=$W/c.json
	for job in rr4k-qd1 rr4k-qd32; do
		qd=${job#rr4k-qd}
		ORDER=$((ORDER + 1))
		# shellcheck disable=SC2046 # the option is a word or nothing
		fio --name="$job" --filename="$dev" --direct=1 --ioengine=libaio \
			--rw=randread --bs=4k --iodepth="$qd" $( ((thread)) && echo --thread) \
			--time_based --runtime="$RUNTIME" --ramp_time="$RAMP" \
			--randseed=$((SEED + ORDER)) --norandommap \
			--output-format=json --output="$out" >"$W/fio.err" 2>&1 ||
			{ log "$case $disk $job: fio failed: $(tail -n 2 "$W/fio.err")"; continue; }
		echo "$case,$disk,$job,$rep,$(fio_lat "$out"),$(scheduler "$dev")" >>"$R/ceiling.csv"
		log "rep $rep $case $disk $job: $(tail -n 1 "$R/ceiling.csv" | cut -d, -f5-)"
	done
}

# up DISK: set the disk up as the benchmark does (one queue), its name in
# NAME; down DISK tears it down.
up() {
	NAME=c${1//[-_]/}1
	"setup_$1" 1 "$NAME" || { log "setup of $1 failed"; return 1; }
	if stores_data "$1"; then prefill "${DEV[$NAME]}"; fi
}
down() { "teardown_$1" "c${1//[-_]/}1"; }

log "ceiling: kernel $(uname -r), $(nproc) CPUs, $REPS reps of ${RUNTIME} s"
load_vduse_modules
modprobe nbd nbds_max=4
echo "case,disk,job,rep,iops,slat_us,clat_us,lat_us,scheduler" >"$R/ceiling.csv"
fio --name=fill --filename="$IMG" --rw=write --bs=1M --size="${SIZE}M" \
	--ioengine=psync --output="$W/fill.out" >/dev/null

for ((rep = 1; rep <= REPS; rep++)); do
	modprobe null_blk nr_devices=0
	# Alone: the disk under test, and nothing else of the benchmark.
	for d in $DISKS; do
		up "$d" || continue
		measure plain "$d" "${DEV[$NAME]}" "$rep" 0
		measure thread "$d" "${DEV[$NAME]}" "$rep" 1
		echo none >"/sys/block/${DEV[$NAME]##*/}/queue/scheduler"
		measure none "$d" "${DEV[$NAME]}" "$rep" 0
		down "$d"
	done
	if [[ " $DISKS " == *" null_blk "* ]]; then
		modprobe -r null_blk
		modprobe null_blk
		wait_for 10 test -b /dev/nullb0
		measure modparam null_blk /dev/nullb0 "$rep" 0
		log "nullb0: $(cat /sys/block/nullb0/queue/nr_requests) requests, $(find /sys/block/nullb0/mq -mindepth 1 -maxdepth 1 | wc -l) hardware queues"
		modprobe -r null_blk
		modprobe null_blk nr_devices=0
		d=/sys/kernel/config/nullb/pq0
		mkdir "$d" && echo "$SIZE" >"$d/size" && echo 1 >"$d/submit_queues" &&
			echo 0 >"$d/poll_queues" && echo 1 >"$d/power"
		wait_for 10 test -b /dev/pq0
		measure pq0 null_blk /dev/pq0 "$rep" 0
		echo none >/sys/block/pq0/queue/scheduler
		measure pq0-none null_blk /dev/pq0 "$rep" 0
		echo 0 >"$d/power"
		rmdir "$d"
	fi
	# In a crowd: every contender of the benchmark set up at once.
	declare -A CDEV=()
	for d in $DISKS $CROWD; do
		[[ -z ${CDEV[$d]:-} ]] || continue
		up "$d" || continue
		CDEV[$d]=${DEV[$NAME]}
	done
	log "crowd: ${!CDEV[*]}"
	for d in $DISKS; do
		[[ -n ${CDEV[$d]:-} ]] || continue
		measure crowd "$d" "${CDEV[$d]}" "$rep" 0
		measure crowd-thread "$d" "${CDEV[$d]}" "$rep" 1
	done
	for d in "${!CDEV[@]}"; do down "$d" || log "teardown of $d failed"; done
	unset CDEV
	modprobe -r null_blk
done
log "$(($(wc -l <"$R/ceiling.csv") - 1)) runs recorded"
