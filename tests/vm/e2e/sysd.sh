# vdk under systemd, sourced by guest-main.sh: in a guest booted with
# systemd as PID 1 (kernel parameter vdk.systemd=1, tests/vm/init), the
# Debian packages built on the host are installed with dpkg -i and
# vdk@disk0.service serves a declared device: READY with the node, a
# SIGKILL under fio verify that Restart= recovers, stop and start with the
# data kept, vdk stat against fio, the manual page.  The hardening of
# vdk@.service is what lets (or does not let) all of that work.
# tests/vm/e2e/run.sh --only sysd boots that guest.
# shellcheck shell=bash

# The image's extra packages (VDK_VM_EXTRA_PKGS, read by run.sh): systemd
# as init, D-Bus as on any systemd machine, man-db for man vdk, and what
# the vdk package depends on beyond the default image.
# shellcheck disable=SC2034 # read by run.sh
SYSD_PKGS="systemd-sysv dbus man-db librbd1 librados2"

# The installed command, not the build's copy in $HERE/bin.
SYSD_VDK=/usr/sbin/vdk
SYSD_UNIT=vdk@disk0.service
SYSD_IMG=/srv/disk0.img
SYSD_FIO=$WORK/sysd.fio

ms_now() { echo $(($(date +%s%N) / 1000000)); }

# up_ms: milliseconds since boot (CLOCK_BOOTTIME, the monotonic clock of
# systemd's *TimestampMonotonic in a guest that never suspends).
up_ms() { awk '{ printf "%d\n", $1 * 1000 }' /proc/uptime; }

# sysd_mono_ms PROP: a *TimestampMonotonic property in milliseconds.
sysd_mono_ms() { echo $(($(sysd_show "$1") / 1000)); }

# sysd_show PROP: one property of the unit.
sysd_show() { systemctl show -P "$1" "$SYSD_UNIT"; }

sysd_note() { echo "$*" >>"$VDK_RESULTS/sysd-numbers.txt"; }

# The capabilities, by number (capability.h).
SYSD_CAPS=(chown dac_override dac_read_search fowner fsetid kill setgid setuid
	setpcap linux_immutable net_bind_service net_broadcast net_admin net_raw
	ipc_lock ipc_owner sys_module sys_rawio sys_chroot sys_ptrace sys_pacct
	sys_admin sys_boot sys_nice sys_resource sys_time sys_tty_config mknod
	lease audit_write audit_control setfcap mac_override mac_admin syslog
	wake_alarm block_suspend audit_read perfmon bpf checkpoint_restore)

# sysd_caps HEX: the names of a /proc/PID/status capability mask, sorted.
sysd_caps() {
	local m=$((16#$1)) i
	for i in "${!SYSD_CAPS[@]}"; do
		if ((m >> i & 1)); then echo "cap_${SYSD_CAPS[i]}"; fi
	done | sort | tr '\n' ' '
}

# sysd_node: the node the running unit serves, from its STATUS=.
sysd_node() { sysd_show StatusText | sed -n 's/^serving disk0 at \(\/dev\/[a-z0-9]*\)$/\1/p'; }

# sysd_wait_active OLD_PID SECS: the unit active again with a main pid
# other than OLD_PID (a restart that reached READY).
sysd_wait_active() {
	wait_for "$2" bash -c "[[ \$(systemctl show -P ActiveState $SYSD_UNIT) == active &&
		\$(systemctl show -P MainPID $SYSD_UNIT) != 0 &&
		\$(systemctl show -P MainPID $SYSD_UNIT) != $1 ]]"
}

