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

import sys
import tempfile
from pathlib import Path

import carrying
from carrying import committed, merge_into, path_at_head, render_last_release


def carry(template: str, old: str, new: str, answers_file: str) -> None:
    target = Path(new)
    # Where the update also renames the package (see carry_renamed_package.py), the team's files
    # and the old release's render have them under the old package's folder.
    old_at_head, new_at_head = (path_at_head(path, answers_file) for path in (old, new))
    # Runs on every update (see copier.yml); acts only on the one that renames the file: the new
    # name has just appeared and the old one has just gone.
    if not target.is_file() or Path(old).exists() or committed(new_at_head) is not None:
        return
    with tempfile.TemporaryDirectory(prefix="carry-renamed-file.") as scratch:
        rendered = render_last_release(template, answers_file, Path(scratch, "last-update"))
        if not (rendered / old_at_head).is_file():
            return  # The project's release had no file by this name: another entry's rename.
        base = (rendered / old_at_head).read_bytes()
        edited = committed(old_at_head)
        if edited is None:
            # The team had deleted the file: like copier for any deleted file, do not bring it back.
            target.unlink()
            return
        if edited == base:
            return  # Never edited: the new release's file, as copier wrote it, is right.
        conflicts = merge_into(target, edited, base, Path(scratch))
    if conflicts < 0:
        sys.exit(f"git merge-file could not merge {new}; your version of {old_at_head} is at HEAD.")
    if conflicts:
        print(
            f"{new}: your edits of {old_at_head} conflict with this release; resolve the markers."
        )


def main() -> None:
    parser = carrying.parser(__doc__.splitlines()[0])
    parser.add_argument("old", help="the file's path before the rename, in the project")
    parser.add_argument("new", help="the file's path after the rename, in the project")
    args = parser.parse_args()
    carry(args.template, args.old, args.new, args.answers_file)


if __name__ == "__main__":
    main()
