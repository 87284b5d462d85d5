#!/bin/bash
# Boot the VM test guest with an interactive shell on the serial console, for
# experiments. See tests/vm/README.md.
set -euo pipefail

VM_HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
VM_PROG=shell.sh
# shellcheck source=lib-host.sh
. "$VM_HERE/lib-host.sh"

usage() {
	cat <<USAGE
Usage: $(basename "$0") [--kernel trixie|sid|experimental] [--overlay DIR]
          [--mem SIZE] [--smp N] [--append ARGS] [--timeout SECS]

Boots the same guest as run.sh, with a root shell on the serial console
instead of running a test. The overlay DIR, if given, is at /vdk-test (its
guest-main.sh is not started: run it with 'bash /vdk-test/guest-main.sh');
the test helpers are at /vdk/lib-guest.sh.

  --kernel K      trixie (6.12, default), sid (newest in unstable) or
                  experimental (newest in experimental: 7.3)
  --overlay DIR   files to put at /vdk-test in the guest
  --mem SIZE      guest memory (2G)
  --smp N         guest CPUs (2)
  --append ARGS   extra kernel command line arguments
  --timeout SECS  the VM is killed after this long (14400)
  -h, --help      this text

Leave with 'exit' in the shell (the guest powers off) or Ctrl-A X (QEMU quits).
Ctrl-C goes to the guest. Ctrl-A C switches to the QEMU monitor and back.
USAGE
}

KERNEL=trixie OVERLAY='' MEM=2G SMP=2 APPEND='' TIMEOUT=14400
while (($#)); do
	case $1 in
	--kernel) KERNEL=${2:?}; shift 2 ;;
	--overlay) OVERLAY=${2:?}; shift 2 ;;
	--mem) MEM=${2:?}; shift 2 ;;
	--smp) SMP=${2:?}; shift 2 ;;
	--append) APPEND=${2?}; shift 2 ;;
	--timeout) TIMEOUT=${2:?}; shift 2 ;;
	-h | --help) usage; exit 0 ;;
	*) usage >&2; vm_die "unknown argument: $1" ;;
	esac
done
vm_check_kernel "$KERNEL"
[[ -z $OVERLAY || -d $OVERLAY ]] || vm_die "overlay $OVERLAY is not a directory"
[[ $TIMEOUT =~ ^[1-9][0-9]*$ ]] || vm_die "not a positive number: $TIMEOUT"
vm_check_host
[[ -t 0 ]] || vm_log "warning: standard input is not a terminal"

IMG=$("$VM_HERE/build-image.sh" --kernel "$KERNEL") || vm_die "building the $KERNEL image failed" 6
WORK=$(mktemp -d /tmp/vdk-vm-shell-XXXXXX)
trap 'rm -rf "$WORK"' EXIT

INITRD=$(vm_make_initrd "$IMG" "$OVERLAY" "$WORK")
vm_qemu_args "$IMG/vmlinuz" "$INITRD" "$MEM" "$SMP" "vdk.shell=1 $APPEND"
# Same devices as run.sh, so the guest looks the same (virtio indexes).
# shellcheck disable=SC2054 # commas are QEMU's
QEMU_ARGS+=(-serial mon:stdio
	-device virtio-serial-pci
	-chardev "file,id=res,path=$WORK/results.tar" -device virtserialport,chardev=res,name=results)

vm_log "kernel $KERNEL ($(cat "$IMG/kernel-version")); booting takes 10-20 s; Ctrl-A X quits"
# --foreground: QEMU keeps the terminal; the VM is still killed at the limit.
set +e
timeout --foreground -k 10 "$TIMEOUT" "${QEMU_ARGS[@]}"
rc=$?
set -e
stty sane 2>/dev/null || true
((rc == 124)) && vm_log "the VM was killed after ${TIMEOUT}s"
exit "$rc"
