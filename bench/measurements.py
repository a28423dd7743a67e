"""How each figure is taken. Metric names are defined here, once; report.py prints them.

Every container runs on the host network (the bridge is off limits on our machines) and is
removed however the measurement ends."""

import shutil
import statistics
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from datetime import UTC, datetime
from pathlib import Path

from subjects import Subject, add_dependency, export_requirements

from containers import free_port, image_size_mb
from docker_cli import DOCKER, docker
from helpers import project_env, render, uv

COLD_BUILD = "cold build (s)"
CODE_REBUILD = "code-only rebuild (s)"
DEPENDENCY_REBUILD = "dependency-change rebuild (s)"
IMAGE_SIZE = "image size (MB)"
READY_WITH_MODEL = "serve ready, model present (s)"
READY_WITHOUT_MODEL = "serve ready, no model (s)"
TRAIN = "train (s)"
STOP_SERVE = "stop serve (s)"
STOP_TRAIN = "stop train (s)"
NON_ROOT = "works as uid 42420"
METRICS = [
    COLD_BUILD,
    CODE_REBUILD,
    DEPENDENCY_REBUILD,
    IMAGE_SIZE,
    READY_WITH_MODEL,
    READY_WITHOUT_MODEL,
    TRAIN,
    STOP_SERVE,
    STOP_TRAIN,
    NON_ROOT,
]
# Where the serve-ready time (model present) goes, in order; they add up to READY_WITH_MODEL.
CONTAINER_START = "container start (s)"
INTERPRETER_START = "interpreter start (s)"
APP_START = "imports until serving (s)"
MODEL_LOAD = "model load (s)"
FIRST_ANSWER = "first ready answer (s)"
BREAKDOWN = [CONTAINER_START, INTERPRETER_START, APP_START, MODEL_LOAD, FIRST_ANSWER]
# Our images only: the floor an image can reach (its base plus what it adds to run).
BASE_SIZE = "base image (MB)"
VENV_SIZE = "venv and Python (MB)"

# One small package per run, so no dependency-change rebuild hits an earlier run's cache.
ADDED_PACKAGES = ["six", "idna", "packaging", "tomli", "wcwidth"]
LONG_TRAIN = ("-e", "TRAIN_SAMPLES=3000000")  # a train that outlasts `docker stop`
MODEL_DIR = "/bench-outputs"  # OUTPUT_DIR in the container: the model, bind-mounted
LOG_TIME = "%Y-%m-%d %H:%M:%S,%f"  # the app's asctime (its log lines are in UTC)


def timed(command: list[str], cwd: Path, env: dict | None = None) -> float:
    started = time.perf_counter()
    subprocess.run(command, cwd=cwd, env=env, check=True, capture_output=True)
    return time.perf_counter() - started


def build(subject: Subject, context: Path, *extra: str) -> float:
    started = time.perf_counter()
    docker("build", "--network", "host", "-t", subject.tag, *extra, ".", cwd=context)
    return time.perf_counter() - started


def builds(subject: Subject, project: Path, run: int) -> dict[str, float]:
    """Cold build (no layer cache; cache mounts start empty), then a code-only change, then one
    more dependency."""
    module = next((project / "src").glob("*/training.py"))
    figures = {COLD_BUILD: build(subject, project, "--no-cache")}
    module.write_text(module.read_text() + f"\n# code-only change {run}\n")
    figures[CODE_REBUILD] = build(subject, project)
    # A line no earlier build saw: a lock that an earlier benchmark built would be a cache hit.
    pyproject = project / "pyproject.toml"
    pyproject.write_text(pyproject.read_text() + f"# benchmark build {time.time_ns()}\n")
    add_dependency(project, ADDED_PACKAGES[run % len(ADDED_PACKAGES)])
    figures[DEPENDENCY_REBUILD] = build(subject, project)
    return figures


def output_dir(workdir: Path) -> Path:
    """A host folder every uid may write, bind-mounted as the container's OUTPUT_DIR."""
    folder = Path(tempfile.mkdtemp(dir=workdir))
    folder.chmod(0o777)
    return folder


def mounted(folder: Path) -> list[str]:
    return ["-v", f"{folder}:{MODEL_DIR}", "-e", f"OUTPUT_DIR={MODEL_DIR}"]


def train_seconds(subject: Subject, outputs: Path) -> float:
    """`docker run IMAGE train` to its end, writing the model into `outputs`."""
    started = time.perf_counter()
    docker("run", "--rm", "--network", "host", *mounted(outputs), *subject.run_args("train"))
    return time.perf_counter() - started


