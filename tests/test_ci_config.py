"""The generated CI: valid, linted, least-privilege, running the commands our tests run, warning
when the project drifts behind the template, proposing template updates as one pull or merge
request, and publishing multi-platform images with an SBOM, provenance and a signature."""

import os
import re
import shutil
import subprocess
import tomllib
from pathlib import Path

import pytest
import yaml

from helpers import FLAVORS, IMAGE_SMOKE_COMMANDS, PROJECT_CHECKS, REPO, derived, render, run, tool

CI, RELEASE, TEMPLATE_UPDATE = (
    ".github/workflows/ci.yml",
    ".github/workflows/release.yml",
    ".github/workflows/template-update.yml",
)
WORKFLOWS = [CI, RELEASE, TEMPLATE_UPDATE]
# The only write permissions each workflow's jobs hold; everything else is read or absent.
WRITES = {
    CI: set(),
    RELEASE: {"packages", "id-token", "attestations"},
    TEMPLATE_UPDATE: {"contents", "pull-requests"},
}
SCHEDULED_UPDATE = '$CI_PIPELINE_SOURCE == "schedule" && $TEMPLATE_UPDATE == "true"'


IMAGE_PLATFORMS = derived("image_platforms")
COPIER_COMMAND = derived("copier_command")


def rendered(tmp_path_factory, flavor: str, ci: str, **answers: str) -> Path:
    project = render(
        tmp_path_factory.mktemp("ci"), lock=False, image_flavor=flavor, ci=ci, **answers
    )
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


def steps(spec: dict):
    return [step for job in spec["jobs"].values() for step in job["steps"]]


def step_using(spec: dict, action: str) -> dict:
    return next(step for step in steps(spec) if step.get("uses", "").startswith(action + "@"))


def step_named(spec: dict, name: str) -> dict:
    return next(step for step in steps(spec) if step.get("name") == name)


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


def test_github_actions_are_pinned_and_checkouts_keep_no_credentials(github):
    for name in WORKFLOWS:
        spec = load(github / name)
        assert spec["permissions"] == {}
        for step in steps(spec):
            if "uses" in step:
                assert len(step["uses"].split("@")[1]) == 40, step["uses"]
            if step.get("uses", "").startswith("actions/checkout@"):
                assert step["with"]["persist-credentials"] is False


def test_github_jobs_write_only_what_their_workflow_needs(github):
    for name, allowed in WRITES.items():
        writes = set()
        for job in load(github / name)["jobs"].values():
            assert set(job["permissions"].values()) <= {"read", "write"}
            writes |= {scope for scope, level in job["permissions"].items() if level == "write"}
        assert writes == allowed, name


def test_github_scripts_take_expressions_through_the_environment_only(github):
    for name in WORKFLOWS:
        for step in steps(load(github / name)):
            assert "${{" not in step.get("run", ""), (name, step.get("name"))


def test_dependabot_watches_actions_uv_base_images_and_the_mlflow_servers(github):
    config = load(github / ".github/dependabot.yml")
    updates = {(u["package-ecosystem"], u["directory"]): u for u in config["updates"]}
    assert set(updates) == {
        ("github-actions", "/"),
        ("uv", "/"),
        ("docker", "/"),
        ("docker-compose", "/"),
        ("docker", "/deploy/kubernetes/mlflow"),
    }
    # The locked client and the MLflow servers of compose and Kubernetes move in one pull
    # request; the Kubernetes directory names no other image.
    [group] = config["multi-ecosystem-groups"]
    for grouped in [("uv", "/"), ("docker-compose", "/"), ("docker", "/deploy/kubernetes/mlflow")]:
        assert updates[grouped]["multi-ecosystem-group"] == group
        assert updates[grouped]["patterns"] == ["*"]
    manifests = sorted((github / "deploy/kubernetes/mlflow").glob("*.yaml"))
    images = {i for m in manifests for i in re.findall(r"^ +image: (\S+)", m.read_text(), re.M)}
    assert len(images) == 1 and images.pop().split(":")[0].endswith("/mlflow/mlflow")


def test_without_mlflow_dependabot_has_no_compose_group(tmp_path_factory):
    project = rendered(tmp_path_factory, "uv", "github", tracking="none")
    check_schema("vendor.dependabot", ".github/dependabot.yml", cwd=project)
    config = load(project / ".github/dependabot.yml")
    assert "multi-ecosystem-groups" not in config
    assert {u["package-ecosystem"] for u in config["updates"]} == {"github-actions", "uv", "docker"}


