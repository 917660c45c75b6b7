"""The Prometheus Operator's PrometheusRule, generated from the plain rules file promtool reads,
so the rules exist once: `python -m tritonkit.k8s.rules` rewrites k8s/monitoring/prometheusrule.yaml
(a test fails when the committed file is stale)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import yaml

MONITORING = Path("k8s/monitoring")
RULES = MONITORING / "rules.yaml"
PROMETHEUS_RULE = MONITORING / "prometheusrule.yaml"
HEADER = "# Generated from rules.yaml by `python -m tritonkit.k8s.rules`: edit rules.yaml, not this file.\n"


def prometheus_rule(rules: dict[str, Any]) -> dict[str, Any]:
    return {
        "apiVersion": "monitoring.coreos.com/v1",
        "kind": "PrometheusRule",
        "metadata": {
            "name": "tritonkit",
            # the label kube-prometheus-stack's default ruleSelector matches
            "labels": {"release": "kube-prometheus-stack", "app.kubernetes.io/part-of": "tritonkit"},
        },
        "spec": {"groups": rules["groups"]},
    }


class _BlockStrings(yaml.SafeDumper):
    """Multi-line PromQL stays readable: written as block literals, as in rules.yaml."""


def _string(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style="|" if "\n" in value else None)


_BlockStrings.add_representer(str, _string)


def render(rules_text: str) -> str:
    document = prometheus_rule(yaml.safe_load(rules_text))
    return HEADER + yaml.dump(document, Dumper=_BlockStrings, sort_keys=False, width=120)


def main() -> int:
    PROMETHEUS_RULE.write_text(render(RULES.read_text()))
    print(f"wrote {PROMETHEUS_RULE}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
