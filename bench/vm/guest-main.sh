#!/bin/bash
# The benchmark, inside the test guest (run by bench/vm/run.sh through
# tests/vm/run.sh): the same fio jobs against vdk blk and the other ways to
# serve a disk from memory, interleaved, repeated, one JSON line per run.
#
# Contenders (each a disk of the same size):
#   vdk-ram    vdk blk, ram backend
#   vdk-file   vdk blk, file backend, a file on tmpfs (page cache, no O_DIRECT)
#   qsd-file   qemu-storage-daemon vduse-blk export of the same file
#              (file driver, cache.direct=off, default aio)
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
ALL_JOBS="rr4k-qd1 rr4k-qd32 rw4k-qd32 sr1m-qd8 sw1m-qd8 rr4k-qd32-2q"
ALL_CONTENDERS="vdk-ram vdk-file qsd-file qsd-null vdk-nbd nbd null_blk"
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
	local cpu0 cpu1 busy0 busy1 t0 args osd0 osd1 cache e0 e1
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
	# shellcheck disable=SC2086 # args are words
	timeout -k 5 $((RAMP + RUNTIME + 90)) \
		fio --name="$job" "${FIO_TARGET[@]}" \
		--thread --time_based --runtime="$RUNTIME" \
		--ramp_time="$RAMP" --randseed=$((SEED + ORDER)) --norandommap \
		--group_reporting --output-format=json --output="$out" \
		$args >"$W/fio.err" 2>&1 || rc=$?
	e1=$(date +%s.%N)
	cpu1=$(proc_cpu "${PID[$name]}")
	osd1=$(proc_cpu "$OSD_PID")
	busy1=$(guest_busy)
	cache=$(disk_cache "${DEV[$name]}")
	{
		printf '{"job":"%s","contender":"%s","rep":%d,"order":%d,"queues":%d,' \
			"$job" "$c" "$rep" "$ORDER" "$q"
		printf '"device":"%s","start_s":%s,"fio_status":%d,' \
			"${DEV[$name]}" "$t0" "$rc"
		# Wall clock (the guest's is the host's, from the RTC at boot):
		# run.sh's sampler of the host's CPU lines up with it.
		printf '"start_epoch":%.2f,"end_epoch":%.2f,' "$e0" "$e1"
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

# ---- phases ----

# One phase: set up CONTENDERS with QUEUES queues, fill them, run JOBS
# rep by rep, each job against every contender in turn (the starting
# contender rotates from rep to rep), tear down.
ACTIVE=()
phase() {
	local q=$1 jobs=$2 contenders=$3 c name rep job i n
	ACTIVE=()
	log "phase: $q queue(s), jobs: $jobs; contenders: $contenders"
	for c in $contenders; do
		name=b${c//[-_]/}$q
		if "setup_$c" "$q" "$name"; then
			ACTIVE+=("$c")
			log "  $c: ${DEV[$name]} (pid ${PID[$name]:-none}), $(hw_queues "${DEV[$name]}") hw queue(s)"
		else
			log "  $c: SETUP FAILED, left out"
		fi
	done
	for c in "${ACTIVE[@]}"; do
		name=b${c//[-_]/}$q
		if stores_data "$c"; then
			t0=$SECONDS
			prefill "${DEV[$name]}" || log "  $c: prefill failed"
			log "  $c: filled in $((SECONDS - t0)) s"
		fi
	done
	n=${#ACTIVE[@]}
	for ((rep = 1; rep <= REPS; rep++)); do
		for job in $jobs; do
			for ((i = 0; i < n; i++)); do
				c=${ACTIVE[(i + rep - 1) % n]}
				run_one "$job" "$c" "b${c//[-_]/}$q" "$rep"
			done
		done
	done
	for c in "${ACTIVE[@]}"; do
		name=b${c//[-_]/}$q
		[[ -z ${PID[$name]:-} ]] ||
			thread_cpu "${PID[$name]}" >"$R/threads-$c-${q}q.txt"
		"teardown_$c" "$name" || log "  $c: teardown failed"
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
	echo "ioengine=libaio (nbd for fio-nbd)"
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
C2=$CONTENDERS
has "$CONTENDERS" vdk-ram && C2="vdk-ram vdk-ram-1q ${CONTENDERS/vdk-ram/}"
nc1=$(wc -w <<<"$CONTENDERS") nc2=$(wc -w <<<"$C2")
runs=$((REPS * ($(wc -w <<<"$JOBS1") * nc1 + $(wc -w <<<"$JOBS2") * nc2)))
log "$runs runs of $((RAMP + RUNTIME)) s: about $((runs * (RAMP + RUNTIME + 2) / 60 + 2)) minutes"

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
[[ -n ${JOBS2// /} ]] && phase 2 "$JOBS2" "$C2"
((RBD)) && rbd_bench_down

log "$(wc -l <"$R/raw.jsonl") runs recorded; $(grep -c '"fio":null' "$R/raw.jsonl" || true) failed"
free -m | sed 's/^/  /'
check_dmesg
summary
