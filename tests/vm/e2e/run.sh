#!/usr/bin/env bash
# Run the end-to-end scenarios (guest-main.sh) against the real VDUSE module:
# in the test guest, or directly on this host when it has /dev/vduse/control.
#
#   tests/vm/e2e/run.sh [--kernel trixie|sid|experimental|all] [--only REGEX]
#                       [--build DIR]
#                       [--crash-cycles N]   (SIGKILL + recover cycles, default 10)
#                       [--out DIR]   (results in DIR/e2e-KERNEL; default build-vm)
#                       [--debs DIR]  (--only sysd: the .debs; default build-deb)
#                       [--ring split|packed]   (every `vdk add` offers these
#                                                rings; default: vdk's, split on
#                                                the virtio bus, packed on vhost)
#                       [--in-order]   (every `vdk add` offers VIRTIO_F_IN_ORDER)
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
TOP=$(cd "$HERE/../../.." && pwd)
KERNELS=(trixie sid experimental)
ONLY=
APPEND=
BUILD=$TOP/build
OUT=$TOP/build-vm
DEBS=$TOP/build-deb
RING=
IN_ORDER=

while (($#)); do
	case $1 in
	--kernel) [[ $2 == all ]] && KERNELS=(trixie sid experimental) || KERNELS=("$2"); shift 2 ;;
	--only) ONLY=$2; shift 2 ;;
	--crash-cycles) APPEND="${APPEND:+$APPEND }vdk.crash_cycles=$2"; shift 2 ;;
	--build) BUILD=$2; shift 2 ;;
	--out) OUT=$2; shift 2 ;;
	--debs) DEBS=$2; shift 2 ;;
	--ring)
		[[ $2 == split || $2 == packed ]] || { echo "e2e: --ring split|packed" >&2; exit 2; }
		RING=$2; APPEND="${APPEND:+$APPEND }vdk.ring=$2"; shift 2 ;;
	--in-order) IN_ORDER=1; APPEND="${APPEND:+$APPEND }vdk.in_order=1"; shift ;;
	-h|--help) sed -n '2,12p' "$0"; exit 0 ;;
	*) echo "e2e: unknown argument $1" >&2; exit 2 ;;
	esac
done

# 3 GiB of memory: the root file system (about 500 MiB with DPDK) and
# /tmp, where the scenarios keep their backing files, are both in it; with
# 2 GiB /tmp filled up half-way through the scenarios.  The rbd scenarios
# run only when --only names them, in an image of their own with the Ceph
# packages (tests/vm/lib-ceph.sh).
VM_ARGS=(--mem 3G)
if [[ -n $ONLY && rbd =~ $ONLY ]]; then
	VDK_VM_EXTRA_PKGS=$(sed -n 's/^CEPH_PKGS="\(.*\)"$/\1/p' "$TOP/tests/vm/lib-ceph.sh")
	export VDK_VM_EXTRA_PKGS
fi
# So do the systemd scenarios (sysd.sh): an image with systemd-sysv,
# booted with systemd as PID 1 (vdk.systemd=1, tests/vm/init), and the
# packages scripts/build-deb.sh built.
SYSD=0
if [[ -n $ONLY && sysd =~ $ONLY ]]; then
	[[ -z ${VDK_VM_EXTRA_PKGS:-} ]] || { echo "e2e: run sysd and rbd apart (an image each)" >&2; exit 2; }
	SYSD=1
	VDK_VM_EXTRA_PKGS=$(sed -n 's/^SYSD_PKGS="\(.*\)"$/\1/p' "$HERE/sysd.sh")
	export VDK_VM_EXTRA_PKGS
	APPEND="${APPEND:+$APPEND }vdk.systemd=1"
	ls "$DEBS"/vdk_*.deb "$DEBS"/libvdk0_*.deb >/dev/null 2>&1 || {
		echo "e2e: no vdk_*.deb and libvdk0_*.deb in $DEBS (scripts/build-deb.sh $DEBS)" >&2
		exit 2
	}
fi

[[ -d $BUILD ]] || meson setup "$BUILD" "$TOP" -Dtest_hooks=true >/dev/null
ninja -C "$BUILD" cli/vdk >/dev/null

stage=$(mktemp -d /tmp/vdk-e2e-XXXXXX)
trap 'rm -rf "$stage"' EXIT
mkdir -p "$stage/bin"
cp "$HERE"/*.sh "$stage/"
rm -f "$stage/run.sh"
cp "$BUILD/cli/vdk" "$stage/bin/"
if [[ -n $RING || -n $IN_ORDER ]]; then
	# The scenarios' vdk: the real one (still called vdk, as the
	# scenarios look for it by name) with --ring, --in-order after
	# every add.
	mkdir "$stage/bin/real"
	mv "$stage/bin/vdk" "$stage/bin/real/vdk"
	cat >"$stage/bin/vdk" <<EOF
#!/bin/sh
real=\$(dirname "\$0")/real/vdk
[ "\$1" = add ] || exec "\$real" "\$@"
shift
exec "\$real" add ${RING:+--ring $RING} ${IN_ORDER:+--in-order} "\$@"
EOF
	chmod +x "$stage/bin/vdk"
fi
# systemd's end of sd_notify, for the svc scenarios (svc.sh).
cc -O2 -o "$stage/bin/notify-listen" "$HERE/notify-listen.c"
# The libblkio client of the vhost scenarios (vhost.sh).
"$TOP/tests/vhost/build.sh" "$stage/bin"
if ((SYSD)); then
	mkdir "$stage/debs"
	cp "$DEBS"/libvdk0_*.deb "$DEBS"/libvdk-dev_*.deb "$DEBS"/vdk_*.deb "$stage/debs/"
fi

if [[ -c /dev/vduse/control ]]; then
	echo "e2e: this host has VDUSE: running the scenarios here"
	mkdir -p "$stage/results"
	VDK_LIB=$TOP/tests/vm/lib-guest.sh VDK_RESULTS=$stage/results \
		VDK_E2E_RING=${RING:-default} \
		bash "$stage/guest-main.sh"
	exit
fi

rc=0
for k in "${KERNELS[@]}"; do
	out=$OUT/e2e-$k
	rm -rf "$out"
	echo "e2e: kernel $k"
	"$TOP/tests/vm/run.sh" --kernel "$k" --overlay "$stage" --out "$out" \
		"${VM_ARGS[@]}" --timeout 2400 --append "${ONLY:+vdk.only=$ONLY }$APPEND" || rc=1
done
exit $rc
