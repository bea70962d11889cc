#!/usr/bin/env python3
"""Counts a `meson test` run's unit tests from its JSON test log: every
cmocka test case (from each program's "[  PASSED  ] N test(s)." and
"[  FAILED  ] N test(s)" lines), or the program itself when it printed none.

    meson_unit_counts.py TESTLOG.json MESON_EXIT_STATUS [FAILURES_FILE]
        ->  "PASSED FAILED"

With FAILURES_FILE, the name of every failing program (and its failing
cmocka cases, from "[  FAILED  ] name" lines) is appended to it, one per
line, so that the end of a long run can list them.

Used by tests/run.sh and tests/valgrind.sh."""
import json
import re
import sys

path, rc = sys.argv[1], int(sys.argv[2])
failures_file = sys.argv[3] if len(sys.argv) > 3 else None
ok = bad = 0
names = []
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
                cases = re.findall(r"^\[  FAILED  \] ([A-Za-z_]\w*)\s*$", out, re.M)
                name = entry.get("name", "?")
                names.append(f"{name} ({result})" + (": " + ", ".join(cases) if cases else ""))
except FileNotFoundError:
    pass
if rc != 0 and bad == 0:
    bad = 1  # meson failed without recording a failing test
    names.append(f"meson test exited {rc} without a failing test in {path}")
if failures_file and names:
    with open(failures_file, "a") as f:
        for n in names:
            f.write(n + "\n")
print(ok, bad)
