"""Run the tests that wait on a process, a signal or a clock (marker `timing`) several times with
one core kept busy, and print how each fared: a timing test that passes only on an idle machine
fails CI on a busy one.

    uv run bench/stress_timing.py [--runs 5] [-- PYTEST_ARGS...]

The busy core: `stress-ng --cpu 1 --taskset 1` when stress-ng is installed (Debian's package),
else a Python busy loop pinned to core 1. The tests themselves may use every core, as in CI.
Each run is one `pytest -m timing` (so session fixtures such as the Docker images are built
once per run: the first flavor always cold, the others from the layer cache after the first
run); the table gives, per test, its passes, failures and skips out of the runs and its slowest
call. Exits 1 when any run failed a test or wrote no report.
"""

import argparse
import contextlib
import os
import shutil
import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ElementTree
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


@contextlib.contextmanager
def one_core_busy() -> Iterator[str]:
    """A process spinning on core 1 for as long as the block runs; its description."""
    if shutil.which("stress-ng"):
        command = ["stress-ng", "--cpu", "1", "--taskset", "1", "--quiet"]
        what = "stress-ng --cpu 1 --taskset 1"
    else:
        spin = "import os; os.sched_setaffinity(0, {min(1, os.cpu_count() - 1)})\nwhile True: pass"
        command = [sys.executable, "-c", spin]
        what = "a Python busy loop on core 1"
    hog = subprocess.Popen(command, start_new_session=True)
    try:
        yield what
    finally:
        os.killpg(hog.pid, 15)
        hog.wait()


def run_once(pytest_args: list[str], report: Path) -> int:
    command = [sys.executable, "-m", "pytest", "-m", "timing", "-q", f"--junitxml={report}"]
    return subprocess.run([*command, *pytest_args], cwd=REPO, check=False).returncode


def outcomes(report: Path) -> Iterator[tuple[str, str, float]]:
    """(test id, "passed", "failed" or "skipped", seconds) for each test case of a junit
    report."""
    for case in ElementTree.parse(report).iter("testcase"):
        name = f"{case.get('classname', '').rsplit('.', 1)[-1]}::{case.get('name')}"
        outcome = "passed"
        if case.find("skipped") is not None:
            outcome = "skipped"
        if case.find("failure") is not None or case.find("error") is not None:
            outcome = "failed"
        yield name, outcome, float(case.get("time", 0))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("pytest_args", nargs="*", help="after --: passed on to pytest")
    args = parser.parse_args()

    counts: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    slowest: dict[str, float] = defaultdict(float)
    missing_reports = 0
    started = time.monotonic()
    with tempfile.TemporaryDirectory() as folder, one_core_busy() as hog:
        for number in range(1, args.runs + 1):
            report = Path(folder) / f"run-{number}.xml"
            code = run_once(args.pytest_args, report)
            print(f"run {number}/{args.runs}: pytest exited {code}", flush=True)
            if not report.is_file():
                missing_reports += 1
                continue
            for name, outcome, seconds in outcomes(report):
                counts[name][outcome] += 1
                slowest[name] = max(slowest[name], seconds)
    minutes = (time.monotonic() - started) / 60

    width = max(map(len, counts), default=4)
    print(f"\n{args.runs} runs of `pytest -m timing` with {hog}, {minutes:.1f} min in all")
    print(f"{'test'.ljust(width)} | passed | failed | skipped | slowest (s)")
    for name in sorted(counts):
        row = counts[name]
        cells = f"{row['passed']:>6} | {row['failed']:>6} | {row['skipped']:>7}"
        print(f"{name.ljust(width)} | {cells} | {slowest[name]:>11.1f}")
    failures = sum(row["failed"] for row in counts.values())
    print(f"{failures} failed test runs, {missing_reports} runs without a report")
    return 1 if failures or missing_reports else 0


if __name__ == "__main__":
    sys.exit(main())
