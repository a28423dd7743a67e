"""Benchmark our images against the blog post's Dockerfiles and a pip baseline.

    uv run bench/run.py [--runs 3] [--only NAME ...]

Renders each flavor with the default dependency set (scikit-learn), builds ours and the baselines
in bench/baselines/ side by side, and takes the median of --runs runs of each measurement. Prints
the tables and writes docs/benchmark.md and docs/benchmark.png. Needs a Docker engine and the
base images (scripts/make-standin-images builds stand-ins offline). Takes several minutes.
"""

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tests"))

from containers import free_port, image_size_mb  # noqa: E402
from docker_cli import DOCKER, docker, ensure_base_images  # noqa: E402
from helpers import project_env, render, uv, wait_for  # noqa: E402

BASELINES = REPO / "bench" / "baselines"
DOCS = REPO / "docs"
# One small package per run, so no dependency-change rebuild hits an earlier run's cache.
ADDED_PACKAGES = ["six", "idna", "packaging", "tomli", "wcwidth"]
LONG_TRAIN = ("-e", "TRAIN_SAMPLES=3000000")  # a train that outlasts `docker stop`
RESULTS = REPO / "build" / "bench-results.json"  # kept between runs: --reuse skips done subjects
POETRY_FAILURE: list[str] = []


@dataclass
class Subject:
    name: str
    slug: str
    flavor: str
    dockerfile: str | None = None  # a baseline in bench/baselines/, else the generated one
    results: dict[str, object] = field(default_factory=dict)

    @property
    def ours(self) -> bool:
        return self.dockerfile is None

    @property
    def tag(self) -> str:
        return f"bench/{self.slug}"

    def run_args(self, command: str) -> list[str]:
        """`docker run` options and arguments that run `command` (train, serve, info)."""
        if self.ours:
            return [self.tag, command]
        return ["-e", f"COMMAND={command}", self.tag]  # the baselines' shell-form CMD


SUBJECTS = [
    Subject("uv (ours)", "uv", "uv"),
    Subject("cuda (ours)", "cuda", "cuda"),
    Subject("relocated-home (ours)", "relocated-home", "relocated-home"),
    Subject("blog: uv", "blog-uv", "uv", "blog-uv.Dockerfile"),
    Subject("blog: cuda", "blog-cuda", "cuda", "blog-cuda.Dockerfile"),
    Subject(
        "blog: relocated HOME",
        "blog-relocated-home",
        "relocated-home",
        "blog-relocated-home.Dockerfile",
    ),
    Subject("pip (docker init)", "pip", "uv", "pip.Dockerfile"),
]


class Progress:
    def __init__(self, total: int):
        self.total, self.done, self.started = total, 0, time.monotonic()

    def step(self, what: str) -> None:
        self.done += 1
        elapsed = time.monotonic() - self.started
        print(f"[{self.done:>3}/{self.total} {elapsed:5.0f}s] {what}", file=sys.stderr, flush=True)


def timed(command: list[str], cwd: Path, env: dict | None = None) -> float:
    started = time.perf_counter()
    subprocess.run(command, cwd=cwd, env=env, check=True, capture_output=True)
    return time.perf_counter() - started


def build(subject: Subject, context: Path, *extra: str) -> float:
    started = time.perf_counter()
    dockerfile = [] if subject.ours else ["-f", f"Dockerfile.{subject.slug}"]
    docker("build", "--network", "host", *dockerfile, "-t", subject.tag, *extra, ".", cwd=context)
    return time.perf_counter() - started


def prepare(subject: Subject, workdir: Path) -> Path:
    project = render(workdir / subject.slug, image_flavor=subject.flavor)
    if subject.dockerfile:
        shutil.copy(BASELINES / subject.dockerfile, project / f"Dockerfile.{subject.slug}")
    export_requirements(project)
    return project


