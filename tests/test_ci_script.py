"""`.ci/run` runs exactly the README's test command, and fails when a test fails."""

import os
import re
import shutil
import sys

import pytest
import yaml

from helpers import REPO, TODAYS_PYPI, project_env, run, tool

TEST_COMMAND = "uv run pytest"


def test_the_readme_and_ci_run_the_same_test_command():
    readme = (REPO / "README.md").read_text()
    quick_start = readme.split("## Quick start", 1)[1].split("\n## ", 1)[0]

    assert re.search(rf"^{re.escape(TEST_COMMAND)}$", quick_start, flags=re.M)
    ci_lines = [line.strip() for line in (REPO / ".ci" / "run").read_text().splitlines()]
    assert f"{TEST_COMMAND} || status=$?" in ci_lines


@pytest.mark.parametrize(("test_body", "expected"), [("assert False", 1), ("assert True", 0)])
def test_ci_run_exits_with_the_test_status(tmp_path, test_body, expected):
    checkout = tmp_path / "checkout"
    shutil.copytree(
        REPO, checkout, ignore=shutil.ignore_patterns(".venv", ".git", "__pycache__", "build")
    )
    shutil.rmtree(checkout / "tests")
    (checkout / "tests").mkdir()
    (checkout / "tests" / "test_probe.py").write_text(f"def test_probe():\n    {test_body}\n")
    # As CI starts it: outside this test run's virtual environment.
    env = {k: v for k, v in project_env().items() if k != "PYTEST_ADDOPTS"}
    venv_bin = os.path.dirname(sys.executable)
    env["PATH"] = os.pathsep.join(p for p in env["PATH"].split(os.pathsep) if p != venv_bin)

    result = run(["bash", ".ci/run"], cwd=checkout, check=False, env=env, timeout=900)

    assert result.returncode == expected, result.stdout[-3000:] + result.stderr[-3000:]
    assert "1 failed" in result.stdout if expected else "1 passed" in result.stdout


def test_the_templates_workflow_runs_ci_run_and_each_morning_tests_todays_pypi():
    workflow = ".github/workflows/ci.yml"
    run([tool("actionlint"), workflow], cwd=REPO)
    zizmor = run([tool("zizmor"), "--offline", workflow], cwd=REPO)
    assert "No findings to report" in zizmor.stdout
    schema = ["--builtin-schema", "vendor.github-workflows"]
    run([tool("check-jsonschema"), *schema, workflow], cwd=REPO)
    spec = yaml.safe_load((REPO / workflow).read_text())
    triggers = spec[True]  # YAML 1.1 reads the key `on` as True
    assert "schedule" in triggers
    jobs = spec["jobs"]

    gate, warning = jobs["ci-run"], jobs["todays-pypi"]
    # The gate runs on changes, never on the schedule; the early warning only there (or by hand).
    assert gate["if"] == "github.event_name != 'schedule'"
    assert "'schedule'" in warning["if"] and "pull_request" not in warning["if"]
    assert gate["steps"][-1]["run"].endswith("bash .ci/run")
    [suite] = [step for step in warning["steps"] if step.get("id") == "suite"]
    assert suite["env"] == {TODAYS_PYPI: "1"}
    assert suite["shell"] == "bash"  # pipefail: a failed .ci/run is not hidden behind tee
    assert f"--preserve-env=CI,PATH,{TODAYS_PYPI} bash .ci/run" in suite["run"]
    # What broke reaches people: an issue, and the job fails.
    report = warning["steps"][-1]
    assert "gh issue create" in report["run"] and report["run"].rstrip().endswith("exit 1")
    assert warning["permissions"] == {"contents": "read", "issues": "write"}
