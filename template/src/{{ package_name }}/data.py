"""Training data: the user's CSV or Parquet file (DATA_PATH), else a demo set made on the fly."""

from __future__ import annotations  # Settings: config.py is imported for type checking only

import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from .contract import ContractError, check_labels

if TYPE_CHECKING:
    from .config import Settings

N_FEATURES = 4
N_CLASSES = 3

# One centre per class, far enough apart that a good model scores well above chance.
_CENTRES = np.array([(0.0, 0.0, 0.0, 0.0), (3.0, 3.0, 0.0, 1.0), (0.0, 3.0, 3.0, -1.0)])

# The held-out share of the rows, and the seed that picks them (recorded with every run).
TEST_FRACTION = 0.25
SPLIT_SEED = 0


log = logging.getLogger(__name__)


class DataError(ValueError):
    """The data file cannot be used; the message says what is wrong and how to fix it."""


@dataclass(frozen=True)
class Dataset:
    """Columnar: a table of feature columns by name, and the label column."""

    features: pd.DataFrame
    labels: pd.Series
    source: str  # where the rows came from, for provenance and the tracking run

    @property
    def feature_names(self) -> list[str]:
        return [str(name) for name in self.features.columns]


def make_dataset(n_samples: int = 600, seed: int = 0) -> tuple[pd.DataFrame, pd.Series]:
    """Gaussian blobs around fixed centres, the same for the same seed: columns f0..f3, and
    the label column `label` (classes 0, 1, 2)."""
    rng = np.random.default_rng(seed)
    labels = np.arange(n_samples) % N_CLASSES
    values = _CENTRES[labels] + rng.normal(size=(n_samples, N_FEATURES))
    features = pd.DataFrame(values, columns=[f"f{index}" for index in range(N_FEATURES)])
    return features, pd.Series(labels, name="label")


def demo_dataset(n_samples: int) -> Dataset:
    features, labels = make_dataset(n_samples)
    return Dataset(features, labels, source=f"demo blobs ({n_samples} rows, seed 0)")


def load_training_data(settings: Settings) -> Dataset:
    """DATA_PATH's rows, else the demo set."""
    if settings.data_path is not None:
        return read_dataset(settings.data_path, settings.label_column, settings.ignored_columns)
    return demo_dataset(settings.train_samples)


def read_dataset(path: Path, label_column: str, ignored: Sequence[str] = ()) -> Dataset:
    """Feature columns of numbers or categories (text), missing cells allowed, and a label
    column of classes: any strings or numbers ("yes"/"no", 0/1, -1/1). The columns `ignored`
    (IGNORE_COLUMNS) are dropped, and so is pandas' unnamed index column ("Unnamed: 0", written
    by `to_csv` without index=False): neither is a feature that serving has."""
    # fastparquet directly: pandas 3 deprecates its fastparquet engine, and pyarrow, the other
    # engine, adds about 160 MB to the image.
    import fastparquet

    if not path.is_file():
        raise DataError(f"DATA_PATH={path}: no such file: mount the data and point DATA_PATH at it")
    suffix = path.suffix.lower()
    if suffix not in {".csv", ".parquet", ".pq"}:
        raise DataError(f"DATA_PATH={path}: unknown format: give a .csv or .parquet file")
    try:
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
    features.columns = [str(name) for name in features.columns]
    labels = frame[label_column]
    if len(frame) < 10 or features.shape[1] == 0:
        raise DataError(f"DATA_PATH={path}: needs at least 10 rows and one feature column")
    empty = [name for name in features if features[name].isna().all()]
    if empty:
        raise DataError(
            f"DATA_PATH={path}: columns {', '.join(empty)} have no values: fill them, or add them"
            " to IGNORE_COLUMNS"
        )
    numbers = features.select_dtypes("number")
    if np.isinf(numbers.to_numpy(dtype=np.float64, na_value=0.0)).any():
        raise DataError(f"DATA_PATH={path}: some values are infinite: fix or drop those rows")
    try:
        check_labels(labels)
    except ContractError as error:
        raise DataError(f"DATA_PATH={path}: {error}") from None
    return Dataset(features=features, labels=labels, source=str(path))


@dataclass(frozen=True)
class Split:
    train: pd.DataFrame
    train_labels: pd.Series
    test: pd.DataFrame
    test_labels: pd.Series
    description: dict[str, object]  # how the rows were split, recorded with the run


def train_test_split(
    features: pd.DataFrame,
    labels: pd.Series,
    test_fraction: float = TEST_FRACTION,
    seed: int = SPLIT_SEED,
) -> Split:
    """A seeded split, stratified by class, that depends on the rows and not on their order:
    within each class the rows are ranked by a hash of the seed and the row, and the first
    quarter (by default) is held out. So a file sorted by label or by time is split like a
    shuffled one; the same data and seed give the same rows; and a row keeps its side when rows
    are added, so the gate scores the champion on rows that it, too, was (mostly) not trained
    on. A class of one row stays in training: it cannot be evaluated."""
    # Vectorised hashes of each row's values and the seed (pandas combines the hashes of the
    # columns: a column of the seed changes every row's).
    rows = features.assign(**{"\0label": labels.to_numpy(), "\0seed": seed})
    ranks = pd.util.hash_pandas_object(rows, index=False)
    classes = pd.factorize(labels, sort=False)[0]
    order = np.lexsort((ranks.to_numpy(), classes))  # by class, then by rank within it
    sizes = np.bincount(classes)
    starts = np.concatenate([[0], np.cumsum(sizes)[:-1]])
    counts = np.minimum(np.maximum(np.round(sizes * test_fraction), 1), sizes - 1).astype(int)
    held_out = np.zeros(len(labels), dtype=bool)
    for start, count in zip(starts, counts, strict=True):
        held_out[order[start : start + count]] = True
    if not held_out.any():
        raise DataError(
            "every class has a single row, so none can be held out to measure accuracy:"
            " give at least two rows of some class"
        )
    description = {
        "split": "stratified by class, rows ranked by a seeded hash",
        "split_seed": seed,
        "test_fraction": test_fraction,
    }
    kept = ~held_out
    return Split(
        train=features[kept].reset_index(drop=True),
        train_labels=labels[kept].reset_index(drop=True),
        test=features[held_out].reset_index(drop=True),
        test_labels=labels[held_out].reset_index(drop=True),
        description=description,
    )
