#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# The vdk command's errors, exit codes and outputs that need no VDUSE
# kernel: usage errors, backend errors, root and module checks, name in
# use, unknown devices, list.  Kernel trees are faked with VDK_SYSFS_ROOT,
# VDK_DEV_ROOT and VDK_RUN_DIR.
#
# Usage: VDK=/path/to/vdk bash test-cli-errors.sh
set -u

VDK=${VDK:?set VDK to the vdk executable}
T=$(mktemp -d "${TMPDIR:-/tmp}/vdk-cli-XXXXXX")
pass=0
fail=0
skip=0
pids=()

cleanup() {
	local p
	for p in "${pids[@]}"; do
		kill -KILL "$p" 2>/dev/null
	done
	rm -rf "$T"
}
trap cleanup EXIT

ok() { pass=$((pass + 1)); }
bad() {
	fail=$((fail + 1))
	echo "FAIL: $*" >&2
}
skipped() {
	skip=$((skip + 1))
	echo "SKIP: $*" >&2
}

# Keep the real /run/vdk out of it; each case may set its own roots.
export VDK_RUN_DIR="$T/run/vdk"

# run ARGS...: run vdk, keeping exit code, stdout and stderr.  With ROOT
# set, /sys and /dev are the fake ones under it.
ROOT=
run() {
	if [[ -n $ROOT ]]; then
		VDK_SYSFS_ROOT="$ROOT/sys" VDK_DEV_ROOT="$ROOT/dev" \
			"$VDK" "$@" >"$T/out" 2>"$T/err" </dev/null
	else
		"$VDK" "$@" >"$T/out" 2>"$T/err" </dev/null
	fi
	rc=$?
}

# expect CODE MESSAGE ARGS...: exit code CODE and stderr exactly one line,
# MESSAGE; nothing on stdout.
expect() {
	local code=$1 msg=$2
	shift 2
	run "$@"
	local err
	err=$(cat "$T/err")
	if [[ $rc -ne $code ]]; then
		bad "vdk $*: exit $rc, want $code (stderr: $err)"
	elif [[ $err != "$msg" ]]; then
		bad "vdk $*: stderr '$err', want '$msg'"
	elif [[ -s $T/out ]]; then
		bad "vdk $*: unexpected stdout: $(cat "$T/out")"
	else
		ok
	fi
}

# expect_like CODE PATTERN ARGS...: as expect, with a glob for the line.
expect_like() {
	local code=$1 pat=$2
	shift 2
	run "$@"
	local err
	err=$(cat "$T/err")
	if [[ $rc -ne $code ]]; then
		bad "vdk $*: exit $rc, want $code (stderr: $err)"
	elif [[ $(wc -l <"$T/err") -ne 1 ]]; then
		bad "vdk $*: stderr is not one line: $err"
	elif [[ $err != $pat ]]; then
		bad "vdk $*: stderr '$err' does not match '$pat'"
	else
		ok
	fi
}

# expect_out CODE PATTERN ARGS...: exit code and a glob for stdout, stderr
# empty.
expect_out() {
	local code=$1 pat=$2
	shift 2
	run "$@"
	local out
	out=$(cat "$T/out")
	if [[ $rc -ne $code ]]; then
		bad "vdk $*: exit $rc, want $code (stderr: $(cat "$T/err"))"
	elif [[ -s $T/err ]]; then
		bad "vdk $*: unexpected stderr: $(cat "$T/err")"
	elif [[ $out != $pat ]]; then
		bad "vdk $*: stdout '$out' does not match '$pat'"
	else
		ok
	fi
}

# stop_bg PID: kill a background process of ours, quietly.
stop_bg() {
	{
		kill -KILL "$1"
		wait "$1"
	} 2>/dev/null
}

# alive PID: running, not a zombie.
alive() {
	local st
	st=$(awk '{ print $3 }' "/proc/$1/stat" 2>/dev/null)
	[[ -n $st && $st != Z ]]
}

json_ok() {
	if python3 -c 'import json, sys; json.load(sys.stdin)' <"$T/out"; then
		ok
	else
		bad "not JSON: $(cat "$T/out")"
	fi
}

# A fake kernel tree with every module loaded and no device.
fake_kernel() {
	local r=$1
	mkdir -p "$r/dev/vduse" "$r/sys/class/vduse/control" \
		"$r/sys/bus/vdpa/devices" "$r/sys/bus/vdpa/drivers/virtio_vdpa" \
		"$r/sys/bus/vdpa/drivers/vhost_vdpa" \
		"$r/sys/bus/virtio/drivers/virtio_blk"
	: >"$r/dev/vduse/control"
}

