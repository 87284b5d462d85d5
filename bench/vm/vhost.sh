#!/bin/bash
# The vhost-path benchmark: vdk and qemu-storage-daemon's vduse-blk export,
# both bound to vhost_vdpa and driven by the same libblkio client
# (blkio-check), interleaved in one boot of the test guest
# (bench/vm/vhost-guest.sh); report by bench/vm/vhost-report.py.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
TOP=$(cd "$HERE/../.." && pwd)

usage() {
	cat <<USAGE
Usage: bench/vm/vhost.sh [--kernel trixie|sid] [--quick] [--reps N]
          [--runtime SECS] [--size MIB] [--jobs A,B,...] [--contenders A,B,...]
          [--dest DIR] [--wait SECS] [--no-build]

Contenders vdk-ram-vhost, vdk-file-vhost, qsd-file-vhost; jobs rr4k-qd1,
rr4k-qd32, rw4k-qd32, sr256k-qd32, sw256k-qd32; 3 reps of 6 s runs, about
10 minutes. The report goes to bench/results/DATE-KERNEL-vhost/
(RESULTS.md, raw.csv, raw.jsonl, env.txt, guest.log); --quick (1 rep of
2 s runs on 128 MiB) and partial runs go to bench/out/.

  --wait SECS   wait up to SECS (600) for another qemu-system-x86 to end
                before booting; then boot anyway (the report says so)
USAGE
}

die() { printf 'bench: error: %s\n' "$*" >&2; exit 2; }
log() { printf 'bench: %s\n' "$*" >&2; }

KERNEL=trixie QUICK=0 PARTIAL=0 SETTINGS=() DEST='' WAIT=600 DO_BUILD=1
BUILD=$TOP/build-release
COMMAND="bench/vm/vhost.sh${*:+ $*}"
while (($#)); do
	case $1 in
	--kernel) KERNEL=${2:?}; shift 2 ;;
	--quick) QUICK=1; SETTINGS+=(quick=1); shift ;;
	--reps) SETTINGS+=("reps=${2:?}"); shift 2 ;;
	--runtime) SETTINGS+=("runtime=${2:?}"); shift 2 ;;
	--size) SETTINGS+=("size=${2:?}"); shift 2 ;;
	--jobs) SETTINGS+=("jobs=${2//,/+}"); PARTIAL=1; shift 2 ;;
	--contenders) SETTINGS+=("contenders=${2//,/+}"); PARTIAL=1; shift 2 ;;
	--dest) DEST=${2:?}; shift 2 ;;
	--wait) WAIT=${2:?}; shift 2 ;;
	--no-build) DO_BUILD=0; shift ;;
	-h | --help) usage; exit 0 ;;
	*) usage >&2; die "unknown argument: $1" ;;
	esac
done
case $KERNEL in trixie | sid) ;; *) die "--kernel must be trixie or sid" ;; esac
command -v python3 >/dev/null || die "python3 is missing"

if ((DO_BUILD)); then
	[[ -f $BUILD/build.ninja ]] ||
		meson setup "$BUILD" "$TOP" --buildtype=release >/dev/null
	ninja -C "$BUILD" cli/vdk >/dev/null
fi
[[ -x $BUILD/cli/vdk ]] || die "$BUILD/cli/vdk was not built"

STAMP=$(date -u +%Y-%m-%d)-$KERNEL-vhost
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
cp "$HERE/vhost-guest.sh" "$STAGE/guest-main.sh"
cp "$HERE/lib-bench.sh" "$STAGE/"
cp "$BUILD/cli/vdk" "$STAGE/bin/vdk"
"$TOP/tests/vhost/build.sh" "$STAGE/bin"

# Another guest on this host competes for its CPUs: wait for it a while.
others() { pgrep -f qemu-system-x86 || true; }
waited=0 other=''
if [[ -n $(others) ]]; then
	log "another qemu-system-x86 is running: waiting up to $WAIT s"
	while [[ -n $(others) ]] && ((waited < WAIT)); do
		sleep 10
		waited=$((waited + 10))
	done
	[[ -n $(others) ]] && other="still running after waiting $waited s: ran alongside it"
	[[ -z $other ]] && other="ended after $waited s of waiting"
fi

{
	echo "date=$(date -u +%Y-%m-%dT%H:%M:%SZ)"
	echo "command=$COMMAND"
	commit=$(git -C "$TOP" rev-parse --short=12 HEAD 2>/dev/null || echo unknown)
	changes=$(git -C "$TOP" status --porcelain -- lib blk backends cli include 2>/dev/null |
		awk '{ print $2 }' | tr '\n' ' ')
	echo "git_commit=$commit${changes:+ (with uncommitted changes in: $changes)}"
	echo "host_cpu=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n 1)"
	echo "host_cpus=$(nproc)"
	echo "host_os=Debian $(cat /etc/debian_version 2>/dev/null || echo '?'), Linux $(uname -r)"
	echo "host_qemu=$(qemu-system-x86_64 --version 2>/dev/null | head -n 1)"
	echo "other_qemu=${other:-none running at start}"
	echo "host_load_start=$(cut -d' ' -f1-3 /proc/loadavg)"
} >"$VMOUT/host.txt"

SET=$(IFS=,; echo "${SETTINGS[*]}")
APPEND="tsc=reliable${SET:+ vdk.bench=$SET}"
echo "guest_append=$APPEND" >>"$VMOUT/host.txt"
log "kernel $KERNEL; report in $DEST"
rc=0
"$TOP/tests/vm/run.sh" --kernel "$KERNEL" --overlay "$STAGE" --out "$VMOUT" \
	--mem 4G --smp 2 --timeout 1800 --append "$APPEND" || rc=$?
{
	echo "host_load_end=$(cut -d' ' -f1-3 /proc/loadavg)"
	echo "other_qemu_end=$(others | wc -l) other qemu-system-x86 process(es) running"
} >>"$VMOUT/host.txt"

[[ -s $VMOUT/raw.jsonl ]] || { log "no results (VM status $rc): see $VMOUT"; exit 1; }
((rc == 0)) || log "the guest ended with status $rc: reporting what it measured"
cp "$VMOUT/test.log" "$DEST/guest.log"
cp "$VMOUT/raw.jsonl" "$VMOUT/env.txt" "$DEST/"
cp "$VMOUT/host.txt" "$DEST/host.txt"
python3 "$HERE/vhost-report.py" --dest "$DEST" --quick "$QUICK"
log "raw guest output in $VMOUT"
exit "$rc"
