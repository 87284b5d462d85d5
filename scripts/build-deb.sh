#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# Build the Debian binary packages (libvdk0, libvdk-dev, vdk) from this
# tree with dpkg-buildpackage -b -us -uc, in a scratch copy so that
# nothing lands beside the checkout, and the source package beside them
# (dpkg-source), then check both with lintian (errors fail; warnings and
# notes are printed).  The .deb, .changes, logs and lintian's report go
# to OUTDIR.
#
#   scripts/build-deb.sh [OUTDIR]      (default: build-deb)
#   DEB_BUILD_OPTIONS=nocheck ...      skips the package's tests
# Exit: 0 built and clean, 1 failed, 77 the tools are missing.
set -euo pipefail
TOP=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
OUT=$(realpath -m "${1:-$TOP/build-deb}")

for t in dpkg-buildpackage dh lintian; do
	command -v "$t" >/dev/null || {
		echo "build-deb: SKIP: no $t (scripts/install-deps.sh)" >&2
		exit 77
	}
done
# Build-Depends missing: dpkg-checkbuilddeps names them.
dpkg-checkbuilddeps "$TOP/debian/control"

W=$(mktemp -d "${TMPDIR:-/tmp}/vdk-deb-XXXXXX")
trap 'rm -rf "$W"' EXIT
mkdir "$W/src"
# The files of the work tree as git sees them (changes included), or
# all but the build directories outside git.
if git -C "$TOP" rev-parse --git-dir >/dev/null 2>&1; then
	git -C "$TOP" ls-files -z --cached --others --exclude-standard |
		(cd "$TOP" && xargs -0 tar -cf - --ignore-failed-read) |
		tar -xf - -C "$W/src"
else
	tar -C "$TOP" --exclude='./build*' --exclude=./.git -cf - . |
		tar -xf - -C "$W/src"
fi

# The source package too, for lintian's checks of debian/: an orig
# tarball of the tree without debian/, then dpkg-source.
ver=$(dpkg-parsechangelog -l "$W/src/debian/changelog" -S Version)
tar -C "$W/src" --exclude=./debian -czf "$W/vdk_${ver%-*}.orig.tar.gz" .
if ! (cd "$W" && dpkg-source -b src) >"$W/source.log" 2>&1; then
	cat "$W/source.log"
	echo "build-deb: dpkg-source failed" >&2
	exit 1
fi

echo "build-deb: dpkg-buildpackage -b -us -uc in $W/src"
if ! (cd "$W/src" && dpkg-buildpackage -b -us -uc) >"$W/build.log" 2>&1; then
	tail -60 "$W/build.log"
	# A failed test: what it printed.
	find "$W/src" -name testlog.txt -exec sed -n \
		'/^=* [0-9]*\/[0-9]* =*$/,/^==*$/{/test:/p;/exit status\|SKIP\|FAIL/p}' {} + \
		2>/dev/null | head -20
	find "$W/src" -name testlog.txt -exec grep -B2 -A30 'FAIL\|exit status [^0]' {} + \
		2>/dev/null | head -80
	echo "build-deb: dpkg-buildpackage failed (log above)" >&2
	exit 1
fi
mkdir -p "$OUT"
rm -f "$OUT"/*.deb "$OUT"/*.changes "$OUT"/*.buildinfo
cp "$W"/*.deb "$W"/*.changes "$W"/*.buildinfo "$OUT"/
cp "$W/build.log" "$OUT/build.log"
ls -1 "$OUT"/*.deb

changes=$(ls "$OUT"/*.changes)
set +e
lintian --fail-on error --display-info "$changes" "$W"/*.dsc \
	>"$OUT/lintian.txt" 2>&1
rc=$?
set -e
cat "$OUT/lintian.txt"
if ((rc)); then
	echo "build-deb: lintian found errors" >&2
	exit 1
fi
echo "build-deb: $(grep -c '^E:' "$OUT/lintian.txt") lintian errors," \
	"$(grep -c '^W:' "$OUT/lintian.txt") warnings"
