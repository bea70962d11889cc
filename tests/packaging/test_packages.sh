#!/bin/sh
# Builds the Debian and RPM packages (packaging/build.sh), runs lintian, and
# checks what an admin would get: the files and their modes, the conffile,
# the maintainer scripts run for real into a scratch root
# (dpkg --root --force-script-chrootless: user, secret, permissions, enabled
# unit), an upgrade that keeps the secret, a purge, and the RPM's file list.
# Offline, a minute or two. Prints PASS/FAIL lines and "N passed, N failed".
#   tests/packaging/test_packages.sh            build, then check
#   TERN_PKG_NOBUILD=1 tests/packaging/...      check packaging/out as it is
# Needs (Debian): dpkg-dev debhelper lintian rpm mandoc fakeroot and the
# Build-Depends of packaging/debian/control.
set -u

top="$(cd "$(dirname "$0")/../.." && pwd)"
out="$top/packaging/out"
passed=0
failed=0
root=""

pass() { passed=$((passed + 1)); echo "PASS: $*"; }
fail() { failed=$((failed + 1)); echo "FAIL: $*"; }
# check DESCRIPTION COMMAND...: PASS when the command succeeds.
check() {
	what="$1"
	shift
	if "$@" >/dev/null 2>&1; then pass "$what"; else fail "$what"; fi
}
finish() {
	[ -n "$root" ] && rm -rf "$root"
	echo "$passed passed, $failed failed"
	[ "$failed" -eq 0 ]
	exit $?
}

for tool in dpkg-buildpackage dh rpmbuild lintian mandoc man systemd-sysusers systemd-tmpfiles; do
	if ! command -v "$tool" >/dev/null 2>&1; then
		fail "tool $tool is installed (apt-get install dpkg-dev debhelper rpm lintian mandoc man-db systemd)"
		finish
	fi
done

# ---- build -------------------------------------------------------------------
if [ -z "${TERN_PKG_NOBUILD:-}" ]; then
	if "$top/packaging/build.sh" --nocheck >/dev/null 2>&1; then
		pass "packaging/build.sh builds both packages"
	else
		fail "packaging/build.sh builds both packages (logs in $out)"
		finish
	fi
fi
deb="$(ls "$out"/tern_*_*.deb 2>/dev/null | grep -v dbgsym | head -n 1)"
rpmf="$(ls "$out"/tern-[0-9]*.rpm 2>/dev/null | grep -v -e debuginfo -e '\.src\.' | head -n 1)"
changes="$(ls "$out"/tern_*.changes 2>/dev/null | head -n 1)"
[ -n "$deb" ] && pass "a .deb is in packaging/out" || fail "a .deb is in packaging/out"
[ -n "$rpmf" ] && pass "a .rpm is in packaging/out" || fail "a .rpm is in packaging/out"
[ -n "$deb" ] && [ -n "$rpmf" ] || finish

# ---- lintian -----------------------------------------------------------------
lint="$(lintian --fail-on error ${changes:-$deb} 2>&1)"
if [ $? -eq 0 ] && ! printf '%s\n' "$lint" | grep -q '^E: '; then
	pass "lintian reports no errors"
else
	fail "lintian reports no errors:"
	printf '%s\n' "$lint" | grep '^E: ' | sed 's/^/    /'
fi

# ---- .deb contents -----------------------------------------------------------
listing="$(dpkg-deb -c "$deb")"
# has MODE OWNER PATH: the listing shows PATH with that mode string and owner.
has() {
	printf '%s\n' "$listing" | awk -v m="$1" -v o="$2" -v p="./$3" \
		'$1 == m && $2 == o && $NF == p { found = 1 } END { exit !found }'
}
check "deb: /etc/tern/ternd.conf is 0644 root"          has -rw-r--r-- root/root etc/tern/ternd.conf
check "deb: /usr/sbin/ternd is 0755 root"               has -rwxr-xr-x root/root usr/sbin/ternd
check "deb: /usr/bin/ternctl is 0755 root"              has -rwxr-xr-x root/root usr/bin/ternctl
check "deb: ternd.service unit"                         has -rw-r--r-- root/root lib/systemd/system/ternd.service
check "deb: ternd.socket unit"                          has -rw-r--r-- root/root lib/systemd/system/ternd.socket
check "deb: tern-probe.service and .timer units" \
	sh -c 'printf "%s\n" "$1" | grep -q "lib/systemd/system/tern-probe.service" &&
	       printf "%s\n" "$1" | grep -q "lib/systemd/system/tern-probe.timer"' sh "$listing"
