#!/bin/bash
# The benchmark in one command: build vdk (release), boot the test guest once,
# run the same fio jobs against vdk, qemu-storage-daemon, NBD and null_blk
# (bench/vm/guest-main.sh), and write the report (bench/vm/report.py).
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
TOP=$(cd "$HERE/../.." && pwd)

usage() {
	cat <<USAGE
Usage: bench/vm/run.sh [--kernel trixie|sid] [--quick] [--reps N]
          [--runtime SECS] [--ramp SECS] [--size MIB] [--jobs A,B,...]
          [--contenders A,B,...] [--dest DIR] [--mem SIZE] [--smp N]
          [--timeout SECS] [--build DIR] [--no-build] [--base PATH]

Boots the test guest (tests/vm/run.sh) once and, --reps times, sets every
contender up alone in turn and runs every job against it. A full run takes
about 35 minutes
(plus the image build the first time) and writes
bench/results/DATE-KERNEL/{RESULTS.md,chart.png,raw.csv,env.txt,guest.log}
and bench/results/latest.{md,png}. --quick (1 rep of 3 s runs on 128 MiB
disks, about 6 minutes) and runs with --jobs or --contenders write to
bench/out/ instead, which git ignores, and leave latest.* alone.

  --kernel K          guest kernel: trixie (6.12, default) or sid
  --quick             a quick check, not a measurement
  --reps N            repetitions of each (job, contender) (3)
  --runtime SECS      fio runtime per run (8); --ramp SECS: ramp time (2)
  --size MIB          size of every disk (512)
  --jobs LIST         rr4k-qd1,rr4k-qd32,rw4k-qd32,sr1m-qd8,sw1m-qd8,
                      rr4k-qd1-busy,rr4k-qd32-busy (one guest CPU kept busy
                      by stress-ng),rr4k-qd32-2q
  --contenders LIST   vdk-ram,vdk-file,qsd-file,qsd-file-uring,qsd-file-iou,
                      qsd-null,vdk-nbd,nbd,null_blk;
                      also vdk-rbd,qsd-rbd,vdk-rbd-base (only when named): they boot the
                      Ceph image (tests/vm/lib-ceph.sh) and bring up its
                      single-node cluster first
  --dest DIR          where the report goes
  --mem SIZE          guest memory (4G); --smp N: guest CPUs (2)
  --timeout SECS      time allowed to the guest (default from the run count)
  --build DIR         meson build directory (build-release), configured
                      --buildtype=release if new; --no-build: use it as is
  --base PATH         another vdk binary (a release build of the commit
                      before) for the contenders vdk-nbd-base and
                      vdk-file-base (named only)
  Also named only: qsd-nbd (QSD's vduse-blk export over its nbd driver,
                      on the export vdk-nbd uses)

Needs what tests/vm/ needs (root, QEMU, the image cache), python3, and
gnuplot for the chart (the gnuplot-nox package is installed if missing).
USAGE
}

die() { printf 'bench: error: %s\n' "$*" >&2; exit 2; }
log() { printf 'bench: %s\n' "$*" >&2; }

KERNEL=trixie QUICK=0 SETTINGS=() DEST='' MEM=4G SMP=2 TIMEOUT=''
BUILD=$TOP/build-release DO_BUILD=1 PARTIAL=0 RBD=0 BASE=
REPS=3 RUNTIME=8 RAMP=2 NJOBS=8 NCONT=9
COMMAND="bench/vm/run.sh${*:+ $*}"
while (($#)); do
	case $1 in
	--kernel) KERNEL=${2:?}; shift 2 ;;
	--quick) QUICK=1 REPS=1 RUNTIME=3 RAMP=1; SETTINGS+=(quick=1); shift ;;
	--reps) REPS=${2:?}; SETTINGS+=("reps=$2"); shift 2 ;;
	--runtime) RUNTIME=${2:?}; SETTINGS+=("runtime=$2"); shift 2 ;;
	--ramp) RAMP=${2:?}; SETTINGS+=("ramp=$2"); shift 2 ;;
	--size) SETTINGS+=("size=${2:?}"); shift 2 ;;
	--jobs) NJOBS=$(tr ',' ' ' <<<"${2:?}" | wc -w); SETTINGS+=("jobs=${2//,/+}"); PARTIAL=1; shift 2 ;;
	--contenders) NCONT=$(tr ',' ' ' <<<"${2:?}" | wc -w); SETTINGS+=("contenders=${2//,/+}"); PARTIAL=1
		[[ ,$2, == *-rbd,* || ,$2, == *-rbd-base,* ]] && RBD=1
		shift 2 ;;
	--dest) DEST=${2:?}; shift 2 ;;
	--mem) MEM=${2:?}; shift 2 ;;
	--smp) SMP=${2:?}; shift 2 ;;
	--timeout) TIMEOUT=${2:?}; shift 2 ;;
	--build) BUILD=${2:?}; shift 2 ;;
	--no-build) DO_BUILD=0; shift ;;
	--base) BASE=${2:?}; shift 2 ;;
	-h | --help) usage; exit 0 ;;
	*) usage >&2; die "unknown argument: $1" ;;
	esac
