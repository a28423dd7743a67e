"""Bounds on what one client can hold: the time to send headers and body, and the body's size.
uvicorn bounds only the idle time between requests (its keep-alive timeout, which each byte
received resets), so a client that stalls half-way would otherwise hold its connection forever."""

import asyncio
import time
from collections.abc import Callable

from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from uvicorn.protocols.http.h11_impl import H11Protocol

MAX_BODY_BYTES = 1_000_000
HEADERS_TIMEOUT_SECONDS = 10.0
BODY_TIMEOUT_SECONDS = 10.0

# Any other method (X1METHOD /predict) is counted as "other": each new label is a new series.
STANDARD_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS"})
# Tells uvicorn to close the connection after the response, instead of reading what is left.
CLOSE = {"Connection": "close"}

RequestRecorder = Callable[[str, str, int, float], None]


class HeaderDeadlineProtocol(H11Protocol):
    """uvicorn's HTTP/1.1 protocol, plus a deadline for each request's headers: a connection
    whose headers are not complete HEADERS_TIMEOUT_SECONDS after it opened (or after the last
    response) is closed."""

    _header_deadline: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm_header_deadline()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        self._arm_header_deadline()

    def handle_events(self) -> None:
        super().handle_events()
        if self._headers_received() and self._header_deadline is not None:
            self._header_deadline.cancel()
            self._header_deadline = None

    def connection_lost(self, exc: Exception | None) -> None:
        if self._header_deadline is not None:
            self._header_deadline.cancel()
        super().connection_lost(exc)

    def _headers_received(self) -> bool:
        return self.cycle is not None and not self.cycle.response_complete

    def _arm_header_deadline(self) -> None:
        if self._header_deadline is not None:
            self._header_deadline.cancel()
        if not self._headers_received():
            self._header_deadline = self.loop.call_later(
                HEADERS_TIMEOUT_SECONDS, self._close_if_headers_missing
            )

    def _close_if_headers_missing(self) -> None:
        self._header_deadline = None
        if not self._headers_received() and not self.transport.is_closing():
            self.transport.close()


class GuardMiddleware:
    """Reads each request body within a size and time limit before the app sees it, so a huge or
    stalled upload never holds the server, and counts every request in the metrics."""

    def __init__(self, app: ASGIApp, on_request: RequestRecorder, hint: str) -> None:
        self.app = app
        self.on_request = on_request
        self.hint = hint  # what a client should send, for the error messages

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status: int | None = None

        async def recording_send(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            body = await self._read_body(scope, receive)
            if isinstance(body, JSONResponse):
                await body(scope, receive, recording_send)
            else:
                await self.app(scope, _replay(body, receive), recording_send)
        except asyncio.CancelledError:
            # uvicorn cancels what is still running when the graceful shutdown's time is up (a
            # client stalled mid-body, say). Without this the client gets a bare 500 and the log
            # a traceback. The task is not re-raised: uvicorn would log any exception from the
            # app as a traceback, and it awaits nothing after cancelling.
            if status is None:
                shutting_down = error_response(
                    503, "the server is shutting down: retry", headers=CLOSE
                )
                await shutting_down(scope, receive, recording_send)
        finally:
            # The route's template (/predict), never the raw path: unknown paths share one label.
            route = getattr(scope.get("route"), "path", "unmatched")
            method = scope["method"] if scope["method"] in STANDARD_METHODS else "other"
            self.on_request(method, route, status or 500, time.perf_counter() - started)

    async def _read_body(self, scope: Scope, receive: Receive) -> bytes | JSONResponse:
        # Both refusals close the connection rather than read (and discard) the rest of the body.
        too_large = error_response(
            413, f"body over {MAX_BODY_BYTES} bytes: {self.hint}", headers=CLOSE
        )
        declared = dict(scope["headers"]).get(b"content-length", b"0")
        if declared.isdigit() and int(declared) > MAX_BODY_BYTES:
            return too_large
        chunks: list[bytes] = []
        size = 0
        try:
            async with asyncio.timeout(BODY_TIMEOUT_SECONDS):
                while True:
                    message = await receive()
                    if message["type"] == "http.disconnect":
                        return b""
                    chunk = message.get("body", b"")
                    size += len(chunk)
                    if size > MAX_BODY_BYTES:
                        return too_large
                    chunks.append(chunk)
                    if not message.get("more_body", False):
                        return b"".join(chunks)
        except TimeoutError:
            return error_response(
                408,
                f"body not received within {BODY_TIMEOUT_SECONDS:g} s: send it all at once",
                headers=CLOSE,
            )


def _replay(body: bytes, receive: Receive) -> Receive:
    """A receive() that hands the app the body read already, then waits for a disconnect."""
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay


def error_response(
    status: int, message: str, headers: dict[str, str] | None = None, **extra: object
) -> JSONResponse:
    """The body of every error the app sends: {"error": what to do instead, ...}."""
    return JSONResponse({"error": message, **extra}, status_code=status, headers=headers)
