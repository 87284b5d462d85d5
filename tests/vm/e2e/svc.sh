# Running vdk as a service, sourced by guest-main.sh: declared devices
# brought up and down with vdk up / vdk down, the sd_notify messages a
# supervisor sends (to notify-listen: the guest has no systemd), vdk up
# after a SIGKILL recovering the device under fio, and vdk stat's counts
# against what fio did.
# shellcheck shell=bash

SVC_CONF=$WORK/conf

# svc_declare NAME LINES...: /etc/vdk/NAME.conf, in $SVC_CONF.
svc_declare() {
	local name=$1
	shift
	mkdir -p "$SVC_CONF"
	printf '%s\n' "$@" >"$SVC_CONF/$name.conf"
}

# svc_totals JSON: "READS READ_BYTES WRITES WRITE_BYTES ERRORS INFLIGHT"
# of the device's total in one report of vdk stat -j.
svc_totals() {
	sed -n 's/.*"total":{"queue":"all","read":{"requests":\([0-9]*\),"bytes":\([0-9]*\)},"write":{"requests":\([0-9]*\),"bytes":\([0-9]*\)}.*"errors":\([0-9]*\),"dropped":[0-9]*,"in_flight":\([0-9]*\),"latency_us".*"queues".*/\1 \2 \3 \4 \5 \6/p' <<<"$1"
}

# within1 GOT WANT: GOT is WANT to within 1 %.
within1() {
	awk -v g="$1" -v w="$2" 'BEGIN { d = g - w; if (d < 0) d = -d; exit !(d * 100 <= w) }'
}

svc_up_down() {
	local img=$WORK/svc0.img out=$WORK/notify.out up nl dev rc=0
	export VDK_CONF_DIR=$SVC_CONF
	truncate -s 64M "$img"
	svc_declare svc0 "# a declared disk" "type=blk" "backend=file" \
		"param.path=$img" "queues = 2"
	notify-listen "$WORK/notify.sock" >"$out" &
	nl=$!
	wait_for 5 test -S "$WORK/notify.sock"
	# As systemd starts it: in the foreground, NOTIFY_SOCKET set.
	NOTIFY_SOCKET=$WORK/notify.sock vdk up --log "$WORK/svc0.log" svc0 \
		>"$WORK/up.out" &
	up=$!
	wait_for 60 grep -q READY=1 "$out"
	dev=$(cat "$WORK/up.out")
	sed 's/^/  notify: /' "$out"
	[[ -b $dev ]]
	# From the process that was started (systemd's main pid), not its
	# confined server, and naming the node.
	grep -qx "pid=$up" "$out"
	grep -qx "STATUS=serving svc0 at $dev" "$out"
	grep -q MAINPID "$out" && return 1
	vdk list svc0 | sed 's/^/  /'
	[[ $(vdk list -j svc0) == *'"queues":2'* ]]
	# What systemd does to stop it: SIGTERM to the main pid.
	kill -TERM "$up"
	wait "$up" || rc=$?
	((rc == 0)) || { echo "vdk up exited $rc" >&2; return 1; }
	grep -q STOPPING=1 "$out"
	wait_for 10 bash -c "! test -e /dev/vduse/svc0"
	kill "$nl"
	wait "$nl" 2>/dev/null || true

	# In the background, and vdk down.
	dev=$(vdk up -d --log "$WORK/svc0.log" svc0)
	[[ -b $dev ]]
	vdk down svc0
	wait_for 10 bash -c "! test -e /dev/vduse/svc0"

	expect_fail 6 "cannot read .*/nosuch.conf" vdk up nosuch
	svc_declare bad "backend=file" "param.path=$img" "" "queues=many"
	expect_fail 2 "bad.conf:4: bad --queues value 'many'" vdk up bad
	svc_declare bad "backend=file" "param.path=$img" "colour=red"
	expect_fail 2 "bad.conf:3: unknown key 'colour'" vdk up bad
	no_leftovers
}

