#!/usr/bin/env bash
# The unit tests and the integration suite under valgrind memcheck: every
# cmocka program through `meson test --wrap`, and every ternd and ternctl the
# pytest scenarios start through $TERN_WRAP (tests/integration/conftest.py).
# Afterwards every valgrind log is scanned for errors and definite or
# indirect leaks; a log with any fails the run and is named.
#
#   tests/valgrind.sh [--ci] [BUILD_DIR]      BUILD_DIR defaults to build-tests
#
# --ci runs the unit tests and a representative subset of the integration
# suite (CI_TESTS below: allocate, permissions and channels, UDP/TCP/TLS
# relaying, lifetimes, revocation, ternctl), under 3 minutes; without it, the
# whole suite (about 20 minutes on two cores). Logs go to $VG_LOGS (default
# BUILD_DIR/valgrind-logs, emptied first): unit.<pid> and vg.<pid>.
#
# Only valgrind's own distortions are allowed for: tests check
# helpers.slowed() to relax timing bounds (as under ASan) and do not judge
# RSS under valgrind (test_hostile_exhaustion's churn); these skip themselves
# under valgrind, each with its reason:
#   test_soak.py                  ternd's RSS is valgrind's; the churn is timed
#   test_hostile_flood.py         the flood's rates and RSS are valgrind's
# Suppressions: tests/valgrind.supp, each with why it is not our bug.
#
# The last line is "N passed, N failed" (cmocka cases and pytest tests, plus
# one failure per log with findings); the exit status is non-zero on any failure.
set -uo pipefail

cd "$(dirname "$0")/.."
ROOT=$PWD
PY=/usr/bin/python3
CI=0
BUILD=build-tests
for arg in "$@"; do
	case "$arg" in
	--ci) CI=1 ;;
	-h|--help) sed -n '2,25p' "$0"; exit 0 ;;
	-*) echo "usage: tests/valgrind.sh [--ci] [BUILD_DIR]" >&2; exit 2 ;;
	*) BUILD=$arg ;;
	esac
done
BUILD=${BUILD%/}
LOGS=${VG_LOGS:-$ROOT/$BUILD/valgrind-logs}
UNIT_TIMEOUT=${VG_UNIT_TIMEOUT:-1800}
INTEGRATION_TIMEOUT=${VG_INTEGRATION_TIMEOUT:-14400}

# The CI subset (about 30 tests, 2-3 s each under valgrind): pytest node ids.
I=tests/integration
CI_TESTS=(
	"$I/test_allocate.py::test_allocate_succeeds"
	"$I/test_allocate.py::test_retransmitted_allocate_gets_same_answer"
	"$I/test_allocate.py::test_even_port_with_reservation"
	"$I/test_allocate.py::test_message_integrity_sha256"
	"$I/test_permissions_channels.py::test_channel_bind_installs_permission"
	"$I/test_permissions_channels.py::test_permissions_per_allocation_limit"
	"$I/test_permissions_channels.py::test_channels_per_allocation_limit"
	"$I/test_permissions_channels.py::test_channel_data_over_tcp_is_padded"
	"$I/test_permissions_channels.py::test_data_from_other_client_relay_via_client_to_client"
	"$I/test_relay_udp.py::test_send_and_data_indications[w1-c4-r6]"
	"$I/test_relay_udp.py::test_channel_data[w4-c6-r4]"
	"$I/test_relay_udp.py::test_dual_stack_allocation[w4]"
	"$I/test_relay_udp.py::test_many_clients_at_once[w4]"
	"$I/test_relay_tcp.py::test_send_and_data_indications[w4-c6-r6]"
	"$I/test_relay_tcp.py::test_channel_data[w1-c4-r4]"
	"$I/test_relay_tcp.py::test_many_clients_at_once[w4]"
	"$I/test_lifetimes.py::test_refresh_zero_deletes"
	"$I/test_lifetimes.py::test_tcp_close_deletes_allocation"
	"$I/test_tls_relay.py::test_tls_relay_both_ways[w4-alpn-stun.turn]"
	"$I/test_revocation.py::test_revoke_user_tears_down_on_every_worker"
	"$I/test_ternctl.py::test_mint_prints_working_credential"
)