def export_requirements(project: Path) -> None:
    requirements = subprocess.run(
        [uv(), "export", "--quiet", "--locked", "--no-dev", "--no-hashes", "--no-emit-project"],
        cwd=project,
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    (project / "requirements.txt").write_text(requirements)


def first_output_seconds(subject: Subject) -> float:
    """`docker run IMAGE info` until the program's first line (stdout; uv's own messages on
    stderr, such as the blog images' sync at start-up, do not count)."""
    started = time.perf_counter()
    process = subprocess.Popen(
        [DOCKER, "run", "--rm", "--network", "host", *subject.run_args("info")],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
    )
    assert process.stdout is not None
    process.stdout.readline()
    seconds = time.perf_counter() - started
    process.wait(timeout=120)
    return seconds


def stop_seconds(subject: Subject, command: str) -> float:
    """`docker stop` on a running `serve` (once it answers) or long `train`."""
    port = free_port()
    options = ["-e", f"PORT={port}", *(LONG_TRAIN if command == "train" else ())]
    name = f"bench-stop-{port}"
    docker("run", "-d", "--name", name, "--network", "host", *options, *subject.run_args(command))
    try:
        if command == "serve":
            wait_for(f"http://127.0.0.1:{port}/ready", seconds=120)
        else:
            time.sleep(3)
        started = time.perf_counter()
        docker("stop", name)
        return time.perf_counter() - started
    finally:
        docker("rm", "-f", name, check=False)


def works_as_42420(subject: Subject) -> bool:
    result = docker(
        "run",
        "--rm",
        "--network",
        "host",
        "--user",
        "42420:42420",
        *subject.run_args("train"),
        check=False,
        timeout=300,
    )
    return result.returncode == 0


def add_dependency(project: Path, package: str) -> None:
    subprocess.run([uv(), "add", "--quiet", package], cwd=project, check=True, env=project_env())
    export_requirements(project)


def measure_images(subjects: list[Subject], runs: int, workdir: Path, reuse: bool) -> None:
    saved = json.loads(RESULTS.read_text()) if reuse and RESULTS.exists() else {}
    todo = [s for s in subjects if s.name not in saved]  # keys with "_" hold other results
    for subject in subjects:
        subject.results = saved.get(subject.name, {})
    progress = Progress(len(todo) * (runs * 6 + 2))
    for subject in todo:
        # Layers or cache mounts left by earlier runs would turn rebuilds into cache hits.
        docker("builder", "prune", "--all", "--force")
        project = prepare(subject, workdir)
        module = next((project / "src").glob("*/training.py"))
        samples: dict[str, list[float]] = {}
        for run in range(runs):
            label = f"{subject.name} · run {run + 1}/{runs}"
            samples.setdefault("cold build (s)", []).append(build(subject, project, "--no-cache"))
            progress.step(f"{label} · cold build")
            module.write_text(module.read_text() + f"\n# code-only change {run}\n")
            samples.setdefault("code-only rebuild (s)", []).append(build(subject, project))
            progress.step(f"{label} · code-only rebuild")
            add_dependency(project, ADDED_PACKAGES[run % len(ADDED_PACKAGES)])
            samples.setdefault("dependency-change rebuild (s)", []).append(build(subject, project))
            progress.step(f"{label} · dependency-change rebuild")
            samples.setdefault("start to first output (s)", []).append(
                first_output_seconds(subject)
            )
            progress.step(f"{label} · start to first output")
            samples.setdefault("stop serve (s)", []).append(stop_seconds(subject, "serve"))
            progress.step(f"{label} · docker stop on serve")
            samples.setdefault("stop train (s)", []).append(stop_seconds(subject, "train"))
            progress.step(f"{label} · docker stop on train")
        subject.results = {key: statistics.median(values) for key, values in samples.items()}
        subject.results["image size (MB)"] = image_size_mb(subject.tag)
        progress.step(f"{subject.name} · image size")
        subject.results["works as uid 42420"] = works_as_42420(subject)
        progress.step(f"{subject.name} · as uid 42420")
        saved[subject.name] = subject.results
        RESULTS.parent.mkdir(exist_ok=True)
        RESULTS.write_text(json.dumps(saved, indent=2))


def measure_installers(runs: int, workdir: Path) -> dict[str, dict[str, float]]:
    """Dependency installation alone, for the scikit-learn set: cold and warm caches."""
    project = render(workdir / "installers", image_flavor="uv")
    export_requirements(project)
    python = subprocess.run(
        [uv(), "python", "find", "--system", "3.13"], check=True, capture_output=True, text=True
    ).stdout.strip()
    poetry = [uv(), "tool", "run", "--python", python, "--from", "poetry>=2,<3", "poetry"]
    env = {**project_env(), "POETRY_VIRTUALENVS_IN_PROJECT": "true"}
    # Poetry reads the main dependencies only; its lock would resolve the dev group too.
    pyproject = project / "pyproject.toml"
    text = pyproject.read_text()
    pyproject.write_text(
        text[: text.index("[dependency-groups]")] + text[text.index("[build-system]") :]
    )
    subprocess.run([uv(), "lock", "--quiet"], cwd=project, check=True, env=project_env())
    locked = subprocess.run([*poetry, "lock"], cwd=project, capture_output=True, text=True, env=env)
    if locked.returncode != 0:
        POETRY_FAILURE.append((locked.stderr or locked.stdout).strip().splitlines()[-1])
    results: dict[str, dict[str, list[float]]] = {}
    progress = Progress(runs * 3)
    for run in range(runs):
        caches = Path(tempfile.mkdtemp(dir=workdir))
        installers = {
            "uv sync --locked": lambda c=caches: timed(
                [uv(), "sync", "--locked", "--no-dev", "--no-install-project"],
                project,
                {**project_env(), "UV_CACHE_DIR": str(c / "uv")},
            ),
            "pip install -r": lambda c=caches: pip_install(
                project, python, {**project_env(), "PIP_CACHE_DIR": str(c / "pip")}
            ),
            "poetry install": lambda c=caches: timed(
                [*poetry, "install", "--no-root", "--only", "main"],
                project,
                {**env, "POETRY_CACHE_DIR": str(c / "poetry")},
            ),
        }
        if POETRY_FAILURE:
            installers.pop("poetry install")
        for name, install in installers.items():
            row = results.setdefault(name, {})
            for cache in ("cold", "warm"):  # the first install fills this run's fresh cache
                shutil.rmtree(project / ".venv", ignore_errors=True)
                row.setdefault(f"{cache} cache (s)", []).append(install())
            progress.step(f"installers · run {run + 1}/{runs} · {name}")
    return {
        name: {k: statistics.median(v) for k, v in row.items()} for name, row in results.items()
    }


def pip_install(project: Path, python: str, env: dict) -> float:
    venv = project / ".venv"
    started = time.perf_counter()
    subprocess.run([python, "-m", "venv", str(venv)], check=True, capture_output=True)
    subprocess.run(
        [str(venv / "bin" / "pip"), "install", "--quiet", "-r", "requirements.txt"],
        cwd=project,
        check=True,
        capture_output=True,
        env=env,
    )
    return time.perf_counter() - started


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


METRICS = [
    "cold build (s)",
    "code-only rebuild (s)",
    "dependency-change rebuild (s)",
    "image size (MB)",
    "start to first output (s)",
    "stop serve (s)",
    "stop train (s)",
    "works as uid 42420",
]
BASELINE_OF = {
    "uv (ours)": "blog: uv",
    "cuda (ours)": "blog: cuda",
    "relocated-home (ours)": "blog: relocated HOME",
}


def fmt(value: object) -> str:
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:.0f}" if value >= 100 else f"{value:.2f}"
    return str(value)


