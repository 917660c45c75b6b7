"""Percentiles in one place, from raw per-request latencies in microseconds.

Nearest-rank percentiles (the smallest latency such that at least p% of requests were as fast),
as perf_analyzer and most SLO tooling report them: every reported value is a latency a request
really had, never an interpolation between two.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

PERCENTILES = (50, 90, 95, 99)


@dataclass(frozen=True)
class LatencySummary:
    count: int
    mean_us: float
    p50_us: float
    p90_us: float
    p95_us: float
    p99_us: float
    max_us: float

    def percentile_us(self, p: int) -> float:
        return float(getattr(self, f"p{p}_us"))


def percentile(latencies_us: np.ndarray, p: float) -> float:
    return float(np.percentile(latencies_us, p, method="inverted_cdf"))


def summarize(latencies_us: np.ndarray) -> LatencySummary | None:
    """None when there is nothing to summarize (no successful request)."""
    if latencies_us.size == 0:
        return None
    p50, p90, p95, p99 = (percentile(latencies_us, p) for p in PERCENTILES)
    return LatencySummary(
        count=int(latencies_us.size),
        mean_us=float(latencies_us.mean()),
        p50_us=p50,
        p90_us=p90,
        p95_us=p95,
        p99_us=p99,
        max_us=float(latencies_us.max()),
    )


def within(values: list[float], tolerance: float) -> bool:
    """True when every value is within `tolerance` (a fraction) of their mean."""
    mean = sum(values) / len(values)
    if mean == 0:
        return all(v == 0 for v in values)
    return all(abs(v - mean) <= tolerance * abs(mean) for v in values)
