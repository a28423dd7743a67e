"""Copier migration: a model.py from before the model contract moves to it, with the team's edits.

model.py is the team's file (`_skip_if_exists` in copier.yml): an update never touches it. But
the release that introduced the model contract changed what every other module calls in it
(`TASK`, `predict`, the contract's matrix), so a model.py from before it would break the
project. Run after the update, this gives such a file the treatment copier gives any file it
updates, a 3-way merge:

    before updating  model.py at HEAD, as the team committed it
    last update      model.py as the release the project came from rendered it (re-rendered)
    after updating   model.py as the new release renders it (rendered here: copier skipped it)

A model.py already on the contract (it names TASK) is left alone, whatever the release.

Called from a `_migrations` entry of copier.yml with no `version` (stage "after", and only with
`--trust`), so it runs on every update:

    {{ _copier_python }} {{ _copier_conf.src_path }}/migrations/carry_model_contract.py MODEL_PY
"""

import re
import sys
import tempfile
from pathlib import Path

import carrying
from carrying import committed, merge_into, path_at_head, render_last_release, render_new_release

ON_THE_CONTRACT = re.compile(r"^TASK\s*[:=]", re.MULTILINE)
README = "README.md, 'Replace the model'"


def carry(template: str, model_py: str, answers_file: str) -> None:
    target = Path(model_py)
    if not target.is_file() or ON_THE_CONTRACT.search(target.read_text(encoding="utf-8")):
        return
    with tempfile.TemporaryDirectory(prefix="carry-model-contract.") as scratch:
        new = render_new_release(template, answers_file, Path(scratch, "new-release"))
        if not ON_THE_CONTRACT.search((new / model_py).read_text(encoding="utf-8")):
            return  # a release before the contract: nothing to move to
        target.write_bytes((new / model_py).read_bytes())
        last = render_last_release(template, answers_file, Path(scratch, "last-update"))
        old_at_head = path_at_head(model_py, answers_file)
        edited, base = committed(old_at_head), last / old_at_head
        if edited is None or not base.is_file() or edited == base.read_bytes():
            print(f"{model_py}: moved to this release's model contract ({README}).")
            return
        conflicts = merge_into(target, edited, base.read_bytes(), Path(scratch))
    if conflicts < 0:
        sys.exit(f"git merge-file could not merge {model_py}; your version is at HEAD.")
    print(
        f"{model_py}: moved to this release's model contract ({README}), with your edits"
        + (": they conflict with it; resolve the markers." if conflicts else ".")
    )


def main() -> None:
    parser = carrying.parser(__doc__.splitlines()[0])
    parser.add_argument("model_py", help="the model module's path in the project")
    args = parser.parse_args()
    carry(args.template, args.model_py, args.answers_file)


if __name__ == "__main__":
    main()
