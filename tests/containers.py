"""Containers through the docker SDK: run to the end, or serve in the background and stop."""

import contextlib
import time
from collections.abc import Iterator
from dataclasses import dataclass, field

import docker
from docker.models.containers import Container

# A pod under the restricted Pod Security Standard, as `docker run` options: the image's
# non-root uid, read-only root filesystem, no capabilities, no privilege escalation, and an
# emptyDir for /tmp.
RESTRICTED = {
    "user": "42420:42420",
    "read_only": True,
    "cap_drop": ["ALL"],
    "security_opt": ["no-new-privileges"],
}


def client() -> docker.DockerClient:
    return docker.from_env(timeout=300)


def restricted_options(tmpfs: tuple[str, ...] = (), **options) -> dict:
    """RESTRICTED plus the host network, and a tmpfs for /tmp and each path in tmpfs."""
    mounts = {path: "rw,mode=1777" for path in ("/tmp", *tmpfs)}
    return {**RESTRICTED, "network_mode": "host", "tmpfs": mounts, **options}


def run_to_end(
    image: str, command: list[str], timeout: int = 600, **options
) -> tuple[int, str, str]:
    """Run a container to completion: its exit code, stdout and stderr."""
    options.setdefault("network_mode", "host")
    container = client().containers.run(image, command, detach=True, **options)
    try:
        exit_code = container.wait(timeout=timeout)["StatusCode"]
        stdout = container.logs(stdout=True, stderr=False).decode(errors="replace")
        stderr = container.logs(stdout=False, stderr=True).decode(errors="replace")
        return exit_code, stdout, stderr
    finally:
        container.remove(force=True)


@dataclass
class Serving:
    container: Container
    stop_seconds: float = float("nan")
    exit_code: int | None = None
    logs: str = field(default="")

    def alive(self) -> bool:
        self.container.reload()
        return self.container.status in {"created", "running"}


@contextlib.contextmanager
def serving(image: str, command: list[str] | None = None, **options) -> Iterator[Serving]:
    """A detached container; on exit `docker stop` is timed and the exit code kept."""
    options.setdefault("network_mode", "host")
    container = client().containers.run(image, command, detach=True, **options)
    handle = Serving(container)
    try:
        yield handle
        started = time.perf_counter()
        container.stop(timeout=10)
        handle.stop_seconds = time.perf_counter() - started
        handle.exit_code = container.wait(timeout=30)["StatusCode"]
    finally:
        handle.logs = container.logs().decode(errors="replace")
        container.remove(force=True)
