#!/usr/bin/env bash
# Sets up and runs ternd on the development config (conf/dev.conf): loopback
# only, unprivileged ports, a freshly generated development secret. Prints a
# credential to try, then runs in the foreground until Ctrl-C.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/install-deps.sh build
[ -d build ] || meson setup build >/dev/null
ninja -C build >/dev/null

if [ ! -f conf/dev.secrets ]; then
	(umask 077 && openssl rand -hex 32 > conf/dev.secrets)
	echo "created conf/dev.secrets (development only)"
fi

if [ ! -f conf/dev-tls.key ]; then
	(umask 077 && openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
		-keyout conf/dev-tls.key -out conf/dev-tls.crt -days 365 -subj "/CN=localhost" \
		-addext "subjectAltName=DNS:localhost,IP:127.0.0.1" 2>/dev/null)
	echo "created a self-signed development certificate conf/dev-tls.crt"
fi

build/relay/io/ternd --check-config -c conf/dev.conf
echo
echo "A credential valid for one hour:"
build/auth/ternctl mint --user dev-user --ttl 3600 --config conf/dev.conf
echo
echo "Starting ternd on conf/dev.conf (Ctrl-C stops it)..."
exec build/relay/io/ternd -c conf/dev.conf
