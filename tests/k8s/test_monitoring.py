"""Monitoring without a cluster: the rules file passes promtool's checks and unit tests (synthetic
series pushing the queue/compute ratio through the HPA target and back), the PrometheusRule is
generated from it, and the ServiceMonitor finds the Triton Service's metrics port."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

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
    monitoring = {o["kind"]: o for o in render_dir(MONITORING)}
    config = yaml.safe_load(monitoring["ConfigMap"]["data"]["config.yaml"])  # type: ignore[index]
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


def render_dir(directory: Path) -> list[dict[str, object]]:
    result = subprocess.run(["kubectl", "kustomize", str(directory)], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    return [doc for doc in yaml.safe_load_all(result.stdout) if doc]
