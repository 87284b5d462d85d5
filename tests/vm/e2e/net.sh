# virtio-net scenarios, sourced by guest-main.sh: the Linux virtio-net
# driver (through virtio_vdpa) is the client, a tap the host side.
#
# The layout: the vdk interface in namespace vdkns (10.99.0.2); its tap in
# the root namespace, a port of bridge vdkbr with one end of a veth pair;
# the other end in namespace peerns (10.99.0.1).  Traffic between the two
# namespaces crosses the device, the tap and the bridge.
# shellcheck shell=bash

NET_A=10.99.0.2
NET_B=10.99.0.1

# The modules, and nothing left of an earlier scenario that failed.
#
# A ping keeps the kernel's timestamp key on from the first scenario to
# the last: each ping that turned it on and off again made the kernel
# patch its own code, and multi-threaded TCG races with that patching
# ("Oops: int3", tests/vm/README.md) often enough to end a run.
load_net_modules() {
	modprobe virtio_net && modprobe tun && modprobe bridge && modprobe veth
	if [[ ! -e $WORK/net-keepalive.pid ]]; then
		ping -q -i 30 127.0.0.1 >/dev/null 2>&1 &
		echo $! > "$WORK/net-keepalive.pid"
	fi
	net_down
	for d in /sys/bus/vdpa/devices/vn*; do
		[[ -e $d ]] && vdk del "$(basename "$d")" >/dev/null 2>&1
	done
	for d in /sys/class/net/vn*; do
		[[ -e $d ]] && ip link del "$(basename "$d")" 2>/dev/null
	done
	return 0
}

# net_up NAME IFACE MTU: move IFACE into vdkns and wire the peer side.
net_up() {
	local name=$1 ifc=$2 mtu=$3
	ip netns add vdkns
	ip netns add peerns
	ip link set "$ifc" netns vdkns
	ip -n vdkns link set "$ifc" name vdk0
	ip -n vdkns addr add "$NET_A/24" dev vdk0
	ip -n vdkns link set vdk0 mtu "$mtu" up
	ip -n vdkns link set lo up
	ip link add vdkbr mtu "$mtu" type bridge
	ip link add vdkv0 mtu "$mtu" type veth peer name vdkv1 mtu "$mtu" netns peerns
	ip link set vdkv0 master vdkbr up
	ip link set "$name" master vdkbr up
	ip link set vdkbr up
	ip -n peerns addr add "$NET_B/24" dev vdkv1
	ip -n peerns link set vdkv1 up
	ip -n peerns link set lo up
	wait_for 20 ip netns exec vdkns ping -c1 -W1 "$NET_B" >/dev/null
}

net_down() {
	ip netns pids vdkns 2>/dev/null | xargs -r kill 2>/dev/null || true
	ip netns pids peerns 2>/dev/null | xargs -r kill 2>/dev/null || true
	ip link del vdkbr 2>/dev/null || true
	ip link del vdkv0 2>/dev/null || true
	ip netns del vdkns 2>/dev/null || true
	ip netns del peerns 2>/dev/null || true
}

# Checksum errors TCP and UDP saw in namespace NS.
csum_errors() {
	ip netns exec "$1" awk '/^(Tcp|Udp): [A-Z]/ { split($0, h) }
		/^(Tcp|Udp): [0-9]/ { for (i = 2; i <= NF; i++) if (h[i] == "InCsumErrors") n += $i }
		END { print n + 0 }' /proc/net/snmp
}

# iperf_file NS_SRV NS_CLI ADDR SECS FILE: send FILE from NS_CLI to the
# server in NS_SRV (-F on both ends) for SECS; the received copy must be
# FILE's bytes, repeated.
iperf_file() {
	local srv=$1 cli=$2 addr=$3 secs=$4 file=$5 got=$WORK/iperf.got spid
	rm -f "$got"
	spid=$(iperf_server "$srv" "$got")
	ip netns exec "$cli" iperf3 -c "$addr" -t "$secs" -F "$file" -J > "$WORK/iperf.json"
	wait_for 20 bash -c "! kill -0 $spid 2>/dev/null"
	iperf_print "$WORK/iperf.json"
	cmp_repeated "$file" "$got"
}

# iperf_server NS FILE: a one-test iperf3 server in NS writing what it
# receives to FILE; prints its pid once it listens.
iperf_server() {
	local pidf=$WORK/iperf.pid
	rm -f "$pidf"
	ip netns exec "$1" iperf3 -s -1 -D -F "$2" -I "$pidf"
	wait_for 10 test -s "$pidf"
	cat "$pidf"
	wait_for 10 bash -c "ip netns exec $1 ss -ltn | grep -q ':5201 '"
}

