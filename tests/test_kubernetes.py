"""The generated deploy/kubernetes/: serving (the base, which holds no Job), training
(train/, and multinode/ for PyTorch), batch scoring (predict/), the MLflow server (mlflow/,
with tracking=mlflow) or the shared registry (registry/, with tracking=none) and the settings
Component they share. Every
manifest and every build is valid against Kubernetes' schemas, each kustomization lists every
manifest beside it, the restricted Pod Security Standard holds on every pod, GPUs are asked for
where the image is CUDA's, and checkov finds nothing.
Offline: kubernetes-validate bundles the schemas, and checkov runs with --skip-download from its
own environment (tools/checkov)."""

import itertools
import json
import os
import re
import shutil
from pathlib import Path

import pytest
import yaml

from helpers import (
    FRAMEWORKS,
    IMAGE_VARIANTS,
    REPO,
    copy_template,
    derived,
    on_cuda,
    project_env,
    run,
    tool,
)
from pod_to_docker import env_file

DEPLOY = Path("deploy/kubernetes")
TRAIN = DEPLOY / "train"
PREDICT = DEPLOY / "predict"
MULTINODE = DEPLOY / "multinode"
MLFLOW = DEPLOY / "mlflow"
REGISTRY = DEPLOY / "registry"
NAMESPACE = DEPLOY / "namespace"
OPENSHIFT = DEPLOY / "openshift"
SERVE_GPU = DEPLOY / "serve-gpu"
SETTINGS = DEPLOY / "settings"
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
IMAGE = "ml-project:0.1.0"
MLFLOW_IMAGE = f"ghcr.io/mlflow/mlflow:v{derived('mlflow_version')}"
# The settings that both tracking choices have, and those of MLflow only.
SETTINGS_KEYS = {
    "DATA_PATH",
    "LABEL_COLUMN",
    "IGNORE_COLUMNS",
    "EPOCHS",
    "MODEL_POLL_SECONDS",
    "PROMOTE_MIN_SCORE",
}
MLFLOW_KEYS = {
    "MLFLOW_TRACKING_URI",
    "MODEL_NAME",
    "MODEL_ALIAS",
    "MODEL_URI",
    "TRACKING_RETRY_SECONDS",
}
NO_MLFLOW_KEYS = {"REGISTRY_URL"}
# What `kubectl apply -k deploy/kubernetes` applies: serving, never a Job.
SERVING_KINDS = {
    "Namespace",
    "ConfigMap",
    "Deployment",
    "Service",
    "HorizontalPodAutoscaler",
    "PodDisruptionBudget",
    "NetworkPolicy",
}


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


def kustomizations(project: Path) -> list[Path]:
    """Every directory that `kubectl apply -k` takes (the settings Component is not one)."""
    found = [project / DEPLOY, project / TRAIN, project / PREDICT]
    found += [project / p for p in (MLFLOW, REGISTRY, MULTINODE) if (project / p).is_dir()]
    return found


def label(directory: Path) -> str:
    """A kustomization's name in messages: its path under deploy/kubernetes ("." for the base)."""
    parts = directory.parts
    return "." if parts[-1] == "kubernetes" else parts[-1]


def templates(project: Path) -> dict[str, dict]:
    """Every workload's pod template, by `<kustomization>/<file>`."""
    found = {}
    for directory in kustomizations(project):
        for name, resource in manifests(directory).items():
            if resource["kind"] in {"Job", "Deployment"}:
                found[f"{label(directory)}/{name}"] = resource["spec"]["template"]
    return found


def pods(project: Path) -> dict[str, dict]:
    """Every workload's pod spec, by `<kustomization>/<file>`."""
    return {name: template["spec"] for name, template in templates(project).items()}


def project_pods(project: Path) -> dict[str, dict]:
    """The pods that run the project's image (all but the MLflow server's)."""
    return {name: pod for name, pod in pods(project).items() if not name.startswith("mlflow/")}


def settings(project: Path) -> dict[str, str]:
    """The data of the settings ConfigMap, as kustomize makes it from settings.env."""
    return env_file((project / SETTINGS / "settings.env").read_text())


