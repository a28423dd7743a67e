"""The generated CI: valid, linted, least-privilege, and running the commands our tests run."""

import subprocess

import pytest
import yaml

from helpers import FLAVORS, IMAGE_SMOKE_COMMANDS, PROJECT_CHECKS, REPO, render, run, tool

WORKFLOWS = [".github/workflows/ci.yml", ".github/workflows/release.yml"]


def rendered(tmp_path_factory, flavor: str, ci: str):
    project = render(tmp_path_factory.mktemp("ci"), lock=False, image_flavor=flavor, ci=ci)
    # actionlint looks for the workflows of a git repository.
    subprocess.run(["git", "init", "-q"], cwd=project, check=True)
    return project


@pytest.fixture(scope="module", params=FLAVORS)
def github(request, tmp_path_factory):
    return rendered(tmp_path_factory, request.param, "github")


@pytest.fixture(scope="module", params=FLAVORS)
def gitlab(request, tmp_path_factory):
    return rendered(tmp_path_factory, request.param, "gitlab")


def load(path):
    return yaml.safe_load(path.read_text())


def check_schema(schema: str, *files: str, cwd) -> None:
    run([tool("check-jsonschema"), "--builtin-schema", schema, *files], cwd=cwd)


def test_github_workflows_and_dependabot_validate_against_their_schemas(github):
    check_schema("vendor.github-workflows", *WORKFLOWS, cwd=github)
    check_schema("vendor.dependabot", ".github/dependabot.yml", cwd=github)


def test_gitlab_ci_validates_against_its_schema(gitlab):
    check_schema("vendor.gitlab-ci", ".gitlab-ci.yml", cwd=gitlab)


def test_github_workflows_pass_actionlint_and_zizmor(github):
    run([tool("actionlint")], cwd=github)
    assert (
        "No findings to report" in run([tool("zizmor"), "--offline", ".github"], cwd=github).stdout
    )


def test_github_actions_are_pinned_least_privilege_and_credential_free(github):
    for name in WORKFLOWS:
        spec = load(github / name)
        assert spec["permissions"] == {}
        for job in spec["jobs"].values():
            assert "packages" not in job["permissions"] or name.endswith("release.yml")
            for step in job["steps"]:
                if "uses" in step:
                    assert len(step["uses"].split("@")[1]) == 40, step["uses"]
                if step.get("uses", "").startswith("actions/checkout@"):
                    assert step["with"]["persist-credentials"] is False


def test_dependabot_watches_actions_uv_and_base_images(github):
    updates = load(github / ".github/dependabot.yml")["updates"]
    assert {u["package-ecosystem"] for u in updates} == {"github-actions", "uv", "docker"}


def test_github_ci_runs_the_same_commands_as_our_tests(github):
    jobs = load(github / WORKFLOWS[0])["jobs"]
    test_commands = [
        line.strip() for step in jobs["test"]["steps"] for line in step.get("run", "").splitlines()
    ]
    image_commands = jobs["image"]["steps"][-1]["run"].splitlines()

    assert test_commands == PROJECT_CHECKS
    assert [command.split()[-1] for command in image_commands] == IMAGE_SMOKE_COMMANDS
    cache = next(s["with"] for s in jobs["test"]["steps"] if "setup-uv" in s.get("uses", ""))
    assert cache["enable-cache"] is True and cache["cache-dependency-glob"] == "uv.lock"


def test_gitlab_ci_runs_the_same_commands_as_our_tests(gitlab):
    spec = load(gitlab / ".gitlab-ci.yml")

    assert spec["test"]["script"][:-1] == PROJECT_CHECKS  # then `uv cache prune --ci`
    assert spec["test"]["cache"]["key"]["files"] == ["uv.lock"]
    smoke = spec["build-image"]["script"][1:]
    assert [command.split()[-1] for command in smoke] == IMAGE_SMOKE_COMMANDS


def test_github_publishes_linux_amd64_images_on_version_tags(github):
    spec = load(github / WORKFLOWS[1])
    assert spec[True]["push"]["tags"] == ["v*"]  # YAML 1.1 reads the key `on` as True
    build = spec["jobs"]["publish"]["steps"][-1]["with"]
    assert build["platforms"] == "linux/amd64" and build["push"] is True


def test_gitlab_publishes_linux_amd64_images_on_tags(gitlab):
    spec = load(gitlab / ".gitlab-ci.yml")
    assert spec["publish"]["rules"] == [{"if": "$CI_COMMIT_TAG"}]
    assert any("--platform linux/amd64" in line for line in spec["publish"]["script"])


def test_the_templates_own_workflow_runs_ci_run_and_is_clean():
    spec = load(REPO / ".github/workflows/ci.yml")
    assert spec["jobs"]["ci-run"]["steps"][-1]["run"].endswith("bash .ci/run")
    run([tool("actionlint"), ".github/workflows/ci.yml"], cwd=REPO)
    assert "No findings" in run([tool("zizmor"), "--offline", ".github"], cwd=REPO).stdout
