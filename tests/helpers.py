"""Rendering and running generated projects, shared by the test modules and bench/.

Rendering goes through pytest-copie (see conftest.py for why that plugin). Commands in rendered
projects go through `run`: the plugin has no facility for it."""

import functools
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
import tomllib
import urllib.error
import urllib.request
from pathlib import Path
from unittest import mock

import copier
import pytest_copie.plugin
import yaml
from pytest_copie.plugin import Copie

REPO = Path(__file__).resolve().parent.parent
FLAVORS = ["uv", "cuda", "relocated-home"]
# Each flavor on each base image it can be built on; the Docker tier builds and runs every one.
IMAGE_VARIANTS = {
    "uv": {"image_flavor": "uv"},
    "cuda": {"image_flavor": "cuda"},
    "relocated-home": {"image_flavor": "relocated-home", "relocated_home_base": "cuda"},
    "relocated-home-uv": {"image_flavor": "relocated-home", "relocated_home_base": "uv"},
}
FRAMEWORKS = ["scikit-learn", "pytorch", "none"]
CI_SERVICES = ["github", "gitlab", "none"]


def on_cuda(answers: dict[str, str]) -> bool:
    """Whether these answers build the image on NVIDIA's CUDA image (copier.yml's cuda_base).
    relocated-home's base defaults to CUDA only with PyTorch, the framework that uses the GPU."""
    flavor = answers.get("image_flavor", "uv")
    gpu_framework = answers.get("ml_framework", "scikit-learn") == "pytorch"
    default_base = "cuda" if gpu_framework else "uv"
    return flavor == "cuda" or (
        flavor == "relocated-home" and answers.get("relocated_home_base", default_base) == "cuda"
    )


def tool(name: str) -> str:
    """A command of this dev environment (uv, ruff, hadolint...): never a version manager's shim,
    and independent of the Python version that a generated project asks for."""
    found = shutil.which(name, path=str(Path(sys.executable).parent))
    if not found:
        raise AssertionError(f"{name} is not in the dev environment: run `uv sync` first")
    return found


def uv() -> str:
    return tool("uv")


# What copier is told besides pytest-copie's own options (defaults, unsafe, vcs_ref): the template's
# `uv lock` task is left to lock_project (it must see our uv, and PyTorch needs --no-sources
# offline), and copier's messages stay out of the test output.
RENDER_OPTIONS = {"skip_tasks": True, "quiet": True}
# The same options for copier's own API (test_update drives `copier.run_update` with them).
COPIER_OPTIONS = {"defaults": True, "unsafe": True, **RENDER_OPTIONS}


def copy_template(copie: Copie, template: Path = REPO, ref: str = "HEAD", **answers: str) -> Path:
    """A project rendered by pytest-copie from `template` at `ref`, unanswered questions at their
    defaults. "HEAD" renders the working tree, uncommitted changes included (copier adds them
    through git, so ignored paths such as .venv stay out); without it copier would render the
    newest release tag. Raises what copier raised, e.g. a validator's ValueError."""
    # pytest-copie 0.3.1 has no option for tasks or quiet output: they go to the run_copy it calls.
    run_copy = functools.partial(copier.run_copy, **RENDER_OPTIONS)
    with mock.patch.object(pytest_copie.plugin, "run_copy", run_copy):
        result = copie.copy(extra_answers=answers, template_dir=Path(template), vcs_ref=ref)
    if result.exception is not None:
        raise result.exception
    assert result.project_dir is not None
    return result.project_dir


def render(
    destination: Path, lock: bool = True, template: Path = REPO, ref: str = "HEAD", **answers: str
) -> Path:
    """copy_template into `destination` (absent or an empty directory); usable outside pytest."""
    destination = Path(destination)
    destination.parent.mkdir(parents=True, exist_ok=True)
    # pytest-copie renders into numbered folders of its own; this one is next to `destination`,
    # so the finished project moves in with one rename, and nothing is left when copier fails.
    with tempfile.TemporaryDirectory(prefix=".copie-", dir=destination.parent) as workdir:
        copie = Copie(Path(template), Path(workdir), Path(workdir) / "copier-settings.yml")
        copy_template(copie, template, ref, **answers).rename(destination)
    if lock:
        lock_project(destination)
    return destination


