"""The monitoring stack end to end, without a cluster: a real tritonserver under load, scraped by a
real Prometheus with k8s/monitoring/rules.yaml loaded. Every recording rule and every query of the
Grafana dashboard must return data, and every rule must evaluate without errors.

The scrape adds the `namespace` and `pod` labels that Kubernetes service discovery (through the
ServiceMonitor) adds in a cluster, so the rules aggregate exactly as they do there."""

from __future__ import annotations

import asyncio
import contextlib
import json
import math
import shutil
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from tritonkit import onnx_builders
from tritonkit.export.cascade import MODEL_SOURCE, cascade_config
from tritonkit.measure.measurement import Measurement
from tritonkit.measure.runner import measure_target
from tritonkit.measure.summary import Host
from tritonkit.specs import DynamicBatchingKnobs, OnnxRuntimeKnobs, QueuePolicyKnobs, ServingKnobs, TargetSpec
from tritonkit.triton import model_config
from tritonkit.triton.onnx_signature import read_signature
from tritonkit.triton.repository import write_model
from tritonkit.triton.server import LOOPBACK, LocalServer, free_port

pytestmark = pytest.mark.integration

MONITORING = Path(__file__).resolve().parents[2] / "k8s" / "monitoring"
NAMESPACE = "tritonkit"
POD = "triton-0"
SCRAPE = "1s"
# For Prometheus to be ready and scraping, and for the rules to catch up with the load. One deadline
# for all checks after the load: the rules take rates over 1 min, so data that has not come by
# then will not come.
DEADLINE_S = 30.0
MODELS = {"batching", "guarded", "cascade", "cascade_small", "cascade_large"}  # the stages get BLS requests
ONE_THREAD = OnnxRuntimeKnobs(intra_op_thread_count=1, inter_op_thread_count=1)
# Grafana's built-in interval variables: a minute covers the whole run at a 1 s scrape.
GRAFANA_INTERVALS = {"$__rate_interval": "1m", "$__interval": "1m", "$__range": "1m"}

if shutil.which("prometheus") is None:
    pytest.skip("prometheus is not installed (Debian's prometheus package)", allow_module_level=True)


def build_repository(root: Path) -> Path:
    """`batching`: concurrent requests meet in the dynamic batcher, so the batch-size rule sees > 1.
    `guarded`: one request per execution, each taking milliseconds, and requests that wait longer
    than 1 ms in the queue are rejected: concurrent load produces REJECTED failures (Triton 2.51
    counts queue timeouts, not malformed requests nor a full queue, as failures)."""
    repository = root / "repository"
    light = onnx_builders.mlp(root / "light.onnx", features=64, hidden=256)
    heavy = onnx_builders.mlp(root / "heavy.onnx", features=256, hidden=4096)
    models = {
        "batching": (
            light,
            ServingKnobs(
                max_batch_size=8,
                dynamic_batching=DynamicBatchingKnobs(max_queue_delay_microseconds=2_000),
                onnxruntime=ONE_THREAD,
            ),
        ),
        "guarded": (
            heavy,
            ServingKnobs(
                max_batch_size=1,
                dynamic_batching=DynamicBatchingKnobs(
                    queue_policy=QueuePolicyKnobs(default_timeout_microseconds=1_000, timeout_action="REJECT")
                ),
                onnxruntime=ONE_THREAD,
            ),
        ),
    }
    for name, (onnx, knobs) in models.items():
        write_model(repository, model_config.build_config(name, read_signature(onnx), knobs), onnx)
    # A cascade of two classifiers: random inputs leave the small one unsure of some rows.
    batched = ServingKnobs(max_batch_size=8, dynamic_batching=DynamicBatchingKnobs(), onnxruntime=ONE_THREAD)
    stages = []
    for seed, stage in enumerate(("cascade_small", "cascade_large")):
        onnx = onnx_builders.mlp(root / f"{stage}.onnx", seed=seed)
        stages.append(model_config.build_config(stage, read_signature(onnx), batched))
        write_model(repository, stages[-1], onnx)
    (root / "labels.txt").write_text("a\nb\nc\nd\n")
    cascade = cascade_config("cascade", *stages, threshold=0.6, kind="max_probability")
    write_model(repository, cascade, MODEL_SOURCE, extra_files={"labels.txt": root / "labels.txt"})
    return repository


def rules_document() -> dict[str, Any]:
    document: dict[str, Any] = yaml.safe_load((MONITORING / "rules.yaml").read_text())
    return document


def recording_rules() -> list[str]:
    return [r["record"] for g in rules_document()["groups"] for r in g["rules"] if "record" in r]


def dashboard() -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads((MONITORING / "dashboard.json").read_text())
    return loaded


def panel_queries(values: dict[str, str]) -> list[str]:
    """Every panel target's expression as Grafana sends it: template variables replaced."""
    substitutions = {f"${name}": value for name, value in values.items()} | GRAFANA_INTERVALS
    queries = []
    for panel in dashboard()["panels"]:
        for target in panel["targets"]:
            expression = target["expr"]
            # longest first, so that $__rate_interval is not mistaken for $__range or a shorter name
            for name in sorted(substitutions, key=len, reverse=True):
                expression = expression.replace(name, substitutions[name])
            assert "$" not in expression, f"unsubstituted variable in {expression}"
            queries.append(expression)
    return queries


