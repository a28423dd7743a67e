"""Containers and images through the docker SDK, shared by the tests and bench/.

Only builds stay on the CLI (docker_cli.build): BuildKit, which the Dockerfiles' cache mounts
need, is not what the SDK's build talks to. Every container here is on the host network, or on
none when a test says so (the bridge is off limits on our machines), and is removed however the
test ends.
"""

import contextlib
import functools
import io
import socket
import tarfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import docker
from docker.models.containers import Container

NETWORKS = {"host", "none"}


@functools.cache
def client() -> docker.DockerClient:
    """The engine that DOCKER_HOST names (by default the local socket)."""
    return docker.from_env()


def engine_answers() -> bool:
    try:
        return client().ping()
    except (docker.errors.DockerException, OSError):  # OSError: requests' connection errors
        return False


@dataclass
class Finished:
    """A command that ran to completion, its two output streams kept apart."""

    exit_code: int
    stdout: str
    stderr: str

    def describe(self, what: str) -> str:
        return (
            f"{what} exited {self.exit_code}\n"
            f"--- stdout\n{self.stdout[-3000:]}\n--- stderr\n{self.stderr[-5000:]}"
        )


@contextlib.contextmanager
def started(image: str, *command: str, network: str = "host", **options) -> Iterator[Container]:
    """A detached container of `image`, removed (stopped first if need be) when the block ends.
    `options` are those of the SDK's `containers.create`: user, environment, entrypoint..."""
    if network not in NETWORKS:
        raise ValueError(f"network {network!r}: use one of {sorted(NETWORKS)}")
    # create, then start: a container whose start fails is still removed.
    container = client().containers.create(
        image, list(command) or None, network_mode=network, **options
    )
    try:
        container.start()
        yield container
    finally:
        container.remove(force=True)


def finished(container: Container, timeout: float = 900) -> Finished:
    """Waits for the container's command to end; its exit code and its stdout and stderr."""
    exit_code = container.wait(timeout=timeout)["StatusCode"]
    return Finished(
        exit_code,
        text(container.logs(stdout=True, stderr=False)),
        text(container.logs(stdout=False, stderr=True)),
    )


def run(image: str, *command: str, check: bool = True, timeout: float = 900, **options) -> Finished:
    """`docker run --rm`: runs `command` (or the image's CMD) to completion. With `check`, an
    exit code other than 0 fails with both streams; otherwise it is the caller's to read."""
    with started(image, *command, **options) as container:
        result = finished(container, timeout)
    if check and result.exit_code != 0:
        raise AssertionError(result.describe(f"{image} {' '.join(command)}"))
    return result


def exec_in(container: Container, *command: str, check: bool = True) -> Finished:
    """`docker exec`: runs `command` in a running container."""
    exit_code, (stdout, stderr) = container.exec_run(list(command), demux=True)
    result = Finished(exit_code, text(stdout), text(stderr))
    if check and exit_code != 0:
        raise AssertionError(result.describe(f"exec {' '.join(command)}"))
    return result


def copy_out(container: Container, path: str, destination: Path) -> Path:
    """`docker cp CONTAINER:path destination/`: works on a stopped container too. Returns the copy
    (destination / the last part of path)."""
    chunks, _ = container.get_archive(path)
    with tarfile.open(fileobj=io.BytesIO(b"".join(chunks))) as archive:
        archive.extractall(destination, filter="data")
    return destination / Path(path).name


def text(output: bytes | None) -> str:
    """A stream as text (the SDK gives None for a stream that printed nothing)."""
    return (output or b"").decode(errors="replace")


def exit_code(container: Container) -> int:
    """The exit code `docker inspect` reports for a container that has stopped."""
    container.reload()
    return container.attrs["State"]["ExitCode"]


def image_config(tag: str) -> dict:
    return client().images.get(tag).attrs["Config"]


def image_size_mb(tag: str) -> float:
    return client().images.get(tag).attrs["Size"] / 1e6


# A pod under the restricted Pod Security Standard, as `docker run` options: the image's
# non-root uid, a read-only root filesystem, no capabilities, no privilege escalation.
RESTRICTED = {
    "user": "42420:42420",
    "read_only": True,
    "cap_drop": ["ALL"],
    "security_opt": ["no-new-privileges"],
}


def restricted(*writable: str, **options) -> dict:
    """RESTRICTED, with a tmpfs (an emptyDir) for /tmp and for each writable path."""
    tmpfs = {path: "rw,mode=1777" for path in ("/tmp", *writable)}
    return {**RESTRICTED, "tmpfs": tmpfs, **options}


def stop(container: Container) -> tuple[float, int]:
    """`docker stop` (SIGTERM, SIGKILL after 10 s): how long it took, and the exit code."""
    began = time.perf_counter()
    container.stop(timeout=10)
    return time.perf_counter() - began, exit_code(container)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]
