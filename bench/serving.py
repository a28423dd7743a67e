"""Serving throughput and latency, side by side in one run: the same model and the same 10-row
request, at 16 connections, for

    ours, /invocations        MLflow's scoring protocol, on the generated service
    ours, /v2/.../infer       the Open Inference Protocol v2, on the generated service
    MLflow, /invocations      `mlflow models serve --env-manager local` on the registered model
    KServe, /v2/.../infer     KServe's Python ModelServer, a kserve.Model around the same model
    floor                     a bare ASGI app on uvicorn that parses the JSON, answers a constant

    uv run bench/serving.py [--seconds 15] [--rounds 2]

Needs wrk (Debian: `apt-get install wrk`) and PyPI. Renders a project with the defaults, trains
it on a table of named, typed columns (a category, an integer, a float with missing cells;
labels "yes"/"no"), and installs MLflow's server and KServe in virtual environments of their
own: MLflow's from the logged model's requirements (the portable model), KServe's with the
project's package on PYTHONPATH (KServe pins pandas below 3). Every server runs one process,
as `serve` does. Each server is measured in turn with `wrk -t2 -c16`, after a 3 s warm-up, and
the servers alternate for --rounds rounds, so that a busy moment of the machine does not land
on one server alone. Then prints where the time of one request goes in the generated service,
stage by stage, in-process.
"""

import argparse
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
PACKAGE = "ml_project"
MODEL = "ml-project"
MLFLOW = "mlflow==3.17.2"
KSERVE = "kserve==0.21.0"
ROWS = 10

# The training table, made by the project's own pandas.
TABLE = """
import numpy as np, pandas as pd, sys
rng = np.random.default_rng(0)
n = 5000
plan = rng.choice(["basic", "plus", "pro"], size=n)
tenure = rng.integers(0, 60, size=n)
spend = rng.normal(50, 20, size=n)
score = (plan == "basic") * 2.0 + (tenure < 12) * 1.5 - (spend - 50) / 20 + rng.normal(0, 0.7, n)
spend[rng.random(n) < 0.15] = np.nan
pd.DataFrame({"plan": plan, "tenure_months": tenure, "monthly_spend": spend,
              "churned": np.where(score > 1.5, "yes", "no")}).to_csv(sys.argv[1], index=False)
"""

KSERVE_SERVER = """
import sys
import uuid
from pathlib import Path

import kserve
from kserve import InferOutput, InferRequest, InferResponse

from ml_project import predictor


class Churn(kserve.Model):
    def __init__(self, name, directory):
        super().__init__(name)
        self.predictor = predictor.load(Path(directory))
        self.ready = True

    def predict(self, payload: InferRequest, headers=None) -> InferResponse:
        table = {tensor.name: tensor.data for tensor in payload.inputs}
        predictions = self.predictor.predict(table)
        rows, classes = predictions.probabilities.shape
        outputs = [
            InferOutput("label", [rows], "BYTES", data=predictions.values),
            InferOutput("probabilities", [rows, classes], "FP64",
                        data=predictions.probabilities.ravel().tolist()),
        ]
        # KServe's own models answer with an id even where the request has none.
        return InferResponse(payload.id or str(uuid.uuid4()), self.name, outputs)


kserve.ModelServer(http_port=int(sys.argv[3]), grpc_port=int(sys.argv[4]), workers=1).start(
    [Churn(sys.argv[1], sys.argv[2])]
)
"""

# The floor: what any Python server on uvicorn pays (HTTP, the body, JSON) and nothing else.
FLOOR_SERVER = """
import json

async def app(scope, receive, send):
    if scope["type"] != "http":
        return
    body, more = b"", True
    while more:
        message = await receive()
        body, more = body + message.get("body", b""), message.get("more_body", False)
    json.loads(body)
    await send({"type": "http.response.start", "status": 200,
                "headers": [(b"content-type", b"application/json")]})
    await send({"type": "http.response.body", "body": b'{"predictions": ["no"]}'})
"""


