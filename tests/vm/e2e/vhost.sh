# shellcheck shell=bash
# End-to-end scenarios for vdk devices on the vhost-vdpa bus, in the test
# guest, with userspace clients in place of a VM: blkio-check (our libblkio
# client, tests/vhost), hostile-client (raw vhost-vdpa, malformed rings,
# tests/vhost) and QEMU's blkio driver (qemu-img, qemu-io).  Their memory
# reaches the daemon through the IOTLB, not VDUSE's bounce buffer.
# Sourced by guest-main.sh, whose helpers it uses (run_scenario, add, del,
# wait_for, sha, expect_fail, $WORK); vhost_scenarios runs them all.

VH_SIZE=32M      # what blkio-check covers: [0, 32 MiB)
VH_PID=

# vh_add NAME ARGS...: a device on the vhost bus; prints its node.
vh_add() {
	local name=$1 node
	shift
	node=$(add "$name" --bus vhost "$@")
	[[ $node =~ ^/dev/vhost-vdpa-[0-9]+$ && -c $node ]] ||
		{ echo "  bad node '$node'" >&2; return 1; }
	echo "$node"
}

# vh_pid NAME: the daemon of NAME (VH_PID) and the process that maps the
# client's memory (VH_SERVER: the confined serving process, else the
# daemon itself), which vh_maps looks at.
vh_pid() {
	VH_PID=$(cat "$WORK/$1.pid")
	VH_SERVER=$(vdk list -j "$1" | sed -n 's/.*"server_pid": *\([0-9]*\).*/\1/p')
	VH_SERVER=${VH_SERVER:-$VH_PID}
}

# vh_blkio NODE ARGS...: blkio-check on NODE, bounded.
vh_blkio() {
	local node=$1
	shift
	timeout 300 blkio-check --path "$node" --size "$VH_SIZE" "$@"
}

# vh_qemu_opts NODE: QEMU's blkio driver on NODE (cache.direct=on is a must).
vh_qemu_opts() {
	echo "driver=virtio-blk-vhost-vdpa,path=$1,cache.direct=on"
}

# vh_maps: mappings of client memory (memfd) the daemon holds.
vh_maps() { grep -c 'memfd:' "/proc/$VH_SERVER/maps" || true; }

# vh_client_on: a client has started the device (its memory is mapped).
vh_client_on() { [[ $(vh_maps) -gt 0 ]]; }

# vh_log_clean NAME: the daemon refused no request, broke no queue.
vh_log_clean() {
	! grep -E 'broken|refused|not in flight' "$WORK/$1.log" >&2
}

# vh_list NAME BUS NODE: vdk list shows the device there.
vh_list() {
	local j
	j=$(vdk list -j "$1")
	echo "  list: $j"
	[[ $j == *"\"node\":\"$3\""* && $j == *"\"bus\":\"$2\""* &&
	   $j == *'"state":"running"'* ]]
	grep -q "\"bus\":\"$2\",\"node\":\"$3\"" "/run/vdk/$1.json"
}

# ---- 1. blkio-check on 4 queues; clients one after another ----

# vh_blkio_peak NODE: blkio-check on 4 queues with region swaps, seed 1;
# VH_PEAK is the most client mappings the daemon held at once (sampled).
vh_blkio_peak() {
	local i
	vh_blkio "$1" --queues 4 --qd 16 --seed 1 &
	VH_PEAK=0
	while kill -0 $! 2>/dev/null; do
		i=$(vh_maps)
		((i > VH_PEAK)) && VH_PEAK=$i
		sleep 0.2
	done
	wait $!
}

