"""The Open Inference Protocol v2 over REST (KServe, Triton, Seldon Core 2 and their clients):
server and model health and metadata, and POST /v2/models/{name}[/versions/{version}]/infer
with one input per feature column, answering per row a `label` output (and `probabilities`, one
per class) for a classification, a `prediction` output for a regression. Tensors come and go as
JSON, or as binary data after the JSON (binary_tensors.py), as tritonclient sends them."""

import math
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from fastapi import APIRouter, FastAPI, Request, Response
from pydantic import BaseModel, Field, ValidationError

from . import binary_tensors
from .contract import REGRESSION, Contract, Feature
from .following import Served
from .inference import Inference, ProtocolError, documented
from .predictor import Predictions

NUMBER_TYPES = set(binary_tensors.NUMPY_TYPES)
ERRORS = documented(400, 404, 408, 413, 422, 503)
BINARY_ANSWER = {
    "description": "Outputs asked for in binary (the `binary_data` parameter of an output, or"
    " `binary_data_output` of the request): the JSON, then their data; the JSON's length is"
    f" the {binary_tensors.HEADER} header",
    "content": {"application/octet-stream": {"schema": {"type": "string", "format": "binary"}}},
}


class RequestInput(BaseModel):
    name: str
    shape: list[int]
    datatype: str
    parameters: dict[str, Any] | None = None
    data: list[Any] | None = None  # None: its bytes follow the JSON (binary_data_size)


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
    parameters: dict[str, Any] | None = None
    data: list[Any] | None = None


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


def _column(given: RequestInput, feature: Feature, binary: bytes | None) -> list:
    """The input's values, flat: from its JSON `data`, or decoded from its `binary` data."""
    if len(given.shape) not in (1, 2) or (len(given.shape) == 2 and given.shape[1] != 1):
        raise ProtocolError(
            400, f"input {given.name!r} has shape {given.shape}: send [rows] or [rows, 1]"
        )
    wanted = feature.datatype
    fits = given.datatype in NUMBER_TYPES if wanted in NUMBER_TYPES else given.datatype == wanted
    if not fits:
        raise ProtocolError(
            400, f"input {given.name!r} is {given.datatype}: the model takes {wanted} there"
        )
    if binary is not None:
        with _broken_binary_is_400(f"input {given.name!r}: "):
            data = binary_tensors.decode(given.datatype, binary)
    elif given.data is not None:
        data = _flat(given.data)
    else:
        raise ProtocolError(
            400,
            f"input {given.name!r} has no data: send `data`, or its bytes after the JSON with"
            " a binary_data_size parameter",
        )
    if math.prod(given.shape) != len(data):
        raise ProtocolError(
            400,
            f"input {given.name!r}: shape {given.shape} but {len(data)} values: send one per row",
        )
    return data


@contextmanager
def _broken_binary_is_400(where: str = "") -> Iterator[None]:
    try:
        yield
    except binary_tensors.BinaryError as error:
        raise ProtocolError(400, f"{where}{error}") from None


def _binary_size(given: RequestInput) -> int | None:
    size = (given.parameters or {}).get("binary_data_size")
    if size is not None and (isinstance(size, bool) or not isinstance(size, int) or size < 0):
        raise ProtocolError(
            400, f"input {given.name!r}: binary_data_size is {size!r}: give its data's length"
        )
    return size


REQUEST_BODY = {
    "required": True,
    "content": {"application/json": {"schema": {"$ref": "#/components/schemas/InferenceRequest"}}},
}


