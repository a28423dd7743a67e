"""The Open Inference Protocol v2 over REST (KServe, Triton, Seldon Core 2 and their clients):
server and model health and metadata, and POST /v2/models/{name}[/versions/{version}]/infer
with one input per feature column, answering per row a `label` output (and `probabilities`, one
per class) for a classification, a `prediction` output for a regression. JSON tensors only: the
binary tensor extension is refused with a 400 that says so."""

import math
from typing import Any

from fastapi import APIRouter, FastAPI, Request
from pydantic import BaseModel, Field, ValidationError

from .contract import REGRESSION, Contract, Feature
from .following import Served
from .inference import Inference, ProtocolError, documented
from .predictor import Predictions

NUMBER_TYPES = {"BOOL", "UINT8", "UINT16", "UINT32", "UINT64", "INT8", "INT16", "INT32", "INT64"}
NUMBER_TYPES |= {"FP16", "FP32", "FP64"}
ERRORS = documented(400, 404, 408, 413, 422, 503)


class RequestInput(BaseModel):
    name: str
    shape: list[int]
    datatype: str
    parameters: dict[str, Any] | None = None
    data: list[Any]


class RequestOutput(BaseModel):
    name: str
    parameters: dict[str, Any] | None = None


class InferenceRequest(BaseModel):
    id: str | None = None
    parameters: dict[str, Any] | None = None
    inputs: list[RequestInput] = Field(min_length=1)
    outputs: list[RequestOutput] | None = None

    model_config = {
        "json_schema_extra": {
            "examples": [
                {
                    "inputs": [
                        {"name": f"f{i}", "shape": [1], "datatype": "FP64", "data": [0.0]}
                        for i in range(4)
                    ]
                }
            ]
        }
    }


class Tensor(BaseModel):
    name: str
    datatype: str
    shape: list[int]
    data: list[Any]


class InferenceResponse(BaseModel):
    model_name: str
    model_version: str | None = None
    id: str | None = None
    outputs: list[Tensor]


def _flat(data: list) -> list:
    """Row-major data sent nested ([[1], [2]]) or flat ([1, 2]), flat."""
    while data and isinstance(data[0], list):
        data = [value for row in data for value in (row if isinstance(row, list) else [row])]
    return data


def _column(given: RequestInput, feature: Feature) -> list:
    data = _flat(given.data)
    if len(given.shape) not in (1, 2) or (len(given.shape) == 2 and given.shape[1] != 1):
        raise ProtocolError(
            400, f"input {given.name!r} has shape {given.shape}: send [rows] or [rows, 1]"
        )
    if math.prod(given.shape) != len(data):
        raise ProtocolError(
            400,
            f"input {given.name!r}: shape {given.shape} but {len(data)} values: send one per row",
        )
    wanted = feature.datatype
    fits = given.datatype in NUMBER_TYPES if wanted in NUMBER_TYPES else given.datatype == wanted
    if not fits:
        raise ProtocolError(
            400, f"input {given.name!r} is {given.datatype}: the model takes {wanted} there"
        )
    return data


REQUEST_BODY = {
    "required": True,
    "content": {"application/json": {"schema": {"$ref": "#/components/schemas/InferenceRequest"}}},
}


def _request(body: bytes, json_size: str | None) -> InferenceRequest:
    """The request, parsed here rather than by FastAPI: clients such as tritonclient send it
    without a JSON Content-Type. With the binary extension, its JSON is the first
    Inference-Header-Content-Length bytes; binary tensors after it are refused."""
    if json_size is not None and json_size.isdigit() and int(json_size) < len(body):
        raise ProtocolError(
            400, "binary tensors are not supported: send JSON (tritonclient: binary_data=False)"
        )
    try:
        return InferenceRequest.model_validate_json(body)
    except ValidationError as error:
        first = error.errors()[0]
        where = ".".join(str(part) for part in first["loc"]) or "body"
        raise ProtocolError(422, f"{where}: {first['msg']}: send an inference request") from None


def document(app: FastAPI) -> None:
    """Adds the request's schema to the app's OpenAPI schema (the route parses it itself)."""
    schemas = InferenceRequest.model_json_schema(ref_template="#/components/schemas/{model}")
    definitions = {"InferenceRequest": schemas, **schemas.pop("$defs", {})}
    plain = app.openapi

    def openapi() -> dict[str, Any]:
        schema = plain()
        schema.setdefault("components", {}).setdefault("schemas", {}).update(definitions)
        return schema

    app.openapi = openapi  # type: ignore[method-assign]


def _label_datatype(contract: Contract) -> str:
    kinds = {type(label) for label in contract.classes}
    named = {bool: "BOOL", int: "INT64", float: "FP64"}
    return named[kinds.pop()] if len(kinds) == 1 and next(iter(kinds)) in named else "BYTES"


def outputs(contract: Contract) -> list[dict[str, object]]:
    """The model's outputs, by name, datatype and shape (rows are -1)."""
    if contract.task == REGRESSION:
        return [{"name": "prediction", "datatype": "FP64", "shape": [-1]}]
    return [
        {"name": "label", "datatype": _label_datatype(contract), "shape": [-1]},
        {"name": "probabilities", "datatype": "FP64", "shape": [-1, len(contract.classes)]},
    ]


