"""Every flavor's image builds and runs: offline, non-root, fast to rebuild, quick to stop.

Images are built with the CLI (BuildKit); containers run through the docker SDK (containers.py).
"""

import json
import re
import time

import pytest

import containers
from docker_cli import DEPENDENCY_STEP, build, ensure_base_images
from helpers import (
    IMAGE_VARIANTS,
    http_json,
    lock_project,
    project_env,
    render,
    run,
    uv,
    wait_for,
    wait_until_unready_saying,
)

pytestmark = pytest.mark.docker

VARIANTS = list(IMAGE_VARIANTS)  # every flavor on every base
UID = {"uv": "10001", "cuda": "10001", "relocated-home": "42420", "relocated-home-uv": "42420"}
APP_DIR = {
    "uv": "/app",
    "cuda": "/app",
    "relocated-home": "/workspace",
    "relocated-home-uv": "/workspace",
}
HOME = {
    "uv": "/home/app",
    "cuda": "/home/app",
    "relocated-home": "/workspace",
    "relocated-home-uv": "/workspace",
}


@pytest.mark.parametrize("flavor", VARIANTS)
def test_image_runs_as_a_numeric_non_root_user_with_oci_labels(images, flavor):
    config = containers.image_config(images[flavor])

    assert config["User"].split(":")[0] == UID[flavor]
    assert config["Entrypoint"] == ["python", "main.py"]
    assert config["Cmd"] == ["serve"]
    assert config["Labels"]["org.opencontainers.image.title"] == "ML Project"
    assert config["Healthcheck"]["Test"] == ["CMD", "python", "main.py", "healthcheck"]


@pytest.mark.parametrize("flavor", VARIANTS)
def test_info_reports_python_user_gpu_and_writable_outputs(images, flavor):
    info = info_fields(containers.run(images[flavor], "info").stdout)

    version, _, interpreter = info["python"].partition(" at ")
    assert version.startswith("3.13.") and interpreter == f"{APP_DIR[flavor]}/.venv/bin/python"
    assert f"uid {UID[flavor]}" in info["user"]
    assert info["gpu"] == "none visible: training runs on the CPU"
    assert info["home"] == HOME[flavor]
    assert info["output_dir"] == f"{APP_DIR[flavor]}/outputs (writable)"
    assert info["MLFLOW_TRACKING_URI"] == f"sqlite:///{APP_DIR[flavor]}/outputs/mlflow.db"


def info_fields(output: str) -> dict[str, str]:
    """`info` prints one `name  value` pair per line."""
    return dict(line.split(maxsplit=1) for line in output.splitlines())


@pytest.mark.parametrize("flavor", VARIANTS)
def test_train_writes_the_model_and_metrics_without_network(images, tmp_path, flavor):
    with containers.started(images[flavor], "train", network="none") as container:
        result = containers.finished(container)
        assert result.exit_code == 0, result.describe("train")
        containers.copy_out(container, f"{APP_DIR[flavor]}/outputs", tmp_path)

    assert "No GPU visible: training on the CPU." in result.stderr
    assert json.loads((tmp_path / "outputs" / "metrics.json").read_text())["accuracy"] > 0.8
    assert (tmp_path / "outputs" / "model.joblib").stat().st_size > 0


# Each variant under a uid that is not its own: OpenShift's random uid in group 0, OVHcloud's 42420,
# or whatever a Kubernetes runAsUser says. Every variant's writable paths are made the same way, so
# one foreign uid each covers them; test_relocated_home_runs_as_ovhcloud_does adds 42420 with HOME.
FOREIGN_UIDS = {
    "uv": "42420:42420",
    "cuda": "123456:0",
    "relocated-home": "123456:0",
    "relocated-home-uv": "2000:2000",
}


@pytest.mark.parametrize(("flavor", "user"), FOREIGN_UIDS.items())
def test_runs_under_any_uid_a_platform_assigns(images, flavor, user):
    result = containers.run(images[flavor], "train", user=user)

    assert "Accuracy on held-out data" in result.stderr


def test_relocated_home_runs_as_ovhcloud_does(images):
    image = images["relocated-home"]
    options = {"user": "42420:42420", "environment": {"HOME": "/workspace"}}

    info = info_fields(containers.run(image, "info", **options).stdout)
    train = containers.run(image, "train", **options)

    assert "uid 42420, gid 42420" in info["user"] and info["home"] == "/workspace"
    assert "Wrote /workspace/outputs/model.joblib" in train.stderr


