"""Sizing a deployment from measurement: the capacity one replica showed under its SLO, a traffic
profile, and three ways to run it (always on, autoscaled, scaled to zero when idle), each with its
replicas, monthly cost and cost per 1M inferences. Pure, apart from reading a results file."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tritonkit.errors import InputError
from tritonkit.specs import TrafficSpec

HOURS_PER_MONTH = 24 * 30


@dataclass(frozen=True)
class Option:
    name: str
    peak_replicas: int
    off_peak_replicas: int
    replica_hours_per_month: float
    dollars_per_month: float
    dollars_per_million: float
    risk: str


@dataclass(frozen=True)
class Plan:
    capacity_per_replica: float  # inferences/s one replica sustains within its SLO (measured)
    planned_per_replica: float  # that times the target utilization
    inferences_per_month: float
    options: tuple[Option, ...]


def replicas_for(load: float, per_replica: float) -> int:
    return math.ceil(load / per_replica - 1e-9) if load > 0 else 0


def plan(capacity_per_replica: float, traffic: TrafficSpec) -> Plan:
    per_replica = capacity_per_replica * traffic.target_utilization
    peak_h = traffic.peak_hours_per_day * 30
    off_h = HOURS_PER_MONTH - peak_h
    inferences = (traffic.peak_inferences_per_s * peak_h + traffic.off_peak_inferences_per_s * off_h) * 3600
    peak = max(1, replicas_for(traffic.peak_inferences_per_s, per_replica))
    off_peak = replicas_for(traffic.off_peak_inferences_per_s, per_replica)

    def option(name: str, at_peak: int, off: int, risk: str) -> Option:
        hours = at_peak * peak_h + off * off_h
        dollars = hours * traffic.dollars_per_hour_per_replica
        return Option(name, at_peak, off, hours, dollars, dollars / (inferences / 1e6), risk)

    cold = f"a request arriving at zero replicas waits ≈ {traffic.cold_start_s:g} s (image pull + model load)"
    idle = traffic.off_peak_inferences_per_s == 0
    return Plan(
        capacity_per_replica=capacity_per_replica,
        planned_per_replica=per_replica,
        inferences_per_month=inferences,
        options=(
            option("dedicated", peak, peak, "none: peak capacity all day"),
            option(
                "autoscaled (HPA)",
                peak,
                max(1, off_peak),
                f"scale-up lag: a burst waits while a replica starts (≈ {traffic.cold_start_s:g} s); "
                f"the {1 - traffic.target_utilization:.0%} headroom per replica absorbs it",
            ),
            option(
                "scale to zero (KEDA)",
                peak,
                off_peak if not idle else 0,
                cold if idle else "never idle off-peak, so it never reaches zero: same as autoscaled",
            ),
        ),
    )


def capacity_from_results(path: Path, target: str) -> float:
    """Capacity under the SLO from a report's results.json: a sweep's most throughput within p99
    (target = the sweep's model), or a passing check target's throughput."""
    try:
        results: dict[str, Any] = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise InputError(f"{path}: not a readable results.json ({exc})") from None
    for sweep in results.get("sweeps", []):
        if sweep.get("model") == target:
            best = sweep.get("max_inferences_per_s_within_p99")
            if best is None:
                raise InputError(f"{path}: no step of the sweep of '{target}' met its p99 limit")
            return float(best)
    verdicts = {v["target"]: v for v in results.get("verdicts", [])}
    measurements = {m["target"]: m for m in results.get("measurements", [])}
    if target not in verdicts or target not in measurements:
        names = sorted(set(verdicts) | {s.get("model", "") for s in results.get("sweeps", [])})
        raise InputError(f"{path}: no target or swept model named {target!r}; there are {', '.join(names)}")
    if not verdicts[target]["passed"]:
        raise InputError(f"{path}: target '{target}' missed its SLO: its throughput is not a capacity under the SLO")
    return float(measurements[target]["inferences_per_s"])