def project_env() -> dict[str, str]:
    """This environment without our virtual environment: a generated project uses its own."""
    return {
        k: v for k, v in os.environ.items() if k not in {"VIRTUAL_ENV", "UV_PROJECT_ENVIRONMENT"}
    }


# Set (to anything) by the template's scheduled CI job: projects then lock against today's PyPI,
# without the release's cutoff, so that the job reports what new releases break before a
# release moves the cutoff to them.
TODAYS_PYPI = "COPIER_UV_MLOPS_TODAYS_PYPI"


def derived(name: str) -> str:
    """A derived value of copier.yml (`when: false`), as the templates print it."""
    return yaml.safe_load((REPO / "copier.yml").read_text())[name]["default"]


def release_cutoff() -> str | None:
    """copier.yml's uv_exclude_newer, the moment new projects resolve as of; None under
    TODAYS_PYPI."""
    return None if os.environ.get(TODAYS_PYPI) else derived("uv_exclude_newer")


def lock_project(project: Path, sources: bool = False) -> None:
    """What the template's `uv lock` task does: resolve as of the release's cutoff, then a plain
    `uv lock` that drops the cutoff from uv.lock and keeps every version. PyTorch projects lock
    with `--no-sources`, since PyTorch's own index is out of reach offline: torch then resolves
    from the default index. The generated pyproject keeps PyTorch's index, and tests assert on
    that configuration separately; heavy tests, which reach PyTorch's index, pass `sources`."""
    command = [uv(), "lock", "--quiet"]
    if not sources and "[tool.uv.sources]" in (project / "pyproject.toml").read_text():
        command.append("--no-sources")
    cutoff = release_cutoff()
    if cutoff:
        run([*command, "--exclude-newer", cutoff], cwd=project, env=project_env())
    run(command, cwd=project, env=project_env())


def locked_version(project: Path, package: str) -> str:
    """The version of `package` in the project's uv.lock."""
    lock = tomllib.loads((project / "uv.lock").read_text())
    [version] = [entry["version"] for entry in lock["package"] if entry["name"] == package]
    return version


def run(command: list[str], cwd: Path, timeout: int = 900, check: bool = True, **kwargs):
    result = subprocess.run(
        command, cwd=cwd, capture_output=True, text=True, timeout=timeout, check=False, **kwargs
    )
    if check and result.returncode != 0:
        raise AssertionError(
            f"{' '.join(map(str, command))} exited {result.returncode} in {cwd}\n"
            f"--- stdout\n{result.stdout[-4000:]}\n--- stderr\n{result.stderr[-4000:]}"
        )
    return result


# scripts/new-project, run as a user runs it.
NEW_PROJECT = [sys.executable, str(REPO / "scripts" / "new-project")]


def assert_one_error_line(result: subprocess.CompletedProcess, message: str) -> None:
    """The way scripts/new-project refuses bad input: exit 2, one `error:` line, no traceback."""
    assert result.returncode == 2, result.stdout + result.stderr
    assert result.stderr.startswith("error: "), result.stderr
    assert message in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert "Traceback" not in result.stderr


def readme_copier_command(option: str) -> list[str]:
    """The README's non-interactive `copier copy` line that passes `option`, as a user would
    paste it."""
    readme = (REPO / "README.md").read_text()
    lines = [
        line
        for line in readme.splitlines()
        if re.match(r"uvx .*copier copy .*--defaults", line) and option in line
    ]
    assert len(lines) == 1, lines
    return shlex.split(lines[0].split("#")[0])


def project_files(project: Path) -> set[str]:
    skip = {".venv", ".git", "__pycache__", ".pytest_cache", ".ruff_cache"}
    return {
        str(path.relative_to(project))
        for path in project.rglob("*")
        if path.is_file() and not skip & set(path.relative_to(project).parts)
    }


