"""Every flavor's image builds and runs: offline, non-root, fast to rebuild, quick to stop."""

import json
import time
import urllib.error
import urllib.request

import pytest

from docker_cli import (
    DEPENDENCY_STEP,
    build,
    docker,
    ensure_base_images,
    free_port,
    image_config,
)
from helpers import FLAVORS, render, run, uv, wait_for

pytestmark = pytest.mark.docker

UID = {"uv": "10001", "cuda": "10001", "relocated-home": "42420"}
APP_DIR = {"uv": "/app", "cuda": "/app", "relocated-home": "/workspace"}
HOME = {"uv": "/home/app", "cuda": "/home/app", "relocated-home": "/workspace"}


def container_run(image: str, *args: str, options: tuple[str, ...] = (), check: bool = True):
    return docker("run", "--rm", "--network", "host", *options, image, *args, check=check)


@pytest.mark.parametrize("flavor", FLAVORS)
def test_image_runs_as_a_numeric_non_root_user_with_oci_labels(images, flavor):
    config = image_config(images[flavor])

    assert config["User"].split(":")[0] == UID[flavor]
    assert config["Entrypoint"] == ["python", "main.py"]
    assert config["Cmd"] == ["serve"]
    assert config["Labels"]["org.opencontainers.image.title"] == "ML Project"
    assert config["Healthcheck"]["Test"] == ["CMD", "python", "main.py", "healthcheck"]


@pytest.mark.parametrize("flavor", FLAVORS)
def test_info_reports_python_user_gpu_and_writable_outputs(images, flavor):
    output = container_run(images[flavor], "info").stdout

    assert "python      3.13" in output
    assert f"uid {UID[flavor]}" in output
    assert "gpu         none visible: training runs on the CPU" in output
    assert f"home        {HOME[flavor]}" in output
    assert f"{APP_DIR[flavor]}/outputs (writable)" in output


@pytest.mark.parametrize("flavor", FLAVORS)
def test_train_writes_the_model_and_metrics_without_network(images, tmp_path, flavor):
    name = f"train-{flavor}-{time.monotonic_ns()}"
    try:
        result = docker("run", "--name", name, "--network", "none", images[flavor], "train")
        docker("cp", f"{name}:{APP_DIR[flavor]}/outputs", str(tmp_path / "outputs"))
    finally:
        docker("rm", "-f", name, check=False)

    assert "No GPU visible: training on the CPU." in result.stderr
    assert json.loads((tmp_path / "outputs" / "metrics.json").read_text())["accuracy"] > 0.8
    assert (tmp_path / "outputs" / "model.joblib").stat().st_size > 0


@pytest.mark.parametrize("flavor", FLAVORS)
@pytest.mark.parametrize("user", ["123456:0", "42420:42420", "2000:2000"])
def test_runs_under_any_uid_a_platform_assigns(images, flavor, user):
    # OpenShift: a random uid in group 0; OVHcloud: 42420; Kubernetes: whatever runAsUser says.
    result = container_run(images[flavor], "train", options=("--user", user))

    assert "Accuracy on held-out data" in result.stderr


def test_relocated_home_runs_as_ovhcloud_does(images):
    image = images["relocated-home"]
    options = ("--user", "42420:42420", "-e", "HOME=/workspace")

    info = container_run(image, "info", options=options).stdout
    train = container_run(image, "train", options=options)

    assert "uid 42420, gid 42420" in info and "home        /workspace" in info
    assert "Wrote /workspace/outputs/model.joblib" in train.stderr