sysd_install() {
	local st debs
	[[ $(cat /proc/1/comm) == systemd ]] || { echo "PID 1 is $(cat /proc/1/comm), not systemd" >&2; return 1; }
	st=$(timeout 120 systemctl is-system-running --wait || true)
	echo "  system $st; $(systemd-analyze time 2>/dev/null | head -n 1)"
	systemctl --failed --no-legend | sed 's/^/  failed unit: /'
	[[ $st == running || $st == degraded ]]
	debs=("$HERE"/debs/*.deb)
	[[ -e ${debs[0]} ]] || { echo "no .deb in $HERE/debs" >&2; return 1; }
	echo "  dpkg -i ${debs[*]##*/}"
	dpkg -i "${debs[@]}" >"$WORK/dpkg.log" 2>&1 || { cat "$WORK/dpkg.log" >&2; return 1; }
	dpkg-query -W -f '  ${Package} ${Version} ${db:Status-Abbrev}\n' vdk libvdk0 libvdk-dev
	[[ $(dpkg-query -W -f '${db:Status-Abbrev}' vdk) == "ii " ]]
	# The postinst's user, for the confined server.
	getent passwd vdk | sed 's/^/  /'
	[[ -x $SYSD_VDK && -f /usr/lib/systemd/system/vdk@.service && -d /etc/vdk ]]
	"$SYSD_VDK" --version | sed 's/^/  /'
	systemd-analyze verify vdk@disk0.service 2>&1 | sed 's/^/  verify: /' || true
	# For the record: what systemd makes of the hardening.
	systemd-analyze security --no-pager vdk@disk0.service >"$VDK_RESULTS/sysd-security.txt" 2>&1 || true
	tail -n 1 "$VDK_RESULTS/sysd-security.txt" | sed 's/^/  /'
}

# As the manual says: the modules from modules-load.d, the device from
# /etc/vdk/disk0.conf, systemctl enable --now.
sysd_ready() {
	local t0 t1 main srv node vuid want got ready
	printf '%s\n' vduse virtio_vdpa virtio_blk >/etc/modules-load.d/vdk.conf
	systemctl restart systemd-modules-load.service
	[[ -c /dev/vduse/control ]]
	mkdir -p /srv
	truncate -s 128M "$SYSD_IMG"
	chmod 600 "$SYSD_IMG"
	printf '%s\n' "# the systemd scenario's disk" "type=blk" "backend=file" \
		"param.path=$SYSD_IMG" "queues=2" >/etc/vdk/disk0.conf
	systemctl enable "$SYSD_UNIT"
	t0=$(ms_now)
	systemctl start "$SYSD_UNIT"
	t1=$(ms_now)
	# Type=notify: start returns once READY=1 came; systemd's own stamps
	# say how long the daemon took from its exec.
	ready=$(($(sysd_mono_ms ActiveEnterTimestampMonotonic) - $(sysd_mono_ms ExecMainStartTimestampMonotonic)))
	echo "  systemctl start returned after $((t1 - t0)) ms; exec to READY=1 $ready ms"
	sysd_note "start_ms=$((t1 - t0)) exec_to_ready_ms=$ready"
	[[ $(sysd_show ActiveState) == active && $(sysd_show SubState) == running ]]
	[[ -L /etc/systemd/system/multi-user.target.wants/$SYSD_UNIT ]]
	echo "  status: $(sysd_show StatusText)"
	node=$(sysd_node)
	[[ -b $node ]]
	[[ $(blockdev --getsize64 "$node") -eq $((128 << 20)) ]]
	[[ $("$SYSD_VDK" list -j disk0) == *"\"node\":\"$node\""* ]]
	# The main pid is vdk up, the supervisor; its server is confined to
	# the vdk user with no capability left, in the unit's cgroup.
	main=$(sysd_show MainPID)
	srv=$(pgrep -P "$main" -x vdk-server)
	vuid=$(id -u vdk)
	echo "  main pid $main ($(ps -o user=,comm= -p "$main")), server $srv ($(ps -o user=,comm= -p "$srv"))"
	[[ $(awk '/^Uid:/ { print $2 $3 $4 $5 }' "/proc/$srv/status") == "$vuid$vuid$vuid$vuid" ]]
	[[ $(awk '/^CapEff:/ { print $2 }' "/proc/$srv/status") == 0000000000000000 ]]
	grep -q "/system.slice/system-vdk.slice/$SYSD_UNIT" "/proc/$srv/cgroup"
	"$SYSD_VDK" list -j disk0 | grep -o '"confinement":{[^}]*}' | sed 's/^/  /'
	# The bounding set in force is the unit's.
	want=$(systemctl show -P CapabilityBoundingSet "$SYSD_UNIT" | tr ' ' '\n' | sort | tr '\n' ' ')
	got=$(sysd_caps "$(awk '/^CapBnd:/ { print $2 }' "/proc/$main/status")")
	echo "  bounding set: $got"
	[[ -n $got && $got == "$want" ]]
	[[ $(awk '/^NoNewPrivs:/ { print $2 }' "/proc/$main/status") == 1 ]]
}

