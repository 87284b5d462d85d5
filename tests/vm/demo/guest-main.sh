#!/bin/bash
# The demo, inside the test guest: vdk serves a RAM disk through the real
# VDUSE module; the kernel's virtio-blk driver sees /dev/vdX.
set -euo pipefail
. "${VDK_LIB:-/vdk/lib-guest.sh}"
export PATH="$(cd "$(dirname "$0")" && pwd)/bin:$PATH"

step() { printf '\n$ %s\n' "$*"; "$@"; }

load_vduse_modules
echo "kernel $(uname -r); $(vdk --version)"
dev=$(vdk add -d -p /run/demo.pid demo ram size=256M)
echo "vdk add demo ram size=256M  ->  $dev"
step vdk list
step lsblk "$dev"
step mkfs.ext4 -q -L vdk-demo "$dev"
mkdir -p /mnt/demo
step mount "$dev" /mnt/demo
cp -a /usr/share/zoneinfo /mnt/demo/ 2>/dev/null || cp -a /etc /mnt/demo/etc
step df -h /mnt/demo
step umount /mnt/demo
step fsck.ext4 -f -n "$dev"
step vdk del demo
scenario "demo"
pass
summary
