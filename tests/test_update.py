"""`copier update` keeps the user's work: real git repositories, two template releases."""

import shutil
import subprocess
from pathlib import Path

import copier
import pytest
import yaml

from helpers import COPIER_OPTIONS, REPO, project_env, project_files, render, run, tool, uv

OLD, NEW = "v0.1.0", "v0.2.0"
COPY_IGNORE = shutil.ignore_patterns(
    ".git", ".venv", "__pycache__", ".pytest_cache", ".ruff_cache", "build"
)
PKG = "src/ml_project"


def git(cwd: Path, *args: str) -> str:
    return run(
        ["git", "-c", "user.name=Test", "-c", "user.email=test@example.com", *args], cwd=cwd
    ).stdout


def as_v0_1_0(tree: Path) -> None:
    """The template as released in v0.1.0: before v0.2.0 renamed health.py (see CHANGELOG)."""
    package = tree / "template" / "src" / "{{ package_name }}"
    (package / "healthcheck.py").rename(package / "health.py")
    cli = package / "cli.py"
    cli.write_text(cli.read_text().replace("from .healthcheck import", "from .health import"))


@pytest.fixture(scope="module")
def template_repo(tmp_path_factory) -> Path:
    """A scratch copy of this template with two release tags: OLD, then NEW (the working tree)."""
    repo = tmp_path_factory.mktemp("template") / "copier-uv-mlops"
    shutil.copytree(REPO, repo, ignore=COPY_IGNORE)
    as_v0_1_0(repo)
    git(repo, "init", "-q", "-b", "main")
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "release 0.1.0")
    git(repo, "tag", OLD)
    for entry in repo.iterdir():
        if entry.name != ".git":
            shutil.rmtree(entry) if entry.is_dir() else entry.unlink()
    shutil.copytree(REPO, repo, ignore=COPY_IGNORE, dirs_exist_ok=True)
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "release 0.2.0")
    git(repo, "tag", NEW)
    return repo


def generate(template_repo: Path, destination: Path, ref: str, **answers: str) -> Path:
    render(destination, template=template_repo, ref=ref, **answers)
    git(destination, "init", "-q", "-b", "main")
    git(destination, "add", "-A")
    git(destination, "commit", "-q", "-m", "Generated from the template")
    return destination


def update(project: Path, ref: str = NEW, **answers: str) -> None:
    copier.run_update(project, data=answers, vcs_ref=ref, overwrite=True, **COPIER_OPTIONS)


def conflict_files(project: Path) -> list[str]:
    return sorted(
        name
        for name in project_files(project)
        if name.endswith(".rej") or "<<<<<<<" in (project / name).read_text(errors="replace")
    )


USER_FUNCTION = (
    '\n\ndef user_feature(rows: Rows) -> int:\n    """Added by the team."""\n    return len(rows)\n'
)
USER_README = "\n## Our team's notes\n\nTrain on the cluster with `make cluster-train`.\n"


@pytest.fixture(scope="module")
def updated(template_repo, tmp_path_factory):
    """A project generated from OLD, edited and committed by its team, then updated to NEW."""
    project = generate(template_repo, tmp_path_factory.mktemp("project") / "churn", OLD)
    with (project / PKG / "data.py").open("a") as f:
        f.write(USER_FUNCTION)
    with (project / "README.md").open("a") as f:
        f.write(USER_README)
    run([uv(), "add", "--quiet", "six"], cwd=project, env=project_env())
    git(project, "add", "-A")
    git(project, "commit", "-q", "-m", "Our own work")
    user_lock = (project / "uv.lock").read_bytes()

    update(project)

    answers = yaml.safe_load((project / ".copier-answers.yml").read_text())
    fresh = render(
        tmp_path_factory.mktemp("fresh") / "churn",
        lock=False,
        template=template_repo,
        ref=NEW,
        **{k: v for k, v in answers.items() if not k.startswith("_")},
    )
    return project, fresh, user_lock


def test_the_update_moves_the_project_to_the_new_release(updated):
    project, _, _ = updated
    assert yaml.safe_load((project / ".copier-answers.yml").read_text())["_commit"] == NEW


