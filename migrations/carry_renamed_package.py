"""Copier migration: when an update renames the package, src/<old>/ moves to src/<new>/ with the
team's edits and the new release's changes.

Copier renders src/<new>/ fresh and deletes every template file of src/<old>/, edited or not, so
the team's edits would be lost, and the files the team added would stay behind in the old
package. An update renames the package when the team passes --data package_name=..., or when
the name it had is no longer valid (this release refuses a name that shadows a standard-library
or installed module, e.g. `json`), so that copier derives a new default (`json_project`).

Run after the update, for each file that the team had committed under src/<old>/:

    a template file     3-way merged like carry_renamed_file.py: the team's version at HEAD onto
                        the new release's src/<new>/ file, the old release's render as the base;
                        never edited, it is exactly the new release's
    the team's own      moved to src/<new>/, content unchanged (a file the new release also has
                        there is merged with an empty base, as copier does for such a file)
    gone from the new   left deleted, as copier deletes any file a release drops
    release

A template file the team had deleted stays deleted, and src/<old>/ goes when nothing is left in
it. Imports of the old name in the team's code (`from json import ...`) cannot be told apart
from imports of the module it shadowed, so the script names every file it carried for the team
to check.

Called from a `_migrations` entry of copier.yml with no `version` (see carry_renamed_file.py):

    {{ _copier_python }} {{ _copier_conf.src_path }}/migrations/carry_renamed_package.py

Copier runs it in the project and passes the template version the project came from in
$VERSION_FROM.
"""

import shutil
import sys
import tempfile
from pathlib import Path

import carrying
from carrying import committed, committed_files, merge_into, package_rename, render_last_release


def remove_empty_folders(folder: Path) -> None:
    """Remove `folder` and its subfolders where nothing is left but Python's bytecode caches."""
    if not folder.is_dir():
        return
    for cache in folder.rglob("__pycache__"):
        shutil.rmtree(cache, ignore_errors=True)
    for sub in sorted((path for path in folder.rglob("*") if path.is_dir()), reverse=True):
        if not any(sub.iterdir()):
            sub.rmdir()
    if not any(folder.iterdir()):
        folder.rmdir()


def carry_file(old: str, new: str, base: bytes | None, scratch: Path) -> str:
    """Carry one committed file of the old package to its new path; say what became of it."""
    edited = committed(old)
    target = Path(new)
    if base is None and not target.is_file():
        # The team's own file, as committed (the tree was clean): moved with its mode.
        target.parent.mkdir(parents=True, exist_ok=True)
        Path(old).rename(target)
        return "moved"
    Path(old).unlink(missing_ok=True)
    if not target.is_file():
        return "dropped"  # The new release has no such file: copier's deletion stands.
    if edited == base:
        return "unchanged"  # Never edited: the new release's file, as copier wrote it.
    conflicts = merge_into(target, edited, base or b"", scratch)
    return "failed" if conflicts < 0 else "conflict" if conflicts else "merged"


def carry(template: str, answers_file: str) -> None:
    renamed = package_rename(answers_file)
    if not renamed:
        return  # Runs on every update (see copier.yml); acts only on the one that renames.
    old_package, new_package = renamed
    old_folder, new_folder = f"src/{old_package}", f"src/{new_package}"
    team_files = committed_files(old_folder)
    with tempfile.TemporaryDirectory(prefix="carry-renamed-package.") as scratch:
        rendered = render_last_release(template, answers_file, Path(scratch, "last-update"))
        template_files = {
            str(path.relative_to(rendered))
            for path in (rendered / old_folder).rglob("*")
            if path.is_file()
        }
        failed = []
        for old in team_files:
            new = new_folder + old.removeprefix(old_folder)
            base = (rendered / old).read_bytes() if old in template_files else None
            outcome = carry_file(old, new, base, Path(scratch))
            if outcome == "failed":
                failed.append(old)
            elif outcome in ("moved", "merged", "conflict"):
                print(
                    f"{new}: carried from {old}; check its imports of the old package "
                    f"{old_package!r} (now {new_package!r})."
                )
            if outcome == "conflict":
                print(
                    f"{new}: your edits of {old} conflict with this release; resolve the markers."
                )
    # A template file the team had deleted: like copier for any deleted file, do not bring it back.
    for old in sorted(template_files - set(team_files)):
        Path(new_folder + old.removeprefix(old_folder)).unlink(missing_ok=True)
    remove_empty_folders(Path(old_folder))
    if failed:
        sys.exit(
            f"git merge-file could not merge {', '.join(failed)} into {new_folder}: the new "
            "release's files are there, your versions are at HEAD."
        )


def main() -> None:
    parser = carrying.parser(__doc__.splitlines()[0])
    args = parser.parse_args()
    carry(args.template, args.answers_file)


if __name__ == "__main__":
    main()