def _request(body: bytes, json_size: str | None) -> tuple[InferenceRequest, bytes]:
    """The request, parsed here rather than by FastAPI: clients such as tritonclient send it
    without a JSON Content-Type, and with binary tensors after the JSON; and those bytes."""
    with _broken_binary_is_400():
        json_part, binary = binary_tensors.split_body(body, json_size)
    try:
        return InferenceRequest.model_validate_json(json_part), binary
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
        return {
            "name": model_name,
            "version": server_version,
            "extensions": ["binary_tensor_data"],
        }

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
        "response_model": InferenceResponse,  # or, for binary outputs, the Response itself
        "responses": {200: BINARY_ANSWER, **ERRORS},
        "response_model_exclude_none": True,
        "openapi_extra": {"requestBody": REQUEST_BODY},
    }

    @routes.post("/models/{name}/infer", **infer_options)
    async def infer(name: str, request: Request) -> InferenceResponse | Response:
        """One input per feature column (its name, datatype and shape [rows] or [rows, 1]).
        Classification: the `label` output, and `probabilities` (rows by classes, in the order
        of the model's `classes` parameter); regression: the `prediction` output."""
        return await _infer(inference, model_name, model_of(name), request)

    @routes.post("/models/{name}/versions/{version}/infer", **infer_options)
    async def version_infer(
        name: str, version: str, request: Request
    ) -> InferenceResponse | Response:
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
) -> InferenceResponse | Response:
    json_size = request.headers.get(binary_tensors.HEADER)
    body, binary = _request(await request.body(), json_size)
    contract = served.predictor.contract
    features = {f.name: f for f in contract.features}
    unknown = [given.name for given in body.inputs if given.name not in features]
    if unknown:
        raise ProtocolError(
            400, f"unknown input {unknown[0]!r}: the inputs are {', '.join(contract.names)}"
        )
    asked = _asked_outputs(body, [str(output["name"]) for output in outputs(contract)])
    with _broken_binary_is_400():
        binaries = binary_tensors.slices([_binary_size(given) for given in body.inputs], binary)
    table = {
        given.name: _column(given, features[given.name], data)
        for given, data in zip(body.inputs, binaries, strict=True)
    }
    lengths = {len(values) for values in table.values()}
    if len(lengths) > 1:
        message = "the inputs have different numbers of rows: send one value per row"
        raise ProtocolError(400, message)
    # The model in service now: one model for the whole request, whatever swaps meanwhile.
    predictions, served = inference.predict(table, lengths.pop())
    tensors = _tensors(served.predictor.contract, predictions)
    if not set(asked) <= set(tensors):  # a version with other outputs was swapped in meanwhile
        raise ProtocolError(503, "the model in service changed its outputs meanwhile: retry")
    response = InferenceResponse(
        model_name=model_name,
        model_version=served.key,
        id=body.id,
        outputs=[tensors[name] for name in asked],
    )
    in_binary = {name for name, binary in asked.items() if binary}
    return _with_binary_outputs(response, in_binary) if in_binary else response


def _asked_outputs(body: InferenceRequest, offered: list[str]) -> dict[str, bool]:
    """The outputs to answer (all when none is named), each with whether it goes in binary:
    an output's `binary_data`, else the request's `binary_data_output`, else not."""
    all_binary = _flag(body.parameters, "binary_data_output", False)
    if not body.outputs:
        return dict.fromkeys(offered, all_binary)
    unasked = sorted({output.name for output in body.outputs} - set(offered))
    if unasked:
        names = ", ".join(offered)
        raise ProtocolError(400, f"unknown output {unasked[0]!r}: the outputs are {names}")
    return {
        output.name: _flag(output.parameters, "binary_data", all_binary) for output in body.outputs
    }


def _flag(parameters: dict[str, Any] | None, name: str, default: bool) -> bool:
    value = (parameters or {}).get(name)
    if value is None:
        return default
    if not isinstance(value, bool):
        raise ProtocolError(400, f"parameter {name} is {value!r}: give true or false")
    return value


def _with_binary_outputs(response: InferenceResponse, in_binary: set[str]) -> Response:
    """The response as the binary extension sends it: these outputs' data after the JSON."""
    data = []
    for tensor in response.outputs:
        if tensor.name in in_binary:
            data.append(binary_tensors.encode(tensor.datatype, tensor.data))
            tensor.parameters = {"binary_data_size": len(data[-1])}
            tensor.data = None
    head = response.model_dump_json(exclude_none=True).encode()
    return Response(
        head + b"".join(data),
        media_type="application/octet-stream",
        headers={binary_tensors.HEADER: str(len(head))},
    )
