#!/bin/bash
# The vhost-path benchmark, inside the test guest (run by bench/vm/vhost.sh
# through tests/vm/run.sh): vdk and qemu-storage-daemon's vduse-blk export,
# both bound to vhost_vdpa, driven by the same libblkio client
# (blkio-check's bench mode, tests/vhost), interleaved, repeated, one JSON
# line per run.
#
# Contenders (one queue each, disks of the same size):
#   vdk-ram-vhost    vdk blk, ram backend (filled through its virtio disk
#                    first, then moved with `vdk bus NAME vhost`)
#   vdk-file-vhost   vdk blk, file backend, a file on tmpfs
#   qsd-file-vhost   qemu-storage-daemon vduse-blk export of the same file
#                    (file driver, cache.direct=off), `vdpa dev add`, then
#                    unbound from virtio_vdpa and bound to vhost_vdpa through
#                    driver_override
#
# Settings from the kernel command line, vdk.bench=KEY=VAL,KEY=VAL...:
#   quick=1 (1 rep, 2 s runs, 128 MiB), reps=N (3), runtime=S (6),
#   size=MiB (512), jobs=A+B..., contenders=A+B...
#
# Output in $VDK_RESULTS: raw.jsonl (one line per run, with blkio-check's
# JSON line), env.txt, daemon logs.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=../../tests/vm/lib-guest.sh
. "${VDK_LIB:-/vdk/lib-guest.sh}"

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
export PATH="$HERE/bin:$PATH"
W=/tmp/bench
R=${VDK_RESULTS:-/results}
mkdir -p "$W" "$R"

REPS=3 RUNTIME=6 SIZE=512
ALL_JOBS="rr4k-qd1 rr4k-qd32 rw4k-qd32 sr256k-qd32 sw256k-qd32"
ALL_CONTENDERS="vdk-ram-vhost vdk-file-vhost qsd-file-vhost"
JOBS=$ALL_JOBS CONTENDERS=$ALL_CONTENDERS
# shellcheck source-path=SCRIPTDIR source=lib-bench.sh
. "$HERE/lib-bench.sh"
SETTINGS=$(bench_cmdline bench)
[[ ,$SETTINGS, != *,quick=1,* ]] || REPS=1 RUNTIME=2 SIZE=128
bench_parse "$SETTINGS" quick: reps:REPS runtime:RUNTIME size:SIZE \
	jobs:JOBS contenders:CONTENDERS
bench_numbers "$REPS" "$RUNTIME" "$SIZE"

# blkio-check takes blocks of up to 256 KiB: the sequential jobs use
# 256 KiB at QD32, the bytes in flight of the main benchmark's 1M QD8.
bjob_args() {
	case $1 in
	rr4k-qd1) echo --bench randread --bs 4k --qd 1 ;;
	rr4k-qd32) echo --bench randread --bs 4k --qd 32 ;;
	rw4k-qd32) echo --bench randwrite --bs 4k --qd 32 ;;
	sr256k-qd32) echo --bench read --bs 256k --qd 32 ;;
	sw256k-qd32) echo --bench write --bs 256k --qd 32 ;;
	*) return 1 ;;
	esac
}

# vhost_node NAME: the /dev/vhost-vdpa-N of a vdpa device bound to vhost_vdpa.
vhost_node() {
	local e
	e=$(find "/sys/bus/vdpa/devices/$1/" -maxdepth 1 -name 'vhost-vdpa-*' -printf '%f\n' | head -n 1)
	[[ -n $e && -c /dev/$e ]] && echo "/dev/$e"
}

# to_vhost NAME: from virtio_vdpa to vhost_vdpa, as `vdk bus` does.
to_vhost() {
	local d=/sys/bus/vdpa/devices/$1
	if [[ -e $d/driver ]]; then echo "$1" >"$d/driver/unbind" || return; fi
	echo vhost_vdpa >"$d/driver_override" || return
	echo "$1" >/sys/bus/vdpa/drivers_probe || return
	wait_for 20 vhost_node "$1" >/dev/null || return
	vhost_node "$1"
}

setup_vdk-ram-vhost() {
	vdk_setup 1 "$1" ram size="${SIZE}M" || return
	prefill "${DEV[$1]}" || return
	DEV[$1]=$(vdk bus "$1" vhost)
}
setup_vdk-file-vhost() {
	vdk_setup 1 "$1" file path="$IMG" || return
	DEV[$1]=$(vdk bus "$1" vhost)
}
setup_qsd-file-vhost() {
	qsd_setup 1 "$1" "file,filename=$IMG,node-name=n0,cache.direct=off" || return
	DEV[$1]=$(to_vhost "$1")
}
teardown_vdk-ram-vhost() { vdk_teardown "$1"; }
teardown_vdk-file-vhost() { vdk_teardown "$1"; }
teardown_qsd-file-vhost() { qsd_teardown "$1"; }

