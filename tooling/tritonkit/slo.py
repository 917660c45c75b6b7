"""Verdicts: a Measurement against the SLO of its target. Pure: no I/O, no clocks."""

from __future__ import annotations

from dataclasses import dataclass

from tritonkit.measure.measurement import Measurement
from tritonkit.specs import SloSpec


@dataclass(frozen=True)
class Check:
    metric: str  # "p99", "throughput", "error rate", …
    limit: float
    actual: float | None  # None: nothing to measure it on (no successful request)
    unit: str
    upper_bound: bool  # True: actual must be <= limit; False: actual must be >= limit
    passed: bool
    detail: str = ""  # what the actual figure is made of, e.g. the error rate by kind

    @property
    def margin(self) -> float | None:
        """Headroom as a fraction of the limit: positive passes, negative fails by that much."""
        if self.actual is None or self.limit == 0:
            return None
        headroom = self.limit - self.actual if self.upper_bound else self.actual - self.limit
        return headroom / self.limit

    def describe(self) -> str:
        sign = "≤" if self.upper_bound else "≥"
        actual = "nothing measured" if self.actual is None else f"{self.actual:.4g} {self.unit}"
        detail = f" ({self.detail})" if self.detail else ""
        return f"{self.metric} {actual}{detail}, target {sign} {self.limit:.4g} {self.unit}"


@dataclass(frozen=True)
class Verdict:
    target: str
    model: str
    checks: tuple[Check, ...]
    notes: tuple[str, ...]  # caveats that do not fail the target (e.g. an unstable measurement)

    @property
    def passed(self) -> bool:
        return all(c.passed for c in self.checks)

    @property
    def reasons(self) -> tuple[str, ...]:
        """One readable line per failed check."""
        return tuple(c.describe() for c in self.checks if not c.passed)


def judge(target: str, measurement: Measurement, slo: SloSpec) -> Verdict:
    checks: list[Check] = []
    latency = measurement.latency
    for p in (50, 90, 95, 99):
        limit_ms: float | None = getattr(slo, f"p{p}_ms")
        if limit_ms is None:
            continue
        actual = latency.percentile_us(p) / 1000 if latency else None
        checks.append(Check(f"p{p}", limit_ms, actual, "ms", True, actual is not None and actual <= limit_ms))
    if slo.min_inferences_per_s is not None:
        actual = measurement.inferences_per_s
        checks.append(
            Check("throughput", slo.min_inferences_per_s, actual, "inf/s", False, actual >= slo.min_inferences_per_s)
        )
    error_percent = 100 * measurement.error_rate if measurement.sent else None
    limit_percent = 100 * slo.max_error_rate
    passed = error_percent is not None and error_percent <= limit_percent
    checks.append(Check("error rate", limit_percent, error_percent, "%", True, passed, _by_kind(measurement)))
    notes = list(measurement.warnings)
    if measurement.rejected:
        # Shed load is failed requests to the users who sent them, so it counts against max_error_rate;
        # the note keeps it apart from timeouts and broken connections, which mean something else.
        notes.append(
            f"{measurement.rejected} of {measurement.sent} requests ({measurement.rejected_rate:.2%}) were rejected "
            "by the server's queue policy (load shed): counted as failed in the error rate"
        )
    if not measurement.stable:
        notes.append("not stable: the windows never agreed within the tolerance before the time bound")
    return Verdict(target, measurement.model, tuple(checks), tuple(notes))


def _by_kind(measurement: Measurement) -> str:
    """Each error kind's share of the requests due, largest first: '2 % timeout, 0.5 % UNAVAILABLE'."""
    ranked = sorted(measurement.errors.items(), key=lambda item: (-item[1], item[0]))
    return ", ".join(f"{100 * count / measurement.sent:.3g} % {kind}" for kind, count in ranked)