def run(command: list[str], **options) -> subprocess.CompletedProcess:
    return subprocess.run(command, check=True, **options)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def prepare(where: Path) -> tuple[Path, Path]:
    """The project, trained; the logged model's directory."""
    project = where / "project"
    run(
        [sys.executable, "-m", "copier", "copy", "--quiet", "--trust", "--defaults"]
        + ["--vcs-ref", "HEAD", str(REPO), str(project)]
    )
    run(["uv", "sync", "--quiet", "--locked"], cwd=project)
    python = str(project / ".venv" / "bin" / "python")
    run([python, "-c", TABLE, str(where / "customers.csv")])
    environment = {
        **os.environ,
        "OUTPUT_DIR": str(where / "outputs"),
        "DATA_PATH": str(where / "customers.csv"),
        "LABEL_COLUMN": "churned",
    }
    run([python, "main.py", "train"], cwd=project, env=environment, capture_output=True)
    logged = next((where / "outputs" / "mlartifacts").rglob("MLmodel")).parent
    return project, logged


def venv(where: Path, name: str, project: Path, *requirements: str) -> Path:
    python_version = (project / ".python-version").read_text().strip()
    target = where / name
    run(["uv", "venv", "--quiet", "--python", python_version, str(target)])
    python = str(target / "bin" / "python")
    run(["uv", "pip", "install", "--quiet", "--python", python, *requirements])
    return target / "bin"


def wait_until_up(url: str, process: subprocess.Popen, seconds: float = 120) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"the server of {url} exited with {process.returncode}")
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.3)
    raise SystemExit(f"{url} did not answer within {seconds:.0f} s")


def listening(port: int) -> bool:
    with socket.socket() as probe:
        return probe.connect_ex(("127.0.0.1", port)) == 0


def stop(process: subprocess.Popen) -> None:
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


LATENCY = re.compile(r"^\s+(50|99)%\s+([\d.]+)(us|ms|s)\s*$", re.MULTILINE)
UNIT = {"us": 1e-3, "ms": 1.0, "s": 1e3}


def wrk(url: str, body: bytes, seconds: int, where: Path) -> dict[str, float]:
    script = where / "request.lua"
    script.write_text(
        'wrk.method = "POST"\nwrk.headers["Content-Type"] = "application/json"\n'
        f"wrk.body = [==[{body.decode()}]==]\n"
    )
    command = ["wrk", "-t2", "-c16", "--latency", "-s", str(script), url]
    run([*command[:1], "-t2", "-c16", "-d3s", "-s", str(script), url], capture_output=True)
    output = run([*command, f"-d{seconds}s"], capture_output=True, text=True).stdout
    if "Non-2xx" in output or "Socket errors" in output:
        raise SystemExit(f"errors from {url}:\n{output}")
    latencies = {p: float(v) * UNIT[u] for p, v, u in LATENCY.findall(output)}
    rate = float(re.search(r"Requests/sec:\s+([\d.]+)", output)[1])
    return {"rps": rate, "p50": latencies["50"], "p99": latencies["99"]}


def bodies() -> dict[str, bytes]:
    """The same 10 rows, as each protocol sends them."""
    plans = ["basic", "plus", "pro", "basic", "pro", "plus", "basic", "basic", "pro", "plus"]
    tenure = [3, 40, 12, 7, 55, 20, 1, 33, 9, 48]
    spend = [41.5, 63.0, None, 20.25, 80.0, 55.5, None, 47.0, 71.25, 30.0]
    columns = ["plan", "tenure_months", "monthly_spend"]
    rows = [list(row) for row in zip(plans, tenure, spend, strict=True)]
    split = {"columns": columns, "data": rows}
    v2 = {
        "inputs": [
            {"name": "plan", "shape": [ROWS], "datatype": "BYTES", "data": plans},
            {"name": "tenure_months", "shape": [ROWS], "datatype": "INT64", "data": tenure},
            # The Open Inference Protocol has no null: a missing cell is NaN, which JSON lacks.
            {
                "name": "monthly_spend",
                "shape": [ROWS],
                "datatype": "FP64",
                "data": [50.0 if value is None else value for value in spend],
            },
        ]
    }
    return {
        "scoring": json.dumps({"dataframe_split": split}).encode(),
        "v2": json.dumps(v2).encode(),
    }