# The throughput of an iperf3 -J report.
iperf_print() {
	sed -n 's/.*"bits_per_second":[[:space:]]*\([0-9.e+]*\).*/\1/p' "$1" |
		tail -1 | awk '{ printf "  %.0f Mbit/s\n", $1 / 1e6 }'
}

# cmp_repeated SRC GOT: GOT is SRC, whole, some times over (and a prefix).
cmp_repeated() {
	local src=$1 got=$2 n size off=0
	size=$(stat -c %s "$src")
	n=$(stat -c %s "$got")
	echo "  received $n bytes"
	((n >= size)) || { echo "  less than one copy" >&2; return 1; }
	while ((off + size <= n)); do
		cmp -s "$src" <(tail -c +$((off + 1)) "$got" | head -c "$size") ||
			{ echo "  copy at $off differs" >&2; return 1; }
		off=$((off + size))
		((off < 64 * 1048576)) || break
	done
}

# 13a: the interface as asked, ping, link changes both ways.
net_basic() {
	local ifc out
	load_net_modules
	ifc=$(add vn0 --type net --mac 52:54:00:ab:cd:01 --mtu 1500 tap ifname=vn0)
	echo "  interface $ifc"
	ring_check vn0
	[[ $(cat "/sys/class/net/$ifc/address") == 52:54:00:ab:cd:01 ]]
	[[ $(cat "/sys/class/net/$ifc/mtu") == 1500 ]]
	vdk list vn0 | sed 's/^/  /'
	vdk list -j vn0 | grep -q '"type": *"net"'
	# Served without root, as a disk is.
	check_confined vn0
	# A command that fails after opening its tap leaves none behind.
	expect_fail 5 "in use" vdk add --type net vn0 tap ifname=vnx
	! ip link show vnx >/dev/null 2>&1 || { echo "  tap vnx left" >&2; return 1; }
	net_up vn0 "$ifc" 1500
	ip netns exec vdkns ping -c 5 -i 0.2 "$NET_B" | tail -2 | sed 's/^/  /'
	ip netns exec peerns ping -c 5 -i 0.2 "$NET_A" >/dev/null
	# The tap goes down: the driver sees no carrier; up: carrier back.
	ip link set vn0 down
	wait_for 10 bash -c "ip -n vdkns link show vdk0 | grep -q NO-CARRIER"
	out=$(ip -n vdkns link show vdk0 | head -1)
	echo "  tap down: $out"
	! ip netns exec vdkns ping -c 1 -W 1 "$NET_B" >/dev/null 2>&1
	ip link set vn0 up
	wait_for 10 bash -c "! ip -n vdkns link show vdk0 | grep -q NO-CARRIER"
	wait_for 20 ip netns exec vdkns ping -c1 -W1 "$NET_B" >/dev/null
	grep -E "link (down|up)" "$WORK/vn0.log" | sed 's/^/  /'
	# The driver's side down and up.
	ip -n vdkns link set vdk0 down
	! ip netns exec peerns ping -c 1 -W 1 "$NET_A" >/dev/null 2>&1
	ip -n vdkns link set vdk0 up
	wait_for 20 ip netns exec peerns ping -c1 -W1 "$NET_A" >/dev/null
	net_down
	del vn0
	! ip link show vn0 >/dev/null 2>&1 || { echo "  the tap is left" >&2; return 1; }
	no_leftovers
}

# 13b: TCP both ways, checksums offloaded and verified, data compared.
net_iperf() {
	local ifc mtu=$1 src=$WORK/net.src e0 e1 spid
	load_net_modules
	head -c 8M /dev/urandom > "$src"
	ifc=$(add vn1 --type net --mtu "$mtu" tap)
	net_up vn1 "$ifc" "$mtu"
	ip netns exec vdkns ethtool -k vdk0 | grep -E '^(tx-checksumming|rx-checksumming|tcp-segmentation-offload|generic-receive-offload):' | sed 's/^/  /'
	if ((mtu > 1500)); then
		ip netns exec vdkns ping -c 3 -i 0.2 -M do -s $((mtu - 28)) "$NET_B" >/dev/null
		echo "  ping of $((mtu - 28)) bytes, not fragmented: ok"
	fi
	e0=$(( $(csum_errors vdkns) + $(csum_errors peerns) ))
	spid=$(iperf_server peerns /dev/null)
	ip netns exec vdkns iperf3 -c "$NET_B" -t 4 -J > "$WORK/iperf.json"
	wait_for 20 bash -c "! kill -0 $spid 2>/dev/null"
	echo "  iperf3 -t 4 from the device: $(iperf_print "$WORK/iperf.json")"
	echo "  from the device, a file:"
	iperf_file peerns vdkns "$NET_B" 5 "$src"
	echo "  to the device, a file:"
	iperf_file vdkns peerns "$NET_A" 5 "$src"
	e1=$(( $(csum_errors vdkns) + $(csum_errors peerns) ))
	echo "  checksum errors: $((e1 - e0))"
	((e1 == e0))
	vdk list -j vn1 | grep -q "\"mtu\": *\"$mtu\""
	net_down
	del vn1
	no_leftovers
}