# SIGKILL to the whole daemon (supervisor and server, as an OOM kill
# might) under fio verify: Restart=on-failure starts vdk up again, which
# recovers the device; fio sees no error.
sysd_kill() {
	local node fio_pid main srv n0 n1 t0 t1 t2 s
	node=$(sysd_node)
	fio --name=sysd --filename="$node" --direct=1 --ioengine=libaio \
		--rw=randwrite --bs=4k --iodepth=16 --numjobs=2 \
		--size=16M --offset_increment=16M \
		--verify=crc32c --verify_backlog=128 --verify_fatal=1 \
		--time_based --runtime=3600 --group_reporting \
		--output="$SYSD_FIO" >/dev/null 2>&1 &
	fio_pid=$!
	# A failure below must not leave fio writing under the next scenario.
	trap "kill $fio_pid 2>/dev/null || true" EXIT
	sleep 3
	main=$(sysd_show MainPID)
	srv=$(pgrep -P "$main" -x vdk-server)
	n0=$(sysd_show NRestarts)
	t0=$(up_ms)
	kill -KILL "$main" "$srv"
	sysd_wait_active "$main" 60
	n1=$(sysd_show NRestarts)
	# From the kill: the new vdk up started (RestartSec= included), and
	# its READY=1.
	t1=$(sysd_mono_ms ExecMainStartTimestampMonotonic)
	t2=$(sysd_mono_ms ActiveEnterTimestampMonotonic)
	echo "  killed $main and $srv; vdk up again after $((t1 - t0)) ms (RestartSec=$(sysd_show RestartUSec)), READY after $((t2 - t0)) ms; restarts $n0 -> $n1"
	sysd_note "kill_to_exec_ms=$((t1 - t0)) kill_to_ready_ms=$((t2 - t0))"
	if ((n1 != n0 + 1)); then
		journalctl -b -u "$SYSD_UNIT" -o cat --no-pager | tail -n 12 |
			sed 's/^/  journal: /'
		dmesg | grep -F segfault | sed 's/^/  kernel: /' || true
		return 1
	fi
	journalctl -b -u "$SYSD_UNIT" -o cat --no-pager | grep -E "recovering it" | tail -n 1 | sed 's/^/  journal: /'
	journalctl -b -u "$SYSD_UNIT" -o cat --no-pager | grep -q "'disk0' has no daemon: recovering it"
	# The same node, and fio goes on writing through the new daemon.
	[[ $(sysd_node) == "$node" ]]
	sleep 3
	kill -0 "$fio_pid"
	read -ra s <<<"$(svc_totals "$("$SYSD_VDK" stat -j disk0)")"
	echo "  since the restart: ${s[2]} writes, ${s[0]} reads, ${s[4]} errors"
	((s[2] > 0 && s[4] == 0))
	fio_stop_verify "$fio_pid" "$SYSD_FIO"
	sysd_note "fio_kill: $(grep -E 'issued rwts' "$SYSD_FIO" | tr -s ' ')"
}

