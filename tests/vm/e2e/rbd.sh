# shellcheck shell=bash
# End-to-end scenarios for vdk blk on the rbd backend, in the test guest:
# a single-node Ceph cluster (lib-ceph.sh: one monitor, one OSD on tmpfs,
# cephx) started in the guest.  Sourced by guest-main.sh, whose helpers it
# uses (run_scenario, add, del, wait_for, sha, expect_fail, $WORK);
# rbd_scenarios runs them all.  Needs the Ceph image: run.sh uses it when
# --only names rbd, the only way these run.

# shellcheck source=../lib-ceph.sh
. "$(dirname "${VDK_LIB:-/vdk/lib-guest.sh}")/lib-ceph.sh"

RBD_ARGS=(id=vdk)

# rbd_add NAME [PARAM...]: a daemon on image NAME (pool rbd) as client.vdk.
rbd_add() {
	local name=$1
	shift
	add "$name" rbd image="$name" "${RBD_ARGS[@]}" "$@"
}

rbd_cleanup() {
	local name
	mountpoint -q /mnt/vdk && umount /mnt/vdk
	for name in "$@"; do
		[[ -e /sys/bus/vdpa/devices/$name ]] && vdk del "$name" >/dev/null 2>&1
	done
	return 0
}

rbd_cluster() {
	ceph_up
	ceph_user vdk
	rbd create --size 64M rdata
	rbd create --size 384M rfs
	rbd create --size 128M rfio
	rbd create --size 64M rrs
	rbd create --size 128M rout
	rbd ls -l | sed 's/^/  /'
}

# ---- add-time errors: clear messages, bounded, nothing left ----

rbd_add_errors() {
	local t0 port
	expect_fail 2 "missing parameter image=" vdk add e0 rbd pool=rbd
	expect_fail 1 "no pool 'nosuch'" vdk add e0 rbd pool=nosuch image=rdata id=vdk timeout=10
	expect_fail 1 "no image 'nosuch' in pool 'rbd'" vdk add e0 rbd image=nosuch id=vdk timeout=10
	expect_fail 1 "no image 'rdata' in pool 'rbd' namespace 'ns'" \
		vdk add e0 rbd image=rdata namespace=ns id=vdk timeout=10
	# Credentials: a key the cluster never issued, and an unknown user.
	ceph-authtool --create-keyring "$WORK/bad.keyring" --gen-key -n client.vdk >/dev/null
	expect_fail 1 "refused client.vdk" \
		vdk add e0 rbd image=rdata id=vdk keyring="$WORK/bad.keyring" timeout=10
	ceph-authtool --create-keyring "$WORK/nobody.keyring" --gen-key -n client.nobody >/dev/null
	expect_fail 1 "refused client.nobody" \
		vdk add e0 rbd image=rdata id=nobody keyring="$WORK/nobody.keyring" timeout=10
	expect_fail 1 "keyring=/nonexistent" vdk add e0 rbd image=rdata keyring=/nonexistent
	# No monitor there: fails after timeout=, not later.
	port=$((20000 + RANDOM % 20000))
	printf '[global]\nmon host = v1:127.0.0.1:%d\n' "$port" >"$WORK/nomon.conf"
	t0=$SECONDS
	expect_fail 1 "cannot reach the cluster's monitors within 4 s" \
		vdk add e0 rbd image=rdata conf="$WORK/nomon.conf" \
		keyring=/etc/ceph/ceph.client.admin.keyring timeout=4
	echo "  unreachable cluster: failed after $((SECONDS - t0)) s"
	((SECONDS - t0 <= 14))
	no_leftovers
}

# ---- data: checksummed dd, compared with what the cluster holds ----

rbd_data() {
	local dev
	dev=$(rbd_add rdata)
	echo "  node $dev"
	[[ $(blockdev --getsize64 "$dev") -eq $((64 << 20)) ]]
	# The image's exports through another client: rbd export.
	# shellcheck disable=SC2317 # called by nbd_dd
	rbd_copy() {
		rm -f "$WORK/rdata.exp"
		rbd export --no-progress rdata "$WORK/rdata.exp" >/dev/null && echo "$WORK/rdata.exp"
	}
	nbd_dd "$dev" rbd_copy
	# Write-zeroes and discard: zeros through the device and in the image.
	blkdiscard -z -o $((8 << 20)) -l $((4 << 20)) "$dev"
	cmp -n $((4 << 20)) <(dd if="$dev" bs=1M skip=8 count=4 iflag=direct status=none) /dev/zero
	blkdiscard -o $((32 << 20)) -l $((8 << 20)) "$dev"
	# The device and the image agree, whatever discard left.
	cmp <(dd if="$dev" bs=1M iflag=direct status=none) "$(rbd_copy)"
	cmp -n $((4 << 20)) <(dd if="$WORK/rdata.exp" bs=1M skip=8 count=4 status=none) /dev/zero
	del rdata
}

