#!/bin/bash
# The virtio-net benchmark, inside the test guest (run by bench/vm/net.sh
# through tests/vm/run.sh): vdk net + tap, DPDK testpmd serving a VDUSE
# net device, and a veth pair, in the same two-namespace layout,
# interleaved, repeated; one JSON line per run, each run's raw output kept.
#
# The layout, for every contender: the measured interface m0 in namespace
# nba (10.77.0.2), the peer p0 in namespace nbb (10.77.0.1); the clients
# (iperf3, sockperf) run in nba, the servers in nbb.
#   vdk    `vdk add --type net vnb tap`: its virtio-net interface (through
#          virtio_vdpa) is m0; the tap vnb, in the root namespace, is a port
#          of bridge nbr with veth nv0, whose peer nv1 is p0.
#   dpdk   dpdk-testpmd creates the VDUSE device itself (net_vhost0,
#          iface=/dev/vduse/dpk0) and forwards (io mode, one forwarding
#          lcore) to a net_tap PMD tap dpt0, bridged as vdk's tap is;
#          `vdpa dev add name dpk0 mgmtdev vduse` makes m0.
#   veth   a veth pair m0 / p0 straight between the namespaces: the
#          in-kernel ceiling.
#
# Settings from the kernel command line, vdk.bench=KEY=VAL,KEY=VAL...:
#   quick=1 (1 rep, 3 s runs), reps=N (3), runtime=S (8), jobs=A+B...,
#   contenders=A+B..., dpdk=ARGS (testpmd's application options, "+" for
#   spaces).
#
# Output in $VDK_RESULTS: raw.jsonl, runs/ORDER-JOB-CONTENDER.out (the
# client's output, parsed by bench/vm/net-report.py), env.txt, logs.
set -uo pipefail
# shellcheck source-path=SCRIPTDIR source=../../tests/vm/lib-guest.sh
. "${VDK_LIB:-/vdk/lib-guest.sh}"

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
export PATH="$HERE/bin:$PATH"
W=/tmp/bench
R=${VDK_RESULTS:-/results}
mkdir -p "$W" "$R/runs"

REPS=3 RUNTIME=8
ALL_JOBS="tcp-tx tcp-rx rr-tcp rr-udp udp64-tx udp64-rx"
ALL_CONTENDERS="vdk dpdk veth"
JOBS=$ALL_JOBS CONTENDERS=$ALL_CONTENDERS
DPDK_APP="--forward-mode=io --nb-cores=1 --txd=1024 --rxd=1024 --burst=64"
# shellcheck source-path=SCRIPTDIR source=lib-bench.sh
. "$HERE/lib-bench.sh"
SETTINGS=${VDK_BENCH_SETTINGS:-$(bench_cmdline bench)}
[[ ,$SETTINGS, != *,quick=1,* ]] || REPS=1 RUNTIME=3
bench_parse "$SETTINGS" quick: reps:REPS runtime:RUNTIME jobs:JOBS \
	contenders:CONTENDERS dpdk:DPDK_APP
bench_numbers "$REPS" "$RUNTIME"

A=nba B=nbb
ADDR_A=10.77.0.2 ADDR_B=10.77.0.1
# The processes that serve the contender now (CPU counted per run).
SERVE_PIDS=()

# ---- the layout ----

ns_up() {
	ip netns add $A && ip netns add $B || return
	ip -n $A link set lo up && ip -n $B link set lo up
}

# wire IFACE TAP: IFACE into A as m0; TAP bridged to a veth whose peer is
# p0 in B.
wire() {
	local ifc=$1 tap=$2
	ns_up || return
	ip link set "$ifc" netns $A || return
	ip -n $A link set "$ifc" name m0 || return
	ip -n $A addr add $ADDR_A/24 dev m0 && ip -n $A link set m0 up || return
	ip link add nbr type bridge || return
	ip link add nv0 type veth peer name p0 netns $B || return
	ip link set nv0 master nbr up && ip link set "$tap" master nbr up || return
	ip link set nbr up || return
	ip -n $B addr add $ADDR_B/24 dev p0 && ip -n $B link set p0 up
}

