"""MLflow from the image: train against a real tracking server as a platform runs it (uid 42420,
read-only root filesystem), then serve the registered champion; the same with the local store."""

import json
import time

import pytest
from mlflow import MlflowClient

from containers import restricted_options, run_to_end, serving
from docker_cli import free_port
from helpers import FLAVORS, http_json, wait_for
from mlflow_server import tracking_server

pytestmark = pytest.mark.docker

OUTPUT_DIR = {"uv": "/app/outputs", "cuda": "/app/outputs", "relocated-home": "/workspace/outputs"}
INSTANCE = {"instances": [[0.0, 0.0, 0.0, 0.0], [3.0, 3.0, 0.0, 1.0]]}


@pytest.fixture(scope="module")
def server(engine, tmp_path_factory):
    with tracking_server(tmp_path_factory.mktemp("mlflow-server"), free_port()) as running:
        yield running


def train(image: str, environment: dict[str, str], **options) -> str:
    """`train` to completion as uid 42420 on a read-only root; its stderr (the log)."""
    exit_code, _, log = run_to_end(image, ["train"], environment=environment, **options)
    assert exit_code == 0, log
    return log


def serve_and_predict(image: str, environment: dict[str, str], **options) -> dict:
    """`serve` until /ready, one /predict, then `docker stop`; what /ready answered."""
    port = free_port()
    with serving(image, environment={**environment, "PORT": str(port)}, **options) as container:
        base = f"http://127.0.0.1:{port}"
        status, ready = wait_for(f"{base}/ready", seconds=90, container=container)
        assert status == 200, ready
        status, prediction = http_json(f"{base}/predict", INSTANCE)
        assert status == 200, prediction
        assert prediction["predictions"] == [0, 1]
        _, metrics = http_json(f"{base}/metrics", raw=True)
    assert container.stop_seconds < 1, f"docker stop took {container.stop_seconds:.2f} s"
    assert container.exit_code == 0, container.logs
    return {"ready": ready, "metrics": metrics}


@pytest.mark.parametrize("flavor", FLAVORS)
def test_train_logs_to_a_tracking_server_and_serve_loads_the_champion(images, server, flavor):
    name = f"churn-{flavor}"
    environment = {"MLFLOW_TRACKING_URI": server.url, "MODEL_NAME": name}
    options = restricted_options(tmpfs=(OUTPUT_DIR[flavor],))

    log = train(images[flavor], environment, **options)

    client = MlflowClient(tracking_uri=server.url)
    champion = client.get_model_version_by_alias(name, "champion")
    run = client.get_run(champion.run_id)
    assert f"Registered {name} version {champion.version} as @champion" in log
    assert run.data.metrics["accuracy"] > 0.8
    assert run.data.params, "no hyper-parameters were logged"
    assert run.inputs.dataset_inputs, "no dataset reference was logged"
    artifacts = {entry.path for entry in client.list_artifacts(run.info.run_id)}
    assert artifacts, "the run has no artifacts on the server"

    served = serve_and_predict(
        images[flavor], {**environment, "MODEL_URI": f"models:/{name}@champion"}, **options
    )
    assert f'version="{champion.version}"' in served["metrics"]


@pytest.mark.parametrize("flavor", ["uv", "relocated-home"])
def test_without_a_server_tracking_goes_to_sqlite_under_output_dir(images, tmp_path, flavor):
    outputs = tmp_path / "outputs"
    outputs.mkdir()
    outputs.chmod(0o777)  # written by uid 42420 in the container
    options = restricted_options(volumes={str(outputs): {"bind": OUTPUT_DIR[flavor], "mode": "rw"}})

    train(images[flavor], {}, **options)
    train(images[flavor], {}, **options)

    assert (outputs / "mlflow.db").is_file()
    assert not (outputs / "mlruns").exists(), "the deprecated file store was used"
    client = MlflowClient(tracking_uri=f"sqlite:///{outputs / 'mlflow.db'}")
    champion = client.get_model_version_by_alias("ml-project", "champion")
    assert champion.version == "2", "the alias did not move to the newest version"
    metrics = json.loads((outputs / "metrics.json").read_text())
    assert metrics["accuracy"] > 0.8
    runs = sorted(path.name for path in (outputs / "runs").iterdir())
    assert len(runs) == 2, f"a run replaced the previous one: {runs}"
    started = time.perf_counter()
    served = serve_and_predict(
        images[flavor], {"MODEL_URI": "models:/ml-project@champion"}, **options
    )
    assert time.perf_counter() - started < 60
    assert 'version="2"' in served["metrics"]
