#!/usr/bin/env python3
"""Counts a `meson test` run's unit tests from its JSON test log: every
cmocka test case (from each program's "[  PASSED  ] N test(s)." and
"[  FAILED  ] N test(s)" lines), or the program itself when it printed none.

    meson_unit_counts.py TESTLOG.json MESON_EXIT_STATUS   ->  "PASSED FAILED"

Used by tests/run.sh and tests/valgrind.sh."""
import json
import re
import sys

path, rc = sys.argv[1], int(sys.argv[2])
ok = bad = 0
try:
    with open(path) as f:
        for line in f:
            if not line.strip():
                continue
            entry = json.loads(line)
            result = entry.get("result", "")
            out = (entry.get("stdout") or "") + (entry.get("stderr") or "")
            passed = sum(int(m) for m in re.findall(r"\[  PASSED  \] (\d+) test", out))
            failed = sum(int(m) for m in re.findall(r"\[  FAILED  \] (\d+) test", out))
            if result in ("OK", "EXPECTEDFAIL"):
                ok += passed if passed else 1
            elif result != "SKIP":
                ok += passed
                bad += failed if failed else 1
except FileNotFoundError:
    pass
if rc != 0 and bad == 0:
    bad = 1  # meson failed without recording a failing test
print(ok, bad)