vhost_blkio() {
	local img=$WORK/vh1.img node i q during
	truncate -s 128M "$img"
	node=$(vh_add vh1 -q 4 file path="$img")
	vh_pid vh1
	echo "  node $node"
	vh_list vh1 vhost "$node"
	# Its regions change while the queues run: the daemon unmaps the
	# old ones as it goes (the most it held at once, sampled).
	vh_blkio_peak "$node"
	echo "  client memory mappings in the daemon: at most $VH_PEAK during region swaps"
	# About 70 regions live at once; each swap replaces the whole map.
	# Measured on both kernels: 91 to 208; 760 when retired mappings stayed
	# until the reset.  A queue thread kept off the CPU holds back the
	# unmapping of all that was retired since it last ran: 566 once on
	# sid, under TCG.  Then the same client runs once more (it writes the
	# same data): without the unmapping, every run ends near 760.
	if ((VH_PEAK >= 450)); then
		vh_blkio_peak "$node"
		echo "  once more: at most $VH_PEAK"
	fi
	((VH_PEAK > 0 && VH_PEAK < 450))
	# Five clients in a row, each on its own queue count, each first
	# checking what the one before left.
	for i in 2 3 4 5 6; do
		q=$(( (i % 3) + 1 ))
		[[ $q -eq 3 ]] && q=4
		vh_blkio "$node" --queues "$q" --qd 8 --seed "$i" --expect $((i - 1))
	done
	# What the last one wrote is in the backing file.
	cmp <(blkio-check --pattern 6 --size "$VH_SIZE") <(head -c "$VH_SIZE" "$img")
	# The daemon maps client memory only while a client runs: nothing of
	# a client that has gone stays mapped.
	vh_blkio "$node" --queues 4 --bench randread --seconds 6 >"$WORK/vh1.bench" &
	wait_for 6 vh_client_on
	during=$(vh_maps)
	wait $!
	echo "  client memory mappings in the daemon: $during while a client ran, $(vh_maps) after"
	((during > 0))
	[[ $(vh_maps) -eq 0 ]]
	vh_log_clean vh1
	del vh1
}

# ---- 2. QEMU's blkio driver: qemu-io, qemu-img convert ----

vhost_qemu() {
	local img=$WORK/vh2.img node opts out
	truncate -s 64M "$img"
	node=$(vh_add vh2 -q 2 file path="$img")
	vh_pid vh2
	opts=$(vh_qemu_opts "$node")
	out=$(qemu-io --image-opts "$opts" -c 'write -P 0x5a 1M 3M' \
		-c 'read -P 0x5a 1M 3M' -c 'write -z 2M 512k' \
		-c 'read -P 0 2M 512k' -c flush 2>&1)
	echo "$out" | sed 's/^/  qemu-io: /'
	! grep -qiE 'fail|error' <<<"$out"
	cmp -n $((3 << 20)) -i $((1 << 20)):0 "$img" <(
		head -c $((1 << 20)) /dev/zero | tr '\0' '\132'
		head -c $((512 << 10)) /dev/zero
		head -c $((1536 << 10)) /dev/zero | tr '\0' '\132')
	# A file in, through the driver; the device out again, to a file.
	head -c 24M /dev/urandom >"$WORK/vh2.rand"
	qemu-img convert -n -f raw "$WORK/vh2.rand" --target-image-opts "$opts"
	cmp -n $((24 << 20)) "$WORK/vh2.rand" "$img"
	qemu-img convert --image-opts "$opts" -O raw "$WORK/vh2.back"
	cmp -n $((24 << 20)) "$WORK/vh2.rand" "$WORK/vh2.back"
	[[ $(stat -c %s "$WORK/vh2.back") -eq $((64 << 20)) ]]
	rm -f "$WORK/vh2.back"
	vh_log_clean vh2
	del vh2
}

# ---- 3. vhost -> virtio -> vhost with vdk bus: the data stay ----