# 13d: SIGKILL of the daemon in the middle of a transfer; recover; the TCP
# stream goes on and every byte arrives.
net_kill_recover() {
	local ifc src=$WORK/net.src got=$WORK/iperf.got pid spid cpid ipid
	load_net_modules
	# Long enough to be cut in the middle: 64 MiB, 1 MiB of noise repeated.
	head -c 1M /dev/urandom > "$WORK/net.1m"
	for _ in $(seq 64); do cat "$WORK/net.1m"; done > "$src"
	ifc=$(add vn2 --type net tap)
	net_up vn2 "$ifc" 1500
	rm -f "$got"
	ipid=$(iperf_server peerns "$got")
	# Paced at 80 Mbit/s: about 7 s, whatever the kernel's speed.
	ip netns exec vdkns iperf3 -c "$NET_B" -t 120 -b 80M -F "$src" -J > "$WORK/iperf.json" &
	cpid=$!
	sleep 2
	kill -0 "$cpid" || { echo "  the transfer ended before the kill" >&2; return 1; }
	pid=$(cat "$WORK/vn2.pid")
	spid=$(vdk list -j vn2 | sed -n 's/.*"server_pid": *\([0-9]*\).*/\1/p')
	kill -9 "$pid"
	wait_for 10 bash -c "! kill -0 $pid 2>/dev/null && ! kill -0 ${spid:-$pid} 2>/dev/null"
	echo "  killed $pid (server ${spid:-none})"
	# The tap outlives the daemon: its bridge port and all.
	ip link show vn2 | grep -q "master vdkbr"
	vdk recover -d -p "$WORK/vn2.pid" --log "$WORK/vn2.log" vn2 >/dev/null
	echo "  recovered: $(vdk list vn2 | tail -1)"
	wait "$cpid"
	wait_for 20 bash -c "! kill -0 $ipid 2>/dev/null"
	iperf_print "$WORK/iperf.json"
	grep -q '"retransmits"' "$WORK/iperf.json"
	echo "  retransmits: $(sed -n 's/.*"retransmits":[[:space:]]*\([0-9]*\).*/\1/p' "$WORK/iperf.json" | tail -1)"
	cmp_repeated "$src" "$got"
	net_down
	del vn2
	no_leftovers
}

# testpmd_run SECS OUT ARGS...: dpdk-testpmd, not interactive, for SECS
# (it ends when its standard input closes), its output in OUT.  Hugepages
# when the kernel has them, else --no-huge.
testpmd_run() {
	local secs=$1 out=$2 mem=(--no-huge -m 256)
	shift 2
	# EAL refuses to load its PMD plugins under a world-writable directory,
	# and the guest's / (the initramfs) is one.
	chmod go-w /
	if [[ -d /sys/kernel/mm/hugepages/hugepages-2048kB ]]; then
		mountpoint -q /dev/hugepages ||
			{ mkdir -p /dev/hugepages && mount -t hugetlbfs none /dev/hugepages; }
		echo 128 >/proc/sys/vm/nr_hugepages
		(($(cat /proc/sys/vm/nr_hugepages) >= 64)) && mem=(--in-memory)
	fi
	echo "  testpmd ${mem[*]} $*" >"$out"
	sleep "$secs" | timeout -k 5 $((secs + 60)) dpdk-testpmd -l 0-1 -n 1 \
		--no-pci "${mem[@]}" --log-level=lib.eal:notice "$@" \
		--total-num-mbufs=8192 >>"$out" 2>&1
}

# testpmd_count OUT RX|TX: the forward statistics' RX- or TX-packets of
# port 0 in testpmd's output OUT.
testpmd_count() {
	awk -v k="$2-packets:" '/Forward statistics for port 0/ { p = 1 }
		p { for (i = 1; i < NF; i++) if ($i == k) { print $(i + 1); exit } }' "$1"
}

