"""Command line: train, serve, info (and healthcheck, for Docker's HEALTHCHECK)."""

import argparse
import logging
import os
import signal
import sys
from types import FrameType

from .config import SettingsError, load_settings

log = logging.getLogger(__name__)

LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
# What a shell reports for a process ended by SIGTERM (128 + 15): platforms read it as preempted.
EXIT_INTERRUPTED = 143


class TrainingInterrupted(BaseException):
    """SIGTERM during training (preemption). A BaseException, so no `except Exception` eats it."""


def _stop(signum: int, frame: FrameType | None) -> None:
    # Python as PID 1 ignores SIGTERM unless it handles it: without this, `docker stop` waits
    # 10 s and then kills. (`serve` hands SIGTERM to uvicorn, which drains requests and then
    # signals again, landing here.) Nothing is left to clean up by then, and the interpreter's
    # teardown of the ML stack alone takes about 0.5 s, so the process ends at once.
    log.info("Received %s: shutting down.", signal.Signals(signum).name)
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)


def _interrupt_training(signum: int, frame: FrameType | None) -> None:
    raise TrainingInterrupted


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("train", help="train the model and write it with its metrics")
    commands.add_parser("serve", help="serve predictions over HTTP (trains first if needed)")
    commands.add_parser("info", help="print the settings, Python, packages, GPU, user and paths")
    commands.add_parser("healthcheck", help="exit 0 when the server answers /ready")
    return parser


def _train(settings) -> int:
    signal.signal(signal.SIGTERM, _interrupt_training)
    try:
        from .data import DataError
        from .training import train

        try:
            train(settings)
        except DataError as error:
            print(f"error: {error}", file=sys.stderr)
            return 2
    except TrainingInterrupted:
        log.warning(
            "Training interrupted by SIGTERM: this run wrote no model; the previous one is kept."
        )
        return EXIT_INTERRUPTED
    return 0


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format=LOG_FORMAT)
    signal.signal(signal.SIGTERM, _stop)
    try:
        settings = load_settings()
        # Each command imports only what it needs: `info` and `healthcheck` skip the ML stack.
        if args.command == "train":
            return _train(settings)
        if args.command == "serve":
            from .server import serve

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
