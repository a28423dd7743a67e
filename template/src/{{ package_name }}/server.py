"""HTTP inference server on the standard library: GET /health, POST /predict."""

import json
import logging
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from . import model
from .config import Settings
from .data import N_FEATURES
from .training import load_or_train

log = logging.getLogger(__name__)

MAX_BODY_BYTES = 1_000_000
MAX_INSTANCES = 1_000


class BadRequest(ValueError):
    """The request cannot be answered; the message says what to send instead."""


def parse_instances(body: bytes) -> list[list[float]]:
    """The rows of `{"instances": [[f1, f2, f3, f4], ...]}`, or BadRequest."""
    try:
        payload = json.loads(body)
    except ValueError:  # invalid UTF-8 or invalid JSON
        raise BadRequest('body is not JSON: send {"instances": [[...], ...]}') from None
    instances = payload.get("instances") if isinstance(payload, dict) else None
    if not isinstance(instances, list) or not instances:
        raise BadRequest('"instances" must be a non-empty list of rows')
    if len(instances) > MAX_INSTANCES:
        raise BadRequest(f'"instances" has {len(instances)} rows: send at most {MAX_INSTANCES}')
    for index, row in enumerate(instances):
        if (
            not isinstance(row, list)
            or len(row) != N_FEATURES
            or not all(isinstance(v, int | float) and not isinstance(v, bool) for v in row)
        ):
            raise BadRequest(f"row {index} must be a list of {N_FEATURES} numbers")
    return [[float(v) for v in row] for row in instances]


class PredictionServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, address: tuple[str, int], fitted: model.Model) -> None:
        super().__init__(address, PredictionHandler)
        self.model = fitted


class PredictionHandler(BaseHTTPRequestHandler):
    server: PredictionServer

    def do_GET(self) -> None:
        if self.path == "/health":
            self._reply(HTTPStatus.OK, {"status": "ok", "framework": model.FRAMEWORK})
        else:
            self._reply(HTTPStatus.NOT_FOUND, {"error": f"no route {self.path}"})

    def do_POST(self) -> None:
        if self.path != "/predict":
            self._reply(HTTPStatus.NOT_FOUND, {"error": f"no route {self.path}"})
            return
        try:
            length = int(self.headers.get("Content-Length") or 0)
        except ValueError:
            length = -1
        if not 0 < length <= MAX_BODY_BYTES:
            self._reply(
                HTTPStatus.BAD_REQUEST,
                {"error": f"send a JSON body of 1 to {MAX_BODY_BYTES} bytes with Content-Length"},
            )
            return
        try:
            instances = parse_instances(self.rfile.read(length))
        except BadRequest as error:
            self._reply(HTTPStatus.BAD_REQUEST, {"error": str(error)})
            return
        self._reply(HTTPStatus.OK, {"predictions": model.predict(self.server.model, instances)})

    def _reply(self, status: HTTPStatus, payload: dict[str, object]) -> None:
        body = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        log.info("%s %s", self.address_string(), format % args)


def serve(settings: Settings) -> None:
    server = PredictionServer((settings.host, settings.port), load_or_train(settings))
    host, port = server.server_address[:2]
    log.info("Serving on http://%s:%s (GET /health, POST /predict)", host, port)
    with server:
        server.serve_forever()