def kubectl() -> str:
    found = shutil.which("kubectl")
    if found is None:
        reason = "no kubectl on PATH (.ci/run installs Debian's kubernetes-client)"
        if os.environ.get("CI", "").lower() in {"1", "true", "yes"}:
            pytest.fail(f"{reason}, and CI=true")
        pytest.skip(reason)
    return found


def build(directory: Path) -> list[dict]:
    """`kubectl kustomize directory`: the resources that `kubectl apply -k` would apply."""
    built = run([kubectl(), "kustomize", str(directory)], cwd=directory).stdout
    return [resource for resource in yaml.safe_load_all(built) if resource]


def one(resources: list[dict], kind: str) -> dict:
    [found] = [resource for resource in resources if resource["kind"] == kind]
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


def test_each_kustomization_builds_into_resources_that_validate(variant, tmp_path):
    # What is applied is the build: the generated ConfigMap and the rewritten references too.
    _, project = variant
    for directory in kustomizations(project):
        validates(build(directory), tmp_path)


def test_each_kustomization_lists_exactly_the_manifests_beside_it(variant):
    answers, project = variant
    assert (project / MULTINODE).is_dir() == (answers["ml_framework"] == "pytorch")
    assert (project / MLFLOW).is_dir() == (answers["tracking"] == "mlflow")
    assert (project / REGISTRY).is_dir() == (answers["tracking"] == "none")
    assert not (project / DEPLOY / "configmap.yaml").exists(), "settings.env replaced it"

    for directory in kustomizations(project):
        kustomization = yaml.safe_load((directory / "kustomization.yaml").read_text())
        assert kustomization["kind"] == "Kustomization"
        assert sorted(kustomization["resources"]) == sorted(manifests(directory))
        assert kustomization["namespace"] == "ml-project"
        if directory.name == "mlflow":
            # The server's image is named, at its tag, in its Deployment only.
            assert "images" not in kustomization and "components" not in kustomization
            continue
        assert kustomization["images"] == [{"name": "ml-project", "newTag": "0.1.0"}]
        if directory == project / DEPLOY:
            assert kustomization["components"] == ["settings", "namespace"]
        else:
            assert kustomization["components"] == ["../settings"], label(directory)

    component = yaml.safe_load((project / SETTINGS / "kustomization.yaml").read_text())
    assert component["kind"] == "Component"
    assert "resources" not in component
    [generator] = component["configMapGenerator"]
    assert generator["envs"] == ["settings.env"]
    beside = sorted(path.name for path in (project / SETTINGS).iterdir())
    assert beside == ["kustomization.yaml", "settings.env"]


def test_kustomize_builds_each_kustomization_and_images_points_every_pod_elsewhere(
    variant, tmp_path
):
    answers, project = variant
    shutil.copytree(project / DEPLOY, tmp_path / DEPLOY)

    for directory in kustomizations(tmp_path):
        kustomization = directory / "kustomization.yaml"
        config = yaml.safe_load(kustomization.read_text())
        expected = {MLFLOW_IMAGE}
        if "images" in config:
            config["images"][0]["newName"] = "registry.example.com/team/ml-project"
            kustomization.write_text(yaml.safe_dump(config))
            expected = {"registry.example.com/team/ml-project:0.1.0"}
        resources = build(directory)

        generated = 1 if "components" in config else 0  # the settings ConfigMap
        generated += 1 if "namespace" in config.get("components", []) else 0
        assert len(resources) == len(manifests(directory)) + generated, label(directory)
        assert {r["metadata"].get("namespace", "ml-project") for r in resources} == {"ml-project"}
        images = {
            container["image"]
            for r in resources
            if r["kind"] in {"Job", "Deployment"}
            for container in r["spec"]["template"]["spec"]["containers"]
        }
        assert images == expected, label(directory)


