#!/usr/bin/env bash
# The single test entry point (README, CI): installs missing build and test
# dependencies, builds a plain and an ASan+UBSan tree, runs the unit tests
# of both, the integration suite against both at once (separate relay port
# blocks), the man page, systemd unit and package checks (tests/packaging),
# the benchmark's quick mode, the unit tests and an integration subset under
# valgrind (tests/valgrind.sh --ci), then the fuzz targets for a short
# while. Builds have -Dtest_hooks=true (test-only hooks in ternd).
#
#   tests/run.sh            everything
#   tests/run.sh --quick    skip the sanitizer, valgrind and fuzz stages
#
# Every stage's tests are counted; the last line printed is exactly
# "N passed, N failed" (summed over all stages) and the exit status is
# non-zero if anything failed. A stage that cannot run (a failed build, a
# runner that crashed without a report) counts as one failed test. Just
# before that line every failing test is named, stage by stage, so that the
# tail of the output says what failed (the fuzzers' chatter goes to a log).
set -uo pipefail

cd "$(dirname "$0")/.."
ROOT=$PWD
PY=/usr/bin/python3
QUICK=0
for arg in "$@"; do
	case "$arg" in
	--quick) QUICK=1 ;;
	-h|--help) sed -n '2,13p' "$0"; exit 0 ;;
	*) echo "usage: tests/run.sh [--quick]" >&2; exit 2 ;;
	esac
done

PASSED=0
FAILED=0
STAGE_TIMEOUT=${STAGE_TIMEOUT:-3600}
REPORTS=$(mktemp -d)
trap 'rm -rf "$REPORTS"' EXIT
# Names of failing tests, "STAGE: NAME" a line, printed at the end.
FAILURES=$REPORTS/failures

say() { printf '\n==> %s\n' "$*"; }

# count STAGE PASSED FAILED [NAMES_FILE]: adds a stage's figures; a failing
# stage's names (NAMES_FILE, one per line) go to $FAILURES, or the stage's
# own name when it named none.
count() {
	printf '    %s: %d passed, %d failed\n' "$1" "$2" "$3"
	PASSED=$((PASSED + $2))
	FAILED=$((FAILED + $3))
	[ "$3" -gt 0 ] || return 0
	if [ -n "${4:-}" ] && [ -s "$4" ]; then
		sed "s/^/$1: /" "$4" >>"$FAILURES"
	else
		echo "$1: $3 failed (see the stage's output above)" >>"$FAILURES"
	fi
}

# ---- dependencies -------------------------------------------------------------
# One list of packages for the whole project: scripts/install-deps.sh.
install_missing() {
	scripts/install-deps.sh test
}