def test_github_ci_runs_the_same_commands_as_our_tests(github):
    jobs = load(github / CI)["jobs"]
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


def test_the_ci_copier_is_the_one_this_repository_locks():
    lock = tomllib.loads((REPO / "uv.lock").read_text())
    locked = {package["name"]: package["version"] for package in lock["package"]}

    expected = (
        f"uvx --from copier=={locked['copier']} "
        f"--with copier-template-extensions=={locked['copier-template-extensions']} copier"
    )
    assert expected == COPIER_COMMAND


# Release images: every platform the base image publishes, an SBOM, max-mode provenance, signed.


@pytest.mark.parametrize(
    "answers",
    [
        *({"image_flavor": flavor} for flavor in FLAVORS),
        {"image_flavor": "cuda", "cuda_version": "13.0.2", "ubuntu_version": "22.04"},
        {"image_flavor": "cuda", "cuda_version": "12.6.3", "ubuntu_version": "24.04"},
    ],
    ids=lambda answers: "-".join(answers.values()),
)
def test_releases_build_linux_amd64_and_arm64_for_every_base_image(tmp_path, answers):
    # Astral's uv images and NVIDIA's CUDA runtime tags (each cuda_version x ubuntu_version
    # offered) are multi-arch manifests: copier.yml, image_platforms.
    assert IMAGE_PLATFORMS == "linux/amd64,linux/arm64"
    github = render(tmp_path / "github", lock=False, ci="github", **answers)
    gitlab = render(tmp_path / "gitlab", lock=False, ci="gitlab", **answers)

    build = step_using(load(github / RELEASE), "docker/build-push-action")["with"]
    assert build["platforms"] == IMAGE_PLATFORMS
    publish = " ".join(load(gitlab / ".gitlab-ci.yml")["publish"]["script"])
    assert f"--platform {IMAGE_PLATFORMS} " in publish
    assert "--install arm64" in publish  # QEMU for the platform the runner is not


def test_github_publishes_signed_images_with_sbom_and_provenance_on_version_tags(github):
    spec = load(github / RELEASE)
    assert spec[True]["push"]["tags"] == ["v*"]  # YAML 1.1 reads the key `on` as True
    names = [step.get("uses", "").split("@")[0] or step.get("name") for step in steps(spec)]
    build = step_using(spec, "docker/build-push-action")
    assert build["with"]["push"] is True
    assert build["with"]["sbom"] is True and build["with"]["provenance"] == "mode=max"
    assert names.index("docker/setup-qemu-action") < names.index("docker/build-push-action")

    sign = step_named(spec, "Sign the image")
    assert names.index("sigstore/cosign-installer") < names.index("Sign the image")
    assert sign["run"] == 'cosign sign --yes "${IMAGE}@${DIGEST}"'
    assert sign["env"]["DIGEST"] == "${{ steps.build.outputs.digest }}"
    attest = step_using(spec, "actions/attest-build-provenance")["with"]
    assert attest["subject-digest"] == sign["env"]["DIGEST"]
    assert attest["push-to-registry"] is True


def test_gitlab_publishes_signed_images_with_sbom_and_provenance_on_tags(gitlab):
    publish = load(gitlab / ".gitlab-ci.yml")["publish"]
    script = "\n".join(publish["script"])
    assert publish["rules"] == [{"if": "$CI_COMMIT_TAG"}]
    assert "--sbom=true --provenance=mode=max --push" in script
    assert publish["id_tokens"] == {"SIGSTORE_ID_TOKEN": {"aud": "sigstore"}}
    assert 'cosign sign --yes "$CI_REGISTRY_IMAGE@$digest"' in script


def test_the_readme_says_how_to_verify_the_image(github, gitlab):
    for project, identity in [
        (github, "/.github/workflows/release.yml@refs/tags/v"),
        (gitlab, "//.gitlab-ci.yml@refs/tags/v"),
    ]:
        readme = (project / "README.md").read_text()
        verifying = readme.split("## Verifying images")[1].split("\n## ")[0]
        assert "cosign verify" in verifying and "--certificate-oidc-issuer" in verifying
        assert identity.replace(".", r"\.") in verifying
        assert "docker buildx imagetools inspect" in verifying
    assert "gh attestation verify" in (github / "README.md").read_text()


# Template drift: a warning in the normal CI, never a failure.


@pytest.fixture(scope="module")
def github_uv(tmp_path_factory):
    return rendered(tmp_path_factory, "uv", "github")


@pytest.fixture(scope="module")
def gitlab_uv(tmp_path_factory):
    return rendered(tmp_path_factory, "uv", "gitlab")


