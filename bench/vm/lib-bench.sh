# Disks to benchmark, settings and helpers, shared by bench/vm/guest-main.sh,
# vhost-guest.sh and profile-guest.sh (sourced in the guest, not run).
# shellcheck shell=bash
#
# The caller sets W (work directory on tmpfs), R (results directory) and
# SIZE (MiB), and has sourced /vdk/lib-guest.sh.  QSD_OPTS (appended to
# the file and null-co blockdev options, e.g. ",aio=io_uring"),
# QSD_EXPORT_OPTS (appended to the export, e.g. ",iothread=io0") and
# QSD_ARGS (more arguments, e.g. "--object iothread,id=io0") change the
# qemu-storage-daemon contenders; VDK_ADD_OPTS adds options to `vdk add`,
# VDK_BIN names another vdk binary to serve the vdk contenders.

# ---- settings ----
#
# The guest scripts take their settings from the kernel command line as
# vdk.PREFIX=KEY=VAL,KEY=VAL... (bench/vm/run.sh and friends put them
# there).

# bench_cmdline PREFIX: the settings string, empty if none.
bench_cmdline() { sed -n "s/.*vdk\.$1=\([^ ]*\).*/\1/p" /proc/cmdline; }

# bench_parse SETTINGS KEY:VAR...: each KEY=VAL of SETTINGS into the
# variable VAR, a list's "+" turned into spaces; a KEY: with no VAR is
# accepted and left to the caller; other keys are reported and ignored.
bench_parse() {
	local settings=$1 kv map val
	shift
	for kv in ${settings//,/ }; do
		val=${kv#*=}
		for map in "$@"; do
			[[ ${map%%:*} == "${kv%%=*}" ]] || continue
			[[ -z ${map#*:} ]] || printf -v "${map#*:}" '%s' "${val//+/ }"
			continue 2
		done
		echo "bench: unknown setting '$kv' ignored" >&2
	done
}

# bench_numbers VALUE...: exit 2 unless every VALUE is a whole number.
bench_numbers() {
	local n
	for n in "$@"; do
		[[ $n =~ ^[0-9]+$ ]] || { echo "bench: not a number: $n" >&2; exit 2; }
	done
}

# ---- contenders ----
#
# setup_C QUEUES NAME sets DEV[NAME] (the disk) and PID[NAME] (the serving
# process, if any); teardown_C NAME undoes it.

declare -A DEV PID
IMG=$W/disk.img

pid_of() { cat "$1" 2>/dev/null; }

wait_gone() { wait_for "$1" bash -c "! kill -0 $2 2>/dev/null"; }

vdk_setup() {
	local q=$1 name=$2
	shift 2
	# shellcheck disable=SC2086 # options are words
	DEV[$name]=$("${VDK_BIN:-vdk}" add -d -q "$q" -p "$W/$name.pid" --log "$R/$name.log" \
		${VDK_ADD_OPTS:-} "$name" "$@") || return
	# The process that serves: confined, the supervisor's child (its
	# own CPU is a poll a second); else the daemon itself.
	PID[$name]=$("${VDK_BIN:-vdk}" list -j "$name" |
		sed -n 's/.*"server_pid": *\([0-9]*\).*/\1/p')
	[[ -n ${PID[$name]} ]] || PID[$name]=$(pid_of "$W/$name.pid")
}

# The ring a vdk device's driver took: "packed", "split", with
# ", in-order" when it took VIRTIO_F_IN_ORDER; "" for other devices.
vdk_ring() {
	local j ring df
	j=$(vdk list -j "$1" 2>/dev/null) || return 0
	ring=$(sed -n 's/.*"ring": *"\([a-z]*\)".*/\1/p' <<<"$j")
	df=$(sed -n 's/.*"driver_features": *"\(0x[0-9a-f]*\)".*/\1/p' <<<"$j")
	[[ -n $ring ]] || return 0
	if [[ -n $df ]] && (((df >> 35) & 1)); then ring+=", in-order"; fi
	echo "$ring"
}

vdk_teardown() {
	"${VDK_BIN:-vdk}" del "$1" || return
	wait_for 20 bash -c "! test -e /dev/vduse/$1"
}

setup_vdk-ram() { vdk_setup "$1" "$2" ram size="${SIZE}M"; }
setup_vdk-ram-1q() { vdk_setup 1 "$2" ram size="${SIZE}M"; }
setup_vdk-file() { vdk_setup "$1" "$2" file path="$IMG"; }
# vdk-file with no polling at all (VDK_POLL_US=0): what polling costs
# or gains, on a quiet machine and on a busy one.
setup_vdk-file-nopoll() { VDK_POLL_US=0 vdk_setup "$1" "$2" file path="$IMG"; }
teardown_vdk-file-nopoll() { vdk_teardown "$1"; }
# vdk-file on each ring format the driver may take: split rings forced,
# and packed rings (the default) with VIRTIO_F_IN_ORDER offered (taken
# by drivers that have it: Linux 7.x, not 6.12).
setup_vdk-file-split() {
	VDK_ADD_OPTS="${VDK_ADD_OPTS:-} --ring split" vdk_setup "$1" "$2" file path="$IMG"
}
teardown_vdk-file-split() { vdk_teardown "$1"; }
setup_vdk-file-inorder() {
	VDK_ADD_OPTS="${VDK_ADD_OPTS:-} --in-order" vdk_setup "$1" "$2" file path="$IMG"
}
teardown_vdk-file-inorder() { vdk_teardown "$1"; }
# vdk-file with VDUSE's bounce buffer left in the kernel's memory
# (--bounce kernel), beside the default: the daemon's own memory,
# registered with VDUSE and with io_uring.
setup_vdk-file-kbounce() {
	VDK_ADD_OPTS="${VDK_ADD_OPTS:-} --bounce kernel" vdk_setup "$1" "$2" file path="$IMG"
}
teardown_vdk-file-kbounce() { vdk_teardown "$1"; }
# A block device read and written with O_DIRECT, as a disk is served in
# production: a loop device over the backing file (made at first use).
# vdk: direct=on, with the bounce buffer in its memory (the default:
# single-vector transfers go as io_uring fixed-buffer ones, no page
# pinning per request) or in the kernel's.  QSD: cache.direct=on,
# aio=io_uring and an iothread, its fastest set-up.
loop_ensure() {
	[[ -n ${LOOP:-} ]] || { modprobe loop && LOOP=$(losetup -f --show "$IMG"); }
}
setup_vdk-loop() { loop_ensure && vdk_setup "$1" "$2" file path="$LOOP" direct=on; }
teardown_vdk-loop() { vdk_teardown "$1"; }
setup_vdk-loop-kbounce() {
	loop_ensure &&
		VDK_ADD_OPTS="${VDK_ADD_OPTS:-} --bounce kernel" vdk_setup "$1" "$2" file path="$LOOP" direct=on
}
teardown_vdk-loop-kbounce() { vdk_teardown "$1"; }
setup_qsd-loop-iou() {
	loop_ensure &&
		QSD_OPTS="${QSD_OPTS:-},aio=io_uring" QSD_ARGS="${QSD_ARGS:-} --object iothread,id=io0" \
			QSD_EXPORT_OPTS="${QSD_EXPORT_OPTS:-},iothread=io0" \
			qsd_setup "$1" "$2" "host_device,filename=$LOOP,node-name=n0,cache.direct=on"
}
teardown_qsd-loop-iou() { qsd_teardown "$1"; }
# The same served by bin/vdk-base (run.sh --base: the commit before).
setup_vdk-file-base() { VDK_BIN=vdk-base vdk_setup "$1" "$2" file path="$IMG"; }
teardown_vdk-file-base() { VDK_BIN=vdk-base vdk_teardown "$1"; }
# The same, served as root in one process (--no-confine): what the
# confinement costs.
setup_vdk-file-root() {
	VDK_ADD_OPTS="${VDK_ADD_OPTS:-} --no-confine" vdk_setup "$1" "$2" file path="$IMG"
}
setup_vdk-ram-root() {
	VDK_ADD_OPTS="${VDK_ADD_OPTS:-} --no-confine" vdk_setup "$1" "$2" ram size="${SIZE}M"
}
teardown_vdk-file-root() { vdk_teardown "$1"; }
teardown_vdk-ram-root() { vdk_teardown "$1"; }
teardown_vdk-ram() { vdk_teardown "$1"; }
teardown_vdk-ram-1q() { vdk_teardown "$1"; }
teardown_vdk-file() { vdk_teardown "$1"; }

qsd_setup() {
	local q=$1 name=$2 blockdev=$3
	# shellcheck disable=SC2086 # arguments are words
	qemu-storage-daemon ${QSD_ARGS:-} --blockdev "$blockdev${QSD_OPTS:-}" \
		--export "vduse-blk,id=e0,node-name=n0,name=$name,writable=on,num-queues=$q${QSD_EXPORT_OPTS:-}" \
		--pidfile "$W/$name.pid" >"$R/$name.log" 2>&1 &
	PID[$name]=$!
	wait_for 20 test -c "/dev/vduse/$name" || return
	vdpa dev add name "$name" mgmtdev vduse || return
	DEV[$name]=$(wait_vdpa_disk "$name" 30)
}

qsd_teardown() {
	vdpa dev del "$1" || return
	wait_for 20 bash -c "! test -e /sys/bus/vdpa/devices/$1" || return
	kill -TERM "${PID[$1]}" || return
	wait_gone 20 "${PID[$1]}"
}

setup_qsd-file() {
	qsd_setup "$1" "$2" "file,filename=$IMG,node-name=n0,cache.direct=off"
}
setup_qsd-null() {
	qsd_setup "$1" "$2" "null-co,node-name=n0,size=$((SIZE << 20))"
}
# The set-ups QEMU offers for speed: io_uring, and io_uring with an
# iothread (which polls adaptively, poll-max-ns's default).
setup_qsd-file-uring() {
	QSD_OPTS="${QSD_OPTS:-},aio=io_uring" setup_qsd-file "$@"
}
setup_qsd-file-iou() {
	QSD_OPTS="${QSD_OPTS:-},aio=io_uring" QSD_ARGS="${QSD_ARGS:-} --object iothread,id=io0" \
		QSD_EXPORT_OPTS="${QSD_EXPORT_OPTS:-},iothread=io0" setup_qsd-file "$@"
}
teardown_qsd-file() { qsd_teardown "$1"; }
teardown_qsd-file-uring() { qsd_teardown "$1"; }
teardown_qsd-file-iou() { qsd_teardown "$1"; }
teardown_qsd-null() { qsd_teardown "$1"; }

# The user-space NBD clients that make a disk (vdk-nbd, vdk-nbd-base,
# qsd-nbd) share one nbdkit memory export per phase, on a unix socket
# (nbdkit's memory plugin allows multi-conn: one connection per queue);
# runs never overlap, so each finds the server to itself.  The kernel's
# client (nbd) and fio-nbd keep an export of their own of the same kind.
# nbd_export_get QUEUES: the socket, the server started by the first user;
# nbd_export_put QUEUES: stopped by the last.
declare -A NBD_EXPORT_USERS
nbd_export_get() {
	local q=$1 sock=$W/nbdexp$1.sock
	if ((${NBD_EXPORT_USERS[$q]:-0} == 0)); then
		# nbdkit leaves its socket behind, and will not bind it again.
		rm -f "$sock"
		nbdkit -U "$sock" -P "$W/nbdexp$q.pid" memory "${SIZE}M" \
			2>"$R/nbdexp$q.nbdkit.log" || return
		wait_for 20 test -S "$sock" || return
		# vdk's serving process connects as its own user, not root.
		chmod 0666 "$sock" || return
	fi
	NBD_EXPORT_USERS[$q]=$((${NBD_EXPORT_USERS[$q]:-0} + 1))
	NBD_SOCK=$sock
}

nbd_export_put() {
	local q=$1 p
	NBD_EXPORT_USERS[$q]=$((${NBD_EXPORT_USERS[$q]:-1} - 1))
	((NBD_EXPORT_USERS[$q] == 0)) || return 0
	p=$(pid_of "$W/nbdexp$q.pid")
	kill -TERM "$p" || return
	wait_gone 20 "$p"
}

# The queue count of a contender's disk name (b<contender><queues>).
name_queues() { echo "${1##*[!0-9]}"; }

# vdk blk on the nbd backend, in front of the same kind of server as the
# kernel nbd client below.
setup_vdk-nbd() {
	local q=$1 name=$2
	nbd_export_get "$q" || return
	vdk_setup "$q" "$name" nbd uri="nbd+unix:///?socket=$NBD_SOCK"
}

teardown_vdk-nbd() {
	vdk_teardown "$1" || return
	nbd_export_put "$(name_queues "$1")"
}

# The same served by another vdk binary (bench/vm/run.sh --base PATH puts
# it in the guest as vdk-base): the commit before, in the same boot.
setup_vdk-nbd-base() { VDK_BIN=vdk-base setup_vdk-nbd "$@"; }
teardown_vdk-nbd-base() { VDK_BIN=vdk-base teardown_vdk-nbd "$@"; }

# qemu-storage-daemon's vduse-blk export over its own NBD client (the nbd
# block driver, one connection), on the same export as vdk-nbd: the
# user-space peer of vdk-nbd.  QSD_OPTS is for the file drivers: not here.
setup_qsd-nbd() {
	local q=$1 name=$2
	nbd_export_get "$q" || return
	QSD_OPTS='' qsd_setup "$q" "$name" \
		"nbd,server.type=unix,server.path=$NBD_SOCK,node-name=n0"
}

teardown_qsd-nbd() {
	qsd_teardown "$1" || return
	nbd_export_put "$(name_queues "$1")"
}

# Contenders are set up one at a time, again in each rep: the kernel's
# nbd devices (nbds_max=4) are taken in turn.
NBD_N=0
setup_nbd() {
	local q=$1 name=$2 nbd=/dev/nbd$((NBD_N % 4))
	NBD_N=$((NBD_N + 1))
	rm -f "$W/$name.sock"
	nbdkit -U "$W/$name.sock" -P "$W/$name.pid" memory "${SIZE}M" \
		2>"$R/$name.log" || return
	wait_for 20 test -S "$W/$name.sock" || return
	PID[$name]=$(pid_of "$W/$name.pid")
	nbd-client -unix "$W/$name.sock" "$nbd" -C "$q" >>"$R/$name.log" 2>&1 ||
		return
	wait_for 20 bash -c "[[ \$(blockdev --getsize64 $nbd) -eq $((SIZE << 20)) ]]" ||
		return
	DEV[$name]=$nbd
}

teardown_nbd() {
	nbd-client -d "${DEV[$1]}" >>"$R/$1.log" 2>&1 || return
	kill -TERM "${PID[$1]}" || return
	wait_gone 20 "${PID[$1]}"
}

# null_blk as `modprobe null_blk` makes its nullb0, but for the size and
# the submission queues: the other defaults stand, the poll queue among
# them.  Without it (poll_queues=0) the same disk made a third of the IOPS
# at 4k, with the same I/O scheduler (none):
# bench/results/2026-12-07-trixie-ceiling.
setup_null_blk() {
	local q=$1 name=$2 d=/sys/kernel/config/nullb/$2
	mkdir "$d" && echo "$SIZE" >"$d/size" && echo "$q" >"$d/submit_queues" &&
		echo 1 >"$d/power" || return
	wait_for 10 test -b "/dev/$name" || return
	DEV[$name]=/dev/$name
	PID[$name]=
}

teardown_null_blk() {
	echo 0 >"/sys/kernel/config/nullb/$1/power" || return
	rmdir "/sys/kernel/config/nullb/$1"
}

# Contenders whose disks keep what is written: filled before the jobs, so
# that reads find data (the shared file is filled directly).
# fio-nbd: fio's own nbd engine (libnbd) on an nbdkit memory export, no
# block device at all: the least any user-space NBD client does, beside
# vdk-nbd and the kernel's client.  DEV is the export's URI.
setup_fio-nbd() {
	local name=$2
	rm -f "$W/$name.sock"
	nbdkit -U "$W/$name.sock" -P "$W/$name.pid" memory "${SIZE}M" \
		2>"$R/$name.log" || return
	wait_for 20 test -S "$W/$name.sock" || return
	PID[$name]=$(pid_of "$W/$name.pid")
	DEV[$name]="nbd+unix:///?socket=$W/$name.sock"
}

teardown_fio-nbd() {
	kill -TERM "${PID[$1]}" || return
	wait_gone 20 "${PID[$1]}"
}

stores_data() { [[ $1 == vdk-ram* || $1 == *nbd || $1 == *nbd-base ]]; }

# fio_target DEV: fio's options for a disk, or for an NBD URI, into the
# array FIO_TARGET.
fio_target() {
	case $1 in
	nbd*://*) FIO_TARGET=(--ioengine=nbd "--uri=$1") ;;
	*) FIO_TARGET=("--filename=$1" --direct=1 --ioengine=libaio) ;;
	esac
}

prefill() {
	fio_target "$1"
	fio --name=prefill "${FIO_TARGET[@]}" \
		--rw=write --bs=1M --iodepth=8 --size="${SIZE}M" \
		--output="$W/prefill.out" >/dev/null
}

# ---- jobs ----

job_args() {
	case $1 in
	rr4k-qd1) echo --rw=randread --bs=4k --iodepth=1 ;;
	rr4k-qd32) echo --rw=randread --bs=4k --iodepth=32 ;;
	rw4k-qd32) echo --rw=randwrite --bs=4k --iodepth=32 ;;
	sr1m-qd8) echo --rw=read --bs=1M --iodepth=8 ;;
	sw1m-qd8) echo --rw=write --bs=1M --iodepth=8 ;;
	rr4k-qd1-busy) job_args rr4k-qd1 ;;
	rr4k-qd32-busy) job_args rr4k-qd32 ;;
	rr4k-qd32-2q) echo --rw=randread --bs=4k --iodepth=32 --numjobs=2 \
		--cpus_allowed=0-1 --cpus_allowed_policy=split ;;
	*) return 1 ;;
	esac
}