PASSED=0
FAILED=0
count() {
	printf '    %s: %d passed, %d failed\n' "$1" "$2" "$3"
	PASSED=$((PASSED + $2))
	FAILED=$((FAILED + $3))
}

VG=(valgrind --tool=memcheck --error-exitcode=99 --leak-check=full
	--show-leak-kinds=definite,indirect --errors-for-leak-kinds=definite,indirect
	--num-callers=30 --gen-suppressions=all
	"--suppressions=$ROOT/tests/valgrind.supp")

if ! command -v valgrind >/dev/null; then
	echo "valgrind is not installed (apt install valgrind)" >&2
	echo "0 passed, 1 failed"
	exit 1
fi

echo "==> build $BUILD"
if [ ! -f "$BUILD/build.ninja" ]; then
	meson setup "$BUILD" -Dtest_hooks=true || { echo "0 passed, 1 failed"; exit 1; }
fi
ninja -C "$BUILD" || { echo "0 passed, 1 failed"; exit 1; }
rm -rf "$LOGS"
mkdir -p "$LOGS"

# ---- unit tests: counted like tests/run.sh does (cmocka's summary lines) ----
echo "==> unit tests under valgrind ($BUILD)"
unit_log="$BUILD/meson-logs/testlog-valgrind.json"  # meson names it after the wrapper
rm -f "$unit_log"
timeout "$UNIT_TIMEOUT" meson test -C "$BUILD" --suite unit --print-errorlogs \
	--timeout-multiplier=20 --wrap="${VG[*]} --log-file=$LOGS/unit.%p"
rc=$?
# shellcheck disable=SC2046
count "unit (valgrind)" $("$PY" tests/meson_unit_counts.py "$unit_log" "$rc" "$LOGS/unit.failed")
[ -f "$LOGS/unit.failed" ] && sed 's/^/FAIL: unit (valgrind) /' "$LOGS/unit.failed"

# ---- integration tests: ternd and ternctl under valgrind ----------------------
if [ "$CI" -eq 1 ]; then
	selection=("${CI_TESTS[@]}")
else
	selection=(tests/integration)
fi
echo "==> integration tests under valgrind (${selection[*]})"
xml="$LOGS/pytest.xml"
TERN_WRAP="${VG[*]} --log-file=$LOGS/vg.%p" \
TERND=$ROOT/$BUILD/relay/io/ternd TERNCTL=$ROOT/$BUILD/auth/ternctl \
	timeout "$INTEGRATION_TIMEOUT" "$PY" -m pytest -q -p no:cacheprovider -rs \
	--junitxml="$xml" "${selection[@]}"
rc=$?
names="$LOGS/integration.failed"
# shellcheck disable=SC2046
count "integration (valgrind)" $("$PY" tests/junit_counts.py "$xml" "$rc" "$names")
sed 's/^/FAIL: integration (valgrind) /' "$names"

# ---- the logs -----------------------------------------------------------------
# A process killed with SIGKILL leaves no summary, so error headlines count
# too, not only the summary lines.
echo "==> valgrind logs ($LOGS)"
FINDINGS='ERROR SUMMARY: [1-9]|(definitely|indirectly) lost: [1-9]'
FINDINGS="$FINDINGS|== (Invalid (read|write|free)|Mismatched free|Conditional jump"
FINDINGS="$FINDINGS|Use of uninitialised|Syscall param|Source and destination overlap"
FINDINGS="$FINDINGS|Argument '.*' of function"
FINDINGS="$FINDINGS|Process terminating with default action of signal (4|6|7|8|11) )"
nlogs=0
bad=0
for f in "$LOGS"/unit.* "$LOGS"/vg.*; do
	[ -f "$f" ] || continue
	nlogs=$((nlogs + 1))
	if grep -qE "$FINDINGS" "$f"; then
		bad=$((bad + 1))
		echo "FAIL: valgrind log $f: $(grep -m1 '^==[0-9]*== Command:' "$f" | cut -d' ' -f3-)"
		grep -E "$FINDINGS" "$f" | head -n 5 | sed 's/^/     /'
	fi
done
echo "    $nlogs valgrind logs, $bad with findings"
count "valgrind logs" 0 "$bad"

echo
echo "$PASSED passed, $FAILED failed"
[ "$FAILED" -eq 0 ]