def test_the_base_serves_only_and_holds_no_job(variant):
    _, project = variant
    resources = build(project / DEPLOY)

    kinds = [resource["kind"] for resource in resources]
    assert "Job" not in kinds
    assert set(kinds) == SERVING_KINDS
    assert one(resources, "Deployment")["spec"]["template"]["spec"]["containers"][0]["args"] == [
        "serve"
    ]


def failure_rules(job: dict) -> list[dict]:
    return job["spec"]["podFailurePolicy"]["rules"]


def action_for_exit_code(job: dict, code: int) -> str | None:
    """What the Job's podFailurePolicy does when the container `train` exits with `code`: the
    action of the first rule that matches it (None: no rule, so the failure counts against
    backoffLimit, as `Count` does)."""
    for rule in failure_rules(job):
        codes = rule.get("onExitCodes")
        if codes is None or codes.get("containerName", "train") != "train":
            continue
        listed = code in codes["values"]
        if listed == (codes["operator"] == "In"):
            return rule["action"]
    return None


def kinds(resources: list[dict]) -> list[str]:
    return sorted(resource["kind"] for resource in resources)


def test_training_has_its_own_kustomization_with_the_job_and_its_failure_policy(variant):
    _, project = variant
    resources = build(project / TRAIN)

    assert kinds(resources) == ["ConfigMap", "Job", "NetworkPolicy", "PersistentVolumeClaim"]
    job = one(resources, "Job")
    pod = job["spec"]["template"]["spec"]
    assert pod["containers"][0]["args"] == ["train"]
    assert pod["restartPolicy"] == "Never"  # podFailurePolicy needs it
    # Exit code 2 (a bad setting or data) fails the Job at once; 75 (the tracking server was
    # unreachable) is retried, against backoffLimit; a disrupted pod is replaced for free.
    assert action_for_exit_code(job, 2) == "FailJob"
    assert action_for_exit_code(job, 75) in ("Count", None)
    assert job["spec"]["backoffLimit"] >= 1
    disruption = [rule for rule in failure_rules(job) if "onPodConditions" in rule]
    assert disruption == [{"action": "Ignore", "onPodConditions": [{"type": "DisruptionTarget"}]}]
    claim = one(resources, "PersistentVolumeClaim")["metadata"]["name"]
    outputs = [v for v in pod["volumes"] if "persistentVolumeClaim" in v]
    assert [v["persistentVolumeClaim"]["claimName"] for v in outputs] == [claim]


def test_batch_scoring_is_a_job_of_its_own_that_reads_and_writes_a_claim(variant):
    answers, project = variant
    resources = build(project / PREDICT)
    job = one(resources, "Job")
    pod = job["spec"]["template"]["spec"]
    [container] = pod["containers"]

    assert kinds(resources) == ["ConfigMap", "Job", "NetworkPolicy", "PersistentVolumeClaim"]
    assert container["args"] == [
        "predict",
        "--input",
        "/data/input.parquet",
        "--output",
        "/data/scored.parquet",
    ]
    assert one(resources, "PersistentVolumeClaim")["metadata"]["name"] == "ml-project-batch"
    # Its settings (the model to score with) are serving's: the same ConfigMap.
    serving = build(project / DEPLOY)
    assert one(resources, "ConfigMap")["data"] == one(serving, "ConfigMap")["data"]
    [fail] = job["spec"]["podFailurePolicy"]["rules"][:1]
    assert fail["action"] == "FailJob" and fail["onExitCodes"]["values"] == [2]
    assert "nvidia.com/gpu" not in container["resources"]["limits"]
    hidden = {"name": "NVIDIA_VISIBLE_DEVICES", "value": "void"}
    assert (hidden in container.get("env", [])) == on_cuda(answers)


def test_multinode_training_retries_an_unreachable_tracking_server_too(variant):
    answers, project = variant
    if answers["ml_framework"] != "pytorch":
        return
    resources = build(project / MULTINODE)
    job = one(resources, "Job")

    assert action_for_exit_code(job, 75) == "Count"
    assert {"action": "Ignore", "onPodConditions": [{"type": "DisruptionTarget"}]} in (
        failure_rules(job)
    )


