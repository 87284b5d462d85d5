#!/bin/bash
# Build (or reuse from the cache) the guest used by the VM tests: a Debian
# kernel that ships vduse.ko and an initramfs holding a small trixie root file
# system with our /init. Prints the image directory on stdout; progress goes to
# stderr. See tests/vm/README.md.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
SELF="$HERE/$(basename "${BASH_SOURCE[0]}")"

SUITE=trixie
# Guest packages. The first line is what the tests use; the second the
# network tests' (iperf3, sockperf, ping), the benchmark's busy machine
# (stress-ng) and DPDK (testpmd, the peer of
# the net benchmark and a userspace vhost-vdpa driver); the third the
# userspace vhost-vdpa clients (QEMU's blkio driver, libblkio, whose header
# and library also make the host's sysroot for tests/vhost: --blkio-sysroot);
# the fourth the runtime libraries of vdk's own binaries (built on the host,
# run in the guest).
BASE_PKGS="kmod iproute2 qemu-utils fio e2fsprogs xfsprogs util-linux nbd-client nbdkit procps zstd cpio coreutils findutils diffutils python3
iperf3 sockperf iputils-ping ethtool stress-ng dpdk-dev
qemu-block-extra libblkio1 libblkio-dev
liburing2 libmnl0 libnbd0 libjson-c5"
KERNELS="trixie sid experimental"
# A kernel is named after the suite it comes from (an apt source added in
# the tree while the kernel is fetched, pinned low). The flavour: each of
# the three ships vduse.ko, vdpa.ko, virtio_vdpa.ko and vhost_vdpa.ko in
# cloud-amd64, checked after unpacking (REQUIRED_MODULES).
FLAVOUR=cloud-amd64
REQUIRED_MODULES="vduse vdpa virtio_vdpa vhost_vdpa virtio_blk"
# Opt-in extra guest packages, e.g. VDK_VM_EXTRA_PKGS=linux-perf for profiling
# (bench/vm/profile.sh): an image of its own (they are in its key); the
# default image's packages do not change.
EXTRA_PKGS=${VDK_VM_EXTRA_PKGS:-}

usage() {
	cat <<USAGE
Usage: $(basename "$0") [--kernel trixie|sid|experimental] [--rebuild] [--prune] [--cache DIR]
       $(basename "$0") --blkio-sysroot [--cache DIR]

Builds the VM test guest, or reuses it from the cache, and prints its directory
(which holds vmlinuz and rootfs.cpio.zst) on stdout.

  --kernel K   trixie (Debian 13's cloud kernel, default), sid (the newest
               cloud kernel in unstable) or experimental (the newest in
               experimental: 7.3 with VDUSE_F_SUSPEND), the last two on the
               same trixie root file system
  --rebuild    ignore a cached image and build it again (the shared
               debootstrap tree is still reused)
  --prune      delete cached images and trees that no longer match this script
  --cache DIR  cache directory (default: \$VDK_VM_CACHE or /var/cache/vdk-vm)
  --blkio-sysroot
               print instead a directory with the guest's libblkio header and
               library (usr/include, usr/lib/x86_64-linux-gnu), taken from the
               shared tree: the host compiles the libblkio test client against
               it (bookworm has no libblkio)
  -h, --help   this text

VDK_VM_EXTRA_PKGS="PKG ..." in the environment adds packages to the image,
e.g. linux-perf; such an image has a key of its own.

Cache layout: DIR/base-KEY.tar.zst is the debootstrap tree shared by both
kernels; DIR/KERNEL-KEY/ holds one image. KEY hashes everything that went into
it (this script, tests/vm/init, the package list, the suite, the kernel), so an
edit rebuilds only what it changes. Builds happen in a temporary directory that
is renamed into place when complete: an interrupted build is never reused.
Needs root and the host packages debootstrap, zstd, cpio, debian-archive-keyring.
USAGE
}

log() { printf 'build-image: %s\n' "$*" >&2; }
die() { printf 'build-image: error: %s\n' "$*" >&2; exit 1; }

