"""Artifacts written so that a reader never sees half a file, and no run destroys another."""

import json
import os
import shutil
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path


def atomic_write(path: Path, write: Callable[[Path], None]) -> None:
    """write() fills a temporary file next to path, which then replaces path in one rename."""
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        write(temporary)
        os.replace(temporary, path)
    finally:
        temporary.unlink(missing_ok=True)


def write_json(path: Path, payload: object) -> None:
    atomic_write(path, lambda tmp: tmp.write_text(json.dumps(payload, indent=2) + "\n"))


@contextmanager
def new_run_dir(runs_dir: Path, run_id: str) -> Iterator[Path]:
    """A directory to fill, renamed to runs_dir/run_id only when the block completes."""
    runs_dir.mkdir(parents=True, exist_ok=True)
    partial = runs_dir / f".{run_id}.partial"
    partial.mkdir()
    try:
        yield partial
        os.replace(partial, runs_dir / run_id)
    finally:
        shutil.rmtree(partial, ignore_errors=True)
