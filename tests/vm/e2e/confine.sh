# Confinement scenarios, sourced by guest-main.sh: the process that serves
# a device runs without root, with no capabilities, no_new_privs, a
# seccomp filter and Landlock, for every backend; a forbidden system call
# (the test hook, SIGUSR2 to the daemon) ends it and `vdk recover` serves
# again with no I/O lost.
# shellcheck shell=bash

# server_pid NAME: the serving process, from vdk list -j.
server_pid() {
	vdk list -j "$1" | sed -n 's/.*"server_pid": *\([0-9]*\).*/\1/p'
}

# check_confined NAME: /proc/PID/status of its serving process.
check_confined() {
	local pid st uid
	pid=$(server_pid "$1")
	[[ -n $pid ]] || { echo "  $1: no server_pid in vdk list -j" >&2; return 1; }
	st=/proc/$pid/status
	uid=$(awk '/^Uid:/ { print $2, $3, $4, $5 }' "$st")
	echo "  $1: server $pid: Uid $uid, $(grep -E '^(CapEff|NoNewPrivs|Seccomp):' "$st" | tr -s '\t ' ' ' | tr '\n' ' ')"
	[[ ! $uid =~ (^| )0( |$) ]] || { echo "  uid 0 left" >&2; return 1; }
	grep -qE '^CapEff:\s+0+$' "$st"
	grep -qE '^NoNewPrivs:\s+1$' "$st"
	grep -qE '^Seccomp:\s+2$' "$st"
	vdk list -j "$1" | grep -q '"seccomp": *"kill"'
}

# One device of each backend, confined, doing I/O.
confined_backends() {
	local img=$WORK/cf.img dev sock=$WORK/cf-nbd.sock
	truncate -s 64M "$img"
	dev=$(add cf-file file path="$img")
	dd if=/dev/urandom of="$dev" bs=1M count=8 oflag=direct status=none
	check_confined cf-file
	dev=$(add cf-ram ram size=64M)
	dd if=/dev/zero of="$dev" bs=1M count=8 oflag=direct status=none
	check_confined cf-ram
	dev=$(add cf-null null size=64M)
	dd if="$dev" of=/dev/null bs=1M count=8 iflag=direct status=none
	check_confined cf-null
	nbdkit -U "$sock" -P "$WORK/cf-nbd.nbdkit.pid" memory 64M
	# The serving process connects as its user: the socket must let it.
	chmod 0666 "$sock"
	dev=$(add cf-nbd nbd uri="nbd+unix:///?socket=$sock")
	dd if=/dev/urandom of="$dev" bs=1M count=8 oflag=direct status=none
	check_confined cf-nbd
	del cf-nbd
	kill "$(cat "$WORK/cf-nbd.nbdkit.pid")"
	del cf-null
	del cf-ram
	del cf-file
	no_leftovers
}

# The test hook under fio verify: the serving process opens a file no
# backend needs (Landlock refuses it), then makes a call outside its
# filter and dies of SIGSYS; `vdk recover` serves again, fio sees no error.
confined_forbidden_call() {
	local img=$WORK/cfk.img dev fio_pid out=$WORK/cfk.fio pid
	truncate -s 128M "$img"
	dev=$(add cfk file path="$img")
	check_confined cfk
	fio --name=cfk --filename="$dev" --direct=1 --ioengine=libaio \
		--rw=randwrite --bs=4k --iodepth=16 --size=32M \
		--verify=crc32c --verify_backlog=64 --verify_fatal=1 \
		--time_based --runtime=3600 --output="$out" >/dev/null 2>&1 &
	fio_pid=$!
	sleep 3
	pid=$(cat "$WORK/cfk.pid")
	kill -USR2 "$pid"
	wait_for 20 bash -c "! kill -0 $pid 2>/dev/null"
	grep -q "open /etc/passwd: Permission denied" "$WORK/cfk.log"
	grep -q "died of Bad system call" "$WORK/cfk.log"
	grep -E "test hook|died of" "$WORK/cfk.log" | sed 's/^/  /'
	vdk recover -d -p "$WORK/cfk.pid" --log "$WORK/cfk.log" cfk >/dev/null
	check_confined cfk
	sleep 3
	fio_stop_verify "$fio_pid" "$out"
	del cfk
	no_leftovers
}

# --no-confine: the old way, one process as root.
unconfined() {
	local dev pid
	dev=$(vdk add -d --no-confine -p "$WORK/uc.pid" --log "$WORK/uc.log" uc ram size=16M)
	dd if=/dev/zero of="$dev" bs=1M count=4 oflag=direct status=none
	! vdk list -j uc | grep -q confinement
	pid=$(cat "$WORK/uc.pid")
	grep -qE '^Uid:\s+0\s' "/proc/$pid/status"
	del uc
}

confine_scenarios() {
	run_scenario "12a. confined: file, ram, null, nbd as nobody, no caps, seccomp" confined_backends
	run_scenario "12b. a forbidden call kills the server; recover, fio verify clean" confined_forbidden_call
	run_scenario "12c. --no-confine serves as root" unconfined
}
