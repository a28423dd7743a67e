"""The lifecycle, run on built images as a platform runs them (uid 42420, read-only root
filesystem, no capabilities): two servers start before any model exists and stay unready; a
training run registers version 1 and both serve it within the poll interval; a run below
PROMOTE_MIN_SCORE is registered and not promoted; `promote 2` moves both servers to version 2
while a request loop runs, and none of its requests fails; SIGTERM to a server under keep-alive
load loses no request. Once with a real MLflow server (the project's own version), once with
tracking=none and an outputs volume: one server mounts it (as compose and OVHcloud do), the other
follows `share-registry` over HTTP without it (the Kubernetes route for a ReadWriteOnce claim).
The figures are printed at the end of the run."""

import http.client
import json
import threading
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager

import pytest

import containers
import summary
from docker_cli import build
from helpers import http_json, wait_for, wait_until_unready_saying
from mlflow_server import server_version, tracking_server

pytestmark = [pytest.mark.docker, pytest.mark.timing]

OUTPUT_DIR = "/app/outputs"
BODY = b'{"instances": [[0, 0, 0, 0], [3, 3, 0, 1]]}'
POLL_SECONDS = 1
_FIGURES: list[tuple[str, ...]] = []


@pytest.fixture(scope="module", autouse=True)
def figures():
    yield
    if _FIGURES:
        columns = (
            "registry",
            "train → both ready (s)",
            "promote exits → both moved (s)",
            "requests during promote (failed)",
            "requests under SIGTERM (lost)",
        )
        rows = [columns, ("---",) * len(columns), *_FIGURES]
        summary.add_section(
            "Lifecycle: two servers follow training, the gate and a promotion",
            ["| " + " | ".join(row) + " |" for row in rows],
        )


class RequestLoop:
    """Clients that POST /predict in a loop on keep-alive connections, as load generators do;
    a response that asks to close is honoured (the client reconnects). A request is failed when
    it gets no answer or an answer other than 200; a refused connect sends nothing and ends that
    client (the server has stopped listening)."""

    def __init__(self, ports: list[int], clients_per_port: int = 8) -> None:
        self.ports = ports * clients_per_port
        self.answered = 0
        self.failed: list[str] = []
        self.versions: Counter[str] = Counter()
        self._stop = threading.Event()
        self._lock = threading.Lock()

    def _client(self, port: int) -> None:
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        while not self._stop.is_set():
            if connection.sock is None:
                try:
                    connection.connect()
                except OSError:
                    return
            try:
                connection.request("POST", "/predict", BODY, {"Content-Type": "application/json"})
                response = connection.getresponse()
                payload = response.read()
            except (OSError, http.client.HTTPException) as error:
                with self._lock:
                    self.failed.append(f"port {port}: {error!r}")
                connection.close()
                continue
            with self._lock:
                if response.status == 200:
                    self.answered += 1
                    self.versions[json.loads(payload)["model_version"]] += 1
                else:
                    self.failed.append(f"port {port}: {response.status} {payload[:200]!r}")
            if (response.getheader("connection") or "").lower() == "close":
                connection.close()

    @contextmanager
    def running(self) -> Iterator["RequestLoop"]:
        threads = [threading.Thread(target=self._client, args=(p,)) for p in self.ports]
        for thread in threads:
            thread.start()
        try:
            yield self
        finally:
            self._stop.set()
            for thread in threads:
                thread.join(15)


def version_served(port: int) -> str | None:
    status, ready = http_json(f"http://127.0.0.1:{port}/ready")
    return ready.get("model_version") if status == 200 else None


def until_all_serve(ports: list[int], wanted: str, seconds: float = 30) -> float:
    """Seconds until every server answers /ready with a version containing `wanted`."""
    started = time.perf_counter()
    while not all(wanted in (version_served(port) or "") for port in ports):
        assert time.perf_counter() - started < seconds, [version_served(p) for p in ports]
        time.sleep(0.05)
    return time.perf_counter() - started


