"""The model contract: the columns a model takes, by name and type; how a table of them becomes
the matrix of numbers the model sees; and what it answers: one of the classes it learnt
(classification), or a number (regression). Training learns it from
the training rows and saves it beside the model (contract.json); serving, batch scoring and the
MLflow wrapper prepare every table through it. So a column is found by its name, not its
position, and a served row is prepared exactly as a training row was.

The preparation: a number column is standardised with the training mean and standard deviation,
a missing cell becomes the training median, and a value far outside training (or infinite) is
clipped; a category column becomes one 0/1 column per category seen in training, a missing cell
the most frequent category, an unseen category all zeros. Columns the contract does not name
are ignored."""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import numpy as np
import pandas as pd

CONTRACT_FILE = "contract.json"
FORMAT = 1

NUMBER = "number"
CATEGORY = "category"

# What a model predicts: model.py declares it as TASK.
CLASSIFICATION = "classification"
REGRESSION = "regression"
TASKS = (CLASSIFICATION, REGRESSION)

# Standardised values are clipped to this many standard deviations: far outside anything seen in
# training, yet no model overflows (1e306 once made a scaler answer infinity, a 500).
CLIP = 50.0
# A category column keeps its most frequent categories; the rest are treated as unseen.
MAX_CATEGORIES = 50
# More classes than this, each label held by few rows, is a number to predict, not classes.
MAX_CLASSES = 100

Label = str | int | float | bool


class ContractError(ValueError):
    """A table the contract cannot take; the message names the column or value, and the fix."""


def _shown(value: object) -> str:
    text = json.dumps(value) if isinstance(value, str | int | float | bool) else repr(value)
    return text if len(text) <= 60 else text[:60] + "…"


def _plain(value: object) -> Label:
    """A Python value from a NumPy one (JSON cannot write numpy.int64)."""
    return value.item() if isinstance(value, np.generic) else value  # type: ignore[return-value]


def _number(value: object) -> float:
    """One cell of a number column; ValueError when it is not a number."""
    if value is None or value == "":
        return math.nan
    if isinstance(value, int | float | np.number):
        try:
            return float(value)
        except OverflowError:  # an integer beyond float64: as far out as it gets
            return math.inf if value > 0 else -math.inf
    if isinstance(value, str):
        return float(value)
    raise ValueError(value)


# The column types a contract records (those of the training column), as MLflow's signatures
# and the Open Inference Protocol name them. (MLflow's scoring refuses a missing value in an
# integer column, and integers in a double column; this service takes both.)
MLFLOW_TYPES = {"integer": "long", "float": "double", "string": "string", "boolean": "boolean"}
OIP_DATATYPES = {"integer": "INT64", "float": "FP64", "string": "BYTES", "boolean": "BOOL"}


