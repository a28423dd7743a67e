"""What the project being updated answered before this run, as a Jinja filter.

A question added in a later release takes its default on `copier update`, like on a new project.
Where the new default would change what an existing project builds, the question's default reads
the project's answers file instead (`{{ _copier_conf | previous_answer('image_flavor') }}`): on
`copier copy` there is none, and the filter gives an empty string.
"""

from pathlib import Path

import yaml
from jinja2.ext import Extension


def previous_answer(copier_conf, key: str) -> str:
    """The answer to `key` in the destination's answers file, or "" when it has none."""
    answers_file = Path(copier_conf["dst_path"]) / copier_conf["answers_file"]
    try:
        answers = yaml.safe_load(answers_file.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError):
        return ""
    if not isinstance(answers, dict):
        return ""
    return str(answers.get(key, ""))


class ExistingProjectExtension(Extension):
    """Makes `previous_answer` a Jinja filter."""

    def __init__(self, environment):
        super().__init__(environment)
        environment.filters["previous_answer"] = previous_answer
