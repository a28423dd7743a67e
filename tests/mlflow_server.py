"""A real MLflow tracking server, for tests and benchmarks: the full `mlflow` package at the
version of a generated project's own client, never one pinned by this repository, since a store
that one MLflow version wrote is refused by an older one."""

import contextlib
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from helpers import locked_version, release_cutoff, uv

# The first start migrates a fresh SQLite database (about 20 s on 2 cores), after uv installs
# the server (about 620 MB) on a cold cache.
START_SECONDS = 300


@dataclass(frozen=True)
class TrackingServer:
    url: str
    root: Path
    log: Path
    version: str


def _healthy(url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/health", timeout=2) as reply:
            return reply.status == 200
    except (urllib.error.URLError, ConnectionError, TimeoutError):
        return False


def server_version(project: Path) -> str:
    """The MLflow server for this project: the version of the client that its uv.lock holds."""
    return locked_version(project, "mlflow-skinny")


def mlflow_command(version: str) -> list[str]:
    """`mlflow` from the full PyPI package at `version`, in a tool environment of uv's that
    resolves, like the generated projects, as of the release's cutoff."""
    cutoff = release_cutoff()
    pin = ["--exclude-newer", cutoff] if cutoff else []
    python = ["--python", sys.executable]
    return [uv(), "tool", "run", *pin, *python, "--from", f"mlflow=={version}", "mlflow"]


@contextlib.contextmanager
def tracking_server(root: Path, port: int, version: str) -> Iterator[TrackingServer]:
    """`mlflow server` on 127.0.0.1:port with SQLite metadata and proxied artifacts under root.

    It runs in its own process group and the whole group is ended on exit: the server spawns
    uvicorn workers and a job runner that would otherwise outlive the test."""
    root.mkdir(parents=True, exist_ok=True)
    log = root / "server.log"
    url = f"http://127.0.0.1:{port}"
    command = [
        *mlflow_command(version),
        "server",
        "--backend-store-uri",
        f"sqlite:///{root / 'mlflow.db'}",
        "--artifacts-destination",
        str(root / "artifacts"),
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--workers",
        "1",
    ]
    environment = {k: v for k, v in os.environ.items() if k != "VIRTUAL_ENV"}
    with log.open("wb") as output:
        process = subprocess.Popen(
            command,
            cwd=root,
            env=environment,
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        deadline = time.monotonic() + START_SECONDS
        while not _healthy(url):
            if process.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(
                    f"mlflow {version} server did not answer {url}/health "
                    f"(exit {process.poll()}):\n{log.read_text()[-3000:]}"
                )
            time.sleep(0.25)
        yield TrackingServer(url=url, root=root, log=log, version=version)
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
        # Workers may still be exiting; wait until the group is empty.
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                os.killpg(process.pid, 0)
            except ProcessLookupError:
                break
            time.sleep(0.1)
        else:
            os.killpg(process.pid, signal.SIGKILL)
