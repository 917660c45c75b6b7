"""The Kubernetes manifests, checked without a cluster: every overlay renders with kustomize,
every object validates strictly against the Kubernetes 1.32 schemas, and the serving policies
hold for every workload of every overlay."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

K8S = Path(__file__).resolve().parents[2] / "k8s"
OVERLAYS = sorted(p.parent.name for p in (K8S / "overlays").glob("*/kustomization.yaml"))
KUBERNETES_VERSION = "1.32.0"

if shutil.which("kubectl") is None:
    pytest.skip("kubectl (with kustomize) is not installed; .ci/run installs it", allow_module_level=True)


def render(overlay: str) -> list[dict[str, Any]]:
    result = subprocess.run(
        ["kubectl", "kustomize", str(K8S / "overlays" / overlay)], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    return [doc for doc in yaml.safe_load_all(result.stdout) if doc]


@pytest.fixture(scope="module", params=OVERLAYS)
def objects(request: pytest.FixtureRequest) -> list[dict[str, Any]]:
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
    assert {"cpu", "gpu"} <= set(OVERLAYS)


def test_every_object_validates_strictly(objects: list[dict[str, Any]]) -> None:
    for obj in objects:
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
    resources = container(objects)["resources"]
    for kind in ("requests", "limits"):
        assert {"cpu", "memory"} <= resources[kind].keys()


def test_pods_are_hardened(objects: list[dict[str, Any]]) -> None:
    pod = deployment(objects)["spec"]["template"]["spec"]
    assert pod["automountServiceAccountToken"] is False
    assert pod["securityContext"]["runAsNonRoot"] is True
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
    assert argument(objects, "--model-control-mode") == "none"
    assert "--disable-auto-complete-config" in container(objects)["args"]


def test_selectors_pick_the_triton_pods(objects: list[dict[str, Any]]) -> None:
    labels = deployment(objects)["spec"]["template"]["metadata"]["labels"]

    def selects(selector: dict[str, str]) -> bool:
        return bool(selector) and all(labels.get(k) == v for k, v in selector.items())

    for service in of_kind(objects, "Service"):
        assert selects(service["spec"]["selector"]), service["metadata"]["name"]
    (pdb,) = of_kind(objects, "PodDisruptionBudget")
    assert selects(pdb["spec"]["selector"]["matchLabels"])
    (hpa,) = of_kind(objects, "HorizontalPodAutoscaler")
    assert pdb["spec"]["minAvailable"] < hpa["spec"]["minReplicas"]  # a drain can always proceed
    (policy,) = of_kind(objects, "NetworkPolicy")
    assert selects(policy["spec"]["podSelector"]["matchLabels"])


def test_the_autoscaler_owns_the_replica_count_and_scales_on_queueing(objects: list[dict[str, Any]]) -> None:
    (hpa,) = of_kind(objects, "HorizontalPodAutoscaler")
    spec = hpa["spec"]
    assert spec["scaleTargetRef"] == {"apiVersion": "apps/v1", "kind": "Deployment", "name": "triton"}
    assert "replicas" not in deployment(objects)["spec"]  # an applied count would fight the HPA
    assert 1 < spec["minReplicas"] < spec["maxReplicas"]
    (metric,) = spec["metrics"]
    assert metric["pods"]["metric"]["name"] == "tritonkit_queue_compute_ratio"
    assert metric["pods"]["target"] == {"type": "AverageValue", "averageValue": "1"}
    behavior = spec["behavior"]
    assert behavior["scaleDown"]["stabilizationWindowSeconds"] > behavior["scaleUp"]["stabilizationWindowSeconds"]


def test_grpc_is_served_headless_and_http_and_metrics_by_cluster_ip(objects: list[dict[str, Any]]) -> None:
    services = {s["metadata"]["name"]: s["spec"] for s in of_kind(objects, "Service")}
    assert services["triton-grpc"]["clusterIP"] == "None"
    assert [p["name"] for p in services["triton-grpc"]["ports"]] == ["grpc"]
    assert {p["name"] for p in services["triton"]["ports"]} == {"http", "metrics"}


def test_network_policy_opens_inference_to_clients_and_metrics_to_monitoring(objects: list[dict[str, Any]]) -> None:
    (policy,) = of_kind(objects, "NetworkPolicy")
    rules = {tuple(sorted(p["port"] for p in rule["ports"])): rule["from"] for rule in policy["spec"]["ingress"]}
    assert set(rules) == {("grpc", "http"), ("metrics",)}
    (monitoring,) = rules[("metrics",)]
    assert monitoring["namespaceSelector"]["matchLabels"] == {"kubernetes.io/metadata.name": "monitoring"}


def test_the_image_is_pinned_by_tag_in_one_place(objects: list[dict[str, Any]]) -> None:
    image = container(objects)["image"]
    assert re.fullmatch(r"nvcr\.io/nvidia/tritonserver:\d{2}\.\d{2}-py3", image), image
    mentions = [p for p in K8S.rglob("*.yaml") if "nvcr.io/nvidia/tritonserver" in p.read_text()]
    assert [p.relative_to(K8S).as_posix() for p in mentions] == ["base/kustomization.yaml"]


def test_the_gpu_overlay_asks_for_a_gpu_on_gpu_nodes() -> None:
    objects = render("gpu")
    pod = deployment(objects)["spec"]["template"]["spec"]
    assert container(objects)["resources"]["limits"]["nvidia.com/gpu"] == 1
    (term,) = pod["affinity"]["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]["nodeSelectorTerms"]
    assert term["matchExpressions"][0]["key"] == "nvidia.com/gpu.product"
    assert {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"} in pod["tolerations"]
    assert "nvidia.com/gpu" not in container(render("cpu"))["resources"]["limits"]
