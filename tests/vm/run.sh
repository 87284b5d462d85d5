#!/bin/bash
# Boot the VM test guest, run an overlay's guest-main.sh in it and collect the
# results. See tests/vm/README.md.
set -euo pipefail

VM_HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
VM_PROG=run.sh
# shellcheck source=lib-host.sh
. "$VM_HERE/lib-host.sh"

usage() {
	cat <<USAGE
Usage: $(basename "$0") --overlay DIR [--kernel trixie|sid|experimental]
          [--timeout SECS]
          [--mem SIZE] [--smp N] [--out DIR] [--append ARGS] [--tries N]
          [--boot-timeout SECS] [--follow]

Builds or reuses the guest image (build-image.sh), boots it under QEMU (TCG),
runs DIR/guest-main.sh inside (DIR is copied to /vdk-test in the guest, test
helpers are at /vdk/lib-guest.sh), collects its results and exits with its
status.

  --overlay DIR        directory with guest-main.sh (and whatever it needs)
  --kernel K           trixie (6.12, default), sid (newest in unstable) or
                       experimental (newest in experimental: 7.3)
  --timeout SECS       time allowed to guest-main.sh inside the guest (600)
  --mem SIZE           guest memory (2G)
  --smp N              guest CPUs (2)
  --out DIR            where results go (default: a new /tmp/vdk-vm-XXXXXX)
  --append ARGS        extra kernel command line arguments
  --tries N            boots to try when the guest dies before /init (3)
  --boot-timeout SECS  time allowed from start to /init per try (240)
  --follow             show the serial console live
  -h, --help           this text

Results in the --out directory: test.log (the test's output), dmesg.txt,
exit-status, console.log (serial console of the last boot), qemu.log, plus
anything the test wrote to \$VDK_RESULTS (/results in the guest).

Exit status: the guest test's own status (0 = passed), except:
  2  usage or host setup error (missing packages, bad overlay)
  3  the guest never reached /init in --tries boots
  4  timed out: the test exceeded --timeout in the guest, or the VM as a whole
     did not end in time
  5  the guest reached /init but sent back no results (crash, panic)
  6  building the image failed
A guest status that is itself one of 2..6 is reported as 1.
Environment: VDK_VM_CACHE (image cache), VDK_VM_TCG_THREAD=single (slower TCG
mode without the rare early-boot 'Oops: int3' race).
USAGE
}

KERNEL=trixie OVERLAY='' TIMEOUT=600 MEM=2G SMP=2 OUT='' APPEND='' TRIES=3 BOOT_TIMEOUT=240 FOLLOW=0
while (($#)); do
	case $1 in
	--kernel) KERNEL=${2:?}; shift 2 ;;
	--overlay) OVERLAY=${2:?}; shift 2 ;;
	--timeout) TIMEOUT=${2:?}; shift 2 ;;
	--mem) MEM=${2:?}; shift 2 ;;
	--smp) SMP=${2:?}; shift 2 ;;
	--out) OUT=${2:?}; shift 2 ;;
	--append) APPEND=${2?}; shift 2 ;;
	--tries) TRIES=${2:?}; shift 2 ;;
	--boot-timeout) BOOT_TIMEOUT=${2:?}; shift 2 ;;
	--follow) FOLLOW=1; shift ;;
	-h | --help) usage; exit 0 ;;
	*) usage >&2; vm_die "unknown argument: $1" ;;
	esac
done
vm_check_kernel "$KERNEL"
[[ -n $OVERLAY ]] || { usage >&2; vm_die "--overlay is required"; }
[[ -f $OVERLAY/guest-main.sh ]] || vm_die "$OVERLAY/guest-main.sh does not exist"
for n in "$TIMEOUT" "$SMP" "$TRIES" "$BOOT_TIMEOUT"; do
	[[ $n =~ ^[1-9][0-9]*$ ]] || vm_die "not a positive number: $n"
done
vm_check_host

T_START=$SECONDS
IMG=$("$VM_HERE/build-image.sh" --kernel "$KERNEL") || vm_die "building the $KERNEL image failed" 6
if [[ -z $OUT ]]; then
	OUT=$(mktemp -d /tmp/vdk-vm-XXXXXX)
else
	mkdir -p "$OUT"
	rm -f "$OUT"/{test.log,dmesg.txt,exit-status,console.log,console-try*.log,qemu.log,results.tar}
fi
OUT=$(cd "$OUT" && pwd)
WORK=$(mktemp -d /tmp/vdk-vm-work-XXXXXX)

QPID='' TAILPID=''
# shellcheck disable=SC2317 # called by the trap
cleanup() {
	if [[ -n $QPID ]] && kill -0 "$QPID" 2>/dev/null; then
		kill -TERM "$QPID" 2>/dev/null || true
		sleep 1
		kill -KILL "$QPID" 2>/dev/null || true
	fi
	[[ -n $TAILPID ]] && kill "$TAILPID" 2>/dev/null
	rm -rf "$WORK"
	return 0
}
trap cleanup EXIT
trap 'vm_log "interrupted"; exit 130' INT
trap 'vm_log "terminated"; exit 143' TERM

