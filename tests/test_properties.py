"""Any one-line free text renders a project that every parser of it accepts (property-based)."""

import ast
import importlib.util
import tempfile
import tomllib
from pathlib import Path

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from helpers import REPO, lock_project, project_env, project_files, render, run, tool

_spec = importlib.util.spec_from_file_location("naming", REPO / "extensions" / "naming.py")
naming = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(naming)

# Characters with a meaning in one of the targets, drawn more often than chance would.
SYNTAX = list("\"'\\`$#*_[](){}<>|&~!-+=.:;,/@% ") + ['"""', "'''", "${HOME}", "\\n", "🎉", "👩‍💻"]
# Any character a one-line answer may hold, from the whole Unicode range (the validators refuse
# the rest: line breaks, controls and surrogates, which test_naming covers).
ONE_LINE_CHARACTER = st.characters(exclude_categories=tuple(naming.NOT_ONE_LINE))
FREE_TEXT = st.lists(st.one_of(st.sampled_from(SYNTAX), ONE_LINE_CHARACTER), max_size=30).map(
    "".join
)
EMAIL_LOCAL_PART = FREE_TEXT.map(lambda text: text.replace("@", "").replace(" ", "")).filter(bool)


def accepted(problem):
    """Texts that the question's validator accepts (test_naming covers what it refuses)."""
    return lambda text: problem(text) == ""


@st.composite
def answers(draw) -> dict[str, str]:
    project_name = draw(FREE_TEXT.filter(accepted(naming.project_name_problem)))
    return {
        "project_name": project_name,
        # A name without ASCII letters derives no package name: the validator asks for one.
        "package_name": naming.package_name_from(project_name) or "free_text",
        "description": draw(FREE_TEXT.filter(accepted(lambda t: naming.one_line_problem(t, "")))),
        "author_name": draw(FREE_TEXT.filter(accepted(lambda t: naming.one_line_problem(t, "")))),
        "author_email": draw(EMAIL_LOCAL_PART) + "@example.com",
    }


@settings(
    max_examples=12,  # a bounded run in the normal suite; each example renders and locks
    deadline=None,
    derandomize=True,  # the same examples on every run, so CI is reproducible
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(answers())
def test_any_one_line_free_text_renders_a_project_its_parsers_accept(answers):
    with tempfile.TemporaryDirectory() as tmp:
        # The fewest dependencies to lock (no ML library, no MLflow): free text is the subject.
        project = render(
            Path(tmp) / "p", lock=False, ml_framework="none", tracking="none", **answers
        )
        files = project_files(project)

        for name in files:
            if name.endswith(".py"):
                ast.parse((project / name).read_text(encoding="utf-8"), filename=name)
            if name.endswith((".yml", ".yaml")):
                yaml.safe_load((project / name).read_text(encoding="utf-8"))
        recorded = yaml.safe_load((project / ".copier-answers.yml").read_text(encoding="utf-8"))
        assert {key: recorded[key] for key in answers} == answers

        metadata = tomllib.loads((project / "pyproject.toml").read_text(encoding="utf-8"))
        assert metadata["project"]["description"] == answers["description"]
        assert metadata["project"]["authors"] == [
            {"name": answers["author_name"], "email": answers["author_email"]}
        ]
        docstring = ast.get_docstring(
            ast.parse((project / "src" / answers["package_name"] / "__init__.py").read_text())
        )
        text = f"{answers['project_name']}: {answers['description']}"
        assert docstring.split() == text.split()

        hadolint = run([tool("hadolint"), "Dockerfile"], cwd=project, check=False)
        assert hadolint.returncode == 0 and not hadolint.stdout, hadolint.stdout
        run([tool("ruff"), "format", "--check", "--no-cache", "."], cwd=project)
        # Letters of other scripts that look like ASCII ones (Greek Α in "Αpple") stay as
        # written, and ruff's RUF001/RUF002 flag them on purpose; everything else is clean.
        run([tool("ruff"), "check", "--no-cache", "--ignore", "RUF001,RUF002", "."], cwd=project)

        # uv reads the whole pyproject: resolving it and building its metadata must both work.
        lock_project(project)
        run(
            [tool("uv"), "build", "--sdist", "--quiet", "-o", "dist"],
            cwd=project,
            env=project_env(),
        )
