"""Training data: the user's CSV or Parquet file (DATA_PATH), else a demo set made on the fly."""

import random
from dataclasses import dataclass
from pathlib import Path

N_FEATURES = 4
N_CLASSES = 3

# One centre per class, far enough apart that a good model scores well above chance.
_CENTRES = [(0.0, 0.0, 0.0, 0.0), (3.0, 3.0, 0.0, 1.0), (0.0, 3.0, 3.0, -1.0)]

Rows = list[list[float]]


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


def read_dataset(path: Path, label_column: str) -> Dataset:
    """Numeric feature columns plus an integer label column (class ids 0, 1, 2...)."""
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
    if label_column not in frame.columns:
        raise DataError(
            f"DATA_PATH={path}: no column {label_column!r} (columns: {', '.join(map(str, frame))}):"
            " set LABEL_COLUMN to the label column's name"
        )
    features = frame.drop(columns=[label_column])
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


def train_test_split(
    features: Rows, labels: list[int], test_fraction: float = 0.25
) -> tuple[Rows, list[int], Rows, list[int]]:
    """Deterministic split: every fourth row (by default) is held out, whatever the order."""
    every = round(1 / test_fraction)
    train_x, train_y, test_x, test_y = [], [], [], []
    for index, (row, label) in enumerate(zip(features, labels, strict=True)):
        held_out = index % every == every - 1
        (test_x if held_out else train_x).append(row)
        (test_y if held_out else train_y).append(label)
    return train_x, train_y, test_x, test_y
