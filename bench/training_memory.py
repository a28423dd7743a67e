"""Peak memory of `train` on a large table, against the table's own size in memory: data must
stay columnar (issue 20 asks for at most 2x the data).

    uv run bench/training_memory.py [--rows 1000000 ...] [--features 50] [--framework NAME]

Renders a project with the defaults (tracking=none, so that the figure is training's alone:
MLflow's dataset digest adds its own copy), writes a Parquet file of --rows rows of --features
float64 columns and a label, and runs `train` on it with one epoch, reading its own peak
resident memory (getrusage) as it ends. Prints what the imports alone hold, then one table row
per size: the rows, the table's in-memory size (pandas' memory_usage), the peak resident memory
of `train`, and the ratio, with and without the imports. Takes about a minute per million rows.
"""

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def render(where: Path, framework: str) -> Path:
    project = where / "project"
    subprocess.run(
        [sys.executable, "-m", "copier", "copy", "--quiet", "--trust", "--defaults"]
        + ["--vcs-ref", "HEAD", "--data", "tracking=none", "--data", f"ml_framework={framework}"]
        + [str(REPO), str(project)],
        check=True,
    )
    subprocess.run(["uv", "sync", "--quiet", "--locked"], cwd=project, check=True)
    return project


def write_table(project: Path, path: Path, rows: int, features: int) -> int:
    """The table, written by the project's own pandas; its size in memory, in bytes."""
    code = f"""
import numpy as np, pandas as pd, fastparquet
rng = np.random.default_rng(0)
names = [f"x{{i}}" for i in range({features})]
frame = pd.DataFrame(rng.normal(size=({rows}, {features})), columns=names)
frame["label"] = (frame["x0"] + frame["x1"] > 0).astype("int64")
fastparquet.write({str(path)!r}, frame, row_group_offsets=1_000_000, write_index=False)
print(int(frame.memory_usage(index=False).sum()))
"""
    done = subprocess.run(
        ["uv", "run", "--quiet", "python", "-c", code],
        cwd=project,
        check=True,
        capture_output=True,
        text=True,
    )
    return int(done.stdout.strip())


# `train`, then its own peak resident memory (KiB) on the last line of stderr.
TRAIN_AND_REPORT = """
import resource, sys
from ml_project.cli import main
code = main(["train"])
print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, file=sys.stderr)
sys.exit(code)
"""


# What `train` holds before any data: the interpreter and the stack it imports to train.
IMPORTS_ONLY = """
import resource, sys
import ml_project.cli, ml_project.training, ml_project.model
print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, file=sys.stderr)
"""


def peak_of(project: Path, code: str, environment: dict[str, str] | None = None) -> int:
    """Peak resident memory (bytes) of the project's Python running `code`, which prints its
    own (KiB) on the last line of stderr."""
    done = subprocess.run(
        [str(project / ".venv" / "bin" / "python"), "-c", code],
        cwd=project,
        env=environment,
        check=True,
        capture_output=True,
        text=True,
    )
    return int(done.stderr.strip().splitlines()[-1]) * 1024


def peak_of_train(project: Path, data: Path, outputs: Path) -> tuple[int, float]:
    """Peak resident memory of `train` (bytes) and its wall time (seconds)."""
    environment = {**os.environ, "DATA_PATH": str(data), "OUTPUT_DIR": str(outputs), "EPOCHS": "1"}
    started = time.perf_counter()
    peak = peak_of(project, TRAIN_AND_REPORT, environment)
    return peak, time.perf_counter() - started


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, nargs="+", default=[1_000_000])
    parser.add_argument("--features", type=int, default=50)
    parser.add_argument("--framework", default="scikit-learn")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        where = Path(scratch)
        project = render(where, args.framework)
        imports = peak_of(project, IMPORTS_ONLY)
        print(f"Before any data, `train`'s imports hold {imports / 1e6:,.0f} MB.")
        print(
            "| rows | features | table in memory (MB) | peak of train (MB) | ratio"
            " | ratio without the imports | seconds |"
        )
        print("|---|---|---|---|---|---|---|")
        for rows in sorted(args.rows):
            data = where / f"table-{rows}.parquet"
            size = write_table(project, data, rows, args.features)
            peak, seconds = peak_of_train(project, data, where / f"outputs-{rows}")
            data.unlink()
            print(
                f"| {rows:,} | {args.features} | {size / 1e6:,.0f} | {peak / 1e6:,.0f}"
                f" | {peak / size:.2f} | {(peak - imports) / size:.2f} | {seconds:.0f} |",
                flush=True,
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