# The servers in B, once per setup; then wait until A reaches B.
servers_up() {
	ip netns exec $B iperf3 -s -D -I "$W/iperf3.pid" || return
	ip netns exec $B sockperf sr --tcp -i $ADDR_B -p 11111 >"$W/sockperf-tcp.log" 2>&1 &
	ip netns exec $B sockperf sr -i $ADDR_B -p 11112 >"$W/sockperf-udp.log" 2>&1 &
	wait_for 30 ip netns exec $A ping -c1 -W1 $ADDR_B >/dev/null || return
	wait_for 10 bash -c "ip netns exec $B ss -ltn | grep -q ':5201 '" &&
		wait_for 10 bash -c "ip netns exec $B ss -ltn | grep -q ':11111 '"
}

ns_down() {
	local p
	for p in $(ip netns pids $A 2>/dev/null) $(ip netns pids $B 2>/dev/null); do
		kill "$p" 2>/dev/null
	done
	sleep 0.5
	ip link del nbr 2>/dev/null
	ip link del nv0 2>/dev/null
	ip netns del $A 2>/dev/null
	ip netns del $B 2>/dev/null
	return 0
}

# ---- contenders: setup_C REP sets SERVE_PIDS; teardown_C undoes it ----

setup_vdk() {
	local ifc spid
	ifc=$(vdk add -d -p "$W/vnb.pid" --log "$R/vnb-$1.log" vnb --type net tap) ||
		return
	SERVE_PIDS=("$(cat "$W/vnb.pid")")
	spid=$(vdk list -j vnb | sed -n 's/.*"server_pid": *\([0-9]*\).*/\1/p')
	[[ -z $spid ]] || SERVE_PIDS+=("$spid")
	wire "$ifc" vnb
}
teardown_vdk() {
	ns_down
	vdk del vnb || return
	wait_for 20 bash -c "! test -e /dev/vduse/vnb"
}

