"""What "best" means for a target, and how two trials compare. Pure.

An open-loop target (chat: requests arrive at a rate) wants the lowest p99 at that rate; a
closed-loop one (a pipeline: a fixed number in flight) the most inferences per second. Both only
among trials that meet every SLO limit. Scores are intervals, higher is better: one trial beats
another only when their 95% intervals do not overlap, so noise is not chased.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from tritonkit.measure.stats import Interval
from tritonkit.specs import SloSpec, TargetSpec
from tritonkit.tune.trials import TrialFigures


@dataclass(frozen=True)
class Score:
    value: float
    low: float
    high: float

    def beats(self, other: Score) -> bool:
        """Better beyond noise: the intervals do not overlap."""
        return self.low > other.high


@dataclass(frozen=True)
class Objective:
    kind: Literal["latency", "throughput"]
    slo: SloSpec

    @classmethod
    def of(cls, target: TargetSpec) -> Objective:
        return cls("latency" if target.load.mode == "open" else "throughput", target.slo)

    def describe(self) -> str:
        return "lowest p99 within the SLO" if self.kind == "latency" else "most inferences/s within the SLO"

    def violations(self, figures: TrialFigures) -> list[str]:
        """The SLO limits the trial's point estimates miss (empty: feasible)."""
        slo, missed = self.slo, []
        for p in (50, 90, 95, 99):
            limit = getattr(slo, f"p{p}_ms")
            actual = getattr(figures, f"p{p}_ms")
            if limit is not None and (actual is None or actual > limit):
                missed.append(f"p{p} {_ms(actual)} > {limit:g} ms")
        if slo.min_inferences_per_s is not None and figures.inferences_per_s < slo.min_inferences_per_s:
            missed.append(f"{figures.inferences_per_s:.1f} inf/s < {slo.min_inferences_per_s:g}")
        if figures.error_rate > slo.max_error_rate:
            missed.append(f"error rate {figures.error_rate:.2%} > {slo.max_error_rate:.2%}")
        return missed

    def feasible(self, figures: TrialFigures) -> bool:
        return not self.violations(figures)

    def score(self, figures: TrialFigures) -> Score:
        if self.kind == "latency":
            p99 = figures.p99_ms if figures.p99_ms is not None else float("inf")
            interval = figures.p99_interval_ms or Interval(p99, p99)
            return Score(-p99, -interval.high, -interval.low)
        interval = figures.inferences_interval or Interval(figures.inferences_per_s, figures.inferences_per_s)
        return Score(figures.inferences_per_s, interval.low, interval.high)


def _ms(value: float | None) -> str:
    return "none" if value is None else f"{value:.1f} ms"
