"""scripts/fleet-report on a fleet of generated git repositories at different template releases:
the table and the JSON say each project's version, releases behind and whether the update to
the newest release applies cleanly, and the repositories themselves stay as they were."""

import contextlib
import json
import re
import sys
from pathlib import Path

import fleet as fleet_report
import pytest

from helpers import REPO, run
from template_releases import (
    HEALTHCHECK,
    LATER,
    NEW,
    OLD,
    PKG,
    V0_2_0_LINE,
    generate,
    git,
    scratch_template,
)

FLEET_REPORT = [sys.executable, str(REPO / "scripts" / "fleet-report")]
# Projects are named relative to the fleet's directory, so the table reads the same every run.
UP_TO_DATE, EDITED, CONFLICTING, OLDEST = "current", "cuda-edited", "conflicting", "oldest"
NOT_A_PROJECT = "notes"
UNREACHABLE = "http://127.0.0.1:9/fleet/missing.git"  # nothing listens on the discard port
TEAM_FUNCTION = '\n\ndef team_feature() -> str:\n    """Added by the team."""\n    return "ok"\n'


def commit_edit(project: Path, name: str, edit) -> None:
    path = project / name
    path.write_text(edit(path.read_text()))
    git(project, "commit", "-q", "-am", f"Our change to {name}")


@pytest.fixture(scope="module")
def fleet(tmp_path_factory) -> Path:
    """Four projects from a scratch template with releases OLD < NEW < LATER, each in its own
    git repository, and a directory that is not a project."""
    root = tmp_path_factory.mktemp("fleet")
    template = root / "template"
    scratch_template(template, tagged=True)
    generate(template, root / UP_TO_DATE, LATER, lock=False)
    edited = generate(template, root / EDITED, NEW, lock=False, image_flavor="cuda")
    commit_edit(edited, f"{PKG}/data.py", lambda text: text + TEAM_FUNCTION)
    # LATER changes this very line of healthcheck.py: the update must show a conflict.
    conflicting = generate(template, root / CONFLICTING, NEW, lock=False, tracking="none")
    team_line = V0_2_0_LINE.replace("timeout=3", "timeout=10")
    commit_edit(conflicting, HEALTHCHECK, lambda text: text.replace(V0_2_0_LINE, team_line))
    # relocated-home on the CUDA base, asked for (scikit-learn alone would get the uv base).
    oldest = {"image_flavor": "relocated-home", "relocated_home_base": "cuda", "ci": "gitlab"}
    generate(template, root / OLDEST, OLD, lock=False, **oldest)
    (root / NOT_A_PROJECT).mkdir()
    (root / NOT_A_PROJECT / "README.md").write_text("Not made from the template.\n")
    return root


def repository_state(project: Path) -> tuple[str, str, str]:
    return (
        git(project, "rev-parse", "HEAD"),
        git(project, "status", "--porcelain", "--ignored", "--untracked-files=all"),
        git(project, "for-each-ref"),
    )


@pytest.fixture(scope="module")
def reports(fleet):
    """The report on the whole fleet, as the command makes it, and the repositories' state
    before it ran."""
    projects = [UP_TO_DATE, EDITED, CONFLICTING, OLDEST]
    before = {name: repository_state(fleet / name) for name in projects}
    with contextlib.chdir(fleet):
        return fleet_report.report_fleet([*projects, NOT_A_PROJECT, UNREACHABLE]), before


# One row per project, aligned; "-" where a project could not be read. The unreachable URL's
# last cell is git's own message, which varies with git's version: checked apart.
EXPECTED_TABLE = [
    [
        "project",
        "version",
        "flavor",
        "base",
        "python",
        "framework",
        "tracking",
        "ci",
        "behind",
        "update",
    ],
    ["current", "v0.3.0", "uv", "uv", "3.13", "scikit-learn", "mlflow", "github", "0", "clean"],
    [
        "cuda-edited",
        "v0.2.0",
        "cuda",
        "cuda",
        "3.13",
        "scikit-learn",
        "mlflow",
        "github",
        "1",
        "clean",
    ],
    [
        "conflicting",
        "v0.2.0",
        "uv",
        "uv",
        "3.13",
        "scikit-learn",
        "none",
        "github",
        "1",
        "conflicts in 1 file: src/ml_project/healthcheck.py",
    ],
    [
        "oldest",
        "v0.1.0",
        "relocated-home",
        "cuda",
        "3.13",
        "scikit-learn",
        "mlflow",
        "gitlab",
        "2",
        "clean",
    ],
    ["notes", *["-"] * 8, "not a Copier project: no .copier-answers.yml"],
    [UNREACHABLE, *["-"] * 8],
]


def columns(line: str) -> list[tuple[int, str]]:
    """Each cell of a table line with the column it starts at (cells are apart by 2+ spaces)."""
    return [(cell.start(), cell.group()) for cell in re.finditer(r"\S+(?: \S+)*", line)]


