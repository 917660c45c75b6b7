"""Verdicts: a Measurement against the SLO of its target. Pure: no I/O, no clocks.

Streamed generation (a prompts payload) is judged on its own figures too: time to first token and
inter-token latency by percentile, with the same 95% intervals as latency, and output tokens per
second over every stream.

A latency or throughput check whose 95% interval lies on both sides of its limit is
inconclusive: the run cannot tell whether the target meets it, and calling it PASS or FAIL would
be a coin flip. Such a verdict is INCONCLUSIVE, which is not a pass: a longer run narrows the
interval and settles it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

from tritonkit.measure import stats
from tritonkit.measure.measurement import Measurement
from tritonkit.measure.stats import Interval, LatencySummary, PercentileIntervals
from tritonkit.specs import SloSpec

CheckState = Literal["pass", "fail", "inconclusive"]
VerdictStatus = Literal["PASS", "FAIL", "INCONCLUSIVE"]
RANGE_DASH = "\u2013"  # an en dash, as ranges are written (ruff flags the literal character)
# The SLO's limits on streamed generation, which only a prompts payload measures.
GENERATION_LIMITS = ("ttft_p50_ms", "ttft_p99_ms", "itl_p50_ms", "itl_p99_ms", "min_output_tokens_per_s")
_TOKEN_TIMES = ("ttft", "itl")  # a Generation's fields, and the SLO's key prefixes


@dataclass(frozen=True)
class Check:
    metric: str  # "p99", "throughput", "error rate", …
    limit: float
    actual: float | None  # None: nothing to measure it on (no successful request)
    unit: str
    upper_bound: bool  # True: actual must be <= limit; False: actual must be >= limit
    state: CheckState
    detail: str = ""  # what the actual figure is made of, e.g. the error rate by kind
    interval: Interval | None = None  # 95% confidence interval of `actual`, in `unit`

    @property
    def passed(self) -> bool:
        return self.state == "pass"

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
        detail = self.detail or (f"95% CI {_bounds(self.interval)}" if self.interval else "")
        text = f"{self.metric} {actual}{f' ({detail})' if detail else ''}, target {sign} {self.limit:.4g} {self.unit}"
        return f"{text}: inconclusive" if self.state == "inconclusive" else text


def _bounds(interval: Interval) -> str:
    """Both ends with the same decimals, four significant digits of the larger (91.0 and 104.2)."""
    largest = max(abs(interval.low), abs(interval.high))
    decimals = max(0, 3 - math.floor(math.log10(largest))) if largest else 0
    return f"{interval.low:.{decimals}f}{RANGE_DASH}{interval.high:.{decimals}f}"


def judged(
    metric: str,
    limit: float,
    actual: float | None,
    unit: str,
    upper_bound: bool,
    interval: Interval | None = None,
    detail: str = "",
) -> Check:
    """A check with its state: failed without a figure, inconclusive when the figure and its
    interval fall on both sides of the limit, else passed or failed by the figure."""

    def met(value: float) -> bool:
        return value <= limit if upper_bound else value >= limit

    state: CheckState = "fail"
    if actual is not None:
        outcomes = {met(v) for v in (actual, *((interval.low, interval.high) if interval else ()))}
        state = "inconclusive" if len(outcomes) == 2 else "pass" if met(actual) else "fail"
    return Check(metric, limit, actual, unit, upper_bound, state, detail, interval)


@dataclass(frozen=True)
class Verdict:
    target: str
    model: str
    checks: tuple[Check, ...]
    notes: tuple[str, ...]  # caveats (e.g. an unstable measurement) and how to settle an inconclusive check

    @property
    def status(self) -> VerdictStatus:
        """FAIL when a check failed outright, else INCONCLUSIVE when one could not tell, else PASS."""
        states = {c.state for c in self.checks}
        return "FAIL" if "fail" in states else "INCONCLUSIVE" if "inconclusive" in states else "PASS"

    @property
    def passed(self) -> bool:
        return self.status == "PASS"

    @property
    def reasons(self) -> tuple[str, ...]:
        """One readable line per check that did not pass."""
        return tuple(c.describe() for c in self.checks if not c.passed)


def judge(target: str, measurement: Measurement, slo: SloSpec) -> Verdict:
    checks = _latency_checks(measurement, slo) + _generation_checks(measurement, slo)
    if slo.min_inferences_per_s is not None:
        interval = measurement.intervals.inferences_per_s
        checks.append(
            judged("throughput", slo.min_inferences_per_s, measurement.inferences_per_s, "inf/s", False, interval)
        )
    # Not given an interval: a target allows a failure rate, and one failed request is a fact.
    error_percent = 100 * measurement.error_rate if measurement.sent else None
    checks.append(
        judged("error rate", 100 * slo.max_error_rate, error_percent, "%", True, detail=_by_kind(measurement))
    )
    return Verdict(target, measurement.model, tuple(checks), _notes(measurement, checks))


def _percentile_check(
    metric: str, limit_ms: float, times: LatencySummary | None, intervals: PercentileIntervals | None, p: int
) -> Check:
    actual = times.percentile_us(p) / 1000 if times else None
    interval = intervals.percentile_us(p) if intervals else None
    return judged(metric, limit_ms, actual, "ms", True, interval.scaled(1e-3) if interval else None)


def _latency_checks(measurement: Measurement, slo: SloSpec) -> list[Check]:
    return [
        _percentile_check(f"p{p}", limit_ms, measurement.latency, measurement.intervals, p)
        for p in stats.PERCENTILES
        if (limit_ms := getattr(slo, f"p{p}_ms")) is not None
    ]


def _generation_checks(measurement: Measurement, slo: SloSpec) -> list[Check]:
    """TTFT's and ITL's percentiles, then output tokens/s; failed as 'nothing measured' without a
    generation (the checks before a start refuse such an SLO)."""
    generation, checks = measurement.generation, []
    for name in _TOKEN_TIMES:
        times = getattr(generation, name) if generation else None
        intervals = getattr(generation, f"{name}_intervals") if generation else None
        for p in (50, 99):
            limit_ms: float | None = getattr(slo, f"{name}_p{p}_ms")
            if limit_ms is not None:
                checks.append(_percentile_check(f"{name.upper()} p{p}", limit_ms, times, intervals, p))
    if slo.min_output_tokens_per_s is not None:
        rate = generation.output_tokens_per_s if generation else None
        interval = generation.output_tokens_per_s_interval if generation else None
        checks.append(judged("output tokens/s", slo.min_output_tokens_per_s, rate, "tokens/s", False, interval))
    return checks


def _notes(measurement: Measurement, checks: list[Check]) -> tuple[str, ...]:
    notes = list(measurement.warnings)
    if measurement.rejected:
        # Shed load is failed requests to the users who sent them, so it counts against max_error_rate;
        # the note keeps it apart from timeouts and broken connections, which mean something else.
        notes.append(
            f"{measurement.rejected} of {measurement.sent} requests ({measurement.rejected_rate:.2%}) were rejected "
            "by the server's queue policy (load shed): counted as failed in the error rate"
        )
    if not measurement.stable and measurement.mode == "trace":
        notes.append("not the whole trace: duration_s ended the replay before the trace did")
    elif not measurement.stable:
        notes.append("not stable: the windows never agreed within the tolerance before the time bound")
    notes.extend(_without_interval(measurement, checks))
    unsettled = [c.metric for c in checks if c.state == "inconclusive"]
    if unsettled:
        notes.append(
            f"inconclusive ({', '.join(unsettled)}): a 95% interval spans its limit; a longer run (a larger "
            "load.duration_s: more windows and requests) narrows it"
        )
    return tuple(notes)


def _without_interval(measurement: Measurement, checks: list[Check]) -> list[str]:
    """The checks that should have had an interval and were judged on the figure alone, and why."""
    generation = measurement.generation
    samples = {"": (measurement.latency, "successful requests")}
    if generation is not None:
        samples |= {"TTFT ": (generation.ttft, "first tokens"), "ITL ": (generation.itl, "gaps between tokens")}
    why = {
        f"{prefix}p{p}": f"its {times.count if times else 0} {what}, correlated in time, count as fewer than the "
        f"{stats.min_requests(p)} independent ones it needs"
        for prefix, (times, what) in samples.items()
        for p in (50, 99)
    } | {  # batch means: the spread between windows
        rate: "it needs at least 2 measured windows" for rate in ("throughput", "output tokens/s")
    }
    return [
        f"{c.metric} judged without a 95% interval: {why[c.metric]}"
        for c in checks
        if c.metric in why and c.actual is not None and c.interval is None
    ]


def _by_kind(measurement: Measurement) -> str:
    """Each error kind's share of the requests due, largest first: '2 % timeout, 0.5 % UNAVAILABLE'."""
    ranked = sorted(measurement.errors.items(), key=lambda item: (-item[1], item[0]))
    return ", ".join(f"{100 * count / measurement.sent:.3g} % {kind}" for kind, count in ranked)
