"""The generated deploy/kubernetes/ base: valid against Kubernetes' schemas, a kustomization that
lists every manifest, the restricted Pod Security Standard on every pod, GPUs where the image is
CUDA's, and nothing that checkov finds. Offline: kubernetes-validate bundles the schemas, and
checkov runs with --skip-download from its own environment (tools/checkov)."""

import itertools
import json
import os
import re
import shutil
from pathlib import Path

import pytest
import yaml

from helpers import FRAMEWORKS, IMAGE_VARIANTS, REPO, copy_template, on_cuda, project_env, run, tool

DEPLOY = Path("deploy/kubernetes")
MULTINODE = DEPLOY / "multinode"
# Every flavor on every base, with every framework; tracking alternates so both appear.
VARIANTS = [
    {**answers, "ml_framework": framework, "tracking": tracking}
    for ((_, answers), framework), tracking in zip(
        itertools.product(IMAGE_VARIANTS.items(), FRAMEWORKS), itertools.cycle(["mlflow", "none"])
    )
]
UID = {"uv": 10001, "cuda": 10001, "relocated-home": 42420}
GID = {"uv": 0, "cuda": 0, "relocated-home": 42420}
APP_DIR = {"uv": "/app", "cuda": "/app", "relocated-home": "/workspace"}
HOME = {"uv": "/home/app", "cuda": "/home/app", "relocated-home": "/workspace"}


def variant_id(answers):
    return "-".join(answers.values())


@pytest.fixture(scope="module")
def rendered(copie_session):
    """Each variant rendered once for this module (no lock: nothing here installs)."""
    return {variant_id(answers): copy_template(copie_session, **answers) for answers in VARIANTS}


@pytest.fixture(params=VARIANTS, ids=variant_id)
def variant(request, rendered):
    return request.param, rendered[variant_id(request.param)]


def manifests(directory: Path) -> dict[str, dict]:
    """The resources of one kustomization directory, by file name (one resource per file)."""
    return {
        path.name: yaml.safe_load(path.read_text())
        for path in sorted(directory.glob("*.yaml"))
        if path.name != "kustomization.yaml"
    }


def pods(project: Path) -> dict[str, dict]:
    """Every workload's pod spec, by file."""
    found = {}
    for directory in (project / DEPLOY, project / MULTINODE):
        if directory.is_dir():
            for name, resource in manifests(directory).items():
                if resource["kind"] in {"Job", "Deployment"}:
                    found[f"{directory.name}/{name}"] = resource["spec"]["template"]["spec"]
    return found


def test_every_manifest_validates_against_the_kubernetes_schemas(variant):
    _, project = variant
    files = [
        str(path)
        for path in sorted((project / DEPLOY).rglob("*.yaml"))
        if path.name != "kustomization.yaml"
    ]
    result = run([tool("kubernetes-validate"), "--strict", *files], cwd=project, check=False)

    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.count(" passed for resource ") == len(files), result.stdout


def test_each_kustomization_lists_exactly_the_manifests_beside_it(variant):
    answers, project = variant
    directories = [project / DEPLOY]
    if answers["ml_framework"] == "pytorch":
        directories.append(project / MULTINODE)
    assert (project / MULTINODE).is_dir() == (answers["ml_framework"] == "pytorch")

    for directory in directories:
        kustomization = yaml.safe_load((directory / "kustomization.yaml").read_text())
        assert kustomization["kind"] == "Kustomization"
        assert sorted(kustomization["resources"]) == sorted(manifests(directory))
        assert kustomization["namespace"] == "ml-project"
        assert kustomization["images"] == [{"name": "ml-project", "newTag": "0.1.0"}]


def kubectl() -> str:
    found = shutil.which("kubectl")
    if found is None:
        reason = "no kubectl on PATH (.ci/run installs Debian's kubernetes-client)"
        if os.environ.get("CI", "").lower() in {"1", "true", "yes"}:
            pytest.fail(f"{reason}, and CI=true")
        pytest.skip(reason)
    return found


def test_kustomize_builds_each_kustomization_and_images_points_every_pod_elsewhere(
    variant, tmp_path
):
    answers, project = variant
    deploy = shutil.copytree(project / DEPLOY, tmp_path / "kubernetes")
    directories = [deploy, deploy / "multinode"] if (deploy / "multinode").is_dir() else [deploy]

    for directory in directories:
        kustomization = directory / "kustomization.yaml"
        config = yaml.safe_load(kustomization.read_text())
        config["images"][0]["newName"] = "registry.example.com/team/ml-project"
        kustomization.write_text(yaml.safe_dump(config))
        built = run([kubectl(), "kustomize", str(directory)], cwd=tmp_path).stdout
        resources = list(yaml.safe_load_all(built))

        assert len(resources) == len(manifests(directory)), directory.name
        assert {r["metadata"].get("namespace", "ml-project") for r in resources} == {"ml-project"}
        images = {
            container["image"]
            for r in resources
            if r["kind"] in {"Job", "Deployment"}
            for container in r["spec"]["template"]["spec"]["containers"]
        }
        assert images == {"registry.example.com/team/ml-project:0.1.0"}, directory.name