def tables(subjects: list[Subject], installers: dict[str, dict[str, float]]) -> str:
    lines = ["| image | " + " | ".join(METRICS) + " |", "|---" * (len(METRICS) + 1) + "|"]
    for s in subjects:
        lines.append(
            f"| {s.name} | " + " | ".join(fmt(s.results.get(m, "-")) for m in METRICS) + " |"
        )
    by_name = {s.name: s for s in subjects}
    pip = by_name.get("pip (docker init)")
    lines += ["", "Ratios, ours / baseline (lower is better):", ""]
    lines += [
        "| ours | vs | cold build | code-only | dependency change | size | first output"
        " | stop serve |",
        "|---" * 8 + "|",
    ]
    for ours, blog in BASELINE_OF.items():
        for other in (by_name.get(blog), pip):
            if ours in by_name and other is not None:
                a, b = by_name[ours].results, other.results
                keys = [
                    *METRICS[:3],
                    "image size (MB)",
                    "start to first output (s)",
                    "stop serve (s)",
                ]
                cells = [f"{a[k] / b[k]:.2f}" for k in keys]
                lines.append(f"| {ours} | {other.name} | " + " | ".join(cells) + " |")
    if installers:
        lines += ["", "Dependency installation alone (scikit-learn set, median):", ""]
        lines += ["| installer | cold cache (s) | warm cache (s) |", "|---|---|---|"]
        for tool, row in installers.items():
            lines.append(f"| {tool} | {row['cold cache (s)']:.2f} | {row['warm cache (s)']:.2f} |")
        if POETRY_FAILURE:
            reason = f"not measurable here: `poetry lock` said {POETRY_FAILURE[0]!r}"
            lines.append(f"| poetry install | {reason} | |")
    return "\n".join(lines)