@dataclass(frozen=True)
class Feature:
    name: str
    kind: str  # NUMBER or CATEGORY: how the column is prepared
    type: str  # the training column's: integer, float, string or boolean
    fill: float | str  # a missing cell: the training median, or the most frequent category
    mean: float = 0.0
    scale: float = 1.0
    categories: tuple[str, ...] = ()

    @property
    def width(self) -> int:
        return 1 if self.kind == NUMBER else len(self.categories)

    @property
    def datatype(self) -> str:
        """Its type as the Open Inference Protocol names it."""
        return OIP_DATATYPES[self.type]

    def numbers(self, raw: Sequence | pd.Series) -> np.ndarray:
        if isinstance(raw, pd.Series):
            if pd.api.types.is_numeric_dtype(raw) and not pd.api.types.is_bool_dtype(raw):
                return raw.to_numpy(dtype=np.float64, na_value=np.nan, copy=True)
            values = list(raw)
        else:
            values = list(raw)
            # The common case at once: numbers and nulls (a request's JSON list).
            if not any(type(value) is bool or isinstance(value, str) for value in values):
                try:
                    numbers = np.asarray(values, dtype=np.float64)
                    if numbers.ndim == 1:
                        return numbers
                except Exception:  # NumPy's many refusals: the loop below names the value
                    pass
        numbers = np.empty(len(values))
        for index, value in enumerate(values):
            try:
                if isinstance(value, bool):
                    raise ValueError(value)
                numbers[index] = math.nan if _is_missing(value) else _number(value)
            except ValueError:
                raise ContractError(
                    f"column {self.name!r}: {_shown(value)} is not a number: send a number, or"
                    " null for a missing value"
                ) from None
        return numbers

    def strings(self, raw: Sequence | pd.Series) -> pd.Series:
        values = raw if isinstance(raw, pd.Series) else pd.Series(list(raw), dtype=object)
        bad = values.map(lambda v: not (_is_missing(v) or isinstance(v, str | int | float | bool)))
        if bad.any():
            raise self._not_a_category(values[bad.to_numpy()].iloc[0])
        filled = values.where(~values.map(_is_missing), self.fill)
        return filled.map(str)

    def codes(self, raw: Sequence | pd.Series) -> np.ndarray:
        """Each value's index in `categories`; -1 for an unseen one."""
        if isinstance(raw, pd.Series):
            return pd.Index(self.categories).get_indexer(self.strings(raw))
        # A request's few values: a dictionary lookup each. Through pandas, as for a table,
        # this column took most of a request's time.
        codes = np.empty(len(raw), dtype=np.int64)
        for row, value in enumerate(raw):
            if _is_missing(value):
                value = self.fill
            elif not isinstance(value, str | int | float | bool):
                raise self._not_a_category(value)
            codes[row] = self._category_codes.get(str(value), -1)
        return codes

    @cached_property
    def _category_codes(self) -> dict[str, int]:
        return {category: code for code, category in enumerate(self.categories)}

    def _not_a_category(self, value: object) -> ContractError:
        return ContractError(
            f"column {self.name!r}: {_shown(value)} is not a category: send a string, or null for"
            " a missing value"
        )

    def encode(self, raw: Sequence | pd.Series, out: np.ndarray) -> None:
        """Writes this column's prepared values into `out` (rows by self.width)."""
        if self.kind == NUMBER:
            numbers = self.numbers(raw)  # a new array: changed in place, not copied
            numbers[np.isnan(numbers)] = self.fill
            with np.errstate(over="ignore", invalid="ignore"):
                numbers -= self.mean
                numbers /= self.scale
            out[:, 0] = np.clip(numbers, -CLIP, CLIP, out=numbers)
        else:
            codes = self.codes(raw)
            seen = codes >= 0
            out[np.flatnonzero(seen), codes[seen]] = 1.0


def _rows_of(column, rows: np.ndarray | None):
    return column if rows is None else column.iloc[rows].reset_index(drop=True)


def _is_missing(value: object) -> bool:
    return value is None or value is pd.NA or (isinstance(value, float) and math.isnan(value))


def check_labels(labels: pd.Series) -> list[Label]:
    """The classes of this label column; ContractError when it is not one a classifier
    learns from."""
    if labels.isna().any():
        raise ContractError(
            f"column {labels.name!r} has rows without a label: fill or drop those rows"
        )
    found = pd.unique(labels)
    if len(found) < 2:
        raise ContractError(
            f"column {labels.name!r} holds one class only: a classifier needs rows of at"
            " least two classes"
        )
    if len(found) > MAX_CLASSES and len(found) > len(labels) / 2:
        raise ContractError(
            f"column {labels.name!r} holds {len(found)} different values in {len(labels)}"
            " rows: that is a number to predict, not classes: give a column of classes"
        )
    return [_plain(value) for value in found]


