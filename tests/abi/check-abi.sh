#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# The built library against the ABI checked in (abi/libvdk.abi): fails
# on any change that older programs could notice: a function or a
# symbol version gone, a type or a struct's layout changed.  Added
# functions pass.  After a compatible change, scripts/abi-dump.sh
# writes the new reference.
#
# Usage: check-abi.sh LIBVDK.so abi/libvdk.abi include/vdk
# Exit: 0 compatible, 1 not, 77 skipped (no abidiff, no debug info).
set -uo pipefail
so=$1 ref=$2 hdr=$3

if ! command -v abidiff >/dev/null; then
	echo "check-abi: SKIP: no abidiff (Debian package abigail-tools)"
	exit 77
fi
if ! readelf -S "$so" | grep '\.debug_info' >/dev/null; then
	echo "check-abi: SKIP: $so has no debug information"
	exit 77
fi
out=$(abidiff --headers-dir2 "$hdr" --drop-private-types \
	--no-added-syms --fail-no-debug-info "$ref" "$so" 2>&1)
rc=$?
# abidiff's exit code is a bit field: 1 error, 2 usage, 4 ABI changed,
# 8 incompatible.  With --no-added-syms, additions alone give 0.
if ((rc != 0)); then
	echo "$out"
	echo "check-abi: FAIL: $(basename "$so") differs from $ref" \
		"(abidiff exit $rc)." >&2
	echo "check-abi: a compatible change (a new function, a field in" \
		"reserved space) needs scripts/abi-dump.sh; any other one" \
		"a new symbol version or SONAME." >&2
	exit 1
fi
echo "check-abi: $(basename "$so") is compatible with $ref"
