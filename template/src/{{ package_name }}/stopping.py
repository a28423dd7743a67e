"""Stopping a training run cleanly. A signal asks; the run stops at once (under torchrun, every
rank at the same epoch's end), or, while a finished run is being saved (written, registered,
promoted), once saving is done, so no model is ever half-saved. No heavy imports: the CLI's
signal handlers use it."""

import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager


class TrainingInterrupted(BaseException):
    """A stop asked for during training. A BaseException, so no `except Exception` eats it."""


_requested = threading.Event()
_saving = threading.Lock()
_idle = threading.Event()
_idle.set()
_trainer: threading.Thread | None = None
# Set under torchrun (distributed.py): tells every rank whether any rank was asked to stop, so
# that all stop at the same epoch's end instead of the asked one stopping at once.
_agree: Callable[[bool], bool] | None = None


def request() -> None:
    """From a signal handler. When the handler runs in the training thread: stop now, unless a
    finished run is being saved (then once it is saved), or ranks under torchrun must agree
    (then at the next epoch's end)."""
    _requested.set()
    training_here = _trainer is threading.current_thread() and not _idle.is_set()
    if training_here and not _saving.locked() and _agree is None:
        raise TrainingInterrupted


def requested() -> bool:
    return _requested.is_set()


def check() -> None:
    """Called between epochs (by every rank under torchrun, at the same epochs)."""
    asked = _requested.is_set()
    if _agree is not None:
        asked = _agree(asked)
    if asked:
        raise TrainingInterrupted


def agree_with(agree: Callable[[bool], bool] | None) -> None:
    """How ranks agree to stop (distributed.any_rank), or None for a process alone."""
    global _agree
    _agree = agree


def _unraisable(unraisable: object) -> None:  # sys.UnraisableHookArgs
    # A signal that lands while Python runs a callback it cannot raise from (a weakref or
    # garbage-collection callback, such as importlib's module-lock cleanup) has its stop dropped
    # there, with "Exception ignored" and a traceback. The stop is not lost: the next epoch's
    # check() raises it. Anything else is reported as usual.
    if not isinstance(getattr(unraisable, "exc_value", None), TrainingInterrupted):
        sys.__unraisablehook__(unraisable)  # type: ignore[arg-type]


@contextmanager
def training() -> Iterator[None]:
    global _trainer
    _trainer = threading.current_thread()
    _idle.clear()
    previous, sys.unraisablehook = sys.unraisablehook, _unraisable
    try:
        check()
        yield
    finally:
        _idle.set()
        sys.unraisablehook = previous


@contextmanager
def saving() -> Iterator[None]:
    """A stop asked for meanwhile waits until the block ends."""
    with _saving:
        yield


def busy() -> bool:
    """Whether a run is training or saving (else a stop has nothing to wait for)."""
    return not _idle.is_set()
