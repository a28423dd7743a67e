"""The Docker CLI, where BuildKit is needed: image builds (with their timings) and the stand-in
base images. Containers and image inspection go through the SDK: see containers.py."""

import os
import re
import shutil
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path


def _buildkit_client() -> str:
    """The first `docker` on PATH that builds with BuildKit: one with buildx, or a client older
    than 23 (Debian's docker.io), whose BuildKit needs no buildx. Else plain `docker`."""
    for directory in os.environ.get("PATH", "").split(os.pathsep):
        client = shutil.which("docker", path=directory)
        if not client:
            continue
        probe = [client, "buildx", "version"]
        if subprocess.run(probe, capture_output=True, check=False).returncode == 0:
            return client
        version = subprocess.run(
            [client, "version", "--format", "{{.Client.Version}}"],
            capture_output=True,
            text=True,
            check=False,
        ).stdout
        if version[:2].isdigit() and int(version.split(".")[0]) < 23:
            return client
    return "docker"


# $DOCKER wins (.ci/run sets it); otherwise a client that can build this project's Dockerfiles.
DOCKER = os.environ.get("DOCKER") or _buildkit_client()
DEPENDENCY_STEP = "uv sync --locked --no-install-project"


def docker(*args: str, check: bool = True, timeout: int = 900, cwd: Path | None = None):
    env = {**os.environ, "DOCKER_BUILDKIT": "1"}
    result = subprocess.run(
        [DOCKER, *args], capture_output=True, text=True, timeout=timeout, env=env, cwd=cwd
    )
    if check and result.returncode != 0:
        raise AssertionError(
            f"docker {' '.join(args)} exited {result.returncode}\n"
            f"--- stdout\n{result.stdout[-3000:]}\n--- stderr\n{result.stderr[-5000:]}"
        )
    return result


@dataclass
class Build:
    tag: str
    seconds: float
    log: str
    returncode: int

    def step_was_cached(self, command: str) -> bool:
        """Whether BuildKit reused the layer of the RUN step whose command contains `command`."""
        steps = re.findall(r"^(#\d+) \[.*\] RUN .*$", self.log, flags=re.M)
        numbers = [n for n in steps if command in self._step_line(n)]
        if not numbers:
            raise AssertionError(f"no RUN step with {command!r} in the build log:\n{self.log}")
        return all(re.search(rf"^{n} CACHED$", self.log, flags=re.M) for n in numbers)

    def _step_line(self, number: str) -> str:
        return next(line for line in self.log.splitlines() if line.startswith(f"{number} ["))


def build(context: Path, tag: str, *extra: str, check: bool = True) -> Build:
    started = time.perf_counter()
    result = docker(
        "build",
        "--network",
        "host",
        "--progress",
        "plain",
        "-t",
        tag,
        *extra,
        ".",
        cwd=context,
        check=check,
    )
    return Build(
        tag, time.perf_counter() - started, result.stderr + result.stdout, result.returncode
    )


def base_images(dockerfile: Path) -> list[str]:
    """Images the Dockerfile pulls: FROM and COPY --from references that are not its stages."""
    text = dockerfile.read_text()
    stages = set(re.findall(r"^FROM \S+ AS (\S+)", text, flags=re.M))
    refs = re.findall(r"^FROM (\S+)", text, flags=re.M)
    refs += re.findall(r"COPY --from=(\S+)", text)
    return sorted({ref for ref in refs if ref not in stages})


def ensure_base_images(*dockerfiles: Path) -> None:
    """The images these Dockerfiles pull: real where a registry answers, else local stand-ins."""
    tags = sorted({tag for dockerfile in dockerfiles for tag in base_images(dockerfile)})
    script = Path(__file__).resolve().parent.parent / "scripts" / "make-standin-images"
    subprocess.run(
        [str(script), *tags], env={**os.environ, "DOCKER": DOCKER}, check=True, timeout=600
    )
