#!/bin/bash
# The benchmark, inside the test guest (run by bench/vm/run.sh through
# tests/vm/run.sh): the same fio jobs against vdk blk and the other ways to
# serve a disk from memory, interleaved, repeated, one JSON line per run.
#
# Contenders (each a disk of the same size):
#   vdk-ram    vdk blk, ram backend
#   vdk-file   vdk blk, file backend, a file on tmpfs (page cache, no O_DIRECT)
#   qsd-file   qemu-storage-daemon vduse-blk export of the same file
#              (file driver, cache.direct=off, default aio=threads)
#   qsd-file-uring  the same with aio=io_uring
#   qsd-file-iou    the same with aio=io_uring and an iothread (with its
#              default adaptive polling): the set-up QEMU's documentation
#              offers for speed; the targets take the best of the three
#   qsd-null   qemu-storage-daemon vduse-blk export of a null-co node
#   vdk-nbd    vdk blk, nbd backend on an nbdkit memory export (unix
#              socket): the same kind of server as nbd, vdk in place of the
#              kernel
#   qsd-nbd    (named only) qemu-storage-daemon's vduse-blk export over its
#              nbd block driver, on the very export vdk-nbd uses: the
#              user-space peer of vdk-nbd
#   vdk-nbd-base  (named only) vdk-nbd served by bin/vdk-base (run.sh
#              --base): the commit before, in the same boot
#   nbd        nbdkit memory plugin, kernel nbd client over a unix socket
#   fio-nbd    (named only) fio's nbd engine straight on an nbdkit memory
#              export: a user-space NBD client with no block device
#   null_blk   the kernel's null_blk (no memory, softirq completion): the
#              ceiling of the guest's block layer
# plus, for the 2-queue job only, vdk-ram-1q: vdk ram with one queue.
# Named only: vdk-file-base (bin/vdk-base, run.sh --base);
# vdk-file-kbounce (vdk-file with --bounce kernel); on a loop device
# over the same file, with O_DIRECT: vdk-loop, vdk-loop-kbounce and
# qsd-loop-iou.
#
# One contender is set up at a time: set up, filled, every job run, torn
# down, then the next (the first contender rotates from rep to rep).  An
# idle contender beside the one measured changed its figures
# (bench/results/2026-12-07-trixie-ceiling).  fio runs as a user runs it,
# one process per job, without --thread.
#
# The busy jobs (rr4k-qd1-busy, rr4k-qd32-busy) are the 4k jobs again
# while stress-ng keeps one guest CPU busy, for vdk-file and the
# qemu-storage-daemon file contenders; stress-ng's rate beside each is
# recorded (and alone, once, in env.txt): what the serving left to it.
# Named only: vdk-file-root and vdk-ram-root, the same served as root in
# one process (--no-confine), for the cost of the confinement.
# Named only (not in the default set), on a Ceph image (lib-bench-rbd.sh):
#   vdk-rbd    vdk blk, rbd backend, on an image of a single-node cluster
#   qsd-rbd    qemu-storage-daemon vduse-blk export of an rbd blockdev on
#              the same image
#
# Settings come from the kernel command line, vdk.bench=KEY=VAL,KEY=VAL...:
#   quick=1            1 rep, 3 s runs, 1 s ramp, 128 MiB disks
#   reps=N             repetitions of every (job, contender) (3)
#   runtime=S ramp=S   fio's runtime and ramp_time (8, 2)
#   size=MiB           disk size (512)
#   jobs=A+B...        a subset of the jobs below
#   contenders=A+B...  a subset of the contenders above
#   seed=N             fio's randseed is N plus the run's number (20240611):
#                      no run reads or writes the very blocks the run
#                      before it did, whose data a server (an OSD) may
#                      still hold in its cache
#
# Output in $VDK_RESULTS: raw.jsonl (one line per run: job, contender, rep,
# order, daemon and guest CPU seconds, and fio's whole JSON report),
# env.txt (versions and settings), daemon logs.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=../../tests/vm/lib-guest.sh
. "${VDK_LIB:-/vdk/lib-guest.sh}"

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
export PATH="$HERE/bin:$PATH"
W=/tmp/bench
R=${VDK_RESULTS:-/results}
mkdir -p "$W" "$R"

# ---- settings ----

