"""A trained model with its contract: what every consumer of a model holds (serving's protocols,
batch scoring, the promotion gate, the MLflow wrapper). Tables in; out, a label and the class
probabilities per row (classification) or a number per row (regression); the model itself only
ever sees the contract's matrix. A run directory holds the two files, MODEL_FILE and
contract.json."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from . import model
from .artifacts import MODEL_FILE
from .contract import CONTRACT_FILE, REGRESSION, Contract, ContractError, Label

FILES = (MODEL_FILE, CONTRACT_FILE)

Table = Mapping[str, Sequence | pd.Series] | pd.DataFrame


@dataclass(frozen=True)
class Predictions:
    values: list[Label]  # one per input row: a class of the contract, or a regression's number
    # Classification: one row per input row, one column per class of the contract.
    probabilities: np.ndarray | None = None


@dataclass(frozen=True)
class Predictor:
    contract: Contract
    model: model.Model

    def predict(self, table: Table) -> Predictions:
        answers = self._answers(table)
        if self.contract.task == REGRESSION:
            return Predictions(self.contract.values(answers))
        return Predictions(self.contract.labels(answers.argmax(axis=1)), answers)

    def score(self, table: Table, labels: pd.Series, rows: np.ndarray | None = None) -> float:
        """The contract's metric on these rows (`rows`: only those row numbers of a DataFrame
        `table`): accuracy, or a regression's R² (1 is perfect, 0 no better than always
        answering the mean, below 0 worse)."""
        answers = self._answers(table, rows)
        labels = labels if rows is None else labels.iloc[rows]
        if self.contract.task != REGRESSION:
            # Class indices, compared at once; a label the model never saw (-1) counts wrong.
            return float(np.mean(answers.argmax(axis=1) == self.contract.targets(labels)))
        truth = pd.to_numeric(labels).to_numpy(dtype=np.float64)
        residual = float(np.sum((truth - np.asarray(self.contract.values(answers))) ** 2))
        total = float(np.sum((truth - truth.mean()) ** 2))
        return 1.0 - residual / total if total > 0 else float(residual == 0)

    def _answers(self, table: Table, rows: np.ndarray | None = None) -> np.ndarray:
        return np.asarray(model.predict(self.model, self.contract.encode(table, rows)))


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
