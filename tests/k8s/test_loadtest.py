"""In-cluster Locust (k8s/loadtest), checked without a cluster: both variants (ui: the web UI;
job: a headless run judged against a target) render, validate strictly and are hardened like
Triton's pods; the ConfigMap carries the project's own files; workers reach the master, Triton's
NetworkPolicy admits them, and their URLs name Services of the cpu overlay. Then the Job's and the
workers' own command lines run as real Locust processes against a local Triton, laid out as the
pods would see their volumes: a run within the target's SLO exits 0, one that misses it exits 1."""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import subprocess
import sys
import tomllib
from collections.abc import Iterator, Mapping
from pathlib import Path
from subprocess import PIPE
from typing import Any
from urllib.parse import urlsplit

import kubernetes_validate
import numpy as np
import onnx
import pytest
import yaml
from onnx import TensorProto, helper, numpy_helper
from tokenizers import Tokenizer
from tokenizers.models import WordLevel
from tokenizers.pre_tokenizers import Whitespace
from tokenizers.processors import TemplateProcessing
from tokenizers.trainers import WordLevelTrainer

from tests.e2e.test_locust import finish
from tests.e2e.test_locust_images import SERVED as IMAGE_MODEL
from tests.e2e.test_locust_images import exported_vit
from tests.k8s.test_manifests import KUBERNETES_VERSION, of_kind
from tests.k8s.test_manifests import render as render_overlay
from tritonkit.specs import ClosedLoopLoad, DynamicBatchingKnobs, ServingKnobs, TargetSpec, TokensPayload, load_targets
from tritonkit.triton import model_config
from tritonkit.triton.onnx_signature import read_signature
from tritonkit.triton.repository import write_model
from tritonkit.triton.server import LocalServer, free_port

REPO = Path(__file__).resolve().parents[2]
LOADTEST = REPO / "k8s" / "loadtest"
VARIANTS = ("ui", "job")
DOCKERFILE = REPO / "loadtests" / "Dockerfile"
# The ConfigMap's keys and the files they must equal.
PROJECT_FILES = {
    "locustfile.py": REPO / "loadtests" / "locustfile.py",
    "shapes.py": REPO / "loadtests" / "shapes.py",
    "generation.py": REPO / "loadtests" / "generation.py",
    "targets.yaml": REPO / "targets" / "minilm.yaml",
    "master.conf": LOADTEST / "base" / "master.conf",
}
Object = dict[str, Any]


