#!/bin/bash
# The virtio-net benchmark: vdk net + tap, DPDK testpmd serving a VDUSE net
# device and forwarding to a tap, and a veth pair (the in-kernel ceiling),
# each between two network namespaces, interleaved in one boot of the test
# guest (bench/vm/net-guest.sh); report by bench/vm/net-report.py.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
TOP=$(cd "$HERE/../.." && pwd)

usage() {
	cat <<USAGE
Usage: bench/vm/net.sh [--kernel trixie|sid] [--quick] [--reps N]
          [--runtime SECS] [--jobs A,B,...] [--contenders A,B,...]
          [--testpmd "OPTIONS"] [--dest DIR] [--wait SECS] [--no-build]

Contenders vdk, dpdk, veth; jobs tcp-tx, tcp-rx (iperf3, 1 stream),
rr-tcp, rr-udp (sockperf ping-pong, 64 bytes), udp64-tx, udp64-rx (iperf3
-u -l 64 -b 0); 3 reps of 8 s runs, about 15 minutes. The report goes to
bench/results/DATE-KERNEL-net/ (RESULTS.md, raw.csv, raw.jsonl, runs/,
env.txt, guest.log); --quick (1 rep of 3 s runs) and partial runs go to
bench/out/.

  --testpmd OPTS  testpmd's application options for the dpdk contender
                  (default "--forward-mode=io --nb-cores=1 --txd=1024
                  --rxd=1024 --burst=64")

Run it under flock /tmp/vdk-vm.lock when other guests share the host.

  --wait SECS   wait up to SECS (600) for another qemu-system-x86 to end
                before booting; then boot anyway (the report says so)
USAGE
}

die() { printf 'bench: error: %s\n' "$*" >&2; exit 2; }
log() { printf 'bench: %s\n' "$*" >&2; }

KERNEL=trixie QUICK=0 PARTIAL=0 SETTINGS=() DEST='' WAIT=600 DO_BUILD=1
BUILD=$TOP/build-release
COMMAND="bench/vm/net.sh${*:+ $*}"
while (($#)); do
	case $1 in
	--kernel) KERNEL=${2:?}; shift 2 ;;
	--quick) QUICK=1; SETTINGS+=(quick=1); shift ;;
	--reps) SETTINGS+=("reps=${2:?}"); shift 2 ;;
	--runtime) SETTINGS+=("runtime=${2:?}"); shift 2 ;;
	--testpmd) T=${2:?}; SETTINGS+=("dpdk=${T// /+}"); shift 2 ;;
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

STAMP=$(date -u +%Y-%m-%d)-$KERNEL-net
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
cp "$HERE/net-guest.sh" "$STAGE/guest-main.sh"
cp "$HERE/lib-bench.sh" "$STAGE/"
cp "$BUILD/cli/vdk" "$STAGE/bin/vdk"

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
	changes=$(git -C "$TOP" status --porcelain -- lib net daemon cli include 2>/dev/null |
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
mkdir -p "$DEST/logs"
cp -r "$VMOUT/runs" "$DEST/"
find "$VMOUT" -maxdepth 1 \( -name 'vnb-*.log' -o -name 'testpmd-*.log' \
	-o -name 'link-*.txt' -o -name 'threads-*.txt' \) -exec cp {} "$DEST/logs/" \;
cp "$VMOUT/host.txt" "$DEST/host.txt"
python3 "$HERE/net-report.py" --dest "$DEST" --quick "$QUICK"
log "raw guest output in $VMOUT"
exit "$rc"
