"""`copier update` keeps the user's work: real git repositories, scratch template releases."""

import re
import subprocess
from pathlib import Path

import copier
import pytest
import yaml

from helpers import COPIER_OPTIONS, project_env, project_files, render, run, tool, uv
from template_releases import (
    HEALTHCHECK,
    LATER,
    MODEL_PY,
    NEW,
    OLD,
    PKG,
    RELEASES,
    V0_2_0_LINE,
    V0_2_0_MODEL_LINE,
    V0_3_0_LINE,
    as_v0_1_0,
    as_v0_3_0,
    conflict_files,
    generate,
    git,
    scratch_template,
)

RENAMED_AGAIN = "v0.4.0"


def as_v0_4_0(tree: Path) -> None:
    """A scratch release that renames the file again, healthcheck.py to probe.py, with the
    migration entries that README.md's "Releasing the template" asks for."""
    as_v0_3_0(tree)
    package = tree / "template" / "src" / "{{ package_name }}"
    (package / "healthcheck.py").rename(package / "probe.py")
    cli = package / "cli.py.jinja"
    cli.write_text(cli.read_text().replace("from .healthcheck import", "from .probe import"))
    config = tree / "copier.yml"
    text = config.read_text()
    entry = re.search(r"  - when: .*?/health\.py\"\n.*?/healthcheck\.py\"\n", text, re.DOTALL)
    assert entry, "copier.yml no longer has the health.py migration entry"
    health_to_probe = entry[0].replace('/healthcheck.py"', '/probe.py"')
    healthcheck_to_probe = health_to_probe.replace('/health.py"', '/healthcheck.py"')
    config.write_text(text.replace(entry[0], health_to_probe + healthcheck_to_probe))


@pytest.fixture(scope="module")
def template_repo(tmp_path_factory) -> Path:
    """The scratch template, its releases tagged."""
    repo = tmp_path_factory.mktemp("template") / "copier-uv-mlops"
    scratch_template(repo, tagged=True)
    return repo


def update(project: Path, ref: str = NEW, **answers: str) -> None:
    copier.run_update(project, data=answers, vcs_ref=ref, overwrite=True, **COPIER_OPTIONS)