def render(variant: str) -> list[Object]:
    result = subprocess.run(
        ["kubectl", "kustomize", "--load-restrictor=LoadRestrictionsNone", str(LOADTEST / variant)],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    return [doc for doc in yaml.safe_load_all(result.stdout) if doc]


@pytest.fixture(scope="module")
def rendered() -> dict[str, list[Object]]:
    return {variant: render(variant) for variant in VARIANTS}


@pytest.fixture(scope="module")
def cpu() -> list[Object]:
    return render_overlay("cpu")


# -- reading the rendered objects -------------------------------------------------------------------


def workloads(objects: list[Object]) -> dict[str, Object]:
    """The Deployments and the Job, by their pods' component label (master, worker)."""
    found = [o for o in objects if o["kind"] in ("Deployment", "Job")]
    by_component = {o["spec"]["template"]["metadata"]["labels"]["app.kubernetes.io/component"]: o for o in found}
    assert len(by_component) == len(found), "two workloads share a component label"
    return by_component


def pods(objects: list[Object]) -> dict[str, Object]:
    return {component: w["spec"]["template"] for component, w in workloads(objects).items()}


def container(pod: Object) -> Object:
    (found,) = pod["spec"]["containers"]
    return found


def flag(args: list[str], name: str) -> str:
    positions = [i for i, a in enumerate(args) if a == name]
    assert len(positions) == 1, f"{name} given {len(positions)} times in {args}"
    return args[positions[0] + 1]


def named(objects: list[Object], kind: str, name: str) -> Object:
    (found,) = [o for o in of_kind(objects, kind) if o["metadata"]["name"] == name]
    return found


def config_map(objects: list[Object]) -> Object:
    (found,) = of_kind(objects, "ConfigMap")
    return found


def conf(objects: list[Object]) -> dict[str, str]:
    """The master's Locust config file (`key = value` lines), as the ConfigMap carries it."""
    return parse_conf(config_map(objects)["data"]["master.conf"])


def parse_conf(text: str) -> dict[str, str]:
    pairs = (line.split("=", 1) for line in text.splitlines() if line.strip() and not line.startswith("#"))
    return {key.strip(): value.strip() for key, value in pairs}


def model_of(settings: Mapping[str, str]) -> str:
    """The served model the locustfile asks for: `<model>_<variant>`."""
    return f"{settings['model']}_{settings['variant']}" if settings.get("variant") else settings["model"]


def job_target(objects: list[Object], directory: Path) -> TargetSpec:
    """The target the Job is judged against, read from the ConfigMap's targets file."""
    args = container(pods(objects)["master"])["args"]
    data = config_map(objects)["data"]
    mounted = Path(flag(args, "--targets"))
    assert mounted.parent.as_posix() == mount_path(pods(objects)["master"], "locust-files")
    (directory / mounted.name).write_text(data[mounted.name])
    by_name = {t.name: t for t in load_targets(directory / mounted.name).targets}
    return by_name[flag(args, "--target")]


def mount_path(pod: Object, volume_kind: str) -> str:
    """Where the container mounts the volume made from `volume_kind` (a ConfigMap's name prefix,
    `emptyDir` or `persistentVolumeClaim`)."""
    volumes = pod["spec"]["volumes"]
    names = [
        v["name"] for v in volumes if volume_kind in v or v.get("configMap", {}).get("name", "").startswith(volume_kind)
    ]
    (path,) = [m["mountPath"] for m in container(pod)["volumeMounts"] if m["name"] in names]
    return str(path)


def seconds(run_time: str) -> int:
    """Locust's --run-time (e.g. 30s, 2m, 1h30m) in seconds."""
    parts = re.findall(r"(\d+)([hms])", run_time)
    assert "".join(n + u for n, u in parts) == run_time, run_time
    return sum(int(n) * {"h": 3600, "m": 60, "s": 1}[u] for n, u in parts)


def every_stage() -> list[tuple[str, str]]:
    """Every instruction of every stage (continuation lines joined)."""
    text = re.sub(r"\\\n", " ", DOCKERFILE.read_text())
    lines = [line.strip() for line in text.splitlines() if line.strip() and not line.lstrip().startswith("#")]
    return [(op, rest) for op, rest in (line.split(None, 1) for line in lines)]


def dockerfile() -> list[tuple[str, str]]:
    """The final stage's instructions."""
    instructions = every_stage()
    last_from = max(i for i, (op, _) in enumerate(instructions) if op == "FROM")
    return instructions[last_from:]


def instruction(op: str) -> str:
    (found,) = [rest for name, rest in dockerfile() if name == op]
    return found


# -- the manifests ----------------------------------------------------------------------------------


@pytest.mark.parametrize("variant", VARIANTS)
def test_every_object_validates_strictly(rendered: dict[str, list[Object]], variant: str) -> None:
    kinds = {o["kind"] for o in rendered[variant]}
    assert {"ConfigMap", "Service", "Deployment"} <= kinds and ("Job" in kinds) == (variant == "job")
    for obj in rendered[variant]:
        assert obj["metadata"]["namespace"] == "tritonkit", obj["metadata"]["name"]
        kubernetes_validate.validate(obj, KUBERNETES_VERSION, strict=True)  # raises on unknown fields


@pytest.mark.parametrize("variant", VARIANTS)
def test_pods_are_hardened_like_tritons(rendered: dict[str, list[Object]], variant: str) -> None:
    templates = pods(rendered[variant])
    assert set(templates) == {"master", "worker"}
    for component, pod in templates.items():
        spec = pod["spec"]
        assert spec["automountServiceAccountToken"] is False, component
        security = spec["securityContext"]
        assert security["runAsNonRoot"] is True and security["seccompProfile"]["type"] == "RuntimeDefault"
        assert f"{security['runAsUser']}:{security['runAsGroup']}" == instruction("USER")  # the image's user
        c = container(pod)
        assert c["securityContext"]["allowPrivilegeEscalation"] is False
        assert c["securityContext"]["readOnlyRootFilesystem"] is True
        assert c["securityContext"]["capabilities"]["drop"] == ["ALL"]
        for kind in ("requests", "limits"):
            assert {"cpu", "memory"} <= c["resources"][kind].keys(), component
        # What Python and Locust write goes to an emptyDir, HOME included.
        assert mount_path(pod, "emptyDir") == "/tmp"
        assert {e["name"]: e["value"] for e in c["env"]}["HOME"] == "/tmp"


@pytest.mark.parametrize("variant", VARIANTS)
def test_the_config_map_carries_the_project_files_byte_for_byte(
    rendered: dict[str, list[Object]], variant: str
) -> None:
    generated = config_map(rendered[variant])
    assert "binaryData" not in generated
    assert {key: value.encode() for key, value in generated["data"].items()} == {
        key: path.read_bytes() for key, path in PROJECT_FILES.items()
    }
    for component, pod in pods(rendered[variant]).items():
        locustfile = Path(flag(container(pod)["args"], "-f"))
        assert locustfile.parent.as_posix() == mount_path(pod, "locust-files"), component
        assert locustfile.name in generated["data"]  # and shapes.py beside it, for its import


@pytest.mark.parametrize("variant", VARIANTS)
def test_workers_reach_the_master_through_its_service(rendered: dict[str, list[Object]], variant: str) -> None:
    objects = rendered[variant]
    master, worker = pods(objects)["master"], pods(objects)["worker"]
    service = named(objects, "Service", "locust-master")
    selector = service["spec"]["selector"]
    assert selector.items() <= master["metadata"]["labels"].items()
    assert not selector.items() <= worker["metadata"]["labels"].items()
    args = container(worker)["args"]
    assert "--worker" in args and flag(args, "--master-host") == service["metadata"]["name"]  # same namespace
    (port,) = service["spec"]["ports"]
    assert flag(args, "--master-port") == str(port["port"])
    ports = {p["name"]: p["containerPort"] for p in container(master)["ports"]}
    assert str(ports[port["targetPort"]]) == conf(objects)["master-bind-port"]
    assert "--master" in container(master)["args"]


@pytest.mark.parametrize("variant", VARIANTS)
def test_tritons_network_policy_admits_the_load_pods(
    rendered: dict[str, list[Object]], cpu: list[Object], variant: str
) -> None:
    (policy,) = of_kind(cpu, "NetworkPolicy")
    (inference,) = [r for r in policy["spec"]["ingress"] if {p["port"] for p in r["ports"]} == {"http", "grpc"}]
    selectors = [peer["podSelector"]["matchLabels"] for peer in inference["from"] if set(peer) == {"podSelector"}]
    assert selectors
    for component, pod in pods(rendered[variant]).items():
        labels = pod["metadata"]["labels"]
        assert any(s.items() <= labels.items() for s in selectors), component
    # A podSelector alone admits pods of the policy's own namespace.
    assert {o["metadata"]["namespace"] for o in rendered[variant]} == {policy["metadata"]["namespace"]}


@pytest.mark.parametrize("variant", VARIANTS)
def test_the_urls_name_triton_services_of_the_cpu_overlay(
    rendered: dict[str, list[Object]], cpu: list[Object], variant: str
) -> None:
    settings = conf(rendered[variant])
    http = urlsplit(settings["host"])
    grpc = urlsplit(f"//{settings['grpc-url']}")
    for url, protocol in ((http, "http"), (grpc, "grpc")):
        assert url.hostname is not None and url.port is not None
        name, namespace, svc = url.hostname.split(".")
        assert svc == "svc"
        service = named(cpu, "Service", name)
        assert service["metadata"]["namespace"] == namespace
        assert {p["port"]: p["name"] for p in service["spec"]["ports"]}.get(url.port) == protocol, url.geturl()
    assert http.scheme == "http" and settings["protocol"] in ("http", "grpc")


@pytest.mark.parametrize("variant", VARIANTS)
def test_workers_read_tokenizers_and_image_processors_from_the_repository_triton_serves(
    rendered: dict[str, list[Object]], cpu: list[Object], variant: str
) -> None:
    worker = pods(rendered[variant])["worker"]
    (claim,) = [v["persistentVolumeClaim"] for v in worker["spec"]["volumes"] if "persistentVolumeClaim" in v]
    assert claim["readOnly"] is True
    served = named(cpu, "PersistentVolumeClaim", claim["claimName"])
    assert served["metadata"]["namespace"] == workloads(rendered[variant])["worker"]["metadata"]["namespace"]
    (mount,) = [
        m for m in container(worker)["volumeMounts"] if m["mountPath"] == mount_path(worker, "persistentVolumeClaim")
    ]
    assert mount["readOnly"] is True
    # The locustfile's default tokenizer and image processor are model_repository/<model>/tokenizer
    # and model_repository/<model>/preprocessor under the working directory, which is the image's
    # WORKDIR (with export/texts, the default --texts, copied in).
    assert mount["mountPath"] == f"{container(worker)['workingDir']}/model_repository"
    assert instruction("WORKDIR") == container(worker)["workingDir"]
    assert ("COPY", "export/texts/ export/texts/") in dockerfile()


def test_the_image_installs_what_it_copies_without_torch() -> None:
    text = DOCKERFILE.read_text()
    assert re.search(r"^ARG PYTHON_IMAGE=python:3\.11\.\d+-slim-\w+$", text, re.MULTILINE)
    assert '".[load]"' in text and "torch" not in re.sub(r"#.*", "", text)
    assert instruction("ENTRYPOINT") == '["locust"]'
    included = {
        line[1:].rstrip("/") for line in (REPO / ".dockerignore").read_text().splitlines() if line.startswith("!")
    }
    copied = re.findall(r"^COPY (?!--from)(.+) \S+$", text, re.MULTILINE)
    sources = {source.rstrip("/") for sources in copied for source in sources.split()}
    assert sources and sources <= included, sources - included


def test_the_image_installs_what_images_payloads_need() -> None:
    """The image processors (transformers) and the default photographs (scikit-image) at the
    versions of the export extra, which brings them everywhere else; no warning about the absent
    PyTorch at every worker's start."""
    extras = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["optional-dependencies"]
    wanted = [r for r in extras["export"] if re.match(r"(transformers|scikit-image)\b", r)]
    assert len(wanted) == 2, extras["export"]
    install = next(rest for op, rest in every_stage() if op == "RUN" and "pip install" in rest)
    assert all(f'"{requirement}"' in install for requirement in wanted), install
    environment = instruction("ENV")
    assert "TRANSFORMERS_NO_ADVISORY_WARNINGS=1" in environment.split()


def test_the_image_is_named_in_one_place(rendered: dict[str, list[Object]]) -> None:
    images = {container(pod)["image"] for objects in rendered.values() for pod in pods(objects).values()}
    (image,) = images
    registry = image.split("/")[0]
    mentions = [p.relative_to(LOADTEST).as_posix() for p in LOADTEST.rglob("*.yaml") if registry in p.read_text()]
    assert mentions == ["base/kustomization.yaml"]


def test_the_ui_serves_locusts_web_ui_to_port_forwarding(rendered: dict[str, list[Object]]) -> None:
    objects = rendered["ui"]
    master = workloads(objects)["master"]
    assert master["kind"] == "Deployment" and master["spec"]["replicas"] == 1
    assert master["spec"]["strategy"]["type"] == "Recreate"  # never two masters splitting the workers
    service = named(objects, "Service", "locust-ui")
    assert service["spec"]["type"] == "ClusterIP"
    assert service["spec"]["selector"].items() <= master["spec"]["template"]["metadata"]["labels"].items()
    (port,) = service["spec"]["ports"]
    c = container(master["spec"]["template"])
    assert {p["name"]: p["containerPort"] for p in c["ports"]}[port["targetPort"]] == port["port"] == 8089
    assert c["readinessProbe"]["httpGet"]["port"] == port["targetPort"]
    assert "--headless" not in c["args"]


def test_the_job_runs_a_target_of_its_targets_file_once(rendered: dict[str, list[Object]], tmp_path: Path) -> None:
    objects = rendered["job"]
    job = workloads(objects)["master"]
    spec = job["spec"]
    args = container(spec["template"])["args"]
    assert job["kind"] == "Job" and spec["backoffLimit"] == 0 and spec["template"]["spec"]["restartPolicy"] == "Never"
    assert {"--master", "--headless"} <= set(args)
    run_s, wait_s = seconds(flag(args, "--run-time")), int(flag(args, "--expect-workers-max-wait"))
    assert spec["activeDeadlineSeconds"] > wait_s + run_s and spec["ttlSecondsAfterFinished"] > 0
    assert int(flag(args, "--expect-workers")) == workloads(objects)["worker"]["spec"]["replicas"]

    # The run is the target's: its model, outputs and payload, its concurrency as Locust's users
    # (both closed loops), and long enough for its warmup and measured duration.
    target = job_target(objects, tmp_path)
    settings = conf(objects)
    assert target.model == model_of(settings)
    assert list(target.outputs) == settings["outputs"].split(",")
    assert isinstance(target.load, ClosedLoopLoad) and target.load.protocol == settings["protocol"]
    assert int(flag(args, "--users")) == target.load.concurrency
    assert run_s >= target.load.warmup_s + target.load.duration_s
    payload = target.payload
    assert isinstance(payload, TokensPayload) and settings["payload"] == payload.kind
    assert (settings["lengths"], int(settings["sequence-length"])) == (payload.lengths, payload.sequence_length)


# -- the command lines, run -------------------------------------------------------------------------

# The image's ENTRYPOINT (["locust"], checked above), in this interpreter.
ENTRYPOINT = [sys.executable, "-m", "locust"]
TEXTS = REPO / "export" / "texts"  # what the Dockerfile copies into the image's WORKDIR
RUN = {"--users": "4", "--spawn-rate": "4", "--expect-workers": "1"}  # one worker


def token_model(path: Path) -> Path:
    """input_ids, attention_mask [batch, sequence] -> sentence_embedding [batch, 4]: what the
    locustfile sends a MiniLM and asks back, at a tiny model's cost."""
    tokens = [
        helper.make_tensor_value_info(n, TensorProto.INT64, ["batch", "sequence"])
        for n in ("input_ids", "attention_mask")
    ]
    output = helper.make_tensor_value_info("sentence_embedding", TensorProto.FLOAT, ["batch", 4])
    nodes = [
        helper.make_node("Mul", ["input_ids", "attention_mask"], ["kept"]),
        helper.make_node("Cast", ["kept"], ["kept_float"], to=TensorProto.FLOAT),
        helper.make_node("ReduceSum", ["kept_float", "axes"], ["total"], keepdims=1),
        helper.make_node("Mul", ["total", "scale"], ["sentence_embedding"]),
    ]
    constants = [
        numpy_helper.from_array(np.array([1], dtype=np.int64), "axes"),
        numpy_helper.from_array(np.arange(1, 5, dtype=np.float32), "scale"),
    ]
    graph = helper.make_graph(nodes, "tokens", tokens, [output], constants)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=9)
    onnx.checker.check_model(model, full_check=True)
    onnx.save(model, str(path))
    return path


