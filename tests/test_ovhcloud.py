"""deploy/ovhcloud.sh, per flavor and base: the `ovhai` command lines it prints name the project's
image and agree with its Dockerfile (port, OUTPUT_DIR, user) and its app (the probe's route), and
a bad setting is one error line. No OVHcloud account here: the script's --dry-run is what runs."""

import os
import re
import shlex
from pathlib import Path

import pytest

from helpers import IMAGE_VARIANTS, copy_template, on_cuda, run, tool

SCRIPT = "deploy/ovhcloud.sh"
VARIANTS = {
    **IMAGE_VARIANTS,
    "uv-tracking-none": {"image_flavor": "uv", "tracking": "none"},
    "relocated-home-pytorch": {"image_flavor": "relocated-home", "ml_framework": "pytorch"},
}
# Settings the tests pass, so that a default never hides a wrong one.
SETTINGS = {
    "IMAGE_REGISTRY": "registry.example.com/ml-team",
    "IMAGE_TAG": "1.2.3",
    "DATASTORE": "BHS",
}


@pytest.fixture(scope="module", params=list(VARIANTS), ids=list(VARIANTS))
def variant(request, copie_session):
    answers = VARIANTS[request.param]
    return answers, copy_template(copie_session, **answers)


def final_stage(project: Path) -> str:
    """The rendered Dockerfile's last stage, the image that OVHcloud runs, continuation lines
    joined (the builder and dev stages set their own ENV and USER)."""
    text = (project / "Dockerfile").read_text().replace("\\\n", " ")
    return text[text.rindex("\nFROM ") :]


def dockerfile_env(project: Path) -> dict[str, str]:
    """Every ENV of the image that runs."""
    env = {}
    for line in final_stage(project).splitlines():
        if line.startswith("ENV "):
            env.update(pair.split("=", 1) for pair in shlex.split(line[len("ENV ") :]))
    return env


def dockerfile_instruction(project: Path, name: str) -> list[str]:
    lines = final_stage(project).splitlines()
    return [line[len(name) + 1 :].strip() for line in lines if line.startswith(name)]


def ovhai(project: Path, command: str, check: bool = True, **settings: str):
    env = {**os.environ, **SETTINGS, **settings}
    for name in (
        "DATA_CONTAINER",
        "DATA_FILE",
        "MLFLOW_TRACKING_URI",
        "MODEL_URI",
        "GPUS",
        "JOB_NAME",
    ):
        if name not in settings:
            env.pop(name, None)
    # `command` is the script's arguments, e.g. "promote 2".
    arguments = ["bash", SCRIPT, "--dry-run", *command.split()]
    return run(arguments, cwd=project, env=env, check=check)


def parse(line: str) -> tuple[list[str], dict[str, list[str]], list[str]]:
    """`ovhai job|app run OPTIONS IMAGE -- ARGS`: the subcommand, each option's values, and
    the positional words (IMAGE -- ARGS)."""
    words = shlex.split(line)
    assert words[0] == "ovhai" and words[2] == "run", line
    options: dict[str, list[str]] = {}
    index = 3
    while words[index].startswith("--"):
        options.setdefault(words[index], []).append(words[index + 1])
        index += 2
    return words[:3], options, words[index:]


def volumes(options: dict[str, list[str]]) -> dict[str, tuple[str, str, list[str]]]:
    """mount path: (container, datastore[/prefix], [permission, cache...]) of each --volume."""
    found = {}
    for volume in options.get("--volume", []):
        source, mount_path, *flags = volume.split(":")
        container, datastore = source.split("@")
        found[mount_path] = (container, datastore, flags)
    return found


def test_the_script_is_executable_and_passes_shellcheck(variant):
    _, project = variant
    script = project / SCRIPT

    assert os.access(script, os.X_OK)
    run([tool("shellcheck"), "--shell=bash", SCRIPT], cwd=project)