def lifecycle(
    image: str,
    label: str,
    environment: dict[str, str],
    options: dict,
    second_server: tuple[dict[str, str], dict] | None = None,
) -> None:
    """second_server: the environment and options of the second server, when they differ from
    training's."""
    ports = [containers.free_port(), containers.free_port()]
    setups = [(environment, options), second_server or (environment, options)]
    with ExitStack() as stack:
        servers = [
            stack.enter_context(
                containers.started(
                    image, "serve", environment={**variables, "PORT": str(port)}, **run_options
                )
            )
            for port, (variables, run_options) in zip(ports, setups, strict=True)
        ]
        # 1. No model yet: both up, both unready, saying what to do.
        for port, server in zip(ports, servers, strict=True):
            status, _ = wait_for(f"http://127.0.0.1:{port}/health", seconds=90, container=server)
            assert status == 200
            wait_until_unready_saying(f"http://127.0.0.1:{port}/ready", "python main.py train")

        # 2. A first training run: version 1, promoted, served by both without a restart.
        first = containers.run(image, "train", environment=environment, **options).stderr
        assert "Promotion: version 1 scored" in first and ": promoted" in first, first
        to_ready = until_all_serve(ports, "version 1")

        # 3. Below the gate: registered as version 2, not promoted, not served.
        gated = {**environment, "PROMOTE_MIN_SCORE": "1"}
        second = containers.run(image, "train", environment=gated, **options).stderr
        assert "below PROMOTE_MIN_SCORE=1: not promoted" in second, second
        time.sleep(2 * POLL_SECONDS + 0.5)
        assert all("version 1" in (version_served(port) or "") for port in ports)

        # 4. Promoted by hand under load: both move to version 2, no request fails.
        with RequestLoop(ports).running() as load:
            time.sleep(0.5)
            promoted = containers.run(image, "promote", "2", environment=environment, **options)
            assert "is now the champion" in promoted.stdout, promoted.stdout
            moved = until_all_serve(ports, "version 2")
            time.sleep(0.5)
        assert load.failed == [] and load.answered > 50, (load.answered, load.failed[:3])
        assert {version.split(" (")[0][-9:] for version in load.versions} == {
            "version 1",
            "version 2",
        }

        # 5. SIGTERM under keep-alive load: every request the server received is answered.
        with RequestLoop(ports[:1], clients_per_port=16).running() as stopping:
            time.sleep(1)
            seconds, code = containers.stop(servers[0])
        assert code == 0 and seconds < 10
        assert stopping.failed == [] and stopping.answered > 16, stopping.failed[:3]

    _FIGURES.append(
        (
            label,
            f"{to_ready:.2f}",
            f"{moved:.2f}",
            f"{load.answered + len(load.failed)} ({len(load.failed)})",
            f"{stopping.answered + len(stopping.failed)} ({len(stopping.failed)})",
        )
    )


def test_two_servers_follow_an_mlflow_registry_through_train_gate_and_promote(
    projects, images, tmp_path_factory
):
    version = server_version(projects["uv"])
    root = tmp_path_factory.mktemp("lifecycle-mlflow")
    with tracking_server(root, containers.free_port(), version) as server:
        environment = {
            "MLFLOW_TRACKING_URI": server.url,
            "MODEL_NAME": "lifecycle",
            "MODEL_POLL_SECONDS": str(POLL_SECONDS),
        }
        options = containers.restricted(OUTPUT_DIR)
        lifecycle(images["uv"], f"MLflow {version} server", environment, options)


@pytest.fixture(scope="module")
def image_without_tracking(renders, projects, images):
    """The uv flavor rendered with tracking=none, built on the same base (its layers cached)."""
    project = renders.get(image_flavor="uv", tracking="none")
    return build(project, "copier-uv-mlops-test/uv-tracking-none").tag


def test_two_servers_follow_a_volume_and_its_shared_registry_through_train_gate_and_promote(
    image_without_tracking, tmp_path
):
    outputs = tmp_path / "outputs"
    outputs.mkdir()
    outputs.chmod(0o777)
    volumes = {str(outputs): {"bind": OUTPUT_DIR, "mode": "rw"}}
    options = containers.restricted(volumes=volumes)
    environment = {"MODEL_POLL_SECONDS": str(POLL_SECONDS)}
    sharing_port = containers.free_port()
    sharing = {"environment": {"PORT": str(sharing_port)}}
    read_only = containers.restricted(volumes={str(outputs): {"bind": OUTPUT_DIR, "mode": "ro"}})
    with containers.started(image_without_tracking, "share-registry", **sharing, **read_only):
        url = f"http://127.0.0.1:{sharing_port}"
        without_the_volume = containers.restricted(OUTPUT_DIR)
        second = ({**environment, "REGISTRY_URL": url}, without_the_volume)
        label = "tracking=none: a volume, and share-registry over HTTP"
        lifecycle(image_without_tracking, label, environment, options, second)
