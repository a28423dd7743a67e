"""Command line: train, serve, info (and healthcheck, for Docker's HEALTHCHECK)."""

import argparse
import logging
import signal
import sys
from types import FrameType

from .config import SettingsError, load_settings

log = logging.getLogger(__name__)

LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def _stop(signum: int, frame: FrameType | None) -> None:
    # Python as PID 1 ignores SIGTERM unless it handles it: without this, `docker stop` waits
    # 10 s and then kills.
    log.info("Received %s: shutting down.", signal.Signals(signum).name)
    raise SystemExit(0)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("train", help="train the model and write it with its metrics")
    commands.add_parser("serve", help="serve predictions over HTTP (trains first if needed)")
    commands.add_parser("info", help="print Python, packages, GPU, user and paths")
    commands.add_parser("healthcheck", help="exit 0 when the server answers /health")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format=LOG_FORMAT)
    signal.signal(signal.SIGTERM, _stop)
    try:
        settings = load_settings()
    except SettingsError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    # Each command imports only what it needs: `info` and `healthcheck` skip the ML stack.
    if args.command == "train":
        from .training import train

        train(settings)
    elif args.command == "serve":
        from .server import serve

        serve(settings)
    elif args.command == "info":
        from .info import print_info

        print_info(settings)
    else:
        from .healthcheck import check

        return check(settings)
    return 0
