"""What the carry migrations share: the project at HEAD, the release it came from re-rendered, and
copier's own 3-way merge.

Copier runs a migration in the project after the update, when the working tree holds the new
release and HEAD still holds the team's last commit (copier refuses a dirty tree), and passes
the template versions the project comes from and goes to in $VERSION_FROM and $VERSION_TO.
"""

import argparse
import os
import subprocess
from pathlib import Path

import copier
import yaml

# The labels copier writes into its own conflict markers, so one search finds them all.
LABELS = ["before updating", "last update", "after updating"]


def parser(description: str) -> argparse.ArgumentParser:
    """The options every carry migration takes."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--answers-file", default=".copier-answers.yml")
    parser.add_argument(
        "--template",
        default=str(Path(__file__).resolve().parent.parent),
        help="the template repository (default: the clone this script runs from)",
    )
    return parser


def committed(path: str) -> bytes | None:
    """The file at HEAD, or None where the team has no such file. `./` makes the path relative
    to the project, which may be a subfolder of its git repository."""
    result = subprocess.run(["git", "show", f"HEAD:./{path}"], capture_output=True, check=False)
    return result.stdout if result.returncode == 0 else None


def committed_files(folder: str) -> list[str]:
    """The files under `folder` at HEAD, as paths relative to the project."""
    listing = subprocess.run(
        ["git", "ls-tree", "-r", "-z", "--name-only", "HEAD", "--", f"{folder}/"],
        capture_output=True,
        check=True,
    )
    return sorted(name.decode() for name in listing.stdout.split(b"\0") if name)


def answers_at_head(answers_file: str) -> dict:
    return yaml.safe_load(committed(answers_file) or b"{}") or {}


def package_rename(answers_file: str) -> tuple[str, str] | None:
    """(old, new) package names when this update changes package_name, else None."""
    old = answers_at_head(answers_file).get("package_name")
    new = (yaml.safe_load(Path(answers_file).read_text()) or {}).get("package_name")
    return (old, new) if old and new and old != new else None


def path_at_head(path: str, answers_file: str) -> str:
    """Where a path of the new package was before this update: src/<new>/x was src/<old>/x when
    the update renames the package, and is itself otherwise."""
    renamed = package_rename(answers_file)
    if renamed:
        old, new = (f"src/{name}/" for name in renamed)
        if path.startswith(new):
            return old + path.removeprefix(new)
    return path


def render_last_release(template: str, answers_file: str, scratch: Path) -> Path:
    """The project as the release it came from rendered it, with the answers at HEAD."""
    return _render(template, answers_at_head(answers_file), os.environ["VERSION_FROM"], scratch)


def render_new_release(template: str, answers_file: str, scratch: Path) -> Path:
    """The project as the release it moves to renders it, with the answers of this update."""
    answers = yaml.safe_load(Path(answers_file).read_text()) or {}
    return _render(template, answers, os.environ["VERSION_TO"], scratch)


def _render(template: str, answers: dict, ref: str, scratch: Path) -> Path:
    copier.run_copy(
        template,
        scratch,
        data={k: v for k, v in answers.items() if not k.startswith("_")},
        vcs_ref=ref,
        defaults=True,
        overwrite=True,
        quiet=True,
        skip_tasks=True,
        # The update already runs with --trust, or this migration would not run.
        unsafe=True,
    )
    return scratch


def merge_into(target: Path, edited: bytes, base: bytes, scratch: Path) -> int:
    """Turn `target`, the new release's file, into the 3-way merge of the team's `edited` onto
    it, `base` being the release the project came from. Returns the number of conflicts, or
    -1 where git cannot merge (target then stays the new release's file)."""
    base_file, new_file = scratch / "base", scratch / "new"
    base_file.write_bytes(base)
    new_file.write_bytes(target.read_bytes())
    target.write_bytes(edited)
    labels = [arg for label in LABELS for arg in ("-L", label)]
    merge = subprocess.run(
        ["git", "merge-file", *labels, "--", target, base_file, new_file], check=False
    )
    # git merge-file exits with the number of conflicts (at most 127), or -1 (255) on error.
    if merge.returncode > 127:
        target.write_bytes(new_file.read_bytes())
        return -1
    return merge.returncode