# vdpa_netdev NAME: the interface of vdpa device NAME.
vdpa_netdev() {
	local d
	for d in /sys/bus/vdpa/devices/"$1"/virtio*/net/*; do
		[[ -e $d ]] && { basename "$d"; return 0; }
	done
	return 1
}

setup_dpdk() {
	local ifc
	# Not interactive, testpmd forwards until its input is readable or
	# it gets SIGINT: its input is a FIFO this shell holds open.
	rm -f "$W/testpmd.in"
	mkfifo "$W/testpmd.in" && exec 7<>"$W/testpmd.in"
	# shellcheck disable=SC2086 # the options are words
	dpdk-testpmd -l 0-1 -n 1 --in-memory --no-pci \
		--vdev net_vhost0,iface=/dev/vduse/dpk0,queues=1 \
		--vdev net_tap0,iface=dpt0 -- $DPDK_APP --total-num-mbufs=32768 \
		<"$W/testpmd.in" >"$R/testpmd-$1.log" 2>&1 &
	SERVE_PIDS=("$!")
	wait_for 60 test -c /dev/vduse/dpk0 || return
	wait_for 30 test -e /sys/class/net/dpt0 || return
	vdpa dev add name dpk0 mgmtdev vduse || return
	wait_for 30 vdpa_netdev dpk0 >/dev/null || return
	ifc=$(vdpa_netdev dpk0)
	wire "$ifc" dpt0
}
teardown_dpdk() {
	ns_down
	vdpa dev del dpk0
	wait_for 20 bash -c "! test -e /sys/bus/vdpa/devices/dpk0"
	kill -INT "${SERVE_PIDS[0]}"
	wait_for 30 bash -c "! kill -0 ${SERVE_PIDS[0]} 2>/dev/null" ||
		kill -KILL "${SERVE_PIDS[0]}"
	wait "${SERVE_PIDS[0]}" 2>/dev/null
	exec 7>&-
	wait_for 20 bash -c "! test -e /dev/vduse/dpk0"
}

setup_veth() {
	SERVE_PIDS=()
	ns_up || return
	ip link add m0 netns $A type veth peer name p0 netns $B || return
	ip -n $A addr add $ADDR_A/24 dev m0 && ip -n $A link set m0 up || return
	ip -n $B addr add $ADDR_B/24 dev p0 && ip -n $B link set p0 up
}
teardown_veth() { ns_down; }

# ---- jobs ----

job_cmd() {
	local t=$RUNTIME
	case $1 in
	tcp-tx) echo iperf3 -c $ADDR_B -t "$t" -J ;;
	tcp-rx) echo iperf3 -c $ADDR_B -t "$t" -R -J ;;
	rr-tcp) echo sockperf pp --tcp -i $ADDR_B -p 11111 -m 64 -t "$t" ;;
	rr-udp) echo sockperf pp -i $ADDR_B -p 11112 -m 64 -t "$t" ;;
	udp64-tx) echo iperf3 -c $ADDR_B -t "$t" -u -l 64 -b 0 -J ;;
	udp64-rx) echo iperf3 -c $ADDR_B -t "$t" -u -l 64 -b 0 -R -J ;;
	*) return 1 ;;
	esac
}

serve_cpu() {
	local p sum=0
	for p in "${SERVE_PIDS[@]}"; do
		sum=$(awk -v a="$sum" -v b="$(proc_cpu "$p")" 'BEGIN { print a + b }')
	done
	echo "$sum"
}

# Voluntary context switches (sleeps, so wake-ups) of all the serving
# processes' threads so far.
serve_wakeups() {
	local p
	for p in "${SERVE_PIDS[@]}"; do
		cat /proc/"$p"/task/*/status 2>/dev/null
	done | awk '/^voluntary_ctxt_switches/ { n += $2 } END { print n + 0 }'
}

ORDER=0
run_one() {
	local job=$1 c=$2 rep=$3 rc=0 out s0 s1 g0 g1 t0 t1 w0 w1 cmd
	cmd=$(job_cmd "$job")
	ORDER=$((ORDER + 1))
	out=runs/$(printf '%03d' $ORDER)-$job-$c.out
	w0=$(serve_wakeups)
	s0=$(serve_cpu) g0=$(guest_busy) t0=$(cut -d' ' -f1 /proc/uptime)
	# shellcheck disable=SC2086 # the command is words
	timeout -k 5 $((RUNTIME + 60)) ip netns exec $A $cmd >"$R/$out" 2>&1 || rc=$?
	s1=$(serve_cpu) g1=$(guest_busy) t1=$(cut -d' ' -f1 /proc/uptime)
	w1=$(serve_wakeups)
	printf '{"job":"%s","contender":"%s","rep":%d,"order":%d,"status":%d,"out":"%s","start_s":%s,"wall_s":%s,"serve_cpu_s":%s,"guest_cpu_s":%s,"serve_wakeups":%d}\n' \
		"$job" "$c" "$rep" "$ORDER" "$rc" "$out" "$t0" \
		"$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.2f", b - a }')" \
		"$(awk -v a="$s0" -v b="$s1" 'BEGIN { printf "%.2f", b - a }')" \
		"$(awk -v a="$g0" -v b="$g1" 'BEGIN { printf "%.2f", b - a }')" \
		$((w1 - w0)) >>"$R/raw.jsonl"
	log "rep $rep/$REPS $job $c: status $rc, $(brief "$R/$out")"
}

# One line of a client's output for the log.
brief() {
	grep -m1 -oE '"bits_per_second":[[:space:]]*[0-9.e+]+' <(tac "$1") |
		awk '{ printf "%.0f Mbit/s", $2 / 1e6 }'
	grep -m1 -oE 'RunTime=[0-9.]+ sec; SentMessages=[0-9]+; ReceivedMessages=[0-9]+' "$1"
}