REPS=3 RUNTIME=8 RAMP=2 SIZE=512 SEED=20240611
ALL_JOBS="rr4k-qd1 rr4k-qd32 rw4k-qd32 sr1m-qd8 sw1m-qd8 rr4k-qd1-busy rr4k-qd32-busy rr4k-qd32-2q"
ALL_CONTENDERS="vdk-ram vdk-file qsd-file qsd-file-uring qsd-file-iou qsd-null vdk-nbd nbd null_blk"
# The contenders of the busy jobs and of the 2-queue job (with vdk-ram-1q).
BUSY_CONTENDERS="vdk-file vdk-file-base vdk-file-nopoll qsd-file qsd-file-uring qsd-file-iou"
TWOQ_CONTENDERS="vdk-ram vdk-file qsd-file qsd-file-uring qsd-file-iou null_blk"
JOBS=$ALL_JOBS CONTENDERS=$ALL_CONTENDERS
# shellcheck source-path=SCRIPTDIR source=lib-bench.sh
. "$HERE/lib-bench.sh"
SETTINGS=$(bench_cmdline bench)
[[ ,$SETTINGS, != *,quick=1,* ]] || REPS=1 RUNTIME=3 RAMP=1 SIZE=128
bench_parse "$SETTINGS" quick: reps:REPS runtime:RUNTIME ramp:RAMP size:SIZE \
	seed:SEED jobs:JOBS contenders:CONTENDERS
bench_numbers "$REPS" "$RUNTIME" "$RAMP" "$SIZE" "$SEED"

has() { [[ " $1 " == *" $2 "* ]]; }

RBD=0 OSD_PID=''
if [[ " $CONTENDERS " == *-rbd\ * ]]; then
	RBD=1
	# shellcheck source-path=SCRIPTDIR source=lib-bench-rbd.sh
	. "$HERE/lib-bench-rbd.sh"
fi

ORDER=0
# run_one JOB CONTENDER NAME REP: records the disk's hardware queues too.
run_one() {
	local job=$1 c=$2 name=$3 rep=$4 q out=$W/fio.json rc=0
	local cpu0 cpu1 busy0 busy1 t0 args osd0 osd1 cache sched busy e0 e1
	args=$(job_args "$job")
	q=$(hw_queues "${DEV[$name]}")
	ORDER=$((ORDER + 1))
	cpu0=$(proc_cpu "${PID[$name]}")
	osd0=$(proc_cpu "$OSD_PID")
	busy0=$(guest_busy)
	t0=$(cut -d' ' -f1 /proc/uptime)
	e0=$(date +%s.%N)
	rm -f "$out"
	fio_target "${DEV[$name]}"
	[[ $job != *-busy ]] || busy_start
	# shellcheck disable=SC2086 # args are words
	timeout -k 5 $((RAMP + RUNTIME + 90)) \
		fio --name="$job" "${FIO_TARGET[@]}" \
		--time_based --runtime="$RUNTIME" \
		--ramp_time="$RAMP" --randseed=$((SEED + ORDER)) --norandommap \
		--group_reporting --output-format=json --output="$out" \
		$args >"$W/fio.err" 2>&1 || rc=$?
	busy=''
	if [[ $job == *-busy ]]; then
		busy_stop
		busy=$BUSY_RATE
	fi
	e1=$(date +%s.%N)
	cpu1=$(proc_cpu "${PID[$name]}")
	osd1=$(proc_cpu "$OSD_PID")
	busy1=$(guest_busy)
	cache=$(disk_cache "${DEV[$name]}")
	sched=$(disk_scheduler "${DEV[$name]}")
	{
		printf '{"job":"%s","contender":"%s","rep":%d,"order":%d,"queues":%d,' \
			"$job" "$c" "$rep" "$ORDER" "$q"
		printf '"device":"%s","scheduler":"%s","start_s":%s,"fio_status":%d,' \
			"${DEV[$name]}" "$sched" "$t0" "$rc"
		# Wall clock (the guest's is the host's, from the RTC at boot):
		# run.sh's sampler of the host's CPU lines up with it.
		printf '"start_epoch":%.2f,"end_epoch":%.2f,' "$e0" "$e1"
		[[ -z $busy ]] || printf '"busy_ops_s":%s,' "$busy"
		[[ -z $OSD_PID ]] || printf '"osd_cpu_s":%s,' \
			"$(awk -v a="$osd0" -v b="$osd1" 'BEGIN { printf "%.2f", b - a }')"
		printf '"daemon_cpu_s":%s,"guest_busy_s":%s,"fio":' \
			"$(awk -v a="$cpu0" -v b="$cpu1" 'BEGIN { printf "%.2f", b - a }')" \
			"$(awk -v a="$busy0" -v b="$busy1" 'BEGIN { printf "%.2f", b - a }')"
		if ((rc == 0)) && [[ -s $out ]] && grep -q '"jobs"' "$out"; then
			# fio may print notes before its JSON: keep from the first "{".
			sed -n '/^{/,$p' "$out" | tr -d '\n\t'
		else
			printf 'null,"error":"%s"' \
				"$(tail -n 3 "$W/fio.err" | tr -d '"\\\n\t' | cut -c1-300)"
		fi
		printf '}\n'
	} >>"$R/raw.jsonl"
	if ((rc == 0)) && [[ -s $out ]]; then
		log "rep $rep/$REPS $job $c: $(fio_summary "$out"), daemon $(awk -v a="$cpu0" -v b="$cpu1" 'BEGIN { printf "%.1f", b - a }') s CPU${cache:+; $cache}"
	else
		log "rep $rep/$REPS $job $c: FAILED (fio status $rc): $(tail -n 2 "$W/fio.err" | tr '\n' ' ')"
		! declare -F run_failed >/dev/null || run_failed 2>&1 | sed 's/^/    /'
	fi
}