READING = """Reading the results: our images compile the dependencies' bytecode at build time
(about 60 MB and a few seconds per dependency change) so that no start pays for it, and the `uv`
and `relocated-home` flavors run on Astral's uv image, which carries the uv binary (about 42 MB);
the blog's uv image compiles nothing at build, and the pip baseline's base has no uv. `info`
imports no ML library, so start-up figures sit near the container's own start time. The blog's
images stop in 10 s because their shell-form CMD never passes SIGTERM on, and they cannot run as
uid 42420 because `uv run` syncs into a root-owned venv at start. Poetry cannot resolve on a
machine whose package proxy serves only PyPI's simple index."""


# The goals from the issue that asked for this benchmark: (what, ours / baseline, at most).
GOALS = [
    ("start to first output", "start to first output (s)", "blog", 0.4),
    ("dependency-change rebuild", "dependency-change rebuild (s)", "pip", 0.75),
    ("image size", "image size (MB)", "pip", 0.8),
]


def goals(subjects: list[Subject]) -> str:
    by_name = {s.name: s for s in subjects}
    pip = by_name.get("pip (docker init)")
    lines = ["| goal | " + " | ".join(BASELINE_OF) + " |", "|---" * (len(BASELINE_OF) + 1) + "|"]

    def row(label: str, check) -> None:
        cells = []
        for ours, blog in BASELINE_OF.items():
            if ours not in by_name:
                cells.append("-")
                continue
            value, ok = check(by_name[ours].results, by_name.get(blog), ours)
            cells.append(f"{value} {'met' if ok else 'MISSED'}")
        lines.append(f"| {label} | " + " | ".join(cells) + " |")

    def ratio(metric: str, base: str, limit: float):
        def check(results, blog, ours):
            other = blog if base == "blog" else pip
            if other is None:
                return "no baseline", False
            value = results[metric] / other.results[metric]
            return f"{value:.2f}×", value <= limit

        return check

    for label, metric, base, limit in GOALS:
        name = "the blog's" if base == "blog" else "pip's"
        row(f"{label} ≤ {limit}× {name}", ratio(metric, base, limit))
    size_limit = {"uv (ours)": 1.05, "cuda (ours)": 0.6, "relocated-home (ours)": 0.6}

    def size_vs_blog(results, blog, ours):
        value = results["image size (MB)"] / blog.results["image size (MB)"]
        return f"{value:.2f}× (≤ {size_limit[ours]}×)", value <= size_limit[ours]

    row("image size vs the blog's", size_vs_blog)
    row(
        "code-only rebuild ≤ 0.5 s",
        lambda r, b, o: (f"{r['code-only rebuild (s)']:.2f} s", r["code-only rebuild (s)"] <= 0.5),
    )
    row(
        "docker stop ≤ 1 s (serve, train)",
        lambda r, b, o: (
            f"{r['stop serve (s)']:.2f} s, {r['stop train (s)']:.2f} s",
            max(r["stop serve (s)"], r["stop train (s)"]) <= 1,
        ),
    )
    row(
        "works as a non-root uid (42420)",
        lambda r, b, o: ("yes" if r["works as uid 42420"] else "no", r["works as uid 42420"]),
    )
    return "\n".join(lines)


