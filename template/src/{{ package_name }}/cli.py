"""Command line: train, promote, serve, info (and healthcheck, for Docker's HEALTHCHECK).

Only the standard library and stopping.py are imported before the signal handlers are in place:
a stop that arrives while the ML stack imports (seconds) is handled like any other."""

import argparse
import logging
import os
import signal
import sys
import time
from types import FrameType

from . import stopping

log = logging.getLogger(__name__)

LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
# docker stop and Kubernetes send SIGTERM; Ctrl-C sends SIGINT.
STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)
# `train`'s exit code when the tracking server stayed unreachable (sysexits' EX_TEMPFAIL): a
# Job's retry policy retries it, where exit 2 (a bad setting or bad data) fails the Job at once.
EXIT_TRY_AGAIN = 75


def _stop(signum: int, frame: FrameType | None) -> None:
    # Python as PID 1 ignores SIGTERM unless it handles it: without this, `docker stop` waits
    # 10 s and then kills. (`serve` hands SIGTERM and SIGINT to uvicorn once it runs, which
    # drains requests and then signals again, landing here.) The interpreter's teardown of the
    # ML stack alone takes about 0.5 s, and `serve` writes nothing: the process ends at once.
    log.info("Received %s: shutting down.", signal.Signals(signum).name)
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
    if not stopping.busy():  # importing, waiting for the tracking server: nothing to save
        log.warning("Received %s before training started: stopping.", signal.Signals(signum).name)
        _exit_at_once(128 + signum)
    stopping.request()


_signal_received = signal.SIGTERM


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser(
        "train", help="train a model, register it as a new version, promote it if it passes"
    )
    promote = commands.add_parser(
        "promote", help="make a registered version the champion (a rollback: an older one)"
    )
    promote.add_argument("version", help="the version number, as `train` printed it")
    commands.add_parser("serve", help="serve the champion over HTTP, following promotions")
    commands.add_parser("info", help="print the settings, Python, packages, GPU, user and paths")
    commands.add_parser("healthcheck", help="exit 0 when the server answers /ready")
    return parser


def _train(settings) -> int:
    code = _train_until_stopped(settings)
    if stopping.requested():  # docker stop or Ctrl-C: the run is closed, nothing is half saved
        _exit_at_once(code)
    return code


def _first_line(error: BaseException) -> str:
    return (str(error).strip().splitlines() or [type(error).__name__])[0][:300]


def _train_until_stopped(settings) -> int:
    from .data import DataError
    from .tracking import TrackingError, unreachable
    from .training import train

    deadline = time.monotonic() + getattr(settings, "tracking_retry_seconds", 0)
    while True:
        try:
            train(settings)
            break
        except DataError as error:
            print(f"error: {error}", file=sys.stderr)
            return 2
        except TrackingError as error:
            if unreachable(error) and time.monotonic() < deadline:
                wait = min(10.0, max(0.0, deadline - time.monotonic()))
                reason = _first_line(error)
                log.warning("Tracking server unreachable (%s): retrying in %.0f s.", reason, wait)
                time.sleep(wait)
                continue
            print(
                f"error: MLflow: {_first_line(error)}: check that the tracking server is up and"
                " that MLFLOW_TRACKING_URI names it",
                file=sys.stderr,
            )
            return EXIT_TRY_AGAIN if unreachable(error) else 2
        except stopping.TrainingInterrupted:
            name = signal.Signals(_signal_received).name
            log.warning("Training interrupted by %s: this run saved nothing.", name)
            return 128 + _signal_received
    if stopping.requested():
        name = signal.Signals(_signal_received).name
        log.warning("%s arrived while the run was being saved: it was saved completely.", name)
        return 128 + _signal_received
    return 0


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format=LOG_FORMAT)
    # First, before any heavy import: as PID 1, Python ignores a SIGTERM it does not handle.
    if args.command == "serve":
        for signum in STOP_SIGNALS:
            signal.signal(signum, _stop)
    elif args.command in ("train", "promote"):
        for signum in STOP_SIGNALS:
            signal.signal(signum, _interrupt_training)
    from .config import SettingsError, load_settings, writable_output_dir

    try:
        settings = load_settings()
        # Each command imports only what it needs: `info` and `healthcheck` skip the ML stack.
        if args.command == "train":
            writable_output_dir(settings)
            return _train(settings)
        if args.command == "promote":
            return _promote(settings, args.version)
        if args.command == "serve":
            from .server import serve

            # It only reads: the model may come from a read-only volume or the registry.
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


def _promote(settings, version: str) -> int:
    from .promotion import promote_by_hand
    from .registry import RegistryError
    from .tracking import TrackingError

    try:
        print(promote_by_hand(settings, version))
    except (RegistryError, TrackingError) as error:
        print(f"error: {_first_line(error)}", file=sys.stderr)
        return 2
    return 0