done
case $KERNEL in trixie | sid) ;; *) die "--kernel must be trixie or sid" ;; esac
for n in "$REPS" "$RUNTIME" "$RAMP"; do
	[[ $n =~ ^[0-9]+$ ]] || die "not a number: $n"
done

# ---- host tools ----

command -v python3 >/dev/null || die "python3 is missing (apt-get install python3)"
if ! command -v gnuplot >/dev/null; then
	if [[ $(id -u) == 0 ]] && command -v apt-get >/dev/null; then
		log "installing gnuplot-nox (for the chart)"
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
			gnuplot-nox >/dev/null || log "installing gnuplot-nox failed: no chart"
	else
		log "gnuplot is missing (apt-get install gnuplot-nox): no chart"
	fi
fi

# ---- vdk, release build ----

if ((DO_BUILD)); then
	if ! command -v meson >/dev/null || ! command -v ninja >/dev/null; then
		die "meson and ninja are missing (scripts/install-deps.sh --build-only)"
	fi
	if [[ ! -f $BUILD/build.ninja ]]; then
		meson setup "$BUILD" "$TOP" --buildtype=release >/dev/null
	fi
	ninja -C "$BUILD" cli/vdk >/dev/null
fi
VDK=$BUILD/cli/vdk
[[ -x $VDK ]] || die "$VDK was not built"

# ---- where things go ----

STAMP=$(date -u +%Y-%m-%d)-$KERNEL
if [[ -z $DEST ]]; then
	if ((QUICK || PARTIAL)); then
		DEST=$TOP/bench/out/$STAMP-$( ((QUICK)) && echo quick || echo partial)
	else
		DEST=$TOP/bench/results/$STAMP
		[[ -e $DEST ]] && DEST=$DEST-$(date -u +%H%M)
	fi
fi
mkdir -p "$DEST"
DEST=$(cd "$DEST" && pwd)
VMOUT=$TOP/bench/out/vm-$(basename "$DEST")
rm -rf "$VMOUT"
mkdir -p "$VMOUT"
STAGE=$(mktemp -d /tmp/vdk-bench-XXXXXX)
trap 'rm -rf "$STAGE"' EXIT
mkdir -p "$STAGE/bin"
cp "$HERE/guest-main.sh" "$HERE/lib-bench.sh" "$HERE/lib-bench-rbd.sh" "$STAGE/"
# The rbd contenders: the image with the Ceph packages (built and cached
# like the others, as for tests/vm/e2e/run.sh --only rbd) and, in the
# guest, the cluster's start and the image's filling (a few minutes).
if ((RBD)); then
	VDK_VM_EXTRA_PKGS=$(sed -n 's/^CEPH_PKGS="\(.*\)"$/\1/p' "$TOP/tests/vm/lib-ceph.sh")
	export VDK_VM_EXTRA_PKGS
	if [[ ${MEM%G} =~ ^[0-9]+$ ]] && ((${MEM%G} < 3)); then
		die "the rbd contenders need --mem 3G or more"
	fi
fi
cp "$VDK" "$STAGE/bin/vdk"
if [[ -n $BASE ]]; then
	[[ -x $BASE ]] || die "--base: no vdk binary at $BASE"
	cp "$BASE" "$STAGE/bin/vdk-base"
fi

# The guest's time: every run plus fio's start (~2 s under TCG), the
# setup and filling of the disks, and a margin.
if [[ -z $TIMEOUT ]]; then
	# Each contender's set-up, filling and tear-down, in each rep.
	runs=$((REPS * (NJOBS * NCONT + NCONT + 1)))
	TIMEOUT=$((runs * (RAMP + RUNTIME + 4) + REPS * NCONT * 40 + 600 + RBD * 600))
fi

# ---- the host, for the report ----