HZ=$(getconf CLK_TCK)

# CPU seconds (user + system, all threads) of a process; 0 if none.
proc_cpu() {
	[[ -n $1 && -r /proc/$1/stat ]] || { echo 0; return; }
	# The fields after the ")" that ends the command name: utime is the
	# 12th of them, stime the 13th.
	awk -v hz="$HZ" '{ sub(/.*\) /, ""); split($0, f, " ");
		printf "%.2f", (f[12] + f[13]) / hz }' "/proc/$1/stat"
}

# thread_cpu PID: CPU seconds of each of the process's threads so far,
# busiest first ("seconds name tid"), to tell librbd's or QEMU's threads
# from the queue loop.
thread_cpu() {
	local t
	for t in /proc/"$1"/task/*; do
		awk -v hz="$HZ" -v tid="${t##*/}" '{
			name = $0; sub(/^[^(]*\(/, "", name); sub(/\) .*/, "", name)
			sub(/.*\) /, ""); split($0, f, " ")
			printf "%.2f %s %s\n", (f[12] + f[13]) / hz, name, tid }' \
			"$t/stat" 2>/dev/null
	done | sort -rn
}

# Busy CPU seconds of the whole guest (all but idle and iowait).
guest_busy() {
	awk -v hz="$HZ" '/^cpu / {
		t = 0; for (i = 2; i <= NF; i++) t += $i
		printf "%.2f", (t - $5 - $6) / hz }' /proc/stat
}