def test_train_is_a_job_of_the_projects_image_with_the_outputs_at_output_dir(variant):
    answers, project = variant
    line = ovhai(project, "train").stdout.strip()

    command, options, positional = parse(line)
    assert command == ["ovhai", "job", "run"]
    assert positional == ["registry.example.com/ml-team/ml-project:1.2.3", "--", "train"]
    output_dir = dockerfile_env(project)["OUTPUT_DIR"]
    assert volumes(options) == {output_dir: ("ml-project-outputs", "BHS", ["rwd"])}
    assert "--env" not in options  # no data: the demo data set


def test_each_training_job_has_its_own_name_and_with_a_tracking_server_its_own_prefix(variant):
    answers, project = variant
    tracked = answers.get("tracking", "mlflow") == "mlflow"
    server = {"MLFLOW_TRACKING_URI": "https://mlflow.example.com"} if tracked else {}
    output_dir = dockerfile_env(project)["OUTPUT_DIR"]

    first = ovhai(project, "train", **server)
    named = parse(ovhai(project, "train", JOB_NAME="churn-7", **server).stdout)[1]
    refused = ovhai(project, "train", check=False, JOB_NAME="a b")

    [name] = parse(first.stdout)[1]["--name"]
    assert re.fullmatch(r"ml-project-train-\d{8}-\d{6}", name), name
    assert named["--name"] == ["churn-7"]
    if tracked:
        # The registry is the server's: two jobs never sync over each other's outputs.
        assert volumes(named)[output_dir] == ("ml-project-outputs", "BHS/jobs/churn-7", ["rwd"])
        assert first.stderr == ""
    else:
        # The registry is the container: jobs share its root, one at a time, as the note says.
        assert volumes(named)[output_dir] == ("ml-project-outputs", "BHS", ["rwd"])
        assert "one training job at a time" in first.stderr and first.stderr.count("\n") == 1
    assert refused.returncode == 2 and refused.stderr.startswith("error: JOB_NAME='a b'")


def test_train_asks_for_gpus_exactly_on_cuda_bases(variant):
    answers, project = variant
    _, options, _ = parse(ovhai(project, "train").stdout)
    _, two, _ = parse(ovhai(project, "train", GPUS="2", CPUS="8").stdout)

    if on_cuda(answers):
        assert (options["--gpu"], "--cpu" in options) == (["1"], False)
        assert two["--gpu"] == ["2"]
    else:
        assert (options["--cpu"], "--gpu" in options) == (["4"], False)
        assert two["--cpu"] == ["8"]


def test_train_mounts_the_data_read_only_where_data_path_points(variant):
    _, project = variant
    line = ovhai(project, "train", DATA_CONTAINER="iris", DATA_FILE="iris.parquet").stdout

    _, options, _ = parse(line)
    [data_path] = [e.split("=", 1)[1] for e in options["--env"] if e.startswith("DATA_PATH=")]
    container, datastore, flags = volumes(options)[str(Path(data_path).parent)]
    assert (container, datastore, flags) == ("iris", "BHS", ["ro", "cache"])
    assert Path(data_path).name == "iris.parquet"
    assert Path(data_path).parent != Path(dockerfile_env(project)["OUTPUT_DIR"])


def test_the_tracking_server_is_passed_on_only_where_the_project_tracks(variant):
    answers, project = variant
    uri = "http://mlflow.example.com:5000"
    _, options, _ = parse(ovhai(project, "train", MLFLOW_TRACKING_URI=uri).stdout)

    expected = [f"MLFLOW_TRACKING_URI={uri}"] if answers.get("tracking") != "none" else []
    assert options.get("--env", []) == expected


def test_serve_is_an_app_on_the_images_port_probed_on_a_route_of_the_app(variant):
    _, project = variant
    command, options, positional = parse(ovhai(project, "serve").stdout)

    assert command == ["ovhai", "app", "run"]
    assert positional == ["registry.example.com/ml-team/ml-project:1.2.3", "--", "serve"]
    env = dockerfile_env(project)
    assert dockerfile_instruction(project, "EXPOSE") == [env["PORT"]] == ["8080"]
    assert options["--default-http-port"] == options["--probe-port"] == [env["PORT"]]
    [probe] = options["--probe-path"]
    server = next(project.glob("src/*/server.py")).read_text()
    assert probe == "/ready" and f'@app.get("{probe}"' in server
    assert options["--cpu"] == ["2"] and "--gpu" not in options
    # The model that train left: the outputs container, read-only, at OUTPUT_DIR.
    assert volumes(options) == {env["OUTPUT_DIR"]: ("ml-project-outputs", "BHS", ["ro"])}