def tokenizer_file(path: Path) -> Path:
    """A word-level tokenizer learnt from the sentences the workers send, with BERT's specials."""
    tokenizer = Tokenizer(WordLevel(unk_token="[UNK]"))
    tokenizer.pre_tokenizer = Whitespace()
    tokenizer.train(
        [str(TEXTS / "evaluation.txt")], WordLevelTrainer(special_tokens=["[PAD]", "[UNK]", "[CLS]", "[SEP]"])
    )
    specials = [(token, tokenizer.token_to_id(token)) for token in ("[CLS]", "[SEP]")]
    tokenizer.post_processor = TemplateProcessing(single="[CLS] $A [SEP]", special_tokens=specials)
    tokenizer.save(str(path))
    return path


@pytest.fixture(scope="module")
def served(rendered: dict[str, list[Object]], tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalServer]:
    """The model the Job's settings name, with its tokenizer beside it as the exporter writes it."""
    root = tmp_path_factory.mktemp("loadtest-model")
    onnx_path = token_model(root / "model.onnx")
    knobs = ServingKnobs(max_batch_size=8, dynamic_batching=DynamicBatchingKnobs())
    config = model_config.build_config(model_of(conf(rendered["job"])), read_signature(onnx_path), knobs)
    write_model(
        root / "repository",
        config,
        onnx_path,
        extra_files={"tokenizer/tokenizer.json": tokenizer_file(root / "tokenizer.json")},
    )
    with LocalServer(root / "repository") as running:
        yield running