def config_map_references(resources: list[dict]) -> set[str]:
    return {
        source["configMapRef"]["name"]
        for resource in resources
        if resource["kind"] in {"Job", "Deployment"}
        for source in resource["spec"]["template"]["spec"]["containers"][0].get("envFrom", [])
        if "configMapRef" in source
    }


def test_the_settings_configmap_is_named_by_its_hash_and_shared_by_serving_and_training(
    variant, tmp_path
):
    answers, project = variant
    builds = {label(d): build(d) for d in kustomizations(project) if d.name != "mlflow"}

    names = {
        where: one(resources, "ConfigMap")["metadata"]["name"]
        for where, resources in builds.items()
    }
    [name] = set(names.values())  # one ConfigMap, whichever kustomization applies it
    assert re.fullmatch(r"ml-project-config-[a-z0-9]{10}", name), name
    for where, resources in builds.items():
        assert config_map_references(resources) == {name}, where
    assert one(builds["."], "ConfigMap")["data"] == settings(project)

    # A changed setting is a new ConfigMap, which the serving pods roll onto.
    deploy = shutil.copytree(project / DEPLOY, tmp_path / DEPLOY)
    env = deploy / "settings" / "settings.env"
    env.write_text(env.read_text().replace("EPOCHS=20", "EPOCHS=21"))
    changed = build(deploy)
    renamed = one(changed, "ConfigMap")["metadata"]["name"]
    assert renamed != name and config_map_references(changed) == {renamed}


def test_the_settings_keep_their_keys_with_a_comment_for_each(variant):
    answers, project = variant
    data = settings(project)
    mlflow = answers["tracking"] == "mlflow"

    assert set(data) == SETTINGS_KEYS | (MLFLOW_KEYS if mlflow else NO_MLFLOW_KEYS)
    assert data["MODEL_POLL_SECONDS"] == "30" and data["PROMOTE_MIN_SCORE"] == "0"
    if mlflow:
        assert data["MODEL_NAME"] == "ml-project" and data["MODEL_ALIAS"] == "champion"
        assert data["MODEL_URI"] == "", "serve follows MODEL_NAME@MODEL_ALIAS by default"
    lines = (project / SETTINGS / "settings.env").read_text().splitlines()
    for key in data:
        [at] = [n for n, line in enumerate(lines) if line.startswith(f"{key}=")]
        above = lines[:at]
        # Each setting follows a comment, or another setting that follows one.
        while above and not above[-1].startswith("#"):
            assert re.match(r"[A-Z_]+=", above[-1]), f"{key}: {above[-1]!r}"
            above.pop()
        assert above, key


