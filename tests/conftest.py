import os
import shutil
from pathlib import Path

import pytest

from docker_cli import build, engine_answers, ensure_base_images, image_size_mb
from helpers import FLAVORS, render


def pytest_addoption(parser):
    parser.addoption(
        "--run-heavy", action="store_true", help="also run tests that install multi-GB wheels"
    )


def pytest_collection_modifyitems(config, items):
    # Heavy tests (multi-GB PyTorch wheels, PyTorch's own index) are deselected, not skipped,
    # unless asked for: the default run has nothing skipped.
    if config.getoption("--run-heavy"):
        return
    heavy = [item for item in items if "heavy" in item.keywords]
    if heavy:
        config.hook.pytest_deselected(items=heavy)
        items[:] = [item for item in items if "heavy" not in item.keywords]


class Renders:
    """Each variant is rendered (and locked) once per session; tests copy it when they change it."""

    def __init__(self, root: Path):
        self.root = root
        self.cache: dict[tuple, Path] = {}

    def get(self, **answers: str) -> Path:
        key = tuple(sorted(answers.items()))
        if key not in self.cache:
            name = "-".join(f"{v}" for _, v in key) or "defaults"
            self.cache[key] = render(self.root / name.replace("/", "_"), **answers)
        return self.cache[key]

    def copy(self, destination: Path, **answers: str) -> Path:
        shutil.copytree(self.get(**answers), destination, ignore=shutil.ignore_patterns(".venv"))
        return destination


@pytest.fixture(scope="session")
def renders(tmp_path_factory) -> Renders:
    return Renders(tmp_path_factory.mktemp("renders"))


def in_ci() -> bool:
    return os.environ.get("CI", "").lower() in {"1", "true", "yes"}


_TIMINGS: dict[str, dict[str, float]] = {}


@pytest.fixture(scope="session")
def timings() -> dict[str, dict[str, float]]:
    """Figures the Docker tier measures; printed as a table at the end of the run."""
    from collections import defaultdict

    table = defaultdict(dict)
    _TIMINGS.clear()
    yield table
    _TIMINGS.update(table)


def pytest_terminal_summary(terminalreporter):
    if not _TIMINGS:
        return
    columns = sorted({column for row in _TIMINGS.values() for column in row})
    terminalreporter.section("Docker images (measured in this run)")
    terminalreporter.write_line(" | ".join(["flavor".ljust(15), *columns]))
    for flavor, row in _TIMINGS.items():
        cells = [str(row.get(column, "-")).rjust(len(column)) for column in columns]
        terminalreporter.write_line(" | ".join([flavor.ljust(15), *cells]))


# The Docker tier's shared fixtures: every docker-marked module uses the same images.
@pytest.fixture(scope="session")
def engine():
    if not engine_answers():
        reason = "no Docker engine answers `docker info`"
        if in_ci():
            pytest.fail(f"{reason}, and CI=true: .ci/run must install and start dockerd")
        pytest.skip(f"{reason}; this tier runs in CI, where .ci/run starts one")


@pytest.fixture(scope="session")
def projects(renders, engine):
    """One rendered, locked project per flavor, with its base images present (real or stand-in)."""
    rendered = {flavor: renders.get(image_flavor=flavor) for flavor in FLAVORS}
    ensure_base_images(*(project / "Dockerfile" for project in rendered.values()))
    return rendered


@pytest.fixture(scope="session")
def images(projects, timings):
    """Each flavor built cold: no layer cache, and a fresh (empty) uv cache mount."""
    built = {}
    for flavor, project in projects.items():
        result = build(project, f"copier-uv-mlops-test/{flavor}", "--no-cache")
        timings[flavor]["cold build (s)"] = round(result.seconds, 1)
        timings[flavor]["image size (MB)"] = round(image_size_mb(result.tag))
        built[flavor] = result.tag
    return built
