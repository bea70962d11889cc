#!/usr/bin/env bash
# Installs the Debian 12 packages Tern needs to build, run and test, only
# when something is missing. The one list of them: scripts/run-dev.sh asks
# for "build", tests/run.sh for "test".  Usage: scripts/install-deps.sh [build|test]
set -euo pipefail

build_pkgs=(meson ninja-build pkg-config gcc libevent-dev libssl-dev libsrtp2-dev
            libhiredis-dev libconfig-dev libsystemd-dev libcmocka-dev openssl)
# clang: fuzzing; coturn: turnutils_* test clients and the benchmark's
# comparison; redis: revocation tests; prometheus: scraped in the metrics
# tests; chromium: the browser test; faketime: the wall-clock jump test;
# the rest: packaging and unit checks.
test_pkgs=(clang libclang-rt-14-dev coturn python3 python3-pytest iproute2 util-linux
           valgrind redis-server redis-tools prometheus chromium chromium-driver libnss3-tools
           systemd dpkg-dev debhelper lintian rpm mandoc man-db fakeroot
           faketime)

want=("${build_pkgs[@]}")
[ "${1:-build}" = test ] && want+=("${test_pkgs[@]}")

missing=()
for p in "${want[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0

echo "installing: ${missing[*]}" >&2
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO=sudo
export DEBIAN_FRONTEND=noninteractive
# A mirror's hiccup should not fail a fresh machine's first run: three tries.
apt_try() {
	local n
	for n in 1 2 3; do
		"$@" && return 0
		echo "apt: '$*' failed (try $n of 3)" >&2
		[ "$n" -lt 3 ] && sleep $((n * 10))
	done
	return 1
}
apt_try $SUDO apt-get update -qq
apt_try $SUDO apt-get install -y -qq "${missing[@]}" >/dev/null
still=()
for p in "${missing[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || still+=("$p")
done
if [ ${#still[@]} -gt 0 ]; then
	echo "still missing after apt-get install: ${still[*]}" >&2
	exit 1
fi
# Some packages start a system service of their own where systemd runs
# (turnserver on 3478, Prometheus on 9090, Redis on 6379). Tern's tests start
# their own instances on free ports; keep these from running.
if command -v systemctl >/dev/null && [ -d /run/systemd/system ]; then
	for svc in coturn prometheus prometheus-node-exporter redis-server; do
		if printf '%s\n' "${missing[@]}" | grep -qx "${svc}"; then
			$SUDO systemctl disable --now "$svc" >/dev/null 2>&1 || true
		fi
	done
fi
