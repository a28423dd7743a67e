"""Odd answers give a valid package; bad ones a one-line message, and no directory at all."""

import ast
import os
import re
import subprocess
import sys
import tomllib
from contextlib import contextmanager

import pytest
import yaml

from conftest import in_ci
from helpers import (
    DERIVED_PACKAGE_NAMES,
    NEW_PROJECT,
    REPO,
    assert_one_error_line,
    project_env,
    readme_copier_command,
    render,
    run,
    tool,
)


@pytest.mark.parametrize(
    ("project_name", "package_name"),
    [*DERIVED_PACKAGE_NAMES, ("  churn--model!! ", "churn_model")],
)
def test_odd_project_names_give_an_importable_package(tmp_path, project_name, package_name):
    project = render(tmp_path / "p", lock=False, project_name=project_name)

    answers = yaml.safe_load((project / ".copier-answers.yml").read_text())
    assert answers["package_name"] == package_name
    assert (project / "src" / package_name / "__init__.py").is_file()


def test_a_tracking_module_name_is_free_without_tracking(tmp_path):
    project = render(tmp_path / "p", lock=False, tracking="none", package_name="mlflow")

    assert (project / "src" / "mlflow" / "__init__.py").is_file()
    pyproject = tomllib.loads((project / "pyproject.toml").read_text())
    assert not [name for name in pyproject["project"]["dependencies"] if "mlflow" in name]


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ("project_name=", 'project_name is empty: give a name such as "Churn Model".'),
        ("project_name=!!!", "package_name is empty"),
        ("package_name=class", 'package_name "class" is a Python keyword'),
        ("package_name=2fast", 'package_name "2fast" starts with a digit'),
        ("package_name=my-model", 'package_name "my-model" has characters'),
        ("package_name=_", 'package_name "_" starts or ends with "_"'),
        ("package_name=my__model", "e.g. my_model."),
        ("package_name=json", 'package_name "json" shadows the standard-library module json'),
        ("package_name=fastapi", "shadows fastapi, which every generated project installs"),
        ("package_name=numpy", "shadows numpy, which ml_framework=scikit-learn installs"),
        ("package_name=mlflow", "shadows mlflow, which tracking=mlflow installs"),
        (
            ["ml_framework=pytorch", "package_name=torch"],
            'package_name "torch" shadows torch, which ml_framework=pytorch installs: '
            "choose another name, e.g. torch_project.",
        ),
        ("project_name=Two\nlines", "project_name has line breaks or control characters"),
        ("description=one\ntwo", 'description has line breaks or control characters ("\\n")'),
        ("author_name=tab\there", "author_name has line breaks or control characters"),
        ("author_email=bob", 'author_email "bob" is not an email address: use the form'),
        ("author_email=bob@localhost", "is not an email address"),
        ("python_version=3.9", "Invalid choice for 'python_version': '3.9' is not in"),
        ("image_flavor=gpu", "Invalid choice for 'image_flavor'"),
        ("ml_framework=jax", "Invalid choice for 'ml_framework'"),
        ("task=ranking", "Invalid choice for 'task'"),
        ("tracking=wandb", "Invalid choice for 'tracking'"),
        (
            "imageflavor=cuda",
            "--data imageflavor is not a question of this template: did you mean image_flavor? "
            "valid keys are project_name, package_name, description, author_name, "
            "author_email, python_version, ml_framework, task, image_flavor, relocated_home_base, "
            "cuda_version, ubuntu_version, tracking, ci",
        ),
        ("uv_version=0.1.0", "--data uv_version is not a question of this template"),
        ("_subdirectory=.", "--data _subdirectory is not a question of this template"),
        ("oops", "is not KEY=VALUE"),
    ],
)
def test_bad_answers_get_one_clear_line_and_no_directory(tmp_path, data, message):
    destination = tmp_path / "project"
    options = [arg for pair in ([data] if isinstance(data, str) else data) for arg in ("-d", pair)]

    result = run([*NEW_PROJECT, str(destination), *options], cwd=tmp_path, check=False)

    assert_one_error_line(result, message)
    assert not destination.exists()


@contextmanager
def read_only_directory(path):
    """A read-only filesystem mounted at path (root can write anywhere else, whatever the mode)."""
    if os.geteuid() != 0 and not in_ci():
        pytest.skip("mounting a read-only filesystem needs root (CI runs as root)")
    path.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "ro,size=1m", "tmpfs", str(path)], check=True)
    try:
        yield path
    finally:
        subprocess.run(["umount", str(path)], check=True)


def checkout_status():
    return run(["git", "status", "--porcelain", "--ignored"], cwd=REPO).stdout


