"""Tables that tests fill and the run prints at its end (conftest's pytest_terminal_summary).
Under pytest-xdist each worker fills its own, and sends them to the controller, which prints."""

import json

# Title -> the table's lines, in the order the tables were made.
SECTIONS: dict[str, list[str]] = {}


def add_section(title: str, lines: list[str]) -> None:
    SECTIONS[title] = lines


def add_table(title: str, first_column: str, rows: dict[str, dict[str, object]]) -> None:
    """A table with one row per key of `rows` and one column per key found in any row."""
    if not rows:
        return
    columns = sorted({column for row in rows.values() for column in row})
    width = max(len(first_column), *map(len, rows))
    lines = [" | ".join([first_column.ljust(width), *columns])]
    for name, row in rows.items():
        cells = [str(row.get(column, "-")).rjust(len(column)) for column in columns]
        lines.append(" | ".join([name.ljust(width), *cells]))
    add_section(title, lines)


def dumps() -> str:
    return json.dumps(SECTIONS)


def merge(sent: str) -> None:
    SECTIONS.update(json.loads(sent))
