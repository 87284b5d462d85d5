#!/usr/bin/env bash
# Install what vdk needs to build and test, from Debian's packages.
# Idempotent: only missing packages are installed.  Run as root.
set -euo pipefail

# Build and fast tests (scdoc: the manual; man-db: its check; abigail-
# tools: the ABI check).
build_pkgs=(gcc clang libclang-rt-14-dev meson ninja-build pkg-config
	    liburing-dev libmnl-dev libnbd-dev librbd-dev libseccomp-dev libjson-c-dev
	    valgrind python3
	    nbdkit
	    scdoc man-db abigail-tools)
# The Debian packages (scripts/build-deb.sh) and their check; the
# Debian 13 chroot they are built in too (scripts/build-deb-chroot.sh).
deb_pkgs=(build-essential dpkg-dev debhelper lintian
	  debootstrap debian-archive-keyring zstd)
# The end-to-end harness: a Debian guest booted in QEMU (tests/vm/).
vm_pkgs=(debootstrap qemu-system-x86 zstd cpio)

want=("${build_pkgs[@]}" "${deb_pkgs[@]}")
if [ "${1:-}" != "--build-only" ]; then
	want+=("${vm_pkgs[@]}")
fi

missing=()
for p in "${want[@]}"; do
	if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null |
		grep -q "install ok installed"; then
		missing+=("$p")
	fi
done
[ ${#missing[@]} -eq 0 ] && exit 0

if [ "$(id -u)" -ne 0 ]; then
	echo "install-deps: need root to install: ${missing[*]}" >&2
	exit 1
fi
echo "install-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
