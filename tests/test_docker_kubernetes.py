"""The pods of deploy/kubernetes/, run: each flavor's image under the docker options that the
rendered Job (train/) and Deployment (the base) demand (pod_to_docker: user, read-only root, a
tmpfs per emptyDir, a group-owned directory for the claim, no capabilities, no privilege
escalation, the settings' environment, the memory and CPU limits). `train` completes and writes
its model; `serve` stays up and unready without one, then gets ready and predicts once there is
one. The derived options are printed at the end of the run.

There is no cluster here, so no in-cluster MLflow server (deploy/kubernetes/mlflow) either: the
projects (tracking=mlflow) train with MLFLOW_TRACKING_URI emptied, into the SQLite store on the
claim, and `serve` follows that store with the claim mounted where the server's would be."""

import os
import time
import urllib.error
from pathlib import Path

import pytest
import yaml

import containers
import summary
from helpers import IMAGE_VARIANTS, http_json, running, wait_for
from pod_to_docker import describe, docker_run_options, env_file

pytestmark = pytest.mark.docker

DEPLOY = Path("deploy/kubernetes")
SETTINGS = DEPLOY / "settings"
ROWS = {"instances": [[0.0, 0.0, 0.0, 0.0], [3.0, 3.0, 0.0, 1.0]]}
_REPORT: list[tuple[str, str, str, str]] = []


def resource(project: Path, name: str) -> dict:
    return yaml.safe_load((project / DEPLOY / name).read_text())


def config_maps(project: Path) -> dict[str, dict]:
    """The settings ConfigMap that kustomize generates from settings.env, under the name that the
    manifests give it (kustomize adds the hash to both)."""
    component = yaml.safe_load((project / SETTINGS / "kustomization.yaml").read_text())
    [generator] = component["configMapGenerator"]
    data: dict[str, str] = {}
    for env in generator["envs"]:
        data.update(env_file((project / SETTINGS / env).read_text()))
    return {generator["name"]: data}


# No cluster, so no in-cluster MLflow server: the local SQLite store in OUTPUT_DIR instead.
WITHOUT_THE_CLUSTERS_SERVER = {"MLFLOW_TRACKING_URI": ""}


def train_on_the_claim(project: Path, image: str, tmp_path: Path) -> tuple[dict, Path, object]:
    """`train` under the Job's pod constraints, its claim a host directory: the options, the
    directory, and the finished run."""
    job = resource(project, "train/train-job.yaml")
    claims = claim_directory(job, tmp_path)
    options = within_this_machine(docker_run_options(job, config_maps(project), claims=claims))
    options["environment"].update(WITHOUT_THE_CLUSTERS_SERVER)
    command = options.pop("command")
    result = containers.run(image, *command, network="none", **options)
    return {**options, "command": command}, next(iter(claims.values())), result


def within_this_machine(options: dict) -> dict:
    """Docker refuses a CPU limit above the machine's count (Kubernetes would pick a node that
    has them): cap it there."""
    if "nano_cpus" in options:
        options["nano_cpus"] = min(options["nano_cpus"], (os.cpu_count() or 1) * 10**9)
    return options


def claim_directory(workload: dict, tmp_path: Path) -> dict[str, Path]:
    """A host directory for each claim, owned as Kubernetes leaves a volume with fsGroup set:
    group fsGroup, group-writable, setgid. Only the pod's group can write it."""
    pod = workload["spec"]["template"]["spec"]
    group = pod["securityContext"]["fsGroup"]
    claims = {}
    for volume in pod["volumes"]:
        if "persistentVolumeClaim" in volume:
            directory = tmp_path / volume["name"]
            directory.mkdir()
            os.chown(directory, 0, group)
            directory.chmod(0o2770)
            claims[volume["persistentVolumeClaim"]["claimName"]] = directory
    return claims


@pytest.fixture(scope="module", autouse=True)
def report():
    """The options each pod became, and what ran under them, printed at the end of the run."""
    yield
    if _REPORT:
        columns = ("flavor and base", "workload", "docker run options", "what ran")
        rows = [columns, ("---",) * len(columns), *_REPORT]
        lines = ["| " + " | ".join(row) + " |" for row in rows]
        title = "Kubernetes pods as docker run options (from deploy/kubernetes)"
        summary.add_section(title, lines)


