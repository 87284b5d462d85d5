#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# Build and check the Debian packages in a chroot of another Debian
# release (default: trixie, Debian 13): scripts/build-deb.sh run inside a
# minimal tree made by debootstrap, with the Build-Depends of
# debian/control installed by apt, so that the packages are built by
# that release's compiler, debhelper and lintian.
#
#   scripts/build-deb-chroot.sh [--suite SUITE] [--cache DIR] [--tree-only]
#                               [OUTDIR]
#
# The tree is made once and kept as DIR/deb-SUITE-KEY.tar.zst (DIR:
# $VDK_VM_CACHE or /var/cache/vdk-vm, the VM harness's cache), KEY
# hashing the suite, the packages and the function that makes it: a new
# Build-Depends makes a new tree.  Trees of other keys are not removed.  Each build unpacks it afresh, so no
# build leaves anything behind for the next one.  OUTDIR (default
# build-deb-SUITE) receives what build-deb.sh leaves: the .deb files, the
# build log and lintian's report.
#
# Exit: 0 built and clean, 1 failed, 77 not root or tools missing.
set -euo pipefail
TOP=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
SUITE=trixie
CACHE=${VDK_VM_CACHE:-/var/cache/vdk-vm}
OUT=
TREE_ONLY=0
while (($#)); do
	case $1 in
	--suite) SUITE=${2:?--suite needs a value}; shift 2 ;;
	--cache) CACHE=${2:?--cache needs a value}; shift 2 ;;
	--tree-only) TREE_ONLY=1; shift ;;
	-h|--help) sed -n '2,21p' "$0"; exit 0 ;;
	-*) echo "build-deb-chroot: unknown option $1" >&2; exit 2 ;;
	*) OUT=$1; shift ;;
	esac
done
OUT=$(realpath -m "${OUT:-$TOP/build-deb-$SUITE}")

log() { printf 'build-deb-chroot: %s\n' "$*" >&2; }
skip() { log "SKIP: $*"; exit 77; }

[[ $(id -u) == 0 ]] || skip "needs root (debootstrap, chroot)"
for t in debootstrap:debootstrap zstd:zstd unshare:util-linux \
	 flock:util-linux; do
	PATH=$PATH:/usr/sbin:/sbin command -v "${t%%:*}" >/dev/null ||
		skip "no ${t%%:*} (apt-get install ${t#*:})"
done
[[ -e /usr/share/keyrings/debian-archive-keyring.gpg ]] ||
	skip "no debian-archive-keyring"
export PATH=$PATH:/usr/sbin:/sbin

# What the tree holds beyond minbase; the Build-Depends come from
# debian/control through apt-get build-dep.
TOOLS="build-essential dpkg-dev debhelper lintian"

# Run a command inside @root with a clean environment (proxy settings
# kept), and /proc, /sys and /dev/shm mounted as a build chroot has
# them, in a mount namespace of its own that goes when the command ends.
in_root() {
	local root=$1 v
	shift
	local envs=(PATH=/usr/sbin:/usr/bin:/sbin:/bin LC_ALL=C.UTF-8
		HOME=/root DEBIAN_FRONTEND=noninteractive)
	for v in http_proxy https_proxy no_proxy DEB_BUILD_OPTIONS; do
		[[ -n ${!v:-} ]] && envs+=("$v=${!v}")
	done
	unshare --mount --propagation private -- /bin/sh -c '
		r=$1 && shift &&
		mount -t proc proc "$r/proc" &&
		mount -t sysfs -o ro sysfs "$r/sys" &&
		mkdir -p "$r/dev/shm" && mount -t tmpfs shm "$r/dev/shm" &&
		exec chroot "$r" "$@"' \
		sh "$root" /usr/bin/env -i "${envs[@]}" "$@"
}

# The tree: minbase, the tools, the Build-Depends (the nocheck ones
# too: the package's tests run).
make_tree() {
	local dir=$1 control=$2
	mkdir -p "$dir/etc/dpkg/dpkg.cfg.d"
	# No fsync per unpacked file: the tree only goes into a tarball.
	echo force-unsafe-io >"$dir/etc/dpkg/dpkg.cfg.d/vdk-unsafe-io"
	debootstrap --variant=minbase "$SUITE" "$dir"
	mkdir -p "$dir/tmp/deps/debian"
	cp "$control" "$dir/tmp/deps/debian/control"
	in_root "$dir" apt-get update -qq
	# shellcheck disable=SC2086 # a list of words
	in_root "$dir" apt-get install -y -qq --no-install-recommends $TOOLS
	in_root "$dir" apt-get build-dep -y -qq --no-install-recommends \
		/tmp/deps
	in_root "$dir" apt-get clean
	rm -rf "$dir/tmp/deps" "$dir/etc/dpkg/dpkg.cfg.d/vdk-unsafe-io"
}

tree_key() {
	{
		echo "suite=$SUITE"
		echo "tools=$TOOLS"
		sed -n '/^Build-Depends/,/^[^ ]/p' "$TOP/debian/control"
		declare -f make_tree
	} | sha256sum | cut -c1-16
}

TMP=
cleanup() {
	[[ -n $TMP && -d $TMP ]] && rm -rf --one-file-system "$TMP"
	return 0
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

mkdir -p "$CACHE"
tree="$CACHE/deb-$SUITE-$(tree_key).tar.zst"
t0=$SECONDS
if [[ ! -s $tree ]]; then
	# One maker at a time; the VM harness's lock and its .tmp-* are
	# its own.
	exec 9>"$CACHE/.deb-lock"
	flock 9
fi
if [[ ! -s $tree ]]; then
	TMP=$(mktemp -d "$CACHE/.deb-tmp-XXXXXX")
	log "debootstrap $SUITE and the Build-Depends; log: $TMP/tree.log"
	if ! make_tree "$TMP/root" "$TOP/debian/control" \
		>"$TMP/tree.log" 2>&1; then
		tail -30 "$TMP/tree.log" >&2
		log "cannot make the $SUITE tree"
		exit 1
	fi
	tar -C "$TMP/root" --numeric-owner -cf - . |
		zstd -q -T0 -3 >"$TMP/tree.tar.zst"
	mv -f "$TMP/tree.log" "${tree%.tar.zst}.log"
	mv -f "$TMP/tree.tar.zst" "$tree"
	rm -rf --one-file-system "$TMP"
	log "tree $(basename "$tree") made in $((SECONDS - t0)) s"
fi
exec 9>&-
((TREE_ONLY)) && exit 0

TMP=$(mktemp -d "${TMPDIR:-/var/tmp}/vdk-deb-$SUITE-XXXXXX")
mkdir "$TMP/root"
zstd -q -dc "$tree" | tar -C "$TMP/root" -xf -
# The work tree as git sees it, as build-deb.sh copies it.
mkdir "$TMP/root/src"
git -C "$TOP" ls-files -z --cached --others --exclude-standard |
	(cd "$TOP" && xargs -0 tar -cf - --ignore-failed-read) |
	tar -xf - -C "$TMP/root/src"
log "tree ready after $((SECONDS - t0)) s; building in $TMP/root/src"
set +e
in_root "$TMP/root" /bin/bash /src/scripts/build-deb.sh /out
rc=$?
set -e
mkdir -p "$OUT"
rm -f "$OUT"/*.deb "$OUT"/*.changes "$OUT"/*.buildinfo
if [[ -d $TMP/root/out ]]; then
	cp -a "$TMP/root/out/." "$OUT/"
fi
log "done in $((SECONDS - t0)) s (exit $rc)"
exit "$rc"
