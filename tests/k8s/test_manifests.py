"""The Kubernetes manifests, checked without a cluster: every overlay renders with kustomize,
every object validates strictly against the Kubernetes 1.32 schemas, and the serving policies
hold for every workload of every overlay, and of an overlay `tritonkit k8s` generates with every
option on (GPU, chosen models, scale to zero, models from object storage)."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

from tritonkit.k8s.overlay import DIGEST_SKIP, OverlaySpec, Resources, write_overlay
from tritonkit.triton.container import HTTP_MAX_INPUT_SIZE, NGC_IMAGE, TOKENIZERS_IMAGE

K8S = Path(__file__).resolve().parents[2] / "k8s"
OVERLAYS = sorted(p.parent.name for p in (K8S / "overlays").glob("*/kustomization.yaml"))
KUBERNETES_VERSION = "1.32.0"

if shutil.which("kubectl") is None:
    pytest.skip("kubectl (with kustomize) is not installed; .ci/run installs it", allow_module_level=True)


# Every option of `tritonkit k8s` at once (models are not checked against a repository here;
# --image-tag is the one left out: a digest replaces it).
DIGEST = "sha256:" + "0123456789abcdef" * 4
EVERYTHING = OverlaySpec(
    flavour="gpu",
    namespace="ml",
    models=("minilm_fp32_latency",),
    image_digest=DIGEST,
    resources=Resources(cpu_request="3", memory_limit="24Gi"),
    max_replicas=6,
    scale_to_zero=True,
    capacity_per_replica=38,
    models_from="s3://acme-models/minilm",
    models_region="eu-west-1",
)


def render(overlay: str) -> list[dict[str, Any]]:
    return render_dir(K8S / "overlays" / overlay)


def render_dir(directory: Path) -> list[dict[str, Any]]:
    result = subprocess.run(["kubectl", "kustomize", str(directory)], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    return [doc for doc in yaml.safe_load_all(result.stdout) if doc]


def generated(tmp_path: Path, spec: OverlaySpec = EVERYTHING, repository: Path | None = None) -> list[dict[str, Any]]:
    out = tmp_path / "deploy" / "minilm"
    write_overlay(spec, K8S, out, repository=repository)
    return render_dir(out)


def tokenizer_repository(root: Path) -> Path:
    """A repository whose model imports `tokenizers`, as a `<name>_text` model's tokenizer does."""
    model = root / "repository" / "minilm_text_tokenizer"
    (model / "1").mkdir(parents=True)
    (model / "1" / "model.py").write_text("import numpy as np\nfrom tokenizers import Tokenizer\n")
    (model / "config.pbtxt").write_text('name: "minilm_text_tokenizer"\nbackend: "python"\nmax_batch_size: 8\n')
    return model.parent


def generated_for_tokenizers(tmp_path: Path) -> list[dict[str, Any]]:
    """`tritonkit k8s --flavour gpu` over a repository that needs the derived image."""
    return generated(tmp_path, OverlaySpec(flavour="gpu", namespace="ml"), tokenizer_repository(tmp_path))


