#!/bin/bash
# Harness self-test: the test's I/O hangs in D state on a VDUSE disk whose
# daemon was killed; run.sh --timeout 20 must still exit 4 with results.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=../../lib-guest.sh
. "$VDK_LIB"
load_vduse_modules
truncate -s 64M /tmp/disk.raw
qemu-storage-daemon --blockdev file,filename=/tmp/disk.raw,node-name=d0 \
	--export vduse-blk,id=e0,node-name=d0,name=qsd0,writable=on,num-queues=1 &
wait_for 20 test -c /dev/vduse/qsd0
vdpa dev add name qsd0 mgmtdev vduse
dev=$(wait_vdpa_disk qsd0)
kill -KILL %1
echo "reading $dev with its daemon dead"
dd if="$dev" of=/dev/null bs=4k count=1 iflag=direct