USER_FUNCTION = (
    "\n\ndef user_feature(dataset: Dataset) -> int:\n"
    '    """Added by the team."""\n    return len(dataset.labels)\n'
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


def test_the_updated_project_locks_lints_and_passes_the_tests_of_what_the_team_edited(updated):
    # Every file the team left alone is the new release's exactly (above), and the new release's
    # own suite passes (test_generated_project): what is left to prove is that the team's lock
    # fits the new pyproject, that it holds the client of the new compose.yaml's MLflow server,
    # and that their merged module works.
    project, _, _ = updated
    env = project_env()
    run([uv(), "run", "--locked", "ruff", "check", "."], cwd=project, env=env)
    checks = ["tests/test_data.py", "tests/test_tracking.py", "-k", "data or compose_runs"]
    run([uv(), "run", "--locked", "pytest", "-q", *checks], cwd=project, env=env)


TEAM_MODEL_FUNCTION = (
    '\n\ndef team_helper() -> str:\n    """Added by the team."""\n    return "ours"\n'
)


def test_a_model_py_from_before_the_contract_moves_to_it_with_the_teams_edit(
    template_repo, tmp_path
):
    # The `updated` project never edited model.py: it takes the new release's exactly (above).
    project = generate(template_repo, tmp_path / "churn", OLD, lock=False)
    with (project / MODEL_PY).open("a") as f:
        f.write(TEAM_MODEL_FUNCTION)
    git(project, "commit", "-q", "-am", "Our model")

    update(project)

    fresh = render(tmp_path / "fresh", lock=False, template=template_repo, ref=NEW)
    assert (project / MODEL_PY).read_text() == (fresh / MODEL_PY).read_text() + TEAM_MODEL_FUNCTION
    assert conflict_files(project) == []


def test_the_teams_model_py_is_never_touched_by_a_later_update(template_repo, tmp_path):
    # LATER changes the line the team edited: any other file would show a conflict.
    project = generate(template_repo, tmp_path / "churn", NEW, lock=False)
    model = project / MODEL_PY
    ours = model.read_text().replace(V0_2_0_MODEL_LINE, "# our own model, on our own terms")
    model.write_text(ours)
    git(project, "commit", "-q", "-am", "Our model")

    update(project, ref=LATER)

    assert model.read_text() == ours
    assert conflict_files(project) == []


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
    assert "FROM nvidia/cuda:12.8.1-base-ubuntu24.04" in dockerfile
    assert "COPY --from=uv /uv /uvx /bin/" in dockerfile
    assert "Hosted runners have no GPU" in (project / ".github/workflows/ci.yml").read_text()
    assert "driver: nvidia" in (project / "compose.gpu.yaml").read_text()
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


# A renamed file takes both the team's edits and every later template change to it.
USER_PROBE = '\n\ndef gpu_ready() -> bool:\n    """Added by the team."""\n    return True\n'


@pytest.fixture(scope="module")
def later_healthcheck(template_repo, tmp_path_factory) -> str:
    """healthcheck.py as a fresh LATER render has it."""
    fresh = render(
        tmp_path_factory.mktemp("fresh-later") / "churn",
        lock=False,
        template=template_repo,
        ref=LATER,
    )
    return (fresh / HEALTHCHECK).read_text()


def update_health_py(template_repo: Path, project: Path, edit) -> str:
    """Generate from OLD, let `edit` change health.py and commit, update to LATER."""
    generate(template_repo, project, OLD)
    health = project / PKG / "health.py"
    health.write_text(edit(health.read_text()))
    git(project, "commit", "-q", "--allow-empty", "-am", "Our health check")
    update(project, ref=LATER)
    assert not health.exists()
    return (project / HEALTHCHECK).read_text()


def test_a_renamed_file_the_team_never_touched_takes_the_later_release_exactly(
    template_repo, later_healthcheck, tmp_path
):
    healthcheck = update_health_py(template_repo, tmp_path / "churn", lambda text: text)

    assert healthcheck == later_healthcheck


def test_a_renamed_file_keeps_the_teams_edit_and_the_later_release_change(
    template_repo, later_healthcheck, tmp_path
):
    healthcheck = update_health_py(
        template_repo, tmp_path / "churn", lambda text: text + USER_PROBE
    )

    assert healthcheck == later_healthcheck + USER_PROBE


def test_an_edit_of_a_renamed_file_on_the_lines_the_template_changed_shows_a_conflict(
    template_repo, tmp_path
):
    team_line = "with urllib.request.urlopen(url, timeout=10) as response:"
    project = tmp_path / "churn"
    healthcheck = update_health_py(
        template_repo, project, lambda text: text.replace(V0_2_0_LINE, team_line)
    )

    conflict = re.search(
        r"<<<<<<< before updating\n(.*)=======\n(.*)>>>>>>> after updating\n",
        healthcheck,
        re.DOTALL,
    )
    assert conflict, healthcheck
    assert team_line in conflict[1]
    assert V0_3_0_LINE in conflict[2]
    assert conflict_files(project) == [HEALTHCHECK]


def test_a_renamed_file_the_team_deleted_stays_deleted(template_repo, tmp_path):
    project = generate(template_repo, tmp_path / "churn", OLD)
    git(project, "rm", "-q", f"{PKG}/health.py")
    git(project, "commit", "-q", "-m", "We probe health elsewhere")

    update(project, ref=LATER)

    assert not (project / HEALTHCHECK).exists()


@pytest.fixture(scope="module")
def renamed_twice_repo(tmp_path_factory) -> Path:
    """The scratch template with one more tagged release, which renames the file again."""
    repo = tmp_path_factory.mktemp("renamed-twice") / "copier-uv-mlops"
    scratch_template(repo, tagged=True, releases=[*RELEASES, (RENAMED_AGAIN, as_v0_4_0)])
    return repo


@pytest.mark.parametrize("start", [OLD, LATER])
def test_a_file_renamed_twice_keeps_the_teams_edit_from_either_old_name(
    renamed_twice_repo, tmp_path, start
):
    old_name = f"{PKG}/health.py" if start == OLD else HEALTHCHECK
    project = generate(renamed_twice_repo, tmp_path / "churn", start)
    with (project / old_name).open("a") as f:
        f.write(USER_PROBE)
    git(project, "commit", "-q", "-am", "Our health check")
    fresh = render(tmp_path / "fresh", lock=False, template=renamed_twice_repo, ref=RENAMED_AGAIN)

    update(project, ref=RENAMED_AGAIN)

    assert (project / PKG / "probe.py").read_text() == (
        fresh / PKG / "probe.py"
    ).read_text() + USER_PROBE
    assert not (project / old_name).exists()
    assert conflict_files(project) == []


# `_commit` records a release tag, or a commit hash where the template repository has no tags.
@pytest.fixture(scope="module")
def untagged_template_repo(tmp_path_factory) -> tuple[Path, dict[str, str]]:
    """The scratch template with no tags, and each release's commit hash."""
    repo = tmp_path_factory.mktemp("untagged") / "copier-uv-mlops"
    return repo, scratch_template(repo, tagged=False)


def recorded_commit(project: Path) -> str:
    return yaml.safe_load((project / ".copier-answers.yml").read_text())["_commit"]


@pytest.mark.parametrize("tagged", [True, False], ids=["tagged", "untagged"])
def test_commit_records_a_tag_or_a_hash_and_the_update_carries_the_rename(
    template_repo, untagged_template_repo, later_healthcheck, tmp_path, tagged
):
    repo, commits = (template_repo, {}) if tagged else untagged_template_repo
    project = generate(repo, tmp_path / "churn", OLD if tagged else commits[OLD])
    health = project / PKG / "health.py"
    health.write_text(health.read_text() + USER_PROBE)
    git(project, "commit", "-q", "-am", "Our health check")
    before = recorded_commit(project)

    copier.run_update(project, overwrite=True, **COPIER_OPTIONS)  # to the newest tag, else HEAD

    after = recorded_commit(project)
    if tagged:
        assert (before, after) == (OLD, LATER)
    else:
        for recorded, release in [(before, OLD), (after, LATER)]:
            assert re.fullmatch(r"[0-9a-f]{7,40}", recorded), recorded
            assert git(repo, "rev-parse", recorded).strip() == commits[release]
    assert (project / HEALTHCHECK).read_text() == later_healthcheck + USER_PROBE
    assert not health.exists()
    assert conflict_files(project) == []


# A package renamed by the update: a project made before the naming rules has `json` for
# "Json"; this release refuses that name, so `--defaults` derives `json_project`.
OLD_PACKAGE, NEW_PACKAGE = "src/json", "src/json_project"
MODEL_TEMPLATE = "{% if ml_framework == 'scikit-learn' %}model.py{% endif %}.jinja"
# The scratch release before the naming rules has the first line in model.py, NEW the second.
OLD_MODEL_LINE = 'classifier = SGDClassifier(loss="log_loss", random_state=42)'
NEW_MODEL_LINE = 'classifier = SGDClassifier(loss="log_loss", random_state=0)'
TEAM_MODULE = '"""Our own module."""\n\nfrom json import model\n\nFEATURES = model.FRAMEWORK\n'


def as_before_naming_rules(tree: Path) -> None:
    """A scratch release before the naming rules, and so before v0.2.0's rename of health.py, as
    a real project of that age is: a package may shadow any module, and model.py has a line
    that NEW changes."""
    as_v0_1_0(tree)
    naming = tree / "extensions" / "naming.py"
    naming.write_text(
        naming.read_text() + '\n\ndef shadowed_module(name, choices):\n    return ""\n'
    )
    model = tree / "template" / "src" / "{{ package_name }}" / MODEL_TEMPLATE
    text = model.read_text()
    assert NEW_MODEL_LINE in text, "the scratch release no longer finds the line it changes"
    model.write_text(text.replace(NEW_MODEL_LINE, OLD_MODEL_LINE))


@pytest.fixture(scope="module")
def renamed_package_repo(tmp_path_factory) -> Path:
    """The scratch template: OLD before the naming rules, NEW the working tree."""
    repo = tmp_path_factory.mktemp("renamed-package") / "copier-uv-mlops"
    scratch_template(repo, tagged=True, releases=[(OLD, as_before_naming_rules), (NEW, None)])
    return repo


@pytest.fixture(scope="module")
def fresh_json(renamed_package_repo, tmp_path_factory) -> Path:
    """A fresh NEW render of the project "Json"."""
    fresh = render(
        tmp_path_factory.mktemp("fresh-json") / "json",
        lock=False,
        template=renamed_package_repo,
        ref=NEW,
        project_name="Json",
    )
    assert (fresh / NEW_PACKAGE).is_dir()
    return fresh


def update_json_project(repo: Path, project: Path, edit) -> Path:
    """Generate "Json" from OLD (package `json`), let `edit` change it and commit, update to NEW
    with `--defaults`, as README.md says."""
    render(project, lock=False, template=repo, ref=OLD, project_name="Json")
    git(project, "init", "-q", "-b", "main")
    git(project, "add", "-A")
    git(project, "commit", "-q", "-m", "Generated from the template")
    assert yaml.safe_load((project / ".copier-answers.yml").read_text())["package_name"] == "json"
    edit(project)
    git(project, "add", "-A")
    git(project, "commit", "-q", "--allow-empty", "-m", "Our own work")

    update(project)

    assert yaml.safe_load((project / ".copier-answers.yml").read_text())["package_name"] == (
        "json_project"
    )
    assert not (project / OLD_PACKAGE).exists()
    return project


def append(path: str, text: str):
    def edit(project: Path) -> None:
        with (project / path).open("a") as f:
            f.write(text)

    return edit


def carried_lines(output: str) -> list[str]:
    return sorted(line for line in output.splitlines() if "check its imports" in line)


def test_a_renamed_package_the_team_never_touched_is_the_new_release_exactly(
    renamed_package_repo, fresh_json, tmp_path, capfd
):
    project = update_json_project(renamed_package_repo, tmp_path / "json", lambda project: None)

    assert project_files(project) == project_files(fresh_json)
    for name in sorted(project_files(fresh_json)):
        assert (project / name).read_bytes() == (fresh_json / name).read_bytes(), name
    assert carried_lines(capfd.readouterr().out) == []


def test_a_renamed_package_keeps_the_teams_edit_and_the_new_release_change(
    renamed_package_repo, fresh_json, tmp_path, capfd
):
    project = update_json_project(
        renamed_package_repo, tmp_path / "json", append(f"{OLD_PACKAGE}/model.py", USER_FUNCTION)
    )

    model = (project / NEW_PACKAGE / "model.py").read_text()
    assert model == (fresh_json / NEW_PACKAGE / "model.py").read_text() + USER_FUNCTION
    assert NEW_MODEL_LINE in model
    assert conflict_files(project) == []
    assert carried_lines(capfd.readouterr().out) == [
        f"{NEW_PACKAGE}/model.py: carried from {OLD_PACKAGE}/model.py; check its imports of the "
        "old package 'json' (now 'json_project')."
    ]


def test_a_renamed_package_takes_the_teams_own_files_along(renamed_package_repo, tmp_path, capfd):
    def add_module(project: Path) -> None:
        (project / OLD_PACKAGE / "features").mkdir()
        (project / OLD_PACKAGE / "features" / "extra.py").write_text(TEAM_MODULE)

    project = update_json_project(renamed_package_repo, tmp_path / "json", add_module)

    # Moved as it was: an import of the old package cannot be told from one of the stdlib's json.
    assert (project / NEW_PACKAGE / "features" / "extra.py").read_text() == TEAM_MODULE
    assert carried_lines(capfd.readouterr().out) == [
        f"{NEW_PACKAGE}/features/extra.py: carried from {OLD_PACKAGE}/features/extra.py; check "
        "its imports of the old package 'json' (now 'json_project')."
    ]


def test_an_edit_of_a_renamed_package_on_the_lines_the_template_changed_shows_a_conflict(
    renamed_package_repo, tmp_path
):
    team_line = 'classifier = SGDClassifier(loss="log_loss", random_state=7)'

    def edit(project: Path) -> None:
        model = project / OLD_PACKAGE / "model.py"
        model.write_text(model.read_text().replace(OLD_MODEL_LINE, team_line))

    project = update_json_project(renamed_package_repo, tmp_path / "json", edit)

    conflict = re.search(
        r"<<<<<<< before updating\n(.*)=======\n(.*)>>>>>>> after updating\n",
        (project / NEW_PACKAGE / "model.py").read_text(),
        re.DOTALL,
    )
    assert conflict
    assert team_line in conflict[1]
    assert NEW_MODEL_LINE in conflict[2]
    assert conflict_files(project) == [f"{NEW_PACKAGE}/model.py"]


def test_a_template_file_the_team_deleted_stays_deleted_in_the_renamed_package(
    renamed_package_repo, fresh_json, tmp_path
):
    def delete(project: Path) -> None:
        (project / OLD_PACKAGE / "progress.py").unlink()

    project = update_json_project(renamed_package_repo, tmp_path / "json", delete)

    assert project_files(project) == project_files(fresh_json) - {f"{NEW_PACKAGE}/progress.py"}


def test_a_renamed_file_in_a_renamed_package_keeps_the_teams_edit(
    renamed_package_repo, fresh_json, tmp_path
):
    project = update_json_project(
        renamed_package_repo, tmp_path / "json", append(f"{OLD_PACKAGE}/health.py", USER_PROBE)
    )

    healthcheck = f"{NEW_PACKAGE}/healthcheck.py"
    assert (project / healthcheck).read_text() == (
        fresh_json / healthcheck
    ).read_text() + USER_PROBE
    assert project_files(project) == project_files(fresh_json)
    assert conflict_files(project) == []


def test_a_package_renamed_by_an_answer_keeps_the_teams_edit(template_repo, tmp_path):
    project = generate(template_repo, tmp_path / "churn", NEW)
    with (project / PKG / "data.py").open("a") as f:
        f.write(USER_FUNCTION)
    git(project, "commit", "-q", "-am", "Our feature")

    update(project, package_name="churn")

    assert not (project / PKG).exists()
    assert (project / "src" / "churn" / "data.py").read_text().endswith(USER_FUNCTION)
    assert "from churn.cli import main" in (project / "main.py").read_text()
    assert conflict_files(project) == []


# ---------------------------------------------------------------------------------------------
# relocated-home on the CUDA base: existing projects keep the uv base they were built on
# ---------------------------------------------------------------------------------------------

BOTH_BASES_CONDITION = (
    "image_flavor == 'cuda' or (image_flavor == 'relocated-home' and relocated_home_base == 'cuda')"
)


def as_before_relocated_home_base(tree: Path) -> None:
    """A release from before `relocated_home_base`: relocated-home was always built on uv."""
    config = tree / "copier.yml"
    text = config.read_text()
    question = re.search(r"\nrelocated_home_base:\n.*?\n\n", text, re.DOTALL)
    assert question and BOTH_BASES_CONDITION in text, "copier.yml no longer has the base question"
    text = text.replace(question[0], "\n").replace(BOTH_BASES_CONDITION, "image_flavor == 'cuda'")
    config.write_text(text)


@pytest.fixture(scope="module")
def base_question_repo(tmp_path_factory) -> Path:
    repo = tmp_path_factory.mktemp("template") / "copier-uv-mlops"
    scratch_template(
        repo, tagged=True, releases=[(OLD, as_before_relocated_home_base), (NEW, None)]
    )
    return repo


def relocated_home_from_before_the_question(repo: Path, destination: Path) -> Path:
    project = generate(repo, destination, OLD, image_flavor="relocated-home")
    assert "FROM ghcr.io/astral-sh/uv:" in (project / "Dockerfile").read_text()
    assert "relocated_home_base" not in (project / ".copier-answers.yml").read_text()
    return project


def test_an_update_keeps_an_existing_relocated_home_project_on_the_uv_base(
    base_question_repo, tmp_path
):
    project = relocated_home_from_before_the_question(base_question_repo, tmp_path / "ovh")

    update(project, NEW)

    dockerfile = (project / "Dockerfile").read_text()
    assert "FROM ghcr.io/astral-sh/uv:0.13.8-python3.13-trixie-slim" in dockerfile
    assert "nvidia/cuda" not in dockerfile
    answers = yaml.safe_load((project / ".copier-answers.yml").read_text())
    assert answers["relocated_home_base"] == "uv" and "cuda_version" not in answers
    assert conflict_files(project) == []


def test_an_update_moves_relocated_home_to_cuda_when_asked(base_question_repo, tmp_path):
    project = relocated_home_from_before_the_question(base_question_repo, tmp_path / "ovh")

    update(project, NEW, relocated_home_base="cuda")

    dockerfile = (project / "Dockerfile").read_text()
    assert "FROM nvidia/cuda:12.8.1-base-ubuntu24.04" in dockerfile
    assert "USER 42420:42420" in dockerfile and "WORKDIR /workspace" in dockerfile
    answers = yaml.safe_load((project / ".copier-answers.yml").read_text())
    assert (answers["relocated_home_base"], answers["cuda_version"]) == ("cuda", "12.8.1")
    assert conflict_files(project) == []


@pytest.mark.parametrize(("framework", "base"), [("pytorch", "cuda"), ("scikit-learn", "uv")])
def test_a_new_relocated_home_project_is_built_on_cuda_only_for_pytorch(
    base_question_repo, tmp_path, framework, base
):
    # Only PyTorch uses the GPU: scikit-learn (and none) get the CPU image by default.
    project = generate(
        base_question_repo,
        tmp_path / "ovh",
        NEW,
        lock=False,
        image_flavor="relocated-home",
        ml_framework=framework,
    )
    dockerfile = (project / "Dockerfile").read_text()
    assert ("FROM nvidia/cuda:12.8.1-base-ubuntu24.04" in dockerfile) == (base == "cuda")
    answers = yaml.safe_load((project / ".copier-answers.yml").read_text())
    assert answers["relocated_home_base"] == base