@pytest.mark.parametrize("flavor", list(IMAGE_VARIANTS))
def test_train_completes_under_the_jobs_pod_constraints(projects, images, tmp_path, flavor):
    options, outputs, result = train_on_the_claim(projects[flavor], images[flavor], tmp_path)

    assert (outputs / "model.joblib").stat().st_size > 0, result.stderr
    assert (outputs / "metrics.json").is_file()
    assert "Accuracy on held-out data" in result.stderr
    _REPORT.append(
        (
            flavor,
            "Job train (train/)",
            f"`{describe(options)}`",
            "exit 0, model.joblib and metrics.json on the claim",
        )
    )


def serve_options(project: Path) -> tuple[dict, list[str], int]:
    """The serving Deployment's options, on a free port of the host network (one port 8080 for
    every test): the options, the command and the port."""
    deployment = resource(project, "serve-deployment.yaml")
    options = within_this_machine(docker_run_options(deployment, config_maps(project)))
    command = options.pop("command")
    port = containers.free_port()
    options["environment"]["PORT"] = str(port)
    return options, command, port


def health_within(base: str, container, seconds: float) -> tuple[int, object]:
    """GET /health until it answers (the server is importing until then)."""
    deadline = time.monotonic() + seconds
    while True:
        try:
            return http_json(f"{base}/health")
        except (urllib.error.URLError, ConnectionError):
            if time.monotonic() > deadline or not running(container):
                raise
        time.sleep(0.2)


def stop_and_report(container, flavor, workload, options, command, outcome) -> None:
    """`docker stop`, which must end the server with exit 0; the row of the printed table."""
    seconds, exit_code = containers.stop(container)
    assert exit_code == 0, container.logs().decode(errors="replace")
    command_line = f"`{describe({**options, 'command': command})}`"
    _REPORT.append(
        (flavor, workload, command_line, f"{outcome}, docker stop {seconds:.2f} s, exit 0")
    )


@pytest.mark.timing
@pytest.mark.parametrize("flavor", list(IMAGE_VARIANTS))
def test_serve_stays_up_unready_without_a_model_under_the_deployments_pod_constraints(
    projects, images, flavor
):
    # The settings' MLflow server (http://ml-project-mlflow:5000) does not resolve here: as in a
    # cluster before it is up, or before any version is promoted, the pod lives and is unready.
    options, command, port = serve_options(projects[flavor])

    with containers.started(images[flavor], *command, **options) as container:
        base = f"http://127.0.0.1:{port}"
        status, health = health_within(base, container, seconds=120)
        assert status == 200, health
        status, ready = http_json(f"{base}/ready")
        assert status == 503 and ready["error"], ready
        assert running(container), "serve without a model ended"
        stop_and_report(
            container,
            flavor,
            "Deployment serve, no model",
            options,
            command,
            "/health 200, /ready 503",
        )


@pytest.mark.timing
@pytest.mark.parametrize("flavor", list(IMAGE_VARIANTS))
def test_serve_gets_ready_and_predicts_under_the_deployments_pod_constraints(
    projects, images, tmp_path, flavor
):
    _, outputs, trained = train_on_the_claim(projects[flavor], images[flavor], tmp_path)
    options, command, port = serve_options(projects[flavor])
    # The store that training wrote, where the in-cluster server would keep it: on a claim.
    options["environment"].update(WITHOUT_THE_CLUSTERS_SERVER)
    job = resource(projects[flavor], "train/train-job.yaml")["spec"]["template"]["spec"]
    [output_dir] = [
        m["mountPath"] for m in job["containers"][0]["volumeMounts"] if m["name"] == "outputs"
    ]
    options.setdefault("volumes", {})[str(outputs)] = {"bind": output_dir, "mode": "rw"}

    with containers.started(images[flavor], *command, **options) as container:
        base = f"http://127.0.0.1:{port}"
        status, ready = wait_for(f"{base}/ready", seconds=120, container=container)
        assert status == 200, (ready, trained.stderr[-2000:])
        status, prediction = http_json(f"{base}/predict", ROWS)
        assert status == 200, prediction
        assert prediction["predictions"] == [0, 1]
        stop_and_report(
            container,
            flavor,
            "Deployment serve, after the Job",
            options,
            command,
            "/ready 200, /predict [0, 1]",
        )
