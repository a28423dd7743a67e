"""What every serving protocol shares: the model in service, a table predicted through its
contract, and the errors a client can cause (ProtocolError: a 4xx or 503 with a sentence that
says what to send). server.py mounts the protocols and turns ProtocolError into a response."""

from collections.abc import Callable

from .contract import ContractError
from .following import Follower, Served
from .predictor import Predictions, Table

MAX_ROWS = 1_000
# What each error status a protocol sends means, for the OpenAPI schema (http_limits.py sends
# 408 and 413 before any route runs).
ERROR_STATUSES = {
    400: "A request that breaks the model's contract: the error names the column or value",
    404: "No model of that name here",
    408: "The body took over 10 s to arrive",
    413: "A body over 1 MB",
    415: "A Content-Type other than JSON or CSV",
    422: "A body that is not the protocol's request",
    503: "No model in service yet, or the server is shutting down",
}


def documented(*statuses: int) -> dict[int | str, dict[str, object]]:
    """The `responses` of a route that may send these error statuses."""
    return {status: {"description": ERROR_STATUSES[status]} for status in statuses}


class ProtocolError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


class Inference:
    def __init__(self, follower: Follower, on_predicted: Callable[[int], None]) -> None:
        self.follower = follower
        self.on_predicted = on_predicted

    def served(self) -> Served:
        served = self.follower.served
        if served is None:
            problem = f"no model in service yet ({self.follower.problem})"
            raise ProtocolError(503, f"{problem}: retry when GET /ready answers 200")
        return served

    def predict(self, table: Table, n_rows: int) -> tuple[Predictions, Served]:
        """One model for the whole request, whatever swaps meanwhile."""
        if not 1 <= n_rows <= MAX_ROWS:
            raise ProtocolError(400, f"{n_rows} rows: send 1 to {MAX_ROWS} rows per request")
        served = self.served()
        try:
            predictions = served.predictor.predict(table)
        except ContractError as error:
            raise ProtocolError(400, str(error)) from None
        self.on_predicted(len(predictions.values))
        return predictions, served