rbd_fs() {
	local dev
	dev=$(rbd_add rfs)
	mkfs.ext4 -q -F "$dev"
	mkdir -p /mnt/vdk
	mount "$dev" /mnt/vdk
	cp -a /usr/lib/x86_64-linux-gnu/ceph /mnt/vdk/tree
	cp -a /usr/bin/ceph-mon /usr/bin/ceph-osd /mnt/vdk/tree/
	(cd /mnt/vdk/tree && find . -type f -print0 | sort -z | xargs -0 sha256sum) >"$WORK/rtree.sum"
	umount /mnt/vdk
	fsck.ext4 -f -n "$dev"
	mount "$dev" /mnt/vdk
	(cd /mnt/vdk/tree && sha256sum --quiet -c "$WORK/rtree.sum")
	echo "  $(wc -l <"$WORK/rtree.sum") files, $(du -sm /mnt/vdk/tree | cut -f1) MiB verified"
	umount /mnt/vdk
	del rfs
}

rbd_fio() {
	local q=$1 dev
	dev=$(add rfio -q "$q" rbd image=rfio "${RBD_ARGS[@]}")
	[[ $(ls -d /sys/block/"$(basename "$dev")"/mq/* | wc -l) -eq $q ]]
	# Served confined, librbd's threads included (confine.sh).
	check_confined rfio
	fio --name=verify --filename="$dev" --direct=1 --ioengine=libaio \
		--rw=randwrite --bs=4k --iodepth=16 --numjobs="$q" \
		--size=$((8 / q))M --offset_increment=$((8 / q))M \
		--verify=crc32c --verify_fatal=1 --do_verify=1 \
		--group_reporting --output="$WORK/rfio$q.out"
	grep -E "err= *0" "$WORK/rfio$q.out" >/dev/null
	grep -E "IOPS|err=" "$WORK/rfio$q.out" | sed 's/^/  /'
	# Sequential, for a throughput figure.
	fio --name=seq --filename="$dev" --direct=1 --ioengine=libaio \
		--rw=write --bs=1M --iodepth=8 --size=64M --offset=64M \
		--output="$WORK/rseq$q.out"
	grep -E "WRITE:" "$WORK/rseq$q.out" | sed 's/^ */  /'
	del rfio
}

# ---- online resize: rbd resize reaches the driver by itself ----

rbd_resize() {
	local dev name t0
	dev=$(rbd_add rrs)
	name=$(basename "$dev")
	[[ $(blockdev --getsize64 "$dev") -eq $((64 << 20)) ]]
	t0=$SECONDS
	rbd resize --no-progress --size 160M rrs 2>&1 | sed 's/^/  rbd: /'
	echo "  rbd resize took $((SECONDS - t0)) s"
	wait_for 60 bash -c "[[ \$(cat /sys/block/$name/size) -eq $(((160 << 20) / 512)) ]]"
	echo "  new capacity seen $((SECONDS - t0)) s after rbd resize started"
	dmesg | grep -E "$name: detected capacity change" | tail -n 1 | sed 's/^/  /'
	head -c 1M /dev/urandom >"$WORK/rtail"
	dd if="$WORK/rtail" of="$dev" bs=1M seek=159 oflag=direct status=none
	[[ $(dd if="$dev" bs=1M skip=159 iflag=direct status=none | sha) == $(sha <"$WORK/rtail") ]]
	del rrs
}

# ---- the OSD killed during fio, and started again ----

rbd_outage() {
	# timeout= leaves room for the stalls of a loaded TCG guest (8 s was
	# seen to be too short there) and is still shorter than the outage.
	local dev pid fio_pid t0 el rc=0 tmo=15 ok=0 i
	dev=$(rbd_add rout timeout=$tmo)
	pid=$(cat "$WORK/rout.pid")
	head -c 8M /dev/urandom >"$WORK/rout.pat"
	dd if="$WORK/rout.pat" of="$dev" bs=1M oflag=direct conv=fsync status=none
	fio --name=busy --filename="$dev" --direct=1 --ioengine=libaio \
		--rw=randrw --bs=4k --iodepth=16 --offset=16M --size=64M \
		--time_based --runtime=50 --continue_on_error=all \
		--output="$WORK/rout.fio" >/dev/null 2>&1 &
	fio_pid=$!
	sleep 6
	kill -0 "$fio_pid"
	ceph_osd_stop
	t0=$SECONDS
	log "osd.0 killed"
	# A write and its flush sent now fail, after timeout= and not before
	# (librbd's cache may take the write: the flush cannot succeed).
	dd if=/dev/urandom of="$dev" bs=4k count=1 seek=3000 oflag=direct conv=fsync \
		status=none 2>"$WORK/rout.dd" || rc=$?
	el=$((SECONDS - t0))
	echo "  write during the outage: status $rc after $el s ($(head -c 80 "$WORK/rout.dd"))"
	((rc != 0 && el >= tmo - 1 && el <= tmo + 6))
	# The daemon is still there; the cluster comes back.
	kill -0 "$pid"
	sleep 4
	ceph_osd_start
	t0=$SECONDS
	# New writes and reads work again, on the same device.
	for ((i = 0; i < 90; i++)); do
		if dd if="$WORK/rout.pat" of="$dev" bs=1M count=1 seek=12 oflag=direct status=none 2>/dev/null &&
			[[ $(dd if="$dev" bs=1M count=1 skip=12 iflag=direct status=none | sha) == \
			   $(head -c 1M "$WORK/rout.pat" | sha) ]]; then
			ok=1
			break
		fi
		sleep 1
	done
	echo "  I/O works again $((SECONDS - t0)) s after the OSD was back"
	((ok))
	wait "$fio_pid" || true
	grep -E "err=|IOPS" "$WORK/rout.fio" | sed 's/^/  fio: /'
	grep -qE "err= *[1-9]|error=" "$WORK/rout.fio"
	# The daemon's log told both: the requests failed, the cluster back.
	grep -E "request\(s\) failed|answers again" "$WORK/rout.log" | head -n 4 | sed 's/^/  log: /'
	grep -q "rout: queue [0-9]*: [0-9]* request(s) failed with an I/O error: no answer from the cluster within timeout=$tmo s" "$WORK/rout.log"
	grep -q "rout: queue [0-9]*: the cluster answers again" "$WORK/rout.log"
	# What was written before the outage is intact.
	[[ $(dd if="$dev" bs=1M count=8 iflag=direct status=none | sha) == $(sha <"$WORK/rout.pat") ]]
	# And a verified run after it.
	fio --name=after --filename="$dev" --direct=1 --ioengine=libaio \
		--rw=randwrite --bs=4k --iodepth=16 --offset=96M --size=16M \
		--verify=crc32c --verify_fatal=1 --do_verify=1 \
		--output="$WORK/rout2.fio"
	grep -E "err= *0" "$WORK/rout2.fio" >/dev/null
	[[ $(cat "$WORK/rout.pid") == "$pid" ]] && kill -0 "$pid"
	grep -cE "I/O error" <(dmesg) | sed 's/^/  kernel I\/O errors logged: /' || true
	del rout
}

rbd_scenarios() {
	local failed=$VDK_FAILED
	run_scenario "rbd 0. single-node Ceph cluster in the guest" rbd_cluster
	if ((VDK_FAILED > failed)); then
		cp "$CEPH_DIR"/*.log "$VDK_RESULTS/" 2>/dev/null || true
		ceph_down
		return 0
	fi
	run_scenario "rbd 1. add-time errors: pool, image, credentials, no cluster" rbd_add_errors
	run_scenario "rbd 2. patterned dd O_DIRECT, compared with rbd export; discard, write-zeroes" rbd_data
	run_scenario "rbd 3. mkfs.ext4, copy a tree, fsck, remount, compare" rbd_fs
	rbd_cleanup rfs
	run_scenario "rbd 4a. fio randwrite verify=crc32c, 1 queue" rbd_fio 1
	run_scenario "rbd 4b. fio randwrite verify=crc32c, 2 queues" rbd_fio 2
	run_scenario "rbd 5. rbd resize reaches the driver (no vdk resize)" rbd_resize
	run_scenario "rbd 6. OSD killed during fio: EIO after timeout=, recovery, data intact" rbd_outage
	rbd_cleanup rdata rfs rfio rrs rout
	cp "$CEPH_DIR"/*.log "$VDK_RESULTS/" 2>/dev/null || true
	ceph_down
}