def test_with_mlflow_a_server_of_the_clients_version_is_the_default_tracking_uri(variant):
    answers, project = variant
    if answers["tracking"] != "mlflow":
        assert not (project / MLFLOW).exists()
        assert not MLFLOW_KEYS & set(settings(project))
        return
    resources = build(project / MLFLOW)
    assert kinds(resources) == ["Deployment", "NetworkPolicy", "PersistentVolumeClaim", "Service"]
    deployment, service = one(resources, "Deployment"), one(resources, "Service")
    policy, claim = one(resources, "NetworkPolicy"), one(resources, "PersistentVolumeClaim")
    pod = deployment["spec"]["template"]["spec"]
    [container] = pod["containers"]

    # The official image at copier.yml's mlflow_version, which compose.yaml runs too.
    assert container["image"] == MLFLOW_IMAGE
    assert f"image: {MLFLOW_IMAGE}" in (project / "compose.yaml").read_text()
    command = container["command"]
    assert command[:2] == ["mlflow", "server"]
    assert "--serve-artifacts" in command and "--port=5000" in command
    assert deployment["spec"]["replicas"] == 1
    assert deployment["spec"]["strategy"] == {"type": "Recreate"}
    # The store and the artifacts are on the claim.
    mounts = {m["mountPath"]: m["name"] for m in container["volumeMounts"]}
    volumes = {v["name"]: v for v in pod["volumes"]}
    store = next(p for p, n in mounts.items() if "persistentVolumeClaim" in volumes[n])
    assert volumes[mounts[store]]["persistentVolumeClaim"]["claimName"] == claim["metadata"]["name"]
    options = dict(argument.split("=", 1) for argument in command if "=" in argument)
    assert options["--backend-store-uri"].startswith(f"sqlite:///{store}/")
    assert options["--artifacts-destination"].startswith(f"{store}/")
    assert "emptyDir" in volumes[mounts["/tmp"]]
    for probe in ("startupProbe", "livenessProbe", "readinessProbe"):
        assert container[probe]["httpGet"] == {"path": "/health", "port": "http"}, probe

    # The Service, on port 5000, is the settings' default MLFLOW_TRACKING_URI.
    name = service["metadata"]["name"]
    [port] = service["spec"]["ports"]
    assert port["port"] == 5000
    assert settings(project)["MLFLOW_TRACKING_URI"] == f"http://{name}:5000"
    assert f"{name}:5000" in options["--allowed-hosts"].split(",")
    assert service["spec"]["selector"] == deployment["spec"]["selector"]["matchLabels"]
    # Only the project's pods connect to it.
    assert policy["spec"]["podSelector"]["matchLabels"] == service["spec"]["selector"]
    [rule] = policy["spec"]["ingress"]
    assert rule["from"] == [
        {"podSelector": {"matchLabels": {"app.kubernetes.io/name": "ml-project"}}}
    ]
    allowed = rule["from"][0]["podSelector"]["matchLabels"].items()
    for where, template in templates(project).items():
        assert allowed <= template["metadata"]["labels"].items(), where


def test_every_pod_meets_the_restricted_pod_security_standard(variant):
    answers, project = variant
    flavor = answers["image_flavor"]
    namespace = yaml.safe_load((project / NAMESPACE / "namespace.yaml").read_text())
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
            expected = MLFLOW_IMAGE if name.startswith("mlflow/") else IMAGE
            assert container["image"] == expected, name


def test_writable_paths_are_volumes_and_serving_mounts_no_claim(variant):
    answers, project = variant
    flavor = answers["image_flavor"]
    outputs = f"{APP_DIR[flavor]}/outputs"
    mlflow = answers["tracking"] == "mlflow"
    # MLflow keeps an id under HOME; where HOME is the code's directory it stays read-only.
    home_written = mlflow and HOME[flavor] != APP_DIR[flavor]
    claim = manifests(project / TRAIN)["outputs-pvc.yaml"]["metadata"]["name"]

    for name, pod in project_pods(project).items():
        volumes = {volume["name"]: volume for volume in pod["volumes"]}
        container_mounts = pod["containers"][0]["volumeMounts"]
        mounts = {m["mountPath"]: volumes[m["name"]] for m in container_mounts}
        read_only = {m["mountPath"] for m in container_mounts if m.get("readOnly")}
        expected = {"/tmp"} | ({HOME[flavor]} if home_written else set())
        if name.startswith("multinode/"):
            expected.add("/dev/shm")
        if name.startswith("predict/"):
            # Batch scoring reads and writes its files on a claim of its own; the model comes
            # as serving's does.
            expected.add("/data")
            assert mounts["/data"]["persistentVolumeClaim"]["claimName"] == "ml-project-batch"
        elif not name.startswith("./"):
            # Training's OUTPUT_DIR (runs, checkpoints, the registry without MLflow) is a claim
            # that outlives the pod; the shared registry mounts it too (promote runs there).
            expected.add(outputs)
            assert "persistentVolumeClaim" in mounts[outputs], name
            if not name.startswith("multinode/"):
                assert mounts[outputs]["persistentVolumeClaim"]["claimName"] == claim, name
        # Serving mounts no claim: its replicas may run on any node; the model comes from the
        # MLflow server or the shared registry.
        assert not read_only, name
        assert set(mounts) == expected, name
        assert "emptyDir" in mounts["/tmp"], name


