#!/usr/bin/env bash
# vdk's main job: serve a disk from userspace through VDUSE.
#
# On a host with VDUSE (Linux 5.15+ with the vduse module) this creates a
# 1 GiB RAM-backed disk, prints its node and serves it until Ctrl-C.
# Elsewhere (no VDUSE in this kernel) it builds or reuses the test guest
# (tests/vm/), boots it under QEMU and shows vdk serving a disk there: its
# node, lsblk, a file system made and checked on it.
set -euo pipefail

TOP=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$TOP"

has_vduse() {
	[[ -c /dev/vduse/control ]] ||
		{ modprobe -q vduse 2>/dev/null && modprobe -q virtio_vdpa &&
			modprobe -q virtio_blk && [[ -c /dev/vduse/control ]]; }
}

if has_vduse; then
	bash scripts/install-deps.sh --build-only
	[[ -d build ]] || meson setup build >/dev/null
	ninja -C build cli/vdk >/dev/null
	echo "Serving a 1 GiB RAM disk; Ctrl-C removes it."
	exec ./build/cli/vdk add demo ram size=1G
fi

echo "This kernel has no VDUSE: running the demo in the test guest."
bash scripts/install-deps.sh
[[ -d build ]] || meson setup build >/dev/null
ninja -C build cli/vdk >/dev/null
stage=$(mktemp -d /tmp/vdk-demo-XXXXXX)
trap 'rm -rf "$stage"' EXIT
mkdir -p "$stage/bin"
cp tests/vm/demo/guest-main.sh "$stage/"
cp build/cli/vdk "$stage/bin/"
tests/vm/run.sh --kernel trixie --overlay "$stage" --timeout 300
