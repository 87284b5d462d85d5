#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# Run tests/cli/vm/guest-main.sh (the vdk command on the real VDUSE kernel)
# in the test guest of tests/vm, with the vdk built in BUILD.
#
#   tests/cli/vm/run.sh [--kernel trixie|sid] [--build DIR] [--out DIR]
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
TOP=$(cd "$HERE/../../.." && pwd)
KERNEL=trixie
BUILD=$TOP/build
OUT=

while (($#)); do
	case $1 in
	--kernel) KERNEL=$2; shift 2 ;;
	--build) BUILD=$2; shift 2 ;;
	--out) OUT=$2; shift 2 ;;
	-h|--help) sed -n '4,7p' "$0"; exit 0 ;;
	*) echo "cli/vm: unknown argument $1" >&2; exit 2 ;;
	esac
done

[[ -d $BUILD ]] || meson setup "$BUILD" "$TOP" >/dev/null
ninja -C "$BUILD" cli/vdk >/dev/null

stage=$(mktemp -d /tmp/vdk-cli-vm-XXXXXX)
trap 'rm -rf "$stage"' EXIT
mkdir -p "$stage/bin"
cp "$HERE/guest-main.sh" "$stage/"
cp "$BUILD/cli/vdk" "$stage/bin/"
rc=0
"$TOP/tests/vm/run.sh" --kernel "$KERNEL" --overlay "$stage" \
	--timeout 600 ${OUT:+--out "$OUT"} || rc=$?
exit $rc