# ---- stages ---------------------------------------------------------------------
# build DIR [meson options...]: configures once, then builds.
build() {
	local dir=$1; shift
	say "build $dir"
	if [ ! -f "$dir/build.ninja" ]; then
		if [ -f "$dir/meson-private/coredata.dat" ]; then
			meson setup --reconfigure "$dir" "$@" || return 1
		else
			meson setup "$dir" "$@" || return 1
		fi
	elif [ $# -gt 0 ]; then
		# A directory configured earlier (by hand, or without an option
		# added since) gets this stage's options.
		meson configure "$dir" "$@" >/dev/null || return 1
	fi
	ninja -C "$dir"
}

# unit_tests DIR: meson's unit suite, counted by tests/meson_unit_counts.py
# (every cmocka test case, or a program that printed none as one test).
unit_tests() {
	local dir=$1 log="$1/meson-logs/testlog.json" names="$REPORTS/unit-$1.failed"
	say "unit tests ($dir)"
	rm -f "$log"
	timeout "$STAGE_TIMEOUT" meson test -C "$dir" --suite unit --print-errorlogs
	local rc=$?
	# shellcheck disable=SC2046
	count "unit ($dir)" $("$PY" tests/meson_unit_counts.py "$log" "$rc" "$names") "$names"
}

# integration_run LABEL: pytest against $TERND/$TERNCTL, its output in
# $REPORTS/LABEL.log and its counts ("passed failed", from the JUnit XML)
# in $REPORTS/LABEL.counts, the failing tests' ids in $REPORTS/LABEL.failed,
# so that two suites can run at once.
integration_run() {
	local label=$1 xml="$REPORTS/pytest-$1.xml"
	timeout "$STAGE_TIMEOUT" "$PY" -m pytest -q -p no:cacheprovider --junitxml="$xml" \
		tests/integration >"$REPORTS/$label.log" 2>&1
	local rc=$?
	"$PY" tests/junit_counts.py "$xml" "$rc" "$REPORTS/$label.failed" >"$REPORTS/$label.counts"
}

# integration_report LABEL: prints a finished run's output and counts it.
integration_report() {
	say "integration tests ($1)"
	cat "$REPORTS/$1.log"
	# shellcheck disable=SC2046
	count "integration ($1)" $(cat "$REPORTS/$1.counts" 2>/dev/null || echo 0 1) \
		"$REPORTS/$1.failed"
}

# fuzz_tests: tests/fuzz/run.sh SECONDS; one test per target. The targets
# are read from its "== fuzz_NAME ..." lines and failures from its
# "!! fuzz_NAME failed" lines; without those, from tests/fuzz/fuzz_*.c.
fuzz_tests() {
	local script=tests/fuzz/run.sh
	[ -f "$script" ] || { say "fuzz: $script not present, skipped"; return 0; }
	say "fuzz (20 s per target; libFuzzer's output only for a failing target)"
	local out="$REPORTS/fuzz.log"
	timeout "$STAGE_TIMEOUT" bash "$script" 20 >"$out" 2>&1
	local rc=$?
	# The fuzzers print thousands of lines; show the target lines, and the
	# whole log only when something failed.
	if [ "$rc" -eq 0 ]; then
		grep -E '^(==|!!) fuzz_|^Done [0-9]+ runs' "$out"
	else
		cat "$out"
	fi
	local ran bad
	ran=$(grep -cE '^== fuzz_' "$out")
	bad=$(grep -cE '^!! fuzz_.*fail' "$out")
	if [ "$ran" -eq 0 ]; then
		ran=$(find tests/fuzz -maxdepth 1 -name 'fuzz_*.c' | wc -l)
		[ "$ran" -eq 0 ] && ran=1
	fi
	if [ "$rc" -ne 0 ] && [ "$bad" -eq 0 ]; then
		bad=1  # failed outside a target (build, corpus): one failure
		[ "$(grep -cE '^== fuzz_' "$out")" -eq 0 ] && ran=1
	fi
	[ "$bad" -gt "$ran" ] && ran=$bad
	grep -E '^!! fuzz_' "$out" >"$REPORTS/fuzz.failed"
	count fuzz $((ran - bad)) "$bad" "$REPORTS/fuzz.failed"
}

# script_tests LABEL SCRIPT [ARGS...]: a script printing PASS:/FAIL: lines
# and last "N passed, N failed" (tests/packaging/*.sh, tests/valgrind.sh),
# counted from that line. Without it (crash, timeout) its FAIL: lines plus
# one failure are counted.
script_tests() {
	local label=$1 script=$2 out="$REPORTS/$1.log"
	shift 2
	say "$label ($script $*)"
	timeout "$STAGE_TIMEOUT" bash "$script" "$@" 2>&1 | tee "$out"
	local rc=${PIPESTATUS[0]}
	local line ok bad
	line=$(grep -E '^[0-9]+ passed, [0-9]+ failed$' "$out" | tail -n 1)
	if [ -n "$line" ]; then
		ok=${line%% passed*}
		bad=${line#*, }
		bad=${bad%% failed}
		[ "$rc" -ne 0 ] && [ "$bad" -eq 0 ] && bad=1
	else
		ok=$(grep -c '^PASS: ' "$out")
		bad=$(($(grep -c '^FAIL: ' "$out") + 1))
	fi
	grep -E '^FAIL: ' "$out" >"$REPORTS/$label.failed"
	count "$label" "$ok" "$bad" "$REPORTS/$label.failed"
}

# The plain build and the sanitizer build (ASan+UBSan). Both have the
# test-only hooks; build/ is what scripts/run-dev.sh runs.
PLAIN=build-tests ASAN=build-asan
san_env() {
	export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1
	export UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1
}

install_missing || count "dependencies" 0 1

plain_ok=0 asan_ok=0
if build "$PLAIN" -Dtest_hooks=true; then plain_ok=1; else count "build ($PLAIN)" 0 1; fi
if [ "$QUICK" -eq 0 ]; then
	if build "$ASAN" -Db_sanitize=address,undefined -Db_lundef=false -Dtest_hooks=true; then
		asan_ok=1
	else
		count "build ($ASAN)" 0 1
	fi
fi
[ "$plain_ok" -eq 1 ] && unit_tests "$PLAIN"
if [ "$asan_ok" -eq 1 ]; then
	san_env
	unit_tests "$ASAN"
	unset ASAN_OPTIONS UBSAN_OPTIONS
fi

# The two integration suites run at the same time: they mostly wait on
# timers and sockets, and one after the other they would take most of CI's
# time. Each gets its own block of relay ports ($TERN_RELAY_BLOCK) so the
# two never cross; listening ports come from the kernel.
say "integration tests (plain and asan at once; the output of each follows when both end)"
pids=()
if [ "$plain_ok" -eq 1 ]; then
	(export TERND=$ROOT/$PLAIN/relay/io/ternd TERNCTL=$ROOT/$PLAIN/auth/ternctl \
		TERN_RELAY_BLOCK=20300-24999
	 integration_run plain) &
	pids+=($!)
fi
if [ "$asan_ok" -eq 1 ]; then
	(san_env
	 export TERND=$ROOT/$ASAN/relay/io/ternd TERNCTL=$ROOT/$ASAN/auth/ternctl \
		TERN_RELAY_BLOCK=25000-29999
	 integration_run asan) &
	pids+=($!)
fi
[ ${#pids[@]} -gt 0 ] && wait "${pids[@]}"
[ "$plain_ok" -eq 1 ] && integration_report plain
[ "$asan_ok" -eq 1 ] && integration_report asan

export TERND=$ROOT/$PLAIN/relay/io/ternd TERNCTL=$ROOT/$PLAIN/auth/ternctl
export TERN_BUILD=$PLAIN
script_tests "man pages" tests/packaging/test_man_complete.sh
script_tests "systemd units" tests/packaging/test_unit_security.sh
script_tests packages tests/packaging/test_packages.sh

# The benchmark's quick mode, as a smoke test: it must run end to end
# (tern, coturn, the forwarder); its figures are printed, never judged.
bench_smoke() {
	say "benchmark smoke (tests/bench/run.py --quick)"
	if timeout 600 "$PY" tests/bench/run.py --quick --build build-tests; then
		count "benchmark smoke" 1 0
	else
		count "benchmark smoke" 0 1
	fi
}
bench_smoke

if [ "$QUICK" -eq 0 ]; then
	# The unit tests and an integration subset under memcheck, logs scanned.
	script_tests valgrind tests/valgrind.sh --ci "$PLAIN"
	fuzz_tests
fi

echo
if [ -s "$FAILURES" ]; then
	echo "Failed:"
	sed 's/^/  /' "$FAILURES"
fi
echo "$PASSED passed, $FAILED failed"
[ "$FAILED" -eq 0 ]