def test_every_pod_meets_the_restricted_pod_security_standard(variant):
    answers, project = variant
    flavor = answers["image_flavor"]
    namespace = yaml.safe_load((project / DEPLOY / "namespace.yaml").read_text())
    assert namespace["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "restricted"

    for name, pod in pods(project).items():
        assert pod["automountServiceAccountToken"] is False, name
        context = pod["securityContext"]
        assert context["runAsNonRoot"] is True, name
        assert (context["runAsUser"], context["runAsGroup"]) == (UID[flavor], GID[flavor]), name
        assert context["fsGroup"] == GID[flavor], name
        assert context["seccompProfile"] == {"type": "RuntimeDefault"}, name
        for container in pod["containers"]:
            security = container["securityContext"]
            assert security["readOnlyRootFilesystem"] is True, name
            assert security["allowPrivilegeEscalation"] is False, name
            assert security["capabilities"] == {"drop": ["ALL"]}, name
            assert container["image"] == "ml-project:0.1.0", name


def test_writable_paths_are_volumes_and_outputs_of_training_outlive_the_pod(variant):
    answers, project = variant
    flavor = answers["image_flavor"]
    outputs = f"{APP_DIR[flavor]}/outputs"
    # MLflow keeps an id under HOME; where HOME is the code's directory it stays read-only.
    home_written = answers["tracking"] == "mlflow" and HOME[flavor] != APP_DIR[flavor]

    for name, pod in pods(project).items():
        volumes = {volume["name"]: volume for volume in pod["volumes"]}
        mounts = {m["mountPath"]: volumes[m["name"]] for m in pod["containers"][0]["volumeMounts"]}
        expected = {"/tmp", outputs} | ({HOME[flavor]} if home_written else set())
        if name.startswith("multinode/"):
            expected.add("/dev/shm")
        assert set(mounts) == expected, name
        assert "emptyDir" in mounts["/tmp"], name
        # Training's OUTPUT_DIR (models, checkpoints) is a claim; serving's is the pod's own.
        kind = "emptyDir" if "serve" in name else "persistentVolumeClaim"
        assert kind in mounts[outputs], name


def test_gpus_are_asked_for_exactly_where_the_image_is_cuda(variant):
    answers, project = variant
    for name, pod in pods(project).items():
        limits = pod["containers"][0]["resources"]["limits"]
        # Serving predicts on the CPU (every model.py loads the model there).
        wanted = on_cuda(answers) and "serve" not in name
        assert ("nvidia.com/gpu" in limits) == wanted, name
        assert limits["memory"] and limits["cpu"], name


def test_serve_probes_the_app_routes_and_drains_within_the_grace_period(variant):
    _, project = variant
    deployment = manifests(project / DEPLOY)["serve-deployment.yaml"]
    pod = deployment["spec"]["template"]["spec"]
    container = pod["containers"][0]

    assert container["ports"] == [{"name": "http", "containerPort": 8080}]
    assert container["livenessProbe"]["httpGet"]["path"] == "/health"
    assert container["startupProbe"]["httpGet"]["path"] == "/health"
    assert container["readinessProbe"]["httpGet"]["path"] == "/ready"
    pre_stop = container["lifecycle"]["preStop"]["sleep"]["seconds"]
    # preStop, then the server's drain (GRACEFUL_SHUTDOWN_SECONDS = 5), before SIGKILL.
    assert pod["terminationGracePeriodSeconds"] > pre_stop + 5
    assert "replicas" not in deployment["spec"], "the HorizontalPodAutoscaler owns replicas"
    hpa = manifests(project / DEPLOY)["serve-hpa.yaml"]
    assert hpa["spec"]["scaleTargetRef"]["name"] == deployment["metadata"]["name"]


def test_settings_come_from_the_configmap_and_tracking_credentials_from_a_secret(variant):
    answers, project = variant
    config = manifests(project / DEPLOY)["configmap.yaml"]
    assert {"DATA_PATH", "LABEL_COLUMN", "EPOCHS"} <= set(config["data"])
    assert ("MLFLOW_TRACKING_URI" in config["data"]) == (answers["tracking"] == "mlflow")

    for name, pod in pods(project).items():
        sources = pod["containers"][0]["envFrom"]
        assert {"configMapRef": {"name": "ml-project-config"}} in sources, name
        secret = {"secretRef": {"name": "ml-project-tracking", "optional": True}}
        assert (secret in sources) == (answers["tracking"] == "mlflow"), name


def test_pytorch_trains_on_several_nodes_with_torchrun_in_an_indexed_job(variant):
    answers, project = variant
    if answers["ml_framework"] != "pytorch":
        assert not (project / MULTINODE).exists()
        return
    resources = manifests(project / MULTINODE)
    job = resources["train-job.yaml"]
    service = resources["train-service.yaml"]
    pod = job["spec"]["template"]["spec"]
    container = pod["containers"][0]

    assert job["spec"]["completionMode"] == "Indexed"
    assert job["spec"]["completions"] == job["spec"]["parallelism"] == 2
    assert (
        service["spec"]["clusterIP"] == "None" and pod["subdomain"] == service["metadata"]["name"]
    )
    assert container["command"] == ["torchrun"]
    assert container["args"][-2:] == ["main.py", "train"]
    assert "--nnodes=2" in container["args"]
    assert "--node-rank=$(JOB_COMPLETION_INDEX)" in container["args"]
    rank0 = f"{job['metadata']['name']}-0.{service['metadata']['name']}"
    assert f"--master-addr={rank0}" in container["args"]
    assert resources["outputs-pvc.yaml"]["spec"]["accessModes"] == ["ReadWriteMany"]


def test_checkov_finds_nothing_in_the_manifests_and_dockerfiles(rendered, tmp_path):
    # One checkov run over every variant (it takes seconds to start): each project's
    # deploy/kubernetes/ and Dockerfile, side by side.
    for name, project in rendered.items():
        (tmp_path / name).mkdir()
        (tmp_path / name / "Dockerfile").write_bytes((project / "Dockerfile").read_bytes())
        run(["cp", "-r", str(project / "deploy"), str(tmp_path / name)], cwd=tmp_path)
    command = [
        *[tool("uv"), "run", "--project", str(REPO / "tools" / "checkov"), "--locked"],
        *["checkov", "-d", str(tmp_path), "--framework", "kubernetes", "dockerfile"],
        *["--skip-download", "--compact", "--quiet", "--output", "json"],
    ]
    result = run(command, cwd=tmp_path, check=False, env=project_env())

    reports = json.loads(result.stdout)
    reports = reports if isinstance(reports, list) else [reports]
    summaries = {report["check_type"]: report["summary"] for report in reports}
    failed = [
        f"{check['check_id']} {check['file_path']}: {check['check_name']}"
        for report in reports
        for check in report["results"].get("failed_checks", [])
    ]
    assert not failed, "\n".join(failed)
    assert set(summaries) == {"kubernetes", "dockerfile"}, result.stderr[-2000:]
    assert all(summary["parsing_errors"] == 0 for summary in summaries.values()), summaries
    workloads = 2 * len(rendered) + sum(
        1 for answers in VARIANTS if answers["ml_framework"] == "pytorch"
    )
    assert summaries["kubernetes"]["passed"] > workloads * 20, summaries
    assert result.returncode == 0, result.stderr[-2000:]


def test_long_project_names_give_object_names_that_kubernetes_accepts(copie_session):
    # Object names are DNS labels (63 characters at most); the longest one made from the name is
    # a multi-node pod's hostname, <name>-train-multinode-<index>.
    name = "An Extraordinarily Long Machine Learning Project Name For Churn Prediction"
    project = copy_template(copie_session, project_name=name, ml_framework="pytorch")
    label = re.compile(r"^[a-z]([-a-z0-9]*[a-z0-9])?$")

    for directory in (project / DEPLOY, project / MULTINODE):
        kustomization = yaml.safe_load((directory / "kustomization.yaml").read_text())
        # The image keeps the project's full name: image names have no such limit.
        assert kustomization["images"][0]["name"] == name.lower().replace(" ", "-")
        for file, resource in manifests(directory).items():
            names = [resource["metadata"]["name"], kustomization["namespace"]]
            names += resource["metadata"].get("labels", {}).values()
            if resource["kind"] == "Job" and resource["spec"].get("completionMode") == "Indexed":
                names.append(f"{resource['metadata']['name']}-{resource['spec']['completions']}")
            for value in names:
                assert len(value) <= 63 and label.match(value), f"{file}: {value!r}"
