"""Stopping a training run cleanly. A signal asks; the run stops at the next epoch (PyTorch alone:
the next batch), or, while a finished run is being saved (registered, then written), once
saving is done, so no model is ever half-saved. No heavy imports: the CLI's signal handlers use
it."""

import logging
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager

log = logging.getLogger(__name__)


class TrainingInterrupted(BaseException):
    """A stop asked for during training. A BaseException, so no `except Exception` eats it."""


_requested = threading.Event()
_saving = threading.Lock()
_idle = threading.Event()
_idle.set()
_trainer: threading.Thread | None = None
# What closes a run's records when the process must end before the run stopped (tracking.py:
# the MLflow run marked KILLED, not left RUNNING).
_abandon_hooks: list[Callable[[], None]] = []
# Set under torchrun (distributed.py): tells every rank whether any rank was asked to stop, so
# that all stop at the same epoch's end instead of the asked one stopping at once.
_agree: Callable[[bool], bool] | None = None


def request() -> None:
    """From a signal handler. When the handler runs in the training thread (`train`): stop
    now, unless a finished run is being saved. Otherwise (`serve` trains in the background):
    the run stops at its next epoch (or batch: check_between_batches), or after saving; see
    wait_until_idle."""
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


def check_between_batches() -> None:
    """Called between batches, so that a stop asked for while `serve` trains in the background
    ends the run within a batch, not an epoch (an epoch can outlast the stop's few seconds on a
    busy machine). Ranks under torchrun still stop together at an epoch's end: agreeing on every
    batch would cost a collective call per step."""
    if _agree is None and _requested.is_set():
        raise TrainingInterrupted


def agree_with(agree: Callable[[bool], bool] | None) -> None:
    """How ranks agree to stop (distributed.any_rank), or None for a process alone."""
    global _agree
    _agree = agree


@contextmanager
def training() -> Iterator[None]:
    global _trainer
    _trainer = threading.current_thread()
    _idle.clear()
    try:
        check()
        yield
    finally:
        _idle.set()


@contextmanager
def saving() -> Iterator[None]:
    """A stop asked for meanwhile waits until the block ends."""
    with _saving:
        yield


@contextmanager
def closed_if_abandoned(hook: Callable[[], None]) -> Iterator[None]:
    """Within the block, `abandon` runs `hook`."""
    _abandon_hooks.append(hook)
    try:
        yield
    finally:
        _abandon_hooks.remove(hook)


def abandon() -> None:
    """For a process about to end while a run has not stopped (it was busy past the stop's few
    seconds, in an import or a slow write): closes what the run recorded so far."""
    for hook in list(_abandon_hooks):
        try:
            hook()
        except Exception as error:  # the process ends anyway: say so, never raise
            log.warning("Could not close the run's records: %s", error)


def wait_until_idle(seconds: float) -> bool:
    """Waits for a training run in progress to stop or finish saving; False if it did not."""
    return _idle.wait(seconds)
