#!/usr/bin/env bash
# All of vdk's tests, from a fresh machine: installs what is missing
# (Debian packages), builds, and runs
#   1. the fast tests (simulator, backends, command line): meson test
#   2. the same under AddressSanitizer and UndefinedBehaviorSanitizer,
#      and the Debian packages built and checked, here (Debian 12,
#      scripts/build-deb.sh) and in a Debian 13 chroot
#      (scripts/build-deb-chroot.sh)
#   3. the fuzzers, each for a bounded time (tests/fuzz/run.sh)
#   4. the end-to-end scenarios on the real VDUSE module, in a QEMU guest
#      on three kernels (trixie 6.12, sid 7.2, experimental 7.3), or on
#      this host if it has VDUSE; and a short group again with packed
#      rings forced on the virtio bus
#   5. the rbd scenarios, on a Ceph cluster in the trixie guest
#   6. the packages of step 2 installed in a trixie guest that boots
#      systemd, and vdk@.service at work there
# and ends with the line "N passed, N failed".
#
#   scripts/test.sh [--quick] [--no-vm] [--kernel trixie|sid|experimental|all]
#   VDK_FUZZ_SECONDS=N  time per fuzzer (default 30)
set -uo pipefail

TOP=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$TOP"
VM=1 FUZZ=1 ASAN=1 DEB=1 KERNEL=all DEB_OK=0
while (($#)); do
	case $1 in
	--quick) VM=0 FUZZ=0 ASAN=0 DEB=0; shift ;;
	--no-vm) VM=0; shift ;;
	--kernel) KERNEL=$2; shift 2 ;;
	-h|--help) sed -n '2,17p' "$0"; exit 0 ;;
	*) echo "test.sh: unknown argument $1" >&2; exit 2 ;;
	esac
done

passed=0 failed=0
# count NAME PASSED FAILED
count() {
	passed=$((passed + $2))
	failed=$((failed + $3))
	printf '== %s: %d passed, %d failed\n' "$1" "$2" "$3"
}

# meson_suite NAME BUILDDIR [meson setup args...]
meson_suite() {
	local name=$1 dir=$2 log ok fail
	shift 2
	log=$(mktemp)
	if [[ ! -d $dir ]] && ! meson setup "$dir" "$@" >"$log" 2>&1; then
		cat "$log"; count "$name (setup)" 0 1; return
	fi
	if ! ninja -C "$dir" >"$log" 2>&1; then
		tail -40 "$log"; count "$name (build)" 0 1; return
	fi
	# Sanitized builds run several times slower: their tests get more
	# time (MULT), not a weaker check.
	UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
		meson test -C "$dir" --print-errorlogs \
		--timeout-multiplier "${MULT:-1}" >"$log" 2>&1
	grep -E '^ *[0-9]+/[0-9]+ ' "$log"
	ok=$(sed -n 's/^Ok: *\([0-9]*\).*/\1/p' "$log")
	fail=$(sed -n 's/^Fail: *\([0-9]*\).*/\1/p' "$log")
	t=$(sed -n 's/^Timeout: *\([0-9]*\).*/\1/p' "$log")
	if ((${fail:-1} + ${t:-0} > 0)); then
		sed -n '/Summary of Failures/,$p;/stderr:/,/^---/p' "$log" | head -80
	fi
	count "$name" "${ok:-0}" "$((${fail:-1} + ${t:-0}))"
	rm -f "$log"
}

bash scripts/install-deps.sh $( ((VM)) || echo --build-only) || {
	echo "test.sh: could not install the dependencies" >&2; exit 1; }

# The build the end-to-end scenarios use has the test hooks (a forbidden
# system call on demand); release builds never do.
meson_suite "fast tests" build -Dtest_hooks=true
if ((ASAN)); then
	MULT=3 meson_suite "fast tests, ASan+UBSan" build-asan \
		-Db_sanitize=address,undefined -Db_lundef=false \
		-Dtest_hooks=true
fi
if ((DEB)); then
	# dpkg-buildpackage and lintian: about 20 s.
	log=$(mktemp)
	bash scripts/build-deb.sh build-deb >"$log" 2>&1
	case $? in
	0) tail -1 "$log"; count "debian packages" 1 0; DEB_OK=1 ;;
	77) cat "$log" ;;
	*) tail -80 "$log"; count "debian packages" 0 1 ;;
	esac
	# The same on Debian 13 in a chroot, with its compiler, debhelper and
	# lintian: the first run makes the chroot (debootstrap and the
	# Build-Depends: 2 to 4 min here, mostly downloading), kept in the VM
	# cache; each run unpacks it (6 s) and builds as above.
	bash scripts/build-deb-chroot.sh --suite trixie build-deb-trixie \
		>"$log" 2>&1
	case $? in
	0) grep 'lintian errors' "$log"; tail -1 "$log"
	   count "debian packages, trixie" 1 0 ;;
	77) cat "$log" ;;
	*) tail -80 "$log"; count "debian packages, trixie" 0 1 ;;
	esac
	rm -f "$log"
fi
if ((FUZZ)) && [[ -x tests/fuzz/run.sh ]]; then
	if tests/fuzz/run.sh "${VDK_FUZZ_SECONDS:-30}"; then
		count "fuzzers" 1 0
	else
		count "fuzzers" 0 1
	fi
fi
# e2e NAME ARGS...: one run of tests/vm/e2e/run.sh, counted.
e2e() {
	local name=$1 log line p f
	shift
	log=$(mktemp)
	tests/vm/e2e/run.sh --build build "$@" 2>&1 | tee "$log"
	line=$(grep -E '^[0-9]+ passed, [0-9]+ failed$' "$log" | tail -1)
	if [[ -n $line ]]; then
		read -r p _ f _ <<<"$line"
		count "$name" "$p" "$f"
	else
		count "$name (no result)" 0 1
	fi
	rm -f "$log"
}
if ((VM)); then
	# The third kernel (experimental, 7.3: VDUSE_F_SUSPEND) costs one
	# more whole run: 475 s measured (48 scenarios; trixie 460 s, sid
	# 449 s in the same sitting), 591 s in an earlier run.
	for k in $([[ $KERNEL == all ]] && echo trixie sid experimental ||
		echo "$KERNEL"); do
		e2e "end to end, $k" --kernel "$k"
	done
	# The runs above take vdk's default rings: split on the virtio bus,
	# packed on the vhost bus.  Packed rings forced on the virtio bus
	# (the Linux driver takes them), a short group of their own.
	if [[ $KERNEL == all || $KERNEL == trixie ]]; then
		e2e "end to end, packed rings, trixie" --kernel trixie \
			--only 'fio|crash' --crash-cycles 5 --ring packed \
			--out build-vm/packed
	fi
	# The rbd backend on a Ceph cluster in the guest: an image of its
	# own (built once, cached), one kernel.
	if [[ $KERNEL == all || $KERNEL == trixie ]]; then
		e2e "end to end, rbd, trixie" --kernel trixie --only rbd \
			--out build-vm/rbd
	fi
	# The packages just built, under systemd as PID 1: an image of its
	# own too (systemd-sysv, man-db), one kernel.
	if [[ $KERNEL == all || $KERNEL == trixie ]]; then
		if ((DEB_OK)); then
			e2e "end to end, systemd, trixie" --kernel trixie \
				--only sysd --debs build-deb --out build-vm/sysd
		else
			echo "== end to end, systemd: skipped, no packages built"
		fi
	fi
fi
echo "$passed passed, $failed failed"
((failed == 0 && passed > 0))