def test_without_mlflow_serving_follows_the_shared_registry_over_http(variant):
    answers, project = variant
    if answers["tracking"] == "mlflow":
        assert not (project / REGISTRY).exists()
        assert "REGISTRY_URL" not in settings(project)
        return
    resources = build(project / REGISTRY)
    assert kinds(resources) == ["ConfigMap", "Deployment", "NetworkPolicy", "Service"]
    deployment, service = one(resources, "Deployment"), one(resources, "Service")
    policy = one(resources, "NetworkPolicy")
    [container] = deployment["spec"]["template"]["spec"]["containers"]

    assert container["args"] == ["share-registry"]
    for probe in ("readinessProbe", "livenessProbe"):
        assert container[probe]["httpGet"] == {"path": "/health", "port": "http"}, probe
    assert deployment["spec"]["replicas"] == 1
    assert deployment["spec"]["strategy"] == {"type": "Recreate"}
    # Serving reaches it by the Service's name, the settings' REGISTRY_URL ...
    [port] = service["spec"]["ports"]
    url = f"http://{service['metadata']['name']}:{port['port']}"
    assert settings(project)["REGISTRY_URL"] == url
    assert service["spec"]["selector"] == deployment["spec"]["selector"]["matchLabels"]
    assert container["ports"] == [{"name": "http", "containerPort": 8080}]
    # ... and only serving and batch scoring do.
    [rule] = policy["spec"]["ingress"]
    [source] = rule["from"]
    serving = manifests(project / DEPLOY)["serve-deployment.yaml"]["spec"]["template"]
    scoring = manifests(project / PREDICT)["predict-job.yaml"]["spec"]["template"]
    [expression] = source["podSelector"]["matchExpressions"]
    for pod in (serving, scoring):
        labels = pod["metadata"]["labels"]
        assert source["podSelector"]["matchLabels"].items() <= labels.items()
        assert labels[expression["key"]] in expression["values"]
    assert set(expression["values"]) == {"serve", "predict"}
    assert "affinity" not in serving["spec"], "the replicas go to any node"


def test_without_mlflow_the_pods_of_the_readwriteonce_claim_run_on_one_node(variant):
    # ReadWriteOnce: the claim is mounted on one node at a time, so the Job and the shared
    # registry go where the other is (the first anywhere).
    answers, project = variant
    train = manifests(project / TRAIN)
    claim = train["outputs-pvc.yaml"]
    assert claim["spec"]["accessModes"] == ["ReadWriteOnce"]
    mounting = [train["train-job.yaml"]]
    if answers["tracking"] == "none":
        mounting.append(manifests(project / REGISTRY)["registry-deployment.yaml"])

    for workload in mounting:
        pod = workload["spec"]["template"]
        if answers["tracking"] == "mlflow":
            assert "affinity" not in pod["spec"], workload["kind"]
            continue
        [term] = pod["spec"]["affinity"]["podAffinity"][
            "requiredDuringSchedulingIgnoredDuringExecution"
        ]
        assert term["topologyKey"] == "kubernetes.io/hostname"
        selector = term["labelSelector"]
        assert selector["matchLabels"] == {"app.kubernetes.io/name": "ml-project"}
        [expression] = selector["matchExpressions"]
        assert expression["key"] == "app.kubernetes.io/component"
        assert set(expression["values"]) == {"registry", "train"}
        assert pod["metadata"]["labels"]["app.kubernetes.io/component"] in expression["values"]
        # On CUDA that node has the Job's GPU: the registry tolerates the taint GPU nodes carry.
        gpu = {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}
        assert (gpu in pod["spec"].get("tolerations", [])) == on_cuda(answers), workload["kind"]


