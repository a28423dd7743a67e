"""What the fleet report says about each project, found without touching the project.

Each project (a local path or a git URL) is cloned into a temporary directory. Its committed
`.copier-answers.yml` gives the template version (`_commit`) and the key answers; the template
repository (the answers' `_src_path`, or the one given) gives the release tags; and `copier
update` runs in the clone, whose files then show whether the update applies cleanly. The project
itself is only read (`git clone`), so uncommitted changes there are not seen.
"""

import dataclasses
import json
import os
import re
import subprocess
import sys
import tempfile
import threading
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import yaml
from packaging.version import InvalidVersion, Version

ANSWERS_FILE = ".copier-answers.yml"
KEY_ANSWERS = ["image_flavor", "python_version", "ml_framework", "tracking", "ci"]
# The table's columns: the project, its version, the key answers (short names), releases behind.
COLUMNS = [
    "project",
    "version",
    "flavor",
    "base",
    "python",
    "framework",
    "tracking",
    "ci",
    "behind",
]
# Copier's shorthands for hosted repositories, expanded as copier expands them.
URL_ALIASES = {"gh:": "https://github.com/", "gl:": "https://gitlab.com/"}
# No prompt may wait for a password: an unreachable or private repository fails instead (an ssh
# command of the user's own is kept).
SSH_DEFAULT = {"GIT_SSH_COMMAND": "ssh -o BatchMode=yes"}
NO_PROMPT = {"GIT_TERMINAL_PROMPT": "0"}
TIMEOUT = 600  # seconds for one clone or one update
# Only for the commit that points a clone at another template; it never leaves the clone.
IDENTITY = ["-c", "user.name=fleet-report", "-c", "user.email=fleet-report@localhost"]
# Copier's inline conflicts: "<<<<<<< before updating" ... ">>>>>>> after updating".
CONFLICT = re.compile(r"^<{7}( |$).*?^>{7}( |$)", re.MULTILINE | re.DOTALL)


class Problem(Exception):
    """Why a project, or its update, cannot be checked: one line."""


@dataclasses.dataclass
class ProjectReport:
    project: str
    template: str | None = None
    version: str | None = None  # the answers' _commit: a release tag, or a commit
    answers: dict[str, str | None] = dataclasses.field(default_factory=dict)
    releases_behind: int | None = None
    newest_release: str | None = None
    update: str | None = None  # "clean", "conflicts" or "fails"; None when not checked
    conflicts: list[str] = dataclasses.field(default_factory=list)
    problem: str | None = None  # why the project was not checked, or why its update fails

    @property
    def summary(self) -> str:
        """The update's outcome, or the problem, in a few words."""
        if self.update == "conflicts":
            files = len(self.conflicts)
            return f"conflicts in {files} file{'s' * (files != 1)}: {', '.join(self.conflicts)}"
        if self.update == "fails":
            return f"fails: {self.problem}"
        return self.update or str(self.problem)


def last_line(text: str) -> str:
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return re.sub(r"^(fatal|error): ", "", lines[-1]) if lines else ""