# systemctl stop takes the device down (no failure, nothing left);
# systemctl start brings it back with the data that was written.
sysd_stop_start() {
	local node a b t0 t1
	node=$(sysd_node)
	head -c 4M /dev/urandom >"$WORK/sysd.pat"
	dd if="$WORK/sysd.pat" of="$node" bs=1M seek=64 oflag=direct status=none
	a=$(dd if="$node" bs=1M count=68 iflag=direct status=none | sha)
	t0=$(ms_now)
	systemctl stop "$SYSD_UNIT"
	t1=$(ms_now)
	echo "  stop took $((t1 - t0)) ms: $(sysd_show ActiveState), result $(sysd_show Result)"
	[[ $(sysd_show ActiveState) == inactive && $(sysd_show Result) == success ]]
	wait_for 10 bash -c "! test -e /dev/vduse/disk0 && ! test -e /sys/bus/vdpa/devices/disk0"
	[[ ! -e /run/vdk/disk0.json ]]
	no_leftovers
	[[ $(dd if="$SYSD_IMG" bs=1M count=68 status=none | sha) == "$a" ]]
	t0=$(ms_now)
	systemctl start "$SYSD_UNIT"
	t1=$(ms_now)
	echo "  start took $((t1 - t0)) ms: $(sysd_show StatusText)"
	node=$(sysd_node)
	[[ -b $node ]]
	b=$(dd if="$node" bs=1M count=68 iflag=direct status=none | sha)
	echo "  first 68 MiB: $a before, $b after"
	[[ $a == "$b" ]]
	[[ $(dd if="$node" bs=1M skip=64 count=4 iflag=direct status=none | sha) == $(sha <"$WORK/sysd.pat") ]]
}

