"""What a user runs on a fresh project: its own tests, and a lock that resolves to the packages
that the template's release tested."""

import datetime
import re
import shutil
import sys
import tomllib

import pytest

from helpers import (
    IMAGE_VARIANTS,
    NEW_PROJECT,
    PROJECT_CHECKS,
    cpu_torch_wheel_or_skip,
    derived,
    install_with_cpu_torch,
    lock_project,
    locked_version,
    project_env,
    render,
    run,
    uv,
)


def locked_versions(project) -> dict[str, str]:
    lock = tomllib.loads((project / "uv.lock").read_text())
    return {package["name"]: package.get("version", "") for package in lock["package"]}


def test_a_new_project_locks_what_the_release_tested_and_nothing_holds_it_back(tmp_path):
    # The README's quick start, whose `uv lock` task resolves as of copier.yml's cutoff.
    cutoff = derived("uv_exclude_newer")
    assert datetime.datetime.fromisoformat(cutoff).tzinfo is not None, "a moment in UTC"
    project = tmp_path / "project"
    run([*NEW_PROJECT, str(project)], cwd=tmp_path)

    # Exactly what `uv lock --exclude-newer <cutoff>` resolves...
    reference = tmp_path / "reference"
    shutil.copytree(project, reference)
    (reference / "uv.lock").unlink()
    run([uv(), "lock", "--quiet", "--exclude-newer", cutoff], cwd=reference, env=project_env())
    assert locked_versions(project) == locked_versions(reference)
    # ...without the cutoff recorded anywhere: `uv sync --locked` and `uv lock --check` pass as
    # they are, and `uv lock --upgrade` and Dependabot move the project forward as usual.
    assert "exclude-newer" not in (project / "uv.lock").read_text()
    assert "exclude-newer" not in (project / "pyproject.toml").read_text()
    run([uv(), "lock", "--check"], cwd=project, env=project_env())


# The server's stop and port handling, and the tracking server's retries and store creation: the
# same code whatever the model and the task (model.py is the only framework file they reach).
# The defaults suite runs them; the others skip them, for CI's time (about a minute each).
SAME_FOR_EVERY_MODEL = [
    f"--deselect=tests/{name}"
    for name in (
        "test_serving.py::test_sigterm_under_keep_alive_load_loses_no_request",
        "test_serving.py::test_sigterm_drains_requests_in_flight_then_exits_0",
        "test_serving.py::test_a_busy_port_is_one_line_error_not_a_traceback",
        "test_tracking.py::test_two_runs_starting_on_a_fresh_output_dir_both_succeed",
        "test_tracking.py::test_an_unreachable_tracking_server_is_one_error_line_and_exit_75",
        "test_tracking.py::test_an_unreachable_tracking_server_is_retried_for_tracking_retry_seconds",
    )
]


# One project per distinct set of Python files: the image flavor and the CI service change none
# (test_the_flavor_and_ci_change_no_python_file), so their suites would prove nothing new. The
# task is crossed with the other answers rather than multiplied by them (CI's time): regression
# runs with scikit-learn without tracking and with the NumPy model with MLflow; each model's
# other task is checked below.
@pytest.mark.timing
@pytest.mark.parametrize(
    "answers",
    [
        {},
        {"tracking": "none", "task": "regression"},
        {"ml_framework": "none", "python_version": "3.12", "task": "regression"},
    ],
    ids=["defaults", "tracking-none-regression", "none-py3.12-regression"],
)
def test_the_generated_ci_checks_pass_locally(renders, tmp_path, answers):
    # The exact commands of the generated CI: lint, format check, the project's own tests (past
    # the defaults, less SAME_FOR_EVERY_MODEL).
    project = renders.copy(tmp_path / "project", **answers)
    checks = [command.split()[1:] for command in PROJECT_CHECKS]
    if answers:
        checks[-1] += SAME_FOR_EVERY_MODEL

    results = [run([uv(), *check], cwd=project, env=project_env()) for check in checks]

    assert " passed" in results[-1].stdout and "failed" not in results[-1].stdout
    assert (" deselected" in results[-1].stdout) == bool(answers)