data_path_changes() {
	git -C "$TOP" status --porcelain -- lib blk backends cli include 2>/dev/null |
		awk '{ print $2 }' | tr '\n' ' '
}
{
	echo "date=$(date -u +%Y-%m-%dT%H:%M:%SZ)"
	echo "command=$COMMAND"
	commit=$(git -C "$TOP" rev-parse --short=12 HEAD 2>/dev/null || echo unknown)
	changes=$(data_path_changes)
	echo "git_commit=$commit${changes:+ (with uncommitted changes in: $changes)}"
	[[ -z $BASE ]] || echo "base_binary=$BASE ($("$BASE" --version 2>&1 | head -n 1))"
	echo "vdk_build=$(meson introspect --buildoptions "$BUILD" 2>/dev/null |
		python3 -c 'import json,sys; print(next(o["value"] for o in json.load(sys.stdin) if o["name"] == "buildtype"))' 2>/dev/null || echo '?')"
	echo "host_cpu=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n 1)"
	echo "host_cpus=$(nproc)"
	echo "host_os=Debian $(cat /etc/debian_version 2>/dev/null || echo '?'), Linux $(uname -r)"
	echo "host_qemu=$(qemu-system-x86_64 --version 2>/dev/null | head -n 1)"
	echo "host_load_start=$(cut -d' ' -f1-3 /proc/loadavg)"
	echo "guest_mem=$MEM"
	echo "guest_smp=$SMP"
} >"$VMOUT/host.txt"

# Every 2 s: the time, the host's 1-minute load (the guest's 2 vCPUs count
# for about 2; more means other work competed with them), the CPU seconds
# the host has been busy and those of QEMU.  The difference of the last two
# is the CPU that other work took from the guest: under TCG, a guest that
# loses its host CPU runs slower as a whole, and the report marks the runs
# during which that happened (report.py --host-load).
sample_load() {
	local hz
	hz=$(getconf CLK_TCK)
	while :; do
		printf '%s %s %s %s\n' "$(date -u +%s.%N | cut -c1-13)" \
			"$(cut -d' ' -f1 /proc/loadavg)" \
			"$(awk -v hz="$hz" '/^cpu / {
				printf "%.2f", ($2 + $3 + $4 + $7 + $8 + $9) / hz }' /proc/stat)" \
			"$(for p in $(pgrep -f '^[^ ]*qemu-system'); do
				sed 's/.*) //' "/proc/$p/stat" 2>/dev/null
			done | awk -v hz="$hz" '{ t += $12 + $13 } END { printf "%.2f", t / hz }')"
		sleep 2
	done >"$VMOUT/host-load.txt"
}
sample_load &
SAMPLER=$!
# The sampler is killed again here after the run: under set -e a failing
# kill would end the trap, leave the stage behind and make the status 1.
trap 'kill "$SAMPLER" 2>/dev/null || true; rm -rf "$STAGE"' EXIT

SET=$(IFS=,; echo "${SETTINGS[*]}")
# tsc=reliable: under TCG on a busy host the clocksource watchdog may find
# the TSC "unstable" mid-run and switch to the HPET, after which every
# clock_gettime() is a system call and an emulated MMIO read: fio and vdk's
# polling loop would change speed in the middle of the run.
APPEND="tsc=reliable${SET:+ vdk.bench=$SET}"
echo "guest_append=$APPEND" >>"$VMOUT/host.txt"
log "kernel $KERNEL, $REPS rep(s) of ${RUNTIME} s runs, guest timeout ${TIMEOUT} s; report in $DEST"
rc=0
"$TOP/tests/vm/run.sh" --kernel "$KERNEL" --overlay "$STAGE" --out "$VMOUT" \
	--mem "$MEM" --smp "$SMP" --timeout "$TIMEOUT" --append "$APPEND" || rc=$?
kill "$SAMPLER" 2>/dev/null || true
{
	echo "host_load_end=$(cut -d' ' -f1-3 /proc/loadavg)"
	sort -n -k2 "$VMOUT/host-load.txt" | awk '{ v[NR] = $2 } END {
		if (NR) printf "host_load_samples=%d\nhost_load_min=%s\nhost_load_median=%s\nhost_load_max=%s\n",
			NR, v[1], v[int((NR + 1) / 2)], v[NR] }'
} >>"$VMOUT/host.txt"

[[ -s $VMOUT/raw.jsonl ]] || { log "no results (VM status $rc): see $VMOUT"; exit 1; }
((rc == 0)) || log "the guest ended with status $rc: reporting what it measured"
cp "$VMOUT/test.log" "$DEST/guest.log"
latest=()
((QUICK || PARTIAL)) || [[ $DEST != "$TOP/bench/results/"* ]] || latest=(--latest "$TOP/bench/results")
python3 "$HERE/report.py" --dest "$DEST" --raw "$VMOUT/raw.jsonl" \
	--env "$VMOUT/env.txt" --host "$VMOUT/host.txt" \
	--host-load "$VMOUT/host-load.txt" "${latest[@]}"
log "raw guest output (fio JSON, daemon logs, console) in $VMOUT"
exit "$rc"
