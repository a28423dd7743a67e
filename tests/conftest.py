import os
import shutil
import tempfile
from collections import defaultdict
from pathlib import Path

import pytest
from pytest_copie.plugin import Copie

import containers
import summary
from docker_cli import build, ensure_base_images
from helpers import IMAGE_VARIANTS, copy_template, lock_project


def pytest_addoption(parser):
    parser.addoption(
        "--run-heavy", action="store_true", help="also run tests that install multi-GB wheels"
    )


def pytest_configure(config):
    # Renders must not depend on the developer's own copier settings (`defaults` there would
    # change every answer): every copier the suite runs, in-process or not, reads an empty file.
    # Tests of the settings file set their own.
    config.copier_settings = Path(tempfile.mkdtemp(prefix="copier-settings-"))
    settings = config.copier_settings / "settings.yml"
    settings.write_text("{}\n")
    os.environ["COPIER_SETTINGS_PATH"] = str(settings)


def pytest_unconfigure(config):
    shutil.rmtree(config.copier_settings, ignore_errors=True)


def pytest_collection_modifyitems(config, items):
    # Heavy tests (multi-GB PyTorch wheels, PyTorch's own index) are deselected, not skipped,
    # unless asked for: the default run has nothing skipped.
    # The scheduler below tells the Docker tier by node id alone: check it against the markers.
    misplaced = [item.nodeid for item in items if in_docker_tier(item.nodeid) != is_docker(item)]
    if misplaced:
        raise pytest.UsageError(f"conftest.in_docker_tier is wrong about: {misplaced}")
    if config.getoption("--run-heavy"):
        return
    heavy = [item for item in items if "heavy" in item.keywords]
    if heavy:
        config.hook.pytest_deselected(items=heavy)
        items[:] = [item for item in items if "heavy" not in item.keywords]


# Under pytest-xdist (addopts: `-n 2`) one worker runs the whole Docker tier, which shares its
# images through session fixtures, while the other takes the rest. xdist's own `loadgroup` cannot
# do it on pytest 9.2 (it renames node ids through an attribute pytest no longer reads), so the
# scheduler is xdist's `loadscope` with the Docker tier as one scope and every other test a scope
# of its own. The controller sees node ids only, not markers: hence the rule by name.
DOCKER_TESTS_ELSEWHERE = {
    "tests/test_answers.py::test_docker_reads_the_labels_back_exactly",
    "tests/test_devcontainer.py::"
    "test_the_dev_stage_builds_and_runs_the_projects_checks_as_the_production_uid",
    "tests/test_devcontainer.py::test_the_dev_container_writes_a_workspace_the_host_user_owns",
}


def in_docker_tier(nodeid: str) -> bool:
    return nodeid.startswith("tests/test_docker") or nodeid.split("[")[0] in DOCKER_TESTS_ELSEWHERE


def is_docker(item) -> bool:
    return item.get_closest_marker("docker") is not None


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(config, log):
    if config.getoption("dist") not in ("no", "load"):
        return None  # a --dist the user chose
    from xdist.scheduler import LoadScopeScheduling

    class DockerTierTogether(LoadScopeScheduling):
        def _split_scope(self, nodeid: str) -> str:
            return "docker tier" if in_docker_tier(nodeid) else nodeid

    return DockerTierTogether(config, log)


# Rendering goes through pytest-copie 0.3.1 (2025), not pytest-copier 0.4.1 (2023), both read
# before choosing. pytest-copier imports `copier.main` and `copier.Worker`, which copier 9.19
# deprecates as internal (DeprecationWarning on every run), snapshots the whole template root,
# .git and .venv included, into a new git repository unless told which paths to copy, pulls in
# two more plugins (pytest-gitconfig, with a session-wide autouse fixture, and pytest-dir-equal)
# and renders with neither `vcs_ref` nor `skip_tasks`. pytest-copie is maintained, calls copier's
# public `run_copy`, renders `vcs_ref="HEAD"` (the working tree, uncommitted changes included,
# which copier adds through git, so ignored paths stay out), validates answers as copier does,
# and has a session fixture. What it lacks (skipping tasks, quiet output, a destination of our
# choice) helpers.copy_template and helpers.render add.


class Renders:
    """Each variant is rendered (and locked) once per session; tests copy it when they change it."""

    def __init__(self, copie: Copie):
        self.copie = copie
        self.cache: dict[tuple, Path] = {}

    def get(self, **answers: str) -> Path:
        key = tuple(sorted(answers.items()))
        if key not in self.cache:
            project = copy_template(self.copie, **answers)
            lock_project(project)
            self.cache[key] = project
        return self.cache[key]

    def copy(self, destination: Path, **answers: str) -> Path:
        shutil.copytree(self.get(**answers), destination, ignore=shutil.ignore_patterns(".venv"))
        return destination


@pytest.fixture(scope="session")
def renders(copie_session: Copie) -> Renders:
    """Renders made by pytest-copie's session fixture, in its folder (kept with
    --keep-copied-projects)."""
    return Renders(copie_session)


def in_ci() -> bool:
    return os.environ.get("CI", "").lower() in {"1", "true", "yes"}


@pytest.fixture(scope="session")
def timings() -> dict[str, dict[str, float]]:
    """Figures the Docker tier measures; printed as a table at the end of the run."""
    table = defaultdict(dict)
    yield table
    summary.add_table("Docker images (measured in this run)", "flavor", table)


def pytest_sessionfinish(session):
    # An xdist worker sends its tables to the controller, which prints them (pytest_testnodedown).
    workeroutput = getattr(session.config, "workeroutput", None)
    if workeroutput is not None:
        workeroutput["summary_sections"] = summary.dumps()


@pytest.hookimpl(optionalhook=True)
def pytest_testnodedown(node, error):
    sent = getattr(node, "workeroutput", {}).get("summary_sections")
    if sent:
        summary.merge(sent)


def pytest_terminal_summary(terminalreporter):
    for title, lines in summary.SECTIONS.items():
        terminalreporter.section(title)
        for line in lines:
            terminalreporter.write_line(line)


# The Docker tier's shared fixtures: every docker-marked module uses the same images.
@pytest.fixture(scope="session")
def engine():
    if not containers.engine_answers():
        reason = "no Docker engine answers the docker SDK's ping"
        if in_ci():
            pytest.fail(f"{reason}, and CI=true: .ci/run must install and start dockerd")
        pytest.skip(f"{reason}; this tier runs in CI, where .ci/run starts one")


@pytest.fixture(scope="session")
def projects(renders, engine):
    """One rendered, locked project per flavor and base, with its base images present (real or
    stand-in)."""
    rendered = {name: renders.get(**answers) for name, answers in IMAGE_VARIANTS.items()}
    ensure_base_images(*(project / "Dockerfile" for project in rendered.values()))
    return rendered


@pytest.fixture(scope="session")
def images(projects, timings):
    """Each flavor and base built once for the session. The first is built cold (no layer
    cache, an empty uv cache mount); the others then share its uv cache mount, as builds on one
    machine do, instead of downloading every package again. bench/run.py measures every
    flavor's cold build."""
    built = {}
    for number, (flavor, project) in enumerate(projects.items()):
        result = build(project, f"copier-uv-mlops-test/{flavor}", *(["--no-cache"] * (number == 0)))
        column = "cold build (s)" if number == 0 else "build, uv cache warm (s)"
        timings[flavor][column] = round(result.seconds, 1)
        timings[flavor]["image size (MB)"] = round(containers.image_size_mb(result.tag))
        built[flavor] = result.tag
    return built