check "deb: sysusers.d/tern.conf"                       has -rw-r--r-- root/root usr/lib/sysusers.d/tern.conf
check "deb: tmpfiles.d/tern.conf"                       has -rw-r--r-- root/root usr/lib/tmpfiles.d/tern.conf
check "deb: ternd(8)"                                   has -rw-r--r-- root/root usr/share/man/man8/ternd.8.gz
check "deb: ternctl(1)"                                 has -rw-r--r-- root/root usr/share/man/man1/ternctl.1.gz
check "deb: ternd.conf(5)"                              has -rw-r--r-- root/root usr/share/man/man5/ternd.conf.5.gz
check "deb: no secrets file shipped" sh -c "! printf '%s\n' \"\$1\" | grep -q 'etc/tern/secrets'" sh "$listing"
check "deb: /etc/tern/ternd.conf is a conffile" \
	sh -c 'dpkg-deb -f "$1" >/dev/null && dpkg-deb --ctrl-tarfile "$1" | tar -xO ./conffiles | grep -qx /etc/tern/ternd.conf' sh "$deb"

# ---- install into a scratch root, maintainer scripts included -----------------
root="$(mktemp -d /tmp/tern-pkgroot.XXXXXX)"
mkdir -p "$root/var/lib/dpkg/info" "$root/var/lib/dpkg/updates" "$root/etc"
: > "$root/var/lib/dpkg/status"
: > "$root/var/lib/dpkg/available"
dpkg_root() { dpkg --root="$root" --force-script-chrootless --force-depends "$@"; }

if dpkg_root -i "$deb" > "$root.install.log" 2>&1; then
	pass "dpkg -i into a fresh root runs the maintainer scripts"
else
	fail "dpkg -i into a fresh root runs the maintainer scripts:"
	sed 's/^/    /' "$root.install.log"
fi
rm -f "$root.install.log"
uid="$(awk -F: '$1 == "tern" { print $3 }' "$root/etc/passwd" 2>/dev/null)"
gid="$(awk -F: '$1 == "tern" { print $4 }' "$root/etc/passwd" 2>/dev/null)"
check "postinst: system user tern exists (uid < 1000, nologin)" \
	sh -c '[ -n "$1" ] && [ "$1" -lt 1000 ] && grep -q "^tern:.*:/usr/sbin/nologin$" "$2/etc/passwd"' sh "$uid" "$root"
check "postinst: group tern exists" grep -q '^tern:' "$root/etc/group"
stat_is() { [ "$(stat -c '%a %u:%g' "$2")" = "$1" ]; }
check "postinst: /etc/tern/secrets is 0600 tern:tern"     stat_is "600 $uid:$gid" "$root/etc/tern/secrets"
check "postinst: /etc/tern/ternd.conf is 0644 root:root"  stat_is "644 0:0" "$root/etc/tern/ternd.conf"
check "tmpfiles: /etc/tern is 0750 root:tern"             stat_is "750 0:$gid" "$root/etc/tern"
check "tmpfiles: /var/lib/tern is 0700 tern:tern"         stat_is "700 $uid:$gid" "$root/var/lib/tern"
check "postinst: the secret is one line of 16..256 bytes" \
	sh -c 'n=$(grep -v "^#" "$1" | grep -c .) && l=$(grep -v "^#" "$1" | head -n 1 | tr -d "\n" | wc -c) && [ "$n" = 1 ] && [ "$l" -ge 16 ] && [ "$l" -le 256 ]' sh "$root/etc/tern/secrets"
check "ternd.service enabled (multi-user.target.wants)" \
	test -L "$root/etc/systemd/system/multi-user.target.wants/ternd.service"
check "ternd.socket not enabled" \
	test ! -e "$root/etc/systemd/system/sockets.target.wants/ternd.socket"

# The installed daemon accepts the shipped config with the generated secret
# (secrets_file pointed into the scratch root).
sed "s|\"/etc/tern/secrets\"|\"$root/etc/tern/secrets\"|" "$root/etc/tern/ternd.conf" > "$root/check.conf"
check "installed ternd --check-config accepts the shipped config + generated secret" \
	"$root/usr/sbin/ternd" --check-config -c "$root/check.conf"