def ready_when(url: str, seconds: float = 180) -> float:
    """Polls url every 10 ms until it answers 200; the wall-clock time it did."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=5) as reply:
                if reply.status == 200:
                    return time.time()
        except (urllib.error.URLError, ConnectionError):
            pass
        time.sleep(0.01)
    raise TimeoutError(f"{url} did not answer 200 within {seconds} s")


def serve_ready(subject: Subject, outputs: Path) -> dict[str, float]:
    """`docker run IMAGE serve` until /ready answers 200, with OUTPUT_DIR mounted from `outputs`
    (a model in it, or none: serve then trains one first). Also the log times of the app's
    "Serving on" and "Model loaded" lines, relative to the start."""
    port = free_port()
    name = f"bench-ready-{port}"
    options = ["-e", f"PORT={port}", *mounted(outputs)]
    started = time.time()
    docker("run", "-d", "--name", name, "--network", "host", *options, *subject.run_args("serve"))
    try:
        ready = ready_when(f"http://127.0.0.1:{port}/ready") - started
        logs = docker("logs", name).stderr
    finally:
        docker("rm", "-f", name, check=False)
    marks = {"ready": ready}
    for line in logs.splitlines():
        for mark, text in (("serving", " Serving on "), ("loaded", " Model loaded: ")):
            if text in line and mark not in marks:
                stamp = datetime.strptime(line[:23], LOG_TIME).replace(tzinfo=UTC)
                marks[mark] = stamp.timestamp() - started
    return marks


def probe_seconds(subject: Subject, entrypoint: str, *command: str) -> float:
    """`docker run --rm --entrypoint ENTRYPOINT IMAGE COMMAND...` to its end."""
    started = time.perf_counter()
    docker("run", "--rm", "--network", "none", "--entrypoint", entrypoint, subject.tag, *command)
    return time.perf_counter() - started


def breakdown(subject: Subject, marks: dict[str, float]) -> dict[str, float]:
    """Splits a serve-ready time (model present): container start (`true`), interpreter start
    (`python -c pass`, less the container), then from the app's log: imports and set-up until
    "Serving on", the model load (the ML imports included) until "Model loaded", and the rest
    until /ready answered."""
    container = statistics.median(probe_seconds(subject, "true") for _ in range(3))
    interpreter = statistics.median(
        probe_seconds(subject, "python", "-c", "pass") for _ in range(3)
    )
    serving, loaded = marks.get("serving"), marks.get("loaded")
    if serving is None or loaded is None:
        return {CONTAINER_START: container, INTERPRETER_START: interpreter - container}
    return {
        CONTAINER_START: container,
        INTERPRETER_START: interpreter - container,
        APP_START: serving - interpreter,
        MODEL_LOAD: loaded - serving,
        FIRST_ANSWER: marks["ready"] - loaded,
    }


def stop_seconds(subject: Subject, command: str, workdir: Path) -> float:
    """`docker stop` on a running `serve` (once it answers) or a long `train`."""
    port = free_port()
    name = f"bench-stop-{port}"
    options = ["-e", f"PORT={port}", *mounted(output_dir(workdir))]
    if command == "train":
        options += LONG_TRAIN
    docker("run", "-d", "--name", name, "--network", "host", *options, *subject.run_args(command))
    try:
        if command == "serve":
            ready_when(f"http://127.0.0.1:{port}/ready")
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


SIZE_PROBE = """
import os, sys
total = 0
for root in sys.argv[1:]:
    for folder, _, files in os.walk(root):
        total += sum(os.lstat(os.path.join(folder, name)).st_size for name in files)
print(total)
"""


def floor_sizes(subject: Subject, project: Path) -> dict[str, float]:
    """Our images: the runtime base's size and the venv's (plus uv's Python on CUDA)."""
    dockerfile = (project / "Dockerfile").read_text()
    base = [line.split()[1] for line in dockerfile.splitlines() if line.startswith("FROM ")][-1]
    app_dir = "/workspace" if subject.flavor == "relocated-home" else "/app"
    output = subprocess.run(
        [DOCKER, "run", "--rm", "--network", "none", "--entrypoint", "python", subject.tag]
        + ["-c", SIZE_PROBE, f"{app_dir}/.venv", "/opt/python"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    return {BASE_SIZE: image_size_mb(base), VENV_SIZE: int(output) / 1e6}


def measure(subject: Subject, project: Path, runs: int, workdir: Path, step) -> dict:
    """Every figure of one subject: medians of `runs` runs, then size and the uid check."""
    samples: dict[str, list[float]] = {}

    def sample(name: str, value: float) -> None:
        samples.setdefault(name, []).append(value)

    for run in range(runs):
        label = f"{subject.name} · run {run + 1}/{runs}"
        for name, value in builds(subject, project, run).items():
            sample(name, value)
        step(f"{label} · builds")
        model = output_dir(workdir)
        sample(TRAIN, train_seconds(subject, model))
        step(f"{label} · train")
        marks = serve_ready(subject, model)
        sample(READY_WITH_MODEL, marks["ready"])
        for name, value in breakdown(subject, marks).items():
            sample(name, value)
        sample(READY_WITHOUT_MODEL, serve_ready(subject, output_dir(workdir))["ready"])
        step(f"{label} · serve ready")
        sample(STOP_SERVE, stop_seconds(subject, "serve", workdir))
        sample(STOP_TRAIN, stop_seconds(subject, "train", workdir))
        step(f"{label} · docker stop")
    results: dict[str, object] = {k: statistics.median(v) for k, v in samples.items()}
    results[IMAGE_SIZE] = image_size_mb(subject.tag)
    if subject.ours:
        results.update(floor_sizes(subject, project))
    results[NON_ROOT] = works_as_42420(subject)
    step(f"{subject.name} · size and uid 42420")
    return results


# Dependency installation alone, outside Docker: uv, pip and Poetry on the same set.
POETRY_FAILURE: list[str] = []


def measure_installers(runs: int, workdir: Path, step) -> dict[str, dict[str, float]]:
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
            step(f"installers · run {run + 1}/{runs} · {name}")
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
