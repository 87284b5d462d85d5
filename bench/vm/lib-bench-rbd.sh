# Contenders on a Ceph RBD image, for the benchmark in the guest (sourced
# after lib-bench.sh, whose vdk_setup, qsd_setup and conventions they use:
# setup_C QUEUES NAME sets DEV[NAME] and PID[NAME], teardown_C NAME undoes
# it).
# shellcheck shell=bash
#
#   rbd_bench_up       the single-node cluster of tests/vm/lib-ceph.sh (one
#                      monitor, one bluestore OSD on tmpfs) and the image
#                      rbd/$RBD_BENCH_IMAGE of SIZE MiB; once per boot
#   vdk-rbd            vdk blk, rbd backend, on that image
#   qsd-rbd            qemu-storage-daemon's vduse-blk export of an rbd
#                      blockdev on the same image
#   rbd_bench_down     the cluster gone
#
# Both serve the one image: the same data, in the same state of the OSD's
# cache (with an image each, filled one after the other, the image filled
# last had the warmer cache: up to 1.8x the reads of the other in the
# first rep).  The phase sets every contender up before the jobs, so both
# hold the image open at once; it has the layering feature only, without
# the exclusive lock (and the object map that needs it), which would
# otherwise pass from one client to the other at the first write of every
# run.  Both run as client.admin, with librbd's defaults on both sides (rbd
# cache on, writethrough until the first flush: QEMU's cache.direct=off,
# the default, asks for just that).  The data stays in the image between
# runs; rbd_bench_up fills it once (not stores_data's prefill, which would
# fill it once per contender).
#
# The guest needs the Ceph packages and memory: build the image with
# VDK_VM_EXTRA_PKGS="$CEPH_PKGS" (listed in tests/vm/lib-ceph.sh: ceph-mon
# ceph-osd ceph-common) and boot it with --mem 3G; QEMU's rbd driver comes
# with qemu-block-extra.  Figures under TCG include the whole Ceph stack
# (messenger, OSD, bluestore) in the same two vCPUs.

# shellcheck source=../../tests/vm/lib-ceph.sh
. "$(dirname "${VDK_LIB:-/vdk/lib-guest.sh}")/lib-ceph.sh"

RBD_BENCH_IMAGE=${RBD_BENCH_IMAGE:-bench}

# The image is written whole once (1 MiB sequential writes), so that reads
# reach bluestore's data and not unallocated objects; OSD_PID is the OSD's
# process, whose CPU time guest-main.sh records beside the daemon's.
rbd_bench_up() {
	ceph_up || return
	rbd create --size "${SIZE}M" --image-feature layering \
		"$RBD_BENCH_IMAGE" || return
	rbd bench --io-type write --io-size 1M --io-threads 8 --io-pattern seq \
		--io-total "${SIZE}M" "$RBD_BENCH_IMAGE" >"$R/rbd-fill.txt" 2>&1 || return
	# shellcheck disable=SC2034 # read by guest-main.sh
	OSD_PID=$(pgrep -x ceph-osd | head -n 1)
	ceph --version >"$R/ceph-version.txt" 2>&1 || true
}

# After a failed run: is it the cluster?
run_failed() { ceph_report; }

rbd_bench_down() {
	ceph_report >"$R/ceph-end.txt" 2>&1
	cp "$CEPH_DIR"/*.log "$R/" 2>/dev/null || true
	ceph_down
}

setup_vdk-rbd() { vdk_setup "$1" "$2" rbd image="$RBD_BENCH_IMAGE" pool=rbd; }
teardown_vdk-rbd() { vdk_teardown "$1"; }
# The same, served by the vdk of --base (the commit before).
setup_vdk-rbd-base() { VDK_BIN=vdk-base setup_vdk-rbd "$@"; }
teardown_vdk-rbd-base() { VDK_BIN=vdk-base vdk_teardown "$1"; }

# QSD_OPTS is for the file and null-co nodes (aio=...): not for rbd.
setup_qsd-rbd() {
	QSD_OPTS='' qsd_setup "$1" "$2" \
		"rbd,node-name=n0,pool=rbd,image=$RBD_BENCH_IMAGE,conf=$CEPH_CONF,user=admin"
}
teardown_qsd-rbd() { qsd_teardown "$1"; }