# ---- the busy machine ----

# busy_start: stress-ng keeps one CPU busy, for longer than fio runs;
# busy_stop: stops it and sets BUSY_RATE to its rate (bogo ops per
# second of wall time), "" if it failed.  Not in a subshell: stress-ng
# is this shell's child, to be waited for.
BUSY_PID='' BUSY_RATE=''
busy_start() {
	rm -f "$W/busy.yaml"
	stress-ng --cpu 1 --cpu-method int64 --timeout $((RAMP + RUNTIME + 120)) \
		--metrics-brief --yaml "$W/busy.yaml" >"$W/busy.log" 2>&1 &
	BUSY_PID=$!
}
busy_stop() {
	BUSY_RATE=''
	[[ -n $BUSY_PID ]] || return 0
	kill -INT "$BUSY_PID" 2>/dev/null || true
	wait "$BUSY_PID" 2>/dev/null || true
	BUSY_PID=''
	BUSY_RATE=$(sed -n 's/^ *bogo-ops-per-second-real-time: *\([0-9.]*\).*/\1/p' \
		"$W/busy.yaml" 2>/dev/null | head -n 1)
}

# ---- phases ----

# wants JOB CONTENDER: whether CONTENDER runs JOB.
wants() {
	case $1 in
	*-busy) has "$BUSY_CONTENDERS" "$2" ;;
	*) true ;;
	esac
}

