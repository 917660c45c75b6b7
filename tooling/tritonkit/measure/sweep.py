"""Latency against offered load for one configuration: the knee, and the most throughput that still
meets a p99 target. The analysis is pure; running the steps is `run_sweep`'s job."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from tritonkit.measure.measurement import Measurement

# A step is past the knee when doubling the load buys less than half as much more throughput:
# from there on, extra load mostly turns into queueing, i.e. latency.
KNEE_EFFICIENCY = 0.5


@dataclass(frozen=True)
class SweepResult:
    model: str
    mode: str  # "open" (levels are rates) or "closed" (levels are concurrencies)
    points: tuple[Measurement, ...]  # in increasing load
    p99_limit_ms: float | None
    knee: int | None  # index of the last point before throughput stops following the load
    best: int | None  # index of the highest-throughput point whose p99 meets the limit

    @property
    def max_inferences_per_s_within_p99(self) -> float | None:
        return self.points[self.best].inferences_per_s if self.best is not None else None


def meets_p99(point: Measurement, p99_limit_ms: float | None) -> bool:
    if point.latency is None or point.error_count:
        return False
    return p99_limit_ms is None or point.latency.p99_us <= p99_limit_ms * 1000


def knee_index(points: Sequence[Measurement]) -> int | None:
    """The last point at which throughput still grew at least KNEE_EFFICIENCY x as fast as the load
    (relative growth); the last point when the curve never bends, None without two points."""
    if len(points) < 2:
        return None
    for i in range(1, len(points)):
        before, after = points[i - 1], points[i]
        load_growth = after.level / before.level - 1
        gained = after.inferences_per_s / before.inferences_per_s - 1 if before.inferences_per_s else 0.0
        if load_growth > 0 and gained < KNEE_EFFICIENCY * load_growth:
            return i - 1
    return len(points) - 1


def analyze(model: str, points: Sequence[Measurement], p99_limit_ms: float | None) -> SweepResult:
    ordered = tuple(sorted(points, key=lambda p: p.level))
    meeting = [i for i, p in enumerate(ordered) if meets_p99(p, p99_limit_ms)]
    best = max(meeting, key=lambda i: ordered[i].inferences_per_s) if meeting else None
    mode = ordered[0].mode if ordered else "closed"
    return SweepResult(model, mode, ordered, p99_limit_ms, knee_index(ordered), best)