KERNEL=trixie
REBUILD=0
PRUNE=0
SYSROOT=0
CACHE=${VDK_VM_CACHE:-/var/cache/vdk-vm}
while (($#)); do
	case $1 in
	--kernel) KERNEL=${2:?--kernel needs a value}; shift 2 ;;
	--kernel=*) KERNEL=${1#*=}; shift ;;
	--rebuild) REBUILD=1; shift ;;
	--prune) PRUNE=1; shift ;;
	--blkio-sysroot) SYSROOT=1; shift ;;
	--cache) CACHE=${2:?--cache needs a value}; shift 2 ;;
	--cache=*) CACHE=${1#*=}; shift ;;
	-h | --help) usage; exit 0 ;;
	*) usage >&2; die "unknown argument: $1" ;;
	esac
done
case " $KERNELS " in *" $KERNEL "*) ;; *) die "--kernel must be one of: $KERNELS" ;; esac

check_host() {
	local missing=() cmd pkg
	for cmd in debootstrap:debootstrap zstd:zstd cpio:cpio chroot:coreutils \
		flock:util-linux tar:tar sha256sum:coreutils; do
		pkg=${cmd#*:}
		cmd=${cmd%%:*}
		command -v "$cmd" >/dev/null 2>&1 || PATH=$PATH:/usr/sbin:/sbin command -v "$cmd" >/dev/null 2>&1 ||
			missing+=("$pkg")
	done
	[[ -e /usr/share/keyrings/debian-archive-keyring.gpg ]] || missing+=(debian-archive-keyring)
	if ((${#missing[@]})); then
		die "missing host packages: $(printf '%s\n' "${missing[@]}" | sort -u | tr '\n' ' ')(apt-get install them)"
	fi
	[[ $(id -u) == 0 ]] || die "building the image needs root (debootstrap, chroot, mknod)"
}

# Run a command inside a tree with a clean environment (proxy settings kept).
in_root() {
	local root=$1
	shift
	local envs=(PATH=/usr/sbin:/usr/bin:/sbin:/bin LC_ALL=C.UTF-8 HOME=/root
		DEBIAN_FRONTEND=noninteractive)
	local v
	for v in http_proxy https_proxy no_proxy; do
		[[ -n ${!v:-} ]] && envs+=("$v=${!v}")
	done
	chroot "$root" /usr/bin/env -i "${envs[@]}" "$@"
}

# The shared tree: everything but the kernel. Its cache key is this function's
# own text, the package list and the suite, so most edits of this script do
# not cost a new debootstrap.
# shellcheck disable=SC2086 # word splitting of the list is meant
build_base() {
	local dir=$1
	# No fsync per unpacked file: the tree only goes into a tarball.
	mkdir -p "$dir/etc/dpkg/dpkg.cfg.d"
	echo force-unsafe-io >"$dir/etc/dpkg/dpkg.cfg.d/vdk-unsafe-io"
	debootstrap --variant=minbase --include="$(echo $BASE_PKGS | tr ' ' ',')" \
		"$SUITE" "$dir"
	rm -f "$dir/etc/dpkg/dpkg.cfg.d/vdk-unsafe-io"
	in_root "$dir" apt-get clean
}

hash_of() { sha256sum | cut -c1-16; }

base_key() {
	{
		echo "suite=$SUITE"
		echo "pkgs=$BASE_PKGS"
		declare -f build_base in_root
	} | hash_of
}

image_key() {
	{
		echo "suite=$SUITE"
		echo "kernel=$KERNEL"
		echo "pkgs=$BASE_PKGS"
		[[ -z $EXTRA_PKGS ]] || echo "extra=$EXTRA_PKGS"
		cat "$SELF" "$HERE/init"
	} | hash_of
}

TMPS=()
cleanup() {
	local t
	for t in "${TMPS[@]}"; do
		[[ -n $t && -d $t ]] && rm -rf --one-file-system "$t"
	done
	return 0
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

ensure_base() {
	local key file tmp t0
	key=$(base_key)
	file="$CACHE/base-$key.tar.zst"
	if [[ -s $file ]]; then
		log "reusing root file system tree $(basename "$file")"
		echo "$file"
		return
	fi
	t0=$SECONDS
	tmp=$(mktemp -d "$CACHE/.tmp-base-XXXXXX")
	TMPS+=("$tmp")
	log "debootstrap $SUITE (minbase, $(echo "$BASE_PKGS" | wc -w) extra packages); log: $tmp/debootstrap.log"
	if ! build_base "$tmp/root" >"$tmp/debootstrap.log" 2>&1; then
		tail -n 30 "$tmp/debootstrap.log" >&2
		die "debootstrap failed"
	fi
	log "debootstrap done in $((SECONDS - t0)) s; saving the tree"
	tar -C "$tmp/root" --numeric-owner --xattrs -cf - . | zstd -q -T0 -3 >"$tmp/base.tar.zst"
	mv -f "$tmp/debootstrap.log" "${file%.tar.zst}.log"
	mv -f "$tmp/base.tar.zst" "$file"
	rm -rf --one-file-system "$tmp"
	log "tree saved as $(basename "$file") ($(du -h "$file" | cut -f1)) after $((SECONDS - t0)) s"
	echo "$file"
}

# Download the newest cloud kernel of the suites the tree's apt knows, unpack
# it without installing it (no initramfs-tools and friends), put its modules in
# the tree and its vmlinuz in $out.
install_kernel() {
	local root=$1 out=$2 ver p pkgs=() work x d
	ver=$(in_root "$root" apt-cache pkgnames linux- |
		sed -nE 's/^linux-(image|binary|modules)-([0-9][^ ]*-'"$FLAVOUR"')$/\2/p' |
		sort -uV | tail -n 1)
	[[ -n $ver ]] || die "no $FLAVOUR kernel found by apt in the guest tree"
	for p in linux-image-$ver linux-binary-$ver linux-modules-$ver linux-base-$ver; do
		# No "grep -q": it would stop reading and fail the pipe (pipefail).
		if in_root "$root" apt-cache show --no-all-versions "$p" 2>/dev/null | grep '^Filename:' >/dev/null; then
			pkgs+=("$p")
		fi
	done
	log "kernel $ver: ${pkgs[*]}"
	work=/var/tmp/vdk-kernel
	mkdir -p "$root$work"
	chmod 777 "$root$work"
	in_root "$root" sh -c "cd $work && apt-get -q download ${pkgs[*]}" >"$root/../apt-download.log" 2>&1 ||
		{ tail -n 20 "$root/../apt-download.log" >&2; die "downloading ${pkgs[*]} failed"; }
	log "downloaded $(du -ch "$root$work"/*.deb | tail -n 1 | cut -f1)"
	for p in "$root$work"/*.deb; do
		in_root "$root" dpkg-deb -x "$work/$(basename "$p")" "$work/x"
	done
	x=$root$work/x
	mkdir -p "$root/usr/lib/modules/$ver"
	for d in "$x/usr/lib/modules/$ver" "$x/lib/modules/$ver"; do
		[[ -d $d ]] && cp -a "$d/." "$root/usr/lib/modules/$ver/"
	done
	[[ -d $root/usr/lib/modules/$ver/kernel ]] || die "kernel $ver: no modules found in ${pkgs[*]}"
	for d in "$x/boot/vmlinuz-$ver" "$x/usr/lib/modules/$ver/vmlinuz"; do
		[[ -f $d ]] && cp "$d" "$out/vmlinuz"
	done
	[[ -s $out/vmlinuz ]] || die "kernel $ver: no vmlinuz found in ${pkgs[*]}"
	rm -f "$root/usr/lib/modules/$ver/vmlinuz"
	mkdir -p "$root/boot"
	for d in "$x/boot/config-$ver" "$x/usr/lib/modules/$ver/config"; do
		[[ -f $d ]] && cp "$d" "$root/boot/config-$ver" && cp "$d" "$out/config"
	done
	in_root "$root" depmod -a "$ver"
	for p in $REQUIRED_MODULES; do
		in_root "$root" modinfo -k "$ver" -F filename "$p" >/dev/null 2>&1 ||
			die "kernel $ver has no $p module"
	done
	rm -rf "${root:?}$work"
	echo "$ver" >"$out/kernel-version"
}

# The apt source of another suite ($2), for the kernel only.
add_suite_source() {
	local root=$1 suite=$2 src=$1/etc/apt/sources.list
	[[ -s $src ]] || die "the guest tree has no /etc/apt/sources.list to derive the $suite source from"
	# Same archive as the tree already uses, other suite: we name no host.
	grep -E '^deb[[:space:]]' "$src" | sed -E 's/[[:space:]]'"$SUITE"'([[:space:]])/ '"$suite"'\1/' \
		>"$root/etc/apt/sources.list.d/vdk-kernel.list"
	grep -q " $suite " "$root/etc/apt/sources.list.d/vdk-kernel.list" ||
		die "could not derive a $suite line from the tree's sources.list"
	# By codename (sid) and by suite name (experimental's codename is
	# rc-buggy).
	printf 'Package: *\nPin: release %s=%s\nPin-Priority: 100\n\n' n "$suite" a "$suite" \
		>"$root/etc/apt/preferences.d/vdk-kernel"
}

remove_suite_source() {
	rm -f "$1/etc/apt/sources.list.d/vdk-kernel.list" "$1/etc/apt/preferences.d/vdk-kernel"
}

slim() {
	local root=$1
	rm -rf "$root"/usr/share/{doc,man,info,locale,lintian,bug,bash-completion,zsh} \
		"$root"/var/lib/apt/lists/* "$root"/var/cache/apt/* "$root"/var/cache/debconf/*-old \
		"$root"/var/lib/dpkg/*-old "$root"/var/log/* "$root"/boot/System.map-*
	mkdir -p "$root/var/lib/apt/lists/partial" "$root/var/cache/apt/archives/partial"
	: >"$root/etc/resolv.conf"
	echo vdk-guest >"$root/etc/hostname"
}

build_image() {
	local dir=$1 key=$2 base tmp root out t0
	t0=$SECONDS
	base=$(ensure_base)
	tmp=$(mktemp -d "$CACHE/.tmp-$KERNEL-XXXXXX")
	TMPS+=("$tmp")
	root=$tmp/root
	out=$tmp/image
	mkdir -p "$root" "$out"
	zstd -q -dc "$base" | tar -C "$root" --numeric-owner --xattrs -xpf -
	rm -f "$root/etc/resolv.conf"
	cp -L /etc/resolv.conf "$root/etc/resolv.conf"
	[[ $KERNEL == "$SUITE" ]] || add_suite_source "$root" "$KERNEL"
	log "apt-get update in the guest tree"
	# Valid-Until is not checked: the archive we reach may be a frozen
	# snapshot whose Release files have expired; signatures are still checked.
	in_root "$root" apt-get -q -o Acquire::Check-Valid-Until=false -o Acquire::Languages=none \
		update >"$tmp/apt-update.log" 2>&1 ||
		{ tail -n 20 "$tmp/apt-update.log" >&2; die "apt-get update failed in the guest tree"; }
	install_kernel "$root" "$out"
	if [[ -n $EXTRA_PKGS ]]; then
		log "installing extra packages: $EXTRA_PKGS"
		# shellcheck disable=SC2086 # a list of packages
		in_root "$root" apt-get install -y -q --no-install-recommends $EXTRA_PKGS \
			>"$tmp/apt-extra.log" 2>&1 ||
			{ tail -n 20 "$tmp/apt-extra.log" >&2; die "installing $EXTRA_PKGS failed"; }
	fi
	remove_suite_source "$root"
	install -m 0755 "$HERE/init" "$root/init"
	slim "$root"
	[[ -c $root/dev/console ]] || mknod -m 600 "$root/dev/console" c 5 1
	[[ -c $root/dev/null ]] || mknod -m 666 "$root/dev/null" c 1 3
	log "packing the initramfs ($(du -sh --one-file-system "$root" | cut -f1) tree)"
	(cd "$root" && find . -mindepth 1 | cpio --quiet -o -H newc) | zstd -q -T0 -3 >"$out/rootfs.cpio.zst"
	# Pad to 512 bytes so an uncompressed overlay archive can simply be appended.
	truncate -s %512 "$out/rootfs.cpio.zst"
	{
		echo "kernel=$KERNEL"
		echo "kernel_version=$(cat "$out/kernel-version")"
		echo "suite=$SUITE"
		[[ -z $EXTRA_PKGS ]] || echo "extra_packages=$EXTRA_PKGS"
		echo "packages=$(in_root "$root" dpkg-query -W -f '.\n' | wc -l)"
		echo "rootfs_bytes=$(stat -c %s "$out/rootfs.cpio.zst")"
		echo "built=$(date -u +%Y-%m-%dT%H:%M:%SZ)"
		echo "build_seconds=$((SECONDS - t0))"
	} >"$out/info"
	echo "$key" >"$out/stamp" # written last: marks a complete image
	rm -rf "$dir"
	mv "$out" "$dir"
	rm -rf --one-file-system "$tmp"
	log "image ready in $((SECONDS - t0)) s: $dir ($(du -h "$dir/rootfs.cpio.zst" | cut -f1) initramfs, kernel $(cat "$dir/kernel-version"))"
}

image_valid() {
	local dir=$1 key=$2
	[[ -s $dir/vmlinuz && -s $dir/rootfs.cpio.zst && -s $dir/stamp ]] &&
		[[ $(cat "$dir/stamp") == "$key" ]]
}

prune() {
	local keep_base keep k f
	keep_base="base-$(base_key).tar.zst"
	for f in "$CACHE"/base-*.tar.zst; do
		[[ -e $f && $(basename "$f") != "$keep_base" ]] && { log "pruning $f"; rm -f "$f" "${f%.tar.zst}.log"; }
	done
	for k in $KERNELS; do
		keep="$k-$(KERNEL=$k image_key)"
		for f in "$CACHE/$k"-*; do
			[[ -e $f && $(basename "$f") != "$keep" ]] && { log "pruning $f"; rm -rf "$f"; }
		done
	done
}

# The guest's libblkio header and library, out of the shared tree, for the
# host compiler: DIR/usr/include/blkio.h, DIR/usr/lib/x86_64-linux-gnu/.
blkio_sysroot() {
	local dir base tmp
	dir="$CACHE/blkio-sysroot-$(base_key)"
	if [[ ! -s $dir/usr/include/blkio.h ]]; then
		check_host
		mkdir -p "$CACHE"
		exec 9>"$CACHE/.lock"
		if ! flock -n 9; then
			log "waiting for another build using $CACHE"
			flock 9
		fi
		base=$(ensure_base)
		tmp=$(mktemp -d "$CACHE/.tmp-sysroot-XXXXXX")
		chmod 755 "$tmp"
		TMPS+=("$tmp")
		zstd -q -dc "$base" | tar -C "$tmp" --wildcards -xf - \
			./usr/include/blkio.h './usr/lib/x86_64-linux-gnu/libblkio.so*'
		[[ -s $tmp/usr/include/blkio.h ]] || die "no blkio.h in the guest tree"
		rm -rf "$dir"
		mv "$tmp" "$dir"
		log "libblkio sysroot in $dir"
	fi
	echo "$dir"
}

main() {
	local key dir
	if ((SYSROOT)); then
		blkio_sysroot
		return
	fi
	key=$(image_key)
	dir="$CACHE/$KERNEL-$key"
	# A complete image is used as it is, without the lock (nor root).
	if ((REBUILD == 0 && PRUNE == 0)) && image_valid "$dir" "$key"; then
		log "reusing $dir (kernel $(cat "$dir/kernel-version" 2>/dev/null || echo '?'))"
		echo "$dir"
		return
	fi
	check_host
	mkdir -p "$CACHE"
	# One builder at a time per cache: the base tree is shared.
	exec 9>"$CACHE/.lock"
	if ! flock -n 9; then
		log "waiting for another build using $CACHE"
		flock 9
	fi
	rm -rf --one-file-system "$CACHE"/.tmp-* # left by a build that was cut off
	if ((PRUNE)); then prune; fi
	if ((REBUILD == 0)) && image_valid "$dir" "$key"; then
		log "reusing $dir (kernel $(cat "$dir/kernel-version" 2>/dev/null || echo '?'))"
	else
		build_image "$dir" "$key"
	fi
	echo "$dir"
}

main