def servers(where: Path, project: Path, logged: Path) -> list[dict]:
    """How to start each server, where to send the request, and which body."""
    outputs = where / "outputs"
    mlflow_bin = venv(where, "mlflow-env", project, MLFLOW, "-r", str(logged / "requirements.txt"))
    # The project's scikit-learn, which pickled the model; KServe's pandas (below 3).
    pins = (logged / "requirements.txt").read_text().split()
    sklearn = next(pin for pin in pins if pin.startswith("scikit-learn=="))
    kserve_bin = venv(where, "kserve-env", project, KSERVE, sklearn)
    (where / "kserve_server.py").write_text(KSERVE_SERVER)
    (where / "floor.py").write_text(FLOOR_SERVER)
    run_dir = next((outputs / "runs").iterdir())
    ports = {name: free_port() for name in ("ours", "mlflow", "kserve", "kserve-grpc", "floor")}
    ours_env = {**os.environ, "OUTPUT_DIR": str(outputs), "PORT": str(ports["ours"])}
    ours = [str(project / ".venv" / "bin" / "python"), "main.py", "serve"]
    base = "http://127.0.0.1:{}"
    return [
        {
            "name": "ours, /invocations",
            "command": ours,
            "cwd": project,
            "env": ours_env,
            "ready": base.format(ports["ours"]) + "/ready",
            "url": base.format(ports["ours"]) + "/invocations",
            "body": "scoring",
        },
        {
            "name": "ours, /v2/.../infer",
            "command": ours,
            "cwd": project,
            "env": ours_env,
            "ready": base.format(ports["ours"]) + "/ready",
            "url": base.format(ports["ours"]) + f"/v2/models/{MODEL}/infer",
            "body": "v2",
        },
        {
            "name": "MLflow 3.17.2, /invocations",
            "command": [
                str(mlflow_bin / "mlflow"),
                "models",
                "serve",
                "-m",
                str(logged),
                "--env-manager",
                "local",
                "-h",
                "127.0.0.1",
                "-p",
                str(ports["mlflow"]),
            ],
            "cwd": where,
            "env": {**os.environ, "PATH": f"{mlflow_bin}:{os.environ['PATH']}"},
            "ready": base.format(ports["mlflow"]) + "/ping",
            "url": base.format(ports["mlflow"]) + "/invocations",
            "body": "scoring",
        },
        {
            "name": "KServe 0.21.0, /v2/.../infer",
            "command": [
                str(kserve_bin / "python"),
                str(where / "kserve_server.py"),
                MODEL,
                str(run_dir),
                str(ports["kserve"]),
                str(ports["kserve-grpc"]),
            ],
            "cwd": where,
            "env": {**os.environ, "PYTHONPATH": str(project / "src")},
            "ready": base.format(ports["kserve"]) + f"/v2/models/{MODEL}/ready",
            "url": base.format(ports["kserve"]) + f"/v2/models/{MODEL}/infer",
            "body": "v2",
        },
        {
            "name": "floor: bare ASGI on uvicorn",
            "command": [
                str(project / ".venv" / "bin" / "python"),
                "-m",
                "uvicorn",
                "floor:app",
                "--port",
                str(ports["floor"]),
                "--log-level",
                "warning",
            ],
            "cwd": where,
            "env": os.environ,
            "ready": None,
            "url": base.format(ports["floor"]) + "/",
            "body": "scoring",
        },
    ]


