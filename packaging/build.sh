#!/bin/sh
# Builds Tern's Debian and RPM packages into packaging/out/:
#   packaging/build.sh [--nocheck]
# The source is the last commit (git archive HEAD) as tern-VERSION.tar.gz;
# TERN_PKG_REF=<commit> picks another, TERN_PKG_REF=worktree takes the
# tracked files with their uncommitted changes. The packaging itself
# (packaging/debian, packaging/rpm/tern.spec) is always taken from the work
# tree. --nocheck skips the unit tests inside both builds.
# Needs: dpkg-dev, debhelper, the Build-Depends of packaging/debian/control,
# rpm (for rpmbuild). rpmbuild runs with --nodeps on a Debian host, whose
# rpm database knows no packages.
set -eu

here="$(cd "$(dirname "$0")" && pwd)"
top="$(cd "$here/.." && pwd)"
out="$here/out"
nocheck=""
[ "${1:-}" = "--nocheck" ] && nocheck=1

version="$(sed -n "s/^ *version *: *'\([^']*\)'.*/\1/p" "$top/meson.build" | head -n 1)"
[ -n "$version" ] || { echo "build.sh: no version in meson.build" >&2; exit 1; }
name="tern-$version"

rm -rf "$out"
mkdir -p "$out/work/deb" "$out/work/rpm/SOURCES"

# --- source tarball -------------------------------------------------------
cd "$top"
ref="${TERN_PKG_REF:-HEAD}"
if [ "$ref" = worktree ]; then
	ref="$(git stash create 2>/dev/null || true)"
	ref="${ref:-HEAD}"
fi
git archive --format=tar.gz --prefix="$name/" -o "$out/$name.tar.gz" "$ref"
echo "build.sh: source $out/$name.tar.gz (from $ref)"

# --- Debian ---------------------------------------------------------------
tar -xzf "$out/$name.tar.gz" -C "$out/work/deb"
cp -r "$top/packaging/debian" "$out/work/deb/$name/debian"
(
	cd "$out/work/deb/$name"
	if [ -n "$nocheck" ]; then
		DEB_BUILD_OPTIONS="nocheck${DEB_BUILD_OPTIONS:+ $DEB_BUILD_OPTIONS}"
		export DEB_BUILD_OPTIONS
	fi
	dpkg-buildpackage -us -uc -b
) > "$out/deb-build.log" 2>&1 || { tail -n 40 "$out/deb-build.log"; echo "build.sh: Debian build FAILED (log: $out/deb-build.log)" >&2; exit 1; }
mv "$out"/work/deb/*.deb "$out"/work/deb/*.changes "$out"/work/deb/*.buildinfo "$out/"

# --- RPM ------------------------------------------------------------------
cp "$out/$name.tar.gz" "$out/work/rpm/SOURCES/"
rpm_opts=""
if ! rpm -q rpm >/dev/null 2>&1; then
	# Not an RPM system: build dependencies cannot be checked by rpm, and
	# there is no find-debuginfo to split debug symbols.
	rpm_opts="--nodeps"
	set -- --define "debug_package %{nil}"
else
	set --
fi
# shellcheck disable=SC2086
rpmbuild -bb $rpm_opts ${nocheck:+--nocheck} "$@" \
	--define "_topdir $out/work/rpm" \
	"$top/packaging/rpm/tern.spec" > "$out/rpm-build.log" 2>&1 \
	|| { tail -n 40 "$out/rpm-build.log"; echo "build.sh: RPM build FAILED (log: $out/rpm-build.log)" >&2; exit 1; }
find "$out/work/rpm/RPMS" -name '*.rpm' -exec mv {} "$out/" \;

rm -rf "$out/work"
echo "build.sh: packages in $out:"
ls -1 "$out"
