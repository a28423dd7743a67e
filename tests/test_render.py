"""Every variant renders the files it should, and they are clean: ruff, hadolint, no stray lines."""

import itertools
import re

import pytest
import yaml

from helpers import (
    CI_SERVICES,
    FLAVORS,
    FRAMEWORKS,
    copy_template,
    on_cuda,
    project_files,
    run,
    tool,
)

TRACKING = ["mlflow", "none"]

COMMON_FILES = {
    ".copier-answers.yml",
    ".devcontainer/devcontainer.json",
    ".dockerignore",
    ".gitignore",
    ".pre-commit-config.yaml",
    ".python-version",
    "Dockerfile",
    "README.md",
    "compose.yaml",
    "deploy/ovhcloud.sh",
    "deploy/kubernetes/kustomization.yaml",
    "deploy/kubernetes/namespace/kustomization.yaml",
    "deploy/kubernetes/namespace/namespace.yaml",
    "deploy/kubernetes/openshift/kustomization.yaml",
    "deploy/kubernetes/predict/batch-pvc.yaml",
    "deploy/kubernetes/predict/kustomization.yaml",
    "deploy/kubernetes/predict/predict-job.yaml",
    "deploy/kubernetes/predict/predict-networkpolicy.yaml",
    "deploy/kubernetes/serve-deployment.yaml",
    "deploy/kubernetes/serve-hpa.yaml",
    "deploy/kubernetes/serve-networkpolicy.yaml",
    "deploy/kubernetes/serve-pdb.yaml",
    "deploy/kubernetes/serve-service.yaml",
    "deploy/kubernetes/settings/kustomization.yaml",
    "deploy/kubernetes/settings/settings.env",
    "deploy/kubernetes/train/kustomization.yaml",
    "deploy/kubernetes/train/outputs-pvc.yaml",
    "deploy/kubernetes/train/train-job.yaml",
    "deploy/kubernetes/train/train-networkpolicy.yaml",
    "main.py",
    "pyproject.toml",
    "src/{pkg}/__init__.py",
    "src/{pkg}/artifacts.py",
    "src/{pkg}/batch.py",
    "src/{pkg}/binary_tensors.py",
    "src/{pkg}/cli.py",
    "src/{pkg}/config.py",
    "src/{pkg}/contract.py",
    "src/{pkg}/data.py",
    "src/{pkg}/device.py",
    "src/{pkg}/draining.py",
    "src/{pkg}/following.py",
    "src/{pkg}/healthcheck.py",
    "src/{pkg}/http_limits.py",
    "src/{pkg}/inference.py",
    "src/{pkg}/inference_protocol.py",
    "src/{pkg}/info.py",
    "src/{pkg}/listening.py",
    "src/{pkg}/model.py",
    "src/{pkg}/predictor.py",
    "src/{pkg}/progress.py",
    "src/{pkg}/promotion.py",
    "src/{pkg}/provenance.py",
    "src/{pkg}/registry.py",
    "src/{pkg}/scoring_protocol.py",
    "src/{pkg}/server.py",
    "src/{pkg}/stopping.py",
    "src/{pkg}/tracking.py",
    "src/{pkg}/training.py",
    "tests/conftest.py",
    "tests/test_config.py",
    "tests/test_contract.py",
    "tests/test_api_schema.py",
    "tests/test_batch.py",
    "tests/test_data.py",
    "tests/test_model.py",
    "tests/test_server.py",
    "tests/test_serving.py",
    "tests/test_training.py",
}
TRACKING_FILES = {
    "mlflow": {
        "src/ml_project/mlflow_model.py",
        "tests/test_tracking.py",
        "deploy/kubernetes/mlflow/kustomization.yaml",
        "deploy/kubernetes/mlflow/mlflow-deployment.yaml",
        "deploy/kubernetes/mlflow/mlflow-networkpolicy.yaml",
        "deploy/kubernetes/mlflow/mlflow-pvc.yaml",
        "deploy/kubernetes/mlflow/mlflow-service.yaml",
    },
    "none": {
        "src/ml_project/sharing.py",
        "deploy/kubernetes/registry/kustomization.yaml",
        "deploy/kubernetes/registry/registry-deployment.yaml",
        "deploy/kubernetes/registry/registry-networkpolicy.yaml",
        "deploy/kubernetes/registry/registry-service.yaml",
    },
}
# Data-parallel training under torchrun, and its multi-node recipe (an Indexed Job), are PyTorch's.
FRAMEWORK_FILES = {
    "pytorch": {
        "src/ml_project/distributed.py",
        "deploy/kubernetes/multinode/kustomization.yaml",
        "deploy/kubernetes/multinode/outputs-pvc.yaml",
        "deploy/kubernetes/multinode/train-job.yaml",
        "deploy/kubernetes/multinode/train-networkpolicy.yaml",
        "deploy/kubernetes/multinode/train-service.yaml",
    },
    "scikit-learn": set(),
    "none": set(),
}
CI_FILES = {
    "github": {
        ".github/workflows/ci.yml",
        ".github/workflows/release.yml",
        ".github/workflows/template-update.yml",
        ".github/dependabot.yml",
    },
    "gitlab": {".gitlab-ci.yml"},
    "none": set(),
}