# vdk stat of the unit's device against what fio did, as svc_stat.  The
# reads first: udev watches disks, and when a writer closes one it reads
# it again (blkid), so the reads are counted before fio writes, the
# writes (which udev never makes) after.
sysd_stat() {
	local node s0 s1 s2 s3 b m a u r rb w wb e
	node=$(sysd_node)
	udevadm settle
	s0=$("$SYSD_VDK" stat -j disk0)
	fio --name=r --filename="$node" --direct=1 --ioengine=psync \
		--rw=randread --bs=4k --size=4M --offset=64M \
		--output="$WORK/sysd-r.fio" >/dev/null
	s1=$("$SYSD_VDK" stat -j disk0)
	fio --name=w --filename="$node" --direct=1 --ioengine=libaio \
		--rw=write --bs=64k --size=32M --iodepth=4 \
		--output="$WORK/sysd-w.fio" >/dev/null
	s2=$("$SYSD_VDK" stat -j disk0)
	sleep 1
	udevadm settle
	s3=$("$SYSD_VDK" stat -j disk0)
	read -ra b <<<"$(svc_totals "$s0")"
	read -ra m <<<"$(svc_totals "$s1")"
	read -ra a <<<"$(svc_totals "$s2")"
	read -ra u <<<"$(svc_totals "$s3")"
	((${#b[@]} == 6 && ${#m[@]} == 6 && ${#a[@]} == 6 && ${#u[@]} == 6)) ||
		{ echo "  unreadable: $s0 $s1 $s2 $s3" >&2; return 1; }
	r=$((m[0] - b[0])) rb=$((m[1] - b[1])) w=$((a[2] - m[2]))
	wb=$((a[3] - m[3])) e=$((u[4] - b[4]))
	echo "  fio: read 1024 x 4 KiB, then wrote $((32 << 20)) bytes"
	grep -E "issued rwts" "$WORK/sysd-r.fio" "$WORK/sysd-w.fio" | sed 's/^/  /'
	echo "  stat: reads $r ($rb bytes), writes $w ($wb bytes), errors $e"
	echo "  after the writer closed: $((u[0] - a[0])) reads ($((u[1] - a[1])) bytes) by udev"
	sysd_note "stat: reads=$r read_bytes=$rb writes=$w write_bytes=$wb errors=$e udev_reads=$((u[0] - a[0]))"
	within1 "$wb" $((32 << 20))
	within1 "$rb" $((4 << 20))
	within1 "$r" 1024
	((w > 0 && e == 0))
	"$SYSD_VDK" stat disk0 | sed 's/^/  /'
}

sysd_man() {
	local out=$WORK/man.txt
	[[ $(man -w vdk) == /usr/share/man/man8/vdk.8.gz ]]
	# --warnings: groff's complaints about the page go to stderr.
	MANWIDTH=80 man --warnings vdk >"$out" 2>"$WORK/man.err"
	if [[ -s $WORK/man.err ]]; then sed 's/^/  man: /' "$WORK/man.err" >&2; return 1; fi
	head -n 3 "$out" | sed 's/^/  /'
	echo "  $(wc -l <"$out") lines"
	grep -q "^NAME" "$out"
	grep -q "^DECLARED DEVICES" "$out"
	grep -q "^SYSTEMD" "$out"
	grep -q "vdk@" "$out"
}

sysd_down() {
	systemctl disable --now "$SYSD_UNIT"
	[[ $(sysd_show ActiveState) == inactive ]]
	[[ ! -e /etc/systemd/system/multi-user.target.wants/$SYSD_UNIT ]]
	wait_for 10 bash -c "! test -e /dev/vduse/disk0"
	no_leftovers
}

# Which capabilities of the unit's bounding set this device needs: the
# unit started without each in turn (a drop-in, CapabilityBoundingSet=~),
# its backing file another user's (nobody's, mode 0600).  The vDPA bus
# (net_admin), the server's user (setuid, setgid) and that file
# (dac_override) must each be needed; a start that fails must leave
# nothing behind.  The others are recorded (sysd-numbers.txt): the unit
# keeps sys_admin until this shows a blk device does without it.
sysd_caps_needed() {
	local cap d=/run/systemd/system/$SYSD_UNIT.d need='' why node t0 t1
	chown nobody:nogroup "$SYSD_IMG"
	# With them all, it starts.
	systemctl start "$SYSD_UNIT"
	systemctl stop "$SYSD_UNIT"
	mkdir -p "$d"
	for cap in $(systemctl show -P CapabilityBoundingSet "$SYSD_UNIT"); do
		printf '[Service]\nCapabilityBoundingSet=~%s\nRestart=no\n' "$cap" >"$d/probe.conf"
		systemctl daemon-reload
		if timeout 60 systemctl start "$SYSD_UNIT" 2>/dev/null; then
			node=$(sysd_node)
			dd if="$node" of=/dev/null bs=4k count=1 iflag=direct status=none
			t0=$(ms_now)
			timeout 120 systemctl stop "$SYSD_UNIT"
			t1=$(ms_now)
			echo "  without $cap: serves $node; stop took $((t1 - t0)) ms"
		else
			why=$(journalctl -b -u "$SYSD_UNIT" -o cat --no-pager | grep '^vdk' | tail -n 1 || true)
			echo "  without $cap: does not start: $why"
			need+=" $cap"
			systemctl reset-failed "$SYSD_UNIT"
		fi
		wait_for 10 bash -c "! test -e /dev/vduse/disk0 && ! test -e /sys/bus/vdpa/devices/disk0"
		no_leftovers
	done
	rm -rf "$d"
	systemctl daemon-reload
	chown root:root "$SYSD_IMG"
	sysd_note "needed_caps:$need"
	for cap in cap_net_admin cap_setuid cap_setgid cap_dac_override; do
		[[ " $need " == *" $cap "* ]]
	done
}

sysd_scenarios() {
	run_scenario "15a. systemd is PID 1; dpkg -i of the built packages" sysd_install
	run_scenario "15b. vdk@disk0 from a declared file: READY with the node, confined" sysd_ready
	run_scenario "15c. SIGKILL under fio verify: systemd restarts it, 0 errors" sysd_kill
	run_scenario "15d. systemctl stop and start: nothing left between, data kept" sysd_stop_start
	run_scenario "15e. vdk stat of the unit's device counts what fio did (1 %)" sysd_stat
	run_scenario "15f. man vdk renders" sysd_man
	run_scenario "15g. systemctl disable --now: nothing left" sysd_down
	run_scenario "15h. the bounding set: each capability the device needs" sysd_caps_needed
	journalctl -b --no-pager >"$VDK_RESULTS/journal.txt" 2>&1 || true
}
