# A single-node Ceph cluster inside the test guest: one monitor, one OSD
# (bluestore on a sparse file in a tmpfs of its own), no manager, cephx on.
# In the guest: . /vdk/lib-ceph.sh (the harness puts it beside
# lib-guest.sh). Used by tests/vm/e2e/rbd.sh and bench/vm/lib-bench-rbd.sh.
# Needs an image with the Ceph packages (CEPH_PKGS below, given to
# build-image.sh as VDK_VM_EXTRA_PKGS) and about 3 GiB of guest memory.
# shellcheck shell=bash
#
#   ceph_up                      # monitor, OSD, pool "rbd"; admin keyring
#   ceph_user vdk                # client.vdk with rbd caps, its keyring
#   rbd create --size 256M disk  # then as usual (the ceph and rbd commands
#                                # find /etc/ceph/ceph.conf)
#   ceph_osd_stop / ceph_osd_start   # the OSD killed (SIGKILL) and back
#   ceph_down                    # every daemon gone
#
# The cluster's directory is a tmpfs of CEPH_TMPFS_MIB, sized for the OSD's
# block file (CEPH_BLOCK_MIB) and the monitor's store: bluestore's allocator
# walks through the whole block before it reuses freed space, and it never
# punches holes in a file, so the file ends up using its full size in
# memory.  In the guest's /tmp (half the memory) a 2 GiB file ran out of
# room after about 1.8 GiB of writes: the OSD's writes failed with ENOSPC
# and the cluster stopped answering writes.  The 512 MiB beside the block
# are for the monitor's store and the logs: the monitor warns below 30 %
# free and stops below 5 % (with 256 MiB, 17 % were left after a
# benchmark).
#
# The OSD takes the settings of an SSD (bluestore debug enforce settings):
# its block is memory, and with a file bluestore assumes a disk that
# seeks.  As one, it sent every 4 KiB write through RocksDB's log first
# (deferred writes), and RocksDB grew from 26 to 277 MiB over 96 MiB of
# such writes, until the OSD of a long benchmark was near full; as an SSD
# it writes them in place and stays near 300 MiB used for a 256 MiB image.
#
# Traps (see shared notes): Debian's osd_class_dir is relative (rbd create
# then fails with EOPNOTSUPP): it is set absolute here. Without a manager
# nothing reports PG states: rbd create simply waits until PGs are active.

CEPH_PKGS="ceph-mon ceph-osd ceph-common"
CEPH_DIR=/tmp/ceph
CEPH_CONF=/etc/ceph/ceph.conf
CEPH_BLOCK_MIB=${CEPH_BLOCK_MIB:-1024}
CEPH_TMPFS_MIB=$((CEPH_BLOCK_MIB + 512))

_ceph_log() { printf '[%6s] ceph: %s\n' "$(cut -d' ' -f1 /proc/uptime)" "$*"; }

# _ceph_wait SECS CMD...: until CMD succeeds, at most SECS.
_ceph_wait() {
	local end=$((SECONDS + $1))
	shift
	until "$@" >/dev/null 2>&1; do
		((SECONDS < end)) || { echo "ceph: timed out waiting for: $*" >&2; return 1; }
		sleep 0.5
	done
}

_ceph_osd_up() { ceph osd stat 2>/dev/null | grep -q '1 up.*1 in'; }
# The OSD itself says it is active (after a kill the monitor still believes
# the old one up: it has no peer to report it down).
_ceph_osd_active() { ceph daemon osd.0 status 2>/dev/null | grep -q '"state": "active"'; }