def test_serve_loads_a_registered_model_without_a_volume_where_the_project_tracks(variant):
    answers, project = variant
    if answers.get("tracking") == "none":
        result = ovhai(project, "serve", MODEL_URI="models:/ml-project@champion")
        assert "--volume" in parse(result.stdout)[1]  # no registry: the outputs' model
        return
    line = ovhai(project, "serve", MODEL_URI="models:/ml-project@champion").stdout

    _, options, _ = parse(line)
    assert options["--env"] == ["MODEL_URI=models:/ml-project@champion"]
    assert "--volume" not in options


@pytest.mark.parametrize("command", ["train", "serve"])
def test_every_setting_the_program_reads_is_passed_on_and_credentials_are_not_printed(
    variant, command
):
    answers, project = variant
    tracked = answers.get("tracking", "mlflow") == "mlflow"
    settings = {"LABEL_COLUMN": "churned", "EPOCHS": "7", "PROMOTE_MIN_SCORE": "0.8"}
    settings |= {"MODEL_POLL_SECONDS": "60", "TRAIN_SAMPLES": "900"}
    if tracked:
        settings |= {"MODEL_NAME": "churn", "MODEL_ALIAS": "prod", "TRACKING_RETRY_SECONDS": "30"}
        settings |= {"MLFLOW_TRACKING_URI": "https://mlflow.example.com"}
    secret = {"MLFLOW_TRACKING_TOKEN": "s3cr3t-t0ken"}

    printed = ovhai(project, command, **settings, **secret).stdout

    _, options, _ = parse(printed)
    passed = dict(env.split("=", 1) for env in options["--env"] if "DATA_PATH" not in env)
    expected = {**settings, **({"MLFLOW_TRACKING_TOKEN": "***"} if tracked else {})}
    assert passed == expected
    assert "s3cr3t-t0ken" not in printed
    # With a tracking server the app follows its registry: no volume to sync.
    assert ("--volume" in options) == (command == "train" or not tracked)


def test_promote_is_a_short_job_that_moves_the_champion_of_the_same_registry(variant):
    answers, project = variant
    tracked = answers.get("tracking", "mlflow") == "mlflow"

    local = parse(ovhai(project, "promote 2").stdout)
    remote = parse(ovhai(project, "promote 2", MLFLOW_TRACKING_URI="https://m.example.com").stdout)
    refused = ovhai(project, "promote latest", check=False)

    assert local[0][:3] == ["ovhai", "job", "run"] and local[2][-2:] == ["promote", "2"]
    # The registry train wrote: the outputs container, unless a tracking server holds it.
    assert "--volume" in local[1]
    assert ("--volume" in remote[1]) == (not tracked)
    assert refused.returncode == 2 and "VERSION='latest'" in refused.stderr


def test_predict_is_a_job_that_scores_a_file_of_the_batch_container_beside_it(variant):
    answers, project = variant
    tracked = answers.get("tracking", "mlflow") == "mlflow"
    app_dir = dockerfile_env(project)["OUTPUT_DIR"].rsplit("/", 1)[0]

    local = parse(ovhai(project, "predict month/customers.parquet").stdout)
    remote = parse(
        ovhai(project, "predict a.csv", MLFLOW_TRACKING_URI="https://m.example.com").stdout
    )
    refused = ovhai(project, "predict ../secrets.csv", check=False)

    assert local[0][:3] == ["ovhai", "job", "run"]
    assert local[2][-5:] == [
        "predict",
        "--input",
        f"{app_dir}/batch/month/customers.parquet",
        "--output",
        f"{app_dir}/batch/month/scored-customers.parquet",
    ]
    assert remote[2][-1] == f"{app_dir}/batch/scored-a.csv"
    assert volumes(local[1])[f"{app_dir}/batch"] == ("ml-project-batch", "BHS", ["rw"])
    # The champion as the app finds it: in the outputs container unless a server holds it.
    assert volumes(local[1])[f"{app_dir}/outputs"][2] == ["ro"]
    assert (f"{app_dir}/outputs" in volumes(remote[1])) == (not tracked)
    assert refused.returncode == 2 and "FILE='../secrets.csv'" in refused.stderr