def lay_out(pod: Object, root: Path, files: Mapping[str, str], repository: Path) -> None:
    """The container's filesystem under `root`: the image's WORKDIR content, and each volume where
    it is mounted (the ConfigMap as the kubelet writes it, symlinks through ..data)."""
    c = container(pod)
    shutil.copytree(TEXTS, inside(root, c["workingDir"]) / "export" / "texts")
    volumes = {v["name"]: v for v in pod["spec"]["volumes"]}
    for mount in c["volumeMounts"]:
        target, volume = inside(root, mount["mountPath"]), volumes[mount["name"]]
        target.parent.mkdir(parents=True, exist_ok=True)
        if "configMap" in volume:
            snapshot = target / "..2026_01_01_00_00_00.000000000"
            snapshot.mkdir(parents=True)
            for key, text in files.items():
                (snapshot / key).write_text(text)
                (target / key).symlink_to(Path("..data") / key)
            (target / "..data").symlink_to(snapshot.name)
        elif "persistentVolumeClaim" in volume:
            target.symlink_to(repository, target_is_directory=True)
        else:
            target.mkdir()


def inside(root: Path, path: str) -> Path:
    return root / path.lstrip("/")


def localized(args: list[str], values: Mapping[str, str], root: Path, run: Mapping[str, str]) -> list[str]:
    """The container's args with hosts and ports replaced (`values`), paths under `root`, and
    the run shortened (`run`: flag -> value)."""
    result = [inside(root, a).as_posix() if a.startswith("/") else values.get(a, a) for a in args]
    for name, value in run.items():
        result[result.index(name) + 1] = value
    return result


