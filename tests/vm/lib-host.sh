# Helpers shared by run.sh and shell.sh (sourced on the host, not run).
# shellcheck shell=bash disable=SC2034 # variables used by the callers

VM_MARKER=VDK-INIT-REACHED

# vm_die MESSAGE [EXIT_CODE (default 2)]
vm_die() { printf '%s: error: %s\n' "${VM_PROG:-vm}" "$1" >&2; exit "${2:-2}"; }
vm_log() { printf '%s: %s\n' "${VM_PROG:-vm}" "$*" >&2; }

vm_check_host() {
	local missing=() c
	for c in qemu-system-x86_64:qemu-system-x86 cpio:cpio zstd:zstd timeout:coreutils; do
		command -v "${c%%:*}" >/dev/null 2>&1 || missing+=("${c#*:}")
	done
	((${#missing[@]} == 0)) || { printf '%s: error: missing host packages: %s (apt-get install them)\n' \
		"${VM_PROG:-vm}" "${missing[*]}" >&2; exit 2; }
}

vm_check_kernel() {
	case $1 in trixie | sid | experimental) ;; *) vm_die "--kernel must be trixie, sid or experimental, not '$1'" ;; esac
}

# vm_make_initrd IMAGE_DIR OVERLAY_DIR|"" WORK_DIR -> prints the initrd path.
# The cached compressed image (padded to 512 bytes when built) followed by an
# uncompressed newc archive: /vdk/lib-guest.sh, /vdk/lib-ceph.sh and the
# overlay at /vdk-test/.
vm_make_initrd() {
	local img=$1 overlay=$2 work=$3 stage=$3/stage size
	rm -rf "$stage"
	mkdir -p "$stage/vdk" "$stage/vdk-test"
	install -m 0644 "$VM_HERE/lib-guest.sh" "$stage/vdk/lib-guest.sh"
	install -m 0644 "$VM_HERE/lib-ceph.sh" "$stage/vdk/lib-ceph.sh"
	if [[ -n $overlay ]]; then
		cp -aL "$overlay/." "$stage/vdk-test/"
	fi
	cp "$img/rootfs.cpio.zst" "$work/initrd"
	size=$(stat -c %s "$work/initrd")
	if ((size % 512)); then truncate -s %512 "$work/initrd"; fi
	(cd "$stage" && find vdk vdk-test | cpio --quiet -o -H newc -R 0:0) >>"$work/initrd"
	echo "$work/initrd"
}

# vm_qemu_args KERNEL_IMAGE INITRD MEM SMP APPEND -> fills the array QEMU_ARGS.
vm_qemu_args() {
	QEMU_ARGS=(qemu-system-x86_64 -accel "tcg,thread=${VDK_VM_TCG_THREAD:-multi}"
		-smp "$4" -m "$3" -cpu max
		-nodefaults -no-user-config -display none -no-reboot
		-kernel "$1" -initrd "$2"
		-append "console=ttyS0 panic=-1 $5")
}
