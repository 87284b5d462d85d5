#!/bin/bash
# Where the time goes, inside the test guest (run by bench/vm/profile.sh in
# an image with linux-perf): event counts per I/O for each contender,
# qemu-storage-daemon's variants, vdk's polling time, and perf profiles.
#
# Kernel command line vdk.prof=KEY=VAL,...:
#   parts=A+B...   which parts, in this order (counts+qsd+perf):
#                    counts  kicks, interrupts, context switches and CPU per
#                            I/O for every contender, jobs rr4k-qd1,
#                            rr4k-qd32, sr1m-qd8
#                    qsd     qemu-storage-daemon variants: aio=threads
#                            (default), aio=io_uring, an iothread with
#                            adaptive polling; file and null-co
#                    poll    vdk-ram with VDK_POLL_US=each of polls
#                    variants  vdk-ram and vdk-file served by each vdk
#                            binary in variants/ and by bin/vdk ("base")
#                    perf    perf record -a -g of vdk-ram, vdk-file,
#                            qsd-file and null_blk, at QD1, QD32 and 1M
#                            reads: reports by process and symbol
#                    nbd     vdk-nbd polling (200 µs) and not (0) beside
#                            the kernel's nbd client, each on an nbdkit
#                            memory export, 1 queue and 2: the counts,
#                            then perf profiles
#                    perf1m  vdk-file and qsd-file-iou, one at a time,
#                            1 MiB reads and writes at QD8: the counts
#                            (CPU per MiB), then perf profiles
#                    nbdq    vdk-nbd beside qsd-nbd on one nbdkit export,
#                            1 queue: the system calls per I/O of each
#                            serving process and of nbdkit (syscalls.csv),
#                            perf profiles at QD32, then the counts
#   reps=N         repetitions, interleaved (2)
#   runtime=S ramp=S size=MiB   as in guest-main.sh (8, 2, 256)
#   polls=A+B...   polling times in µs for "poll" (0+20+200+2000)
#   vjobs=A+B...   jobs of "variants" (all but the 2-queue one)
#
# Output in $VDK_RESULTS: counts.csv (one line per run), perf-*.txt.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=../../tests/vm/lib-guest.sh
. "${VDK_LIB:-/vdk/lib-guest.sh}"

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
export PATH="$HERE/bin:$PATH"
W=/tmp/bench
R=${VDK_RESULTS:-/results}
mkdir -p "$W" "$R"

PARTS="counts qsd perf" REPS=2 RUNTIME=8 RAMP=2 SIZE=256 SEED=20240611
POLLS="0 20 200 2000"
VARIANT_JOBS="rr4k-qd1 rr4k-qd32 rw4k-qd32 sr1m-qd8 sw1m-qd8"
# shellcheck source-path=SCRIPTDIR source=lib-bench.sh
. "$HERE/lib-bench.sh"
SETTINGS=$(bench_cmdline prof)
bench_parse "$SETTINGS" parts:PARTS reps:REPS runtime:RUNTIME ramp:RAMP \
	size:SIZE polls:POLLS vjobs:VARIANT_JOBS

command -v perf >/dev/null || { echo "profile: no perf in this guest (VDK_VM_EXTRA_PKGS=linux-perf)" >&2; exit 2; }
echo -1 >/proc/sys/kernel/perf_event_paranoid
echo 0 >/proc/sys/kernel/kptr_restrict