def start(
    pod: Object, root: Path, values: Mapping[str, str], run: Mapping[str, str], log: Path | None
) -> subprocess.Popen[str]:
    """The container's command in its working directory and environment, its output to `log`, or
    to pipes (which `finish` reads) without one."""
    c = container(pod)
    env = {
        e["name"]: inside(root, e["value"]).as_posix() if e["value"].startswith("/") else e["value"] for e in c["env"]
    }
    command = [*ENTRYPOINT, *localized(c["args"], values, root, run)]
    cwd, full_env = inside(root, c["workingDir"]), os.environ | env
    if log is None:
        return subprocess.Popen(command, cwd=cwd, env=full_env, stdout=PIPE, stderr=PIPE, text=True)
    with log.open("w") as file:
        return subprocess.Popen(command, cwd=cwd, env=full_env, stdout=file, stderr=subprocess.STDOUT, text=True)


def run_job(
    objects: list[Object],
    server: LocalServer,
    root: Path,
    targets: str | None = None,
    conf_values: Mapping[str, str] | None = None,
    run_time_s: int = 10,
) -> subprocess.CompletedProcess[str]:
    """One master (the Job's pod) and one worker (a worker pod) as the manifests run them, with
    only Triton's and the master's addresses made local; `targets` replaces the targets file,
    `conf_values` some of master.conf's values, and `run_time_s` is the run's cap."""
    settings, port = conf(objects), free_port()
    (service_port,) = named(objects, "Service", "locust-master")["spec"]["ports"]
    values = {
        settings["host"]: f"http://{server.http_url}",
        settings["grpc-url"]: server.grpc_url,
        settings["master-bind-host"]: "127.0.0.1",
        "locust-master": "127.0.0.1",
        str(service_port["port"]): str(port),
    }
    files = dict(config_map(objects)["data"])
    master_conf = {**parse_conf(files["master.conf"]), **(conf_values or {})}
    files["master.conf"] = "\n".join(f"{k} = {values.get(v, v)}" for k, v in master_conf.items())
    if targets is not None:
        files["targets.yaml"] = targets
    for component, pod in pods(objects).items():
        lay_out(pod, root / component, files, server.model_repository)
    master = start(pods(objects)["master"], root / "master", values, {**RUN, "--run-time": f"{run_time_s}s"}, log=None)
    processes = [master]
    try:
        processes.append(start(pods(objects)["worker"], root / "worker", values, {}, log=root / "worker.log"))
        result = finish(master, timeout=run_time_s + 60)
        # The master tells its workers to quit; gRPC under gevent can hang a worker's exit (see
        # `finish`), so one still running is killed below.
        with contextlib.suppress(subprocess.TimeoutExpired):
            processes[1].wait(timeout=20)
        return result
    finally:
        for process in processes:
            if process.poll() is None:
                process.kill()
                process.wait()


