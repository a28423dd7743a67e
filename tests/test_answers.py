"""Odd answers give a valid package; bad ones a one-line message, and no directory at all."""

import sys

import pytest
import yaml

from helpers import REPO, render, run

NEW_PROJECT = [sys.executable, str(REPO / "scripts" / "new-project")]


@pytest.mark.parametrize(
    ("project_name", "package_name"),
    [
        ("Churn Model", "churn_model"),
        ("  churn--model!! ", "churn_model"),
        ("3D Café-Model v2", "ml_3d_caf_model_v2"),
        ("Class", "class_project"),
    ],
)
def test_odd_project_names_give_an_importable_package(tmp_path, project_name, package_name):
    project = render(tmp_path / "p", lock=False, project_name=project_name)

    answers = yaml.safe_load((project / ".copier-answers.yml").read_text())
    assert answers["package_name"] == package_name
    assert (project / "src" / package_name / "__init__.py").is_file()


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ("project_name=", 'project_name is empty: give a name such as "Churn Model".'),
        ("project_name=!!!", "package_name is empty"),
        ("package_name=class", 'package_name "class" is a Python keyword'),
        ("package_name=2fast", 'package_name "2fast" starts with a digit'),
        ("package_name=my-model", 'package_name "my-model" has characters'),
        ("author_email=bob", 'author_email "bob" is not an email address: use the form'),
        ("author_email=bob@localhost", "is not an email address"),
        ("python_version=3.9", "Invalid choice for 'python_version': '3.9' is not in"),
        ("image_flavor=gpu", "Invalid choice for 'image_flavor'"),
        ("ml_framework=jax", "Invalid choice for 'ml_framework'"),
        ("oops", "is not KEY=VALUE"),
    ],
)
def test_bad_answers_get_one_clear_line_and_no_directory(tmp_path, data, message):
    destination = tmp_path / "project"

    result = run([*NEW_PROJECT, str(destination), "--data", data], cwd=tmp_path, check=False)

    assert result.returncode == 2
    assert result.stderr.startswith("error: "), result.stderr
    assert message in result.stderr
    assert "Traceback" not in result.stderr
    assert not destination.exists()


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
