#!/bin/sh
# Checks that the manual pages are complete:
#  - every key of conf/config.c's keys[] table (the quoted path of each
#    INT_KEY/STR_KEY/LIST_KEY/CHOICE_KEY and .path entry) has its own entry in
#    man/ternd.conf.5 (a ".TP"/".TQ" followed by ".B <key>");
#  - every command listed by `ternctl --help` has a ".SS" section in
#    man/ternctl.1, and every option its `ternctl help COMMAND` lists is
#    described there;
#  - every option listed by `ternd --help` has an entry in man/ternd.8;
#  - `mandoc -T lint` and `groff -ww -z -man` find nothing in man/*.
# The binaries are taken from $TERN_BUILD (a meson build directory, default
# build-tests, which tests/run.sh builds first), rebuilt if stale.
# Prints PASS/FAIL lines and "N passed, N failed".
set -u

top="$(cd "$(dirname "$0")/../.." && pwd)"
man="$top/man"
passed=0
failed=0
pass() { passed=$((passed + 1)); echo "PASS: $*"; }
fail() { failed=$((failed + 1)); echo "FAIL: $*"; }

# The roff source with "\-" turned into "-" (options are written \-\-x).
plain() { sed 's/\\-/-/g' "$1"; }

# has_entry PAGE WORD [SECTION]: a ".TP" or ".TQ" line followed by a
# .B/.BR/.BI line naming WORD (as in ".BI \-\-user " id"" or
# ".BR \-c ", " \-\-config"); with SECTION, only between ".SS SECTION"
# and the next .SS or .SH.
has_entry() {
	plain "$1" | awk -v w="$2" -v sec="${3:-}" '
		BEGIN { inside = (sec == "") }
		/^\.S[SH] / { s = $0; sub(/^\.S[SH] "?/, "", s); sub(/"$/, "", s); split(s, f, " ")
			inside = (sec == "" || f[1] == sec) }
		inside && prev ~ /^\.T[PQ]$/ && $1 ~ /^\.B[RI]?$/ {
			a = $2; gsub(/"/, "", a); gsub(/,$/, "", a)
			if (a == w) { found = 1 }
			# also the second name of ".BR \-c ", " \-\-config"
			for (i = 3; i <= NF; i++) { b = $i; gsub(/"/, "", b); if (b == w) found = 1 }
		}
		{ prev = $0 }
		END { exit !found }'
}

# ---- configuration keys -------------------------------------------------------
keys="$(sed -n '/^static const struct key keys\[\] = {/,/^};/p' "$top/conf/config.c" |
	sed -n -e 's/^[[:space:]]*\(INT\|STR\|LIST\|CHOICE\)_KEY("\([^"]*\)".*/\2/p' \
	       -e 's/.*\.path = "\([^"]*\)".*/\1/p')"
n=$(printf '%s\n' "$keys" | grep -c .)
if [ "$n" -lt 10 ]; then
	fail "found the keys[] table in conf/config.c (got $n keys)"
else
	pass "conf/config.c keys[] has $n keys"
fi
for k in $keys; do
	if has_entry "$man/ternd.conf.5" "$k"; then
		pass "ternd.conf.5 documents $k"
	else
		fail "ternd.conf.5 documents $k (a .TP/.TQ entry \".B $k\")"
	fi
done

# ---- binaries -----------------------------------------------------------------
# Brought up to date first, so a stale binary cannot hide a new option.
build="${TERN_BUILD:-build-tests}"
case "$build" in /*) ;; *) build="$top/$build" ;; esac
if [ -f "$build/build.ninja" ] && command -v ninja >/dev/null 2>&1 &&
   ! ninja -C "$build" >/dev/null 2>&1; then
	fail "ninja -C $build (to bring ternctl and ternd up to date)"
	build=""
else
	ternctl=""
	for f in "$build/auth/ternctl" "$build/ternctl"; do
		[ -x "$f" ] && { ternctl="$f"; break; }
	done
	ternd="$build/relay/io/ternd"
	if [ -z "$ternctl" ] || [ ! -x "$ternd" ]; then
		fail "found ternctl and ternd in $build (build it, or set TERN_BUILD to a meson build directory)"
		build=""
	fi
fi

if [ -n "$build" ]; then

	# ---- ternctl commands and their options -----------------------------------
	cmds="$("$ternctl" --help 2>&1 | awk '/^Commands:/ { on = 1; next }
		on && /^  [a-z]/ { print $1; next } on && !/^  / { on = 0 }')"
	if [ -z "$cmds" ]; then
		fail "ternctl --help lists commands"
	else
		pass "ternctl --help lists $(printf '%s\n' "$cmds" | grep -c .) commands"
	fi
	for c in $cmds; do
		if plain "$man/ternctl.1" | grep -Eq "^\.SS \"?$c( |\"|$)"; then
			pass "ternctl.1 has a section for $c"
		else
			fail "ternctl.1 has a section for $c (.SS $c)"
		fi
		if ! help="$("$ternctl" help "$c" 2>&1)"; then
			fail "ternctl help $c works"
			continue
		fi
		# Options are indented lines starting with -x or --xx.
		opts="$(printf '%s\n' "$help" | sed -n 's/^  *\(-[a-zA-Z], \)\{0,1\}\(--[a-z][a-z-]*\).*/\2/p' | sort -u)"
		# ... and the ones in the usage line (audit verify has none indented).
		opts="$opts $(printf '%s\n' "$help" | sed -n '1s/^Usage://p' | grep -o -- '--[a-z][a-z-]*' | sort -u)"
		for o in $(printf '%s\n' $opts | sort -u); do
			if has_entry "$man/ternctl.1" "$o" "$c"; then
				pass "ternctl.1 describes $c $o"
			else
				fail "ternctl.1 describes $c $o (a .TP entry under .SS $c)"
			fi
		done
	done

	# ---- ternd options --------------------------------------------------------
	dopts="$("$ternd" --help 2>&1 | sed -n 's/^  *\(-[a-zA-Z], \)\{0,1\}\(--[a-z][a-z-]*\).*/\1\2/p' |
		sed 's/, / /')"
	if [ -z "$dopts" ]; then
		fail "ternd --help lists options"
	else
		pass "ternd --help lists $(printf '%s\n' "$dopts" | grep -c .) options"
	fi
	for o in $dopts; do
		if has_entry "$man/ternd.8" "$o"; then
			pass "ternd.8 describes $o"
		else
			fail "ternd.8 describes $o (a .TP entry)"
		fi
	done
fi

# ---- the pages themselves -----------------------------------------------------
pages="$man/ternd.8 $man/ternctl.1 $man/ternd.conf.5"
if command -v mandoc >/dev/null 2>&1; then
	out="$(mandoc -T lint $pages 2>&1)"
	if [ -z "$out" ]; then pass "mandoc -T lint is clean"; else
		fail "mandoc -T lint is clean:"; printf '%s\n' "$out" | sed 's/^/    /'
	fi
else
	fail "mandoc is installed (apt-get install mandoc)"
fi
if command -v groff >/dev/null 2>&1; then
	for p in $pages; do
		out="$(groff -ww -z -man "$p" 2>&1)"
		if [ -z "$out" ]; then pass "groff -ww -z -man $(basename "$p") is clean"; else
			fail "groff -ww -z -man $(basename "$p") is clean:"; printf '%s\n' "$out" | sed 's/^/    /'
		fi
	done
else
	fail "groff is installed (apt-get install groff-base)"
fi

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
