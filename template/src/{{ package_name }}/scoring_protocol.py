"""MLflow's scoring protocol, as `mlflow models serve` speaks it: POST /invocations with a table
as JSON (dataframe_split, dataframe_records, instances or inputs) or as CSV, answering
{"predictions": [one label per row]}; GET /ping and GET /version. A client or gateway written
for an MLflow model server calls this service unchanged."""

import io
import json
from collections.abc import Mapping

import pandas as pd
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, PlainTextResponse

from .contract import Contract
from .inference import Inference, ProtocolError, documented

FORMATS = ("dataframe_split", "dataframe_records", "instances", "inputs")
SENDS = (
    "send JSON with one of dataframe_split ({columns, data}), dataframe_records ([{column:"
    " value}]), instances or inputs, as Content-Type: application/json; or a CSV table with a"
    " header row, as Content-Type: text/csv"
)
ERRORS = documented(400, 408, 413, 415, 503)
EXAMPLE = {"dataframe_split": {"columns": ["f0", "f1", "f2", "f3"], "data": [[0, 0, 0, 0]]}}


def _records(rows: list, contract: Contract) -> tuple[dict[str, list], int]:
    """Columns from a list of {column: value} rows, or of rows in the contract's column order."""
    if all(isinstance(row, Mapping) for row in rows):
        names = {name for row in rows for name in row}
        columns = {
            name: [row.get(name) for row in rows] for name in contract.names if name in names
        }
        return columns, len(rows)
    if all(isinstance(row, list) for row in rows):
        width = len(contract.names)
        for index, row in enumerate(rows):
            if len(row) != width:
                raise ProtocolError(
                    400,
                    f"row {index} has {len(row)} values: send {width}, in the order"
                    f" {', '.join(contract.names)} (or rows of {{column: value}})",
                )
        return {name: [row[i] for row in rows] for i, name in enumerate(contract.names)}, len(rows)
    raise ProtocolError(
        400, f"send a list of rows, each a list or a {{column: value}} object: {SENDS}"
    )


def _table(body: object, contract: Contract) -> tuple[dict[str, list], int]:
    """The request's table as columns by name, and its number of rows."""
    if not isinstance(body, dict) or len(set(FORMATS) & set(body)) != 1:
        raise ProtocolError(400, f"the body holds none or several of {', '.join(FORMATS)}: {SENDS}")
    kind = next(name for name in FORMATS if name in body)
    table = body[kind]
    if kind == "dataframe_split":
        if not isinstance(table, dict) or not isinstance(table.get("data"), list):
            raise ProtocolError(400, f"dataframe_split needs columns and data: {SENDS}")
        columns, data = table.get("columns"), table["data"]
        if not isinstance(columns, list) or not all(isinstance(row, list) for row in data):
            raise ProtocolError(
                400, "dataframe_split: send columns (names) and data (rows of values)"
            )
        return _records([dict(zip(columns, row, strict=False)) for row in data], contract)
    if isinstance(table, dict):  # {column: [values]}, the columnar form of instances and inputs
        if not all(isinstance(values, list) for values in table.values()):
            raise ProtocolError(400, f"{kind}: send each column as a list of values")
        lengths = {len(values) for values in table.values()}
        if len(lengths) > 1:
            raise ProtocolError(400, f"{kind}: the columns have different numbers of values")
        return table, lengths.pop() if lengths else 0
    if not isinstance(table, list):
        raise ProtocolError(400, f"{kind} must be a list of rows or an object of columns: {SENDS}")
    return _records(table, contract)


def router(inference: Inference, version: str) -> APIRouter:
    routes = APIRouter(tags=["MLflow scoring protocol"])

    @routes.post(
        "/invocations",
        responses=ERRORS,
        openapi_extra={
            "requestBody": {
                "required": True,
                "content": {
                    "application/json": {"schema": {"type": "object"}, "example": EXAMPLE},
                    "text/csv": {"schema": {"type": "string"}, "example": "f0,f1,f2,f3\n0,0,0,0\n"},
                },
            }
        },
    )
    async def invocations(request: Request) -> JSONResponse:
        """One label per row of the table sent, as MLflow's scoring server answers."""
        served = inference.served()
        body = await request.body()
        media = request.headers.get("content-type", "").split(";")[0].strip().lower()
        if media == "text/csv":
            try:
                frame = pd.read_csv(io.BytesIO(body))
            except Exception as error:  # the parser's many kinds of error on a malformed table
                raise ProtocolError(400, f"the CSV cannot be read ({error}): {SENDS}") from None
            table, n_rows = frame, len(frame)
        elif media == "application/json":
            try:
                parsed = json.loads(body)
            except (ValueError, RecursionError) as error:
                reason = "nested too deeply" if isinstance(error, RecursionError) else error
                message = f"the body is not valid JSON ({reason}): {SENDS}"
                raise ProtocolError(400, message) from None
            table, n_rows = _table(parsed, served.predictor.contract)
        else:
            raise ProtocolError(415, f"Content-Type {media or 'missing'}: {SENDS}")
        predictions, _ = inference.predict(table, n_rows)
        return JSONResponse({"predictions": predictions.values})

    @routes.get("/ping", responses=documented(503))
    def ping() -> PlainTextResponse:
        """200 while a model is in service (MLflow's and SageMaker's health check)."""
        inference.served()
        return PlainTextResponse("\n")

    @routes.get("/version")
    def server_version() -> PlainTextResponse:
        """The service's version."""
        return PlainTextResponse(version)

    return routes
