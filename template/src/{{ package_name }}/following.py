"""`serve` follows the champion, as TensorFlow Serving follows its model directory: every
MODEL_POLL_SECONDS it asks the registry which version to serve; a new one is loaded beside the
one in service and swapped in with one assignment, so a request sees the old model or the new,
never half of one. A version that fails to load is logged and the old one keeps serving."""

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from .predictor import Predictor

log = logging.getLogger(__name__)

NO_MODEL = (
    "no model has been promoted yet: run `python main.py train` (or `promote VERSION`)"
    "{uri_hint}; this server loads it within MODEL_POLL_SECONDS, without a restart"
)


class Source(Protocol):
    """Where the versions come from (registry.ServingSource, or a test's fake)."""

    def current(self) -> str | None:
        """The version to serve now, or None when there is none yet."""

    def load(self, version: str) -> tuple[Predictor, str]:
        """The model of `version` with its contract, and how to name it in responses and
        logs."""


@dataclass(frozen=True)
class Served:
    predictor: Predictor
    key: str  # what Source.current() answered
    version: str  # for people: "ml-project version 3 (@champion)", "local version 3 (run ...)"


def _one_line(error: BaseException) -> str:
    text = " ".join(str(error).split())[:300] or type(error).__name__
    return text if isinstance(error, OSError | ValueError) else f"{type(error).__name__}: {text}"


class Follower:
    def __init__(
        self,
        source: Source,
        poll_seconds: float,
        on_swap: Callable[[Served], None] = lambda served: None,
        uri_hint: str = "",
    ) -> None:
        self.source = source
        self.poll_seconds = poll_seconds
        self.on_swap = on_swap
        self.served: Served | None = None
        # Why nothing is served yet; None once a model is.
        self.problem: str | None = "checking the registry for a model"
        self._no_model = NO_MODEL.format(uri_hint=uri_hint)
        self._stopped = threading.Event()

    def start(self) -> None:
        # A daemon thread: a shutdown never waits for a load in progress.
        threading.Thread(target=self._run, name="model-follower", daemon=True).start()

    def stop(self) -> None:
        self._stopped.set()

    def _run(self) -> None:
        while not self._stopped.is_set():
            self.check()
            self._stopped.wait(self.poll_seconds)

    def check(self) -> None:
        """Once: asks which version to serve, and swaps it in if it is new."""
        try:
            key = self.source.current()
        except Exception as error:  # an unreachable registry: one line per attempt
            self._unavailable(f"cannot ask the registry which model to serve: {_one_line(error)}")
            return
        if key is None:
            if self.problem != self._no_model and self.served is None:
                log.warning("Not ready: %s.", self._no_model)
            if self.served is None:
                self.problem = self._no_model
            return
        if self.served is not None and self.served.key == key:
            return
        try:
            fitted, version = self.source.load(key)
            served = Served(fitted, key, version)
        except Exception as error:
            self._unavailable(f"version {key} failed to load: {_one_line(error)}")
            return
        previous, self.served, self.problem = self.served, served, None
        log.info(
            "Serving %s%s", version, f" (was {previous.version})" if previous is not None else ""
        )
        self.on_swap(served)

    def _unavailable(self, reason: str) -> None:
        if self.served is not None:
            log.warning("%s: still serving %s.", reason, self.served.version)
            return
        log.warning("Not ready: %s; next try in %g s.", reason, self.poll_seconds)
        self.problem = reason
