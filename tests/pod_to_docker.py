"""A Kubernetes workload's pod, as the docker SDK's run options: what the pod's security context,
environment and volumes demand, so a test can run the image under those constraints without a
cluster.

| pod spec | docker |
|---|---|
| runAsUser / runAsGroup | user="UID:GID" (runAsNonRoot: refused when the uid is 0 or unset) |
| fsGroup | group_add=[GID] (the pod's supplementary group; volumes are group-owned by it) |
| readOnlyRootFilesystem | read_only=True |
| capabilities.drop / add | cap_drop / cap_add |
| allowPrivilegeEscalation: false | security_opt=["no-new-privileges"] |
| seccompProfile RuntimeDefault | nothing: Docker's default seccomp profile is the runtime default |
| env (value, configMapKeyRef, secretKeyRef) and envFrom | environment, ConfigMaps resolved |
| a kustomize env file (configMapGenerator `envs:`) | env_file: the ConfigMap's data |
| emptyDir | a tmpfs at the mount path (mode 0777, like an emptyDir; sizeLimit as size) |
| persistentVolumeClaim | a bind mount of the host directory the caller gives for the claim |
| command / args | entrypoint / command |
| resources.limits cpu / memory | nano_cpus / mem_limit |

GPU limits (nvidia.com/gpu) are left out: they need a GPU and the NVIDIA runtime.
"""

from collections.abc import Mapping
from pathlib import Path

WORKLOAD_KINDS = {"Job", "Deployment"}
# Quantity suffixes of Kubernetes, as multipliers (binary and decimal).
_SUFFIXES = {
    "Ki": 2**10,
    "Mi": 2**20,
    "Gi": 2**30,
    "Ti": 2**40,
    "k": 10**3,
    "M": 10**6,
    "G": 10**9,
    "T": 10**12,
}


class Untranslatable(ValueError):
    """The pod asks for something that this translation cannot give a container."""


def pod_spec(workload: Mapping) -> Mapping:
    """The pod template's spec of a Job or a Deployment."""
    if workload.get("kind") not in WORKLOAD_KINDS:
        raise Untranslatable(f"kind {workload.get('kind')!r}: give a Job or a Deployment")
    return workload["spec"]["template"]["spec"]


def container_of(workload: Mapping, name: str | None = None) -> Mapping:
    containers = pod_spec(workload)["containers"]
    if name is None and len(containers) == 1:
        return containers[0]
    for container in containers:
        if container["name"] == name:
            return container
    raise Untranslatable(f"no container {name!r}: the pod has {[c['name'] for c in containers]}")


def quantity(text: str | int) -> float:
    """A Kubernetes quantity as a number: "500m" -> 0.5, "2Gi" -> 2147483648."""
    text = str(text)
    if text.endswith("m"):
        return float(text[:-1]) / 1000
    for suffix, factor in _SUFFIXES.items():
        if text.endswith(suffix):
            return float(text[: -len(suffix)]) * factor
    return float(text)


def security_options(pod: Mapping, container: Mapping) -> dict:
    """user, group_add, read_only, cap_drop, cap_add and security_opt from the two contexts
    (the container's settings win over the pod's, as in Kubernetes)."""
    merged = {**pod.get("securityContext", {}), **container.get("securityContext", {})}
    uid, gid = merged.get("runAsUser"), merged.get("runAsGroup")
    if merged.get("runAsNonRoot") and not uid:
        raise Untranslatable(f"runAsNonRoot with runAsUser {uid!r}: give a non-zero runAsUser")
    options: dict = {}
    if uid is not None:
        options["user"] = f"{uid}:{gid}" if gid is not None else str(uid)
    if "fsGroup" in merged:
        options["group_add"] = [str(merged["fsGroup"])]
    if merged.get("readOnlyRootFilesystem"):
        options["read_only"] = True
    capabilities = merged.get("capabilities", {})
    if capabilities.get("drop"):
        options["cap_drop"] = list(capabilities["drop"])
    if capabilities.get("add"):
        options["cap_add"] = list(capabilities["add"])
    if merged.get("allowPrivilegeEscalation") is False:
        options["security_opt"] = ["no-new-privileges"]
    if merged.get("privileged"):
        options["privileged"] = True
    seccomp = merged.get("seccompProfile", {}).get("type", "RuntimeDefault")
    if seccomp != "RuntimeDefault":
        raise Untranslatable(f"seccompProfile {seccomp}: only RuntimeDefault maps to Docker's")
    return options


def environment(
    container: Mapping, config_maps: Mapping[str, Mapping], secrets: Mapping[str, Mapping]
) -> dict[str, str]:
    """The container's variables: envFrom first, then env (which wins), references resolved."""

    def source(kind: str, reference: Mapping) -> Mapping | None:
        found = (config_maps if kind == "configMap" else secrets).get(reference["name"])
        if found is None and not reference.get("optional"):
            raise Untranslatable(f"{kind} {reference['name']!r} is missing and not optional")
        return found

    variables: dict[str, str] = {}
    for entry in container.get("envFrom", []):
        if "configMapRef" in entry:
            variables.update(source("configMap", entry["configMapRef"]) or {})
        else:
            variables.update(source("secret", entry["secretRef"]) or {})
    for entry in container.get("env", []):
        if "value" in entry:
            variables[entry["name"]] = str(entry["value"])
            continue
        reference = entry["valueFrom"]
        for kind, key in (("configMap", "configMapKeyRef"), ("secret", "secretKeyRef")):
            if key in reference:
                values = source(kind, reference[key])
                if values is not None and reference[key]["key"] in values:
                    variables[entry["name"]] = str(values[reference[key]["key"]])
                elif not reference[key].get("optional"):
                    raise Untranslatable(f"{entry['name']}: no key {reference[key]['key']!r}")
                break
        else:
            raise Untranslatable(f"{entry['name']}: only ConfigMap and Secret references map")
    return variables