def test_gpus_are_asked_for_exactly_where_the_image_is_cuda(variant):
    answers, project = variant
    serving = manifests(project / DEPLOY)["serve-deployment.yaml"]["spec"]["template"]["spec"]
    # NVIDIA's images make every GPU visible to a pod that asked for none: serving hides them.
    hidden = {"name": "NVIDIA_VISIBLE_DEVICES", "value": "void"}
    assert (hidden in serving["containers"][0].get("env", [])) == on_cuda(answers)
    for name, pod in pods(project).items():
        limits = pod["containers"][0]["resources"]["limits"]
        # Only training by default: GPU serving is the opt-in serve-gpu Component (PyTorch).
        training = name.startswith(("train/", "multinode/"))
        assert ("nvidia.com/gpu" in limits) == (on_cuda(answers) and training), name
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
    component = yaml.safe_load((project / SETTINGS / "kustomization.yaml").read_text())
    [generator] = component["configMapGenerator"]
    assert generator["name"] == "ml-project-config"

    for name, pod in project_pods(project).items():
        sources = pod["containers"][0]["envFrom"]
        assert {"configMapRef": {"name": "ml-project-config"}} in sources, name
        secret = {"secretRef": {"name": "ml-project-tracking", "optional": True}}
        assert (secret in sources) == (answers["tracking"] == "mlflow"), name
    for name, pod in pods(project).items():
        if name.startswith("mlflow/"):
            assert "envFrom" not in pod["containers"][0], "the server reads no project setting"


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
    workloads = sum(len(pods(project)) for project in rendered.values())
    # serve, train, predict, and the MLflow server or the shared registry; multinode with PyTorch.
    assert workloads == 4 * len(rendered) + sum(
        answers["ml_framework"] == "pytorch" for answers in VARIANTS
    )
    assert summaries["kubernetes"]["passed"] > workloads * 20, summaries
    assert result.returncode == 0, result.stderr[-2000:]


def test_long_project_names_give_object_names_that_kubernetes_accepts(copie_session):
    # Object names are DNS labels (63 characters at most); the longest one made from the name is
    # a multi-node pod's hostname, <name>-train-multinode-<index>.
    name = "An Extraordinarily Long Machine Learning Project Name For Churn Prediction"
    project = copy_template(copie_session, project_name=name, ml_framework="pytorch")
    label_pattern = re.compile(r"^[a-z]([-a-z0-9]*[a-z0-9])?$")
    assert (project / MLFLOW).is_dir() and (project / MULTINODE).is_dir()

    for directory in kustomizations(project):
        kustomization = yaml.safe_load((directory / "kustomization.yaml").read_text())
        # The image keeps the project's full name: image names have no such limit.
        if "images" in kustomization:
            assert kustomization["images"][0]["name"] == name.lower().replace(" ", "-")
        resources = build(directory)
        for resource in resources:
            where = f"{label(directory)}: {resource['kind']}"
            names = [resource["metadata"]["name"], kustomization["namespace"]]
            names += resource["metadata"].get("labels", {}).values()
            if resource["kind"] == "Job" and resource["spec"].get("completionMode") == "Indexed":
                names.append(f"{resource['metadata']['name']}-{resource['spec']['completions']}")
            for value in names:
                assert len(value) <= 63 and label_pattern.match(value), f"{where}: {value!r}"


def with_component(project: Path, tmp_path: Path, component: str) -> Path:
    """A copy of deploy/kubernetes with `component` added to every kustomization that runs the
    project's image, as the README says to."""
    deploy = shutil.copytree(project / DEPLOY, tmp_path / DEPLOY)
    for directory in kustomizations(tmp_path):
        kustomization = directory / "kustomization.yaml"
        config = yaml.safe_load(kustomization.read_text())
        if "components" in config or component == "openshift":
            prefix = "" if directory == deploy else "../"
            config.setdefault("components", []).append(prefix + component)
            kustomization.write_text(yaml.safe_dump(config))
    return deploy


def validates(resources: list[dict], tmp_path: Path) -> None:
    built = tmp_path / "built.yaml"
    built.write_text(yaml.safe_dump_all(resources))
    result = run([tool("kubernetes-validate"), "--strict", str(built)], cwd=tmp_path)
    assert result.stdout.count(" passed for resource ") == len(resources), result.stdout