# --- No verb, unknown verb, help, version ---------------------------------
expect 2 "vdk: missing verb (see 'vdk help')"
expect 2 "vdk: unknown verb 'frob' (see 'vdk help')" frob
expect 2 "vdk: unknown option '--frob' (see 'vdk help')" --frob
expect_out 0 "Usage: vdk VERB*Exit codes:*6  no such device" --help
expect_out 0 "Usage: vdk VERB*" help
expect_out 0 "vdk [0-9]*.*" --version
for verb in add del list resize backends bus; do
	expect_out 0 "Usage: vdk $verb*" "$verb" --help
	expect_out 0 "Usage: vdk $verb*" "$verb" -h
	expect_out 0 "Usage: vdk $verb*" help "$verb"
done
expect 2 "vdk: help: unknown verb 'frob' (see 'vdk help')" help frob

# --- Usage errors ----------------------------------------------------------
expect 2 "vdk: add: unknown option '--bogus'" add --bogus d0 ram
expect 2 "vdk: add: unknown option '-x'" add -x d0 ram
expect 2 "vdk: list: unknown option '--bogus'" list --bogus
expect 2 "vdk: add: option '--queues' needs a value" add d0 ram --queues
expect 2 "vdk: add: bad --queues value '0' (1..64)" add -q 0 d0 ram
expect 2 "vdk: add: bad --queue-size value '3' (a power of 2, 2..1024)" \
	add --queue-size 3 d0 ram
expect 2 "vdk: add: bad --block-size value '1000' (512 or 4096)" \
	add -b 1000 d0 ram
expect 2 "vdk: add: bad --bus value 'pci' (virtio or vhost)" \
	add --bus pci d0 ram
expect 2 "vdk: add: missing device name" add
expect 2 "vdk: del: missing device name" del
expect 2 "vdk: resize: missing device name" resize
expect 2 "vdk: bus: missing device name" bus
expect 2 "vdk: bus: missing bus (virtio or vhost)" bus d0
expect 2 "vdk: bus: bad bus value 'pci' (virtio or vhost)" bus d0 pci
expect 2 "vdk: bus: unexpected argument 'x'" bus d0 vhost x
expect 2 "vdk: bus: bad --timeout value '0' (seconds, 1..3600)" \
	bus --timeout 0 d0 vhost
expect 2 "vdk: add: missing backend (see 'vdk backends')" add d0
expect 2 "vdk: add: bad device name 'a/b' (letters, digits, '_.:-' only)" \
	add a/b ram
expect 2 "vdk: del: unexpected argument 'x'" del d0 x
expect 2 "vdk: add: unknown backend 'nosuch' (see 'vdk backends')" \
	add d0 nosuch
expect_like 2 "vdk: add: *'size'*" add d0 ram size
expect_like 2 "vdk: add: *'size'*" add d0 ram size=1M size=2M
expect 2 "vdk: add: unknown parameter 'color'" add d0 ram size=1M color=red
expect_like 2 "vdk: add: *size*" add d0 ram size=12Q
expect_like 2 "vdk: add: *size*" add d0 ram size=

# --- Backend errors: missing file, size not a multiple --------------------
expect 1 "vdk: add: cannot open '$T/nope.img': No such file or directory" \
	add d0 file path="$T/nope.img"
head -c 1000 /dev/zero >"$T/odd.img"
expect_like 2 "vdk: add: *1000 is not a multiple of the block size 512" \
	add d0 file path="$T/odd.img"
head -c 6144 /dev/zero >"$T/6k.img"
expect 2 "vdk: add: size 6144 is not a multiple of the block size 4096" \
	add -b 4096 d0 file path="$T/6k.img"

# --- Not root -------------------------------------------------------------
if [[ $(id -u) -eq 0 ]] && command -v setpriv >/dev/null; then
	asnobody=(setpriv --reuid=nobody --regid=nogroup --clear-groups)
	# The tree must be readable by nobody.
	chmod 755 "$T"
	for cmd in "add d0 ram size=1M" "del d0" "resize d0" "bus d0 vhost"; do
		verb=${cmd%% *}
		rc=0
		"${asnobody[@]}" "$VDK" $cmd >"$T/out" 2>"$T/err" </dev/null ||
			rc=$?
		if [[ $rc -eq 4 &&
		      $(cat "$T/err") == "vdk: $verb: must be run as root" ]]; then
			ok
		else
			bad "vdk $cmd as nobody: exit $rc, stderr $(cat "$T/err")"
		fi
	done
	# Usage errors come first.
	rc=0
	"${asnobody[@]}" "$VDK" add d0 nosuch >/dev/null 2>&1 || rc=$?
	[[ $rc -eq 2 ]] && ok || bad "usage error as nobody: exit $rc, want 2"
