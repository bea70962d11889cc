#!/bin/sh
# Checks the systemd units offline: `systemd-analyze security --offline=true`
# must rate ternd.service at an exposure of at most 2.0, and
# `systemd-analyze verify` must find nothing wrong in ternd.service and
# ternd.socket beyond /usr/sbin/ternd not being installed on this host.
# Prints PASS/FAIL lines and "N passed, N failed". Needs systemd >= 252.
set -u

top="$(cd "$(dirname "$0")/../.." && pwd)"
unit="$top/systemd/ternd.service"
socket="$top/systemd/ternd.socket"
max="2.0"
passed=0
failed=0
pass() { passed=$((passed + 1)); echo "PASS: $*"; }
fail() { failed=$((failed + 1)); echo "FAIL: $*"; }

if ! command -v systemd-analyze >/dev/null 2>&1; then
	fail "systemd-analyze is installed (apt-get install systemd)"
else
	report="$(systemd-analyze security --offline=true --no-pager "$unit" 2>&1)"
	level="$(printf '%s\n' "$report" | sed -n 's/.*Overall exposure level for [^:]*: *\([0-9][0-9.]*\).*/\1/p')"
	if [ -z "$level" ]; then
		fail "systemd-analyze security printed an overall exposure level:"
		printf '%s\n' "$report" | tail -n 5 | sed 's/^/    /'
	elif awk -v l="$level" -v m="$max" 'BEGIN { exit !(l + 0 <= m + 0) }'; then
		pass "ternd.service exposure $level <= $max"
	else
		fail "ternd.service exposure $level <= $max; the failing checks:"
		printf '%s\n' "$report" | grep '✗' | sed 's/^/    /'
	fi

	# verify: man pages may not be installed on this host and the binary may
	# not be either; everything else it says is a mistake in the units.
	noise='Command /usr/sbin/ternd is not executable|Command /bin/kill is not executable'
	for u in "$unit" "$socket"; do
		msgs="$(cd "$top/systemd" && systemd-analyze verify --man=no "$u" 2>&1 | grep -Ev "$noise")"
		if [ -z "$msgs" ]; then
			pass "systemd-analyze verify $(basename "$u")"
		else
			fail "systemd-analyze verify $(basename "$u"):"
			printf '%s\n' "$msgs" | sed 's/^/    /'
		fi
	done

	# The directives the brief requires, so a later edit cannot drop them quietly.
	for d in 'Type=notify' 'NotifyAccess=main' 'User=tern' 'StateDirectory=tern' \
		 'RuntimeDirectory=tern' 'ExecReload=/bin/kill -HUP $MAINPID' \
		 'ExecStartPre=/usr/sbin/ternd --check-config -c /etc/tern/ternd.conf' \
		 'CapabilityBoundingSet=CAP_NET_BIND_SERVICE' 'AmbientCapabilities=CAP_NET_BIND_SERVICE' \
		 'NoNewPrivileges=yes' 'Restart=on-failure' 'RestrictAddressFamilies=AF_INET AF_INET6 AF_UNIX'; do
		if grep -qxF "$d" "$unit"; then pass "ternd.service has $d"; else fail "ternd.service has $d"; fi
	done
	if grep -q '^LimitNOFILE=[0-9]' "$unit" && [ "$(sed -n 's/^LimitNOFILE=//p' "$unit")" -ge 65536 ]; then
		pass "ternd.service LimitNOFILE >= 65536"
	else
		fail "ternd.service LimitNOFILE >= 65536"
	fi
	for d in 'BindIPv6Only=ipv6-only' 'FreeBind=yes' 'Service=ternd.service'; do
		if grep -qxF "$d" "$socket"; then pass "ternd.socket has $d"; else fail "ternd.socket has $d"; fi
	done
fi

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
