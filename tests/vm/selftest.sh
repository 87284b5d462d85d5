#!/bin/bash
# Checks the harness's own failure paths: each overlay under selftest/ must
# make run.sh exit with its documented code. About 3 minutes under TCG.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

usage() {
	cat <<USAGE
Usage: $(basename "$0") [--kernel trixie|sid]

Runs run.sh on the overlays in tests/vm/selftest/ and checks its exit codes:
fail -> 1, timeout -> 4, stuck (I/O hung in D state) -> 4, crash (kernel
panic after /init) -> 5, and a kernel that cannot find /init -> 3.
USAGE
}

KERNEL=trixie
while (($#)); do
	case $1 in
	--kernel) KERNEL=${2:?}; shift 2 ;;
	-h | --help) usage; exit 0 ;;
	*) usage >&2; exit 2 ;;
	esac
done

passed=0 failed=0
check() {
	local name=$1 want=$2 rc out
	shift 2
	out=$(mktemp -d /tmp/vdk-vm-selftest-XXXXXX)
	set +e
	"$HERE/run.sh" --kernel "$KERNEL" --out "$out" "$@" >"$out/run.log" 2>&1
	rc=$?
	set -e
	if ((rc == want)); then
		echo "PASS $name (exit $rc)"
		passed=$((passed + 1))
		rm -rf "$out"
	else
		echo "FAIL $name: exit $rc, expected $want (log: $out/run.log)"
		tail -n 20 "$out/run.log" | sed 's/^/  /'
		failed=$((failed + 1))
	fi
}

check "failing test" 1 --overlay "$HERE/selftest/fail"
check "test timeout" 4 --overlay "$HERE/selftest/timeout" --timeout 5
check "test stuck in D state" 4 --overlay "$HERE/selftest/stuck" --timeout 20
check "kernel panic after /init" 5 --overlay "$HERE/selftest/crash"
check "no /init: retried, then given up" 3 --overlay "$HERE/selftest/fail" \
	--append rdinit=/nonexistent --tries 2 --boot-timeout 120
check "smoke passes" 0 --overlay "$HERE/smoke"
echo "$passed passed, $failed failed"
((failed == 0))
