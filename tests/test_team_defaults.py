"""A team's defaults reach every new project: a --data-file of answers, or copier's user settings
`defaults`; --data wins over both, and a bad team file is one line with nothing written."""

from pathlib import Path

import copier
import pytest
import yaml

from helpers import (
    COPIER_OPTIONS,
    NEW_PROJECT,
    REPO,
    assert_one_error_line,
    project_env,
    readme_copier_command,
    run,
    tool,
)

TEAM_FILE = REPO / "docs" / "team-defaults.example.yml"
SETTINGS_FILE = REPO / "docs" / "copier-settings.example.yml"
# copier's own CLI, as README.md's "For teams" runs it on a checkout.
COPIER_COPY = ["copy", "--trust", "--defaults", "--skip-tasks", "--quiet", "--vcs-ref", "HEAD"]


def answers_of(project: Path) -> dict[str, str]:
    return yaml.safe_load((project / ".copier-answers.yml").read_text())


def as_answers(values: dict) -> dict[str, str]:
    """YAML values as copier records them: every question of this template is a string."""
    return {key: str(value) for key, value in values.items()}


@pytest.fixture
def user_settings(tmp_path, monkeypatch) -> Path:
    """Copier's user settings file, for copier's API and for every command a test runs; empty
    until the test writes it, so the developer's own settings stay out."""
    path = tmp_path / "copier-settings.yml"
    path.write_text("defaults: {}\n")
    monkeypatch.setenv("COPIER_SETTINGS_PATH", str(path))
    return path


def copy_with(runner: str, destination: Path, data_file: Path | None = None, *data: str):
    """Render this checkout with copier's CLI or with scripts/new-project, as a user would."""
    options = [*(["--data-file", str(data_file)] if data_file else [])]
    options += [arg for pair in data for arg in ("--data", pair)]
    if runner == "copier":
        command = [tool("copier"), *COPIER_COPY, *options, str(REPO), str(destination)]
    else:
        command = [*NEW_PROJECT, str(destination), *options]
    return run(command, cwd=destination.parent)


@pytest.mark.parametrize("runner", ["copier", "new-project"])
def test_the_example_team_file_answers_every_new_project(user_settings, tmp_path, runner):
    project = tmp_path / "project"

    copy_with(runner, project, TEAM_FILE)

    team = as_answers(yaml.safe_load(TEAM_FILE.read_text()))
    assert answers_of(project) | team == answers_of(project)
    assert (project / ".python-version").read_text().strip() == team["python_version"]
    assert (project / ".gitlab-ci.yml").is_file()
    assert not (project / ".github").exists()
    assert "USER 42420:42420" in (project / "Dockerfile").read_text()


def test_the_readme_team_file_command_renders_a_project(user_settings, tmp_path):
    # Run as written, with the example team file, against this checkout (--vcs-ref HEAD, as the
    # README says for a checkout).
    command = readme_copier_command("--data-file team.yml")
    assert command[:3] == ["uvx", "--with", "copier-template-extensions"]
    command[command.index("team.yml")] = str(TEAM_FILE)
    command[command.index("gh:OWNER/copier-uv-mlops")] = str(REPO)
    command = [tool("uvx"), *command[1:-1], "--vcs-ref", "HEAD", str(tmp_path / "my-project")]

    run(command, cwd=tmp_path, env=project_env())

    team = as_answers(yaml.safe_load(TEAM_FILE.read_text()))
    assert answers_of(tmp_path / "my-project") | team == answers_of(tmp_path / "my-project")


@pytest.mark.parametrize("runner", ["copier API", "new-project"])
def test_the_example_copier_settings_defaults_apply(user_settings, tmp_path, runner):
    user_settings.write_text(SETTINGS_FILE.read_text())
    project = tmp_path / "project"

    if runner == "copier API":
        copier.run_copy(str(REPO), project, vcs_ref="HEAD", **COPIER_OPTIONS)
    else:
        copy_with(runner, project)

    defaults = as_answers(yaml.safe_load(SETTINGS_FILE.read_text())["defaults"])
    assert answers_of(project) | defaults == answers_of(project)
    assert "FROM nvidia/cuda:12.8.1-base-ubuntu24.04" in (project / "Dockerfile").read_text()


