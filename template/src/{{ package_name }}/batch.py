"""Batch scoring: `python main.py predict --input PATH --output PATH` scores a CSV or Parquet
file with the champion (the model `serve` would serve) and writes the same format, one row per
input row with `prediction` added (and for a classification, one `probability_<class>` column
per class). The file is
read and written in chunks (CSV: CHUNK_ROWS rows; Parquet: one row group), so memory stays flat
on files larger than RAM. The output appears complete or not at all: it is written beside the
target and renamed at the end."""

import logging
import os
import sys
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
from tqdm import tqdm

from .config import Settings
from .contract import CATEGORY, Contract
from .predictor import Predictor

log = logging.getLogger(__name__)

CHUNK_ROWS = 100_000
FORMATS = {".csv": "CSV", ".parquet": "Parquet", ".pq": "Parquet"}


class BatchError(ValueError):
    """A file or model that cannot be scored; the message says what to do."""


def _check_paths(source: Path, target: Path) -> None:
    if not source.is_file():
        raise BatchError(f"--input {source}: no such file: give the CSV or Parquet file to score")
    if source.suffix.lower() not in FORMATS:
        raise BatchError(f"--input {source}: unknown format: give a .csv or .parquet file")
    if FORMATS.get(target.suffix.lower()) != FORMATS[source.suffix.lower()]:
        wanted = FORMATS[source.suffix.lower()]
        raise BatchError(f"--output {target}: the output is {wanted}, like the input: name it so")
    if target.resolve() == source.resolve():
        raise BatchError(f"--output {target} is the input: give another path")
    if not target.parent.is_dir():
        raise BatchError(f"--output {target}: no directory {target.parent}: create it first")


def _reader(source: Path, contract: Contract) -> Iterator[pd.DataFrame]:
    if FORMATS[source.suffix.lower()] == "CSV":
        # Category columns as text in every chunk: a chunk of digits would read as numbers.
        text = {f.name: str for f in contract.features if f.kind == CATEGORY}
        return iter(pd.read_csv(source, chunksize=CHUNK_ROWS, dtype=text))
    import fastparquet

    return iter(fastparquet.ParquetFile(source).iter_row_groups())


def _unreadable(source: Path, error: Exception) -> BatchError:
    reason = str(error).splitlines()[0] if str(error) else type(error).__name__
    return BatchError(f"--input {source}: cannot be read ({reason}): check the file")


def _chunks(source: Path, contract: Contract) -> Iterator[pd.DataFrame]:
    """The file's chunks; BatchError when the parser fails, at the start or halfway."""
    try:
        chunks = _reader(source, contract)
    except Exception as error:  # the parsers' many kinds of error on a malformed file
        raise _unreadable(source, error) from None
    while True:
        try:
            chunk = next(chunks)
        except StopIteration:
            return
        except Exception as error:
            raise _unreadable(source, error) from None
        yield chunk


def _total_rows(source: Path) -> int | None:
    if FORMATS[source.suffix.lower()] == "CSV":
        return None  # counting would read the file twice
    import fastparquet

    return int(fastparquet.ParquetFile(source).count())


def output_columns(contract: Contract) -> list[str]:
    return ["prediction", *(f"probability_{label}" for label in contract.classes)]


def _scored(predictor: Predictor, chunk: pd.DataFrame) -> pd.DataFrame:
    predictions = predictor.predict(chunk)
    names = output_columns(predictor.contract)
    added = pd.DataFrame({"prediction": predictions.values}, index=chunk.index)
    if predictions.probabilities is not None:
        probabilities = pd.DataFrame(
            predictions.probabilities, columns=names[1:], index=chunk.index
        )
        added = pd.concat([added, probabilities], axis=1)
    return pd.concat([chunk, added], axis=1)


def _write(scored: pd.DataFrame, path: Path, csv: bool, first: bool) -> None:
    if csv:
        scored.to_csv(path, mode="w" if first else "a", header=first, index=False)
    else:
        import fastparquet

        fastparquet.write(str(path), scored, append=not first, write_index=False)


def predict_file(settings: Settings, source: Path, target: Path) -> str:
    """Scores `source` into `target`; BatchError (or the contract's and the registry's errors)
    for anything that stops it. Returns the closing line."""
    _check_paths(source, target)
    from .registry import ServingSource

    registry = ServingSource(settings)
    version = registry.current()
    if version is None:
        raise BatchError("no model has been promoted yet: run `python main.py train` first")
    predictor, described = registry.load(version)
    clashes = set(output_columns(predictor.contract))
    log.info("Scoring %s with %s", source, described)
    partial = target.with_name(f".{target.name}.partial")
    csv = FORMATS[source.suffix.lower()] == "CSV"
    rows = 0
    try:
        with tqdm(total=_total_rows(source), unit="row", disable=not sys.stderr.isatty()) as bar:
            for chunk in _chunks(source, predictor.contract):
                if chunk.empty:
                    continue
                taken = clashes & set(map(str, chunk.columns))
                if taken:
                    raise BatchError(
                        f"--input {source} has a column {sorted(taken)[0]!r}, which the output"
                        " adds: rename it"
                    )
                _write(_scored(predictor, chunk), partial, csv=csv, first=rows == 0)
                rows += len(chunk)
                bar.update(len(chunk))
                if bar.disable:
                    log.info("Scored %d rows", rows)
        if rows == 0:
            raise BatchError(f"--input {source} has no rows")
        os.replace(partial, target)
    finally:
        partial.unlink(missing_ok=True)
    return f"Wrote {rows} rows to {target} ({described})"
