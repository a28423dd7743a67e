"""Scratch template repositories with release tags, and git projects generated from them: the
machinery of the tests that run `copier update` (test_update.py) and the fleet report
(test_fleet_report.py)."""

import shutil
from pathlib import Path

from helpers import REPO, project_files, render, run

OLD, NEW, LATER = "v0.1.0", "v0.2.0", "v0.3.0"
COPY_IGNORE = shutil.ignore_patterns(
    ".git", ".venv", "__pycache__", ".pytest_cache", ".ruff_cache", "build"
)
PKG = "src/ml_project"
HEALTHCHECK = f"{PKG}/healthcheck.py"
# The scratch v0.3.0 changes one line of healthcheck.py, the file v0.2.0 renamed.
V0_2_0_LINE = "with urllib.request.urlopen(url, timeout=3) as response:"
V0_3_0_LINE = "with urllib.request.urlopen(url, timeout=5) as response:"
MODEL_PY = f"{PKG}/model.py"
SKLEARN_MODEL = (
    "src/{{ package_name }}/{% if ml_framework == 'scikit-learn' %}model.py{% endif %}.jinja"
)
# v0.1.0's model.py came before the model contract, which added TASK (see CHANGELOG); the scratch
# v0.3.0 changes a line of model.py, which an update must not bring into the team's file.
TASK_LINE = 'TASK = "{{ task }}"\n'
V0_2_0_MODEL_LINE = "# scikit-learn runs on the CPU, and an epoch takes milliseconds"
V0_3_0_MODEL_LINE = "# scikit-learn trains on the CPU, and an epoch takes milliseconds"


def git(cwd: Path, *args: str) -> str:
    return run(
        ["git", "-c", "user.name=Test", "-c", "user.email=test@example.com", *args], cwd=cwd
    ).stdout


def as_v0_1_0(tree: Path) -> None:
    """The template as released in v0.1.0: before v0.2.0 renamed health.py (see CHANGELOG)."""
    package = tree / "template" / "src" / "{{ package_name }}"
    (package / "healthcheck.py").rename(package / "health.py")
    cli = package / "cli.py.jinja"
    cli.write_text(cli.read_text().replace("from .healthcheck import", "from .health import"))
    model = tree / "template" / SKLEARN_MODEL
    text = model.read_text()
    assert TASK_LINE in text, "the scratch v0.1.0 no longer finds model.py's TASK"
    model.write_text(text.replace(TASK_LINE, ""))


def as_v0_3_0(tree: Path) -> None:
    """A scratch release after the rename that changes the renamed file."""
    healthcheck = tree / "template" / "src" / "{{ package_name }}" / "healthcheck.py"
    text = healthcheck.read_text()
    assert V0_2_0_LINE in text, "the scratch v0.3.0 no longer finds the line it changes"
    healthcheck.write_text(text.replace(V0_2_0_LINE, V0_3_0_LINE))
    model = tree / "template" / SKLEARN_MODEL
    text = model.read_text()
    assert V0_2_0_MODEL_LINE in text, "the scratch v0.3.0 no longer finds the model.py line"
    model.write_text(text.replace(V0_2_0_MODEL_LINE, V0_3_0_MODEL_LINE))


RELEASES = [(OLD, as_v0_1_0), (NEW, None), (LATER, as_v0_3_0)]


def scratch_template(repo: Path, tagged: bool, releases=RELEASES) -> dict[str, str]:
    """A scratch copy of this template with one commit per release: OLD (before the rename), NEW
    (the working tree), LATER (NEW with healthcheck.py changed). Each commit is tagged with its
    release, or none is. Returns each release's commit hash."""
    repo.mkdir(parents=True)
    git(repo, "init", "-q", "-b", "main")
    commits = {}
    for release, shape in releases:
        for entry in repo.iterdir():
            if entry.name != ".git":
                shutil.rmtree(entry) if entry.is_dir() else entry.unlink()
        shutil.copytree(REPO, repo, ignore=COPY_IGNORE, dirs_exist_ok=True)
        if shape:
            shape(repo)
        git(repo, "add", "-A")
        git(repo, "commit", "-q", "-m", f"release {release}")
        if tagged:
            git(repo, "tag", release)
        commits[release] = git(repo, "rev-parse", "HEAD").strip()
    return commits


def generate(
    template_repo: Path, destination: Path, ref: str, lock: bool = True, **answers: str
) -> Path:
    """A project rendered from `template_repo` at `ref`, in a git repository of its own."""
    render(destination, lock=lock, template=template_repo, ref=ref, **answers)
    git(destination, "init", "-q", "-b", "main")
    git(destination, "add", "-A")
    git(destination, "commit", "-q", "-m", "Generated from the template")
    return destination


def conflict_files(project: Path) -> list[str]:
    return sorted(
        name
        for name in project_files(project)
        if name.endswith(".rej") or "<<<<<<<" in (project / name).read_text(errors="replace")
    )
