#!/bin/bash
set -uo pipefail
. "${VDK_LIB:-/vdk/lib-guest.sh}"
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
export PATH="$HERE:$PATH"
O=$VDK_RESULTS/dbg.txt
load_vduse_modules
mkdir -p /tmp/w
fio --name=fill --filename=/tmp/w/img --rw=write --bs=1M --size=256M --ioengine=psync >/dev/null
run() {
	local tag=$1 busy=$2 sp srv dev
	dev=$(vdk add -d -q 1 -p /tmp/w/pid --log "$VDK_RESULTS/$tag.log" d0 file path=/tmp/w/img)
	srv=$(vdk list -j d0 | sed -n 's/.*"server_pid": *\([0-9]*\).*/\1/p')
	if ((busy)); then stress-ng --cpu 1 --cpu-method int64 --timeout 30 >/dev/null 2>&1 & sp=$!; sleep 1; fi
	fio --name=x --filename="$dev" --direct=1 --ioengine=libaio --rw=randread --bs=4k --iodepth=1 \
		--time_based --runtime=6 --output-format=terse >/tmp/w/fio.out 2>&1
	echo "$tag: iops=$(cut -d';' -f8 /tmp/w/fio.out) daemon ticks $(awk '{s+=$14+$15} END {print s}' /proc/$srv/task/*/stat)" >>"$O"
	((busy)) && { kill $sp; wait $sp; }
	vdk del d0
	sleep 1
	grep DBG "$VDK_RESULTS/$tag.log" >>"$O"
}
run quiet 0
run busy 1
VDK_POLL_US=0 run busy-nopoll 1
VDK_POLL_US=0 run quiet-nopoll 0
exit 0
