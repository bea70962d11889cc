#!/bin/sh
# Builds the libFuzzer targets if needed (clang, ASan + UBSan, coverage in
# the libraries) and runs each for SECONDS on a scratch copy of its committed
# seed corpus, so the corpus in git is never written. Exits non-zero if any
# target finds a crash; the reproducer is kept under $BUILD/fuzz-artifacts.
# Each target uses tests/fuzz/NAME.dict when there is one (stun.dict
# otherwise); LeakSanitizer reads tests/fuzz/lsan.supp (libconfig only).
#
#   tests/fuzz/run.sh SECONDS [TARGET...]   (FUZZ_BUILD_DIR overrides build-fuzz)
#   tests/fuzz/run.sh 20                    CI: every target, 20 s each
#   tests/fuzz/run.sh 3600                  the long pass, an hour per target
set -eu

secs=${1:?usage: tests/fuzz/run.sh SECONDS [TARGET...]}
shift
root=$(cd "$(dirname "$0")/../.." && pwd)
build=${FUZZ_BUILD_DIR:-$root/build-fuzz}
targets="stun_msg stream_frame tls_hello stun_attr cred nonce cidr conf secrets revocation"
[ $# -gt 0 ] && targets="$*"

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
# The STUN dictionary serves the STUN-shaped targets without one of their own.
dict_for() { if [ -f "$root/tests/fuzz/$1.dict" ]; then echo "$1.dict"; else echo stun.dict; fi; }

for t in $targets; do
	cp -R "$root/tests/fuzz/corpus/$t" "$work/$t"
	echo "== fuzz_$t for ${secs}s"
	if ! UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
		LSAN_OPTIONS="suppressions=$root/tests/fuzz/lsan.supp:print_suppressions=0" \
		"$build/tests/fuzz/fuzz_$t" -max_total_time="$secs" -print_final_stats=1 \
		-dict="$root/tests/fuzz/$(dict_for "$t")" -artifact_prefix="$artifacts/fuzz_$t-" \
		"$work/$t"; then
		echo "!! fuzz_$t failed; reproducer in $artifacts" >&2
		status=1
	fi
done
exit $status
