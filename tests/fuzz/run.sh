#!/bin/sh
# Builds the libFuzzer targets if needed (clang, ASan + UBSan, coverage in
# the libraries) and runs each for SECONDS on a scratch copy of its committed
# seed corpus, so the corpus in git is never written. Exits non-zero if any
# target finds a crash; the reproducer is kept under $BUILD/fuzz-artifacts.
#
#   tests/fuzz/run.sh SECONDS        (FUZZ_BUILD_DIR overrides build-fuzz)
set -eu

secs=${1:?usage: tests/fuzz/run.sh SECONDS}
root=$(cd "$(dirname "$0")/../.." && pwd)
build=${FUZZ_BUILD_DIR:-$root/build-fuzz}
targets="stun_msg stream_frame tls_hello"

if [ ! -f "$build/build.ninja" ]; then
	CC=clang meson setup "$build" "$root" -Dfuzz=true \
		-Db_sanitize=address,undefined -Db_lundef=false \
		-Dc_args=-fsanitize=fuzzer-no-link
fi
# Only the fuzz targets: the rest of the tree need not build for this.
ninja -C "$build" $(for t in $targets; do printf 'tests/fuzz/fuzz_%s ' "$t"; done)

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT INT TERM
artifacts="$build/fuzz-artifacts"
mkdir -p "$artifacts"
status=0
# The STUN dictionary serves both STUN-shaped targets.
dict_for() { case "$1" in tls_hello) echo tls_hello.dict ;; *) echo stun.dict ;; esac; }

for t in $targets; do
	cp -R "$root/tests/fuzz/corpus/$t" "$work/$t"
	echo "== fuzz_$t for ${secs}s"
	if ! UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
		"$build/tests/fuzz/fuzz_$t" -max_total_time="$secs" -print_final_stats=1 \
		-dict="$root/tests/fuzz/$(dict_for "$t")" -artifact_prefix="$artifacts/fuzz_$t-" \
		"$work/$t"; then
		echo "!! fuzz_$t failed; reproducer in $artifacts" >&2
		status=1
	fi
done
exit $status