def chart(subjects: list[Subject], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    numeric = METRICS[:7]
    figure, axes = plt.subplots(2, 4, figsize=(18, 8))
    for axis, metric in zip(axes.flat, numeric, strict=False):
        names = [s.name for s in subjects]
        values = [float(s.results.get(metric, 0)) for s in subjects]
        colors = ["tab:blue" if s.ours else "tab:gray" for s in subjects]
        axis.barh(names, values, color=colors)
        axis.set_title(metric)
        axis.invert_yaxis()
        axis.tick_params(axis="y", labelsize=8)
    axes.flat[-1].axis("off")
    figure.suptitle("copier-uv-mlops images (blue) vs baselines (gray): lower is better")
    figure.tight_layout()
    figure.savefig(path, dpi=110)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--only", nargs="*", help="subject names to measure (default: all)")
    parser.add_argument("--skip-installers", action="store_true")
    parser.add_argument(
        "--reuse", action="store_true", help=f"keep the subjects already measured in {RESULTS}"
    )
    args = parser.parse_args()
    subjects = [s for s in SUBJECTS if not args.only or s.name in args.only]
    with tempfile.TemporaryDirectory(prefix="bench-") as tmp:
        workdir = Path(tmp)
        prepare_base_images(workdir)
        measure_images(subjects, args.runs, workdir, args.reuse)
        saved = json.loads(RESULTS.read_text()) if RESULTS.exists() else {}
        if args.skip_installers:
            installers = {}
        elif args.reuse and "_installers" in saved:
            installers = saved["_installers"]
            POETRY_FAILURE.extend(saved.get("_poetry_failure", []))
        else:
            installers = measure_installers(args.runs, workdir)
            saved.update(_installers=installers, _poetry_failure=POETRY_FAILURE)
            RESULTS.write_text(json.dumps(saved, indent=2))
    report = tables(subjects, installers) + "\n\nAgainst the goals:\n\n" + goals(subjects)
    print(report)
    DOCS.mkdir(exist_ok=True)
    (DOCS / "benchmark.md").write_text(
        "# Benchmark\n\n"
        f"`uv run bench/run.py --runs {args.runs}`, medians of {args.runs} runs, on {machine()}.\n"
        "Baselines and their adaptations: `bench/baselines/`. Base images: local stand-ins\n"
        "where no registry answers (see README, Testing offline).\n\n"
        "![chart](benchmark.png)\n\n" + report + "\n\n" + READING + "\n"
    )
    chart(subjects, DOCS / "benchmark.png")
    return 0


def prepare_base_images(workdir: Path) -> None:
    project = render(workdir / "probe", lock=False, image_flavor="cuda")
    uv_project = render(workdir / "probe-uv", lock=False, image_flavor="uv")
    ensure_base_images(
        project / "Dockerfile", uv_project / "Dockerfile", *BASELINES.glob("*.Dockerfile")
    )


if __name__ == "__main__":
    raise SystemExit(main())
