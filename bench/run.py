"""Benchmark our images against the blog post's Dockerfiles, Astral's multi-stage example, pip,
and our own images before issue 13.

    uv run bench/run.py [--runs 3] [--only NAME ...] [--reuse] [--skip-installers]

Renders each flavor with the default dependency set (scikit-learn, MLflow), builds ours and the
baselines side by side, and takes the median of --runs runs of each measurement. Prints the
tables and writes docs/benchmark.md and docs/benchmark.png. Needs a Docker engine and the base
images (scripts/make-standin-images builds stand-ins offline). Takes a quarter of an hour or more.

The parts: subjects.py (what is compared), measurements.py (how each figure is taken),
report.py (tables, targets, chart). This file only runs them in order.
"""

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

import measurements
import report
import subjects

from docker_cli import docker, ensure_base_images

DOCS = subjects.REPO / "docs"
RESULTS = subjects.REPO / "build" / "bench-results.json"  # kept: --reuse skips measured subjects
# Published sizes of NVIDIA's base and runtime images and of PyTorch's CUDA wheels (not measured:
# the stand-ins hide them), appended to every report.
CUDA_SIZES = Path(__file__).resolve().parent.parent / "docs" / "cuda-base-sizes.md"
READING = """Reading the results: "serve ready" is the time from `docker run` until `GET /ready`
answers 200, with a trained model bind-mounted as OUTPUT_DIR, or with none (serve then trains a
first model). Our images compile the dependencies' bytecode at build time so that no start pays
for it, and since issue 13 they run without uv: a builder stage makes the venv in a cache mount
kept between builds (a dependency change installs and compiles only what changed) and the image
that runs gets a copy of it, on the Python slim image Astral's uv image is built on or on the same
CUDA runtime. The blog's images compile nothing at build and `uv run` checks the environment at
every start; they stop in 10 s because their shell-form CMD never passes SIGTERM on, and cannot
run as uid 42420 because `uv run` syncs into a root-owned venv. The machine is shared: other
jobs compete for its 2 cores, so single figures are noisy; compare ratios within one run.
Poetry cannot resolve on a machine whose package proxy serves only PyPI's simple index."""


class Progress:
    def __init__(self, total: int):
        self.total, self.done, self.started = total, 0, time.monotonic()

    def step(self, what: str) -> None:
        self.done += 1
        elapsed = time.monotonic() - self.started
        print(f"[{self.done:>3}/{self.total} {elapsed:5.0f}s] {what}", file=sys.stderr, flush=True)


def measure_images(chosen: list[subjects.Subject], runs: int, workdir: Path, reuse: bool) -> dict:
    saved = json.loads(RESULTS.read_text()) if reuse and RESULTS.exists() else {}
    todo = [s for s in chosen if s.name not in saved]  # keys with "_" hold other results
    for subject in chosen:
        subject.results = saved.get(subject.name, {})
    progress = Progress(len(todo) * (runs * 4 + 1))
    for subject in todo:
        project = subjects.prepare(subject, workdir)
        subject.results = measurements.measure(subject, project, runs, workdir, progress.step)
        saved[subject.name] = subject.results
        RESULTS.parent.mkdir(exist_ok=True)
        RESULTS.write_text(json.dumps(saved, indent=2))
    return saved


def installers(args, workdir: Path, saved: dict) -> dict:
    if args.skip_installers:
        return {}
    if args.reuse and "_installers" in saved:
        measurements.POETRY_FAILURE.extend(saved.get("_poetry_failure", []))
        return saved["_installers"]
    progress = Progress(args.runs * 3)
    found = measurements.measure_installers(args.runs, workdir, progress.step)
    saved.update(_installers=found, _poetry_failure=measurements.POETRY_FAILURE)
    RESULTS.write_text(json.dumps(saved, indent=2))
    return found


def machine() -> str:
    cpu = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        ),
        platform.processor() or "unknown CPU",
    )
    memory = int(Path("/proc/meminfo").read_text().split()[1]) / 1024 / 1024
    engine = docker("version", "--format", "{{.Server.Version}}").stdout.strip()
    return (
        f"{os.cpu_count()} cores ({cpu}), {memory:.0f} GiB, {platform.platform()}, "
        f"Docker engine {engine} with BuildKit, Python {platform.python_version()} on the host"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--only", nargs="*", help="subject names to measure (default: all)")
    parser.add_argument("--skip-installers", action="store_true")
    parser.add_argument(
        "--reuse", action="store_true", help=f"keep the subjects already measured in {RESULTS}"
    )
    args = parser.parse_args()
    chosen = [s for s in subjects.SUBJECTS if not args.only or s.name in args.only]
    with tempfile.TemporaryDirectory(prefix="bench-") as tmp:
        workdir = Path(tmp)
        ensure_base_images(*subjects.base_images(workdir))
        saved = measure_images(chosen, args.runs, workdir, args.reuse)
        found = installers(args, workdir, saved)
    text = report.report(chosen, found)
    print(text)
    runs = f"medians of {args.runs} runs" if args.runs > 1 else "one run (no medians)"
    DOCS.mkdir(exist_ok=True)
    (DOCS / "benchmark.md").write_text(
        "# Benchmark\n\n"
        f"`uv run bench/run.py --runs {args.runs}`, {runs}, on {machine()}.\n"
        "Baselines and their adaptations: `bench/baselines/`. Base images: local stand-ins\n"
        "where no registry answers (see README, Testing offline).\n\n"
        "![chart](benchmark.png)\n\n" + text + "\n\n" + READING + "\n\n" + CUDA_SIZES.read_text()
    )
    report.chart(chosen, DOCS / "benchmark.png")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