def test_the_users_edits_survive(updated):
    project, fresh, _ = updated

    assert (project / PKG / "data.py").read_text() == (
        fresh / PKG / "data.py"
    ).read_text() + USER_FUNCTION
    assert (project / "README.md").read_text() == (fresh / "README.md").read_text() + USER_README
    assert '"six>=' in (project / "pyproject.toml").read_text()


def test_uv_lock_is_left_alone(updated):
    project, _, user_lock = updated
    assert (project / "uv.lock").read_bytes() == user_lock


def test_untouched_files_take_the_new_release_exactly(updated):
    project, fresh, _ = updated
    edited = {f"{PKG}/data.py", "README.md", "pyproject.toml", "uv.lock"}

    for name in sorted(project_files(fresh) - edited):
        assert (project / name).read_bytes() == (fresh / name).read_bytes(), name
    assert project_files(project) - {"uv.lock"} == project_files(fresh)


def test_the_rename_migration_ran_cleanly(updated):
    project, _, _ = updated
    assert not (project / PKG / "health.py").exists()
    assert (project / PKG / "healthcheck.py").is_file()


def test_no_conflict_markers_or_rej_files_where_the_user_made_no_edit(updated):
    project, _, _ = updated
    assert conflict_files(project) == []


def test_the_updated_project_still_passes_its_checks(updated):
    project, _, _ = updated
    run([uv(), "run", "--locked", "pytest", "-q"], cwd=project, env=project_env())


def test_a_file_both_sides_changed_shows_a_visible_conflict(template_repo, tmp_path):
    project = generate(template_repo, tmp_path / "churn", OLD)
    cli = project / PKG / "cli.py"
    cli.write_text(
        cli.read_text().replace("from .health import check", "from .health import check as probe")
    )
    health = project / PKG / "health.py"
    health.write_text(health.read_text() + "\n# Our probe also checks the GPU.\n")
    git(project, "commit", "-q", "-am", "Our changes to the health check")

    update(project)

    assert conflict_files(project) == [f"{PKG}/cli.py"]
    assert "from .health import check as probe" in cli.read_text()
    # The renamed file keeps the team's edit: the migration carried it over.
    assert "# Our probe also checks the GPU." in (project / PKG / "healthcheck.py").read_text()
    assert not health.exists()


def test_switching_flavor_rewrites_docker_and_ci_and_keeps_the_code(template_repo, tmp_path):
    project = generate(template_repo, tmp_path / "churn", NEW)
    with (project / PKG / "data.py").open("a") as f:
        f.write(USER_FUNCTION)
    git(project, "commit", "-q", "-am", "Our feature")

    update(project, image_flavor="cuda")

    dockerfile = (project / "Dockerfile").read_text()
    assert "FROM nvidia/cuda:12.8.1-runtime-ubuntu24.04" in dockerfile
    assert "COPY --from=uv /uv /uvx /bin/" in dockerfile
    assert "Hosted runners have no GPU" in (project / ".github/workflows/ci.yml").read_text()
    assert "driver: nvidia" in (project / "compose.yaml").read_text()
    assert (project / PKG / "data.py").read_text().endswith(USER_FUNCTION)
    assert conflict_files(project) == []


@pytest.mark.parametrize(
    ("make_bad", "args", "message"),
    [
        ("dirty", [], "Destination repository is dirty"),
        ("clean", ["--data", "image_flavor=gpu"], "Invalid choice for 'image_flavor'"),
    ],
)
def test_a_bad_update_says_why_and_changes_nothing(
    template_repo, tmp_path, make_bad, args, message
):
    project = generate(template_repo, tmp_path / "churn", OLD)
    if make_bad == "dirty":
        (project / "README.md").write_text("work in progress\n")
    before = (git(project, "rev-parse", "HEAD"), git(project, "status", "--porcelain"))
    snapshot = {name: (project / name).read_bytes() for name in project_files(project)}

    result = subprocess.run(
        [tool("copier"), "update", "--trust", "--defaults", "--skip-tasks", *args],
        cwd=project,
        capture_output=True,
        text=True,
        check=False,
    )

    assert result.returncode != 0
    assert message in result.stderr
    assert (git(project, "rev-parse", "HEAD"), git(project, "status", "--porcelain")) == before
    assert {name: (project / name).read_bytes() for name in project_files(project)} == snapshot