# What changes with the task, apart from the suites above: the model, and training on a table.
MODEL_TESTS = ["tests/test_model.py", "tests/test_contract.py"]


def test_the_numpy_classifier_passes_its_model_and_contract_tests(renders, tmp_path):
    project = renders.copy(tmp_path / "project", ml_framework="none", tracking="none")

    command = [uv(), "run", "--locked", "pytest", "-q", "-p", "no:cacheprovider", *MODEL_TESTS]
    result = run(command, cwd=project, env=project_env())

    assert " passed" in result.stdout and "failed" not in result.stdout


def python_files(project) -> dict[str, str]:
    """The project's Python code, tests, pyproject and Python version, by path; the template
    version that provenance.py records (a commit, different for every dirty render) left out."""
    names = [*project.glob("**/*.py"), project / "pyproject.toml", project / ".python-version"]
    return {
        str(path.relative_to(project)): re.sub(r'TEMPLATE_VERSION = ".*"', "", path.read_text())
        for path in names
        if ".venv" not in path.parts
    }


@pytest.mark.parametrize(
    "answers",
    [*(answers for name, answers in IMAGE_VARIANTS.items() if name != "uv"), {"ci": "gitlab"}],
    ids=[*(name for name in IMAGE_VARIANTS if name != "uv"), "gitlab"],
)
def test_the_flavor_and_ci_change_no_python_file(renders, answers):
    assert python_files(renders.get(**answers)) == python_files(renders.get())


def test_the_lock_matches_pyproject(renders):
    project = renders.get()

    run([uv(), "lock", "--check"], cwd=project, env=project_env())
    lock = tomllib.loads((project / "uv.lock").read_text())
    packages = {p["name"] for p in lock["package"]}
    assert {"scikit-learn", "joblib", "numpy", "fastapi", "uvicorn", "mlflow-skinny"} <= packages
    assert "mlflow" not in packages  # the client only: the full package brings a server and UI
    # compose.yaml's MLflow server (copier.yml's mlflow_version) is of the client's minor
    # version: a store that a newer MLflow wrote is refused by an older one.
    server_minor = derived("mlflow_version").rsplit(".", 1)[0]
    assert locked_version(project, "mlflow-skinny").startswith(f"{server_minor}.")
    assert (
        f"ghcr.io/mlflow/mlflow:v{derived('mlflow_version')}"
        in (project / "compose.yaml").read_text()
    )


@pytest.mark.parametrize("tracking", ["mlflow", "none"])
def test_with_mlflow_the_image_has_an_s3_client_and_the_readme_names_its_variables(
    renders, tracking
):
    # mlflow-skinny has no S3 client: without boto3 a model cannot reach an S3 artifact store.
    # The project's own tests/test_tracking.py signs an upload for an S3-compatible endpoint.
    project = renders.get(tracking=tracking)
    packages = {p["name"] for p in tomllib.loads((project / "uv.lock").read_text())["package"]}
    readme = (project / "README.md").read_text()
    variables = [
        "MLFLOW_S3_ENDPOINT_URL",
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        "AWS_DEFAULT_REGION",
        "MLFLOW_S3_IGNORE_TLS",
    ]

    assert ("boto3" in packages) == (tracking == "mlflow")
    assert all((f"`{name}`" in readme) == (tracking == "mlflow") for name in variables)
    assert ("https://s3.gra.io.cloud.ovh.net" in readme) == (tracking == "mlflow")


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

    # Linux only (uv's PyTorch guide): macOS and Windows lock and sync PyPI's torch.
    linux = "sys_platform == 'linux'"
    assert pyproject["tool"]["uv"]["sources"]["torch"] == [{"index": index, "marker": linux}]
    [entry] = pyproject["tool"]["uv"]["index"]
    assert entry["name"] == index
    assert entry["url"].startswith("https://download.pytorch.org") and entry["url"].endswith(
        url_suffix
    )
    assert entry["explicit"] is True
    # The lock resolved (offline, torch from the default index: see helpers.lock_project).
    lock = tomllib.loads((project / "uv.lock").read_text())
    assert "torch" in {p["name"] for p in lock["package"]}