def test_the_image_runs_as_the_uid_ovhcloud_assigns(variant):
    # OVHcloud runs every image as 42420:42420. The relocated-home image is built for that user;
    # the others make every path written at run time writable by any uid. The script says which.
    answers, project = variant
    env = dockerfile_env(project)
    [user] = dockerfile_instruction(project, "USER")
    script = (project / SCRIPT).read_text()

    assert "OVHcloud runs every image as uid 42420 (gid 42420)." in script
    if answers["image_flavor"] == "relocated-home":
        assert user == "42420:42420" and env["HOME"] == "/workspace"
        assert "This image is built for that user: USER 42420:42420" in script
    else:
        [chmod] = [r for r in dockerfile_instruction(project, "RUN") if "chmod 1777" in r]
        writable = set(chmod.split("chmod 1777", 1)[1].split())
        assert {env["OUTPUT_DIR"], env["HOME"]} <= writable
        assert user != "42420:42420"
        assert "writable by any uid (mode 1777)" in script


@pytest.mark.parametrize(
    ("settings", "command", "message"),
    [
        ({"GPUS": "two", "CPUS": "two"}, "train", r"^error: (GPUS|CPUS)='two' is not a whole"),
        ({"GPUS": "0", "CPUS": "0"}, "train", r"^error: (GPUS|CPUS)='0' is not a whole number"),
        ({"SERVE_CPUS": "-1"}, "serve", r"^error: SERVE_CPUS='-1' is not a whole number"),
        ({"DATA_FILE": "train.csv"}, "train", r"^error: DATA_FILE is set but DATA_CONTAINER"),
        ({}, "deploy", r"^error: unknown command 'deploy': usage: "),
    ],
    ids=["gpus-not-a-number", "zero", "serve-cpus", "data-file-without-container", "command"],
)
def test_a_bad_setting_is_one_error_line_and_exit_code_2(variant, settings, command, message):
    _, project = variant
    result = ovhai(project, command, check=False, **settings)

    assert result.returncode == 2 and result.stdout == ""
    assert re.match(message, result.stderr) and result.stderr.count("\n") == 1, result.stderr


def test_without_the_ovhai_cli_a_real_run_is_one_error_line(variant, tmp_path):
    _, project = variant
    env = {**os.environ, "PATH": f"{tmp_path}:/usr/bin:/bin"}  # no ovhai there
    result = run(["bash", SCRIPT, "train"], cwd=project, env=env, check=False)

    assert result.returncode == 2 and result.stdout == ""
    assert result.stderr.startswith("error: ovhai not found: install OVHcloud's AI CLI")
    assert result.stderr.count("\n") == 1


def test_a_real_run_runs_exactly_the_printed_command(variant, tmp_path):
    _, project = variant
    fake = tmp_path / "ovhai"  # records its arguments, one per line
    fake.write_text('#!/bin/sh\nprintf "%s\\n" "$@" > "$(dirname "$0")/args"\n')
    fake.chmod(0o755)
    env = {**os.environ, **SETTINGS, "PATH": f"{tmp_path}:{os.environ['PATH']}"}
    env["JOB_NAME"] = "ml-project-train-1"  # the default holds the time: one second apart
    printed = run(["bash", SCRIPT, "--dry-run", "train"], cwd=project, env=env).stdout

    run(["bash", SCRIPT, "train"], cwd=project, env=env)

    assert ["ovhai", *(tmp_path / "args").read_text().splitlines()] == shlex.split(printed)
