#!/usr/bin/env python3
"""Counts a pytest run from its JUnit XML report.

    junit_counts.py REPORT.xml PYTEST_EXIT_STATUS [FAILURES_FILE]
        ->  "PASSED FAILED"

Skipped tests count as neither. A run that ended without a report of its
failure (interrupted, internal error, timeout) counts one failure. With
FAILURES_FILE, each failing test's id and the first line of its message are
written to it, one per line, so that the end of a long run can name them.

Used by tests/run.sh and tests/valgrind.sh."""
import sys
import xml.etree.ElementTree as ET

path, rc = sys.argv[1], int(sys.argv[2])
failures_file = sys.argv[3] if len(sys.argv) > 3 else None
ok = bad = 0
names = []
try:
    root = ET.parse(path).getroot()
    suites = [root] if root.tag == "testsuite" else root.iter("testsuite")
    for suite in suites:
        n = int(suite.get("tests", 0))
        failed = int(suite.get("failures", 0)) + int(suite.get("errors", 0))
        skipped = int(suite.get("skipped", 0))
        ok += n - failed - skipped
        bad += failed
        for case in suite.iter("testcase"):
            for kind in ("failure", "error"):
                el = case.find(kind)
                if el is None:
                    continue
                why = (el.get("message") or "").strip().splitlines()
                names.append("%s::%s (%s) %s" % (case.get("classname", ""), case.get("name", ""),
                                                 kind, why[0][:160] if why else ""))
except (FileNotFoundError, ET.ParseError):
    pass
# 0 all passed, 1 some failed, 5 none collected; anything else, or 1 with no
# failure in the report, is a run that broke.
if rc not in (0, 1, 5) or (rc == 1 and bad == 0):
    bad += 1
    names.append("pytest exited %d without a report of the failure (%s)" % (rc, path))
if failures_file:
    with open(failures_file, "w") as f:
        f.writelines(n + "\n" for n in names)
print(ok, bad)
