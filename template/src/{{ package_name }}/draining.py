"""Stopping without losing a request. On SIGTERM uvicorn would stop at once: it closes idle
keep-alive connections, and a client whose next request is already on the wire loses it. The
server drains first instead: it stops accepting connections (a client's connect is refused, so
it sends nothing here), and for up to DRAIN_SECONDS keeps answering on the connections it has,
with `Connection: close` on every response (each client sends its next request elsewhere) and
/ready at 503, until none is left open. Then uvicorn's own shutdown finishes what is in
flight."""

import asyncio
import logging
import threading
import time
from types import FrameType

import uvicorn
from starlette.types import ASGIApp, Message, Receive, Scope, Send

log = logging.getLogger(__name__)

# With uvicorn's graceful shutdown after it, below Docker's 10 s between SIGTERM and SIGKILL.
DRAIN_SECONDS = 5


class ClosingWhenDraining:
    """ASGI middleware: while draining, every response asks the client to close."""

    def __init__(self, app: ASGIApp, draining: threading.Event) -> None:
        self.app = app
        self.draining = draining

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def closing_send(message: Message) -> None:
            if message["type"] == "http.response.start" and self.draining.is_set():
                kept = [h for h in message.get("headers", []) if h[0].lower() != b"connection"]
                message = {**message, "headers": [*kept, (b"connection", b"close")]}
            await send(message)

        await self.app(scope, receive, closing_send)


class DrainingServer(uvicorn.Server):
    def __init__(self, config: uvicorn.Config, draining: threading.Event) -> None:
        super().__init__(config)
        self.draining = draining
        self.drain_ends: float | None = None
        self.loop: asyncio.AbstractEventLoop | None = None

    async def startup(self, sockets=None) -> None:
        self.loop = asyncio.get_running_loop()
        await super().startup(sockets)

    def _begin_drain(self) -> None:
        # Listeners first, then `Connection: close`: a client told to close reconnects, and its
        # connect is refused (nothing sent) rather than queued on a listener about to close
        # (reset, its request lost).
        for server in self.servers:
            server.close()
        self.draining.set()
        self.drain_ends = time.monotonic() + DRAIN_SECONDS
        log.info("Draining: answering with Connection: close for up to %d s.", DRAIN_SECONDS)

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        if self.drain_ends is not None or self.loop is None:  # a second signal: uvicorn's way
            super().handle_exit(sig, frame)
            return
        self._captured_signals.append(sig)  # re-raised after the shutdown, as uvicorn does
        self.drain_ends = float("inf")  # until _begin_drain sets the deadline
        # In the loop's own turn: a signal handler may have interrupted the loop anywhere.
        self.loop.call_soon_threadsafe(self._begin_drain)

    async def on_tick(self, counter: int) -> bool:
        if self.draining.is_set() and self.drain_ends is not None and not self.should_exit:
            open_connections = len(self.server_state.connections)
            if open_connections == 0 or time.monotonic() >= self.drain_ends:
                log.info("Drained (%d connections still open): shutting down.", open_connections)
                self.should_exit = True
        return await super().on_tick(counter)