INITRD=$(vm_make_initrd "$IMG" "$OVERLAY" "$WORK")
vm_qemu_args "$IMG/vmlinuz" "$INITRD" "$MEM" "$SMP" "vdk.timeout=$TIMEOUT $APPEND"
# shellcheck disable=SC2054 # commas are QEMU's
QEMU_ARGS+=(-monitor none
	-chardev "file,id=con,path=$OUT/console.log" -serial chardev:con
	-device virtio-serial-pci
	-chardev "file,id=res,path=$WORK/results.tar" -device virtserialport,chardev=res,name=results)
# Whole-VM bound: boot, the test's own timeout, its 30 s grace in /init, and
# time to send the results.
VM_TIMEOUT=$((BOOT_TIMEOUT + TIMEOUT + 90))

vm_log "kernel $KERNEL ($(cat "$IMG/kernel-version")), image $IMG"
vm_log "overlay $OVERLAY, test timeout ${TIMEOUT}s, VM timeout ${VM_TIMEOUT}s, results in $OUT"

BOOTED=0 BOOT_SECS=0 BOOT_MS=0
for ((try = 1; try <= TRIES; try++)); do
	rm -f "$OUT/console.log" "$WORK/results.tar"
	: >"$OUT/console.log"
	t0=$(date +%s%3N)
	timeout -k 10 "$VM_TIMEOUT" "${QEMU_ARGS[@]}" </dev/null >"$OUT/qemu.log" 2>&1 &
	QPID=$!
	if ((FOLLOW)); then
		tail -n +1 -f --pid="$QPID" "$OUT/console.log" &
		TAILPID=$!
	fi
	why=
	while :; do
		if grep -qaF "$VM_MARKER" "$OUT/console.log"; then
			BOOTED=1
			break
		fi
		if ! kill -0 "$QPID" 2>/dev/null; then
			why="QEMU exited before /init"
			break
		fi
		if (($(date +%s%3N) - t0 >= BOOT_TIMEOUT * 1000)); then
			why="no /init after ${BOOT_TIMEOUT}s"
			break
		fi
		sleep 0.2
	done
	BOOT_MS=$(($(date +%s%3N) - t0))
	BOOT_SECS=$((BOOT_MS / 1000)).$((BOOT_MS % 1000 / 100))
	((BOOTED)) && break
	kill -TERM "$QPID" 2>/dev/null || true
	wait "$QPID" 2>/dev/null || true
	QPID=
	cp "$OUT/console.log" "$OUT/console-try$try.log"
	vm_log "boot $try of $TRIES failed: $why after ${BOOT_SECS}s (console: $OUT/console-try$try.log)"
	grep -aE 'Oops|panic|BUG' "$OUT/console.log" | head -n 5 | sed 's/^/    /' >&2 || true
done
if ((!BOOTED)); then
	vm_log "FAILED: the guest never reached /init in $TRIES boots"
	exit 3
fi
vm_log "reached /init after ${BOOT_SECS} s (boot $try of $TRIES)"

set +e
wait "$QPID"
QRC=$?
set -e
QPID=
[[ -n $TAILPID ]] && { wait "$TAILPID" 2>/dev/null || true; TAILPID=; }
RUN_SECS=$((SECONDS - T_START))

if [[ -s $WORK/results.tar ]]; then
	cp "$WORK/results.tar" "$OUT/results.tar"
	tar -C "$OUT" -xf "$WORK/results.tar" || vm_log "the results archive is damaged"
fi

if [[ -f $OUT/exit-status ]]; then
	GS=$(cat "$OUT/exit-status")
	if ((!FOLLOW)); then
		echo "---- guest test log ($OUT/test.log) ----"
		cat "$OUT/test.log" 2>/dev/null || true
		echo "---- end of guest test log ----"
	fi
	vm_log "console: $OUT/console.log  dmesg: $OUT/dmesg.txt  test log: $OUT/test.log"
	vm_log "boot to /init ${BOOT_SECS} s, whole run ${RUN_SECS} s"
	case $GS in
	0) vm_log "guest test passed"; exit 0 ;;
	124 | 137) vm_log "FAILED: the guest test timed out after ${TIMEOUT}s (status $GS)"; exit 4 ;;
	'' | *[!0-9]*) vm_log "FAILED: unreadable exit status '$GS'"; exit 5 ;;
	esac
	vm_log "FAILED: guest test exit status $GS"
	if ((GS >= 2 && GS <= 6)); then exit 1; fi
	exit "$((GS > 255 ? 1 : GS))"
fi

vm_log "console: $OUT/console.log  qemu: $OUT/qemu.log"
echo "---- last console lines ----" >&2
tail -n 40 "$OUT/console.log" >&2 || true
if ((QRC == 124 || QRC == 137)); then
	vm_log "FAILED: the VM did not finish within ${VM_TIMEOUT}s and was killed"
	exit 4
fi
vm_log "FAILED: the guest reached /init but sent no results (QEMU status $QRC)"
exit 5
