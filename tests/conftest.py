import os
import shutil
from pathlib import Path

import pytest

from helpers import render


def pytest_addoption(parser):
    parser.addoption(
        "--run-heavy", action="store_true", help="also run tests that install multi-GB wheels"
    )


def pytest_collection_modifyitems(config, items):
    if config.getoption("--run-heavy"):
        return
    skip = pytest.mark.skip(reason="installs multi-GB PyTorch wheels; run with --run-heavy")
    for item in items:
        if "heavy" in item.keywords:
            item.add_marker(skip)


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