def test_the_table_gives_versions_releases_behind_and_update_outcomes(reports):
    table = fleet_report.as_table(reports[0])

    rows = [columns(line) for line in table.splitlines()]
    starts = [start for start, _ in rows[0]]
    assert [[cell for _, cell in row] for row in rows[:-1]] == EXPECTED_TABLE[:-1], table
    assert [cell for _, cell in rows[-1][:-1]] == EXPECTED_TABLE[-1], table
    assert all([start for start, _ in row] == starts for row in rows), table
    assert re.fullmatch(r"cannot clone: .*127\.0\.0\.1.*", rows[-1][-1][1]), table


def test_the_json_says_the_same_for_machines(reports):
    projects = {entry["project"]: entry for entry in json.loads(fleet_report.as_json(reports[0]))}

    outcomes = {
        name: (entry["version"], entry["releases_behind"], entry["update"], entry["conflicts"])
        for name, entry in projects.items()
    }
    assert outcomes == {
        UP_TO_DATE: (LATER, 0, "clean", []),
        EDITED: (NEW, 1, "clean", []),
        CONFLICTING: (NEW, 1, "conflicts", [HEALTHCHECK]),
        OLDEST: (OLD, 2, "clean", []),
        NOT_A_PROJECT: (None, None, None, []),
        UNREACHABLE: (None, None, None, []),
    }
    assert projects[OLDEST]["answers"] == {
        "image_flavor": "relocated-home",
        "python_version": "3.13",
        "ml_framework": "scikit-learn",
        "tracking": "mlflow",
        "ci": "gitlab",
        "base": "cuda",
    }
    checked = [entry for entry in projects.values() if entry["version"]]
    assert {entry["newest_release"] for entry in checked} == {LATER}
    assert [entry["problem"] for entry in checked] == [None] * 4
    assert projects[NOT_A_PROJECT]["problem"] == "not a Copier project: no .copier-answers.yml"
    assert projects[UNREACHABLE]["problem"].startswith("cannot clone: ")


def test_the_repositories_are_left_exactly_as_they_were(fleet, reports):
    _, before = reports

    assert {name: repository_state(fleet / name) for name in before} == before
    assert sorted(path.name for path in (fleet / NOT_A_PROJECT).iterdir()) == ["README.md"]


def test_the_command_exits_1_when_a_project_could_not_be_checked(fleet):
    result = run([*FLEET_REPORT, NOT_A_PROJECT, UNREACHABLE], cwd=fleet, check=False)

    assert result.returncode == 1, result.stdout + result.stderr
    assert result.stderr == ""
    assert [cell for _, cell in columns(result.stdout.splitlines()[1])] == EXPECTED_TABLE[-2]


def test_an_update_that_fails_says_why_in_one_line_and_exits_1(tmp_path):
    """A template whose newest release needs a newer Copier than the one the report runs."""
    template, project = tmp_path / "template", tmp_path / "project"
    for repository in (template, project):
        repository.mkdir()
        git(repository, "init", "-q", "-b", "main")
    for tag, config in [("v1.0.0", ""), ("v2.0.0", '_min_copier_version: "99.0"\n')]:
        (template / "copier.yml").write_text(config)
        git(template, "add", "-A")
        git(template, "commit", "-q", "-m", f"release {tag}")
        git(template, "tag", tag)
    (project / ".copier-answers.yml").write_text(f"_commit: v1.0.0\n_src_path: {template}\n")
    git(project, "add", "-A")
    git(project, "commit", "-q", "-m", "Generated from the template")

    result = run([*FLEET_REPORT, "project"], cwd=tmp_path, check=False)

    assert result.returncode == 1, result.stdout + result.stderr
    *cells, update = [cell for _, cell in columns(result.stdout.splitlines()[1])]
    assert cells == ["project", "v1.0.0", *["-"] * 6, "1"]
    assert update.startswith("fails: This template requires Copier version >= 99.0, while your ")


def test_the_command_exits_0_when_all_were_checked_and_takes_another_template(fleet, tmp_path):
    """--template replaces the answers' _src_path: here the same template, moved."""
    moved = tmp_path / "moved-template"
    git(tmp_path, "clone", "-q", str(fleet / "template"), str(moved))
    before = repository_state(fleet / CONFLICTING)

    result = run(
        [*FLEET_REPORT, CONFLICTING, "--template", str(moved), "--json"], cwd=fleet, check=False
    )

    assert result.returncode == 0, result.stdout + result.stderr
    [entry] = json.loads(result.stdout)
    assert (entry["template"], entry["releases_behind"], entry["conflicts"]) == (
        str(moved),
        1,
        [HEALTHCHECK],
    )
    assert repository_state(fleet / CONFLICTING) == before
