#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# The shared library exports exactly what its version script names, each
# symbol in its version: no internal symbol leaks out (they are hidden
# unless VDK_EXPORT), and no public one is missing (a VDK_EXPORT
# forgotten on a definition leaves it hidden, and ld drops it silently).
#
# Usage: check-exports.sh LIBVDK.so libvdk.map
set -euo pipefail
so=$1 map=$2

# NAME@VERSION of every global in the map.
want=$(awk '
	/^[A-Za-z0-9_.]+[ \t]*\{/ { ver = $1; sub(/\{.*/, "", ver) }
	/global:/ { g = 1; next }
	/local:/ { g = 0 }
	/\}/ { g = 0 }
	g && /;/ { s = $1; sub(/;.*/, "", s); print s "@" ver }
' "$map" | sort)
# NAME@VERSION of every defined dynamic symbol, the version nodes aside.
have=$(nm -D --defined-only "$so" | awk '$2 != "A" { print $3 }' |
	sed 's/@@*/@/' | sort)

if [[ -z $want ]]; then
	echo "check-exports: no symbol found in $map" >&2
	exit 1
fi
if [[ $want != "$have" ]]; then
	echo "check-exports: $so and $map differ" \
		"(< only in the map, > only in the library):" >&2
	diff <(echo "$want") <(echo "$have") | grep '^[<>]' >&2
	exit 1
fi
echo "check-exports: $(echo "$want" | wc -l) symbols, as in $(basename "$map")"