ORDER=0
run_one() {
	local job=$1 c=$2 name=$3 rep=$4 rc=0 out cpu0 cpu1 t0 args
	args=$(bjob_args "$job")
	ORDER=$((ORDER + 1))
	cpu0=$(proc_cpu "${PID[$name]}")
	t0=$(cut -d' ' -f1 /proc/uptime)
	# shellcheck disable=SC2086 # args are words
	out=$(timeout -k 5 $((RUNTIME + 60)) blkio-check --path "${DEV[$name]}" \
		$args --queues 1 --seconds "$RUNTIME" 2>"$W/blkio.err") || rc=$?
	cpu1=$(proc_cpu "${PID[$name]}")
	[[ $out == '{'*'}' && $out == *'"errors":0}' ]] || { ((rc)) || rc=99; }
	{
		printf '{"job":"%s","contender":"%s","rep":%d,"order":%d,' \
			"$job" "$c" "$rep" "$ORDER"
		printf '"device":"%s","start_s":%s,"status":%d,"daemon_cpu_s":%s,"blkio":' \
			"${DEV[$name]}" "$t0" "$rc" \
			"$(awk -v a="$cpu0" -v b="$cpu1" 'BEGIN { printf "%.2f", b - a }')"
		if ((rc == 0)); then
			printf '%s' "$out"
		else
			printf 'null,"error":"%s"' \
				"$( (echo "$out"; tail -n 3 "$W/blkio.err") | tr -d '"\\\n\t' | cut -c1-300)"
		fi
		printf '}\n'
	} >>"$R/raw.jsonl"
	if ((rc == 0)); then
		log "rep $rep/$REPS $job $c: $out"
	else
		log "rep $rep/$REPS $job $c: FAILED (status $rc): $(tail -n 2 "$W/blkio.err" | tr '\n' ' ')"
	fi
}

env_info() {
	echo "kernel=$(uname -r)"
	echo "guest_cpu=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n 1)"
	echo "guest_cpus=$(nproc)"
	echo "guest_mem_mib=$(awk '/MemTotal/ { print int($2 / 1024) }' /proc/meminfo)"
	echo "vdk=$(vdk --version 2>&1 | head -n 1)"
	echo "qsd=$(qemu-storage-daemon --version | head -n 1)"
	dpkg-query -W -f='pkg_${Package}=${Version}\n' qemu-utils libblkio1 fio 2>/dev/null || true
	echo "client=blkio-check (tests/vhost/blkio-check.c), libblkio driver virtio-blk-vhost-vdpa, 1 queue"
	echo "reps=$REPS"
	echo "runtime_s=$RUNTIME"
	echo "size_mib=$SIZE"
	echo "jobs=$JOBS"
	echo "contenders=$CONTENDERS"
	echo "settings=$SETTINGS"
}

# ---- main ----

log "vhost benchmark: kernel $(uname -r), $(nproc) CPUs"
load_vduse_modules vhost
env_info >"$R/env.txt"
sed 's/^/  /' "$R/env.txt"
: >"$R/raw.jsonl"
dmesg_mark
for job in $JOBS; do
	bjob_args "$job" >/dev/null || { echo "bench: unknown job $job" >&2; exit 2; }
done

fio --name=fill --filename="$IMG" --rw=write --bs=1M --size="${SIZE}M" \
	--ioengine=psync --output="$W/fill.out" >/dev/null
log "backing file $IMG: $(du -m "$IMG" | cut -f1) MiB on tmpfs"

ACTIVE=()
for c in $CONTENDERS; do
	declare -F "setup_$c" >/dev/null || { echo "bench: unknown contender $c" >&2; exit 2; }
	name=v${c//[-_]/}
	if "setup_$c" "$name" && [[ ${DEV[$name]} == /dev/vhost-vdpa-* ]]; then
		ACTIVE+=("$c")
		log "  $c: ${DEV[$name]} (pid ${PID[$name]:-none})"
	else
		log "  $c: SETUP FAILED, left out"
	fi
done
n=${#ACTIVE[@]}
log "$((REPS * n * $(wc -w <<<"$JOBS"))) runs of $RUNTIME s"
for ((rep = 1; rep <= REPS; rep++)); do
	for job in $JOBS; do
		for ((i = 0; i < n; i++)); do
			c=${ACTIVE[(i + rep - 1) % n]}
			run_one "$job" "$c" "v${c//[-_]/}" "$rep"
		done
	done
done
for c in "${ACTIVE[@]}"; do
	"teardown_$c" "v${c//[-_]/}" || log "  $c: teardown failed"
done

log "$(wc -l <"$R/raw.jsonl") runs recorded; $(grep -c '"blkio":null' "$R/raw.jsonl" || true) failed"
check_dmesg
summary