def logs(root: Path, result: subprocess.CompletedProcess[str]) -> str:
    worker = (root / "worker.log").read_text()
    return f"{result.stdout[-2000:]}\n{result.stderr[-3000:]}\nworker:\n{worker[-3000:]}"


@pytest.mark.integration
def test_the_jobs_command_lines_pass_a_met_slo(
    rendered: dict[str, list[Object]], served: LocalServer, tmp_path: Path
) -> None:
    result = run_job(rendered["job"], served, tmp_path)
    assert result.returncode == 0, logs(tmp_path, result)
    assert "1 of 1 targets met their SLO" in result.stdout, logs(tmp_path, result)


@pytest.mark.integration
def test_the_jobs_command_lines_fail_a_missed_slo(
    rendered: dict[str, list[Object]], served: LocalServer, tmp_path: Path
) -> None:
    objects = rendered["job"]
    name = flag(container(pods(objects)["master"])["args"], "--target")
    spec = yaml.safe_load(config_map(objects)["data"]["targets.yaml"])
    for target in spec["targets"]:
        if target["name"] == name:
            target["slo"] = {**target["slo"], "p99_ms": 0.001}
    result = run_job(objects, served, tmp_path, targets=yaml.safe_dump(spec))
    assert result.returncode == 1, logs(tmp_path, result)
    assert "0 of 1 targets met their SLO" in result.stdout and "✗ p99" in result.stdout, logs(tmp_path, result)


