"""Docker HEALTHCHECK: the server answers /ready (model loaded), or this container is not
serving. No ML imports, so the probe is quick."""

import urllib.request
from pathlib import Path

from .config import Settings


def _container_serves() -> bool:
    # The entrypoint is PID 1; its arguments say whether this container runs `serve`.
    try:
        arguments = Path("/proc/1/cmdline").read_bytes().split(b"\0")
    except OSError:
        return True
    return b"serve" in arguments


def check(settings: Settings) -> int:
    url = f"http://127.0.0.1:{settings.port}/ready"
    try:
        with urllib.request.urlopen(url, timeout=3) as response:
            healthy = response.status == 200
    except OSError as error:  # URLError and HTTPError (503 while the model loads) included
        if not _container_serves():
            print("healthy: this container does not run `serve`, so there is nothing to probe")
            return 0
        print(f"unhealthy: {url}: {error}")
        return 1
    print(f"{'healthy' if healthy else 'unhealthy'}: {url}")
    return 0 if healthy else 1
