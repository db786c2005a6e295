#!/usr/bin/env python3
"""Run every hostel test and print one summary line: `N passed, N failed, N skipped`.

Usage: scripts/run-tests.py BUILD_DIR [--quick]

1. meson's tests (C unit tests, ISA tests under hostel and under QEMU),
   read back from meson-logs/testlog.json;
2. the end-to-end tests in tests/e2e with pytest, read back from a JUnit XML.
Exit status is non-zero if anything failed or if no test ran.
"""
import json
import os
import subprocess
import sys
import xml.etree.ElementTree as ET

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def meson_tests(build):
    log = os.path.join(build, "meson-logs", "testlog.json")
    if os.path.exists(log):
        os.remove(log)
    subprocess.call(["meson", "test", "-C", build, "--print-errorlogs",
                     "--num-processes", str(os.cpu_count() or 2)])
    counts = {"passed": 0, "failed": 0, "skipped": 0}
    if not os.path.exists(log):
        counts["failed"] += 1
        print("run-tests: meson produced no test log", file=sys.stderr)
        return counts
    with open(log) as f:
        for line in f:
            result = json.loads(line).get("result", "FAIL")
            if result in ("OK", "EXPECTEDFAIL"):
                counts["passed"] += 1
            elif result == "SKIP":
                counts["skipped"] += 1
            else:
                counts["failed"] += 1
    return counts


def pytest_tests(build):
    counts = {"passed": 0, "failed": 0, "skipped": 0}
    e2e = os.path.join(ROOT, "tests", "e2e")
    if not any(n.startswith("test_") for n in os.listdir(e2e)):
        return counts
    xml = os.path.join(build, "pytest-results.xml")
    env = dict(os.environ, HOSTEL_BIN=os.path.join(os.path.abspath(build), "hostel"),
               HOSTEL_BUILD=os.path.abspath(build))
    rc = subprocess.call([sys.executable, "-m", "pytest", "-v", "-p", "no:cacheprovider",
                          "--junitxml", xml, e2e], env=env, cwd=ROOT)
    if not os.path.exists(xml):
        counts["failed"] += 1
        return counts
    for suite in ET.parse(xml).getroot().iter("testsuite"):
        tests = int(suite.get("tests", 0))
        failed = int(suite.get("failures", 0)) + int(suite.get("errors", 0))
        skipped = int(suite.get("skipped", 0))
        counts["failed"] += failed
        counts["skipped"] += skipped
        counts["passed"] += tests - failed - skipped
    if rc not in (0, 5) and counts["failed"] == 0:
        counts["failed"] += 1  # pytest itself broke (collection error, crash)
    return counts


def main():
    if len(sys.argv) < 2:
        print(__doc__, file=sys.stderr)
        return 2
    build = sys.argv[1]
    total = {"passed": 0, "failed": 0, "skipped": 0}
    for part in (meson_tests(build), pytest_tests(build)):
        for k in total:
            total[k] += part[k]
    print(f"{total['passed']} passed, {total['failed']} failed, {total['skipped']} skipped")
    if total["failed"] or total["passed"] == 0:
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