env_info() {
	echo "kernel=$(uname -r)"
	echo "guest_cpu=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n 1)"
	echo "guest_cpus=$(nproc)"
	echo "guest_mem_mib=$(awk '/MemTotal/ { print int($2 / 1024) }' /proc/meminfo)"
	echo "vdk=$(vdk --version 2>&1 | head -n 1)"
	dpkg-query -W -f='pkg_${Package}=${Version}\n' dpdk iperf3 sockperf \
		librte-net-vhost25 2>/dev/null || true
	echo "testpmd=$(dpkg -S "$(command -v dpdk-testpmd)" 2>&1 | head -n 1)"
	echo "testpmd_app=$DPDK_APP"
	echo "reps=$REPS"
	echo "runtime_s=$RUNTIME"
	echo "jobs=$JOBS"
	echo "contenders=$CONTENDERS"
	echo "settings=$SETTINGS"
	echo "hugepages=$(cat /proc/sys/vm/nr_hugepages)"
	# What one system call costs here (dd: a read and a write a byte),
	# and whether the kernel pays page-table isolation on each.
	echo "syscall_pair_us=$(dd if=/dev/zero of=/dev/null bs=1 count=100000 2>&1 |
		awk -F, '/copied/ { sub(/ s/, "", $3); printf "%.2f", $3 * 1e6 / 100000 }')"
	echo "meltdown=$(cat /sys/devices/system/cpu/vulnerabilities/meltdown 2>/dev/null)"
}

# ---- main ----

log "net benchmark: kernel $(uname -r), $(nproc) CPUs"
load_vduse_modules || exit 1
modprobe virtio_net && modprobe tun && modprobe bridge && modprobe veth || exit 1
# EAL refuses to load its PMD plugins under a world-writable directory,
# and the guest's / (the initramfs) is one.
chmod go-w /
mkdir -p /dev/hugepages
mountpoint -q /dev/hugepages || mount -t hugetlbfs none /dev/hugepages
echo 256 >/proc/sys/vm/nr_hugepages
env_info >"$R/env.txt"
sed 's/^/  /' "$R/env.txt"
: >"$R/raw.jsonl"
dmesg_mark
for job in $JOBS; do
	job_cmd "$job" >/dev/null || { echo "bench: unknown job $job" >&2; exit 2; }
done
for c in $CONTENDERS; do
	declare -F "setup_$c" >/dev/null || { echo "bench: unknown contender $c" >&2; exit 2; }
done
read -ra ACTIVE <<<"$CONTENDERS"
n=${#ACTIVE[@]}
log "$((REPS * n * $(wc -w <<<"$JOBS"))) runs of $RUNTIME s"
for ((rep = 1; rep <= REPS; rep++)); do
	for ((i = 0; i < n; i++)); do
		c=${ACTIVE[(i + rep - 1) % n]}
		if "setup_$c" "$rep" && servers_up; then
			log "rep $rep $c: up (serving pids ${SERVE_PIDS[*]:-none})"
			ip -n $A -d link show m0 >"$R/link-$c-$rep.txt" 2>&1
			ip netns exec $A ethtool -k m0 >>"$R/link-$c-$rep.txt" 2>&1
			for job in $JOBS; do
				run_one "$job" "$c" "$rep"
			done
			# Where the serving CPU went, thread by thread.
			for p in "${SERVE_PIDS[@]}"; do
				thread_cpu "$p"
			done >"$R/threads-$c-$rep.txt"
		else
			log "rep $rep $c: SETUP FAILED, left out"
		fi
		"teardown_$c" || log "rep $rep $c: teardown failed"
	done
done

log "$(wc -l <"$R/raw.jsonl") runs recorded; $(grep -vc '"status":0,' "$R/raw.jsonl") failed"
check_dmesg
summary