vhost_move() {
	local img=$WORK/vh3.img node disk j holder
	truncate -s 64M "$img"
	node=$(vh_add vh3 -q 2 file path="$img")
	vh_pid vh3
	vh_blkio "$node" --queues 2 --seed 11
	# To the virtio bus: a disk, holding what the client wrote.
	disk=$(vdk bus vh3 virtio)
	echo "  vhost $node -> virtio $disk"
	[[ $disk =~ ^/dev/vd[a-z]+$ && -b $disk ]]
	vh_list vh3 virtio "$disk"
	[[ $(find /sys/block/"$(basename "$disk")"/mq -mindepth 1 -maxdepth 1 | wc -l) -eq 2 ]]
	cmp <(blkio-check --pattern 11 --size "$VH_SIZE") \
		<(dd if="$disk" bs=1M count=32 iflag=direct status=none)
	# Written here, read on the vhost bus.
	blkio-check --pattern 12 --size "$VH_SIZE" |
		dd of="$disk" bs=1M oflag=direct status=none
	# A disk in use is not moved.
	sleep 30 <"$disk" &
	holder=$!
	expect_fail 1 "in use" vdk bus vh3 vhost
	kill "$holder"
	wait "$holder" 2>/dev/null || true
	j=$(vdk bus -j vh3 vhost)
	echo "  $j"
	[[ $j =~ \"node\":\"(/dev/vhost-vdpa-[0-9]+)\" ]]
	node=${BASH_REMATCH[1]}
	[[ $j == *'"bus":"vhost"'* && $j == *'"previous_bus":"virtio"'* && -c $node ]]
	vh_list vh3 vhost "$node"
	! vdpa_disk vh3 >/dev/null
	vh_blkio "$node" --queues 2 --verify --seed 12
	# A vhost device held by a client is not moved either.
	vh_blkio "$node" --bench read --seconds 8 >"$WORK/vh3.bench" &
	wait_for 8 vh_client_on
	expect_fail 1 "in use" vdk bus vh3 virtio
	wait $!
	vh_blkio "$node" --queues 2 --seed 13 --expect 12
	disk=$(vdk bus vh3 virtio)
	cmp <(blkio-check --pattern 13 --size "$VH_SIZE") \
		<(dd if="$disk" bs=1M count=32 iflag=direct status=none)
	# Once more there and back, served by the same daemon all along.
	node=$(vdk bus vh3 vhost)
	vh_blkio "$node" --verify --seed 13
	[[ $(vdk list -j vh3) == *"\"pid\":$VH_PID,"* ]]
	vh_log_clean vh3
	del vh3
}

# ---- 4. bench mode, and a client killed in the middle of its I/O ----

vhost_bench_kill() {
	local img=$WORK/vh4.img node line mode pid
	truncate -s 128M "$img"
	node=$(vh_add vh4 -q 4 file path="$img")
	vh_pid vh4
	for mode in randread randwrite read write; do
		line=$(blkio-check --path "$node" --bench "$mode" --bs 4k --qd 16 \
			--queues 4 --seconds 2)
		echo "  $line"
		[[ $line == *"\"rw\":\"$mode\""* && $line == *'"errors":0}' &&
		   $line =~ \"iops\":[1-9][0-9]* ]]
	done
	# Killed with requests in flight: the kernel resets the device, the
	# next client finds it clean.
	blkio-check --path "$node" --bench randwrite --qd 32 --queues 4 \
		--seconds 60 >/dev/null &
	pid=$!
	wait_for 10 vh_client_on
	sleep 2
	kill -9 "$pid"
	wait "$pid" 2>/dev/null || true
	wait_for 10 bash -c "[[ \$(grep -c memfd: /proc/$VH_SERVER/maps) -eq 0 ]]"
	vh_blkio "$node" --queues 4 --seed 21
	vh_log_clean vh4
	del vh4
}

# ---- 5. a client that truncates its memory file under the daemon ----

# vh_shrink NAME SEED WANT BACKEND...: a device NAME on BACKEND; a client
# that truncates its memory file (blkio-check --shrink, whose line must
# contain WANT); then a whole check with SEED: the same daemon serves both.
vh_shrink() {
	local name=$1 seed=$2 want=$3 node pid out
	shift 3
	node=$(vh_add "$name" -q 1 "$@")
	vh_pid "$name"
	pid=$VH_PID
	out=$(vh_blkio "$node" --shrink)
	echo "  $1: $out"
	[[ $out == *"$want"* ]]
	kill -0 "$pid"
	vh_blkio "$node" --queues 1 --qd 8 --seed "$seed"
	[[ $(cat "$WORK/$name.pid") == "$pid" ]]
}

vhost_shrink() {
	local img=$WORK/vh6.img
	# RAM: the daemon copies the data itself, takes the SIGBUS, sees
	# zeros where the memory went, goes on, and says so within a second.
	vh_shrink vh5 31 'write from truncated memory: ok; read back: zeros' \
		ram size=64M
	wait_for 5 grep -q 'SIGBUS caught' "$WORK/vh5.log"
	grep 'SIGBUS caught' "$WORK/vh5.log"
	del vh5
	# A file: the kernel copies (pwritev, io_uring), meets the hole and
	# fails the write (EFAULT): an I/O error for that request alone.
	truncate -s 64M "$img"
	vh_shrink vh6 32 'shrink: write from truncated memory: ' file path="$img"
	del vh6
}

# ---- 6. a hostile client: malformed rings of every kind ----

# The modes of tests/vhost/hostile-client, one run each.
VH_HOSTILE_MODES="loop range addr direction huge race unmap shrink"

# vh_beside DISK: fio rounds with verification on DISK until
# $WORK/vh8.stop exists (or 20 minutes pass); the first failing round
# leaves its number in $WORK/vh8.failed.
vh_beside() {
	local disk=$1 i=0 end=$((SECONDS + 1200))
	while [[ ! -e $WORK/vh8.stop ]] && ((SECONDS < end)); do
		i=$((i + 1))
		if ! fio --name=beside --filename="$disk" --direct=1 \
			--ioengine=libaio --rw=randwrite --bs=4k --iodepth=8 \
			--offset=$(((i % 4) * 8))M --size=8M --randseed="$i" \
			--verify=crc32c --verify_fatal=1 --do_verify=1 \
			--output="$WORK/vh8.fio" >/dev/null 2>&1 ||
		   ! grep -qE 'err= *0' "$WORK/vh8.fio"; then
			cp "$WORK/vh8.fio" "$VDK_RESULTS/vh8-failed.fio" || true
			echo "$i" >"$WORK/vh8.failed"
			return 1
		fi
		echo "$i" >"$WORK/vh8.rounds"
	done
}

# vh_hostile_run NODE MODE: one hostile-client run; its JSON line goes to
# the results.  Every case must end in an outcome its kind allows: a
# refused chain (used length 0, nothing written), an error status, or a
# queue that stopped answering; nothing written where the client did not
# let the device write, and the pattern on the disk intact.
vh_hostile_run() {
	local node=$1 mode=$2 out rc=0
	out=$(timeout 300 hostile-client --path "$node" --mode "$mode" \
		--timeout 3000 2>"$WORK/vh7.$mode.err") || rc=$?
	echo "  $out"
	echo "$out" >>"$VDK_RESULTS/hostile.jsonl"
	if ((rc != 0)) || [[ $out != *'"disk_intact":true,"pass":true}' ]]; then
		echo "  hostile-client --mode $mode: exit $rc" >&2
		sed 's/^/  /' "$WORK/vh7.$mode.err" >&2
		return 1
	fi
}

vhost_hostile() {
	local img=$WORK/vh7.img other=$WORK/vh8.img node disk pid beside mode
	local klog0
	# Earlier scenarios log I/O errors of their own on the same names.
	klog0=$(dmesg | wc -l)
	# Sparse: a 2 GiB request fits in the disk, so only its size is wrong.
	truncate -s 4G "$img"
	node=$(vh_add vh7 -q 1 file path="$img")
	vh_pid vh7
	pid=$VH_PID
	# A device beside it, on the virtio bus, busy with verified writes
	# all along.
	truncate -s 64M "$other"
	disk=$(add vh8 file path="$other")
	[[ -b $disk ]]
	rm -f "$WORK/vh8.stop" "$WORK/vh8.failed" "$WORK/vh8.rounds"
	trap 'touch "$WORK/vh8.stop"' EXIT
	vh_beside "$disk" &
	beside=$!
	for mode in $VH_HOSTILE_MODES; do
		vh_hostile_run "$node" "$mode"
		# The daemon lives, and still serves the device: the
		# confined process that reads the client's memory too.
		kill -0 "$pid"
		kill -0 "$VH_SERVER"
		[[ $(vdk list -j vh7) == *"\"pid\":$pid,"* ]]
	done
	vh_list vh7 vhost "$node"
	# It said what it refused and which queues it stopped.
	grep -c 'refused:' "$WORK/vh7.log" | sed 's/^/  refusals logged: /'
	grep -q 'queue 0 broken' "$WORK/vh7.log"
	# Nothing of the hostile client stays mapped in the daemon.
	wait_for 10 bash -c "[[ \$(grep -c memfd: /proc/$VH_SERVER/maps) -eq 0 ]]"
	echo "  serving process: $(grep -E 'VmHWM' "/proc/$VH_SERVER/status" | tr -s ' \t' ' ')"
	# The next honest client gets a working device and correct data.
	vh_blkio "$node" --queues 1 --qd 8 --seed 71
	cmp <(blkio-check --pattern 71 --size "$VH_SIZE") \
		<(head -c "$VH_SIZE" "$img")
	[[ $(cat "$WORK/vh7.pid") == "$pid" ]]
	# The device beside saw no error.
	touch "$WORK/vh8.stop"
	wait "$beside"
	[[ ! -e $WORK/vh8.failed && -s $WORK/vh8.rounds ]]
	echo "  beside: $(cat "$WORK/vh8.rounds") fio rounds verified on $disk"
	if dmesg | tail -n +$((klog0 + 1)) |
		grep -E "I/O error.*$(basename "$disk")" >&2; then
		return 1
	fi
	vh_log_clean vh8
	del vh7
	del vh8
}

# vh_add_needing NAME FEATURE WHY: a one-queue ram device NAME on the
# vhost bus, its node in VH_NODE and `vdk list -j` of it in VH_LIST; when
# its VDUSE features lack FEATURE, it is removed and the scenario skipped
# because the kernel WHY.
vh_add_needing() {
	VH_NODE=$(vh_add "$1" -q 1 ram size=64M)
	VH_LIST=$(vdk list -j "$1")
	echo "  list: $VH_LIST"
	if [[ $VH_LIST != *'"vduse_features":"'*"$2"* ]]; then
		del "$1"
		skip_because "kernel $(uname -r) $3"
	fi
}

# ---- 7. suspend and resume under I/O (Linux 7.3: VDUSE_F_SUSPEND) ----

# tests/vhost/suspend-client: VHOST_VDPA_SUSPEND with requests in flight
# and more posted, the ring's state then (VHOST_GET_VRING_BASE against
# the used index), nothing taken while suspended, the resume (a reset
# and the ring base restored, as the kernel has no VDUSE resume), and at
# the end every write done once and read back.  Three cycles.
vhost_suspend() {
	local node out rc=0
	vh_add_needing vh9 suspend "has no VDUSE_F_SUSPEND (Linux 7.3), vhost-vdpa cannot suspend the device"
	node=$VH_NODE
	[[ $VH_LIST == *'"vduse_features":"queue_ready,suspend"'* ]]
	out=$(timeout 300 suspend-client --path "$node" --cycles 3 \
		--requests 3000 2>"$WORK/vh9.err") || rc=$?
	echo "  $out"
	sed 's/^/  /' "$WORK/vh9.err"
	echo "$out" >>"$VDK_RESULTS/suspend.jsonl"
	vh_list vh9 vhost "$node" || rc=1
	# Gone whatever happened: the next groups want no device left.
	del vh9
	((rc == 0))
}

# ---- 8. a ring disabled and enabled under I/O (Linux 7.3: VDUSE_F_QUEUE_READY) ----

# suspend-client --ready-cycles: VHOST_VDPA_SET_VRING_ENABLE 0 on the
# running device with requests in flight and more posted; every request
# taken is completed (the used index against VHOST_GET_VRING_BASE),
# nothing taken while disabled though kicked; enabled again without a
# kick, what waited is taken, and at the end every write done once and
# read back.  Six cycles.  Before 7.3 VDUSE keeps ready changes to
# itself: the device cannot stop the ring, and the scenario has nothing
# to check.
vhost_ready() {
	local node out rc=0
	vh_add_needing vh10 queue_ready "has no VDUSE_F_QUEUE_READY (Linux 7.3): the device does not hear of ready changes"
	node=$VH_NODE
	out=$(timeout 300 suspend-client --path "$node" --ready-cycles 6 \
		--requests 6000 2>"$WORK/vh10.err") || rc=$?
	echo "  $out"
	sed 's/^/  /' "$WORK/vh10.err"
	echo "$out" >>"$VDK_RESULTS/ready.jsonl"
	[[ $out == *'"stalled_after_enable":0,"lost":0,"repeated":0,'* ]] || rc=1
	vh_list vh10 vhost "$node" || rc=1
	vh_log_clean vh10 || rc=1
	del vh10
	((rc == 0))
}

vhost_scenarios() {
	run_scenario "vhost 0. load vhost_vdpa" modprobe vhost_vdpa
	run_scenario "vhost 1. blkio-check on 4 queues, 5 clients in a row, nothing left mapped" vhost_blkio
	run_scenario "vhost 2. qemu-io and qemu-img convert through QEMU's blkio driver" vhost_qemu
	run_scenario "vhost 3. vdk bus: vhost -> virtio -> vhost, data kept both ways" vhost_move
	run_scenario "vhost 4. bench mode; a client killed during I/O, the next one clean" vhost_bench_kill
	run_scenario "vhost 5. a client truncates its memory file: the daemon lives on" vhost_shrink
	run_scenario "vhost 6. a hostile client: malformed rings of every kind; the daemon and a device beside it unharmed" vhost_hostile
	run_scenario "vhost 7. suspend under I/O: ring state exact, nothing lost or repeated across resume" vhost_suspend
	run_scenario "vhost 8. ring disabled and enabled under I/O: ring state exact, nothing taken while disabled, nothing lost or repeated" vhost_ready
	# The other groups expect new devices on virtio_vdpa alone.
	modprobe -r vhost_vdpa || true
}
