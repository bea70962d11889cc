#!/usr/bin/env bash
# Installs the Debian 12 packages Tern needs to build, run and test, only
# when something is missing. Usage: scripts/install-deps.sh [build|test]
set -euo pipefail

build_pkgs=(meson ninja-build pkg-config gcc libevent-dev libssl-dev libsrtp2-dev
            libhiredis-dev libconfig-dev libsystemd-dev libcmocka-dev openssl)
test_pkgs=(clang libclang-rt-14-dev coturn python3 python3-pytest iproute2 valgrind)

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
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
# coturn's package enables a system turnserver on 3478; Tern's tests only use
# its client tools, so keep the service from running where systemd is up.
if printf '%s\n' "${missing[@]}" | grep -qx coturn && command -v systemctl >/dev/null; then
	$SUDO systemctl disable --now coturn >/dev/null 2>&1 || true
fi
