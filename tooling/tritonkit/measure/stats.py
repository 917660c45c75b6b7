"""Percentiles, their 95% confidence intervals and goodput, in one place, from raw per-request
latencies in microseconds.

Nearest-rank percentiles (the smallest latency such that at least p% of requests were as fast),
as perf_analyzer and most SLO tooling report them: every reported value is a latency a request
really had, never an interpolation between two.

Load-test data is autocorrelated: a burst of arrivals or a slow batch delays many consecutive
requests, and consecutive windows share the server's state. Formulas that assume independent
requests would give intervals far too narrow, so both intervals keep neighbours together:
throughput by batch means over the measured windows, percentiles by a block bootstrap over the
request sequence.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from tritonkit.specs import SloSpec

PERCENTILES = (50, 90, 95, 99)

# Two-sided 95%: Student's t quantile (0.975) for 1 to 30 degrees of freedom, as printed in tables.
_T_975 = (
    12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228,
    2.201, 2.179, 2.160, 2.145, 2.131, 2.120, 2.110, 2.101, 2.093, 2.086,
    2.080, 2.074, 2.069, 2.064, 2.060, 2.056, 2.052, 2.048, 2.045, 2.042,
)  # fmt: skip
_Z_975 = 1.959963984540054

# A percentile's interval needs this many independent requests beyond it (p99: 2000 requests,
# p50: 40). With fewer, no resample can reach past the few slowest latencies seen, and the
# interval would be falsely narrow on exactly the side an SLO cares about: better none than that.
MIN_TAIL_REQUESTS = 20
BOOTSTRAP_RESAMPLES = 1000
BOOTSTRAP_SEED = 0  # fixed: the same requests always give the same interval
_CHUNK_ELEMENTS = 4_000_000  # resampled latencies held at once (≈ 32 MB of float64)


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


@dataclass(frozen=True)
class Interval:
    """A 95% confidence interval; it always contains the figure it is the interval of."""

    low: float
    high: float

    def scaled(self, factor: float) -> Interval:
        return Interval(self.low * factor, self.high * factor)


@dataclass(frozen=True)
class PercentileIntervals:
    """95% intervals of p50 and p99 of some times (µs); None where too few were measured for one."""

    p50_us: Interval | None
    p99_us: Interval | None

    def percentile_us(self, p: int) -> Interval | None:
        return {50: self.p50_us, 99: self.p99_us}.get(p)


@dataclass(frozen=True)
class Intervals(PercentileIntervals):
    """95% intervals of a measurement's figures (its latency's p50 and p99, and its throughput)."""

    inferences_per_s: Interval | None


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


# -- confidence intervals -------------------------------------------------------------------------


def t_975(degrees_of_freedom: int) -> float:
    """Student's t 0.975 quantile: the table up to 30, then the Cornish-Fisher expansion
    (Abramowitz & Stegun 26.7.5), within 2e-6 of the exact value from 31 on."""
    if degrees_of_freedom <= len(_T_975):
        return _T_975[degrees_of_freedom - 1]
    z, v = _Z_975, degrees_of_freedom
    return (
        z
        + (z**3 + z) / (4 * v)
        + (5 * z**5 + 16 * z**3 + 3 * z) / (96 * v**2)
        + (3 * z**7 + 19 * z**5 + 17 * z**3 - 15 * z) / (384 * v**3)
    )


def throughput_interval(rate_per_s: float, window_rates: Sequence[float]) -> Interval | None:
    """Batch means with the measured windows as batches: a window lasts seconds, far longer than
    a request's influence on the next ones, so window throughputs are close to independent, and
    the t quantile with (windows - 1) degrees of freedom keeps two or three windows' interval as
    wide as it honestly is. None below two windows (no spread to estimate). Caveat: the windows
    kept are the ones that agreed (the stability rule), which can understate their spread.
    Centred on the run's own figure; a rate is never negative."""
    rates = np.asarray(window_rates, dtype=float)
    if rates.size < 2:
        return None
    half = t_975(rates.size - 1) * float(rates.std(ddof=1)) / math.sqrt(rates.size)
    return Interval(max(0.0, rate_per_s - half), rate_per_s + half)


def min_requests(p: float) -> int:
    """The fewest independent requests that give the p-th percentile an interval (see MIN_TAIL_REQUESTS)."""
    return math.ceil(MIN_TAIL_REQUESTS * 100 / (100 - p))


def autocorrelation_time(values: np.ndarray) -> float:
    """How many consecutive values carry one value's worth of information (1: independent):
    the integrated autocorrelation time, summed up to Sokal's adaptive window (the first lag M
    with M >= 5 τ(M)), from an FFT autocorrelation."""
    centred = values - values.mean()
    if not centred.any():
        return 1.0
    spectrum = np.fft.rfft(centred, 2 * centred.size)
    covariance = np.fft.irfft(spectrum * np.conj(spectrum))[: centred.size]
    taus = 2 * np.cumsum(covariance / covariance[0]) - 1
    window = np.flatnonzero(np.arange(taus.size) >= 5 * taus)
    return max(1.0, float(taus[window[0] if window.size else -1]))