@pytest.mark.parametrize(
    ("where", "message"),
    [
        ("a file", "exists and is not a directory: choose a new directory"),
        ("a long name", "File name too long: choose a shorter name"),
        ("inside template/", "is inside the template checkout"),
        ("inside the checkout", "is inside the template checkout"),
        ("a read-only filesystem", "Read-only file system: choose a writable directory"),
    ],
)
def test_bad_destinations_get_one_clear_line_and_nothing_written(tmp_path, where, message):
    before = checkout_status()
    if where == "a file":
        destination = tmp_path / "notes.txt"
        destination.write_text("mine\n")
    elif where == "a long name":
        destination = tmp_path / "parent" / ("x" * 300)
    elif where == "inside template/":
        destination = REPO / "template" / "stray-project"
    elif where == "inside the checkout":
        destination = REPO / "tests" / "stray-project"
    else:
        with read_only_directory(tmp_path / "ro") as read_only:
            result = run([*NEW_PROJECT, str(read_only / "project")], cwd=tmp_path, check=False)
        assert_one_error_line(result, message)
        return

    result = run([*NEW_PROJECT, str(destination)], cwd=tmp_path, check=False)

    assert_one_error_line(result, message)
    assert checkout_status() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == (["notes.txt"] if "file" in where else [])
    if where == "a file":
        assert destination.read_text() == "mine\n"


def test_a_non_empty_destination_is_refused_untouched(tmp_path):
    destination = tmp_path / "project"
    destination.mkdir()
    (destination / "notes.txt").write_text("mine\n")

    result = run([*NEW_PROJECT, str(destination)], cwd=tmp_path, check=False)

    assert result.returncode == 2
    assert "exists and is not empty" in result.stderr
    assert [p.name for p in destination.iterdir()] == ["notes.txt"]


def test_copier_itself_rejects_bad_answers_before_writing_anything(tmp_path):
    # Plain `copier copy` (what people run against the published template) stops as early.
    destination = tmp_path / "project"

    with pytest.raises(ValueError, match="is a Python keyword"):
        render(destination, lock=False, package_name="import")

    assert not destination.exists()


FREE_TEXT = {
    "project_name": 'Zoë\'s "Model" – 🎉 \\ [x](y) <b> $HOME',
    "description": (
        'Emoji 🚀 𝄞 outside the BMP, """ triple quotes, a backslash \\ and {braces}, '
        "“typographic quotes” and a long description that ruff's line length makes wrap."
    ),
    "author_name": "Ünïcode 👩‍💻 Team",
}


def test_emoji_quotes_and_backslashes_in_free_text_give_a_working_project(tmp_path):
    project = render(tmp_path / "p", ml_framework="none", **FREE_TEXT)  # `uv lock` reads it

    package = yaml.safe_load((project / ".copier-answers.yml").read_text())["package_name"]
    assert package == "zoe_s_model_x_y_b_home"
    pyproject = tomllib.loads((project / "pyproject.toml").read_text())
    assert pyproject["project"]["description"] == FREE_TEXT["description"]
    assert pyproject["project"]["authors"][0]["name"] == FREE_TEXT["author_name"]
    docstring = ast.get_docstring(
        ast.parse((project / "src" / package / "__init__.py").read_text())
    )
    assert docstring.split() == f"{FREE_TEXT['project_name']}: {FREE_TEXT['description']}".split()
    run([tool("ruff"), "check", "--no-cache", "."], cwd=project)  # what the project's CI runs
    run([tool("ruff"), "format", "--check", "--no-cache", "."], cwd=project)
    info = run([tool("uv"), "run", "--locked", "main.py", "info"], cwd=project, env=project_env())
    assert FREE_TEXT["project_name"] in info.stdout


def test_the_readme_copier_command_renders_a_project(tmp_path):
    # Run exactly as written, against this checkout instead of the published repository
    # (--vcs-ref HEAD, as the README says for a checkout, so uncommitted changes count).
    command = readme_copier_command("--data image_flavor=cuda")
    assert command[:3] == ["uvx", "--with", "copier-template-extensions"]
    source = next(arg for arg in command if arg.startswith("gh:"))
    command = [tool("uvx"), *command[1:-1], "--vcs-ref", "HEAD", str(tmp_path / "my-project")]
    command[command.index(source)] = str(REPO)

    run(command, cwd=tmp_path, env=project_env())

    project = tmp_path / "my-project"
    assert (project / "Dockerfile").read_text().count("FROM nvidia/cuda:") == 2  # both stages
    assert (project / "uv.lock").is_file()  # --trust ran the template's `uv lock` task


