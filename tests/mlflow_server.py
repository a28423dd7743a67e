"""A real MLflow tracking server from the PyPI package, for tests and benchmarks."""

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

# The first start migrates a fresh SQLite database: about 20 s on 2 cores.
START_SECONDS = 120


@dataclass(frozen=True)
class TrackingServer:
    url: str
    root: Path
    log: Path


def _healthy(url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/health", timeout=2) as reply:
            return reply.status == 200
    except (urllib.error.URLError, ConnectionError, TimeoutError):
        return False


@contextlib.contextmanager
def tracking_server(root: Path, port: int) -> Iterator[TrackingServer]:
    """`mlflow server` on 127.0.0.1:port with SQLite metadata and proxied artifacts under root.

    It runs in its own process group and the whole group is ended on exit: the server spawns
    uvicorn workers and a job runner that would otherwise outlive the test."""
    root.mkdir(parents=True, exist_ok=True)
    log = root / "server.log"
    url = f"http://127.0.0.1:{port}"
    mlflow = Path(sys.executable).parent / "mlflow"
    command = [
        str(mlflow),
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
    with log.open("wb") as output:
        process = subprocess.Popen(
            command, cwd=root, stdout=output, stderr=subprocess.STDOUT, start_new_session=True
        )
    try:
        deadline = time.monotonic() + START_SECONDS
        while not _healthy(url):
            if process.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(
                    f"mlflow server did not answer {url}/health "
                    f"(exit {process.poll()}):\n{log.read_text()[-3000:]}"
                )
            time.sleep(0.25)
        yield TrackingServer(url=url, root=root, log=log)
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