# What the generated CI runs on the code, and so what our tests run on generated projects.
PROJECT_CHECKS = [
    "uv run --locked ruff check .",
    "uv run --locked ruff format --check .",
    "uv run --locked pytest",
]
# Project names and the package names derived from them: names that would shadow a module the
# project imports get `_project`.
DERIVED_PACKAGE_NAMES = [
    ("Churn Model", "churn_model"),
    ("3D Café-Model v2", "ml_3d_cafe_model_v2"),
    ("Class", "class_project"),
    ("Json", "json_project"),
    ("Test", "test_project"),
    ("Random", "random_project"),
    ("Torch", "torch_project"),
    ("Sklearn", "sklearn_project"),
    ("Numpy", "numpy_project"),
    ("Mlflow", "mlflow_project"),
    ("Fastapi", "fastapi_project"),
]

# What the generated CI runs on the built image.
IMAGE_SMOKE_COMMANDS = ["info", "train"]


def wait_for(url: str, seconds: float = 30, container=None) -> tuple[int, object]:
    """GET url until it answers 200 (or the time is up: then the last answer), for a server
    that is still starting. With a container (the docker SDK's), give up as soon as it has
    exited, and show its logs."""
    deadline = time.monotonic() + seconds
    while True:
        try:
            status, body = http_json(url)
            if status == 200 or time.monotonic() > deadline:
                return status, body
        except (urllib.error.URLError, ConnectionError):
            if time.monotonic() > deadline:
                raise
        if container is not None and not running(container):
            logs = container.logs().decode(errors="replace")
            raise AssertionError(f"the container exited before {url} answered 200:\n{logs}")
        time.sleep(0.1)


def running(container) -> bool:
    container.reload()
    return container.status in {"created", "running"}


def http_json(url: str, payload: object = None, raw: bool = False) -> tuple[int, object]:
    """GET url, or POST payload as JSON: the status and the decoded body (text when raw), for
    error statuses too."""
    data = None if payload is None else json.dumps(payload).encode()
    request = urllib.request.Request(url, data=data, headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=10) as reply:
            status, body = reply.status, reply.read()
    except urllib.error.HTTPError as error:
        status, body = error.code, error.read()
    return status, body.decode() if raw else json.loads(body)


def local_cpu_torch_wheel() -> Path | None:
    """A CPU build of torch for this Python in pip's find-links folder (our machines keep one),
    so the PyTorch code runs without PyTorch's index or GBs of CUDA wheels from PyPI."""
    pip = shutil.which("pip3") or shutil.which("pip")  # our venv has none: the machine's pip
    if pip is None:
        return None
    config = run([pip, "config", "get", "global.find-links"], cwd=Path.cwd(), check=False)
    folders = [Path(folder) for folder in config.stdout.split()] if config.returncode == 0 else []
    tag = f"cp{sys.version_info.major}{sys.version_info.minor}"
    wheels = [wheel for folder in folders for wheel in folder.glob(f"torch-*+cpu-{tag}-*.whl")]
    return max(wheels, default=None)


def cpu_torch_wheel_or_skip() -> Path:
    """local_cpu_torch_wheel, or a skip that says why; in CI, where machines keep one, a failure."""
    import pytest

    from conftest import in_ci

    wheel = local_cpu_torch_wheel()
    if wheel is None:
        message = f"no CPU torch wheel for Python {sys.version_info[:2]} in pip's find-links"
        if in_ci():
            pytest.fail(f"{message}; CI machines keep one")
        pytest.skip(message)
    return wheel


def install_with_cpu_torch(project: Path, wheel: Path) -> None:
    """The project and its dev group in its own .venv on this Python, torch from `wheel`: made
    with `uv pip`, since the lock names PyTorch's index, which is out of reach here."""
    env = project_env()
    run([uv(), "venv", "--quiet", "--python", sys.executable], cwd=project, env=env)
    run([uv(), "pip", "install", "--quiet", str(wheel)], cwd=project, env=env)
    command = [uv(), "pip", "install", "--quiet", "--no-sources", "-e", ".", "--group", "dev"]
    run(command, cwd=project, env=env)


def wait_until_unready_saying(url: str, words: str, seconds: float = 60) -> dict:
    """GET url (a /ready) until it answers 503 with an error containing `words` (a server that
    checks for a model answers "checking" first); that answer."""
    deadline = time.monotonic() + seconds
    while True:
        status, body = http_json(url)
        if status == 503 and words in str(body.get("error", "")):
            return body
        assert time.monotonic() < deadline, (status, body)
        time.sleep(0.1)
