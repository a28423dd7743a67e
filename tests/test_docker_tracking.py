"""MLflow from the image: train against a real tracking server as a platform runs it (uid 42420,
read-only root filesystem, no capabilities), then serve the registered champion; the same with
the local SQLite store. The server is the full MLflow package at the project's own locked
version, and what a run recorded is read back with the image's own MLflow client: nothing here
depends on an MLflow that this repository pins."""

import json

import pytest

import containers
from helpers import FLAVORS, http_json, wait_for
from mlflow_server import server_version, tracking_server

# Each serves and times `docker stop`.
pytestmark = [pytest.mark.docker, pytest.mark.timing]

OUTPUT_DIR = {"uv": "/app/outputs", "cuda": "/app/outputs", "relocated-home": "/workspace/outputs"}
ROWS = {"instances": [[0.0, 0.0, 0.0, 0.0], [3.0, 3.0, 0.0, 1.0]]}


# Run in the image by its own Python: what MLflow recorded of the run behind model NAME's
# @champion, as one line of JSON.
CHAMPION_FACTS = """
import json, sys
from mlflow import MlflowClient

uri, name = sys.argv[1:]
client = MlflowClient(tracking_uri=uri)
champion = client.get_model_version_by_alias(name, "champion")
run = client.get_run(champion.run_id)
logged = client.search_logged_models(experiment_ids=[run.info.experiment_id])
print(json.dumps({
    "version": int(champion.version),
    "source": champion.source,
    "metrics": run.data.metrics,
    "accuracy_history": len(client.get_metric_history(run.info.run_id, "accuracy")),
    "params": run.data.params,
    "datasets": len(run.inputs.dataset_inputs),
    "logged_models": [(m.name, m.model_id) for m in logged if m.source_run_id == run.info.run_id],
}))
"""


def champion_facts(image: str, tracking_uri: str, name: str, **options) -> dict:
    """CHAMPION_FACTS, read with the MLflow client that the image itself carries."""
    result = containers.run(
        image, "-c", CHAMPION_FACTS, tracking_uri, name, entrypoint="python", **options
    )
    return json.loads(result.stdout.strip().splitlines()[-1])


@pytest.fixture(scope="module")
def server(projects, tmp_path_factory):
    # Every variant locks the same mlflow-skinny: one server for all.
    version = server_version(projects["uv"])
    root = tmp_path_factory.mktemp("mlflow-server")
    with tracking_server(root, containers.free_port(), version) as up:
        yield up


def train(image: str, environment: dict[str, str], **options) -> str:
    """`train` to completion; its log (stderr)."""
    return containers.run(image, "train", environment=environment, **options).stderr


def serve_and_predict(image: str, environment: dict[str, str], **options) -> str:
    """`serve` until /ready, one /predict, then `docker stop`; the /metrics text."""
    port = containers.free_port()
    environment = {**environment, "PORT": str(port)}
    with containers.started(image, environment=environment, **options) as container:
        base = f"http://127.0.0.1:{port}"
        status, ready = wait_for(f"{base}/ready", seconds=90, container=container)
        assert status == 200, ready
        status, prediction = http_json(f"{base}/predict", ROWS)
        assert status == 200, prediction
        assert prediction["predictions"] == [0, 1]
        _, metrics = http_json(f"{base}/metrics", raw=True)
        seconds, exit_code = containers.stop(container)
        logs = container.logs().decode(errors="replace")
    assert seconds < 1, f"docker stop took {seconds:.2f} s"
    assert exit_code == 0, logs
    return metrics


@pytest.mark.parametrize("flavor", FLAVORS)
def test_train_logs_to_a_tracking_server_and_serve_loads_the_champion(images, server, flavor):
    name = f"churn-{flavor}"
    environment = {"MLFLOW_TRACKING_URI": server.url, "MODEL_NAME": name}
    options = containers.restricted(OUTPUT_DIR[flavor])

    log = train(images[flavor], environment, **options)

    champion = champion_facts(images[flavor], server.url, name, **options)
    assert f"Registered {name} version {champion['version']}" in log
    assert f"Promotion: version {champion['version']} scored" in log
    assert champion["metrics"]["accuracy"] > 0.8
    assert champion["accuracy_history"], "no accuracy was logged"
    assert champion["params"], "no hyper-parameters were logged"
    assert champion["datasets"], "no dataset reference was logged"
    # MLflow 3 logs a model as a LoggedModel of the experiment, not as artifacts of the run.
    [(logged_name, model_id)] = champion["logged_models"]
    assert logged_name == "model"
    assert model_id in champion["source"]

    metrics = serve_and_predict(
        images[flavor], {**environment, "MODEL_URI": f"models:/{name}@champion"}, **options
    )
    assert f"{name} version {champion['version']} (@champion)" in metrics


@pytest.mark.parametrize("flavor", ["uv", "relocated-home"])
def test_without_a_server_tracking_goes_to_sqlite_under_output_dir(images, tmp_path, flavor):
    outputs = tmp_path / "outputs"
    outputs.mkdir()
    outputs.chmod(0o777)  # written by uid 42420 in the container
    volumes = {str(outputs): {"bind": OUTPUT_DIR[flavor], "mode": "rw"}}
    options = containers.restricted(volumes=volumes)

    train(images[flavor], {}, **options)
    train(images[flavor], {}, **options)

    assert (outputs / "mlflow.db").is_file()
    assert not (outputs / "mlruns").exists(), "the deprecated file store was used"
    store = f"sqlite:///{OUTPUT_DIR[flavor]}/mlflow.db"
    champion = champion_facts(images[flavor], store, "ml-project", **options)
    assert champion["version"] == 2, "the alias did not move to the newest version"
    assert json.loads((outputs / "metrics.json").read_text())["accuracy"] > 0.8
    runs = sorted(path.name for path in (outputs / "runs").iterdir())
    assert len(runs) == 2, f"a run replaced the previous one: {runs}"

    metrics = serve_and_predict(
        images[flavor], {"MODEL_URI": "models:/ml-project@champion"}, **options
    )
    assert "ml-project version 2 (@champion)" in metrics