else
	skipped "not root: the not-root cases"
fi

# --- Kernel support missing ----------------------------------------------
mkdir -p "$T/none/sys" "$T/none/dev"
if [[ $(id -u) -eq 0 ]]; then
	ROOT="$T/none" expect 3 "vdk: add: kernel support missing: run 'modprobe vduse virtio_vdpa virtio_blk'" \
		add d0 ram size=1M 2>/dev/null
	ROOT="$T/none" expect 3 "vdk: add: kernel support missing: run 'modprobe vduse vhost_vdpa'" \
		add --bus vhost d0 ram size=1M
	# Only virtio_blk missing.
	fake_kernel "$T/blk"
	rm -rf "$T/blk/sys/bus/virtio"
	ROOT="$T/blk" expect 3 "vdk: add: kernel support missing: run 'modprobe virtio_blk'" \
		add d0 ram size=1M
	# This machine, as it is.
	if [[ ! -e /dev/vduse/control ]]; then
		expect_like 3 "vdk: add: kernel support missing: run 'modprobe vduse*'" \
			add d0 ram size=1M
	else
		skipped "/dev/vduse/control exists here"
	fi
else
	skipped "not root: the module cases"
fi

# --- Name in use, no such device ------------------------------------------
fake_kernel "$T/e"
fake_kernel "$T/k"
mkdir -p "$T/k/sys/class/vduse/d0"
: >"$T/k/dev/vduse/d0"
mkdir -p "$T/k/sys/bus/vdpa/devices/d7"
if [[ $(id -u) -eq 0 ]]; then
	ROOT="$T/k" expect 5 "vdk: add: device name 'd0' is in use" \
		add d0 ram size=1M
	ROOT="$T/k" expect 5 "vdk: add: device name 'd7' is in use" \
		add d7 ram size=1M
	ROOT="$T/k" expect 6 "vdk: del: no such device 'nosuch'" \
		del nosuch
	ROOT="$T/k" expect 6 "vdk: resize: no such device 'nosuch'" \
		resize nosuch
	ROOT="$T/k" expect 1 "vdk: resize: no vdk daemon serves 'd0'" \
		resize d0
	ROOT="$T/k" expect 6 "vdk: bus: no such device 'nosuch'" \
		bus nosuch vhost
	ROOT="$T/k" expect 1 "vdk: bus: no vdk daemon serves 'd0'" \
		bus d0 vhost
	ROOT="$T/none" expect 3 "vdk: bus: kernel support missing: run 'modprobe vduse vhost_vdpa'" \
		bus d0 vhost
	# A state file whose daemon is gone is cleaned up by del.
	mkdir -p "$VDK_RUN_DIR"
	echo '{"pid":999999999,"name":"gone"}' >"$VDK_RUN_DIR/gone.json"
	ROOT="$T/k" expect 6 "vdk: del: no such device 'gone'" \
		del gone
	[[ ! -e $VDK_RUN_DIR/gone.json ]] && ok ||
		bad "del left a stale state file"
	# Past every check, the kernel itself is missing: the failure comes
	# back from the device's creation, through the daemon's pipe too,
	# and nothing is left behind.
	msg="vdk: add: /dev/vduse/control is missing: run 'modprobe vduse'"
	if [[ ! -e /dev/vduse/control ]]; then
		ROOT="$T/e" expect 3 "$msg" add d0 ram size=1M
		ROOT="$T/e" expect 3 "$msg" add -d -p "$T/d0.pid" -j \
			--log "$T/d0.log" d0 ram size=1M
		[[ ! -e $T/d0.pid ]] && ok || bad "pidfile written on failure"
		[[ $(cat "$T/d0.log") == *"error: d0: ${msg#vdk: add: }" ]] &&
			ok || bad "log: $(cat "$T/d0.log")"
		[[ ! -e $VDK_RUN_DIR/d0.json ]] && ok ||
			bad "state file written on failure"
	else
		skipped "/dev/vduse/control exists here"
	fi
else
	skipped "not root: name in use, del, resize"
fi
ROOT="$T/k" expect 6 "vdk: list: no such device 'nosuch'" list nosuch

# --- list -----------------------------------------------------------------
ROOT="$T/none" expect_out 0 "" list
ROOT="$T/none" expect_out 0 "\[\]" list -j
ROOT="$T/e" expect_out 0 "\[\]" list -j