# ---- counters ----
#
# kprobes on the VDUSE paths: a kick from the driver (virtio_vdpa's
# notify), an interrupt injected by the daemon (the work item run for
# VDUSE_VQ_INJECT_IRQ), the driver's interrupt handler.
T=/sys/kernel/tracing
EVENTS=context-switches,cpu-migrations
probe() {
	local name=$1 fn=$2
	if grep -qw "$fn" /proc/kallsyms &&
		echo "p:vdkp/$name $fn" >>"$T/kprobe_events" 2>/dev/null; then
		EVENTS+=",vdkp:$name"
	else
		log "no kprobe on $fn"
	fi
}
# After the modules are loaded: their symbols are in kallsyms from then on.
setup_probes() {
	probe kick vduse_vdpa_kick_vq
	probe inject vduse_vq_irq_inject
	probe vring_int vring_interrupt
	# Interprocessor interrupts: cross-CPU wakeups, remote completions.
	for e in irq_vectors:reschedule_entry irq_vectors:call_function_single_entry; do
		[[ -d $T/events/${e/://} ]] && EVENTS+=",$e"
	done
	log "counting: $EVENTS"
}

# Context switches of all threads of a process.
proc_cs() {
	[[ -n $1 && -d /proc/$1 ]] || { echo 0; return; }
	cat /proc/"$1"/task/*/status 2>/dev/null |
		awk '/^(non)?voluntary_ctxt_switches/ { n += $2 } END { print n + 0 }'
}

# perf stat's CSV line for an event: its count.
stat_of() { awk -F, -v e="$2" '$3 == e { print $1 + 0; exit }' "$1"; }

CSV=$R/counts.csv
echo "part,variant,contender,job,rep,iops,mib_s,clat_p50_us,clat_p99_us,kicks_per_io,irqs_per_io,vring_int_per_io,cs_per_io,daemon_cs_per_io,resched_ipi_per_io,csd_ipi_per_io,daemon_cpu_us_per_io,guest_cpu_us_per_io" >"$CSV"

# count PART VARIANT CONTENDER NAME JOB REP: one fio run under perf stat.
count() {
	local part=$1 variant=$2 c=$3 name=$4 job=$5 rep=$6 args out=$W/c.json
	local st=$W/stat.csv cpu0 cpu1 b0 b1 cs0 cs1 pid=${PID[$4]}
	args=$(job_args "$job")
	cpu0=$(proc_cpu "$pid") b0=$(guest_busy) cs0=$(proc_cs "$pid")
	# shellcheck disable=SC2086 # args are words
	perf stat -a -x, -o "$st" -e "$EVENTS" -- \
		fio --name="$job" --filename="${DEV[$name]}" --direct=1 \
		--ioengine=libaio --thread --time_based --runtime="$RUNTIME" \
		--ramp_time="$RAMP" --randseed="$SEED" --norandommap \
		--group_reporting --output-format=json --output="$out" \
		$args >/dev/null 2>"$W/fio.err" || { log "fio failed: $(tail -n 2 "$W/fio.err")"; return 0; }
	cpu1=$(proc_cpu "$pid") b1=$(guest_busy) cs1=$(proc_cs "$pid")
	# fio counts I/Os after the ramp; the counters run over the whole
	# run: per I/O means per (IOPS x (ramp + runtime)).
	awk -F, -v part="$part" -v variant="$variant" -v c="$c" -v job="$job" \
		-v rep="$rep" -v win=$((RAMP + RUNTIME)) \
		-v kick="$(stat_of "$st" vdkp:kick)" \
		-v inj="$(stat_of "$st" vdkp:inject)" \
		-v vri="$(stat_of "$st" vdkp:vring_int)" \
		-v cs="$(stat_of "$st" context-switches)" \
		-v rs="$(stat_of "$st" irq_vectors:reschedule_entry)" \
		-v csd="$(stat_of "$st" irq_vectors:call_function_single_entry)" \
		-v dcs=$((cs1 - cs0)) -v dcpu="$cpu0 $cpu1" -v busy="$b0 $b1" \
		-v fio="$(fio_numbers "$out")" 'BEGIN {
		split(fio, f, " "); iops = f[1]; n = iops * win
		split(dcpu, d, " "); split(busy, b, " ")
		if (n <= 0) n = 1
		printf "%s,%s,%s,%s,%d,%.0f,%.1f,%s,%s,%.3f,%.3f,%.3f,%.2f,%.2f,%.3f,%.3f,%.1f,%.1f\n",
			part, variant, c, job, rep, iops, f[2], f[3], f[4],
			kick / n, inj / n, vri / n, cs / n, dcs / n, rs / n, csd / n,
			(d[2] - d[1]) / n * 1e6, (b[2] - b[1]) / n * 1e6 }' >>"$CSV"
	log "$part $variant $c $job rep $rep: $(tail -n 1 "$CSV" | cut -d, -f6-)"
}

# IOPS, MiB/s, clat p50 and p99 (µs) of a fio JSON report.
fio_numbers() {
	awk '/"(read|write)" : \{/ { d = $1; seen[d] = 0 }
	     $1 == "\"iops\"" && !seen[d]++ { iops += $3 }
	     $1 == "\"bw_bytes\"" && !bw[d]++ { bytes += $3 }
	     $1 == "\"50.000000\"" && !p50 { p50 = $3 + 0 }
	     $1 == "\"99.000000\"" && !p99 { p99 = $3 + 0 }
	     END { printf "%.0f %.1f %.0f %.0f", iops, bytes / 1048576,
		   p50 / 1000, p99 / 1000 }' "$1"
}

# with_disks "C1 C2 ..." FUNCTION: set the contenders up (1 queue), fill
# them, call FUNCTION, tear them down.
with_disks() {
	local cs=$1 fn=$2 c
	for c in $cs; do
		"setup_$c" 1 "p${c//[-_]/}" || { log "$c: setup failed"; return 1; }
		if stores_data "$c"; then prefill "${DEV[p${c//[-_]/}]}"; fi
	done
	"$fn"
	for c in $cs; do "teardown_$c" "p${c//[-_]/}"; done
}

# ---- parts ----

COUNT_CONTENDERS="vdk-ram vdk-file qsd-file qsd-null nbd null_blk"
COUNT_JOBS="rr4k-qd1 rr4k-qd32 sr1m-qd8"
part_counts_body() {
	local rep job c
	for ((rep = 1; rep <= REPS; rep++)); do
		for job in $COUNT_JOBS; do
			for c in $COUNT_CONTENDERS; do
				count counts default "$c" "p${c//[-_]/}" "$job" "$rep"
			done
		done
	done
}
part_counts() { with_disks "$COUNT_CONTENDERS" part_counts_body; }

# qemu-storage-daemon variants, one at a time (the name is reused).
QSD_VARIANTS="threads io_uring iothread io_uring+iothread"
qsd_variant() {
	QSD_OPTS='' QSD_EXPORT_OPTS='' QSD_ARGS=''
	case $1 in
	io_uring) QSD_OPTS=,aio=io_uring ;;
	iothread) QSD_ARGS="--object iothread,id=io0" QSD_EXPORT_OPTS=,iothread=io0 ;;
	io_uring+iothread)
		QSD_OPTS=,aio=io_uring
		QSD_ARGS="--object iothread,id=io0"
		QSD_EXPORT_OPTS=,iothread=io0
		;;
	esac
}
part_qsd() {
	local rep v c job
	for ((rep = 1; rep <= REPS; rep++)); do
		for v in $QSD_VARIANTS; do
			for c in qsd-file qsd-null; do
				[[ $c == qsd-null && $v == *io_uring* ]] && continue
				qsd_variant "$v"
				"setup_$c" 1 pq || { log "qsd $v $c: setup failed"; continue; }
				for job in rr4k-qd1 rr4k-qd32; do
					count qsd "$v" "$c" pq "$job" "$rep"
				done
				"teardown_$c" pq
			done
		done
	done
	qsd_variant threads
}

part_poll() {
	local rep p job
	for ((rep = 1; rep <= REPS; rep++)); do
		for p in $POLLS; do
			VDK_POLL_US=$p setup_vdk-ram 1 pv || { log "poll $p: setup failed"; continue; }
			prefill "${DEV[pv]}"
			for job in rr4k-qd1 rr4k-qd32; do
				count poll "poll_us=$p" vdk-ram pv "$job" "$rep"
			done
			teardown_vdk-ram pv
		done
	done
}

# Other vdk binaries (profile.sh --variant NAME=PATH puts them in
# variants/NAME/vdk), side by side with bin/vdk, as "base".
part_variants() {
	local rep v c job bin
	for ((rep = 1; rep <= REPS; rep++)); do
		for v in base $(ls "$HERE/variants" 2>/dev/null); do
			bin=$HERE/variants/$v/vdk
			[[ $v == base ]] && bin=$HERE/bin/vdk
			for c in vdk-ram vdk-file; do
				VDK_BIN=$bin "setup_$c" 1 pv || { log "$v $c: setup failed"; continue; }
				if stores_data "$c"; then prefill "${DEV[pv]}"; fi
				for job in $VARIANT_JOBS; do
					count variants "$v" "$c" pv "$job" "$rep"
				done
				"teardown_$c" pv
			done
		done
	done
}

# profile NAME CONTENDER-NAME JOB: perf record -a -g over the middle of a
# run; reports by process and by symbol.
profile() {
	local tag=$1 name=$2 job=$3 args data=$W/perf.data secs=$((RUNTIME - 2))
	args=$(job_args "$job")
	# shellcheck disable=SC2086 # args are words
	fio --name="$job" --filename="${DEV[$name]}" --direct=1 --ioengine=libaio --thread \
		--time_based --runtime="$RUNTIME" --ramp_time="$RAMP" \
		--randseed="$SEED" --norandommap --group_reporting \
		--output-format=json --output="$W/p.json" $args >/dev/null 2>&1 &
	local fpid=$!
	sleep "$((RAMP + 1))"
	perf record -q -a -g -F 499 -o "$data" -- sleep "$secs" >/dev/null 2>&1 || true
	wait "$fpid" || true
	# head closes its pipe early: no pipefail here.
	set +o pipefail
	{
		echo "# $tag: $job on ${DEV[$name]}: $(fio_numbers "$W/p.json") (IOPS MiB/s p50 p99)"
		echo "# perf record -a -g -F 499, ${secs} s in the middle of the run"
		echo
		echo "## by process (self time)"
		perf report -i "$data" --stdio --no-children -g none --sort comm \
			--percent-limit 1 2>/dev/null | grep -v '^#' | grep -v '^$' | head -n 30
		echo
		echo "## by process and symbol (self time)"
		perf report -i "$data" --stdio --no-children -g none \
			--sort comm,dso,sym --percent-limit 0.5 2>/dev/null |
			grep -v '^#' | grep -v '^$' | head -n 80
		echo
		echo "## call chains of the daemon's threads (caller graph, >2 %)"
		perf report -i "$data" --stdio --no-children --comms "$(comms_of "$name")" \
			--percentage relative -g caller,2,callee --sort comm,sym \
			--percent-limit 2 2>/dev/null | grep -v '^#' | grep -v '^$' |
			head -n 200
	} >"$R/perf-$tag.txt"
	set -o pipefail
	log "perf $tag: $(head -n 1 "$R/perf-$tag.txt")"
}

# The thread names of a disk's serving process, for perf report --comms.
comms_of() {
	local pid=${PID[$1]}
	[[ -n $pid ]] || { echo "swapper"; return; }
	cat /proc/"$pid"/task/*/comm 2>/dev/null | sort -u | paste -sd, -
}

PERF_CONTENDERS="vdk-ram vdk-file qsd-file null_blk"
part_perf() {
	local c
	for c in $PERF_CONTENDERS; do
		setup_"$c" 1 "p${c//[-_]/}1" || return
		if stores_data "$c"; then prefill "${DEV[p${c//[-_]/}1]}"; fi
	done
	profile vdk-ram-qd1 pvdkram1 rr4k-qd1
	profile vdk-ram-qd32 pvdkram1 rr4k-qd32
	profile vdk-file-qd32 pvdkfile1 rr4k-qd32
	profile vdk-file-1m-read pvdkfile1 sr1m-qd8
	profile qsd-file-qd1 pqsdfile1 rr4k-qd1
	profile qsd-file-qd32 pqsdfile1 rr4k-qd32
	profile null_blk-qd32 pnullblk1 rr4k-qd32
	for c in $PERF_CONTENDERS; do teardown_"$c" "p${c//[-_]/}1"; done
}

# vdk-nbd with and without polling for the driver (VDK_POLL_US=200, the
# default ceiling, and 0: none) beside the kernel's client, on one queue
# and on two (2 fio jobs); then profiles.
part_nbd() {
	local rep job p q n
	for q in 1 2; do
		setup_nbd "$q" "pnbd$q" || { log "nbd $q: setup failed"; return 1; }
		for p in 200 0; do
			VDK_POLL_US=$p setup_vdk-nbd "$q" "pvdknbd$q-$p" || { log "vdk-nbd $q poll $p: setup failed"; return 1; }
		done
	done
	for n in pnbd1 pvdknbd1-200 pvdknbd1-0 pnbd2 pvdknbd2-200 pvdknbd2-0; do
		prefill "${DEV[$n]}"
	done
	for ((rep = 1; rep <= REPS; rep++)); do
		for job in $COUNT_JOBS rr4k-qd32-2q; do
			q=1
			[[ $job == *-2q ]] && q=2
			count nbd default nbd "pnbd$q" "$job" "$rep"
			for p in 200 0; do
				count nbd "poll_us=$p" vdk-nbd "pvdknbd$q-$p" "$job" "$rep"
			done
		done
	done
	profile vdk-nbd-poll200-qd1 pvdknbd1-200 rr4k-qd1
	profile vdk-nbd-poll0-qd1 pvdknbd1-0 rr4k-qd1
	profile nbd-qd1 pnbd1 rr4k-qd1
	profile vdk-nbd-poll200-2q pvdknbd2-200 rr4k-qd32-2q
	profile vdk-nbd-poll0-2q pvdknbd2-0 rr4k-qd32-2q
	profile vdk-nbd-poll0-1m-read pvdknbd1-0 sr1m-qd8
	for q in 1 2; do
		teardown_nbd "pnbd$q"
		for p in 200 0; do teardown_vdk-nbd "pvdknbd$q-$p"; done
	done
}

# syscalls TAG NAME JOB: the system calls of NAME's serving process and
# of the nbdkit behind it, by kind, per I/O, over the middle of a run,
# into syscalls.csv.  Kprobes on the calls' entry points: the syscalls
# tracepoints crash this kernel under TCG once enabled under load.
SYSCALLS="read write readv writev sendto sendmsg recvfrom recvmsg poll ppoll epoll_wait io_uring_enter futex ioctl"
SYS_EVENTS=''
setup_sys_probes() {
	local s
	[[ -n $SYS_EVENTS ]] && return
	for s in $SYSCALLS; do
		if grep -qw "__x64_sys_$s" /proc/kallsyms &&
			echo "p:vdks/$s __x64_sys_$s" >>"$T/kprobe_events" 2>/dev/null; then
			SYS_EVENTS+="${SYS_EVENTS:+,}vdks:$s"
		fi
	done
	log "system calls counted: $SYS_EVENTS"
}
syscalls() {
	local tag=$1 name=$2 job=$3 args secs=$((RUNTIME - 2)) who kpid
	kpid=$(pid_of "$W/nbdexp1.pid")
	setup_sys_probes
	args=$(job_args "$job")
	# shellcheck disable=SC2086 # args are words
	fio --name="$job" --filename="${DEV[$name]}" --direct=1 --ioengine=libaio --thread \
		--time_based --runtime="$RUNTIME" --ramp_time="$RAMP" \
		--randseed="$SEED" --norandommap --group_reporting \
		--output-format=json --output="$W/s.json" $args >/dev/null 2>&1 &
	local fpid=$!
	sleep "$((RAMP + 1))"
	perf stat -x, -o "$W/sys-daemon.csv" -e "$SYS_EVENTS" -p "${PID[$name]}" -- sleep "$secs" 2>/dev/null &
	local p1=$!
	perf stat -x, -o "$W/sys-nbdkit.csv" -e "$SYS_EVENTS" -p "$kpid" -- sleep "$secs" 2>/dev/null || true
	wait "$p1" || true
	wait "$fpid" || true
	for who in daemon nbdkit; do
		awk -F, -v tag="$tag" -v job="$job" -v who="$who" -v secs="$secs" \
			-v fio="$(fio_numbers "$W/s.json")" 'BEGIN { split(fio, f, " "); n = f[1] * secs; if (n <= 0) n = 1 }
			$3 ~ /^vdks:/ { e = $3; sub(/^vdks:/, "", e); all += $1
				printf "%s,%s,%s,%s,%.0f,%.3f\n", tag, job, who, e, f[1], $1 / n }
			END { printf "%s,%s,%s,all,%.0f,%.3f\n", tag, job, who, f[1], all / n }' \
			"$W/sys-$who.csv" >>"$R/syscalls.csv"
	done
	log "syscalls $tag $job: $(awk -F, -v t="$tag" -v j="$job" '$1 == t && $2 == j && $6 >= 0.01 { printf "%s/%s=%s ", $3, $4, $6 }' "$R/syscalls.csv")"
}

NBDQ_CONTENDERS="vdk-nbd qsd-nbd"
part_nbdq() {
	local rep job c
	echo "tag,job,process,syscall,iops,per_io" >"$R/syscalls.csv"
	for c in $NBDQ_CONTENDERS; do
		"setup_$c" 1 "q${c//[-_]/}1" || { log "$c: setup failed"; return 1; }
		prefill "${DEV[q${c//[-_]/}1]}"
	done
	for job in rr4k-qd32 rr4k-qd1 sr1m-qd8; do
		for c in $NBDQ_CONTENDERS; do
			syscalls "$c" "q${c//[-_]/}1" "$job"
		done
	done
	for c in $NBDQ_CONTENDERS; do
		profile "$c-qd32" "q${c//[-_]/}1" rr4k-qd32
	done
	for ((rep = 1; rep <= REPS; rep++)); do
		for job in $COUNT_JOBS; do
			for c in $NBDQ_CONTENDERS; do
				count nbdq default "$c" "q${c//[-_]/}1" "$job" "$rep"
			done
		done
	done
	for c in $NBDQ_CONTENDERS; do teardown_"$c" "q${c//[-_]/}1"; done
}

# 1 MiB requests on the same file: vdk-file beside the best QSD for them
# (aio=io_uring with an iothread), one serving at a time: the counts
# (CPU per request, that is per MiB), then perf profiles of reads and
# writes.
PERF1M_CONTENDERS="vdk-file qsd-file-iou"
part_perf1m() {
	local c n rep job
	for c in $PERF1M_CONTENDERS; do
		n="m${c//[-_]/}1"
		setup_"$c" 1 "$n" || { log "$c: setup failed"; return 1; }
		for ((rep = 1; rep <= REPS; rep++)); do
			for job in sr1m-qd8 sw1m-qd8; do
				count perf1m default "$c" "$n" "$job" "$rep"
			done
		done
		profile "$c-1m-read" "$n" sr1m-qd8
		profile "$c-1m-write" "$n" sw1m-qd8
		teardown_"$c" "$n"
	done
}

# ---- main ----

log "profile: kernel $(uname -r), $(nproc) CPUs; parts: $PARTS; $REPS rep(s) of ${RUNTIME} s"
load_vduse_modules
modprobe nbd nbds_max=4
modprobe null_blk nr_devices=0
setup_probes
{
	echo "kernel=$(uname -r)"
	echo "vdk=$(vdk --version 2>&1 | head -n 1)"
	echo "qsd=$(qemu-storage-daemon --version | head -n 1)"
	echo "perf=$(perf --version)"
	echo "settings=$SETTINGS"
} >"$R/env.txt"
fio --name=fill --filename="$IMG" --rw=write --bs=1M --size="${SIZE}M" \
	--ioengine=psync --output="$W/fill.out" >/dev/null
b0=$(guest_busy)
sleep 5
log "idle guest: $(awk -v a="$b0" -v b="$(guest_busy)" 'BEGIN { printf "%.2f", (b - a) / 5 }') CPUs busy over 5 s"
dmesg_mark
for p in $PARTS; do
	declare -F "part_$p" >/dev/null || { log "unknown part $p"; continue; }
	run_scenario "part $p" "part_$p"
done
echo >"$T/kprobe_events" 2>/dev/null || true
check_dmesg
summary
