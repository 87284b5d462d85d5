#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# Install the build into a scratch root (meson install --destdir), build
# consumer.c there with pkg-config's flags for libvdk and nothing else,
# and run it against the installed library.  Checks the pkg-config
# file, the header's install path, the SONAME link and the exports, and
# that the command and the manual are installed too.
#
# Usage: consumer.sh BUILDDIR consumer.c
set -euo pipefail
build=$1 src=$2
CC=${CC:-cc}

T=$(mktemp -d "${TMPDIR:-/tmp}/vdk-consumer-XXXXXX")
trap 'rm -rf "$T"' EXIT

meson install -C "$build" --destdir "$T/root" --no-rebuild --quiet \
	>"$T/install.log" 2>&1 || { cat "$T/install.log"; exit 1; }
pc=$(find "$T/root" -name libvdk.pc)
[[ -n $pc ]] || { echo "consumer: no libvdk.pc installed" >&2; exit 1; }
# The rest of the layout: the command in sbin, the manual if built.
want=(include/vdk/vdk.h sbin/vdk)
[[ -e $build/man/vdk.8 ]] && want+=(share/man/man8/vdk.8 share/man/man3/libvdk.3)
for f in "${want[@]}"; do
	[[ -n $(find "$T/root" -path "*/$f") ]] || {
		echo "consumer: $f not installed" >&2; exit 1; }
done

export PKG_CONFIG_SYSROOT_DIR=$T/root PKG_CONFIG_PATH=${pc%/*}
export PKG_CONFIG_LIBDIR=${pc%/*}
cflags=$(pkg-config --cflags libvdk)
libs=$(pkg-config --libs libvdk)
libdir=${pc%/pkgconfig/*}
echo "consumer: cflags '$cflags', libs '$libs'"
# shellcheck disable=SC2086 # the flags are words
"$CC" -std=c11 -Wall -Wextra -Werror -o "$T/consumer" "$src" \
	$cflags $libs

needed=$(readelf -d "$T/consumer" | sed -n 's/.*NEEDED.*\[\(libvdk[^]]*\)\].*/\1/p')
[[ $needed == libvdk.so.0 ]] || {
	echo "consumer: NEEDED '$needed', not libvdk.so.0" >&2; exit 1; }
LD_LIBRARY_PATH=$libdir "$T/consumer"
# The library the program ran with is the installed one.
# (Not ldd | grep -q: grep's early exit would fail ldd under pipefail.)
deps=$(LD_LIBRARY_PATH=$libdir ldd "$T/consumer")
grep -q "=> $libdir/libvdk.so.0" <<<"$deps" || {
	echo "consumer: not run against $libdir" >&2; exit 1; }