# Every flavor x framework x tracking, each CI service in turn, plus the other Python and CUDA
# choices.
VARIANTS = [
    {"image_flavor": flavor, "ml_framework": framework, "tracking": tracking, "ci": ci}
    for (flavor, framework, tracking), ci in zip(
        itertools.product(FLAVORS, FRAMEWORKS, TRACKING), itertools.cycle(CI_SERVICES)
    )
] + [
    {"python_version": "3.11"},
    {"python_version": "3.12", "image_flavor": "relocated-home"},
    {"python_version": "3.14", "ml_framework": "none"},
    {"image_flavor": "cuda", "cuda_version": "13.0.2", "ubuntu_version": "22.04"},
    {"image_flavor": "cuda", "cuda_version": "12.6.3", "python_version": "3.12"},
    {"image_flavor": "relocated-home", "relocated_home_base": "uv", "ml_framework": "pytorch"},
    {
        "image_flavor": "relocated-home",
        "ml_framework": "pytorch",
        "cuda_version": "13.0.2",
        "ubuntu_version": "22.04",
    },
]


def variant_id(answers):
    return "-".join(answers.values())


@pytest.fixture(scope="module", params=VARIANTS, ids=variant_id)
def variant(request, copie_session):
    return request.param, copy_template(copie_session, **request.param)


def test_renders_exactly_the_expected_files(variant):
    answers, project = variant
    expected = {name.format(pkg="ml_project") for name in COMMON_FILES}
    expected |= CI_FILES[answers.get("ci", "github")]
    expected |= TRACKING_FILES[answers.get("tracking", "mlflow")]
    expected |= FRAMEWORK_FILES[answers.get("ml_framework", "scikit-learn")]
    expected |= {"compose.gpu.yaml"} if on_cuda(answers) else set()
    if answers.get("ml_framework") == "pytorch" and on_cuda(answers):
        expected.add("deploy/kubernetes/serve-gpu/kustomization.yaml")  # GPU serving, opt-in

    assert project_files(project) == expected


