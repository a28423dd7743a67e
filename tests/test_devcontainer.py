"""The dev container builds the project's own Dockerfile: the same Python, uid and base as
production, with the dev group and uv added."""

import json
import re

import pytest

import containers
from docker_cli import build
from helpers import IMAGE_VARIANTS, on_cuda, render

DEVCONTAINER = ".devcontainer/devcontainer.json"


def dockerfile_facts(dockerfile: str) -> dict[str, str]:
    user = re.findall(r"^USER (\d+):", dockerfile, flags=re.M)[-1]
    venv = re.search(r'^ENV PATH="(\S+)/bin:\$PATH"', dockerfile, flags=re.M)[1]
    stages = set(re.findall(r"^FROM \S+ AS (\S+)$", dockerfile, flags=re.M))
    return {"user": user, "venv": venv, "stages": stages}


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
    assert config["containerUser"] == config["remoteUser"] == facts["user"]
    assert config["updateRemoteUserUID"] is False  # the image's uid, not the host user's
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

    assert development["User"] == production["User"]
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