# d0: orphan, not attached; d7 is on the bus without a VDUSE device (not
# listed); d1: attached to virtio_vdpa as vdc, with a state file.
mkdir -p "$T/k/sys/class/vduse/d1" \
	"$T/k/sys/bus/vdpa/devices/d1/virtio2/block/vdc"
echo 4096 >"$T/k/sys/bus/vdpa/devices/d1/virtio2/block/vdc/size"
ln -s ../../drivers/virtio_vdpa "$T/k/sys/bus/vdpa/devices/d1/driver"
: >"$T/k/dev/vdc"
ROOT="$T/k" expect_out 0 "NAME*STATE
d0 *-*-*-*-*-*orphan
d1 *$T/k/dev/vdc*-*2M*-*virtio*orphan" list
ROOT="$T/k" expect_out 0 "\[{\"name\":\"d0\",*\"state\":\"orphan\"*},{\"name\":\"d1\",\"node\":\"$T/k/dev/vdc\",*\"size\":2097152,*\"bus\":\"virtio\",*\"attached\":true,\"driver\":\"virtio_vdpa\"*}]" \
	list -j
json_ok
ROOT="$T/k" expect_out 0 "NAME*
d1 *orphan" list d1

# bg_wait comm|fd3 CMD...: start CMD in the background (BG: its pid,
# stopped at exit) and wait until its command name is vdk (comm) or it
# holds fd 3 open (fd3).
bg_wait() {
	local until=$1
	shift
	"$@" &
	BG=$!
	pids+=("$BG")
	for _ in $(seq 100); do
		case $until in
		comm) [[ $(cat "/proc/$BG/comm" 2>/dev/null) == vdk ]] && return 0 ;;
		fd3) [[ -e /proc/$BG/fd/3 ]] && return 0 ;;
		esac
		sleep 0.02
	done
}

# A daemon: any process whose command name is vdk.  It stands for the
# real one: removes "its" device on SIGTERM, counts SIGHUPs.
mkdir -p "$T/bin"
cat >"$T/bin/vdk" <<EOF
#!/bin/bash
trap 'echo hup >>"$T/hups"' HUP
trap 'rm -rf "$T/k/sys/class/vduse/d1" "$T/k/sys/bus/vdpa/devices/d1"; exit 0' TERM
while :; do sleep 0.05; done
EOF
chmod 755 "$T/bin/vdk"
# Started with SIGHUP at its default: bash cannot trap a signal that was
# ignored when it started (as under nohup).
bg_wait comm env --default-signal=HUP "$T/bin/vdk"
daemon=$BG
printf '{"pid":%d,"name":"d1","backend":"ram","params":{"size":"2M"},"size":2097152,"block_size":512,"queues":2,"queue_size":256,"read_only":false,"bus":"virtio","node":"/dev/vdc"}\n' \
	"$daemon" >"$VDK_RUN_DIR/d1.json"
ROOT="$T/k" expect_out 0 "NAME*
d1 *$T/k/dev/vdc*ram*2M*2*virtio*running" list d1
ROOT="$T/k" expect_out 0 "\[{\"name\":\"d1\",*\"backend\":\"ram\",*\"queues\":2,*\"pid\":$daemon,*\"params\":{\"size\":\"2M\"}}]" \
	list -j d1
json_ok
# A state file from before the type field: a blk device.
ROOT="$T/k" expect_out 0 "NAME *NODE *TYPE *BACKEND*
d1 *$T/k/dev/vdc *blk *ram*" list d1
ROOT="$T/k" expect_out 0 "\[{\"name\":\"d1\",\"node\":\"$T/k/dev/vdc\",\"type\":\"blk\",\"backend\":\"ram\",*" \
	list -j d1
