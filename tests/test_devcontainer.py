"""The dev container builds the project's own Dockerfile: the same Python, uid and base as
production, with the dev group and uv added."""

import json
import os
import re
import shlex
import shutil
from pathlib import Path

import pytest

import containers
from docker_cli import build
from helpers import IMAGE_VARIANTS, on_cuda, render

DEVCONTAINER = ".devcontainer/devcontainer.json"


def dockerfile_facts(dockerfile: str) -> dict[str, str]:
    user = re.findall(r"^USER (\d+):", dockerfile, flags=re.M)[-1]
    venv = re.search(r'^ENV PATH="(\S+)/bin:\$PATH"', dockerfile, flags=re.M)[1]
    stages = set(re.findall(r"^FROM \S+ AS (\S+)$", dockerfile, flags=re.M))
    # The dev stage's `useradd ... NAME`, its continued lines joined.
    dev = re.sub(r"\\\n\s*", " ", dockerfile.split("\nFROM builder AS dev\n")[1])
    [useradd] = [shlex.split(c) for c in dev.split("&&") if c.strip().startswith("useradd ")]
    options = dict(zip(useradd, useradd[1:], strict=False))
    return {
        "user": user,
        "venv": venv,
        "stages": stages,
        "dev_user": useradd[-1],
        "dev_uid": options["--uid"],
        "dev_home": options["--home-dir"],
    }


@pytest.mark.parametrize("variant", IMAGE_VARIANTS)
def test_the_devcontainer_builds_the_projects_dockerfile_as_its_user(renders, variant):
    answers = IMAGE_VARIANTS[variant]
    project = renders.get(**answers)
    config = json.loads((project / DEVCONTAINER).read_text())
    facts = dockerfile_facts((project / "Dockerfile").read_text())

    assert (project / ".devcontainer" / config["build"]["dockerfile"]).resolve() == (
        project / "Dockerfile"
    )
    assert (project / ".devcontainer" / config["build"]["context"]).resolve() == project
    assert config["build"]["target"] in facts["stages"]
    # A named user with production's uid, whose uid the dev container tools change to the host
    # user's on Linux (they leave numeric users alone), and whose home holds the venv.
    assert config["containerUser"] == config["remoteUser"] == facts["dev_user"]
    assert config["updateRemoteUserUID"] is True
    assert facts["dev_uid"] == facts["user"]
    assert facts["venv"].startswith(facts["dev_home"] + "/")
    # Ubuntu 24.04's `ubuntu` holds uid 1000, the usual host uid: the tools would keep `app`'s.
    dockerfile = (project / "Dockerfile").read_text()
    assert ("userdel ubuntu" in dockerfile) == on_cuda(answers)
    assert config["containerEnv"]["UV_PROJECT_ENVIRONMENT"] == facts["venv"]
    interpreter = config["customizations"]["vscode"]["settings"]["python.defaultInterpreterPath"]
    assert interpreter == f"{facts['venv']}/bin/python"
    assert ("hostRequirements" in config) == on_cuda(answers)


def test_the_devcontainer_name_survives_any_project_name(tmp_path):
    name = 'Zoë "quoted" \\ <b>&</b> 🚀'
    project = render(tmp_path / "odd", lock=False, project_name=name)

    assert json.loads((project / DEVCONTAINER).read_text())["name"] == name


@pytest.mark.docker
def test_the_dev_stage_builds_and_runs_the_projects_checks_as_the_production_uid(
    projects, images, tmp_path
):
    project = projects["uv"]
    dev = build(project, "copier-uv-mlops-test/uv-dev", "--target", "dev").tag
    production = containers.image_config(images["uv"])
    development = containers.image_config(dev)
    workspace = "/workspaces/project"
    mounts = {str(project): {"bind": workspace, "mode": "ro"}}

    assert development["User"].split(":")[0] == production["User"].split(":")[0]  # the uid
    versions = containers.run(dev, "-c", "import sys; print(sys.version)", entrypoint="python")
    runtime = containers.run(
        images["uv"], "-c", "import sys; print(sys.version)", entrypoint="python"
    )
    assert versions.stdout == runtime.stdout
    tools = containers.run(
        dev, "-c", "uv --version && ruff --version && pytest --version", entrypoint="sh"
    )
    assert "uv 0.13.8" in tools.stdout and "ruff" in tools.stdout and "pytest" in tools.stdout
    checks = containers.run(
        dev,
        "-c",
        "ruff check --no-cache . && python -m pytest -q -p no:cacheprovider tests/test_data.py",
        entrypoint="sh",
        working_dir=workspace,
        volumes=mounts,
        environment={"PYTHONPATH": f"{workspace}/src"},
    )
    assert " passed" in checks.stdout, checks.describe("the project's checks in the dev container")


