"""What a user runs on a fresh project: its own tests, and a lock that resolves."""

import sys
import tomllib

import pytest

from helpers import (
    PROJECT_CHECKS,
    cpu_torch_wheel_or_skip,
    install_with_cpu_torch,
    project_env,
    render,
    run,
    uv,
)


@pytest.mark.parametrize(
    "answers",
    [
        {},
        {"tracking": "none"},
        {"image_flavor": "cuda"},
        {"image_flavor": "relocated-home", "ci": "gitlab"},
        {"ml_framework": "none", "python_version": "3.12"},
    ],
    ids=["defaults", "tracking-none", "cuda", "relocated-home", "none-py3.12"],
)
def test_the_generated_ci_checks_pass_locally(renders, tmp_path, answers):
    # The exact commands of the generated CI: lint, format check, the project's own tests.
    project = renders.copy(tmp_path / "project", **answers)

    results = [run([uv(), *c.split()[1:]], cwd=project, env=project_env()) for c in PROJECT_CHECKS]

    assert " passed" in results[-1].stdout and "failed" not in results[-1].stdout


def test_the_lock_matches_pyproject(renders):
    project = renders.get()

    run([uv(), "lock", "--check"], cwd=project, env=project_env())
    lock = tomllib.loads((project / "uv.lock").read_text())
    packages = {p["name"] for p in lock["package"]}
    assert {"scikit-learn", "joblib", "numpy", "fastapi", "uvicorn", "mlflow-skinny"} <= packages
    assert "mlflow" not in packages  # the client only: the full package brings a server and UI


@pytest.mark.parametrize(
    ("answers", "index", "url_suffix"),
    [
        ({}, "pytorch-cpu", "/whl/cpu"),
        ({"image_flavor": "relocated-home"}, "pytorch-cu128", "/whl/cu128"),
        (
            {"image_flavor": "relocated-home", "relocated_home_base": "uv"},
            "pytorch-cpu",
            "/whl/cpu",
        ),
        ({"image_flavor": "cuda"}, "pytorch-cu128", "/whl/cu128"),
        ({"image_flavor": "cuda", "cuda_version": "13.0.2"}, "pytorch-cu130", "/whl/cu130"),
        ({"image_flavor": "cuda", "cuda_version": "12.6.3"}, "pytorch-cu126", "/whl/cu126"),
    ],
    ids=["uv", "relocated-home", "relocated-home-uv", "cuda-12.8", "cuda-13.0", "cuda-12.6"],
)
def test_pytorch_comes_from_the_index_that_matches_the_flavor(renders, answers, index, url_suffix):
    project = renders.get(ml_framework="pytorch", **answers)
    pyproject = tomllib.loads((project / "pyproject.toml").read_text())

    assert pyproject["tool"]["uv"]["sources"]["torch"] == [{"index": index}]
    [entry] = pyproject["tool"]["uv"]["index"]
    assert entry["name"] == index
    assert entry["url"].startswith("https://download.pytorch.org") and entry["url"].endswith(
        url_suffix
    )
    assert entry["explicit"] is True
    # The lock resolved (offline, torch from the default index: see helpers.lock_project).
    lock = tomllib.loads((project / "uv.lock").read_text())
    assert "torch" in {p["name"] for p in lock["package"]}


def test_the_pytorch_projects_own_tests_pass_on_a_cpu_build(tmp_path):
    # The PyTorch model's own tests (DataLoader epochs, checkpoint and resume, serving, MLflow)
    # on a CPU build of torch, in a venv made with `uv pip` since the lock names PyTorch's index.
    wheel = cpu_torch_wheel_or_skip()
    python = f"{sys.version_info.major}.{sys.version_info.minor}"
    project = render(
        tmp_path / "project", lock=False, ml_framework="pytorch", python_version=python
    )
    env = project_env()

    install_with_cpu_torch(project, wheel)
    result = run(
        [uv(), "run", "--no-sync", "pytest", "-q", "-p", "no:cacheprovider"],
        cwd=project,
        env=env,
        timeout=900,
    )

    assert " passed" in result.stdout and "failed" not in result.stdout
    installed = run([uv(), "pip", "show", "torch"], cwd=project, env=env).stdout
    assert "+cpu" in installed


@pytest.mark.heavy
def test_the_pytorch_projects_own_tests_pass(tmp_path):
    # Installs the real PyTorch wheels (GBs): needs PyTorch's index, so it runs on request.
    project = render(tmp_path / "project", lock=False, ml_framework="pytorch")
    run([uv(), "lock"], cwd=project, env=project_env())
    run([uv(), "run", "--locked", "pytest", "-q"], cwd=project, env=project_env(), timeout=3600)