@pytest.fixture(scope="module", params=[*OVERLAYS, "generated", "generated-tokenizers"])
def objects(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> list[dict[str, Any]]:
    if request.param == "generated":
        return generated(tmp_path_factory.mktemp("overlay"))
    if request.param == "generated-tokenizers":
        return generated_for_tokenizers(tmp_path_factory.mktemp("overlay"))
    return render(request.param)


def of_kind(objects: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [o for o in objects if o["kind"] == kind]


def deployment(objects: list[dict[str, Any]]) -> dict[str, Any]:
    (found,) = of_kind(objects, "Deployment")
    return found


def container(objects: list[dict[str, Any]]) -> dict[str, Any]:
    (found,) = deployment(objects)["spec"]["template"]["spec"]["containers"]
    return found


def argument(objects: list[dict[str, Any]], flag: str) -> str:
    values = [a.split("=", 1)[1] for a in container(objects)["args"] if a.startswith(f"{flag}=")]
    assert len(values) == 1, f"{flag} given {len(values)} times"
    return values[0]


def test_overlays_exist() -> None:
    assert {"cpu", "gpu", "serverless"} <= set(OVERLAYS)


# Custom resources have no schema in kubernetes-validate: their own tests check their fields.
CUSTOM_RESOURCES = {("keda.sh/v1alpha1", "ScaledObject")}


def test_every_object_validates_strictly(objects: list[dict[str, Any]]) -> None:
    for obj in objects:
        if (obj["apiVersion"], obj["kind"]) not in CUSTOM_RESOURCES:
            kubernetes_validate.validate(obj, KUBERNETES_VERSION, strict=True)  # raises on unknown fields


def test_strict_validation_rejects_an_unknown_field(objects: list[dict[str, Any]]) -> None:
    broken = yaml.safe_load(yaml.safe_dump(deployment(objects)))
    broken["spec"]["template"]["spec"]["containers"][0]["livenessProbes"] = {}
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(broken, KUBERNETES_VERSION, strict=True)


def test_probes_watch_triton_health_and_allow_for_model_loading(objects: list[dict[str, Any]]) -> None:
    c = container(objects)
    assert c["livenessProbe"]["httpGet"]["path"] == "/v2/health/live"
    assert c["readinessProbe"]["httpGet"]["path"] == "/v2/health/ready"
    startup = c["startupProbe"]
    assert startup["httpGet"]["path"] == "/v2/health/ready"
    assert startup["periodSeconds"] * startup["failureThreshold"] >= 180  # minutes of model loading
    assert {p["name"]: p["containerPort"] for p in c["ports"]} == {"http": 8000, "grpc": 8001, "metrics": 8002}


def test_resources_are_requested_and_limited(objects: list[dict[str, Any]]) -> None:
    pod = deployment(objects)["spec"]["template"]["spec"]
    for c in pod["containers"] + pod.get("initContainers", []):
        for kind in ("requests", "limits"):
            assert {"cpu", "memory"} <= c["resources"][kind].keys(), c["name"]


def test_pods_are_hardened(objects: list[dict[str, Any]]) -> None:
    pod = deployment(objects)["spec"]["template"]["spec"]
    assert pod["automountServiceAccountToken"] is False
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["runAsUser"] >= 10000  # no host account's UID
    assert {e["name"]: e.get("value") for e in container(objects)["env"]}["HOME"] == "/tmp"
    assert pod["securityContext"]["seccompProfile"]["type"] == "RuntimeDefault"
    for c in pod["containers"] + pod.get("initContainers", []):
        security = c["securityContext"]
        assert security["allowPrivilegeEscalation"] is False
        assert security["readOnlyRootFilesystem"] is True
        assert security["capabilities"]["drop"] == ["ALL"]


def test_what_triton_writes_is_on_empty_dirs(objects: list[dict[str, Any]]) -> None:
    pod = deployment(objects)["spec"]["template"]["spec"]
    volumes = {v["name"]: v for v in pod["volumes"]}
    mounts = {m["mountPath"]: m for m in container(objects)["volumeMounts"]}
    assert "emptyDir" in volumes[mounts["/tmp"]["name"]]
    assert volumes[mounts["/dev/shm"]["name"]]["emptyDir"]["medium"] == "Memory"
    assert mounts["/models"]["readOnly"] is True
    assert argument(objects, "--model-repository") == "/models"


def test_shutdown_fits_in_the_grace_period(objects: list[dict[str, Any]]) -> None:
    pod = deployment(objects)["spec"]["template"]["spec"]
    command = container(objects)["lifecycle"]["preStop"]["exec"]["command"]
    assert command[0] == "sleep"
    assert int(command[1]) + int(argument(objects, "--exit-timeout-secs")) < pod["terminationGracePeriodSeconds"]


def test_rollouts_never_drop_below_capacity(objects: list[dict[str, Any]]) -> None:
    strategy = deployment(objects)["spec"]["strategy"]
    assert strategy["type"] == "RollingUpdate" and strategy["rollingUpdate"]["maxUnavailable"] == 0


def test_model_control_and_repository_apis_are_closed(objects: list[dict[str, Any]]) -> None:
    c = container(objects)
    mode = argument(objects, "--model-control-mode")
    loads = [a for a in c["args"] if a.startswith("--load-model=")]
    # The repository is fixed at start: all of it (none), or the chosen models (explicit).
    assert (mode, bool(loads)) in {("none", False), ("explicit", True)}
    assert "--disable-auto-complete-config" in c["args"]
    for flag in ("--http-restricted-api", "--grpc-restricted-protocol"):  # the same names in 2.51 and 2.71
        apis, header = argument(objects, flag).split(":")
        assert {"model-repository", "logging", "trace", "shared-memory"} <= set(apis.split(","))
        assert header == "tritonkit-admin=$(POD_UID)"  # a per-pod secret no client knows
    (uid,) = [e for e in c["env"] if e["name"] == "POD_UID"]
    assert uid["valueFrom"]["fieldRef"]["fieldPath"] == "metadata.uid"


def test_selectors_pick_the_triton_pods(objects: list[dict[str, Any]]) -> None:
    labels = deployment(objects)["spec"]["template"]["metadata"]["labels"]

    def selects(selector: dict[str, str]) -> bool:
        return bool(selector) and all(labels.get(k) == v for k, v in selector.items())

    for service in of_kind(objects, "Service"):
        assert selects(service["spec"]["selector"]), service["metadata"]["name"]
    (pdb,) = of_kind(objects, "PodDisruptionBudget")
    assert selects(pdb["spec"]["selector"]["matchLabels"])
    # A drain can always proceed: fewer pods must stay up than the autoscaler keeps.
    if "minAvailable" in pdb["spec"]:
        assert pdb["spec"]["minAvailable"] < replica_bounds(objects)[0]
    else:
        assert pdb["spec"]["maxUnavailable"] >= 1
    (policy,) = of_kind(objects, "NetworkPolicy")
    assert selects(policy["spec"]["podSelector"]["matchLabels"])


def replica_bounds(objects: list[dict[str, Any]]) -> tuple[int, int]:
    """(lowest, highest) replica count of the one autoscaler: the HPA or KEDA's ScaledObject."""
    hpas, scaled = of_kind(objects, "HorizontalPodAutoscaler"), of_kind(objects, "ScaledObject")
    assert len(hpas) + len(scaled) == 1, "exactly one autoscaler: two would fight over the replica count"
    if hpas:
        return hpas[0]["spec"]["minReplicas"], hpas[0]["spec"]["maxReplicas"]
    return scaled[0]["spec"]["minReplicaCount"], scaled[0]["spec"]["maxReplicaCount"]


def test_the_autoscaler_owns_the_replica_count(objects: list[dict[str, Any]]) -> None:
    assert "replicas" not in deployment(objects)["spec"]  # an applied count would fight the autoscaler
    low, high = replica_bounds(objects)
    assert low < high


def test_the_hpa_scales_on_queueing() -> None:
    (hpa,) = of_kind(render("cpu"), "HorizontalPodAutoscaler")
    spec = hpa["spec"]
    assert spec["scaleTargetRef"] == {"apiVersion": "apps/v1", "kind": "Deployment", "name": "triton"}
    assert spec["minReplicas"] > 1  # a spare replica for drains and rollouts
    (metric,) = spec["metrics"]
    assert metric["pods"]["metric"]["name"] == "tritonkit_queue_compute_ratio"
    assert metric["pods"]["target"] == {"type": "AverageValue", "averageValue": "1"}
    behavior = spec["behavior"]
    assert behavior["scaleDown"]["stabilizationWindowSeconds"] > behavior["scaleUp"]["stabilizationWindowSeconds"]


# The fields of KEDA 2.x's ScaledObject spec (keda.sh/v1alpha1): a CRD, so no schema checks it here.
SCALED_OBJECT_FIELDS = {
    "scaleTargetRef", "pollingInterval", "cooldownPeriod", "initialCooldownPeriod", "idleReplicaCount",
    "minReplicaCount", "maxReplicaCount", "fallback", "advanced", "triggers",
}  # fmt: skip
TRIGGER_FIELDS = {"type", "name", "metadata", "metricType", "authenticationRef", "useCachedMetrics"}


@pytest.mark.parametrize("overlay", ["serverless", "generated"])
def test_scale_to_zero_wakes_on_arrivals_and_scales_on_queueing(overlay: str, tmp_path: Path) -> None:
    objects = generated(tmp_path) if overlay == "generated" else render(overlay)
    (scaled,) = of_kind(objects, "ScaledObject")
    assert scaled["apiVersion"] == "keda.sh/v1alpha1"
    spec = scaled["spec"]
    assert set(spec) <= SCALED_OBJECT_FIELDS
    assert spec["scaleTargetRef"]["name"] == deployment(objects)["metadata"]["name"]
    assert spec["minReplicaCount"] == 0 and spec["cooldownPeriod"] >= 300
    assert spec["fallback"]["replicas"] >= 1
    (base_hpa,) = of_kind(render("cpu"), "HorizontalPodAutoscaler")
    assert spec["advanced"]["horizontalPodAutoscalerConfig"]["behavior"] == base_hpa["spec"]["behavior"]
    triggers = {t["name"]: t for t in spec["triggers"]}
    for trigger in triggers.values():
        assert set(trigger) <= TRIGGER_FIELDS and trigger["type"] == "prometheus"
        assert all(isinstance(v, str) for v in trigger["metadata"].values())  # KEDA reads strings only
        namespace = deployment(objects)["metadata"]["namespace"]
        assert f'namespace="{namespace}"' in trigger["metadata"]["query"]
    # The HPA's signal and target, from the recording rule the HPA's adapter serves.
    queueing = triggers["queueing"]["metadata"]
    assert queueing["query"].startswith("sum(tritonkit:queue_compute_ratio:pod_rate1m{")
    assert queueing["threshold"] == base_hpa["spec"]["metrics"][0]["pods"]["target"]["averageValue"]
    # Triton exports nothing at zero pods: waking up needs a series that exists without them.
    arrivals = triggers["arrivals"]["metadata"]
    assert "nv_" not in arrivals["query"] and "tritonkit:" not in arrivals["query"]
    assert arrivals["activationThreshold"] == "0" and float(arrivals["threshold"]) > 0


def test_the_generated_overlay_carries_every_choice(tmp_path: Path) -> None:
    objects = generated(tmp_path)
    assert {o["metadata"]["namespace"] for o in objects} == {"ml"}
    c = container(objects)
    assert c["image"] == f"nvcr.io/nvidia/tritonserver@{DIGEST}"
    assert DIGEST_SKIP not in deployment(objects)["metadata"]["annotations"]  # pinned: no skip needed
    assert argument(objects, "--load-model") == "minilm_fp32_latency"
    assert c["resources"]["requests"]["cpu"] == "3" and c["resources"]["limits"]["memory"] == "24Gi"
    assert c["resources"]["limits"]["nvidia.com/gpu"] == 1
    (scaled,) = of_kind(objects, "ScaledObject")
    assert scaled["spec"]["maxReplicaCount"] == 6
    assert {t["name"]: t["metadata"]["threshold"] for t in scaled["spec"]["triggers"]}["arrivals"] == "38"
    (source,) = of_kind(objects, "ConfigMap")
    assert source["data"] == {"url": "s3://acme-models/minilm", "region": "eu-west-1"}


def test_models_from_object_storage_are_fetched_into_an_empty_dir(tmp_path: Path) -> None:
    objects = generated(tmp_path)
    assert not of_kind(objects, "PersistentVolumeClaim")
    pod = deployment(objects)["spec"]["template"]["spec"]
    (fetch,) = pod["initContainers"]
    models = {v["name"]: v for v in pod["volumes"]}["models"]
    assert set(models) == {"name", "emptyDir"}
    assert {m["mountPath"]: m.get("readOnly", False) for m in fetch["volumeMounts"]}["/models"] is False
    (source,) = of_kind(objects, "ConfigMap")
    (url,) = [e for e in fetch["env"] if e["name"] == "MODEL_REPOSITORY_URL"]
    assert url["valueFrom"]["configMapKeyRef"] == {"name": source["metadata"]["name"], "key": "url"}


def test_the_fetch_script_rejects_a_url_it_cannot_fetch(tmp_path: Path) -> None:
    pod = deployment(generated(tmp_path))["spec"]["template"]["spec"]
    (fetch,) = pod["initContainers"]
    assert fetch["command"] == ["sh", "-c"]
    result = subprocess.run(
        ["sh", "-c", fetch["args"][0]],
        env={"MODEL_REPOSITORY_URL": "https://example.com/models", "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 2
    assert "key url: expected s3://BUCKET/PATH or gs://BUCKET/PATH, got 'https://example.com/models'" in result.stderr


def test_grpc_is_served_headless_and_http_and_metrics_by_cluster_ip(objects: list[dict[str, Any]]) -> None:
    services = {s["metadata"]["name"]: s["spec"] for s in of_kind(objects, "Service")}
    assert services["triton-grpc"]["clusterIP"] == "None"
    assert [p["name"] for p in services["triton-grpc"]["ports"]] == ["grpc"]
    assert {p["name"] for p in services["triton"]["ports"]} == {"http", "metrics"}


def test_network_policy_opens_inference_to_clients_and_metrics_to_monitoring(objects: list[dict[str, Any]]) -> None:
    (policy,) = of_kind(objects, "NetworkPolicy")
    rules = {tuple(sorted(p["port"] for p in rule["ports"])): rule["from"] for rule in policy["spec"]["ingress"]}
    assert set(rules) == {("grpc", "http"), ("metrics",)}
    clients = {"tritonkit.io/inference-client": "true"}
    assert {"podSelector": {"matchLabels": clients}} in rules[("grpc", "http")]  # clients, not Triton's labels
    assert {"namespaceSelector": {"matchLabels": clients}} in rules[("grpc", "http")]
    (monitoring,) = rules[("metrics",)]
    assert monitoring["namespaceSelector"]["matchLabels"] == {"kubernetes.io/metadata.name": "monitoring"}


def test_the_image_is_pinned_by_tag_or_digest_in_one_place(objects: list[dict[str, Any]]) -> None:
    image = container(objects)["image"]
    pinned = re.fullmatch(r"nvcr\.io/nvidia/tritonserver(:\d{2}\.\d{2}-py3|@sha256:[0-9a-f]{64})", image)
    assert pinned or image == TOKENIZERS_IMAGE, image  # the derived image: generated where a model needs it
    mentions = [p for p in K8S.rglob("*.yaml") if "nvcr.io/nvidia/tritonserver" in p.read_text()]
    assert [p.relative_to(K8S).as_posix() for p in mentions] == ["base/kustomization.yaml"]
    assert not [p for p in K8S.rglob("*.yaml") if "tritonkit/tritonserver" in p.read_text()]  # container.py's


def test_the_gpu_overlay_asks_for_a_gpu_on_gpu_nodes() -> None:
    objects = render("gpu")
    pod = deployment(objects)["spec"]["template"]["spec"]
    assert container(objects)["resources"]["limits"]["nvidia.com/gpu"] == 1
    (term,) = pod["affinity"]["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]["nodeSelectorTerms"]
    assert term["matchExpressions"][0]["key"] == "nvidia.com/gpu.product"
    assert {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"} in pod["tolerations"]
    assert "nvidia.com/gpu" not in container(render("cpu"))["resources"]["limits"]


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_the_deployment_and_the_container_command_run_one_release_with_one_input_limit(overlay: str) -> None:
    objects = render(overlay)
    assert container(objects)["image"] == NGC_IMAGE
    assert argument(objects, "--http-max-input-size") == str(HTTP_MAX_INPUT_SIZE)