@pytest.mark.parametrize("flavor", FLAVORS)
def test_serve_answers_over_the_host_network_and_stops_promptly(images, timings, flavor):
    port = free_port()
    name = f"serve-{flavor}-{port}"
    docker("run", "-d", "--name", name, "--network", "host", "-e", f"PORT={port}", images[flavor])
    try:
        base = f"http://127.0.0.1:{port}"
        assert wait_for(f"{base}/health") == (200, {"status": "ok", "framework": "scikit-learn"})
        assert post(f"{base}/predict", {"instances": [[0, 0, 0, 0]]}) == (200, {"predictions": [0]})
        status, payload = post(f"{base}/predict", {"instances": [[1, 2]]})
        assert status == 400 and "error" in payload
        assert "healthy" in docker("exec", name, "python", "main.py", "healthcheck").stdout

        started = time.perf_counter()
        docker("stop", name)
        stop_seconds = time.perf_counter() - started
        exit_code = docker("inspect", "--format", "{{.State.ExitCode}}", name).stdout.strip()
    finally:
        docker("rm", "-f", name, check=False)

    timings[flavor]["docker stop (s)"] = round(stop_seconds, 2)
    assert stop_seconds < 3, f"docker stop took {stop_seconds:.1f} s: SIGTERM was not handled"
    assert exit_code == "0"


def test_the_cuda_image_says_it_falls_back_to_the_cpu(images):
    result = container_run(images["cuda"], "train")

    assert "No GPU visible: training on the CPU." in result.stderr


@pytest.mark.parametrize("flavor", FLAVORS)
def test_a_code_only_change_reuses_the_dependency_layer(renders, images, timings, tmp_path, flavor):
    project = renders.copy(tmp_path / "project", image_flavor=flavor)
    warm = build(project, f"copier-uv-mlops-test/{flavor}-edit")
    module = next((project / "src").glob("*/training.py"))
    module.write_text(module.read_text() + "\n# a code-only change\n")

    rebuilt = build(project, f"copier-uv-mlops-test/{flavor}-edit")

    assert warm.step_was_cached(DEPENDENCY_STEP)
    assert rebuilt.step_was_cached(DEPENDENCY_STEP)
    assert (
        "# a code-only change"
        in docker(
            "run",
            "--rm",
            "--entrypoint",
            "cat",
            rebuilt.tag,
            f"{APP_DIR[flavor]}/src/ml_project/training.py",
        ).stdout
    )
    timings[flavor]["code-only rebuild (s)"] = round(rebuilt.seconds, 2)


def test_a_host_venv_never_enters_the_image(renders, images, tmp_path):
    project = renders.copy(tmp_path / "project", image_flavor="uv")
    (project / ".venv" / "bin").mkdir(parents=True)
    (project / ".venv" / "HOST-VENV-MARKER").write_text("from the host\n")

    result = build(project, "copier-uv-mlops-test/uv-venv")
    probe = "import pathlib; print(sorted(p.name for p in pathlib.Path('/app/.venv').iterdir()))"
    listing = docker("run", "--rm", "--entrypoint", "python", result.tag, "-c", probe).stdout

    assert "HOST-VENV-MARKER" not in listing
    assert "pyvenv.cfg" in listing  # the image's own venv, built inside


def test_a_stale_lock_fails_the_build_with_uvs_message(renders, images, tmp_path):
    project = renders.copy(tmp_path / "project", image_flavor="uv")
    pyproject = project / "pyproject.toml"
    pyproject.write_text(
        pyproject.read_text().replace('"joblib>=1.4",', '"joblib>=1.4",\n    "six",')
    )

    result = build(project, "copier-uv-mlops-test/uv-stale", check=False)

    assert result.returncode != 0
    assert (
        "The lockfile at `uv.lock` needs to be updated, but `--locked` was provided" in result.log
    )


def post(url: str, payload: dict) -> tuple[int, dict]:
    request = urllib.request.Request(url, data=json.dumps(payload).encode(), method="POST")
    try:
        with urllib.request.urlopen(request, timeout=5) as reply:
            return reply.status, json.loads(reply.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


@pytest.mark.heavy
@pytest.mark.parametrize("flavor", FLAVORS)
def test_a_pytorch_image_builds_and_trains(engine, tmp_path, flavor):
    # Real PyTorch wheels (GBs, from PyTorch's own index): runs with --run-heavy where reachable.
    project = render(tmp_path / "project", lock=False, image_flavor=flavor, ml_framework="pytorch")
    run([uv(), "lock"], cwd=project, timeout=1800)
    ensure_base_images(project / "Dockerfile")
    image = build(project, f"copier-uv-mlops-test/{flavor}-pytorch").tag

    result = container_run(image, "train")

    assert "falling back to the CPU" in result.stderr or "Training on the GPU" in result.stderr