# One phase: REPS times, each of CONTENDERS in turn (the first rotates
# from rep to rep) set up with QUEUES queues and alone, filled, run
# through every job it wants, torn down.
phase() {
	local q=$1 jobs=$2 c name rep job i n t0
	local -a list
	read -r -a list <<<"$3"
	n=${#list[@]}
	log "phase: $q queue(s), jobs: $jobs; contenders: ${list[*]}"
	for ((rep = 1; rep <= REPS; rep++)); do
		for ((i = 0; i < n; i++)); do
			c=${list[(i + rep - 1) % n]}
			name=b${c//[-_]/}$q
			if ! "setup_$c" "$q" "$name"; then
				log "rep $rep $c: SETUP FAILED, left out"
				"teardown_$c" "$name" >/dev/null 2>&1 || true
				continue
			fi
			t0=$SECONDS
			if stores_data "$c"; then
				prefill "${DEV[$name]}" || log "  $c: prefill failed"
			fi
			log "rep $rep $c: ${DEV[$name]} (pid ${PID[$name]:-none}), $(hw_queues "${DEV[$name]}") hw queue(s), filled in $((SECONDS - t0)) s$(r=$(vdk_ring "$name"); [[ -z $r ]] || echo ", ring $r")"
			for job in $jobs; do
				wants "$job" "$c" || continue
				run_one "$job" "$c" "$name" "$rep"
			done
			[[ -z ${PID[$name]:-} ]] ||
				thread_cpu "${PID[$name]}" >"$R/threads-$c-${q}q.txt"
			"teardown_$c" "$name" || log "  $c: teardown failed"
		done
	done
	[[ -z $OSD_PID ]] || thread_cpu "$OSD_PID" >"$R/threads-osd-${q}q.txt"
}

env_info() {
	echo "kernel=$(uname -r)"
	echo "guest_cpu=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n 1)"
	echo "guest_cpus=$(nproc)"
	echo "guest_mem_mib=$(awk '/MemTotal/ { print int($2 / 1024) }' /proc/meminfo)"
	echo "vdk=$(vdk --version 2>&1 | head -n 1)"
	echo "qsd=$(qemu-storage-daemon --version | head -n 1)"
	echo "fio=$(fio --version)"
	echo "nbdkit=$(nbdkit --version | head -n 1)"
	echo "nbd_client=$(nbd-client -V 2>&1 | head -n 1)"
	dpkg-query -W -f='pkg_${Package}=${Version}\n' qemu-utils fio nbdkit nbd-client 2>/dev/null
	echo "reps=$REPS"
	echo "runtime_s=$RUNTIME"
	echo "ramp_s=$RAMP"
	echo "size_mib=$SIZE"
	echo "seed=$SEED"
	echo "seed_per_run=1"
	echo "jobs=$JOBS"
	echo "contenders=$CONTENDERS"
	echo "ioengine=libaio (nbd for fio-nbd), one fio process per job"
	echo "one_contender_at_a_time=1"
	echo "settings=$SETTINGS"
}

# ---- main ----

log "benchmark: kernel $(uname -r), $(nproc) CPUs, $(awk '/MemTotal/ { print int($2 / 1024) }' /proc/meminfo) MiB"
load_vduse_modules
modprobe nbd nbds_max=4
modprobe null_blk nr_devices=0
env_info >"$R/env.txt"
sed 's/^/  /' "$R/env.txt"
: >"$R/raw.jsonl"
dmesg_mark

JOBS1='' JOBS2=''
for job in $JOBS; do
	job_args "$job" >/dev/null || { echo "bench: unknown job $job" >&2; exit 2; }
	if [[ $job == *-2q ]]; then JOBS2+=" $job"; else JOBS1+=" $job"; fi
done
for c in $CONTENDERS; do
	declare -F "setup_$c" >/dev/null || { echo "bench: unknown contender $c" >&2; exit 2; }
done
C2=''
for c in $CONTENDERS; do
	has "$TWOQ_CONTENDERS" "$c" || continue
	C2+=" $c"
	[[ $c != vdk-ram ]] || C2+=" vdk-ram-1q"
done
runs=0
for c in $CONTENDERS; do
	for job in $JOBS1; do ! wants "$job" "$c" || runs=$((runs + REPS)); done
done
runs=$((runs + REPS * $(wc -w <<<"$JOBS2") * $(wc -w <<<"$C2")))
log "$runs runs of $((RAMP + RUNTIME)) s: about $((runs * (RAMP + RUNTIME + 3) / 60 + 2)) minutes"
if [[ $JOBS == *-busy* ]]; then
	busy_start
	sleep $((RAMP + RUNTIME))
	busy_stop
	echo "busy_alone_ops_s=$BUSY_RATE" >>"$R/env.txt"
	log "stress-ng alone: $(tail -n 1 "$R/env.txt")"
fi

# The file shared by vdk-file and qsd-file (never served by both at once),
# filled on tmpfs with fio's default (non-zero) buffers.
fio --name=fill --filename="$IMG" --rw=write --bs=1M --size="${SIZE}M" \
	--ioengine=psync --output="$W/fill.out" >/dev/null
log "backing file $IMG: $(du -m "$IMG" | cut -f1) MiB on tmpfs"

if ((RBD)); then
	t0=$SECONDS
	rbd_bench_up || { log "the Ceph cluster did not come up"; rbd_bench_down; exit 1; }
	echo "ceph=$(ceph --version | head -n 1)" >>"$R/env.txt"
	log "Ceph cluster up, image rbd/$RBD_BENCH_IMAGE written, in $((SECONDS - t0)) s (OSD pid $OSD_PID)"
fi
[[ -n ${JOBS1// /} ]] && phase 1 "$JOBS1" "$CONTENDERS"
[[ -n ${JOBS2// /} && -n ${C2// /} ]] && phase 2 "$JOBS2" "$C2"
((RBD)) && rbd_bench_down

log "$(wc -l <"$R/raw.jsonl") runs recorded; $(grep -c '"fio":null' "$R/raw.jsonl" || true) failed"
free -m | sed 's/^/  /'
check_dmesg
summary