def fake_copier(directory: Path, status: int) -> dict[str, str]:
    """An environment whose `uvx` (the CI's copier) only exits with `status`."""
    directory.mkdir(exist_ok=True)
    uvx = directory / "uvx"
    uvx.write_text(f"#!/bin/sh\nexit {status}\n")
    uvx.chmod(0o755)
    return {**os.environ, "PATH": f"{directory}{os.pathsep}{os.environ['PATH']}"}


def bash(script: str, cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess:
    """As the CI runners run a script: bash, stopping at the first failing command."""
    return subprocess.run(
        ["bash", "--noprofile", "--norc", "-eo", "pipefail", "-c", script],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )


@pytest.mark.parametrize(
    ("copier_status", "warning"),
    [(0, None), (2, "Template update available"), (1, "Template drift not checked")],
)
def test_github_drift_check_warns_and_never_fails(github_uv, tmp_path, copier_status, warning):
    job = load(github_uv / CI)["jobs"]["template-drift"]
    script = job["steps"][-1]["run"]
    assert f"{COPIER_COMMAND} check-update --quiet" in script
    assert job["continue-on-error"] is True

    result = bash(script, github_uv, fake_copier(tmp_path, copier_status))

    assert result.returncode == 0, result.stderr
    if warning:
        assert f"::warning title={warning}::" in result.stdout
    else:
        assert "::warning" not in result.stdout


@pytest.mark.parametrize(("copier_status", "job_status"), [(0, 0), (2, 2), (1, 3)])
def test_gitlab_drift_check_fails_only_with_its_allowed_exit_codes(
    gitlab_uv, tmp_path, copier_status, job_status
):
    spec = load(gitlab_uv / ".gitlab-ci.yml")
    job = spec["template-drift"]
    assert f"{COPIER_COMMAND} check-update --quiet" in job["script"][1]
    assert job["allow_failure"] == {"exit_codes": [2, 3]}
    assert job["rules"] == [{"if": '$CI_COMMIT_BRANCH && $TEMPLATE_UPDATE != "true"'}]

    result = bash("\n".join(job["script"]), gitlab_uv, fake_copier(tmp_path, copier_status))

    assert result.returncode == job_status, result.stderr


# Template updates: one pull or merge request on a fixed branch, conflicts named.


def test_github_template_update_runs_weekly_and_on_demand(github):
    spec = load(github / TEMPLATE_UPDATE)
    assert set(spec[True]) == {"schedule", "workflow_dispatch"}
    [schedule] = spec[True]["schedule"]
    minute, hour, day, month, weekday = schedule["cron"].split()
    assert (day, month) == ("*", "*") and weekday.isdigit()  # once a week
    job = spec["jobs"]["update"]
    assert job["env"]["BRANCH"] == "template-update"
    assert f"{COPIER_COMMAND} update --trust --defaults" in step_named(spec, "copier update")["run"]
    push = step_named(spec, "Push the branch and open or refresh the pull request")
    assert push["env"]["GH_TOKEN"] == "${{ secrets.TEMPLATE_UPDATE_TOKEN || github.token }}"


def test_gitlab_template_update_runs_only_in_its_schedule(gitlab):
    job = load(gitlab / ".gitlab-ci.yml")["template-update"]
    assert job["rules"] == [{"if": SCHEDULED_UPDATE}]
    assert job["variables"]["BRANCH"] == "template-update"
    assert f"{COPIER_COMMAND} update --trust --defaults" in job["script"]


def git(cwd: Path, *args: str) -> str:
    return run(
        ["git", "-c", "user.name=Test", "-c", "user.email=test@example.com", *args], cwd=cwd
    ).stdout


@pytest.fixture(scope="module")
def released_template(tmp_path_factory) -> Path:
    """This template as two scratch releases: v1.0.0, and v1.1.0, which renames the README's
    "Develop" heading."""
    repo = tmp_path_factory.mktemp("template") / "copier-uv-mlops"
    ignore = shutil.ignore_patterns(".git", ".venv", "__pycache__", ".pytest_cache", ".ruff_cache")
    shutil.copytree(REPO, repo, ignore=ignore)
    git(repo, "init", "-q", "-b", "main")
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "v1.0.0")
    git(repo, "tag", "v1.0.0")
    readme = repo / "template" / "README.md.jinja"
    readme.write_text(readme.read_text().replace("\n## Develop\n", "\n## Develop locally\n"))
    git(repo, "commit", "-q", "-am", "v1.1.0")
    git(repo, "tag", "v1.1.0")
    return repo