def shared_outputs(tmp_path, flavor: str) -> dict:
    """A host directory as OUTPUT_DIR for every container of a test: `train` writes there and
    `serve` follows it."""
    outputs = tmp_path / "outputs"
    outputs.mkdir()
    outputs.chmod(0o777)  # written by the image's own uid
    return {str(outputs): {"bind": f"{APP_DIR[flavor]}/outputs", "mode": "rw"}}


@pytest.mark.timing
@pytest.mark.parametrize("flavor", VARIANTS)
def test_serve_waits_for_a_model_then_answers_and_stops_promptly(images, timings, tmp_path, flavor):
    volumes = shared_outputs(tmp_path, flavor)
    port = containers.free_port()
    environment = {"PORT": str(port), "MODEL_POLL_SECONDS": "1"}
    with containers.started(images[flavor], environment=environment, volumes=volumes) as server:
        base = f"http://127.0.0.1:{port}"
        status, health = wait_for(f"{base}/health", seconds=60, container=server)
        assert (status, health["framework"]) == (200, "scikit-learn")
        wait_until_unready_saying(f"{base}/ready", "python main.py train")
        containers.run(images[flavor], "train", volumes=volumes)
        trained = time.perf_counter()
        status, ready = wait_for(f"{base}/ready", seconds=30, container=server)
        assert status == 200 and "version 1" in ready["model_version"], ready
        poll_to_ready = time.perf_counter() - trained
        status, payload = http_json(f"{base}/predict", {"instances": [[0, 0, 0, 0]]})
        assert (status, payload["predictions"]) == (200, [0]), payload
        status, payload = http_json(f"{base}/predict", {"instances": [[1, 2]]})
        assert status == 422 and "send 4 per row" in payload["error"], payload
        assert "healthy" in containers.exec_in(server, "python", "main.py", "healthcheck").stdout

        stop_started = time.perf_counter()
        server.stop()  # docker stop: SIGTERM, then SIGKILL after 10 s
        stop_seconds = time.perf_counter() - stop_started
        code = containers.exit_code(server)

    timings[flavor]["train to ready (s)"] = round(poll_to_ready, 2)
    timings[flavor]["docker stop (s)"] = round(stop_seconds, 2)
    assert stop_seconds < 3, f"docker stop took {stop_seconds:.1f} s: SIGTERM was not handled"
    assert code == 0


def test_the_cuda_image_says_it_falls_back_to_the_cpu(images):
    result = containers.run(images["cuda"], "train")

    assert "No GPU visible: training on the CPU." in result.stderr


# Where uv or its cache would be if the image that runs carried them.
UV_PROBE = """
import os, shutil, sys
places = ["/bin/uv", "/bin/uvx", "/usr/bin/uv", "/usr/local/bin/uv", "/usr/local/bin/uvx",
          "/root/.cache/uv", os.path.expanduser("~/.cache/uv")]
found = [shutil.which("uv"), shutil.which("uvx"), *filter(os.path.lexists, places)]
print("\\n".join(filter(None, found)))
"""


@pytest.mark.parametrize("flavor", VARIANTS)
def test_the_image_that_runs_carries_no_uv_and_no_uv_cache(images, flavor):
    # info, train and serve run above with this image: nothing at run time needs uv.
    result = containers.run(images[flavor], "-c", UV_PROBE, entrypoint="python", user="0")

    assert result.stdout.split() == []


# (path, sha256) of every file under the given roots; symlinks by their target.
MANIFEST = """
import hashlib, json, os, sys
manifest = {}
for root in sys.argv[1:]:
    for folder, _, files in os.walk(root):
        for name in files:
            path = os.path.join(folder, name)
            if os.path.islink(path):
                manifest[path] = "-> " + os.readlink(path)
            else:
                with open(path, "rb") as file:
                    manifest[path] = hashlib.sha256(file.read()).hexdigest()
print(json.dumps(manifest))
"""


def venv_manifest(image: str, *roots: str) -> dict[str, str]:
    output = containers.run(image, "-c", MANIFEST, *roots, entrypoint="python").stdout
    return json.loads(output)


SITE_PACKAGES = "/app/.venv/lib/python3.13/site-packages"


def installed_packages(build_log: str) -> int:
    counts = re.findall(r"Installed (\d+) packages?", build_log)
    return sum(map(int, counts))


