"""pod_to_docker turns a workload's pod into the docker SDK's run options, field by field."""

from pathlib import Path

import pytest

from pod_to_docker import Untranslatable, describe, docker_run_options, env_file, quantity

CONFIG = {"app-config": {"DATA_PATH": "", "EPOCHS": "3"}}


def job(container: dict | None = None, pod: dict | None = None, volumes: list | None = None):
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": "train"},
        "spec": {
            "template": {
                "spec": {
                    "securityContext": {
                        "runAsNonRoot": True,
                        "runAsUser": 10001,
                        "runAsGroup": 0,
                        "fsGroup": 0,
                        "seccompProfile": {"type": "RuntimeDefault"},
                        **(pod or {}),
                    },
                    "containers": [{"name": "train", "image": "x:1", **(container or {})}],
                    "volumes": volumes or [],
                }
            }
        },
    }


RESTRICTED_CONTAINER = {
    "args": ["train"],
    "securityContext": {
        "readOnlyRootFilesystem": True,
        "allowPrivilegeEscalation": False,
        "capabilities": {"drop": ["ALL"]},
    },
    "envFrom": [
        {"configMapRef": {"name": "app-config"}},
        {"secretRef": {"name": "app-tracking", "optional": True}},
    ],
    "env": [{"name": "EPOCHS", "value": "5"}],
    "resources": {"limits": {"cpu": "500m", "memory": "2Gi"}},
    "volumeMounts": [
        {"name": "tmp", "mountPath": "/tmp"},
        {"name": "outputs", "mountPath": "/app/outputs"},
    ],
}
VOLUMES = [
    {"name": "tmp", "emptyDir": {"sizeLimit": "1Gi"}},
    {"name": "outputs", "persistentVolumeClaim": {"claimName": "app-outputs"}},
]


def test_a_restricted_pod_becomes_the_matching_docker_options():
    claims = {"app-outputs": Path("/srv/outputs")}

    options = docker_run_options(
        job(RESTRICTED_CONTAINER, volumes=VOLUMES), config_maps=CONFIG, claims=claims
    )

    assert options == {
        "user": "10001:0",
        "group_add": ["0"],
        "read_only": True,
        "cap_drop": ["ALL"],
        "security_opt": ["no-new-privileges"],
        # envFrom first, env over it; the missing optional Secret adds nothing.
        "environment": {"DATA_PATH": "", "EPOCHS": "5"},
        "tmpfs": {"/tmp": f"rw,exec,mode=0777,size={2**30}"},
        "volumes": {"/srv/outputs": {"bind": "/app/outputs", "mode": "rw"}},
        "nano_cpus": 500_000_000,
        "mem_limit": 2 * 2**30,
        "command": ["train"],
    }


def test_the_container_context_wins_and_command_becomes_the_entrypoint():
    container = {
        "command": ["torchrun"],
        "args": ["--nnodes=2", "main.py", "train"],
        "securityContext": {"runAsUser": 42420, "runAsGroup": 42420},
        "env": [
            {
                "name": "A",
                "valueFrom": {"configMapKeyRef": {"name": "app-config", "key": "EPOCHS"}},
            },
            {
                "name": "TOKEN",
                "valueFrom": {"secretKeyRef": {"name": "s", "key": "t", "optional": True}},
            },
        ],
    }

    options = docker_run_options(job(container), config_maps=CONFIG)

    assert options["user"] == "42420:42420"
    assert options["entrypoint"] == ["torchrun"]
    assert options["command"] == ["--nnodes=2", "main.py", "train"]
    assert options["environment"] == {"A": "3"}
    assert "read_only" not in options and "security_opt" not in options


def test_a_secret_that_is_given_is_read():
    container = {"envFrom": [{"secretRef": {"name": "app-tracking", "optional": True}}]}

    options = docker_run_options(job(container), secrets={"app-tracking": {"TOKEN": "t0k"}})

    assert options["environment"] == {"TOKEN": "t0k"}


@pytest.mark.parametrize(
    ("workload", "message"),
    [
        (job(pod={"runAsUser": 0}), "give a non-zero runAsUser"),
        (job({"envFrom": [{"configMapRef": {"name": "absent"}}]}), "missing and not optional"),
        (
            job(
                {"volumeMounts": [{"name": "cfg", "mountPath": "/etc/x"}]},
                volumes=[{"name": "cfg", "configMap": {"name": "c"}}],
            ),
            "only emptyDir and claims",
        ),
        (
            job(
                {"volumeMounts": [{"name": "outputs", "mountPath": "/o"}]},
                volumes=VOLUMES,
            ),
            "give a host directory for it",
        ),
        (job(pod={"seccompProfile": {"type": "Unconfined"}}), "only RuntimeDefault"),
        ({"kind": "Service", "spec": {}}, "give a Job or a Deployment"),
    ],
)
def test_what_cannot_be_translated_is_refused_with_the_reason(workload, message):
    with pytest.raises(Untranslatable, match=message):
        docker_run_options(workload)


@pytest.mark.parametrize(
    ("text", "value"), [("500m", 0.5), ("2", 2), ("1Gi", 2**30), ("512Mi", 2**29), ("1G", 1e9)]
)
def test_quantities(text, value):
    assert quantity(text) == value


def test_describe_prints_docker_run_flags():
    options = docker_run_options(
        job(RESTRICTED_CONTAINER, volumes=VOLUMES),
        config_maps=CONFIG,
        claims={"app-outputs": Path("/srv/o")},
    )

    assert describe(options) == (
        "--user 10001:0 --group-add 0 --read-only --cap-drop ALL"
        " --security-opt no-new-privileges"
        f" --tmpfs /tmp:rw,exec,mode=0777,size={2**30} -v CLAIM:/app/outputs:rw"
        " --memory 2048m --cpus 0.5 -e DATA_PATH= -e EPOCHS=5 train"
    )


def test_an_env_file_is_read_as_kustomize_makes_its_configmap():
    # What `kubectl kustomize` (5.5) made of the same lines: comments and blank lines skipped,
    # leading blanks dropped, the value kept as written after the first `=`.
    text = '# settings\n\n  A=1 \nB="x y"\nC=a=b\nD=\n'

    assert env_file(text) == {"A": "1 ", "B": '"x y"', "C": "a=b", "D": ""}


def test_an_env_file_line_without_a_value_is_refused():
    with pytest.raises(Untranslatable, match="line 2, 'TOKEN': no `=`"):
        env_file("A=1\nTOKEN\n")


def test_a_claim_mounted_read_only_becomes_a_read_only_bind():
    container = {
        "volumeMounts": [{"name": "outputs", "mountPath": "/app/outputs", "readOnly": True}]
    }

    options = docker_run_options(
        job(container, volumes=VOLUMES), claims={"app-outputs": Path("/o")}
    )

    assert options["volumes"] == {"/o": {"bind": "/app/outputs", "mode": "ro"}}