def env_file(text: str) -> dict[str, str]:
    """A kustomize env file (a configMapGenerator's `envs:`) as the data of the ConfigMap that
    kustomize makes of it, read as kustomize reads it: one NAME=value a line, leading blanks
    dropped, blank lines and lines that start with # skipped; the value is everything after the
    first `=`, as written (quotes and a trailing `# ...` included)."""
    data: dict[str, str] = {}
    for number, line in enumerate(text.splitlines(), start=1):
        line = line.lstrip()
        if not line or line.startswith("#"):
            continue
        name, equals, value = line.partition("=")
        if not equals:
            # kustomize would take the value from the environment of whoever builds it.
            raise Untranslatable(f"line {number}, {name!r}: no `=`, give the value in the file")
        data[name] = value
    return data


def volume_options(pod: Mapping, container: Mapping, claims: Mapping[str, Path]) -> dict:
    """tmpfs for each mounted emptyDir, volumes (binds) for each mounted claim."""
    volumes = {volume["name"]: volume for volume in pod.get("volumes", [])}
    tmpfs: dict[str, str] = {}
    binds: dict[str, dict[str, str]] = {}
    for mount in container.get("volumeMounts", []):
        volume = volumes[mount["name"]]
        mode = "ro" if mount.get("readOnly") else "rw"
        if "emptyDir" in volume:
            # An emptyDir is a directory anyone may write (0777), with files that may be run.
            flags = [mode, "exec", "mode=0777"]
            if "sizeLimit" in volume["emptyDir"]:
                flags.append(f"size={int(quantity(volume['emptyDir']['sizeLimit']))}")
            tmpfs[mount["mountPath"]] = ",".join(flags)
        elif "persistentVolumeClaim" in volume:
            claim = volume["persistentVolumeClaim"]["claimName"]
            if claim not in claims:
                raise Untranslatable(f"claim {claim!r}: give a host directory for it")
            binds[str(claims[claim])] = {"bind": mount["mountPath"], "mode": mode}
        else:
            kinds = sorted(set(volume) - {"name"})
            raise Untranslatable(f"volume {mount['name']!r} ({kinds}): only emptyDir and claims")
    options: dict = {}
    if tmpfs:
        options["tmpfs"] = tmpfs
    if binds:
        options["volumes"] = binds
    return options


def resource_options(container: Mapping) -> dict:
    limits = container.get("resources", {}).get("limits", {})
    options: dict = {}
    if "cpu" in limits:
        options["nano_cpus"] = int(quantity(limits["cpu"]) * 1e9)
    if "memory" in limits:
        options["mem_limit"] = int(quantity(limits["memory"]))
    return options


def docker_run_options(
    workload: Mapping,
    config_maps: Mapping[str, Mapping] | None = None,
    secrets: Mapping[str, Mapping] | None = None,
    claims: Mapping[str, Path] | None = None,
    container: str | None = None,
) -> dict:
    """The docker SDK's `containers.create` options for the workload's container: its command
    and arguments, security, environment, volumes and limits. `config_maps` and `secrets` map
    names to their data; `claims` maps claim names to host directories."""
    pod = pod_spec(workload)
    chosen = container_of(workload, container)
    options: dict = {
        **security_options(pod, chosen),
        "environment": environment(chosen, config_maps or {}, secrets or {}),
        **volume_options(pod, chosen, claims or {}),
        **resource_options(chosen),
    }
    if "command" in chosen:
        options["entrypoint"] = list(chosen["command"])
    if "args" in chosen:
        options["command"] = list(chosen["args"])
    if "workingDir" in chosen:
        options["working_dir"] = chosen["workingDir"]
    return options


def describe(options: Mapping) -> str:
    """The options as `docker run` flags, for reports."""
    flags = []
    if "user" in options:
        flags.append(f"--user {options['user']}")
    flags += [f"--group-add {group}" for group in options.get("group_add", [])]
    if options.get("read_only"):
        flags.append("--read-only")
    flags += [f"--cap-drop {cap}" for cap in options.get("cap_drop", [])]
    flags += [f"--security-opt {opt}" for opt in options.get("security_opt", [])]
    flags += [f"--tmpfs {path}:{spec}" for path, spec in options.get("tmpfs", {}).items()]
    binds = options.get("volumes", {}).values()
    flags += [f"-v CLAIM:{bind['bind']}:{bind['mode']}" for bind in binds]
    if "mem_limit" in options:
        flags.append(f"--memory {options['mem_limit'] // 2**20}m")
    if "nano_cpus" in options:
        flags.append(f"--cpus {options['nano_cpus'] / 1e9:g}")
    flags += [f"-e {name}={value}" for name, value in options.get("environment", {}).items()]
    if "entrypoint" in options:
        flags.append(f"--entrypoint {' '.join(options['entrypoint'])}")
    return " ".join(flags + options.get("command", []))
