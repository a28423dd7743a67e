"""Copier migration: a file that a release renamed keeps the team's edits and the new release's.

Copier deletes a renamed file and renders the new name fresh, so the team's edits of the old file
would be lost. Run after the update, this replays them onto the new file with the same 3-way merge
copier gives files that keep their name:

    before updating  the old file at HEAD, as the team committed it (copier refuses a dirty tree)
    last update      the old file as the release the project came from rendered it (re-rendered)
    after updating   the new file as the new release rendered it (what copier just wrote)

A team that never edited the file gets the new release's file exactly; edits away from the
template's changes merge cleanly; edits on the same lines get copier's conflict markers.

Called from a `_migrations` entry of copier.yml with no `version` (stage "after", and only with
`--trust`), so it runs on every update and acts on the one that renames the file:

    {{ _copier_python }} {{ _copier_conf.src_path }}/migrations/carry_renamed_file.py OLD NEW

OLD and NEW are paths in the project. Copier runs it in the project and passes the template
version the project came from in $VERSION_FROM.
"""

import argparse
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import copier
import yaml

# The labels copier writes into its own conflict markers, so one search finds them all.
LABELS = ["before updating", "last update", "after updating"]


def committed(path: str) -> bytes | None:
    """The file at HEAD, or None where the team has no such file. `./` makes the path relative
    to the project, which may be a subfolder of its git repository."""
    result = subprocess.run(["git", "show", f"HEAD:./{path}"], capture_output=True, check=False)
    return result.stdout if result.returncode == 0 else None


def as_last_rendered(template: str, path: str, answers_file: str, scratch: Path) -> bytes | None:
    """The file as the release the project came from rendered it, with the project's answers."""
    answers = yaml.safe_load(committed(answers_file) or b"{}")
    copier.run_copy(
        template,
        scratch,
        data={key: value for key, value in answers.items() if not key.startswith("_")},
        vcs_ref=os.environ["VERSION_FROM"],
        defaults=True,
        overwrite=True,
        quiet=True,
        skip_tasks=True,
        # The update already runs with --trust, or this migration would not run.
        unsafe=True,
    )
    rendered = scratch / path
    return rendered.read_bytes() if rendered.is_file() else None


def carry(template: str, old: str, new: str, answers_file: str) -> None:
    target = Path(new)
    # Runs on every update (see copier.yml); acts only on the one that renames the file: the new
    # name has just appeared and the old one has just gone.
    if not target.is_file() or Path(old).exists() or committed(new) is not None:
        return
    with tempfile.TemporaryDirectory(prefix="carry-renamed-file.") as scratch:
        base = as_last_rendered(template, old, answers_file, Path(scratch, "last-update"))
        if base is None:
            return  # The project's release had no file by this name: another entry's rename.
        edited = committed(old)
        if edited is None:
            # The team had deleted the file: like copier for any deleted file, do not bring it back.
            target.unlink()
            return
        if edited == base:
            return  # Never edited: the new release's file, as copier wrote it, is right.
        base_file, new_file = Path(scratch, "base"), Path(scratch, "new")
        base_file.write_bytes(base)
        new_file.write_bytes(target.read_bytes())
        target.write_bytes(edited)
        labels = [arg for label in LABELS for arg in ("-L", label)]
        merge = subprocess.run(
            ["git", "merge-file", *labels, "--", new, base_file, new_file], check=False
        )
    # git merge-file exits with the number of conflicts (at most 127), or -1 (255) on error.
    if merge.returncode > 127:
        sys.exit(f"git merge-file could not merge {new}; your version of {old} is at HEAD.")
    if merge.returncode:
        print(f"{new}: your edits of {old} conflict with this release; resolve the markers.")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("old", help="the file's path before the rename, in the project")
    parser.add_argument("new", help="the file's path after the rename, in the project")
    parser.add_argument("--answers-file", default=".copier-answers.yml")
    parser.add_argument(
        "--template",
        default=str(Path(__file__).resolve().parent.parent),
        help="the template repository (default: the clone this script runs from)",
    )
    args = parser.parse_args()
    carry(args.template, args.old, args.new, args.answers_file)


if __name__ == "__main__":
    main()