svc_stat() {
	local img=$WORK/svc1.img dev before after b a r rb w wb e inf n
	export VDK_CONF_DIR=$SVC_CONF
	truncate -s 128M "$img"
	svc_declare svc1 "backend=file" "param.path=$img" "queues=2"
	dev=$(vdk up -d --log "$WORK/svc1.log" svc1)
	before=$(vdk stat -j svc1)
	# 32 MiB written in 64 KiB blocks, 1024 random 4 KiB reads at
	# queue depth 1 (nothing to merge).
	fio --name=w --filename="$dev" --direct=1 --ioengine=libaio \
		--rw=write --bs=64k --size=32M --iodepth=4 \
		--output="$WORK/svc-w.fio" >/dev/null
	fio --name=r --filename="$dev" --direct=1 --ioengine=psync \
		--rw=randread --bs=4k --size=4M --offset=64M \
		--output="$WORK/svc-r.fio" >/dev/null
	after=$(vdk stat -j svc1)
	b=($(svc_totals "$before"))
	a=($(svc_totals "$after"))
	((${#a[@]} == 6 && ${#b[@]} == 6)) || { echo "  unreadable: $after" >&2; return 1; }
	r=$((a[0] - b[0])) rb=$((a[1] - b[1])) w=$((a[2] - b[2]))
	wb=$((a[3] - b[3])) e=$((a[4] - b[4])) inf=${a[5]}
	echo "  stat: reads $r ($rb bytes), writes $w ($wb bytes), errors $e, in flight $inf"
	grep -E "IOPS|issued rwts" "$WORK/svc-w.fio" "$WORK/svc-r.fio" | sed 's/^/  /'
	within1 "$wb" $((32 << 20))
	within1 "$rb" $((4 << 20))
	within1 "$r" 1024
	((w > 0 && e == 0 && inf == 0))
	# Both queues, each with its latency.
	[[ $after == *'"queue":"q0"'* && $after == *'"queue":"q1"'* ]]
	[[ $after == *'"latency_us":{"p50":'[0-9]* ]]
	# Text like iostat, once and per interval.
	vdk stat svc1 | tee "$WORK/stat.txt" | sed 's/^/  /'
	grep -q "^device *queue *r/s *rkB/s *w/s *wkB/s" "$WORK/stat.txt"
	grep -q "^svc1 *all " "$WORK/stat.txt"
	grep -q "^svc1 *q1 " "$WORK/stat.txt"
	n=$(vdk stat -c 2 svc1 1 | grep -c "^device")
	((n == 2))
	# Every device, and one that has no daemon.
	vdk stat -j | grep -q '"name":"svc1"'
	expect_fail 6 "no such device" vdk stat nosuch
	vdk down svc1
	no_leftovers
}

svc_kill_up() {
	local img=$WORK/svc2.img dev fio_pid pid out=$WORK/svc2.fio msg s
	export VDK_CONF_DIR=$SVC_CONF
	truncate -s 128M "$img"
	svc_declare svc2 "backend=file" "param.path=$img" "queues=2"
	dev=$(vdk up -d -p "$WORK/svc2.pid" --log "$WORK/svc2.log" svc2)
	fio --name=svc --filename="$dev" --direct=1 --ioengine=libaio \
		--rw=randwrite --bs=4k --iodepth=16 --numjobs=2 \
		--size=16M --offset_increment=16M \
		--verify=crc32c --verify_backlog=128 --verify_fatal=1 \
		--time_based --runtime=3600 --group_reporting \
		--output="$out" >/dev/null 2>&1 &
	fio_pid=$!
	sleep 3
	pid=$(cat "$WORK/svc2.pid")
	kill -KILL "$pid"
	wait_for 10 bash -c "! kill -0 $pid 2>/dev/null"
	expect_fail 1 "no vdk daemon serves it" vdk stat svc2
	# What Restart=on-failure does: vdk up again.
	msg=$(vdk up -d -p "$WORK/svc2.pid" --log "$WORK/svc2.log" svc2 2>&1)
	echo "  $msg" | tr '\n' ' '
	echo
	[[ $msg == *"recovering it"* && $msg == *"$dev"* ]]
	sleep 3
	kill -0 "$fio_pid"
	s=$(vdk stat -j svc2)
	fio_stop_verify "$fio_pid" "$out"
	s=($(svc_totals "$s"))
	echo "  since recover: ${s[2]} writes, ${s[0]} reads"
	((s[2] > 0 && s[4] == 0))
	vdk down svc2
	no_leftovers
}

# A declared net device: vdk stat shows its rx and tx as two queues.
svc_net_stat() {
	local ifc s a
	export VDK_CONF_DIR=$SVC_CONF
	load_net_modules
	svc_declare vnsvc "type=net" "mtu=1500" "backend=tap" \
		"param.ifname=vnsvct"
	ifc=$(vdk up -d --log "$WORK/vnsvc.log" vnsvc)
	net_up vnsvct "$ifc" 1500
	ip netns exec vdkns ping -c 20 -i 0.05 -q "$NET_B" | sed 's/^/  /'
	s=$(vdk stat -j vnsvc)
	vdk stat vnsvc | sed 's/^/  /'
	[[ $s == *'"type":"net"'* ]]
	[[ $s == *'"queue":"rx"'* && $s == *'"queue":"tx"'* ]]
	a=($(svc_totals "$s"))
	echo "  rx ${a[0]} frames, tx ${a[2]} frames, errors ${a[4]}"
	((a[0] >= 20 && a[2] >= 20 && a[4] == 0))
	net_down
	vdk down vnsvc
	no_leftovers
}

svc_scenarios() {
	run_scenario "14a. vdk up / down from a declared file, sd_notify" svc_up_down
	run_scenario "14b. vdk stat counts what fio did (1 %)" svc_stat
	run_scenario "14c. vdk up after SIGKILL recovers under fio verify" svc_kill_up
	run_scenario "14d. a declared net device, its rx and tx in vdk stat" svc_net_stat
}
