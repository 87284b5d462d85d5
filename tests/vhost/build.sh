#!/usr/bin/env bash
# Build the clients of the vhost scenarios into DIR:
#
#   tests/vhost/build.sh DIR
#
# hostile-client and suspend-client speak vhost-vdpa themselves and need
# only the kernel's headers.  blkio-check is built against the host's libblkio if
# pkg-config knows one (trixie and later), else against the guest's: the
# header and library that tests/vm/build-image.sh --blkio-sysroot takes
# out of the guest tree (the bookworm host has no libblkio).  The binary
# runs in the guest, where libblkio1 is installed; --allow-shlib-undefined
# lets the link accept a library built against a newer glibc than the
# host's.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
TOP=$(cd "$HERE/../.." && pwd)
OUT=${1:?usage: build.sh DIR}
CC=${CC:-cc}
CFLAGS=(-O2 -g -std=gnu11 -Wall -Wextra -Werror -Wshadow)

mkdir -p "$OUT"
"$CC" "${CFLAGS[@]}" "$HERE/hostile-client.c" -o "$OUT/hostile-client" \
	-lpthread
"$CC" "${CFLAGS[@]}" "$HERE/suspend-client.c" -o "$OUT/suspend-client"
if pkg-config --exists blkio 2>/dev/null; then
	# shellcheck disable=SC2046 # flags are words
	"$CC" "${CFLAGS[@]}" $(pkg-config --cflags blkio) \
		"$HERE/blkio-check.c" -o "$OUT/blkio-check" \
		$(pkg-config --libs blkio) -lpthread
else
	sysroot=$("$TOP/tests/vm/build-image.sh" --blkio-sysroot)
	"$CC" "${CFLAGS[@]}" -I"$sysroot/usr/include" \
		"$HERE/blkio-check.c" -o "$OUT/blkio-check" \
		-L"$sysroot/usr/lib/x86_64-linux-gnu" -lblkio -lpthread \
		-Wl,--allow-shlib-undefined
fi
