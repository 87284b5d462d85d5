#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# Write the ABI of a built libvdk.so to abi/libvdk.abi (abidw, from
# Debian's abigail-tools): the reference tests/abi/check-abi.sh compares
# every build with.  Run it only for a change that keeps the ABI
# compatible (added functions, a field carved from reserved space) or
# that comes with a new SONAME, and commit the result with that change.
#
#   scripts/abi-dump.sh [BUILDDIR]     (default: build)
set -euo pipefail
TOP=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
so=${1:-$TOP/build}/lib/libvdk.so
[[ -e $so ]] || { echo "abi-dump: $so: not built" >&2; exit 1; }
# Only the types of the public header, and no paths but file names:
# abidiff needs the locations to tell public types from the others.
abidw --headers-dir "$TOP/include/vdk" --drop-private-types \
	--drop-undefined-syms --no-corpus-path --no-comp-dir-path \
	--short-locs --type-id-style hash \
	--out-file "$TOP/abi/libvdk.abi" "$so"
echo "abi-dump: wrote abi/libvdk.abi from $so"
