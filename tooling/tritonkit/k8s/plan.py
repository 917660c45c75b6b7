"""Sizing a deployment from measurement: the capacity one replica showed under its SLO, a traffic
profile, and three ways to run it (always on, autoscaled, scaled to zero when idle), each with its
replicas, monthly cost and cost per 1M inferences. Pure, apart from reading a results file."""

from __future__ import annotations

import dataclasses
import json
import math
from dataclasses import dataclass
from pathlib import Path

from pydantic import ValidationError

from tritonkit.errors import InputError
from tritonkit.files import replace_file
from tritonkit.inputs import excerpt, listed, read_text, validation_problems
from tritonkit.report.results import Results
from tritonkit.specs import TrafficSpec
from tritonkit.tune.results import TuneResults

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


MAX_RESULTS_BYTES = 64 << 20  # results.json holds summaries, not raw requests: a few MB at most
MAX_CAPACITY = 1e9  # inferences/s of one replica: beyond any hardware


def write_plan(path: Path, result: Plan) -> None:
    """`result` as JSON at `path`, whole or not at all."""
    replace_file(path, json.dumps(dataclasses.asdict(result), indent=2) + "\n", flag="--out", kind="plan")


def check_capacity(capacity: float, source: str) -> float:
    """A capacity that can size a deployment: positive, finite, believable."""
    if not (math.isfinite(capacity) and 0 < capacity <= MAX_CAPACITY):
        raise InputError(f"{source} {capacity:g}: expected inferences/s above 0 and at most {MAX_CAPACITY:g}")
    return capacity


def read_results(path: Path) -> Results | TuneResults:
    """A report's results.json, or a tune's tune.json (it names its model family), read through the
    models their writers use."""
    text = read_text(path, "a report's results.json or a tune's tune.json", MAX_RESULTS_BYTES)
    try:
        data = json.loads(text, parse_constant=_refuse_constant)
    except (json.JSONDecodeError, ValueError) as exc:
        raise InputError(f"{path}: not valid JSON ({excerpt(str(exc))})") from None
    except RecursionError:
        raise InputError(f"{path}: JSON nested too deeply to be a results.json") from None
    tune = isinstance(data, dict) and "family" in data
    try:
        return TuneResults.model_validate(data) if tune else Results.model_validate(data)
    except ValidationError as exc:
        kind = "a tune's tune.json" if tune else "a report's results.json"
        raise InputError(f"{path}: not {kind}:\n" + listed(validation_problems(exc))) from None


def _measured_capacity(value: float | None, source: str) -> float:
    if value is None:
        raise InputError(f"{source} that was not measured")
    return check_capacity(value, f"{source} of")


def _tuned_capacity(path: Path, tune: TuneResults, target: str) -> float:
    """The inferences/s a tune's winner for `target` served within its SLO (confirmed)."""
    by_name = {t.target: t for t in tune.targets}
    if target not in by_name:
        names = ", ".join(excerpt(n) for n in sorted(by_name)) or "none"
        raise InputError(f"{path}: the tune has no target named {excerpt(target)}; there are {names}")
    winner = by_name[target].winner
    if winner is None or winner.figures is None:
        raise InputError(f"{path}: the tune found no configuration meeting the SLO of '{target}'")
    return check_capacity(winner.figures.inferences_per_s, f"{path}: the winner for '{target}' gives a capacity of")


def _refuse_constant(name: str) -> float:
    raise ValueError(f"{name} is not a number (results.json is strict JSON)")


def capacity_from_results(path: Path, target: str) -> float:
    """Capacity under the SLO from a report's results.json: a sweep's most throughput within p99
    (target = the sweep's model), or a passing check target's throughput; or from a tune's
    tune.json: the target's winner's confirmed throughput."""
    results = read_results(path)
    if isinstance(results, TuneResults):
        return _tuned_capacity(path, results, target)
    for sweep in results.sweeps:
        if sweep.model == target:
            best = sweep.max_inferences_per_s_within_p99
            if best is None:
                raise InputError(f"{path}: no step of the sweep of '{target}' met its p99 limit")
            return check_capacity(best, f"{path}: the sweep of '{target}' gives a capacity of")
    verdicts = {v.target: v for v in results.verdicts}
    measurements = {m.target: m for m in results.measurements}
    if target not in verdicts or target not in measurements:
        names = sorted(set(verdicts) | {s.model for s in results.sweeps})
        there = f"there are {', '.join(excerpt(n) for n in names)}" if names else "it holds none"
        raise InputError(f"{path}: no target or swept model named {excerpt(target)}; {there}")
    if not verdicts[target].passed:
        raise InputError(f"{path}: target '{target}' missed its SLO: its throughput is not a capacity under the SLO")
    return _measured_capacity(measurements[target].inferences_per_s, f"{path}: target '{target}' gives a capacity")


def plan_table(result: Plan, traffic: TrafficSpec) -> str:
    """The terminal's view: the capacity planned with, then one row per kind of deployment."""
    lines = [
        f"capacity per replica under the SLO: {result.capacity_per_replica:.1f} inf/s, planned at "
        f"{traffic.target_utilization:.0%}: {result.planned_per_replica:.1f} inf/s; "
        f"{result.inferences_per_month / 1e6:.1f}M inferences a month\n",
        f"{'deployment':<22} {'replicas peak/off':>17} {'$/month':>10} {'$/1M inf':>9}  risk",
    ]
    for option in result.options:
        replicas = f"{option.peak_replicas}/{option.off_peak_replicas}"
        lines.append(
            f"{option.name:<22} {replicas:>17} {option.dollars_per_month:>10.2f} "
            f"{option.dollars_per_million:>9.4f}  {option.risk}"
        )
    return "\n".join(lines)