check "installed ternctl mints with the generated secret" \
	sh -c '"$1/usr/bin/ternctl" mint --user pkgtest --ttl 60 --secret-file "$1/etc/tern/secrets" --host turn.test --json | grep -q urls' sh "$root"
for page in man8/ternd.8 man1/ternctl.1 man5/ternd.conf.5; do
	check "man page $page renders without warnings" \
		sh -c 'zcat "$1" > "$2.man" && [ -z "$(mandoc -T lint -W warning "$2.man" 2>&1)" ] && man -l "$2.man" | grep -q .' \
		sh "$root/usr/share/man/$page.gz" "$root/page"
done
rm -f "$root/page.man" "$root/check.conf"

cp "$root/etc/tern/secrets" "$root/secrets.before"
check "reinstall (upgrade path) succeeds" dpkg_root -i "$deb"
check "upgrade keeps the existing secret" cmp -s "$root/secrets.before" "$root/etc/tern/secrets"
rm -f "$root/secrets.before"

check "dpkg --purge succeeds" dpkg_root --purge tern
check "purge removes /etc/tern (config and secrets)" test ! -e "$root/etc/tern"
check "purge removes the state /var/lib/tern" test ! -e "$root/var/lib/tern"
check "purge removes the enable symlink" \
	test ! -e "$root/etc/systemd/system/multi-user.target.wants/ternd.service"

# ---- RPM ---------------------------------------------------------------------
rpmlist="$(rpm -qlvp "$rpmf" 2>/dev/null)"
rpm_has() {
	printf '%s\n' "$rpmlist" | awk -v m="$1" -v o="$2" -v g="$3" -v p="$4" \
		'$1 == m && $3 == o && $4 == g && $NF == p { found = 1 } END { exit !found }'
}
check "rpm: /etc/tern/ternd.conf 0644 root"      rpm_has -rw-r--r-- root root /etc/tern/ternd.conf
check "rpm: /etc/tern/secrets ghost 0600 tern"   rpm_has -rw------- tern tern /etc/tern/secrets
check "rpm: /etc/tern 0750 root:tern"            rpm_has drwxr-x--- root tern /etc/tern
check "rpm: /var/lib/tern 0700 tern"             rpm_has drwx------ tern tern /var/lib/tern
check "rpm: /usr/sbin/ternd"                     rpm_has -rwxr-xr-x root root /usr/sbin/ternd
check "rpm: /usr/bin/ternctl"                    rpm_has -rwxr-xr-x root root /usr/bin/ternctl
check "rpm: ternd.service in /usr/lib/systemd/system" rpm_has -rw-r--r-- root root /usr/lib/systemd/system/ternd.service
check "rpm: ternd.socket in /usr/lib/systemd/system"  rpm_has -rw-r--r-- root root /usr/lib/systemd/system/ternd.socket
check "rpm: tern-probe.timer in /usr/lib/systemd/system" rpm_has -rw-r--r-- root root /usr/lib/systemd/system/tern-probe.timer
check "rpm: sysusers.d and tmpfiles.d entries" \
	sh -c 'printf "%s\n" "$1" | grep -q " /usr/lib/sysusers.d/tern.conf$" && printf "%s\n" "$1" | grep -q " /usr/lib/tmpfiles.d/tern.conf$"' sh "$rpmlist"
check "rpm: the three man pages" \
	sh -c 'for p in man1/ternctl.1 man5/ternd.conf.5 man8/ternd.8; do printf "%s\n" "$1" | grep -q "/usr/share/man/$p" || exit 1; done' sh "$rpmlist"
check "rpm: ternd.conf is %config(noreplace)" \
	sh -c 'rpm -qp --qf "[%{FILENAMES} %{FILEFLAGS:fflags}\n]" "$1" | grep -qx "/etc/tern/ternd.conf cn"' sh "$rpmf"
check "rpm: scriptlets create the user and the secret" \
	sh -c 'rpm -qp --scripts "$1" | grep -q useradd && rpm -qp --scripts "$1" | grep -q "etc/tern/secrets"' sh "$rpmf"

finish