def percentile_intervals(latencies_us: np.ndarray, percentiles: Sequence[float]) -> tuple[Interval | None, ...]:
    """Each percentile's 95% interval by a circular block bootstrap (Politis & Romano) over the
    requests in the order they were sent: resamples are built from blocks of consecutive requests,
    so a queueing episode stays whole inside a block and its share of slow latencies varies
    between resamples as it would between runs. Percentile method (the 2.5% and 97.5% resampled
    values), widened if needed to contain the run's own percentile.

    How far the dependence reaches is measured, not assumed: the autocorrelation time τ of
    "slower than the percentile" (what a percentile's error is made of) sets both the block length
    (at least 2τ, and √n) and the requests that count, n/τ. None for a percentile with fewer than
    `min_requests(p)` of those. On simulated latencies with runs of slow requests (AR(1) logs, up
    to φ = 0.9), the intervals given held the true percentile 85-98% of the time; with stronger
    dependence p99 gets none and p50's run a little narrow (about 85%)."""
    if latencies_us.size == 0:
        return (None,) * len(percentiles)
    taus = {p: autocorrelation_time((latencies_us > percentile(latencies_us, p)).astype(float)) for p in percentiles}
    wanted = [p for p in percentiles if latencies_us.size / taus[p] >= min_requests(p)]
    if not wanted:
        return (None,) * len(percentiles)
    length = math.ceil(max(math.sqrt(latencies_us.size), *(2 * taus[p] for p in wanted)))
    replicates = dict(zip(wanted, _block_bootstrap(latencies_us, wanted, length), strict=True))
    return tuple(_interval(latencies_us, p, replicates[p]) if p in replicates else None for p in percentiles)


def _interval(latencies_us: np.ndarray, p: float, replicates: np.ndarray) -> Interval:
    low, high = np.quantile(replicates, [0.025, 0.975])
    point = percentile(latencies_us, p)
    return Interval(min(float(low), point), max(float(high), point))


def _block_bootstrap(latencies_us: np.ndarray, percentiles: Sequence[float], length: int) -> np.ndarray:
    """BOOTSTRAP_RESAMPLES resampled values of each percentile, from blocks of `length`
    consecutive requests (wrapping around): an array (percentiles, resamples)."""
    n = latencies_us.size
    offsets = np.arange(length)
    blocks = math.ceil(n / length)
    rng = np.random.default_rng(BOOTSTRAP_SEED)
    chunk = max(1, _CHUNK_ELEMENTS // n)
    results = []
    for done in range(0, BOOTSTRAP_RESAMPLES, chunk):
        count = min(chunk, BOOTSTRAP_RESAMPLES - done)
        starts = rng.integers(0, n, size=(count, blocks, 1))
        indices = ((starts + offsets) % n).reshape(count, -1)[:, :n]
        results.append(np.percentile(latencies_us[indices], percentiles, axis=1, method="inverted_cdf"))
    return np.concatenate(results, axis=1)


def confidence_intervals(
    latencies_us: np.ndarray, requests_per_s: float, window_rates: Sequence[float], inferences_per_request: int
) -> Intervals:
    """A measurement's intervals: `latencies_us` of its successes in the order they were sent,
    `window_rates` each measured window's successful requests per second."""
    p50, p99 = percentile_intervals(latencies_us, (50, 99))
    requests = throughput_interval(requests_per_s, window_rates)
    return Intervals(p50, p99, requests.scaled(inferences_per_request) if requests else None)


# -- goodput --------------------------------------------------------------------------------------


def latency_deadline_us(slo: SloSpec) -> float | None:
    """The latency a request must meet to count as goodput: the SLO's p99 limit if set, else its
    highest percentile's limit set. The tail limit is the one meant for every request; a p50 limit
    as a deadline would count half the requests of a run that meets it as bad. None: no latency
    limit, and every success counts."""
    for p in reversed(PERCENTILES):
        limit_ms: float | None = getattr(slo, f"p{p}_ms")
        if limit_ms is not None:
            return limit_ms * 1000
    return None


def goodput_per_s(latencies_us: np.ndarray, duration_s: float, deadline_us: float | None) -> float | None:
    """Successful requests per second that met the deadline (`latencies_us`: the successes
    answered in the measured period); None without a period to divide by."""
    if duration_s <= 0:
        return None
    met = latencies_us.size if deadline_us is None else int((latencies_us <= deadline_us).sum())
    return met / duration_s