def test_two_cold_builds_of_one_commit_give_an_identical_venv(projects, images):
    # One flavor keeps the cost modest; the others build the same RUN step.
    again = build(projects["uv"], "copier-uv-mlops-test/uv-again", "--no-cache")

    first = venv_manifest(images["uv"], "/app/.venv")
    second = venv_manifest(again.tag, "/app/.venv")
    assert installed_packages(again.log) > 10, "the second build reused an earlier venv"
    assert any(path.endswith(".pyc") for path in first), "no bytecode was compiled"
    assert sorted(first) == sorted(second)
    assert [path for path in first if first[path] != second[path]] == []


def test_a_removed_dependency_leaves_nothing_behind_on_a_warm_rebuild(renders, images, tmp_path):
    # Two packages come, then one goes: that lock was never built, so the step runs on the venv
    # that the cache mount kept. What stays must be the cold build's venv plus the other package.
    project = renders.copy(tmp_path / "project", image_flavor="uv")
    # A line no earlier build saw: an earlier run of this test on the same engine built these
    # very locks, and its layers would be cache hits that never touch the venv cache.
    pyproject = project / "pyproject.toml"
    pyproject.write_text(pyproject.read_text() + f"# test build {time.time_ns()}\n")
    run([uv(), "add", "--quiet", "wcwidth"], cwd=project, env=project_env())
    lock = {name: (project / name).read_text() for name in ("pyproject.toml", "uv.lock")}
    # A package that nothing in the project's lock brings already (six, say, comes with
    # python-dateutil), so that its removal really uninstalls it.
    assert 'name = "tomli-w"' not in lock["uv.lock"]
    run([uv(), "add", "--quiet", "tomli-w"], cwd=project, env=project_env())
    added = build(project, "copier-uv-mlops-test/uv-deps")
    assert f"{SITE_PACKAGES}/tomli_w/__init__.py" in venv_manifest(added.tag, "/app/.venv")
    for name, text in lock.items():  # back to the commit before tomli-w came
        (project / name).write_text(text)

    removed = build(project, "copier-uv-mlops-test/uv-deps")

    assert re.search(r"Uninstalled 1 package\b", removed.log), "the venv cache was not reused"
    kept = venv_manifest(removed.tag, "/app/.venv")
    wcwidth = {path for path in kept if re.match(rf"{SITE_PACKAGES}/wcwidth[-/]", path)}
    assert wcwidth, "wcwidth was not installed"
    cold = venv_manifest(images["uv"], "/app/.venv")
    assert {path: kept[path] for path in kept.keys() - wcwidth} == cold


@pytest.mark.parametrize("flavor", VARIANTS)
def test_a_code_only_change_reuses_the_dependency_layer(renders, images, timings, tmp_path, flavor):
    project = renders.copy(tmp_path / "project", **IMAGE_VARIANTS[flavor])
    warm = build(project, f"copier-uv-mlops-test/{flavor}-edit")
    module = next((project / "src").glob("*/training.py"))
    module.write_text(module.read_text() + "\n# a code-only change\n")

    rebuilt = build(project, f"copier-uv-mlops-test/{flavor}-edit")

    assert warm.step_was_cached(DEPENDENCY_STEP)
    assert rebuilt.step_was_cached(DEPENDENCY_STEP)
    shipped = f"{APP_DIR[flavor]}/src/ml_project/training.py"
    assert "# a code-only change" in containers.run(rebuilt.tag, shipped, entrypoint="cat").stdout
    timings[flavor]["code-only rebuild (s)"] = round(rebuilt.seconds, 2)


def test_a_host_venv_never_enters_the_image(renders, images, tmp_path):
    project = renders.copy(tmp_path / "project", image_flavor="uv")
    (project / ".venv" / "bin").mkdir(parents=True)
    (project / ".venv" / "HOST-VENV-MARKER").write_text("from the host\n")

    result = build(project, "copier-uv-mlops-test/uv-venv")
    probe = "import pathlib; print(sorted(p.name for p in pathlib.Path('/app/.venv').iterdir()))"
    listing = containers.run(result.tag, "-c", probe, entrypoint="python").stdout

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


@pytest.mark.heavy
@pytest.mark.parametrize("flavor", VARIANTS)
def test_a_pytorch_image_builds_and_trains(engine, tmp_path, flavor):
    # Real PyTorch wheels (GBs, from PyTorch's own index): runs with --run-heavy where reachable.
    project = render(
        tmp_path / "project", lock=False, ml_framework="pytorch", **IMAGE_VARIANTS[flavor]
    )
    lock_project(project, sources=True)
    ensure_base_images(project / "Dockerfile")
    image = build(project, f"copier-uv-mlops-test/{flavor}-pytorch").tag

    result = containers.run(image, "train")

    assert "falling back to the CPU" in result.stderr or "Training on the GPU" in result.stderr