@pytest.fixture(scope="module")
def image_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalServer]:
    """A tiny ViT classifier as `tritonkit export` writes it: its image processor beside it."""
    with LocalServer(exported_vit(tmp_path_factory.mktemp("loadtest-image-model"))) as running:
        yield running


@pytest.mark.integration
def test_the_jobs_command_lines_drive_an_image_classifier(
    rendered: dict[str, list[Object]], image_server: LocalServer, tmp_path: Path
) -> None:
    """master.conf switched to an image classifier, as its comment says: the worker reads the
    model's image processor from the mounted repository and sends photographs (scikit-image's, which
    the image installs); the verdict is the target's."""
    objects = rendered["job"]
    model, variant = IMAGE_MODEL.rsplit("_", 1)
    name = flag(container(pods(objects)["master"])["args"], "--target")
    load = {"mode": "closed", "concurrency": 4, "warmup_s": 0.5, "window_s": 1.0, "duration_s": 4.0}
    target = {"name": name, "model": IMAGE_MODEL, "load": load, "payload": {"kind": "images"}, "slo": {"p99_ms": 5000}}
    image_conf = {"model": model, "variant": variant, "outputs": "logits", "payload": "images"}
    # The worker's first user loads the image processor (transformers' import takes seconds on a
    # busy machine); the run ends once its records span the target's 4.5 s, well before the cap.
    result = run_job(objects, image_server, tmp_path, yaml.safe_dump({"targets": [target]}), image_conf, 120)
    assert result.returncode == 0, logs(tmp_path, result)
    assert "1 of 1 targets met their SLO" in result.stdout, logs(tmp_path, result)