ceph_up() {
	local t0=$SECONDS fsid osd_uuid secret id
	command -v ceph-mon >/dev/null || { echo "ceph: no ceph-mon in this image (needs $CEPH_PKGS)" >&2; return 1; }
	! mountpoint -q "$CEPH_DIR" || umount "$CEPH_DIR" || return
	rm -rf "$CEPH_DIR"
	mkdir -p "$CEPH_DIR" /etc/ceph /var/lib/ceph/bootstrap-osd
	mount -t tmpfs -o "size=${CEPH_TMPFS_MIB}m,mode=700" tmpfs "$CEPH_DIR" || return
	mkdir -p "$CEPH_DIR/run"
	fsid=$(cat /proc/sys/kernel/random/uuid)
	cat >"$CEPH_CONF" <<-EOF
	[global]
	fsid = $fsid
	mon initial members = a
	mon host = [v2:127.0.0.1:3300,v1:127.0.0.1:6789]
	auth cluster required = cephx
	auth service required = cephx
	auth client required = cephx
	osd pool default size = 1
	osd pool default min size = 1
	osd pool default pg autoscale mode = off
	mon allow pool size one = true
	mon warn on pool no redundancy = false
	osd crush chooseleaf type = 0
	run dir = $CEPH_DIR/run
	pid file = $CEPH_DIR/run/\$name.pid
	log file = $CEPH_DIR/\$name.log
	[mon]
	mon data = $CEPH_DIR/mon-\$id
	[osd]
	osd data = $CEPH_DIR/osd-\$id
	osd objectstore = bluestore
	bluestore block create = true
	bluestore block size = $((CEPH_BLOCK_MIB << 20))
	osd memory target = 939524096
	bluestore debug enforce settings = ssd
	osd class dir = /usr/lib/x86_64-linux-gnu/rados-classes
	EOF
	ceph-authtool --create-keyring "$CEPH_DIR/mon.keyring" --gen-key -n mon. --cap mon 'allow *' >/dev/null || return
	ceph-authtool --create-keyring /etc/ceph/ceph.client.admin.keyring --gen-key -n client.admin \
		--cap mon 'allow *' --cap osd 'allow *' --cap mgr 'allow *' >/dev/null || return
	ceph-authtool "$CEPH_DIR/mon.keyring" --import-keyring /etc/ceph/ceph.client.admin.keyring >/dev/null || return
	monmaptool --create --addv a '[v2:127.0.0.1:3300,v1:127.0.0.1:6789]' --fsid "$fsid" "$CEPH_DIR/monmap" >/dev/null || return
	ceph-mon --mkfs -i a --monmap "$CEPH_DIR/monmap" --keyring "$CEPH_DIR/mon.keyring" || return
	ceph-mon -i a || return
	_ceph_log "monitor up after $((SECONDS - t0)) s"

	osd_uuid=$(cat /proc/sys/kernel/random/uuid)
	secret=$(ceph-authtool --gen-print-key)
	id=$(echo "{\"cephx_secret\": \"$secret\"}" | ceph osd new "$osd_uuid" -i -) || return
	[[ $id == 0 ]] || { echo "ceph: the OSD got id '$id'" >&2; return 1; }
	mkdir -p "$CEPH_DIR/osd-0"
	ceph-authtool --create-keyring "$CEPH_DIR/osd-0/keyring" --name osd.0 --add-key "$secret" >/dev/null || return
	ceph-osd -i 0 --mkfs --osd-uuid "$osd_uuid" >"$CEPH_DIR/osd-mkfs.log" 2>&1 ||
		{ tail -n 20 "$CEPH_DIR/osd-mkfs.log" >&2; return 1; }
	ceph_osd_start || return
	ceph osd pool create rbd 8 8 >/dev/null 2>&1 || return
	rbd pool init rbd || return
	_ceph_log "cluster ready after $((SECONDS - t0)) s"
}

# ceph_user NAME: client.NAME allowed to use the images of pool rbd, with
# its keyring in /etc/ceph/ceph.client.NAME.keyring.
ceph_user() {
	ceph auth get-or-create "client.$1" mon 'profile rbd' osd 'profile rbd pool=rbd' \
		-o "/etc/ceph/ceph.client.$1.keyring" >/dev/null
}

# ceph_osd_start: start osd.0 and wait until the monitor has it up and in.
ceph_osd_start() {
	local t0=$SECONDS
	ceph-osd -i 0 >>"$CEPH_DIR/osd-start.log" 2>&1 || return
	_ceph_wait 180 _ceph_osd_active || return
	_ceph_wait 180 _ceph_osd_up || return
	_ceph_log "osd.0 up after $((SECONDS - t0)) s"
}

# _ceph_kill NAME: the daemon of that name (osd.0, mon.a) killed, gone.
_ceph_kill() {
	local pidf=$CEPH_DIR/run/$1.pid pid
	[[ -s $pidf ]] || return 0
	pid=$(cat "$pidf")
	kill -KILL "$pid" 2>/dev/null || true
	rm -f "$pidf"
	_ceph_wait 30 bash -c "! kill -0 $pid"
}

# ceph_osd_stop: osd.0 killed, as a crash would (nothing told the monitor).
ceph_osd_stop() { _ceph_kill osd.0; }

ceph_down() {
	_ceph_kill osd.0 || true
	_ceph_kill mon.a || true
}

# ceph_report: the cluster's health and the room left, for a log (from
# the OSD's own counters: without a manager, ceph df has no figures).
ceph_report() {
	timeout 20 ceph health detail 2>&1 | head -n 20
	timeout 20 ceph daemon osd.0 bluefs stats 2>&1 | grep -m 1 'device size'
	timeout 20 ceph daemon osd.0 perf dump 2>/dev/null | python3 -c '
import json, sys
fs = json.load(sys.stdin).get("bluefs", {})
print("RocksDB (bluefs): %d MiB used" % (fs.get("db_used_bytes", 0) >> 20))' 2>&1
	df -m "$CEPH_DIR" | tail -n 1
}