def check_answers(server: dict, body: bytes) -> None:
    """Every server answers the request with 10 predictions (not an error, fast)."""
    request = urllib.request.Request(
        server["url"], data=body, headers={"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        answer = json.loads(response.read())
    if "outputs" in answer:
        shapes = [output["shape"][0] for output in answer["outputs"]]
        assert shapes == [ROWS, ROWS], (server["name"], answer)
    elif not server["name"].startswith("floor"):
        assert len(answer["predictions"]) == ROWS, (server["name"], answer)


def measure(server: dict, body: bytes, seconds: int, where: Path) -> dict[str, float]:
    log = where / "server.log"
    with log.open("w") as output:
        process = subprocess.Popen(
            server["command"], cwd=server["cwd"], env=server["env"], stdout=output, stderr=output
        )
    try:
        if server["ready"] is None:  # the floor has no health route: its port opens
            port = int(server["url"].split(":")[2].split("/")[0])
            deadline = time.monotonic() + 30
            while not listening(port):
                if time.monotonic() > deadline or process.poll() is not None:
                    raise SystemExit("the floor server did not start")
                time.sleep(0.2)
        else:
            wait_until_up(server["ready"], process)
        try:
            check_answers(server, body)
        except Exception as error:
            raise SystemExit(f"{server['name']}: {error}\n{log.read_text()[-3000:]}") from None
        return wrk(server["url"], body, seconds, where)
    finally:
        stop(process)


def profile(project: Path, outputs: Path, body: bytes) -> list[tuple[str, float]]:
    """Where one request's time goes in the generated service: each stage of /invocations,
    in-process, median of many."""
    code = f"""
import json, statistics, time
from pathlib import Path
import numpy as np
from fastapi.responses import JSONResponse
from {PACKAGE} import model, predictor, scoring_protocol
run_dir = next(Path({str(outputs)!r}, "runs").iterdir())
served = predictor.load(run_dir)
body = {body!r}
def timed(stage, n=2000):
    times = []
    for _ in range(n):
        started = time.perf_counter()
        result = stage()
        times.append(time.perf_counter() - started)
    return statistics.median(times) * 1e6, result
parse, parsed = timed(lambda: json.loads(body))
to_columns, (table, _) = timed(lambda: scoring_protocol._table(parsed, served.contract))
encode, matrix = timed(lambda: served.contract.encode(table))
predict, answers = timed(lambda: model.predict(served.model, matrix))
labels, values = timed(lambda: served.contract.labels(np.asarray(answers).argmax(axis=1)))
respond, _ = timed(lambda: JSONResponse({{"predictions": values}}).body)
for name, us in [("JSON parse", parse), ("rows to columns", to_columns),
                 ("contract.encode (10 rows)", encode), ("model.predict (scikit-learn)", predict),
                 ("labels", labels), ("JSON response", respond)]:
    print(f"{{name}}\t{{us}}")
"""
    python = str(project / ".venv" / "bin" / "python")
    output = run([python, "-c", code], cwd=project, capture_output=True, text=True).stdout
    return [(name, float(us)) for name, us in (line.split("\t") for line in output.splitlines())]


def server_time_us(rounds: list[dict[str, float]]) -> float:
    """One process serves, on one core: a request costs it about 1 / (requests per second)."""
    return 1e6 * len(rounds) / sum(figures["rps"] for figures in rounds)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=15)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        sys.exit("needs wrk: apt-get install wrk")
    with tempfile.TemporaryDirectory(prefix="bench-serving.") as scratch:
        where = Path(scratch)
        project, logged = prepare(where)
        plan = servers(where, project, logged)
        requests = bodies()
        results: dict[str, list[dict[str, float]]] = {server["name"]: [] for server in plan}
        for _ in range(args.rounds):
            for server in plan:
                figures = measure(server, requests[server["body"]], args.seconds, where)
                results[server["name"]].append(figures)
                print(f"  {server['name']}: {figures}", file=sys.stderr, flush=True)
        cores = os.cpu_count()
        setup = f"wrk -t2 -c16 -d{args.seconds}s, a {ROWS}-row request, {cores} cores"
        print(f"\n{setup}; the rounds, in the order they ran, separated by /")
        print("| server | requests/s | p50 (ms) | p99 (ms) |")
        print("|---|---|---|---|")
        for name, rounds in results.items():
            rate = " / ".join(f"{r['rps']:,.0f}" for r in rounds)
            p50 = " / ".join(f"{r['p50']:.1f}" for r in rounds)
            p99 = " / ".join(f"{r['p99']:.1f}" for r in rounds)
            print(f"| {name} | {rate} | {p50} | {p99} |")
        whole = server_time_us(results[plan[0]["name"]])
        floor = server_time_us(results[plan[-1]["name"]])
        stages = profile(project, where / "outputs", requests["scoring"])
        rest = whole - floor - sum(us for _, us in stages)
        print(f"\nWhere one /invocations request's {whole:,.0f} µs of server time goes")
        print("(1 / its requests per second; the stages in-process, medians)")
        print("| part | µs |")
        print("|---|---|")
        print(
            f"| uvicorn, HTTP, the body (the floor: 1 / its requests per second) | {floor:,.0f} |"
        )
        for name, us in stages:
            print(f"| {name} | {us:,.0f} |")
        print(f"| the rest: FastAPI's routing, the middleware, the access log | {rest:,.0f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
