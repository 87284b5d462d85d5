#!/bin/bash
# Harness self-test: one scenario passes, one fails; run.sh must exit 1.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=../../lib-guest.sh
. "$VDK_LIB"
scenario "passes"; pass
scenario "fails on purpose"; fail "as expected"
echo extra >"$VDK_RESULTS/extra.txt"
summary