def _tensors(contract: Contract, predictions: Predictions) -> dict[str, Tensor]:
    """The outputs that `outputs` describes, filled with these predictions."""
    rows = len(predictions.values)
    data = {"label": predictions.values, "prediction": predictions.values}
    if predictions.probabilities is not None:
        data["probabilities"] = predictions.probabilities.astype(float).ravel().tolist()
    return {
        str(spec["name"]): Tensor(
            name=str(spec["name"]),
            datatype=str(spec["datatype"]),
            shape=[rows, *spec["shape"][1:]],  # type: ignore[index]
            data=data[str(spec["name"])],
        )
        for spec in outputs(contract)
    }


def router(inference: Inference, model_name: str, server_version: str) -> APIRouter:
    routes = APIRouter(prefix="/v2", tags=["Open Inference Protocol v2"])

    def model_of(name: str, version: str | None = None) -> Served:
        if name != model_name:
            raise ProtocolError(404, f"no model {name!r}: this server serves {model_name!r}")
        served = inference.served()
        if version is not None and version != served.key:
            raise ProtocolError(
                404, f"no version {version!r} of {name!r} here: this server serves {served.key!r}"
            )
        return served

    @routes.get("")
    def server_metadata() -> dict[str, object]:
        return {"name": model_name, "version": server_version, "extensions": []}

    @routes.get("/health/live")
    def live() -> dict[str, bool]:
        return {"live": True}

    @routes.get("/health/ready", responses=documented(503))
    def ready() -> dict[str, bool]:
        inference.served()
        return {"ready": True}

    @routes.get("/models/{name}/ready", responses=documented(404, 503))
    def model_ready(name: str) -> dict[str, object]:
        model_of(name)
        return {"name": name, "ready": True}

    @routes.get("/models/{name}/versions/{version}/ready", responses=documented(404, 503))
    def version_ready(name: str, version: str) -> dict[str, object]:
        model_of(name, version)
        return {"name": name, "ready": True}

    @routes.get("/models/{name}", responses=documented(404, 503))
    def model_metadata(name: str) -> dict[str, object]:
        """The inputs by name, datatype and shape: one per feature column."""
        return _metadata(model_name, model_of(name))

    @routes.get("/models/{name}/versions/{version}", responses=documented(404, 503))
    def version_metadata(name: str, version: str) -> dict[str, object]:
        """The same, for the version in service only (`versions` in the model's metadata)."""
        return _metadata(model_name, model_of(name, version))

    infer_options = {
        "responses": ERRORS,
        "response_model_exclude_none": True,
        "openapi_extra": {"requestBody": REQUEST_BODY},
    }

    @routes.post("/models/{name}/infer", **infer_options)
    async def infer(name: str, request: Request) -> InferenceResponse:
        """One input per feature column (its name, datatype and shape [rows] or [rows, 1]).
        Classification: the `label` output, and `probabilities` (rows by classes, in the order
        of the model's `classes` parameter); regression: the `prediction` output."""
        return await _infer(inference, model_name, model_of(name), request)

    @routes.post("/models/{name}/versions/{version}/infer", **infer_options)
    async def version_infer(name: str, version: str, request: Request) -> InferenceResponse:
        """The same, for the version in service only (`versions` in the model's metadata)."""
        return await _infer(inference, model_name, model_of(name, version), request)

    return routes


def _metadata(model_name: str, served: Served) -> dict[str, object]:
    contract = served.predictor.contract
    inputs = [{"name": f.name, "datatype": f.datatype, "shape": [-1]} for f in contract.features]
    parameters: dict[str, object] = {"task": contract.task}
    if contract.task != REGRESSION:
        parameters["classes"] = list(contract.classes)
    return {
        "name": model_name,
        "versions": [served.key],
        "platform": "python",
        "inputs": inputs,
        "outputs": outputs(contract),
        "parameters": parameters,
    }


async def _infer(
    inference: Inference, model_name: str, served: Served, request: Request
) -> InferenceResponse:
    json_size = request.headers.get("inference-header-content-length")
    body = _request(await request.body(), json_size)
    contract = served.predictor.contract
    features = {f.name: f for f in contract.features}
    unknown = [given.name for given in body.inputs if given.name not in features]
    if unknown:
        raise ProtocolError(
            400, f"unknown input {unknown[0]!r}: the inputs are {', '.join(contract.names)}"
        )
    offered = [str(output["name"]) for output in outputs(contract)]
    asked = [output.name for output in body.outputs] if body.outputs else offered
    unasked = sorted(set(asked) - set(offered))
    if unasked:
        names = ", ".join(offered)
        raise ProtocolError(400, f"unknown output {unasked[0]!r}: the outputs are {names}")
    table = {given.name: _column(given, features[given.name]) for given in body.inputs}
    lengths = {len(values) for values in table.values()}
    if len(lengths) > 1:
        message = "the inputs have different numbers of rows: send one value per row"
        raise ProtocolError(400, message)
    # The model in service now: one model for the whole request, whatever swaps meanwhile.
    predictions, served = inference.predict(table, lengths.pop())
    tensors = _tensors(served.predictor.contract, predictions)
    return InferenceResponse(
        model_name=model_name,
        model_version=served.key,
        id=body.id,
        outputs=[tensors[output] for output in asked],
    )