def run(command: list[str], label: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    try:
        return subprocess.run(
            command,
            cwd=cwd,
            env=SSH_DEFAULT | os.environ | NO_PROMPT,
            capture_output=True,
            text=True,
            timeout=TIMEOUT,
            check=False,
        )
    except subprocess.TimeoutExpired:
        raise Problem(f"{label} took over {TIMEOUT} s") from None


def git(*args: str, cwd: Path | None = None) -> str:
    result = run(["git", *args], f"git {args[0]}", cwd=cwd)
    if result.returncode != 0:
        raise Problem(last_line(result.stderr) or f"git {args[0]} exited {result.returncode}")
    return result.stdout


def expand(url: str) -> str:
    for alias, prefix in URL_ALIASES.items():
        if url.startswith(alias):
            return prefix + url.removeprefix(alias)
    return url


def clone_project(source: str, destination: Path) -> None:
    local = Path(source)
    if local.is_dir():  # say what is wrong before git says "does not exist"
        if not (local / ANSWERS_FILE).is_file():
            raise Problem(f"not a Copier project: no {ANSWERS_FILE}")
        if not (local / ".git").exists():
            raise Problem("not a git repository: copier update needs one; commit the project")
    try:
        git("clone", "--quiet", "--no-hardlinks", expand(source), str(destination))
    except Problem as problem:
        raise Problem(f"cannot clone: {problem}") from None
    if not (destination / ANSWERS_FILE).is_file():
        raise Problem(f"not a Copier project: no {ANSWERS_FILE} committed")


def read_answers(project: Path) -> dict:
    try:
        answers = yaml.safe_load((project / ANSWERS_FILE).read_text())
    except (yaml.YAMLError, UnicodeDecodeError) as error:
        problem = getattr(error, "problem", None) or str(error).splitlines()[0]
        raise Problem(f"{ANSWERS_FILE} is not valid YAML: {problem}") from None
    if not isinstance(answers, dict):
        raise Problem(f"{ANSWERS_FILE} holds no answers")
    return answers


def is_release(tag: str) -> bool:
    """A tag copier updates to: a PEP 440 version that is not a prerelease."""
    try:
        return not Version(tag).is_prerelease
    except InvalidVersion:
        return False


def contains(repository: Path, commit: str, tag: str) -> bool:
    """Whether `commit` is `tag` or has it in its history."""
    command = ["git", "merge-base", "--is-ancestor", tag, commit]
    return run(command, "git merge-base", repository).returncode == 0


class Templates:
    """Each template repository, cloned once per report (bare: its history and tags only)."""

    def __init__(self, workdir: Path):
        self.workdir = workdir
        self.clones: dict[str, Path | Problem] = {}
        self.cloning = threading.Lock()  # projects are checked in parallel

    def clone(self, source: str) -> Path:
        with self.cloning:
            if source not in self.clones:
                destination = Path(tempfile.mkdtemp(prefix="template-", dir=self.workdir))
                try:
                    git("clone", "--quiet", "--bare", expand(source), str(destination))
                    self.clones[source] = destination
                except Problem as problem:
                    message = f"cannot clone the template {source}: {problem}"
                    self.clones[source] = Problem(message)
        clone = self.clones[source]
        if isinstance(clone, Problem):
            raise clone
        return clone

    def releases(self, source: str) -> list[str]:
        """The template's release tags, oldest first."""
        tags = git("tag", "--list", cwd=self.clone(source)).split()
        return sorted((tag for tag in tags if is_release(tag)), key=Version)

    def releases_after(self, source: str, commit: str) -> list[str]:
        """The releases that `commit` (a tag, `git describe` output such as v0.2.0-3-gabc1234,
        or a hash) does not contain: those an update would bring."""
        clone = self.clone(source)
        try:
            git("rev-parse", "--verify", "--quiet", f"{commit}^{{commit}}", cwd=clone)
        except Problem:
            raise Problem(f"the template {source} has no commit {commit}") from None
        return [tag for tag in self.releases(source) if not contains(clone, commit, tag)]


def point_at_template(clone: Path, answers: dict, template: str) -> None:
    """Make the clone's answers name `template`, which copier update then uses (it has no
    option for another template than the answers' _src_path)."""
    if answers.get("_src_path") == template:
        return
    path = clone / ANSWERS_FILE
    line = f"_src_path: {json.dumps(template)}"  # a JSON string is a YAML string
    text, count = re.subn(r"^_src_path:.*$", line, path.read_text(), flags=re.MULTILINE)
    path.write_text(text if count else f"{text.rstrip()}\n{line}\n")
    git(*IDENTITY, "commit", "--quiet", "-am", "fleet-report: use another template", cwd=clone)


def has_conflict(path: Path) -> bool:
    return path.is_file() and CONFLICT.search(path.read_text("utf-8", "replace")) is not None


def conflicted_files(clone: Path) -> list[str]:
    """Files the update changed and left with conflict markers, and .rej files (copier's
    `--conflict rej`)."""
    changed = set(git("ls-files", "-z", "--modified", "--others", cwd=clone).split("\0"))
    return sorted(
        name for name in changed - {""} if name.endswith(".rej") or has_conflict(clone / name)
    )


def try_update(clone: Path) -> tuple[str, list[str], str | None]:
    """`copier update` to the newest release in the clone: its outcome, the files in conflict,
    and why it failed. Tasks are skipped: they run after the merge and do not change it."""
    command = [sys.executable, "-m", "copier", "update", "--trust", "--defaults", "--quiet"]
    result = run([*command, "--skip-tasks"], "copier update", clone)
    if result.returncode != 0:
        return "fails", [], last_line(result.stderr) or f"copier exited {result.returncode}"
    conflicts = conflicted_files(clone)
    return ("conflicts" if conflicts else "clean"), conflicts, None


def report_project(
    source: str, templates: Templates, workdir: Path, template: str | None = None
) -> ProjectReport:
    report = ProjectReport(project=source)
    try:
        clone = Path(tempfile.mkdtemp(prefix="project-", dir=workdir)) / "clone"
        clone_project(source, clone)
        answers = read_answers(clone)
        report.version = answers.get("_commit")
        report.answers = {key: answers.get(key) for key in KEY_ANSWERS}
        report.answers["base"] = base_image_kind(answers)
        report.template = template or answers.get("_src_path")
        if not report.template:
            raise Problem(f"no _src_path in {ANSWERS_FILE}: name the template with --template")
        releases = templates.releases(report.template)
        report.newest_release = releases[-1] if releases else None
        if not report.version:
            raise Problem(f"no _commit in {ANSWERS_FILE}: copier cannot tell what to update from")
        report.releases_behind = len(templates.releases_after(report.template, report.version))
        point_at_template(clone, answers, report.template)
        report.update, report.conflicts, report.problem = try_update(clone)
    except Problem as problem:
        report.problem = str(problem)
    return report


def base_image_kind(answers: dict) -> str | None:
    """ "cuda" or "uv": what the image is built on. relocated-home projects made before the
    relocated_home_base question were built on uv, and copier update keeps them there."""
    flavor = answers.get("image_flavor")
    if flavor == "relocated-home":
        return answers.get("relocated_home_base", "uv")
    return flavor


def report_fleet(
    projects: Iterable[str], template: str | None = None, jobs: int = 4
) -> list[ProjectReport]:
    """One report per project, in the order given, `jobs` projects at a time (each mostly waits
    for git and copier); every clone is removed afterwards."""
    with (
        tempfile.TemporaryDirectory(prefix="fleet-report-") as workdir,
        ThreadPoolExecutor(max_workers=jobs) as pool,
    ):
        templates = Templates(Path(workdir))
        return list(
            pool.map(
                lambda source: report_project(source, templates, Path(workdir), template), projects
            )
        )


def as_table(reports: list[ProjectReport]) -> str:
    """One line per project, columns aligned; "-" where a project could not be read."""
    rows = [[*COLUMNS, "update"]]
    for report in reports:
        behind = None if report.releases_behind is None else str(report.releases_behind)
        answers = [report.answers.get(key) for key in ["image_flavor", "base", *KEY_ANSWERS[1:]]]
        cells = [report.project, report.version, *answers, behind]
        rows.append([cell or "-" for cell in cells] + [report.summary])
    widths = [max(len(cells[i]) for cells in rows) for i in range(len(rows[0]))]
    return "\n".join(
        "  ".join(cell.ljust(width) for cell, width in zip(cells, widths, strict=True)).rstrip()
        for cells in rows
    )


def as_json(reports: list[ProjectReport]) -> str:
    return json.dumps([dataclasses.asdict(report) for report in reports], indent=2)