def write_prometheus_config(directory: Path, metrics_port: int) -> Path:
    rules = rules_document()
    for group in rules["groups"]:
        # Production evaluates every 15 s: at that pace the test would wait for several
        # evaluations after the load. 1 s gives the same results within a few seconds.
        group["interval"] = SCRAPE
    (directory / "rules.yaml").write_text(yaml.safe_dump(rules, sort_keys=False))
    config = {
        "global": {"scrape_interval": SCRAPE, "scrape_timeout": SCRAPE, "evaluation_interval": SCRAPE},
        "rule_files": [str(directory / "rules.yaml")],
        "scrape_configs": [
            {
                "job_name": "triton",
                "static_configs": [
                    {"targets": [f"{LOOPBACK}:{metrics_port}"], "labels": {"namespace": NAMESPACE, "pod": POD}}
                ],
            }
        ],
    }
    path = directory / "prometheus.yml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


@dataclass(frozen=True)
class Prometheus:
    url: str
    log: Path

    def get(self, path: str, **parameters: str) -> Any:
        query = f"?{urllib.parse.urlencode(parameters)}" if parameters else ""
        with urllib.request.urlopen(f"{self.url}{path}{query}", timeout=10) as response:
            body = json.load(response)
        assert body["status"] == "success", body
        return body["data"]

    def query(self, expression: str) -> list[dict[str, Any]]:
        data = self.get("/api/v1/query", query=expression)
        assert data["resultType"] == "vector", data
        result: list[dict[str, Any]] = data["result"]
        return result

    def log_tail(self, lines: int = 30) -> str:
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])


@contextlib.contextmanager
def running_prometheus(directory: Path, metrics_port: int) -> Iterator[Prometheus]:
    config = write_prometheus_config(directory, metrics_port)
    port = free_port()
    log = directory / "prometheus.log"
    with log.open("wb") as output:
        process = subprocess.Popen(
            [
                "prometheus",
                f"--config.file={config}",
                f"--storage.tsdb.path={directory / 'data'}",
                f"--web.listen-address={LOOPBACK}:{port}",
            ],
            stdout=output,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )
    prometheus = Prometheus(f"http://{LOOPBACK}:{port}", log)
    try:
        wait_ready(process, prometheus)
        yield prometheus
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def wait_ready(process: subprocess.Popen[bytes], prometheus: Prometheus) -> None:
    deadline = time.monotonic() + DEADLINE_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"prometheus exited with code {process.returncode}:\n{prometheus.log_tail()}")
        with (
            contextlib.suppress(urllib.error.URLError, ConnectionError, TimeoutError),
            urllib.request.urlopen(f"{prometheus.url}/-/ready", timeout=2) as response,
        ):
            if response.status == 200:
                return
        time.sleep(0.2)
    pytest.fail(f"prometheus not ready within {DEADLINE_S:.0f} s:\n{prometheus.log_tail()}")


def target(model: str, concurrency: int) -> TargetSpec:
    return TargetSpec.model_validate(
        {
            "name": model,
            "model": model,
            "load": {
                "mode": "closed",
                "concurrency": concurrency,
                "warmup_s": 0.5,
                "window_s": 1.0,
                "duration_s": 3.0,
                "stable_windows": 2,
            },
            "payload": {"kind": "random", "batch_size": 1, "count": 16},
            "slo": {},
        }
    )


async def drive_load(server: LocalServer) -> list[Measurement]:
    """The models at once, for a few seconds: four clients keep the batcher busy, two clients make
    requests wait behind each other in `guarded`'s queue, two send rows to the cascade."""
    host = Host(server.grpc_url, server.http_url)
    loads = (
        measure_target(target("batching", 4), host),
        measure_target(target("guarded", 2), host),
        measure_target(target("cascade", 2), host),
    )
    return list(await asyncio.gather(*loads))


@dataclass(frozen=True)
class Stack:
    prometheus: Prometheus
    measurements: list[Measurement]
    deadline: float  # time.monotonic()

    def wait_for_data(self, queries: list[str]) -> dict[str, list[dict[str, Any]]]:
        return wait_for_data(self.prometheus, queries, self.deadline)


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    root = tmp_path_factory.mktemp("prometheus")
    repository = build_repository(root)
    with (
        LocalServer(repository, metrics_config=("summary_latencies=true",)) as server,
        running_prometheus(root, server.ports.metrics) as prometheus,
    ):
        # Prometheus scrapes its first targets only seconds after it is ready: a load that ended
        # before then would leave counters without an increase to take a rate of.
        scraped = f'up{{job="triton", namespace="{NAMESPACE}", pod="{POD}"}} == 1'
        first_scrape = wait_for_data(prometheus, [scraped], time.monotonic() + DEADLINE_S)
        assert has_data(first_scrape[scraped]), prometheus.log_tail()
        measurements = asyncio.run(drive_load(server))
        yield Stack(prometheus, measurements, time.monotonic() + DEADLINE_S)