def github_anchor(heading: str) -> str:
    """The anchor GitHub gives a heading: lowercase, punctuation dropped, spaces to hyphens."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def test_the_readmes_table_of_contents_links_to_its_headings(variant):
    _, project = variant
    readme = (project / "README.md").read_text()
    anchors = {github_anchor(h) for h in re.findall(r"^#{2,3} (.+)$", readme, re.MULTILINE)}
    contents = readme.split("\n## ", 1)[0]

    links = re.findall(r"\]\(#([^)]+)\)", contents)
    assert len(links) >= 14 and set(links) <= anchors, set(links) - anchors
    assert "#the-modules" in contents and "#replace-the-model" in contents


def test_the_module_map_names_every_module_of_the_package(variant):
    _, project = variant
    readme = (project / "README.md").read_text()
    section = readme.split("\n## The modules\n", 1)[1].split("\n## ", 1)[0]
    named = set(re.findall(r"`(\w+\.py)`", section))

    modules = {p.name for p in (project / "src" / "ml_project").glob("*.py")} - {"__init__.py"}
    assert named == modules


def test_generated_python_passes_ruff(variant):
    _, project = variant
    run([tool("ruff"), "check", "--no-cache", "."], cwd=project)
    run([tool("ruff"), "format", "--check", "--no-cache", "."], cwd=project)


def test_dockerfile_passes_hadolint_without_findings(variant):
    _, project = variant
    result = run([tool("hadolint"), "Dockerfile"], cwd=project, check=False)

    assert (result.returncode, result.stdout + result.stderr) == (0, "")


def test_dockerfile_pins_its_images_and_names_no_syntax_frontend(variant):
    answers, project = variant
    dockerfile = (project / "Dockerfile").read_text()

    assert "# syntax=" not in dockerfile
    assert "latest" not in dockerfile
    stages = set(re.findall(r"^FROM \S+ AS (\S+)$", dockerfile, flags=re.M))
    for image in re.findall(r"^FROM (\S+)", dockerfile, flags=re.M):
        assert image in stages or re.search(r":\d+\.\d+\.\d+", image), image
    builder, runtime = dockerfile.split("\n# The image that runs")
    if on_cuda(answers):
        assert "COPY --from=uv /uv /uvx /bin/" in builder
        assert re.findall(r"^FROM (\S+)", runtime, flags=re.M) == [
            f"nvidia/cuda:{answers.get('cuda_version', '12.8.1')}-base-ubuntu"
            f"{answers.get('ubuntu_version', '24.04')}"
        ]
    else:
        python = answers.get("python_version", "3.13")
        assert f"FROM ghcr.io/astral-sh/uv:0.13.8-python{python}-trixie-slim AS builder" in builder
        assert re.search(rf"^FROM python:{re.escape(python)}\.\d+-slim-trixie$", runtime, re.M)
    # The image that runs gets the venv (and uv's Python) from the builder, never uv itself.
    assert "uv" not in " ".join(re.findall(r"^(?:COPY|RUN) .*$", runtime, flags=re.M))
    assert "uv sync --locked --no-install-project --no-dev" in builder
    assert "-m compileall -q --invalidation-mode timestamp" in builder
    assert 'ENTRYPOINT ["python", "main.py"]' in dockerfile
    assert "uv run" not in dockerfile


def test_generated_text_files_have_no_stray_blank_lines(variant):
    _, project = variant
    for name in project_files(project):
        text = (project / name).read_text()
        assert text.endswith("\n") and not text.endswith("\n\n"), f"{name}: end of file"
        assert not text.startswith("\n"), f"{name}: starts with a blank line"
        if not name.endswith(".py"):  # ruff format owns the blank lines of Python files
            assert "\n\n\n" not in text, f"{name}: two blank lines in a row"
        assert not re.search(r"[ \t]+$", text, flags=re.M), f"{name}: trailing whitespace"


def test_yaml_files_parse(variant):
    _, project = variant
    for name in project_files(project):
        if name.endswith((".yml", ".yaml")):
            assert yaml.safe_load((project / name).read_text()) is not None, name


def test_compose_files_validate_against_the_compose_spec(variant):
    # Against the compose-spec schema that check-jsonschema vendors: CI machines have no compose
    # plugin to run `docker compose config`.
    _, project = variant
    files = sorted(name for name in project_files(project) if name.startswith("compose."))
    run([tool("check-jsonschema"), "--builtin-schema", "vendor.compose-spec", *files], cwd=project)


def test_plain_compose_reserves_no_gpu_and_the_gpu_file_gives_every_image_service_one(variant):
    # `docker compose up` must run on hosts without NVIDIA's toolkit; compose.gpu.yaml (CUDA
    # bases only) reserves GPUs for every service that runs the project's image.
    answers, project = variant
    compose = yaml.safe_load((project / "compose.yaml").read_text())
    assert "driver: nvidia" not in (project / "compose.yaml").read_text()
    if not on_cuda(answers):
        return
    gpu = yaml.safe_load((project / "compose.gpu.yaml").read_text())
    ours = {name for name, s in compose["services"].items() if s["image"] == "ml-project:latest"}
    assert set(gpu["services"]) == ours
    for service in gpu["services"].values():
        [device] = service["deploy"]["resources"]["reservations"]["devices"]
        assert device == {"driver": "nvidia", "count": "all", "capabilities": ["gpu"]}


def test_answers_file_records_every_question(variant):
    answers, project = variant
    recorded = yaml.safe_load((project / ".copier-answers.yml").read_text())

    assert recorded["_src_path"]
    for key, value in answers.items():
        assert recorded[key] == value
    assert "uv_version" not in recorded  # derived values are recomputed, never stored