# 13e: a real userspace virtio driver on the vhost bus: DPDK's virtio-user
# PMD on /dev/vhost-vdpa-N sends frames that come out of the tap, and
# receives the frames sent into the tap.
net_vhost_dpdk() {
	local node tap=vn3 out=$WORK/testpmd.out rx0 rx1 n mac=52:54:00:ab:cd:03 pid
	load_net_modules
	modprobe vhost_vdpa
	node=$(add vn3 --type net --bus vhost --mac "$mac" tap)
	echo "  $node"
	[[ $node == /dev/vhost-vdpa-* && -c $node ]]
	ip link set "$tap" up
	local vdev=net_virtio_user0,path=$node,queues=1,queue_size=256
	# Frames from the driver: txonly for 4 s; the tap receives them.
	rx0=$(cat "/sys/class/net/$tap/statistics/rx_packets")
	testpmd_run 4 "$out" --vdev "$vdev" -- --forward-mode=txonly \
		--txpkts=64 --eth-peer=0,02:00:00:00:00:01 || { cat "$out" >&2; return 1; }
	rx1=$(cat "/sys/class/net/$tap/statistics/rx_packets")
	n=$(testpmd_count "$out" TX)
	head -1 "$out"
	echo "  testpmd sent ${n:-?} frames; the tap received $((rx1 - rx0))"
	[[ -n $n ]] && ((n > 100)) || { tail -30 "$out" >&2; return 1; }
	# vdk drops nothing while the tap takes it: most of them arrived.
	((rx1 - rx0 >= n / 2)) || { echo "  too few on the tap" >&2; return 1; }
	# Frames to the driver: the tap sends pings to a neighbour with the
	# device's MAC; testpmd (rxonly) counts what it receives.
	ip addr add 10.98.0.1/24 dev "$tap"
	ip neigh replace 10.98.0.2 lladdr "$mac" nud permanent dev "$tap"
	testpmd_run 8 "$out" --vdev "$vdev" -- --forward-mode=rxonly &
	pid=$!
	sleep 4
	ping -c 30 -i 0.05 -W 1 10.98.0.2 >/dev/null 2>&1 || true
	wait "$pid" || { cat "$out" >&2; return 1; }
	n=$(testpmd_count "$out" RX)
	echo "  30 pings out of the tap; testpmd received ${n:-?} frames"
	[[ -n $n ]] && ((n >= 30)) || { tail -30 "$out" >&2; return 1; }
	del vn3
	! ip link show "$tap" >/dev/null 2>&1 || { echo "  the tap is left" >&2; return 1; }
	no_leftovers
}

# 13f: a daemon killed, its device deleted as an orphan: the tap vdk made
# goes too.  Another killed and rescued: served with the link down until
# the driver lets go, then removed, tap and all.
net_orphan_rescue() {
	local pid
	load_net_modules
	add vn3 --type net tap >/dev/null
	pid=$(cat "$WORK/vn3.pid")
	kill -9 "$pid"
	wait_for 10 bash -c "! kill -0 $pid 2>/dev/null"
	wait_for 10 bash -c "vdk list vn3 | grep -q orphan"
	ip link show vn3 >/dev/null
	vdk del vn3
	! ip link show vn3 >/dev/null 2>&1 || { echo "  orphan's tap left" >&2; return 1; }
	add vn4 --type net tap >/dev/null
	pid=$(cat "$WORK/vn4.pid")
	kill -9 "$pid"
	wait_for 10 bash -c "! kill -0 $pid 2>/dev/null"
	vdk rescue vn4
	wait_for 20 bash -c "! test -e /dev/vduse/vn4"
	! ip link show vn4 >/dev/null 2>&1 || { echo "  rescued device's tap left" >&2; return 1; }
	no_leftovers
}

# 13g: a net device moved to the vhost bus and back: the interface goes,
# /dev/vhost-vdpa-N comes, then a new interface with the same address.
net_bus_move() {
	local ifc node
	load_net_modules
	modprobe vhost_vdpa
	ifc=$(add vn5 --type net --mac 52:54:00:ab:cd:05 tap)
	node=$(vdk bus vn5 vhost)
	echo "  $ifc -> $node"
	[[ -c $node ]]
	[[ ! -e /sys/class/net/$ifc ]]
	vdk list vn5 | grep -q vhost
	ifc=$(vdk bus vn5 virtio)
	echo "  -> $ifc"
	[[ $(cat "/sys/class/net/$ifc/address") == 52:54:00:ab:cd:05 ]]
	vdk list -j vn5 | grep -q "\"node\": *\"$ifc\""
	del vn5
	no_leftovers
}

net_scenarios() {
	run_scenario "13a. net: MAC and MTU as asked, ping, link down and up" net_basic
	run_scenario "13b. net: iperf3 TCP both ways, data and checksums checked" net_iperf 1500
	run_scenario "13c. net: MTU 9000, unfragmented ping and iperf3 both ways" net_iperf 9000
	run_scenario "13d. net: SIGKILL mid-transfer, recover, the TCP stream goes on" net_kill_recover
	run_scenario "13e. net: vhost bus: DPDK virtio-user sends and receives" net_vhost_dpdk
	run_scenario "13f. net: an orphan deleted, another rescued: taps go too" net_orphan_rescue
	run_scenario "13g. net: to the vhost bus and back" net_bus_move
}
