"""`tritonkit check`: every target of a targets file measured and judged against its SLO, on a
running server or on a local one started for the check."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import partial
from pathlib import Path

from tritonkit.errors import InputError
from tritonkit.interrupts import run_async
from tritonkit.measure.external import Record, measurement_from_records
from tritonkit.measure.measurement import Measurement
from tritonkit.measure.payloads import with_model_files
from tritonkit.measure.runner import describe_load, measure_target
from tritonkit.measure.summary import Host
from tritonkit.serving import serving
from tritonkit.slo import Verdict, judge
from tritonkit.specs import TargetSpec, TargetsSpec

Progress = Callable[[str], None]


@dataclass(frozen=True)
class CheckResult:
    measurements: tuple[Measurement, ...]
    verdicts: tuple[Verdict, ...]

    @property
    def passed(self) -> bool:
        return all(v.passed for v in self.verdicts)


def run_check(spec: TargetsSpec, host: Host, progress: Progress = print) -> CheckResult:
    measurements, verdicts = [], []
    for target in spec.targets:
        progress(f"measuring {target.name}: {target.model}, {describe_load(target)}")
        measurement = run_async(partial(measure_target, target, host))
        measurements.append(measurement)
        verdicts.append(judge(target.name, measurement, target.slo))
    return CheckResult(tuple(measurements), tuple(verdicts))


def judged_target(spec: TargetsSpec, target_name: str | None) -> TargetSpec:
    """The target a run another generator (Locust) recorded is judged against: the one named, or
    the only one."""
    by_name = {t.name: t for t in spec.targets}
    if target_name is None and len(by_name) == 1:
        target_name = next(iter(by_name))
    if target_name not in by_name:
        raise InputError(f"name the target the run is for (--target): one of {', '.join(by_name)}")
    return by_name[target_name]


def check_records(spec: TargetsSpec, target_name: str | None, records: Sequence[Record]) -> CheckResult:
    """A run another generator (Locust) recorded, judged against one target of `spec`."""
    target = judged_target(spec, target_name)
    measurement = measurement_from_records(target, records, Host("", "", spec.dollars_per_hour, spec.host_watts))
    return CheckResult((measurement,), (judge(target.name, measurement, target.slo),))


def check_served(
    spec: TargetsSpec, repository: Path, grpc_url: str | None, http_url: str | None, progress: Progress = print
) -> CheckResult:
    """The check on a local Triton started on `repository` (each target's model loaded, its served
    config checked against the one written), or on the running server at the URLs, as it serves."""
    remote = bool(grpc_url or http_url)
    with serving(spec, repository, grpc_url, http_url, control=not remote) as served:
        if served.local is not None:
            served.load_each([t.model for t in spec.targets], progress)
        return run_check(spec, served.host, progress)


def with_local_model_files(spec: TargetsSpec, repository: Path) -> TargetsSpec:
    """Tokens and images payloads without a tokenizer or image processor use the one the exporter
    wrote beside the model."""
    targets = []
    for target in spec.targets:
        payload = with_model_files(target.payload, repository / target.model)
        targets.append(target.model_copy(update={"payload": payload}))
    return spec.model_copy(update={"targets": tuple(targets)})


# The verdict column's words, short enough for a sane width; the final line spells them out.
_VERDICT_WORDS = {"PASS": "PASS", "FAIL": "FAIL", "INCONCLUSIVE": "INCONC"}
_STATE_WORDS = {"pass": "ok", "fail": "FAIL", "inconclusive": "INCONC"}
_REASON_MARKS = {"fail": "✗", "inconclusive": "?"}


def verdict_table(result: CheckResult) -> str:
    """The terminal summary: one row per target with its margins (p99 ± the reach of its 95%
    interval; goodput, like inf/s, in inferences/s), then why each check that did not pass did
    not, then the count of passed, failed and inconclusive targets."""
    target_width = max([len("target"), *(len(v.target) for v in result.verdicts)])
    model_width = max([len("model"), *(len(v.model) for v in result.verdicts)])
    header = (
        f"{'target':<{target_width}} {'model':<{model_width}} {'verdict':<7} {'p50 ms':>8} {'p99 ms':>12} "
        f"{'inf/s':>8} {'goodput':>8} {'errors':>7} {'rejected':>8}  margins"
    )
    lines = [header, "-" * len(header)]
    for measurement, verdict in zip(result.measurements, result.verdicts, strict=True):
        latency = measurement.latency
        p50 = f"{latency.p50_us / 1000:.2f}" if latency else "—"
        goodput = measurement.goodput_inferences_per_s
        lines.append(
            f"{verdict.target:<{target_width}} {verdict.model:<{model_width}} {_VERDICT_WORDS[verdict.status]:<7} "
            f"{p50:>8} {_p99(measurement):>12} {measurement.inferences_per_s:>8.1f} "
            f"{'—' if goodput is None else f'{goodput:.1f}':>8} {measurement.error_rate:>7.2%} "
            f"{measurement.rejected_rate:>8.2%}  {_margins(verdict)}"
        )
        lines.extend(f"    {_REASON_MARKS[c.state]} {c.describe()}" for c in verdict.checks if not c.passed)
        lines.extend(
            f"    errors {kind}: {count}, e.g. {measurement.error_examples.get(kind, '')[:120]}"
            for kind, count in measurement.errors.items()
        )
        lines.extend(f"    ! {note}" for note in verdict.notes)
    statuses = [v.status for v in result.verdicts]
    lines.append(
        f"\n{statuses.count('PASS')} of {len(statuses)} targets met their SLO "
        f"({statuses.count('FAIL')} failed, {statuses.count('INCONCLUSIVE')} inconclusive)"
    )
    return "\n".join(lines)


def _p99(measurement: Measurement) -> str:
    """p99 in ms, ± the larger distance from it to an end of its 95% interval."""
    latency, interval = measurement.latency, measurement.intervals.p99_us
    if latency is None:
        return "—"
    if interval is None:
        return f"{latency.p99_us / 1000:.2f}"
    p99, spread = latency.p99_us / 1000, max(latency.p99_us - interval.low, interval.high - latency.p99_us) / 1000
    digits = ".2g" if spread < 100 else ".0f"  # .2g would write 120 as 1.2e+02
    return f"{p99:.2f} ±{spread:{digits}}"


def _margins(verdict: Verdict) -> str:
    """Each check's headroom; an inconclusive one is marked '?'."""
    return ", ".join(
        f"{c.metric} {c.margin:+.0%}{'?' if c.state == 'inconclusive' else ''}"
        if c.margin is not None
        else f"{c.metric} {_STATE_WORDS[c.state]}"
        for c in verdict.checks
    )
