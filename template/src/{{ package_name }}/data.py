"""Training data: the user's CSV or Parquet file (DATA_PATH), else a demo set made on the fly."""

from __future__ import annotations  # Settings: config.py is imported for type checking only

import hashlib
import logging
import random
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .config import Settings

N_FEATURES = 4
N_CLASSES = 3

# One centre per class, far enough apart that a good model scores well above chance.
_CENTRES = [(0.0, 0.0, 0.0, 0.0), (3.0, 3.0, 0.0, 1.0), (0.0, 3.0, 3.0, -1.0)]

Rows = list[list[float]]

# The held-out share of the rows, and the seed that picks them (recorded with every run).
TEST_FRACTION = 0.25
SPLIT_SEED = 0


log = logging.getLogger(__name__)


class DataError(ValueError):
    """The data file cannot be used; the message says what is wrong and how to fix it."""


@dataclass(frozen=True)
class Dataset:
    features: Rows
    labels: list[int]
    feature_names: list[str]
    source: str  # where the rows came from, for provenance and the tracking run


def make_dataset(n_samples: int = 600, seed: int = 0) -> tuple[Rows, list[int]]:
    """Gaussian blobs around fixed centres, the same for the same seed."""
    rng = random.Random(seed)
    features: Rows = []
    labels: list[int] = []
    for index in range(n_samples):
        label = index % N_CLASSES
        features.append([rng.gauss(centre, 1.0) for centre in _CENTRES[label]])
        labels.append(label)
    return features, labels


def demo_dataset(n_samples: int) -> Dataset:
    features, labels = make_dataset(n_samples)
    names = [f"f{index}" for index in range(N_FEATURES)]
    return Dataset(features, labels, names, source=f"demo blobs ({n_samples} rows, seed 0)")


def load_training_data(settings: Settings) -> Dataset:
    """DATA_PATH's rows, else the demo set."""
    if settings.data_path is not None:
        return read_dataset(settings.data_path, settings.label_column, settings.ignored_columns)
    return demo_dataset(settings.train_samples)


