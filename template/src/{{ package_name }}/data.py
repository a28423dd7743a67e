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

from .contract import CLASSIFICATION, REGRESSION, ContractError, check_column_to_predict

if TYPE_CHECKING:
    from .config import Settings

N_FEATURES = 4
N_CLASSES = 3

# One centre per class, far enough apart that a good model scores well above chance.
_CENTRES = np.array([(0.0, 0.0, 0.0, 0.0), (3.0, 3.0, 0.0, 1.0), (0.0, 3.0, 3.0, -1.0)])
# The demo regression's target: a weighted sum of the features, plus noise.
_WEIGHTS = np.array([2.0, -1.0, 0.5, 0.0])
_INTERCEPT = 10.0

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


def make_dataset(
    n_samples: int = 600, seed: int = 0, task: str = CLASSIFICATION
) -> tuple[pd.DataFrame, pd.Series]:
    """Gaussian blobs around fixed centres, the same for the same seed: columns f0..f3, and
    the label column `label`: classes 0, 1, 2, or for a regression a number (a weighted sum
    of the features, plus noise)."""
    rng = np.random.default_rng(seed)
    classes = np.arange(n_samples) % N_CLASSES
    values = _CENTRES[classes] + rng.normal(size=(n_samples, N_FEATURES))
    features = pd.DataFrame(values, columns=[f"f{index}" for index in range(N_FEATURES)])
    if task == REGRESSION:
        targets = values @ _WEIGHTS + _INTERCEPT + rng.normal(scale=0.5, size=n_samples)
        return features, pd.Series(targets, name="label")
    return features, pd.Series(classes, name="label")


def demo_dataset(n_samples: int, task: str) -> Dataset:
    features, labels = make_dataset(n_samples, task=task)
    return Dataset(features, labels, source=f"demo blobs ({n_samples} rows, seed 0)")


def load_training_data(settings: Settings, task: str) -> Dataset:
    """DATA_PATH's rows, else the demo set. task: model.py's TASK."""
    return training_data(read_training_file(settings), settings, task)


def training_data(found: Dataset | None, settings: Settings, task: str) -> Dataset:
    """`found` (read_training_file's answer) once its label column suits `task`; the demo set
    where there is no DATA_PATH."""
    return demo_dataset(settings.train_samples, task) if found is None else checked(found, task)


def read_training_file(settings: Settings) -> Dataset | None:
    """DATA_PATH's rows, the label column not checked yet (it needs model.py's TASK, and so the
    ML framework's import: seconds); None without DATA_PATH."""
    if settings.data_path is None:
        return None
    return read_dataset(settings.data_path, settings.label_column, settings.ignored_columns)


def checked(dataset: Dataset, task: str) -> Dataset:
    """The dataset, once its label column is one that `task` learns from: DataError if not."""
    try:
        check_column_to_predict(dataset.labels, task)
    except ContractError as error:
        raise DataError(f"DATA_PATH={dataset.source}: {error}") from None
    return dataset


def read_dataset(path: Path, label_column: str, ignored: Sequence[str] = ()) -> Dataset:
    """Feature columns of numbers or categories (text), missing cells allowed, and the label
    column (checked by `checked`): classes, any strings or numbers ("yes"/"no", 0/1, -1/1), or
    for a regression numbers. The columns `ignored` (IGNORE_COLUMNS) are dropped, and so is
    pandas' unnamed index column ("Unnamed: 0", written by `to_csv` without index=False):
    neither is a feature that serving has."""
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
    # A column at a time: the whole table as one array would be a second copy of it.
    floats = [features[name] for name in features if pd.api.types.is_float_dtype(features[name])]
    if any(np.isinf(column.to_numpy(np.float64, na_value=np.nan)).any() for column in floats):
        raise DataError(f"DATA_PATH={path}: some values are infinite: fix or drop those rows")
    return Dataset(features=features, labels=labels, source=str(path))


@dataclass(frozen=True)
class Split:
    """Which rows train and which are held out, as row numbers of `features`: training reads the
    table through them (contract.py's `rows`) rather than copying it, so a large table is held
    once. `train`, `test` and their labels are copies, for small tables and tests."""

    features: pd.DataFrame
    labels: pd.Series
    train_rows: np.ndarray
    test_rows: np.ndarray
    description: dict[str, object]  # how the rows were split, recorded with the run

    @property
    def train(self) -> pd.DataFrame:
        return self.features.iloc[self.train_rows].reset_index(drop=True)

    @property
    def train_labels(self) -> pd.Series:
        return self.labels.iloc[self.train_rows].reset_index(drop=True)

    @property
    def test(self) -> pd.DataFrame:
        return self.features.iloc[self.test_rows].reset_index(drop=True)

    @property
    def test_labels(self) -> pd.Series:
        return self.labels.iloc[self.test_rows].reset_index(drop=True)


def train_test_split(
    features: pd.DataFrame,
    labels: pd.Series,
    stratify: bool = True,
    test_fraction: float = TEST_FRACTION,
    seed: int = SPLIT_SEED,
) -> Split:
    """A seeded split, stratified by class (unless `stratify` is false: a regression), that
    depends on the rows and not on their order: within each class the rows are ranked by a hash
    of the seed and the row, and the first quarter (by default) is held out. So a file sorted
    by label or by time is split like a shuffled one; the same data and seed give the same
    rows; and a row keeps its side when rows are added, so the gate scores the champion on rows
    that it, too, was (mostly) not trained on. A class of one row stays in training: it cannot
    be evaluated."""
    # Vectorised hashes of each row's values (pandas hashes a column at a time) and its label,
    # hashed again with the seed.
    hashed = pd.util.hash_pandas_object(features, index=False).to_numpy()
    hashed = hashed * np.uint64(31) + pd.util.hash_pandas_object(labels, index=False).to_numpy()
    ranks = pd.util.hash_array(hashed ^ np.uint64(seed * 0x9E3779B97F4A7C15 % 2**64))
    classes = pd.factorize(labels, sort=False)[0] if stratify else np.zeros(len(labels), int)
    order = np.lexsort((ranks, classes))  # by class, then by rank within it
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
        "split": f"{'stratified by class, ' if stratify else ''}rows ranked by a seeded hash",
        "split_seed": seed,
        "test_fraction": test_fraction,
    }
    train_rows, test_rows = np.flatnonzero(~held_out), np.flatnonzero(held_out)
    return Split(features, labels, train_rows, test_rows, description)