@pytest.mark.docker
def test_docker_reads_the_labels_back_exactly(engine, tmp_path):
    # hadolint's parser and Docker's differ; the image's labels are what users see.
    from containers import image_config
    from docker_cli import docker

    answers = {
        **FREE_TEXT,
        "description": FREE_TEXT["description"] + " ${PATH} $HOME \\ end",
        "author_email": "zoë.o'k@example.com",
    }
    project = render(tmp_path / "p", lock=False, ml_framework="none", **answers)
    dockerfile = (project / "Dockerfile").read_text()
    labels = re.search(r"^LABEL .*?[^\\]\n", dockerfile, re.MULTILINE | re.DOTALL).group()
    (tmp_path / "labels").mkdir()
    (tmp_path / "labels" / "Dockerfile").write_text(f"FROM scratch\n{labels}")
    tag = "copier-uv-mlops-test-labels:latest"

    docker("build", "--network", "host", "-q", "-t", tag, str(tmp_path / "labels"))
    try:
        found = image_config(tag)["Labels"]
    finally:
        docker("rmi", tag, check=False)

    prefix = "org.opencontainers.image."
    assert found[prefix + "title"] == answers["project_name"]
    assert found[prefix + "description"] == answers["description"]
    assert found[prefix + "authors"] == f"{answers['author_name']} <{answers['author_email']}>"


@pytest.mark.parametrize(
    ("answers", "advice"),
    [
        ({"image_flavor": "cuda"}, "--data image_flavor=uv"),
        ({"image_flavor": "cuda", "ml_framework": "none"}, "--data image_flavor=uv"),
        (
            {"image_flavor": "relocated-home", "relocated_home_base": "cuda"},
            "--data relocated_home_base=uv",
        ),
        ({"image_flavor": "cuda", "ml_framework": "pytorch"}, None),
        ({"image_flavor": "uv"}, None),
    ],
    ids=["cuda-sklearn", "cuda-none", "relocated-cuda-sklearn", "cuda-pytorch", "uv"],
)
def test_the_closing_message_says_when_a_cuda_base_serves_a_framework_without_gpu(
    tmp_path, capfd, answers, advice
):
    import copier

    copier.run_copy(
        str(REPO),
        tmp_path / "p",
        data=answers,
        defaults=True,
        unsafe=True,
        skip_tasks=True,
        vcs_ref="HEAD",
    )

    message = " ".join(capfd.readouterr().err.split())
    assert ("never uses the GPU" in message) == (advice is not None), message
    if advice:
        assert f"ml_framework={answers.get('ml_framework', 'scikit-learn')}" in message
        assert advice in message


def template_checkout(destination, origin: str | None):
    """A checkout of this template (its working tree, committed), with `origin` or without."""
    import shutil

    ignore = shutil.ignore_patterns(".git", ".venv", "__pycache__", ".pytest_cache", ".ruff_cache")
    shutil.copytree(REPO, destination, ignore=ignore)
    git = ["git", "-c", "user.name=Test", "-c", "user.email=test@example.com"]
    run([*git, "init", "-q", "-b", "main"], cwd=destination)
    run([*git, "add", "-A"], cwd=destination)
    run([*git, "commit", "-q", "-m", "template"], cwd=destination)
    if origin:
        run([*git, "remote", "add", "origin", origin], cwd=destination)
    return destination


@pytest.mark.parametrize(
    ("origin", "recorded"),
    [
        (
            "https://bot:s3cret@example.com/team/copier-uv-mlops.git",
            "https://example.com/team/copier-uv-mlops.git",
        ),
        ("git@example.com:team/copier-uv-mlops.git", "git@example.com:team/copier-uv-mlops.git"),
        (None, None),
    ],
    ids=["https-with-credentials", "ssh", "no-origin"],
)
def test_the_quick_start_records_where_the_template_is_published(tmp_path, origin, recorded):
    # `copier update`, `copier check-update` and the generated CI's template jobs read _src_path:
    # the checkout's origin, never credentials; without one, the output says what to set.
    checkout = template_checkout(tmp_path / "copier-uv-mlops", origin)
    project = tmp_path / "project"

    result = run(
        [sys.executable, str(checkout / "scripts" / "new-project"), str(project)], cwd=tmp_path
    )

    answers = yaml.safe_load((project / ".copier-answers.yml").read_text())
    if recorded:
        assert answers["_src_path"] == recorded
        assert recorded in result.stdout and "s3cret" not in result.stdout
    else:
        assert answers["_src_path"] == str(checkout)
        assert "no `origin` remote" in result.stdout and "set _src_path" in result.stdout
    assert "s3cret" not in (project / ".copier-answers.yml").read_text()