def test_pytorchs_index_serves_linux_and_pypi_every_other_platform(tmp_path):
    # Locked with the sources, PyTorch's index redirected to PyPI by name (it is out of reach
    # here): the lock takes torch from that index on Linux and from PyPI elsewhere.
    project = render(tmp_path / "project", lock=False, ml_framework="pytorch", image_flavor="cuda")
    redirect = ["--index", "pytorch-cu128=https://pypi.org/simple"]
    run([uv(), "lock", "--quiet", *redirect], cwd=project, env=project_env())

    lock = tomllib.loads((project / "uv.lock").read_text())
    [ours] = [p for p in lock["package"] if p["name"] == "ml-project"]
    torch = {r.get("marker"): r for r in ours["metadata"]["requires-dist"] if r["name"] == "torch"}
    assert torch["sys_platform == 'linux'"]["index"] == "https://pypi.org/simple"
    assert "index" not in torch["sys_platform != 'linux'"]


# The portable-model test installs the project's torch build into a fresh environment from
# PyTorch's own index, unreachable here; test_the_pytorch_projects_own_tests_pass runs it there.
NEEDS_PYTORCHS_INDEX = [
    "--deselect=tests/test_tracking.py"
    "::test_the_registered_model_loads_where_only_mlflow_and_its_framework_are"
]


@pytest.mark.timing
def test_the_pytorch_projects_own_tests_pass_on_a_cpu_build(tmp_path):
    # The PyTorch model's own tests (DataLoader epochs, checkpoint and resume, serving, MLflow)
    # on a CPU build of torch, in a venv made with `uv pip` since the lock names PyTorch's index.
    wheel = cpu_torch_wheel_or_skip()
    python = f"{sys.version_info.major}.{sys.version_info.minor}"
    # Locked like any project (torch from the default index offline: see lock_project), for the
    # tests that read uv.lock; the venv is still made from the CPU wheel.
    project = render(tmp_path / "project", ml_framework="pytorch", python_version=python)
    env = project_env()

    install_with_cpu_torch(project, wheel)
    result = run(
        [uv(), "run", "--no-sync", "pytest", "-q", "-p", "no:cacheprovider"]
        + [*SAME_FOR_EVERY_MODEL, *NEEDS_PYTORCHS_INDEX],
        cwd=project,
        env=env,
        timeout=900,
    )

    assert " passed" in result.stdout and "failed" not in result.stdout
    deselected = len(SAME_FOR_EVERY_MODEL) + len(NEEDS_PYTORCHS_INDEX)
    assert f"{deselected} deselected" in result.stdout  # the names still exist
    installed = run([uv(), "pip", "show", "torch"], cwd=project, env=env).stdout
    assert "+cpu" in installed
    # The regression network, on the same venv: its package comes first on PYTHONPATH.
    regression = render(
        tmp_path / "regression",
        lock=False,
        ml_framework="pytorch",
        python_version=python,
        task="regression",
    )
    python_in_venv = str(project / ".venv" / "bin" / "python")
    result = run(
        [python_in_venv, "-m", "pytest", "-q", "-p", "no:cacheprovider", *MODEL_TESTS],
        cwd=regression,
        env={**env, "PYTHONPATH": str(regression / "src")},
        timeout=600,
    )
    assert " passed" in result.stdout and "failed" not in result.stdout


@pytest.mark.heavy
def test_the_pytorch_projects_own_tests_pass(tmp_path):
    # Installs the real PyTorch wheels (GBs): needs PyTorch's index, so it runs on request.
    project = render(tmp_path / "project", lock=False, ml_framework="pytorch")
    lock_project(project, sources=True)
    run([uv(), "run", "--locked", "pytest", "-q"], cwd=project, env=project_env(), timeout=3600)