def check_targets(targets: pd.Series) -> None:
    """ContractError when this column is not numbers that a regression learns from."""
    if pd.api.types.is_bool_dtype(targets):
        numbers, not_numbers = targets, targets.notna()
    else:
        numbers = pd.to_numeric(targets, errors="coerce")
        not_numbers = numbers.isna() & targets.notna()
    if not_numbers.any():
        value = targets[not_numbers].iloc[0]
        raise ContractError(
            f"column {targets.name!r} holds {_shown(_plain(value))}, not a number: a regression"
            " predicts numbers: give a column of numbers (or render the project with"
            " task=classification to predict classes)"
        )
    if targets.isna().any():
        raise ContractError(
            f"column {targets.name!r} has rows without a value: fill or drop those rows"
        )
    if not np.isfinite(numbers.to_numpy(dtype=np.float64)).all():
        raise ContractError(
            f"column {targets.name!r} holds infinite values: fix or drop those rows"
        )
    if numbers.nunique() < 2:
        raise ContractError(
            f"column {targets.name!r} holds one value only: there is nothing to predict"
        )


def check_column_to_predict(labels: pd.Series, task: str) -> None:
    """ContractError when `labels` is not a column this task learns from."""
    if task == REGRESSION:
        check_targets(labels)
    else:
        check_labels(labels)


def _learn_feature(name: str, values: pd.Series) -> Feature:
    if pd.api.types.is_numeric_dtype(values) and not pd.api.types.is_bool_dtype(values):
        numbers = values.to_numpy(dtype=np.float64, na_value=np.nan)
        finite = numbers[np.isfinite(numbers)]
        if finite.size == 0:
            raise ContractError(f"column {name!r} has no values: fill it, or ignore it")
        scale = float(finite.std())
        return Feature(
            name,
            NUMBER,
            "integer" if pd.api.types.is_integer_dtype(values) else "float",
            fill=float(np.median(finite)),
            mean=float(finite.mean()),
            scale=scale if scale > 0 and math.isfinite(scale) else 1.0,
        )
    strings = values[~values.isna()].map(str)
    if strings.empty:
        raise ContractError(f"column {name!r} has no values: fill it, or ignore it")
    counts = strings.value_counts(sort=True)
    kept = sorted(counts.index[:MAX_CATEGORIES])
    kind = "boolean" if pd.api.types.is_bool_dtype(values) else "string"
    return Feature(name, CATEGORY, kind, fill=str(counts.index[0]), categories=tuple(kept))


