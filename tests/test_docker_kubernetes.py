"""The pods of deploy/kubernetes/, run: each flavor's image under the docker options that the
rendered Job and Deployment demand (pod_to_docker: user, read-only root, a tmpfs per emptyDir,
a group-owned directory for the claim, no capabilities, no privilege escalation, the
ConfigMap's environment, the memory and CPU limits). `train` completes and writes its model;
`serve` gets ready and predicts. The derived options are printed at the end of the run."""

import os
from pathlib import Path

import pytest
import yaml

import containers
import summary
from helpers import IMAGE_VARIANTS, http_json, wait_for
from pod_to_docker import describe, docker_run_options

pytestmark = pytest.mark.docker

DEPLOY = Path("deploy/kubernetes")
ROWS = {"instances": [[0.0, 0.0, 0.0, 0.0], [3.0, 3.0, 0.0, 1.0]]}
_REPORT: list[tuple[str, str, str, str]] = []


def resource(project: Path, name: str) -> dict:
    return yaml.safe_load((project / DEPLOY / name).read_text())


def config_maps(project: Path) -> dict[str, dict]:
    config = resource(project, "configmap.yaml")
    return {config["metadata"]["name"]: config["data"]}


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
    job = resource(projects[flavor], "train-job.yaml")
    claims = claim_directory(job, tmp_path)
    options = within_this_machine(
        docker_run_options(job, config_maps(projects[flavor]), claims=claims)
    )
    command = options.pop("command")

    result = containers.run(images[flavor], *command, network="none", **options)

    outputs = next(iter(claims.values()))
    assert (outputs / "model.joblib").stat().st_size > 0, result.stderr
    assert (outputs / "metrics.json").is_file()
    assert "Accuracy on held-out data" in result.stderr
    _REPORT.append(
        (
            flavor,
            "Job train",
            f"`{describe({**options, 'command': command})}`",
            "exit 0, model.joblib and metrics.json on the claim",
        )
    )


@pytest.mark.timing
@pytest.mark.parametrize("flavor", list(IMAGE_VARIANTS))
def test_serve_gets_ready_and_predicts_under_the_deployments_pod_constraints(
    projects, images, flavor
):
    deployment = resource(projects[flavor], "serve-deployment.yaml")
    options = within_this_machine(docker_run_options(deployment, config_maps(projects[flavor])))
    command = options.pop("command")
    # The host network has one port 8080 for every test: the pod's own port becomes a free one.
    port = containers.free_port()
    options["environment"]["PORT"] = str(port)

    with containers.started(images[flavor], *command, **options) as container:
        base = f"http://127.0.0.1:{port}"
        status, ready = wait_for(f"{base}/ready", seconds=120, container=container)
        assert status == 200, ready
        status, prediction = http_json(f"{base}/predict", ROWS)
        assert status == 200, prediction
        assert prediction["predictions"] == [0, 1]
        seconds, exit_code = containers.stop(container)
        logs = container.logs().decode(errors="replace")

    assert exit_code == 0, logs
    _REPORT.append(
        (
            flavor,
            "Deployment serve",
            f"`{describe({**options, 'command': command})}`",
            f"/ready 200, /predict [0, 1], docker stop {seconds:.2f} s, exit 0",
        )
    )
