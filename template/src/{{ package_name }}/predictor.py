"""A trained model with its contract: what every consumer of a model holds (serving's protocols,
batch scoring, the promotion gate, the MLflow wrapper). Tables in, labels and class
probabilities out; the model itself only ever sees the contract's matrix. A run directory holds
the two files, MODEL_FILE and contract.json."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from . import model
from .artifacts import MODEL_FILE
from .contract import CONTRACT_FILE, Contract, ContractError, Label

FILES = (MODEL_FILE, CONTRACT_FILE)

Table = Mapping[str, Sequence | pd.Series] | pd.DataFrame


@dataclass(frozen=True)
class Predictions:
    labels: list[Label]
    probabilities: np.ndarray  # one row per input row, one column per class of the contract


@dataclass(frozen=True)
class Predictor:
    contract: Contract
    model: model.Model

    def predict(self, table: Table) -> Predictions:
        probabilities = np.asarray(model.probabilities(self.model, self.contract.encode(table)))
        return Predictions(self.contract.labels(probabilities.argmax(axis=1)), probabilities)

    def accuracy(self, table: Table, labels: pd.Series) -> float:
        predicted = self.predict(table).labels
        return float(np.mean([p == y for p, y in zip(predicted, labels, strict=True)]))


def save(predictor: Predictor, directory: Path) -> None:
    model.save(predictor.model, directory / MODEL_FILE)
    predictor.contract.save(directory / CONTRACT_FILE)


def load(directory: Path) -> Predictor:
    """The predictor saved in `directory`. ContractError for a model saved without a contract
    (by a release of the template before contracts)."""
    return load_files(directory / MODEL_FILE, directory / CONTRACT_FILE)


def load_files(model_file: Path, contract_file: Path) -> Predictor:
    if not contract_file.is_file():
        raise ContractError(
            f"the model has no {CONTRACT_FILE}: it was trained before models carried their"
            " contract: run `python main.py train` to register a model that has one"
        )
    return Predictor(Contract.load(contract_file), model.load(model_file))