def read_dataset(path: Path, label_column: str, ignored: Sequence[str] = ()) -> Dataset:
    """Numeric feature columns plus an integer label column (class ids 0, 1, 2...). The columns
    `ignored` (IGNORE_COLUMNS) are dropped, and so is pandas' unnamed index column ("Unnamed:
    0", written by `to_csv` without index=False): neither is a feature that serving has."""
    # Only training on user data needs pandas.
    import fastparquet
    import pandas as pd

    if not path.is_file():
        raise DataError(f"DATA_PATH={path}: no such file: mount the data and point DATA_PATH at it")
    suffix = path.suffix.lower()
    if suffix not in {".csv", ".parquet", ".pq"}:
        raise DataError(f"DATA_PATH={path}: unknown format: give a .csv or .parquet file")
    try:
        # fastparquet directly: pandas 3 deprecates its fastparquet engine, and pyarrow, the
        # other engine, adds about 160 MB to the image.
        frame = pd.read_csv(path) if suffix == ".csv" else fastparquet.ParquetFile(path).to_pandas()
    except Exception as error:  # parsers raise many kinds of error on a malformed file
        reason = str(error).splitlines()[0] if str(error) else type(error).__name__
        raise DataError(f"DATA_PATH={path}: cannot be read ({reason}): check the file") from None
    if suffix == ".csv" and frame.shape[1] == 1 and ";" in str(frame.columns[0]):
        raise DataError(
            f"DATA_PATH={path}: one column, whose name holds ';': the file looks"
            " semicolon-separated: save it with commas between the values"
        )
    if label_column not in frame.columns:
        raise DataError(
            f"DATA_PATH={path}: no column {label_column!r} (columns: {', '.join(map(str, frame))}):"
            " set LABEL_COLUMN to the label column's name"
        )
    unknown = [name for name in ignored if name not in frame.columns]
    if unknown:
        raise DataError(
            f"IGNORE_COLUMNS: no column {', '.join(map(repr, unknown))} in DATA_PATH={path}"
            f" (columns: {', '.join(map(str, frame))}): name columns of the file, or unset it"
        )
    if label_column in ignored:
        raise DataError(
            f"IGNORE_COLUMNS names the label column {label_column!r}: remove it from IGNORE_COLUMNS"
        )
    unnamed = [str(name) for name in frame.columns if re.fullmatch(r"Unnamed: \d+", str(name))]
    if unnamed:
        log.info("Ignoring %s: pandas' name for a column without a header.", ", ".join(unnamed))
    features = frame.drop(columns=[label_column, *ignored, *unnamed])
    labels = frame[label_column]
    if len(frame) < 10 or features.shape[1] == 0:
        raise DataError(f"DATA_PATH={path}: needs at least 10 rows and one feature column")
    not_numeric = [str(c) for c in features if not pd.api.types.is_numeric_dtype(features[c])]
    if not_numeric:
        raise DataError(
            f"DATA_PATH={path}: columns {', '.join(not_numeric)} are not numeric:"
            " encode them as numbers or drop them"
        )
    if frame.isna().any().any():
        raise DataError(f"DATA_PATH={path}: some cells are empty: fill or drop those rows")
    if features.isin([float("inf"), float("-inf")]).any().any():
        raise DataError(f"DATA_PATH={path}: some values are infinite: fix or drop those rows")
    if not pd.api.types.is_integer_dtype(labels) or labels.min() < 0:
        raise DataError(
            f"DATA_PATH={path}: column {label_column!r} must hold class ids 0, 1, 2...:"
            " map each class to a whole number"
        )
    if labels.nunique() < 2:
        raise DataError(
            f"DATA_PATH={path}: column {label_column!r} holds one class only: a classifier needs"
            " rows of at least two classes"
        )
    return Dataset(
        features=features.astype(float).values.tolist(),
        labels=[int(label) for label in labels],
        feature_names=[str(name) for name in features.columns],
        source=str(path),
    )


@dataclass(frozen=True)
class Split:
    train_x: Rows
    train_y: list[int]
    test_x: Rows
    test_y: list[int]
    description: dict[str, object]  # how the rows were split, recorded with the run


def _rank(seed: int, label: int, row: list[float]) -> bytes:
    return hashlib.blake2b(f"{seed}|{label}|{row!r}".encode(), digest_size=8).digest()


def train_test_split(
    features: Rows, labels: list[int], test_fraction: float = TEST_FRACTION, seed: int = SPLIT_SEED
) -> Split:
    """A seeded split, stratified by class, that depends on the rows and not on their order:
    within each class the rows are ranked by a hash of the seed and the row, and the first
    quarter (by default) is held out. So a file sorted by label or by time is split like a
    shuffled one; the same data and seed give the same rows; and a row keeps its side when rows
    are added, so the gate scores the champion on rows that it, too, was (mostly) not trained
    on. A class of one row stays in training: it cannot be evaluated."""
    rows_of: dict[int, list[int]] = {}
    for index, label in enumerate(labels):
        rows_of.setdefault(label, []).append(index)
    held_out: set[int] = set()
    for label in sorted(rows_of):
        indices = sorted(rows_of[label], key=lambda i: _rank(seed, label, features[i]))
        count = min(max(round(len(indices) * test_fraction), 1), len(indices) - 1)
        held_out.update(indices[:count])
    if not held_out:
        raise DataError(
            "every class has a single row, so none can be held out to measure accuracy:"
            " give at least two rows of some class"
        )
    train = [i for i in range(len(labels)) if i not in held_out]
    test = sorted(held_out)
    description = {
        "split": "stratified by class, rows ranked by a seeded hash",
        "split_seed": seed,
        "test_fraction": test_fraction,
    }
    return Split(
        train_x=[features[i] for i in train],
        train_y=[labels[i] for i in train],
        test_x=[features[i] for i in test],
        test_y=[labels[i] for i in test],
        description=description,
    )