def has_data(result: list[dict[str, Any]]) -> bool:
    """At least one series with a number: a NaN (e.g. 0/0 for a model without traffic) is no data."""
    return any(math.isfinite(float(sample["value"][1])) for sample in result)


def wait_for_data(prometheus: Prometheus, queries: list[str], deadline: float) -> dict[str, list[dict[str, Any]]]:
    """Poll until every query has data or the deadline passes; the last result of each query."""
    results: dict[str, list[dict[str, Any]]] = {}
    while True:
        results |= {q: prometheus.query(q) for q in queries if not has_data(results.get(q, []))}
        if all(has_data(r) for r in results.values()) or time.monotonic() > deadline:
            return results
        time.sleep(0.5)


def test_the_load_succeeded_and_guarded_rejected_some(stack: Stack) -> None:
    batching, guarded, cascade = stack.measurements
    assert batching.errors == {} and batching.sent > 20
    assert cascade.errors == {} and cascade.sent > 20
    assert guarded.sent > guarded.error_count > 0, guarded.errors
    # rejected by the queue policy: Triton answers "Request timeout expired" with UNAVAILABLE
    assert set(guarded.errors) == {"rejected: queue timeout"}, guarded.error_examples
    assert "timeout expired" in guarded.error_examples["rejected: queue timeout"]


def test_every_recording_rule_returns_data(stack: Stack) -> None:
    results = stack.wait_for_data(recording_rules())
    empty = [rule for rule, result in results.items() if not has_data(result)]
    assert not empty, f"no data from {empty}\n{stack.prometheus.log_tail()}"
    for rule, result in results.items():
        labels = {k for sample in result for k in sample["metric"] if k != "__name__"}
        assert "namespace" in labels, f"{rule} lost the namespace label: {result}"


def test_the_rules_see_batching_and_rejections(stack: Stack) -> None:
    """Not only data: values that reflect the load that was driven."""
    batch = f'tritonkit:average_batch_size:model_rate1m{{namespace="{NAMESPACE}", model="batching"}} > 1'
    rejected = (
        f'tritonkit:failures:model_reason_rate1m{{namespace="{NAMESPACE}", model="guarded", reason="REJECTED"}} > 0'
    )
    p99_not_below_p50 = (
        f'tritonkit:request_duration_us:model_p99{{namespace="{NAMESPACE}"}}'
        f" >= on (namespace, model) tritonkit:request_duration_us:model_p50"
    )
    results = stack.wait_for_data([batch, rejected, p99_not_below_p50])
    for query, result in results.items():
        assert has_data(result), f"{query}: {result}"
    assert {s["metric"]["model"] for s in results[p99_not_below_p50]} == MODELS


def test_the_dashboard_variables_find_the_namespace_and_the_models(stack: Stack) -> None:
    variables = {v["name"]: v for v in dashboard()["templating"]["list"]}
    stack.wait_for_data(["nv_inference_count"])
    for name, expected in (("namespace", {NAMESPACE}), ("model", MODELS)):
        # label_values(<selector>, <label>) is Grafana's call of the label-values API
        selector, label = variables[name]["definition"].removeprefix("label_values(").removesuffix(")").split(", ")
        selector = selector.replace("$namespace", NAMESPACE)
        values = stack.prometheus.get(f"/api/v1/label/{label}/values", **{"match[]": selector})
        assert set(values) == expected, (name, values)


def test_every_dashboard_query_returns_data_except_gpu_ones(stack: Stack) -> None:
    (model,) = [v for v in dashboard()["templating"]["list"] if v["name"] == "model"]
    # "All" models selected: Grafana puts the variable's allValue in the regex matcher
    queries = panel_queries({"namespace": NAMESPACE, "model": model["allValue"]})
    # The one documented exception: there is no GPU here, so Triton exports no nv_gpu_* metrics.
    gpu = [q for q in queries if "nv_gpu_" in q]
    assert gpu, "the dashboard has a GPU panel"
    results = stack.wait_for_data([q for q in queries if q not in gpu])
    empty = [q for q, result in results.items() if not has_data(result)]
    assert not empty, f"no data from {empty}"
    assert all(stack.prometheus.query(q) == [] for q in gpu)


def test_every_rule_evaluates_without_errors_and_metrics_are_not_absent(stack: Stack) -> None:
    stack.wait_for_data(recording_rules())  # evaluated since the scrapes began
    groups = stack.prometheus.get("/api/v1/rules")["groups"]
    rules = {r["name"]: r for g in groups for r in g["rules"]}
    expected = {r.get("record") or r["alert"] for g in rules_document()["groups"] for r in g["rules"]}
    assert set(rules) == expected
    unhealthy = {name: r.get("lastError") for name, r in rules.items() if r["health"] != "ok"}
    assert not unhealthy, unhealthy
    # `for: 5m` means the alert could not fire within a test anyway: inactive (neither pending nor
    # firing) is what shows its expression sees the metrics.
    assert rules["TritonMetricsAbsent"]["state"] == "inactive", rules["TritonMetricsAbsent"]
