"""The generated CI: valid, linted, least-privilege, and running the commands our tests run."""

import itertools
import subprocess

import pytest
import yaml

from helpers import FLAVORS, IMAGE_SMOKE_COMMANDS, PROJECT_CHECKS, render, run, tool

GITHUB_FILES = [".github/workflows/ci.yml", ".github/workflows/release.yml"]


@pytest.fixture(scope="module", params=list(itertools.product(FLAVORS, ["github", "gitlab"])))
def project(request, tmp_path_factory):
    flavor, ci = request.param
    project = render(tmp_path_factory.mktemp("ci"), lock=False, image_flavor=flavor, ci=ci)
    # actionlint looks for the workflows of a git repository.
    subprocess.run(["git", "init", "-q"], cwd=project, check=True)
    return ci, project


def workflow(path, name):
    return yaml.safe_load((path / name).read_text())


def test_workflows_and_dependabot_validate_against_their_schemas(project):
    ci, path = project
    if ci == "github":
        run(
            [
                tool("check-jsonschema"),
                "--builtin-schema",
                "vendor.github-workflows",
                *GITHUB_FILES,
            ],
            cwd=path,
        )
        run(
            [
                tool("check-jsonschema"),
                "--builtin-schema",
                "vendor.dependabot",
                ".github/dependabot.yml",
            ],
            cwd=path,
        )
    else:
        run(
            [tool("check-jsonschema"), "--builtin-schema", "vendor.gitlab-ci", ".gitlab-ci.yml"],
            cwd=path,
        )


def test_github_workflows_pass_actionlint_and_zizmor(project):
    ci, path = project
    if ci != "github":
        return
    run([tool("actionlint")], cwd=path)
    result = run([tool("zizmor"), "--offline", ".github"], cwd=path)
    assert "No findings to report" in result.stdout


def test_github_actions_are_pinned_least_privilege_and_credential_free(project):
    ci, path = project
    if ci != "github":
        return
    for name in GITHUB_FILES:
        spec = workflow(path, name)
        assert spec["permissions"] == {}
        for job in spec["jobs"].values():
            assert "packages" not in job["permissions"] or name.endswith("release.yml")
            for step in job["steps"]:
                if "uses" in step:
                    ref = step["uses"].split("@")[1]
                    assert len(ref) == 40, step["uses"]
                if step.get("uses", "").startswith("actions/checkout@"):
                    assert step["with"]["persist-credentials"] is False


def test_ci_runs_the_same_commands_as_our_tests(project):
    ci, path = project
    if ci == "github":
        jobs = workflow(path, GITHUB_FILES[0])["jobs"]
        test_commands = [
            line.strip()
            for step in jobs["test"]["steps"]
            for line in step.get("run", "").splitlines()
        ]
        image_commands = jobs["image"]["steps"][-1]["run"].splitlines()
    else:
        spec = yaml.safe_load((path / ".gitlab-ci.yml").read_text())
        test_commands = spec["test"]["script"][:-1]  # then `uv cache prune --ci`
        image_commands = spec["build-image"]["script"][1:]
    assert test_commands == PROJECT_CHECKS
    assert [command.split()[-1] for command in image_commands] == IMAGE_SMOKE_COMMANDS


def test_images_are_published_for_linux_amd64_on_version_tags(project):
    ci, path = project
    if ci == "github":
        spec = workflow(path, GITHUB_FILES[1])
        assert spec[True]["push"]["tags"] == ["v*"]  # YAML 1.1 reads the key `on` as True
        build = spec["jobs"]["publish"]["steps"][-1]["with"]
        assert build["platforms"] == "linux/amd64" and build["push"] is True
    else:
        spec = yaml.safe_load((path / ".gitlab-ci.yml").read_text())
        assert spec["publish"]["rules"] == [{"if": "$CI_COMMIT_TAG"}]
        assert any("--platform linux/amd64" in line for line in spec["publish"]["script"])


def test_the_templates_own_workflow_runs_ci_run_and_is_clean():
    from helpers import REPO

    spec = yaml.safe_load((REPO / ".github/workflows/ci.yml").read_text())
    assert spec["jobs"]["ci-run"]["steps"][-1]["run"].endswith("bash .ci/run")
    run([tool("actionlint"), ".github/workflows/ci.yml"], cwd=REPO)
    assert "No findings" in run([tool("zizmor"), "--offline", ".github"], cwd=REPO).stdout