@pytest.mark.parametrize("runner", ["copier", "new-project"])
def test_data_wins_over_the_team_file_which_wins_over_the_settings(user_settings, tmp_path, runner):
    settings = {
        "author_name": "Settings Team",
        "author_email": "settings@example.com",
        "image_flavor": "cuda",
        "ci": "none",
    }
    user_settings.write_text(yaml.safe_dump({"defaults": settings}))
    team_file = tmp_path / "team.yml"
    team_file.write_text(
        yaml.safe_dump(
            {"author_name": "File Team", "image_flavor": "relocated-home", "ci": "gitlab"}
        )
    )
    project = tmp_path / "project"

    copy_with(runner, project, team_file, "ci=github")

    answers = answers_of(project)
    assert answers["author_email"] == "settings@example.com"
    assert (answers["author_name"], answers["image_flavor"]) == ("File Team", "relocated-home")
    assert answers["ci"] == "github"


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, "--data-file team.yml does not exist: give a YAML file of answers, e.g. docs/"),
        ("", "--data-file team.yml is empty: write KEY: VALUE lines"),
        ("image_flavor: [uv\n", "--data-file team.yml is not valid YAML: expected ',' or ']'"),
        ("- uv\n", "--data-file team.yml is not a mapping: write KEY: VALUE lines"),
        (
            "imageflavor: cuda\n",
            "--data-file team.yml: imageflavor is not a question of this template: "
            "did you mean image_flavor?",
        ),
        ("uv_version: 0.1.0\n", "uv_version is not a question of this template: the template"),
        ("author_name:\n", "--data-file team.yml: author_name has no value: give one"),
        ("ci: [github, gitlab]\n", "--data-file team.yml: ci has several values: give one"),
        (
            "image_flavor: gpu\n",
            "--data-file team.yml: Invalid choice for 'image_flavor': 'gpu' is not in ['uv', ",
        ),
        (
            "author_email: bob\n",
            '--data-file team.yml: author_email "bob" is not an email address: use the form',
        ),
        (
            "ml_framework: pytorch\npackage_name: torch\n",
            '--data-file team.yml: package_name "torch" shadows torch, which '
            "ml_framework=pytorch installs",
        ),
    ],
)
def test_a_bad_team_file_gets_one_clear_line_and_nothing_written(
    user_settings, tmp_path, content, message
):
    if content is not None:
        (tmp_path / "team.yml").write_text(content)
    before = sorted(tmp_path.iterdir())

    result = run([*NEW_PROJECT, "project", "--data-file", "team.yml"], cwd=tmp_path, check=False)

    assert_one_error_line(result, message)
    assert sorted(tmp_path.iterdir()) == before


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, "COPIER_SETTINGS_PATH names {path}, which is not a file: fix the path or unset it"),
        ("defaults: [1\n", "the copier settings file {path} is not valid YAML: expected ','"),
        ("defaults: 3\n", "the copier settings file {path} is not valid: Invalid format: defaults"),
        (
            "defaults:\n  uv_version: '0.1.0'\n",
            "the copier settings file {path} sets defaults.uv_version, a value this template "
            "derives, not a question: delete that line",
        ),
        (
            "defaults:\n  image_flavor: gpu\n",
            "defaults in the copier settings file {path}: Invalid choice for 'image_flavor'",
        ),
    ],
)
def test_bad_copier_settings_get_one_clear_line_and_nothing_written(
    user_settings, tmp_path, content, message
):
    if content is None:
        user_settings.unlink()
    else:
        user_settings.write_text(content)
    before = sorted(tmp_path.iterdir())

    result = run([*NEW_PROJECT, "project"], cwd=tmp_path, check=False)

    assert_one_error_line(result, message.format(path=user_settings))
    assert sorted(tmp_path.iterdir()) == before


def test_a_bad_team_value_is_refused_even_when_copier_runs_it(user_settings, tmp_path):
    """Copier's CLI checks the file's values as it checks --data (with its traceback)."""
    (tmp_path / "team.yml").write_text("image_flavor: gpu\n")

    result = run(
        [tool("copier"), *COPIER_COPY, "--data-file", "team.yml", str(REPO), "project"],
        cwd=tmp_path,
        check=False,
    )

    assert result.returncode != 0
    assert "Invalid choice for 'image_flavor'" in result.stderr
    assert not (tmp_path / "project").exists()
