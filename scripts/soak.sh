#!/usr/bin/env bash
# The long soak: tests/integration/test_soak.py's allocation churn (UDP, TCP
# and TLS allocations with permissions, channels and relayed data, ended by
# Refresh 0, by closing the connection, or left to expire) run for hours
# against ternd, with its fd count and RSS printed after every cycle and
# judged as in CI (fds exactly back to the baseline, RSS within the stated
# slack after warm-up).
#
#   scripts/soak.sh [SECONDS] [BUILD_DIR]    default 14400 (4 h), build-tests
#
# Output goes to the terminal and to BUILD_DIR/soak.log. Exit status 0 when
# the soak passed.
set -euo pipefail

cd "$(dirname "$0")/.."
SECONDS_WANTED=${1:-14400}
BUILD=${2:-build-tests}
case "$SECONDS_WANTED" in
''|*[!0-9]*) echo "usage: scripts/soak.sh [SECONDS] [BUILD_DIR]" >&2; exit 2 ;;
esac

if [ ! -f "$BUILD/build.ninja" ]; then
	meson setup "$BUILD" -Dtest_hooks=true
fi
ninja -C "$BUILD"

# The test stops by itself after SECONDS_WANTED (checked after each cycle of
# a few seconds); timeout is the backstop.
export TERN_SOAK_SECONDS=$SECONDS_WANTED
export TERND=$PWD/$BUILD/relay/io/ternd TERNCTL=$PWD/$BUILD/auth/ternctl
timeout $((SECONDS_WANTED + 600)) /usr/bin/python3 -m pytest -q -s -p no:cacheprovider \
	tests/integration/test_soak.py 2>&1 | tee "$BUILD/soak.log"
