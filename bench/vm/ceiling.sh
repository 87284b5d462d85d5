#!/bin/bash
# What the benchmark's ceiling measures: boot the test guest once and run
# null_blk (and vdk-file, qsd-file) at 4k QD1 and QD32 as a user would, with
# fio's --thread, beside every other contender set up and idle, and with
# both (bench/vm/ceiling-guest.sh); print the medians side by side.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
TOP=$(cd "$HERE/../.." && pwd)

usage() {
	cat <<USAGE
Usage: bench/vm/ceiling.sh [--kernel trixie|sid] [--reps N] [--runtime SECS]
          [--disks A,B] [--out DIR] [--build DIR]

  --reps N        repetitions, interleaved (3)
  --runtime SECS  fio runtime per run (8)
  --disks LIST    null_blk,vdk-file,qsd-file (default): the disks measured
  --out DIR       results: ceiling.csv, RESULTS.md (default
                  bench/out/ceiling-DATE-KERNEL)
  --build DIR     meson build directory of the vdk used (build-release)
USAGE
}

die() { printf 'ceiling: error: %s\n' "$*" >&2; exit 2; }

KERNEL=trixie SET=() OUT='' BUILD=$TOP/build-release REPS=3 RUNTIME=8
while (($#)); do
	case $1 in
	--kernel) KERNEL=${2:?}; shift 2 ;;
	--reps) REPS=${2:?}; SET+=("reps=$2"); shift 2 ;;
	--runtime) RUNTIME=${2:?}; SET+=("runtime=$2"); shift 2 ;;
	--disks) SET+=("disks=${2//,/+}"); shift 2 ;;
	--out) OUT=${2:?}; shift 2 ;;
	--build) BUILD=${2:?}; shift 2 ;;
	-h | --help) usage; exit 0 ;;
	*) usage >&2; die "unknown argument: $1" ;;
	esac
done
[[ $REPS =~ ^[0-9]+$ && $RUNTIME =~ ^[0-9]+$ ]] || die "--reps and --runtime take numbers"

[[ -f $BUILD/build.ninja ]] || meson setup "$BUILD" "$TOP" --buildtype=release >/dev/null
ninja -C "$BUILD" cli/vdk >/dev/null
OUT=${OUT:-$TOP/bench/out/ceiling-$(date -u +%Y-%m-%d-%H%M)-$KERNEL}
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)
STAGE=$(mktemp -d /tmp/vdk-ceiling-XXXXXX)
trap 'rm -rf "$STAGE"' EXIT
mkdir -p "$STAGE/bin"
cp "$HERE/ceiling-guest.sh" "$STAGE/guest-main.sh"
cp "$HERE/lib-bench.sh" "$STAGE/"
cp "$BUILD/cli/vdk" "$STAGE/bin/vdk"

S=$(IFS=,; echo "${SET[*]}")
# Three cases of two jobs per disk and rep, a crowd to set up per rep.
TIMEOUT=$((REPS * 3 * 5 * 2 * (RUNTIME + 6) + 900))
{
	echo "date=$(date -u +%Y-%m-%dT%H:%M:%SZ)"
	echo "command=bench/vm/ceiling.sh${SET[*]:+ ${SET[*]}}"
	echo "git_commit=$(git -C "$TOP" rev-parse --short=12 HEAD 2>/dev/null || echo unknown)"
	echo "host_load_start=$(cut -d' ' -f1-3 /proc/loadavg)"
} >"$OUT/host.txt"
rc=0
"$TOP/tests/vm/run.sh" --kernel "$KERNEL" --overlay "$STAGE" --out "$OUT" \
	--mem 4G --smp 2 --timeout "$TIMEOUT" \
	--append "tsc=reliable${S:+ vdk.ceiling=$S}" || rc=$?
echo "host_load_end=$(cut -d' ' -f1-3 /proc/loadavg)" >>"$OUT/host.txt"
[[ -s $OUT/ceiling.csv ]] || die "no results (VM status $rc): see $OUT"
python3 - "$OUT/ceiling.csv" >"$OUT/RESULTS.md" <<'PY'
import csv, statistics, sys
rows = list(csv.DictReader(open(sys.argv[1])))
cases = ["plain", "none", "thread", "crowd", "crowd-thread", "modparam",
         "pq0", "pq0-none"]
print("Medians of the reps; IOPS, then mean submission / completion / total latency in µs.")
print("I/O schedulers seen: " + ", ".join(sorted("%s %s: %s" % k for k in
      {(r["disk"], r["case"], r.get("scheduler") or "?") for r in rows})) + ".\n")
print("| disk | job | " + " | ".join(cases) + " |")
print("| --- | --- |" + " ---: |" * len(cases))
keys = sorted({(r["disk"], r["job"]) for r in rows})
for disk, job in keys:
    cells = []
    for c in cases:
        sel = [r for r in rows if r["disk"] == disk and r["job"] == job and r["case"] == c]
        if not sel:
            cells.append("–")
            continue
        med = lambda k: statistics.median(float(r[k]) for r in sel)
        cells.append("%s (%.0f / %.0f / %.0f)" % (format(round(med("iops")), ","),
                     med("slat_us"), med("clat_us"), med("lat_us")))
    print("| %s | %s | %s |" % (disk, job, " | ".join(cells)))
PY
cat "$OUT/RESULTS.md"
exit "$rc"