# What the devcontainer CLI (and VS Code, Codespaces) does on Linux before it starts the dev
# container, per devcontainers/cli's containerFeatures.ts and scripts/updateUID.Dockerfile, here
# in our own words: nothing when updateRemoteUserUID is false or the remote user is root or a
# number; otherwise a one-step image over the dev image that finds the remote user in
# /etc/passwd and, unless it is missing, already has the host's uid and gid, or another user
# holds the host's uid, gives it the host's uid and gid (keeping its gid when another group holds
# the host's), moves the group that had its old gid to the new one, and hands it its home folder.
UPDATE_UID_DOCKERFILE = r"""
ARG BASE_IMAGE
FROM $BASE_IMAGE
USER root
ARG REMOTE_USER
ARG NEW_UID
ARG NEW_GID
RUN entry=$(awk -F: -v name="$REMOTE_USER" '$1 == name {print $3, $4, $6}' /etc/passwd); \
    uid_holder=$(awk -F: -v id="$NEW_UID" '$3 == id {print $1}' /etc/passwd); \
    gid_holder=$(awk -F: -v id="$NEW_GID" '$3 == id {print $1}' /etc/group); \
    set -- $entry; old_uid=$1; old_gid=$2; home=$3; gid=$NEW_GID; \
    if [ -z "$entry" ]; then echo "no user $REMOTE_USER: unchanged"; \
    elif [ "$old_uid:$old_gid" = "$NEW_UID:$NEW_GID" ]; then echo "same ids: unchanged"; \
    elif [ "$old_uid" != "$NEW_UID" ] && [ -n "$uid_holder" ]; then echo "uid taken: $uid_holder"; \
    else \
      if [ "$old_gid" != "$NEW_GID" ] && [ -n "$gid_holder" ]; then gid=$old_gid; fi; \
      awk -F: -v OFS=: -v name="$REMOTE_USER" -v uid="$NEW_UID" -v gid="$gid" \
        '$1 == name {$3 = uid; $4 = gid} {print}' /etc/passwd > /tmp/passwd; \
      awk -F: -v OFS=: -v old="$old_gid" -v gid="$gid" '$3 == old {$3 = gid} {print}' \
        /etc/group > /tmp/group; \
      cat /tmp/passwd > /etc/passwd; cat /tmp/group > /etc/group; rm /tmp/passwd /tmp/group; \
      chown -R "$NEW_UID:$gid" "$home"; \
    fi
ARG IMAGE_USER
USER $IMAGE_USER
"""
HOST_UID = HOST_GID = 1000  # the first user on Linux desktops and in Codespaces


def as_the_devcontainer_cli_starts_it(dev_image: str, config: dict, workdir: Path) -> str:
    """The image the CLI runs for `dev_image` and this devcontainer.json on a Linux host whose
    user is HOST_UID:HOST_GID."""
    user = config.get("remoteUser") or config.get("containerUser")
    if config.get("updateRemoteUserUID") is False or user == "root" or user.isdigit():
        return dev_image
    workdir.mkdir()
    (workdir / "Dockerfile").write_text(UPDATE_UID_DOCKERFILE)
    image_user = containers.image_config(dev_image)["User"] or "root"
    arguments = {
        "BASE_IMAGE": dev_image,
        "REMOTE_USER": user,
        "NEW_UID": HOST_UID,
        "NEW_GID": HOST_GID,
        "IMAGE_USER": image_user,
    }
    options = [
        option for name, value in arguments.items() for option in ("--build-arg", f"{name}={value}")
    ]
    return build(workdir, f"{dev_image}-uid", *options).tag


@pytest.mark.docker
def test_the_dev_container_writes_a_workspace_the_host_user_owns(projects, tmp_path):
    # The workspace is bind-mounted from the host, owned by the host user (uid 1000 here), not
    # by the image's uid: the dev container must be able to write it, and keep its venv writable
    # (postCreateCommand runs `uv sync`).
    project = projects["uv"]
    dev = build(project, "copier-uv-mlops-test/uv-dev", "--target", "dev").tag
    config = json.loads((project / DEVCONTAINER).read_text())
    image = as_the_devcontainer_cli_starts_it(dev, config, tmp_path / "uid")
    workspace = tmp_path / "workspace"
    shutil.copytree(project, workspace, ignore=shutil.ignore_patterns(".venv"))
    for path in [workspace, *workspace.rglob("*")]:
        os.chown(path, HOST_UID, HOST_GID, follow_symlinks=False)
    inside = "/workspaces/project"

    result = containers.run(
        image,
        "-c",
        f"id -u && touch written && {config['postCreateCommand']} && python -c 'import ml_project'",
        entrypoint="sh",
        user=config["containerUser"],
        working_dir=inside,
        volumes={str(workspace): {"bind": inside, "mode": "rw"}},
        environment=config["containerEnv"],
        check=False,
    )

    assert result.exit_code == 0, result.describe("writing the workspace in the dev container")
    assert result.stdout.split()[0] == str(HOST_UID)
    assert (workspace / "written").stat().st_uid == HOST_UID
