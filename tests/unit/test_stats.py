"""Confidence intervals and goodput (measure/stats.py): hand-computed values on small constructed
inputs, and the bootstrap's properties (contains the figure, deterministic, narrower with more
data, wider or absent where requests are correlated or few)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from tritonkit.measure import stats
from tritonkit.measure.stats import Interval, Intervals
from tritonkit.specs import SloSpec

# -- goodput --------------------------------------------------------------------------------------

TEN_MS = np.arange(1, 11, dtype=float) * 1000  # 1 ms, 2 ms, …, 10 ms, in µs


def test_goodput_counts_the_successes_within_the_deadline() -> None:
    # 7 of the 10 requests took at most 7 ms (the deadline itself counts as met), over 2 s.
    assert stats.goodput_per_s(TEN_MS, 2.0, 7000.0) == 3.5
    assert stats.goodput_per_s(TEN_MS, 2.0, 6999.0) == 3.0
    assert stats.goodput_per_s(TEN_MS, 2.0, 500.0) == 0.0
    assert stats.goodput_per_s(TEN_MS, 2.0, None) == 5.0  # no deadline: every success counts
    assert stats.goodput_per_s(np.zeros(0), 2.0, 7000.0) == 0.0
    assert stats.goodput_per_s(TEN_MS, 0.0, 7000.0) is None  # no period to divide by


def test_the_deadline_is_the_tail_limit_of_the_slo() -> None:
    assert stats.latency_deadline_us(SloSpec(p50_ms=10, p95_ms=40, p99_ms=80)) == 80_000
    assert stats.latency_deadline_us(SloSpec(p50_ms=10, p95_ms=40)) == 40_000
    assert stats.latency_deadline_us(SloSpec(p50_ms=10, p90_ms=30)) == 30_000
    assert stats.latency_deadline_us(SloSpec(p50_ms=10)) == 10_000
    assert stats.latency_deadline_us(SloSpec(min_inferences_per_s=5)) is None


# -- throughput: batch means over windows ---------------------------------------------------------


def ends(interval: Interval | None) -> tuple[float, float]:
    assert interval is not None
    return interval.low, interval.high


def test_t_quantiles() -> None:
    assert [stats.t_975(df) for df in (1, 2, 3, 4, 30)] == [12.706, 4.303, 3.182, 2.776, 2.042]
    assert stats.t_975(31) == pytest.approx(2.0395, abs=1e-4)
    assert stats.t_975(120) == pytest.approx(1.9799, abs=1e-4)
    assert stats.t_975(10**6) == pytest.approx(1.95996, abs=1e-5)


def test_throughput_interval_from_four_windows_by_hand() -> None:
    # mean 101; deviations -1, 9, -11, 3: squares sum to 212; s² = 212/3, s = 8.40635,
    # standard error s/√4 = 4.20317; half-width 3.182 x 4.20317 = 13.37450.
    interval = stats.throughput_interval(101.0, [100.0, 110.0, 90.0, 104.0])
    assert ends(interval) == pytest.approx((87.62550, 114.37450), abs=1e-4)


def test_throughput_interval_is_wide_from_two_windows_and_none_from_one() -> None:
    # [10, 20]: s = 7.07107, standard error 5, half-width 12.706 x 5 = 63.53; a rate is never negative.
    assert ends(stats.throughput_interval(15.0, [10.0, 20.0])) == pytest.approx((0.0, 78.53))
    assert stats.throughput_interval(15.0, [15.0]) is None
    assert stats.throughput_interval(0.0, []) is None
    assert stats.throughput_interval(50.0, [50.0, 50.0, 50.0]) == Interval(50.0, 50.0)  # no spread at all


def test_confidence_intervals_count_inferences() -> None:
    intervals = stats.confidence_intervals(np.zeros(0), 101.0, [100.0, 110.0, 90.0, 104.0], 4)
    assert intervals.p50_us is None and intervals.p99_us is None
    assert ends(intervals.inferences_per_s) == pytest.approx((4 * 87.62550, 4 * 114.37450))
    assert Interval(1.0, 2.5).scaled(1e3) == Interval(1000.0, 2500.0)
    assert Intervals(Interval(1, 2), None, None).percentile_us(50) == Interval(1, 2)
    assert Intervals(Interval(1, 2), None, None).percentile_us(95) is None


# -- autocorrelation time -------------------------------------------------------------------------


def test_autocorrelation_time() -> None:
    rng = np.random.default_rng(1)
    independent = rng.normal(size=20_000)
    assert 1.0 <= stats.autocorrelation_time(independent) < 1.1
    # Each value repeated 5 times: lag j shares (5 - j)/5 of its pairs, so τ = 1 + 2 (4+3+2+1)/5 = 5.
    assert stats.autocorrelation_time(np.repeat(independent, 5)) == pytest.approx(5.0, rel=0.1)
    assert stats.autocorrelation_time(np.full(100, 3.0)) == 1.0  # constant: nothing to correlate
    assert stats.autocorrelation_time(np.tile([0.0, 1.0], 500)) == 1.0  # anti-correlated: never below 1


# -- percentiles: block bootstrap -----------------------------------------------------------------


def lognormal(n: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).lognormal(np.log(5000), 0.4, n)


def ar1(n: int, phi: float, seed: int = 0) -> np.ndarray:
    """Log-normal latencies whose logs follow an AR(1) process: slow requests come in runs."""
    rng = np.random.default_rng(seed)
    noise = rng.normal(0, 0.4 * math.sqrt(1 - phi**2), n)
    logs = np.empty(n)
    logs[0] = rng.normal(0, 0.4)
    for i in range(1, n):
        logs[i] = phi * logs[i - 1] + noise[i]
    return 5000 * np.exp(logs)


def width(interval: Interval | None) -> float:
    assert interval is not None
    return interval.high - interval.low


def test_minimum_requests_per_percentile() -> None:
    assert (stats.min_requests(50), stats.min_requests(90), stats.min_requests(99)) == (40, 200, 2000)


def test_bootstrap_intervals_contain_the_figure_and_are_deterministic() -> None:
    latencies = lognormal(5000)
    p50, p99 = stats.percentile_intervals(latencies, (50, 99))
    assert p50 is not None and p50.low <= stats.percentile(latencies, 50) <= p50.high
    assert p99 is not None and p99.low <= stats.percentile(latencies, 99) <= p99.high
    assert p50.high < p99.low
    assert stats.percentile_intervals(latencies, (50, 99)) == (p50, p99)
    assert stats.percentile_intervals(latencies.copy(), (99, 50)) == (p99, p50)


def test_bootstrap_intervals_shrink_with_more_data() -> None:
    small, large = lognormal(3000, seed=3), lognormal(30_000, seed=3)
    for p in (50, 99):
        (few,), (many,) = stats.percentile_intervals(small, (p,)), stats.percentile_intervals(large, (p,))
        assert width(many) < 0.5 * width(few)  # ~ 1/√10 ≈ 0.32 expected


def test_too_few_requests_give_no_interval_and_few_a_wide_one() -> None:
    assert stats.percentile_intervals(lognormal(1999), (99,)) == (None,)
    assert stats.percentile_intervals(lognormal(39), (50,)) == (None,)
    assert stats.percentile_intervals(np.zeros(0), (50, 99)) == (None, None)
    p50, p99 = stats.percentile_intervals(lognormal(40), (50, 99))
    assert p99 is None and width(p50) > 5 * width(stats.percentile_intervals(lognormal(4000), (50,))[0])


def test_correlated_requests_widen_the_interval_or_withhold_it() -> None:
    """The same latencies, in runs (as a queue makes them) and shuffled: runs carry less
    information, and the interval says so."""
    runs = ar1(20_000, phi=0.9)
    shuffled = np.random.default_rng(0).permutation(runs)
    (in_runs,), (independent,) = stats.percentile_intervals(runs, (50,)), stats.percentile_intervals(shuffled, (50,))
    assert width(in_runs) > 2 * width(independent)
    # Requests past p99 come in runs of ~5: 8 000 count as ~1 600 independent ones, too few for a p99 interval.
    assert stats.percentile_intervals(ar1(8000, phi=0.9), (99,)) == (None,)
    assert stats.percentile_intervals(np.random.default_rng(0).permutation(ar1(8000, phi=0.9)), (99,)) != (None,)


def test_identical_latencies_have_a_point_interval() -> None:
    assert stats.percentile_intervals(np.full(3000, 10_000.0), (50, 99)) == (Interval(10_000.0, 10_000.0),) * 2