if [[ $(id -u) -eq 0 ]]; then
	# vdk bus: unbind, driver_override and drivers_probe are written; the
	# vhost-vdpa node "appears" (made beforehand); the state file follows.
	dv=$T/k/sys/bus/vdpa
	: >"$dv/drivers/virtio_vdpa/unbind"
	: >"$dv/devices/d1/driver_override"
	: >"$dv/drivers_probe"
	mkdir -p "$dv/devices/d1/vhost-vdpa-3"
	: >"$T/k/dev/vhost-vdpa-3"
	ROOT="$T/k" expect_out 0 "$T/k/dev/vhost-vdpa-3" bus d1 vhost
	[[ $(cat "$dv/drivers/virtio_vdpa/unbind") == d1 &&
	   $(cat "$dv/devices/d1/driver_override") == vhost_vdpa &&
	   $(cat "$dv/drivers_probe") == d1 ]] && ok ||
		bad "bus d1 vhost: unbind, driver_override, drivers_probe not written"
	grep -q '"bus":"vhost","node":"'"$T/k/dev/vhost-vdpa-3"'"' \
		"$VDK_RUN_DIR/d1.json" && ok ||
		bad "bus d1 vhost: state file $(cat "$VDK_RUN_DIR/d1.json")"
	# Already there (the fake driver link still says virtio_vdpa, so
	# point it at vhost_vdpa): prints the node, as JSON with -j.
	ln -sfn ../../drivers/vhost_vdpa "$dv/devices/d1/driver"
	ROOT="$T/k" expect_out 0 "{\"name\":\"d1\",\"node\":\"$T/k/dev/vhost-vdpa-3\",\"bus\":\"vhost\",\"driver\":\"vhost_vdpa\",\"previous_bus\":\"vhost\"}" \
		bus -j d1 vhost
	json_ok
	# The node is held open: refused, nothing written.
	: >"$dv/drivers/vhost_vdpa/unbind"
	bg_wait fd3 sleep 30 3<"$T/k/dev/vhost-vdpa-3"
	holder=$BG
	ROOT="$T/k" expect 1 "vdk: bus: $T/k/dev/vhost-vdpa-3 is in use (process $holder): not moved" \
		bus d1 virtio
	[[ ! -s $dv/drivers/vhost_vdpa/unbind ]] && ok ||
		bad "bus d1 virtio unbound a device in use"
	stop_bg "$holder"
	# Moved, and the disk never shows up: a timeout.
	rm -rf "$dv/devices/d1/virtio2"
	ROOT="$T/k" expect 1 "vdk: bus: 'd1' not live on virtio_vdpa after 1 s" \
		bus --timeout 1 d1 virtio
	ln -sfn ../../drivers/virtio_vdpa "$dv/devices/d1/driver"
	mkdir -p "$dv/devices/d1/virtio2/block/vdc"
	echo 4096 >"$dv/devices/d1/virtio2/block/vdc/size"
	ROOT="$T/k" expect_out 0 "" resize d1
	for _ in $(seq 500); do
		[[ -s $T/hups ]] && break
		sleep 0.02
	done
	[[ $(cat "$T/hups" 2>/dev/null) == hup ]] && ok ||
		bad "resize sent no SIGHUP"
	ROOT="$T/k" expect_out 0 "" del d1
	if alive "$daemon"; then
		bad "del returned before the daemon exited"
		kill -KILL "$daemon"
	else
		ok
	fi
	wait "$daemon" 2>/dev/null
	# A daemon that ignores SIGTERM: del gives up after --timeout.
	cat >"$T/bin/vdk" <<EOF
#!/bin/bash
trap '' TERM
while :; do sleep 0.05; done
EOF
	bg_wait comm "$T/bin/vdk"
	daemon=$BG
	printf '{"pid":%d,"name":"d0"}\n' "$daemon" >"$VDK_RUN_DIR/d0.json"
	ROOT="$T/k" expect 1 "vdk: del: the daemon of 'd0' (pid $daemon) did not exit within 1 s" \
		del --timeout 1 d0
	stop_bg "$daemon"
else
	skipped "not root: resize and del of a running daemon"
fi

# Who holds /dev/vduse/NAME open, when no state file says: another
# program (left alone), or a vdk daemon still starting.
rm -f "$VDK_RUN_DIR/d0.json"
bg_wait fd3 sleep 30 3<"$T/k/dev/vduse/d0"
holder=$BG
ROOT="$T/k" expect_out 0 "NAME*
d0 *foreign" list d0
if [[ $(id -u) -eq 0 ]]; then
	ROOT="$T/k" expect 1 "vdk: del: 'd0' is served by process $holder (sleep), not by vdk" \
		del d0
fi
stop_bg "$holder"
cat >"$T/bin/vdk" <<EOF
#!/bin/bash
exec 3<"$T/k/dev/vduse/d0"
while :; do sleep 0.05; done
EOF
bg_wait fd3 "$T/bin/vdk"
daemon=$BG
ROOT="$T/k" expect_out 0 "NAME*
d0 *starting" list d0
stop_bg "$daemon"

# --- backends -------------------------------------------------------------
expect_out 0 "*file*path=*ram*null*" backends
expect_out 0 "\[{\"name\":\"file\"*" backends -j
json_ok

[[ $skip -eq 0 ]] || echo "$skip skipped"
echo "$pass passed, $fail failed"
[[ $fail -eq 0 ]]
