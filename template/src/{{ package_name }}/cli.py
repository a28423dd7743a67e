"""Command line: train, serve, info (and healthcheck, for Docker's HEALTHCHECK)."""

import argparse
import logging
import os
import signal
import sys
from types import FrameType

from . import stopping
from .config import SettingsError, load_settings, writable_output_dir

log = logging.getLogger(__name__)

LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
# How long `serve` waits, on SIGTERM, for a model it is training to stop at an epoch's end or to
# finish saving: with uvicorn's drain (5 s) it stays under `docker stop`'s 10 s.
TRAINING_STOP_SECONDS = 4
# docker stop and Kubernetes send SIGTERM; Ctrl-C sends SIGINT.
STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)


def _stop(signum: int, frame: FrameType | None) -> None:
    # Python as PID 1 ignores SIGTERM unless it handles it: without this, `docker stop` waits
    # 10 s and then kills. (`serve` hands SIGTERM and SIGINT to uvicorn, which drains requests
    # and then signals again, landing here.) The interpreter's teardown of the ML stack alone
    # takes about 0.5 s, so the process ends at once, once no model is half saved.
    log.info("Received %s: shutting down.", signal.Signals(signum).name)
    stopping.request()
    if not stopping.wait_until_idle(TRAINING_STOP_SECONDS):
        log.warning("The model being trained did not stop in time; its run is recorded as stopped.")
        stopping.abandon()
    _exit_at_once(0)


def _exit_at_once(code: int) -> None:
    """Ends the process without the interpreter's teardown of the ML stack (about 0.5 s), once
    everything it wrote is saved or discarded: a stopped container ends promptly."""
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


def _interrupt_training(signum: int, frame: FrameType | None) -> None:
    global _signal_received
    _signal_received = signum
    stopping.request()


_signal_received = signal.SIGTERM


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("train", help="train the model and write it with its metrics")
    commands.add_parser("serve", help="serve predictions over HTTP (trains first if needed)")
    commands.add_parser("info", help="print the settings, Python, packages, GPU, user and paths")
    commands.add_parser("healthcheck", help="exit 0 when the server answers /ready")
    return parser


def _train(settings) -> int:
    handlers = {signum: signal.signal(signum, _interrupt_training) for signum in STOP_SIGNALS}
    try:
        code = _train_until_stopped(settings)
    finally:
        for signum, handler in handlers.items():
            signal.signal(signum, handler)
    if stopping.requested():  # docker stop or Ctrl-C: the run is closed, nothing is half saved
        _exit_at_once(code)
    return code


def _train_until_stopped(settings) -> int:
    from .data import DataError
    from .tracking import TrackingError
    from .training import train

    try:
        train(settings)
    except DataError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    except TrackingError as error:
        reason = (str(error).strip().splitlines() or [type(error).__name__])[0][:300]
        print(
            f"error: MLflow: {reason}: check that the tracking server is up and that"
            " MLFLOW_TRACKING_URI names it",
            file=sys.stderr,
        )
        return 2
    except stopping.TrainingInterrupted:
        name = signal.Signals(_signal_received).name
        log.warning(
            "Training interrupted by %s: this run saved nothing; the last model stays.", name
        )
        return 128 + _signal_received
    if stopping.requested():
        name = signal.Signals(_signal_received).name
        log.warning("%s arrived while the run was being saved: it was saved completely.", name)
        return 128 + _signal_received
    return 0


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format=LOG_FORMAT)
    if args.command == "serve":  # first: as PID 1, Python ignores SIGTERM it does not handle
        for signum in STOP_SIGNALS:
            signal.signal(signum, _stop)
    try:
        settings = load_settings()
        # Each command imports only what it needs: `info` and `healthcheck` skip the ML stack.
        if args.command == "train":
            writable_output_dir(settings)
            return _train(settings)
        if args.command == "serve":
            from .server import serve

            # It trains a model first when there is none; a model it only reads may come from
            # a read-only volume (an OVHcloud app, a Kubernetes pod).
            if not getattr(settings, "model_uri", None) and not settings.model_path.exists():
                writable_output_dir(settings)
            return serve(settings)
        elif args.command == "info":
            from .info import print_info

            print_info(settings)
        else:
            from .healthcheck import check

            return check(settings)
    except SettingsError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    return 0