def team_project(template: Path, destination: Path, ci: str, ref: str, heading: str = "") -> Path:
    """A project at `ref`, committed, its README's "Develop" heading changed to `heading`."""
    project = render(destination, lock=False, template=template, ref=ref, ci=ci)
    # A lock of its own, as every project has: the template's `uv lock` task then stays idle.
    (project / "uv.lock").write_text("version = 1\n")
    if heading:
        readme = project / "README.md"
        readme.write_text(readme.read_text().replace("\n## Develop\n", f"\n## {heading}\n"))
    git(project, "init", "-q", "-b", "main")
    git(project, "add", "-A")
    git(project, "commit", "-q", "-m", "Our project")
    return project


def run_ci_script(script: str, project: Path, tmp_path: Path, **env: str):
    """The CI's script, with this environment's copier for the pinned one that uvx would fetch."""
    assert COPIER_COMMAND in script
    script = script.replace(COPIER_COMMAND, tool("copier"))
    return bash(script, project, {**os.environ, "TMPDIR": str(tmp_path), **env})


def github_update(project: Path, tmp_path: Path) -> tuple[subprocess.CompletedProcess, Path]:
    """The workflow's `copier update` step in `project`; the result and the runner's temp dir."""
    spec = load(project / TEMPLATE_UPDATE)
    runner_temp = tmp_path / "runner"
    runner_temp.mkdir()
    result = run_ci_script(
        step_named(spec, "copier update")["run"],
        project,
        tmp_path,
        BRANCH=spec["jobs"]["update"]["env"]["BRANCH"],
        RUNNER_TEMP=str(runner_temp),
        GITHUB_OUTPUT=str(runner_temp / "output"),
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return result, runner_temp


def test_github_update_commits_to_its_branch_and_names_the_conflicts(released_template, tmp_path):
    project = team_project(released_template, tmp_path / "p", "github", "v1.0.0", "Develop (ours)")

    _, runner_temp = github_update(project, tmp_path)

    assert git(project, "branch", "--show-current").strip() == "template-update"
    assert git(project, "status", "--porcelain") == ""
    title = "Update from the template to v1.1.0"
    assert git(project, "log", "-1", "--format=%s").strip() == title
    assert (runner_temp / "output").read_text() == f"title={title}\n"
    assert "<<<<<<< before updating" in (project / "README.md").read_text()
    body = (runner_temp / "body.md").read_text()
    assert "**Conflicts:**" in body and "\n- `README.md`\n" in body


def test_github_update_without_conflicts_says_so(released_template, tmp_path):
    project = team_project(released_template, tmp_path / "p", "github", "v1.0.0")

    _, runner_temp = github_update(project, tmp_path)

    assert "\n## Develop locally\n" in (project / "README.md").read_text()
    body = (runner_temp / "body.md").read_text()
    assert "No conflicts" in body and "Conflicts:" not in body


def test_github_update_on_the_newest_release_proposes_nothing(released_template, tmp_path):
    project = team_project(released_template, tmp_path / "p", "github", "v1.1.0")
    before = git(project, "rev-parse", "HEAD")

    result, runner_temp = github_update(project, tmp_path)

    assert "nothing to propose" in result.stdout
    assert git(project, "rev-parse", "HEAD") == before
    assert not (runner_temp / "output").exists()


@pytest.mark.parametrize(("release", "status"), [("v1.0.0", 2), ("v1.1.0", 0)])
def test_copier_check_update_exits_2_behind_the_newest_release_and_0_on_it(
    released_template, tmp_path, release, status
):
    project = team_project(released_template, tmp_path / "p", "github", release)
    script = load(project / CI)["jobs"]["template-drift"]["steps"][-1]["run"]

    result = run_ci_script(script, project, tmp_path)

    assert result.returncode == 0, result.stderr
    assert ("::warning title=Template update available::" in result.stdout) == (status == 2)
    check = [tool("copier"), "check-update", "--quiet"]
    assert run(check, cwd=project, check=False).returncode == status


def test_gitlab_update_commits_to_its_branch_and_names_the_conflicts(released_template, tmp_path):
    project = team_project(released_template, tmp_path / "p", "gitlab", "v1.0.0", "Develop (ours)")
    job = load(project / ".gitlab-ci.yml")["template-update"]
    # Everything before the push, which needs a GitLab server.
    local = [line for line in job["script"] if not line.startswith("git push")]
    local = local[: next(i for i, line in enumerate(local) if line.startswith("api="))]

    result = run_ci_script(
        "\n".join(local), project, tmp_path, TEMPLATE_UPDATE_TOKEN="token", **job["variables"]
    )

    assert result.returncode == 0, result.stdout + result.stderr
    assert git(project, "branch", "--show-current").strip() == "template-update"
    assert git(project, "log", "-1", "--format=%s").strip() == "Update from the template to v1.1.0"
    [description] = tmp_path.glob("tmp.*/description.md")
    assert "\n- `README.md`\n" in description.read_text()


def test_no_generated_file_looks_like_a_conflict(github, gitlab):
    # The update jobs, and users, find conflicts by their markers: none may be there before.
    for project in (github, gitlab):
        found = run(["git", "grep", "--untracked", "-nE", "<{7}|>{7}"], cwd=project, check=False)
        assert found.stdout == "", found.stdout


def test_the_readme_says_what_template_updates_need(github, gitlab):
    github_readme = (github / "README.md").read_text()
    assert "Allow GitHub Actions to create and approve" in github_readme
    assert "TEMPLATE_UPDATE_TOKEN" in github_readme and "starts no workflows" in github_readme
    gitlab_readme = (gitlab / "README.md").read_text()
    assert "`api`" in gitlab_readme and "`write_repository`" in gitlab_readme
    assert "`TEMPLATE_UPDATE`" in gitlab_readme and "`TEMPLATE_UPDATE_TOKEN`" in gitlab_readme
    for readme in (github_readme, gitlab_readme):
        assert "Renovate's `copier` manager" in readme


def test_the_templates_own_workflow_runs_ci_run_and_is_clean():
    spec = load(REPO / ".github/workflows/ci.yml")
    assert spec["jobs"]["ci-run"]["steps"][-1]["run"].endswith("bash .ci/run")
    run([tool("actionlint"), ".github/workflows/ci.yml"], cwd=REPO)
    assert "No findings" in run([tool("zizmor"), "--offline", ".github"], cwd=REPO).stdout


# Every image records its commit: build argument GIT_COMMIT (training runs read it) and the OCI
# revision label (the Dockerfile sets it from the same argument).


def test_the_dockerfile_labels_the_image_with_the_commit_it_is_given(github):
    dockerfile = (github / "Dockerfile").read_text()
    runtime = dockerfile.split("\n# The image that runs")[1]
    argument = runtime.index('ARG GIT_COMMIT=""')
    assert runtime.index("LABEL org.opencontainers.image.revision=$GIT_COMMIT") > argument
    assert runtime.index("ENV GIT_COMMIT=$GIT_COMMIT") > argument


def test_every_image_the_ci_and_compose_build_records_its_commit(github, gitlab):
    for name in (CI, RELEASE):
        builds = [s for s in steps(load(github / name)) if "build-push-action" in s.get("uses", "")]
        assert builds, name
        for build in builds:
            assert build["with"]["build-args"] == "GIT_COMMIT=${{ github.sha }}", name
    script = [
        line
        for job in load(gitlab / ".gitlab-ci.yml").values()
        if isinstance(job, dict)
        for line in job.get("script", [])
        if re.match(r"docker (buildx )?build ", line)
    ]
    assert len(script) == 2  # build-image, publish
    for line in script:
        assert '--build-arg GIT_COMMIT="$CI_COMMIT_SHA"' in line, line
    compose = load(github / "compose.yaml")
    built = [service for service in compose["services"].values() if "build" in service]
    assert built
    for service in built:
        assert service["build"]["args"] == {"GIT_COMMIT": "${GIT_COMMIT:-}"}


def test_gitlab_publishes_the_version_tag_the_deploy_files_name(gitlab_uv, tmp_path):
    # Tag v0.1.0 publishes :0.1.0, as GitHub's metadata-action does (`{{version}}`) and as the
    # Kubernetes manifests and deploy/ovhcloud.sh ask for.
    publish = load(gitlab_uv / ".gitlab-ci.yml")["publish"]
    [naming] = [line for line in publish["script"] if line.startswith("IMAGE=")]
    env = {**os.environ, "CI_REGISTRY_IMAGE": "registry.example.com/g/p", "CI_COMMIT_TAG": "v0.1.0"}

    result = bash(f'{naming}\necho "$IMAGE"', gitlab_uv, env)

    kustomization = load(gitlab_uv / "deploy/kubernetes/kustomization.yaml")
    [image] = kustomization["images"]
    assert result.stdout.strip() == f"registry.example.com/g/p:{image['newTag']}"
    assert "${IMAGE_TAG:-" + image["newTag"] + "}" in (gitlab_uv / "deploy/ovhcloud.sh").read_text()