@dataclass(frozen=True)
class Contract:
    features: tuple[Feature, ...]
    label: str  # the name, in the training data, of the column to predict
    task: str  # CLASSIFICATION or REGRESSION
    classes: tuple[Label, ...] = ()  # classification: what the model answers with
    # Regression: the models learn the target standardised, and their answers are scaled back.
    target_mean: float = 0.0
    target_scale: float = 1.0

    @classmethod
    def learn(
        cls, features: pd.DataFrame, labels: pd.Series, task: str, rows: np.ndarray | None = None
    ) -> Contract:
        """The contract of these training rows (`rows`: those row numbers only, read a column
        at a time). ContractError when they cannot make one."""
        if task not in TASKS:
            raise ContractError(f"task {task!r}: model.py's TASK must be one of {TASKS}")
        labels = labels if rows is None else labels.iloc[rows]
        check_column_to_predict(labels, task)
        learnt = tuple(
            _learn_feature(str(name), _rows_of(features[name], rows)) for name in features.columns
        )
        if task == REGRESSION:
            targets = pd.to_numeric(labels).to_numpy(dtype=np.float64)
            scale = float(targets.std())
            scale = scale if scale > 0 and math.isfinite(scale) else 1.0
            return cls(learnt, str(labels.name), task, (), float(targets.mean()), scale)
        classes = sorted(map(_plain, pd.unique(labels)), key=lambda v: (str(type(v)), v))
        return cls(learnt, str(labels.name), task, tuple(classes))

    @property
    def metric(self) -> str:
        """The held-out score of a model of this contract: higher is better."""
        return "r2" if self.task == REGRESSION else "accuracy"

    @property
    def names(self) -> list[str]:
        return [feature.name for feature in self.features]

    @property
    def width(self) -> int:
        return sum(feature.width for feature in self.features)

    def missing_columns(self, columns: Sequence[str]) -> list[str]:
        present = set(columns)
        return [name for name in self.names if name not in present]

    def encode(
        self,
        table: Mapping[str, Sequence | pd.Series] | pd.DataFrame,
        rows: np.ndarray | None = None,
    ) -> np.ndarray:
        """The model's input: one row per table row (`rows`: those row numbers of a DataFrame
        only, read a column at a time), float32. ContractError names a missing column or a value
        of the wrong type."""
        missing = self.missing_columns(list(table.keys()))
        if missing:
            raise ContractError(
                f"missing column{'s' if len(missing) > 1 else ''} {', '.join(map(repr, missing))}:"
                f" send every feature column ({', '.join(self.names)})"
            )
        lengths = {len(table[name]) for name in self.names}
        if len(lengths) > 1:
            raise ContractError(
                "the columns have different numbers of rows: send one value per row"
            )
        n_rows = (lengths.pop() if lengths else 0) if rows is None else len(rows)
        matrix = np.zeros((n_rows, self.width), dtype=np.float32)
        start = 0
        for feature in self.features:
            column = _rows_of(table[feature.name], rows)
            feature.encode(column, matrix[:, start : start + feature.width])
            start += feature.width
        return matrix

    def targets(self, labels: pd.Series | Sequence[Label]) -> np.ndarray:
        """The column to predict as models train on it: each label's index in `classes` (-1 for
        an unknown one), or the standardised numbers (float32) of a regression."""
        if self.task == REGRESSION:
            numbers = pd.to_numeric(pd.Series(labels)).to_numpy(dtype=np.float64)
            return ((numbers - self.target_mean) / self.target_scale).astype(np.float32)
        indices = pd.Index(list(self.classes)).get_indexer(pd.Series(labels).to_numpy())
        return indices.astype(np.int64)

    def labels(self, indices: np.ndarray) -> list[Label]:
        return [self.classes[index] for index in indices.tolist()]

    def values(self, standardised: np.ndarray) -> list[float]:
        """A regression model's answers, on the target's own scale."""
        numbers = np.asarray(standardised, dtype=np.float64).reshape(-1)
        return (numbers * self.target_scale + self.target_mean).tolist()

    def to_dict(self) -> dict[str, object]:
        features = [
            {
                "name": f.name,
                "kind": f.kind,
                "type": f.type,
                "fill": f.fill,
                **({"mean": f.mean, "scale": f.scale} if f.kind == NUMBER else {}),
                **({"categories": list(f.categories)} if f.kind == CATEGORY else {}),
            }
            for f in self.features
        ]
        answers: dict[str, object] = (
            {"target_mean": self.target_mean, "target_scale": self.target_scale}
            if self.task == REGRESSION
            else {"classes": list(self.classes)}
        )
        return {
            "format": FORMAT,
            "task": self.task,
            "label": self.label,
            **answers,
            "features": features,
        }

    @classmethod
    def from_dict(cls, record: Mapping) -> Contract:
        if record.get("format") != FORMAT:
            raise ContractError(
                f"contract format {record.get('format')!r}, this code reads {FORMAT}"
            )
        features = tuple(
            Feature(
                name=f["name"],
                kind=f["kind"],
                type=f["type"],
                fill=f["fill"],
                mean=f.get("mean", 0.0),
                scale=f.get("scale", 1.0),
                categories=tuple(f.get("categories", ())),
            )
            for f in record["features"]
        )
        return cls(
            features,
            record["label"],
            record.get("task", CLASSIFICATION),
            tuple(record.get("classes", ())),
            record.get("target_mean", 0.0),
            record.get("target_scale", 1.0),
        )

    def save(self, path: Path) -> None:
        path.write_text(json.dumps(self.to_dict(), indent=2) + "\n")

    @classmethod
    def load(cls, path: Path) -> Contract:
        return cls.from_dict(json.loads(path.read_text()))