# IOPS and MiB/s of a fio JSON report (reads and writes added).
fio_summary() {
	awk '/"(read|write|trim)" : \{/ { d = $1; seen[d] = 0 }
	     $1 == "\"iops\"" && !seen[d]++ { iops += $3 }
	     $1 == "\"bw_bytes\"" && !bw[d]++ { bytes += $3 }
	     END { printf "%.0f IOPS %.1f MiB/s", iops, bytes / 1048576 }' "$1"
}

hw_queues() {
	[[ $1 == /dev/* ]] || { echo 0; return; }
	find "/sys/block/$(basename "$1")/mq" -mindepth 1 -maxdepth 1 | wc -l
}

# The I/O scheduler of a disk (the one in brackets); nothing for a URI.
disk_scheduler() {
	local f=/sys/block/${1##*/}/queue/scheduler
	[[ $1 == /dev/* && -r $f ]] || return 0
	sed -n 's/.*\[\(.*\)\].*/\1/p' "$f"
}

# The cache mode the kernel sees on a disk and the flushes it sent so far
# ("write back, 3 flushes"); nothing for a URI.
disk_cache() {
	local d=/sys/block/${1##*/}
	[[ $1 == /dev/* && -r $d/stat ]] || return 0
	printf '%s, %s flushes' "$(cat "$d/queue/write_cache" 2>/dev/null)" \
		"$(awk '{ print $16 + 0 }' "$d/stat")"
}
