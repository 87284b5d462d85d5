#!/bin/bash
# Profile the data path in the test guest: event counts per I/O (kicks,
# interrupts, context switches, IPIs, CPU) for vdk and the other contenders,
# qemu-storage-daemon's variants, and perf profiles (bench/vm/profile-guest.sh).
# The guest image gets linux-perf (VDK_VM_EXTRA_PKGS, an image of its own).
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
TOP=$(cd "$HERE/../.." && pwd)

usage() {
	cat <<USAGE
Usage: bench/vm/profile.sh [--kernel trixie|sid] [--parts A,B] [--reps N]
          [--runtime SECS] [--polls NS,NS] [--vdk BINARY]
          [--variant NAME=BINARY ...] [--out DIR] [--timeout SECS]

  --parts LIST    counts,qsd,poll,variants,perf,perf1m,nbd,nbdq (default counts,qsd,perf): see
                  bench/vm/profile-guest.sh
  --reps N        repetitions, interleaved (2)
  --runtime SECS  fio runtime per run (8)
  --polls LIST    polling times for the poll part, in µs
                  (0,20,200,2000), through VDK_POLL_US
  --vdk BINARY    the vdk to profile (default: build-profile/cli/vdk, a
                  release build with frame pointers, built if needed)
  --variant NAME=BINARY  another vdk for the variants part, run beside
                  the default one ("base"); may be repeated
  --out DIR       results (default bench/out/profile-DATE-KERNEL)
USAGE
}

die() { printf 'profile: error: %s\n' "$*" >&2; exit 2; }

KERNEL=trixie SET=() VDK='' OUT='' TIMEOUT=2400 VARIANTS=()
while (($#)); do
	case $1 in
	--kernel) KERNEL=${2:?}; shift 2 ;;
	--parts) SET+=("parts=${2//,/+}"); shift 2 ;;
	--reps) SET+=("reps=${2:?}"); shift 2 ;;
	--runtime) SET+=("runtime=${2:?}"); shift 2 ;;
	--polls) SET+=("polls=${2//,/+}"); shift 2 ;;
	--vdk) VDK=${2:?}; shift 2 ;;
	--variant) VARIANTS+=("${2:?}"); shift 2 ;;
	--out) OUT=${2:?}; shift 2 ;;
	--timeout) TIMEOUT=${2:?}; shift 2 ;;
	-h | --help) usage; exit 0 ;;
	*) usage >&2; die "unknown argument: $1" ;;
	esac
done

if [[ -z $VDK ]]; then
	B=$TOP/build-profile
	if [[ ! -f $B/build.ninja ]]; then
		meson setup "$B" "$TOP" --buildtype=release \
			-Dc_args='-fno-omit-frame-pointer -g' >/dev/null
	fi
	ninja -C "$B" cli/vdk >/dev/null
	VDK=$B/cli/vdk
fi
[[ -x $VDK ]] || die "no vdk binary at $VDK"

OUT=${OUT:-$TOP/bench/out/profile-$(date -u +%Y-%m-%d-%H%M)-$KERNEL}
mkdir -p "$OUT"
STAGE=$(mktemp -d /tmp/vdk-profile-XXXXXX)
trap 'rm -rf "$STAGE"' EXIT
mkdir -p "$STAGE/bin"
cp "$HERE/profile-guest.sh" "$STAGE/guest-main.sh"
cp "$HERE/lib-bench.sh" "$STAGE/"
cp "$VDK" "$STAGE/bin/vdk"
for v in "${VARIANTS[@]}"; do
	[[ $v == *=* && -x ${v#*=} ]] || die "--variant NAME=BINARY: $v"
	# Named vdk: `vdk del` checks the serving process's name.
	mkdir -p "$STAGE/variants/${v%%=*}"
	cp "${v#*=}" "$STAGE/variants/${v%%=*}/vdk"
done

S=$(IFS=,; echo "${SET[*]}")
rc=0
VDK_VM_EXTRA_PKGS=linux-perf "$TOP/tests/vm/run.sh" --kernel "$KERNEL" \
	--overlay "$STAGE" --out "$OUT" --mem 4G --smp 2 --timeout "$TIMEOUT" \
	--append "tsc=reliable${S:+ vdk.prof=$S}" || rc=$?
echo "profile: results in $OUT (counts.csv, perf-*.txt)" >&2
exit "$rc"