def test_the_namespace_is_a_component_that_a_given_namespace_leaves_out(variant, tmp_path):
    _, project = variant
    deploy = shutil.copytree(project / DEPLOY, tmp_path / DEPLOY)
    kustomization = deploy / "kustomization.yaml"
    config = yaml.safe_load(kustomization.read_text())
    config["components"].remove("namespace")
    config["namespace"] = "team-ml"
    kustomization.write_text(yaml.safe_dump(config))

    resources = build(deploy)

    assert "Namespace" in kinds(build(project / DEPLOY))
    assert "Namespace" not in kinds(resources)
    assert {r["metadata"]["namespace"] for r in resources} == {"team-ml"}
    validates(resources, tmp_path)


def test_the_openshift_component_leaves_uid_gid_and_fsgroup_to_the_platform(variant, tmp_path):
    _, project = variant
    deploy = with_component(project, tmp_path, "openshift")
    checked = 0

    for directory in kustomizations(tmp_path):
        resources = build(directory)
        for resource in resources:
            if resource["kind"] not in {"Deployment", "Job"}:
                continue
            pod = resource["spec"]["template"]["spec"]
            context = pod["securityContext"]
            assert not {"runAsUser", "runAsGroup", "fsGroup"} & set(context), label(directory)
            assert context["runAsNonRoot"] is True
            for container in pod["containers"]:
                security = container["securityContext"]
                assert not {"runAsUser", "runAsGroup"} & set(security), label(directory)
                assert security["readOnlyRootFilesystem"] is True
                assert security["capabilities"] == {"drop": ["ALL"]}
            checked += 1
        validates(resources, tmp_path)
    assert checked == len(pods(project)) and deploy.is_dir()


def test_the_openshift_component_leaves_a_workload_of_the_teams_own_alone(variant, tmp_path):
    # A team's workload that names no uid: removing what is not there would fail the build.
    _, project = variant
    deploy = with_component(project, tmp_path, "openshift")
    (deploy / "worker-deployment.yaml").write_text(TEAMS_WORKER)
    kustomization = deploy / "kustomization.yaml"
    config = yaml.safe_load(kustomization.read_text())
    config["resources"].append("worker-deployment.yaml")
    kustomization.write_text(yaml.safe_dump(config))

    resources = build(deploy)

    workers = [r for r in resources if r["metadata"]["name"] == "worker"]
    assert [w["spec"]["template"]["spec"]["containers"][0]["image"] for w in workers] == ["worker"]
    serve = one([r for r in resources if r["metadata"]["name"] != "worker"], "Deployment")
    assert "runAsUser" not in serve["spec"]["template"]["spec"]["securityContext"]


TEAMS_WORKER = """\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: worker
spec:
  selector:
    matchLabels: {app: worker}
  template:
    metadata:
      labels: {app: worker}
    spec:
      containers:
        - name: worker
          image: worker
"""


def test_pytorch_on_cuda_serves_on_gpus_with_an_opt_in_component(variant, tmp_path):
    answers, project = variant
    if not (answers["ml_framework"] == "pytorch" and on_cuda(answers)):
        assert not (project / SERVE_GPU).exists()
        return
    deploy = shutil.copytree(project / DEPLOY, tmp_path / DEPLOY)
    kustomization = deploy / "kustomization.yaml"
    config = yaml.safe_load(kustomization.read_text())
    config["components"].append("serve-gpu")
    kustomization.write_text(yaml.safe_dump(config))

    default = one(build(project / DEPLOY), "Deployment")["spec"]["template"]["spec"]
    resources = build(deploy)
    pod = one(resources, "Deployment")["spec"]["template"]["spec"]

    assert "nvidia.com/gpu" not in default["containers"][0]["resources"]["limits"]
    hidden = {"name": "NVIDIA_VISIBLE_DEVICES", "value": "void"}
    assert hidden in default["containers"][0]["env"]
    assert hidden not in pod["containers"][0].get("env", [])
    limits = pod["containers"][0]["resources"]["limits"]
    assert limits["nvidia.com/gpu"] == 1 and limits["memory"] and limits["cpu"]
    gpu = {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}
    assert gpu in pod["tolerations"]
    validates(resources, tmp_path)
