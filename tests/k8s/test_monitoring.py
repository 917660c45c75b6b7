"""Monitoring without a cluster: the rules file passes promtool's checks and unit tests (synthetic
series pushing the queue/compute ratio through the HPA target and back), the PrometheusRule is
generated from it, and the ServiceMonitor finds the Triton Service's metrics port. The Grafana
dashboard ships as a sidecar ConfigMap, and its queries use only recording rules and Triton's
metrics, filtered by the chosen namespace and models (tests/integration/test_prometheus.py runs them)."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.k8s.test_manifests import K8S, render
from tritonkit.k8s.rules import prometheus_rule
from tritonkit.k8s.rules import render as render_rule

MONITORING = K8S / "monitoring"


def promtool(*arguments: str, cwd: Path = MONITORING) -> subprocess.CompletedProcess[str]:
    if shutil.which("promtool") is None:
        pytest.skip("promtool is not installed (Debian's prometheus package; .ci/run installs it)")
    return subprocess.run(["promtool", *arguments], capture_output=True, text=True, timeout=120, cwd=cwd)


def test_promtool_accepts_the_rules() -> None:
    result = promtool("check", "rules", "rules.yaml")
    assert result.returncode == 0, result.stdout + result.stderr


def test_promtool_unit_tests_pass() -> None:
    result = promtool("test", "rules", "rules_test.yaml")
    assert result.returncode == 0, result.stdout + result.stderr


def test_promtool_unit_tests_can_fail(tmp_path: Path) -> None:
    """A wrong expectation must be caught: the test file is not vacuous."""
    for name in ("rules.yaml", "rules_test.yaml"):
        shutil.copy(MONITORING / name, tmp_path / name)
    broken = (tmp_path / "rules_test.yaml").read_text().replace("value: 3}", "value: 2.5}", 1)
    (tmp_path / "rules_test.yaml").write_text(broken)
    if shutil.which("promtool") is None:
        pytest.skip("promtool is not installed")
    result = subprocess.run(
        ["promtool", "test", "rules", "rules_test.yaml"], capture_output=True, text=True, cwd=tmp_path
    )
    assert result.returncode != 0


def test_the_prometheus_rule_is_generated_from_the_rules_file() -> None:
    rules_text = (MONITORING / "rules.yaml").read_text()
    committed = (MONITORING / "prometheusrule.yaml").read_text()
    assert committed == render_rule(rules_text), "stale: run `python -m tritonkit.k8s.rules`"
    assert prometheus_rule(yaml.safe_load(rules_text))["spec"]["groups"] == yaml.safe_load(rules_text)["groups"]


def test_ratios_sum_before_dividing_and_counters_have_no_total_suffix() -> None:
    rules = [r for g in yaml.safe_load((MONITORING / "rules.yaml").read_text())["groups"] for r in g["rules"]]
    for rule in rules:
        assert "_total" not in rule["expr"], rule
        if "record" in rule and "/" in rule["expr"]:
            numerator, denominator = rule["expr"].split("\n/\n")
            assert numerator.strip().startswith("sum by"), rule["record"]
            assert "sum by" in denominator, rule["record"]


def test_the_service_monitor_scrapes_the_triton_metrics_port() -> None:
    monitoring = {o["kind"]: o for o in render_dir(MONITORING)}
    serving = {o["metadata"]["name"]: o for o in render("cpu") if o["kind"] == "Service"}
    monitor = monitoring["ServiceMonitor"]["spec"]
    service = serving["triton"]
    assert monitor["selector"]["matchLabels"].items() <= service["metadata"]["labels"].items()
    assert monitor["namespaceSelector"]["matchNames"] == [service["metadata"]["namespace"]]
    (endpoint,) = monitor["endpoints"]
    assert endpoint["port"] in {p["name"] for p in service["spec"]["ports"]}
    assert monitoring["PrometheusRule"]["metadata"]["namespace"] == "monitoring"


def test_the_adapter_serves_the_metric_the_hpa_scales_on_from_a_recording_rule() -> None:
    config = yaml.safe_load(config_map("prometheus-adapter-tritonkit")["data"]["config.yaml"])
    recorded = {r["record"] for g in yaml.safe_load((MONITORING / "rules.yaml").read_text())["groups"]
                for r in g["rules"] if "record" in r}  # fmt: skip
    served = {}
    for rule in config["rules"]:
        series = rule["seriesQuery"].split("{")[0]
        assert series in recorded, f"{series} is not a recording rule"
        assert series in rule["metricsQuery"] and "<<.LabelMatchers>>" in rule["metricsQuery"]
        assert rule["resources"]["overrides"]["pod"] == {"resource": "pod"}
        served[rule["name"]["as"]] = series
    (hpa,) = [o for o in render("cpu") if o["kind"] == "HorizontalPodAutoscaler"]
    (metric,) = hpa["spec"]["metrics"]
    assert served[metric["pods"]["metric"]["name"]] == "tritonkit:queue_compute_ratio:pod_rate1m"


def config_map(name: str) -> dict[str, Any]:
    (found,) = [o for o in render_dir(MONITORING) if o["kind"] == "ConfigMap" and o["metadata"]["name"] == name]
    return found


def render_dir(directory: Path) -> list[dict[str, Any]]:
    result = subprocess.run(["kubectl", "kustomize", str(directory)], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    return [doc for doc in yaml.safe_load_all(result.stdout) if doc]


# -- the Grafana dashboard -----------------------------------------------------------------------

DASHBOARD = MONITORING / "dashboard.json"
# Triton's metric names: checked against a running 2.51 server, and defined alike in Triton core's
# r26.06 sources (the newest read; the image is 26.07). Per-model metrics carry `model`
# and `version`; the CPU and GPU ones describe the whole server (or one GPU), so they have no model.
TRITON_MODEL_METRICS = {
    "nv_inference_request_success", "nv_inference_request_failure", "nv_inference_count",
    "nv_inference_exec_count", "nv_inference_request_duration_us", "nv_inference_queue_duration_us",
    "nv_inference_compute_input_duration_us", "nv_inference_compute_infer_duration_us",
    "nv_inference_compute_output_duration_us", "nv_inference_pending_request_count",
    # with --metrics-config=summary_latencies=true
    "nv_inference_request_summary_us", "nv_inference_queue_summary_us", "nv_inference_compute_input_summary_us",
    "nv_inference_compute_infer_summary_us", "nv_inference_compute_output_summary_us",
}  # fmt: skip
TRITON_SERVER_METRICS = {
    "nv_cpu_utilization", "nv_cpu_memory_total_bytes", "nv_cpu_memory_used_bytes",
    "nv_gpu_utilization", "nv_gpu_memory_total_bytes", "nv_gpu_memory_used_bytes", "nv_gpu_power_usage",
}  # fmt: skip
_NOT_METRICS = {"by", "without", "on", "ignoring", "group_left", "group_right", "and", "or", "unless", "bool", "offset"}


def dashboard() -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(DASHBOARD.read_text())
    return loaded


def targets() -> list[tuple[str, str]]:
    return [(p["title"], t["expr"]) for p in dashboard()["panels"] for t in p["targets"]]


def recording_rule_labels() -> dict[str, set[str]]:
    """Each recording rule and the labels its result keeps: those of its `by (...)` clause."""
    rules = [r for g in yaml.safe_load((MONITORING / "rules.yaml").read_text())["groups"] for r in g["rules"]]
    found = {}
    for rule in rules:
        if "record" in rule:
            by = re.search(r"\bby \(([^)]*)\)", rule["expr"])
            assert by, f"{rule['record']} aggregates without `by`: its labels are unknown"
            found[rule["record"]] = {label.strip() for label in by.group(1).split(",")}
    return found


def metric_names(expression: str) -> set[str]:
    """The metric names a PromQL expression selects: identifiers that are not functions,
    aggregation clauses, keywords, label names or strings."""
    expression = re.sub(r'"[^"]*"', '""', expression)
    expression = re.sub(r"\{[^}]*\}|\[[^\]]*\]", "", expression)  # label matchers, ranges
    expression = re.sub(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", "", expression)
    names = set()
    for match in re.finditer(r"(?<![\w:.$])[a-zA-Z_:][\w:]*", expression):
        if not expression[match.end() :].lstrip().startswith("(") and match.group() not in _NOT_METRICS:
            names.add(match.group())
    return names


def test_metric_names_finds_what_a_query_selects() -> None:
    """The checks below are only as good as this parser."""
    query = 'sum by (model) (rate(nv_inference_count{model=~"$model"}[1m])) / on (model) bad_name offset 5m > 1e3'
    assert metric_names(query) == {"nv_inference_count", "bad_name"}
    assert metric_names('max by (pod) (tritonkit:x:pod{namespace="$namespace"})') == {"tritonkit:x:pod"}


def test_the_dashboard_ships_as_a_config_map_for_the_grafana_sidecar() -> None:
    kustomization = yaml.safe_load((MONITORING / "kustomization.yaml").read_text())
    (generator,) = kustomization["configMapGenerator"]
    shipped = config_map(generator["name"])  # the name must be stable (no hash suffix) so updates replace it
    assert shipped["metadata"]["labels"]["grafana_dashboard"] == "1"
    assert shipped["metadata"]["namespace"] == "monitoring"
    (content,) = shipped["data"].values()
    assert content == DASHBOARD.read_text()


def test_the_dashboard_has_namespace_and_model_variables() -> None:
    board = dashboard()
    assert board["uid"] == "tritonkit-triton" and board["schemaVersion"] >= 36
    variables = {v["name"]: v for v in board["templating"]["list"]}
    assert variables["datasource"]["type"] == "datasource" and variables["datasource"]["query"] == "prometheus"
    namespace, model = variables["namespace"], variables["model"]
    for variable, selector in ((namespace, r"(\w+), namespace"), (model, r'(\w+)\{namespace="\$namespace"\}, model')):
        assert variable["type"] == "query" and variable["datasource"]["uid"] == "${datasource}"
        assert variable["definition"] == variable["query"]["query"]
        found = re.fullmatch(rf"label_values\({selector}\)", variable["definition"])
        assert found and found.group(1) in TRITON_MODEL_METRICS, variable["definition"]
    assert model["multi"] and model["includeAll"] and not namespace["multi"]


def test_every_panel_query_filters_by_namespace_and_model() -> None:
    """Every query is limited to the chosen namespace, and to the chosen models unless none of its
    metrics has a model label (per-pod rules, Triton's CPU and GPU utilisation): those can only be
    shown per pod."""
    labels = recording_rule_labels() | {name: {"model"} for name in TRITON_MODEL_METRICS}
    panels = dashboard()["panels"]
    assert len({p["id"] for p in panels}) == len(panels)
    for panel in panels:
        assert panel["type"] == "timeseries" and panel["datasource"]["uid"] == "${datasource}", panel["title"]
        assert len({t["refId"] for t in panel["targets"]}) == len(panel["targets"]), panel["title"]
    for title, expression in targets():
        assert 'namespace="$namespace"' in expression, (title, expression)
        per_model = any("model" in labels.get(name, set()) for name in metric_names(expression))
        assert ('model=~"$model"' in expression) == per_model, (title, expression)


def test_every_dashboard_metric_is_a_recording_rule_or_a_triton_metric() -> None:
    known = recording_rule_labels().keys() | TRITON_MODEL_METRICS | TRITON_SERVER_METRICS
    for title, expression in targets():
        names = metric_names(expression)
        assert names, (title, expression)
        assert names <= known, f"{title}: unknown metrics {names - known}"


def test_the_queue_compute_panel_marks_the_hpa_target() -> None:
    (hpa,) = [o for o in render("cpu") if o["kind"] == "HorizontalPodAutoscaler"]
    (metric,) = hpa["spec"]["metrics"]
    target = float(metric["pods"]["target"]["averageValue"])
    (panel,) = [p for p in dashboard()["panels"] if "tritonkit:queue_compute_ratio:pod_rate1m" in str(p["targets"])]
    defaults = panel["fieldConfig"]["defaults"]
    assert target in [step["value"] for step in defaults["thresholds"]["steps"]]
    assert defaults["custom"]["thresholdsStyle"]["mode"] != "off"
