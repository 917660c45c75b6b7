"""Verdicts (pass, fail, inconclusive), nearest-rank percentiles, and the sweep analysis (knee, best
point within a p99 limit): pure functions, so synthetic measurements with chosen figures are enough."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pytest

from tritonkit.check import CheckResult, verdict_table
from tritonkit.measure import sweep
from tritonkit.measure.measurement import (
    REJECTED_QUEUE_FULL,
    REJECTED_QUEUE_TIMEOUT,
    Energy,
    Measurement,
    RequestLog,
)
from tritonkit.measure.stats import Interval, Intervals, LatencySummary, percentile, summarize, within
from tritonkit.slo import RANGE_DASH as DASH
from tritonkit.slo import Check, judge, judged
from tritonkit.specs import SloSpec


def latency_ms(p50: float, p90: float, p95: float, p99: float) -> LatencySummary:
    return LatencySummary(100, p50 * 1000, p50 * 1000, p90 * 1000, p95 * 1000, p99 * 1000, p99 * 1200)


NO_INTERVALS = Intervals(None, None, None)


def measurement(
    *,
    latency: LatencySummary | None = None,
    level: float = 10.0,
    requests_per_s: float = 100.0,
    inferences_per_request: int = 1,
    sent: int = 1000,
    errors: dict[str, int] | None = None,
    stable: bool = True,
    warnings: tuple[str, ...] = (),
    mode: str = "open",
    intervals: Intervals = NO_INTERVALS,
    goodput_per_s: float | None = None,
) -> Measurement:
    empty = np.zeros(0)
    return Measurement(
        target="t",
        model="m",
        protocol="grpc",
        mode=mode,
        level=level,
        inferences_per_request=inferences_per_request,
        measured_windows=(0, 2),
        stable=stable,
        duration_s=10.0,
        sent=sent,
        latency=latency,
        intervals=intervals,
        requests_per_s=requests_per_s,
        goodput_per_s=goodput_per_s,
        errors=errors or {},
        error_examples={},
        windows=(),
        late_sends=0,
        send_lag_p99_us=0.0,
        max_send_lag_us=0.0,
        server=None,
        client_overhead_us=None,
        client_cpu_percent=5.0,
        cost_per_million=None,
        energy=Energy(None, "not available"),
        warnings=warnings,
        raw=RequestLog(empty, empty, empty, empty.astype(int), ()),
    )


FAST = latency_ms(5, 8, 9, 15)
NARROW = Intervals(Interval(4500, 5500), Interval(14_000, 16_500), Interval(380, 420))  # around FAST, 400 inf/s


# -- percentiles --------------------------------------------------------------------------------


def test_percentiles_are_nearest_rank() -> None:
    values = np.arange(1, 101, dtype=float)[::-1]  # order does not matter
    assert [percentile(values, p) for p in (50, 90, 95, 99, 100)] == [50, 90, 95, 99, 100]
    four = np.array([40.0, 10.0, 30.0, 20.0])
    # The smallest value with at least p% of values at or below it: never an interpolation.
    assert [percentile(four, p) for p in (1, 25, 26, 50, 51, 75, 76, 99)] == [10, 10, 20, 20, 30, 30, 40, 40]
    assert percentile(np.array([7.0]), 99) == 7.0


def test_summarize_reports_real_latencies() -> None:
    values = np.array([1000.0] * 98 + [5000.0, 90000.0])
    summary = summarize(values)
    assert summary == LatencySummary(100, 1930.0, 1000.0, 1000.0, 1000.0, 5000.0, 90000.0)
    assert summary.percentile_us(99) == 5000.0 and summary.percentile_us(50) == 1000.0
    assert summarize(np.zeros(0)) is None


def test_within_is_relative_to_the_mean() -> None:
    assert within([100.0, 105.0, 95.0], 0.05)
    assert not within([100.0, 112.0, 94.0], 0.05)  # mean 102: 112 is 9.8 % above
    assert within([0.0, 0.0], 0.1) and not within([0.0, 1.0, -1.0], 0.1)
    assert within([5.0], 0.01)


# -- verdicts -----------------------------------------------------------------------------------


def test_a_passing_measurement_has_every_set_limit_checked_with_its_margin() -> None:
    slo = SloSpec(p50_ms=10, p99_ms=20, min_inferences_per_s=300, max_error_rate=0.01)
    result = measurement(latency=FAST, requests_per_s=100, inferences_per_request=4, intervals=NARROW)
    verdict = judge("chat", result, slo)
    assert verdict.passed and verdict.status == "PASS" and verdict.reasons == () and verdict.notes == ()
    assert (verdict.target, verdict.model) == ("chat", "m")
    assert [(c.metric, c.limit, c.actual, c.unit, c.upper_bound) for c in verdict.checks] == [
        ("p50", 10, 5.0, "ms", True),
        ("p99", 20, 15.0, "ms", True),
        ("throughput", 300, 400.0, "inf/s", False),  # inferences: 100 requests/s of 4
        ("error rate", 1.0, 0.0, "%", True),
    ]
    margins = [c.margin for c in verdict.checks]
    assert margins == pytest.approx([0.5, 0.25, 1 / 3, 1.0])
    # The intervals come along in the checks' units; the error rate has none.
    assert [c.interval for c in verdict.checks] == [Interval(4.5, 5.5), Interval(14.0, 16.5), Interval(380, 420), None]


def test_failures_have_negative_margins_and_a_reason_each() -> None:
    slo = SloSpec(p90_ms=10, p95_ms=12, p99_ms=12, min_inferences_per_s=200, max_error_rate=0.01)
    result = measurement(latency=FAST, requests_per_s=150, sent=400, errors={"timeout": 6, "UNAVAILABLE": 2})
    verdict = judge("t", result, slo)
    assert not verdict.passed
    assert [c.passed for c in verdict.checks] == [True, True, False, False, False]
    assert [c.metric for c in verdict.checks] == ["p90", "p95", "p99", "throughput", "error rate"]
    assert [c.margin for c in verdict.checks] == pytest.approx([0.2, 0.25, -0.25, -0.25, -1.0])
    assert verdict.reasons == (
        "p99 15 ms, target ≤ 12 ms",
        "throughput 150 inf/s, target ≥ 200 inf/s",
        "error rate 2 % (1.5 % timeout, 0.5 % UNAVAILABLE), target ≤ 1 %",
    )


def test_a_value_exactly_at_the_limit_passes() -> None:
    slo = SloSpec(p99_ms=15, min_inferences_per_s=100, max_error_rate=0.02)
    verdict = judge("t", measurement(latency=FAST, requests_per_s=100, sent=100, errors={"x": 2}), slo)
    assert verdict.passed and [c.margin for c in verdict.checks] == [0.0, 0.0, 0.0]


def test_any_error_fails_the_default_slo() -> None:
    verdict = judge("t", measurement(latency=FAST, sent=10_000, errors={"timeout": 1}), SloSpec())
    (check,) = verdict.checks
    assert (check.metric, check.limit, check.actual, check.passed) == ("error rate", 0.0, 0.01, False)
    assert check.margin is None  # no headroom can be expressed as a fraction of a zero limit
    assert verdict.reasons == ("error rate 0.01 % (0.01 % timeout), target ≤ 0 %",)
    assert judge("t", measurement(latency=FAST), SloSpec()).passed


def test_rejections_are_failed_requests_with_a_note_of_their_own() -> None:
    """Shed load counts against max_error_rate like any failed request, and the verdict says so."""
    errors = {REJECTED_QUEUE_FULL: 30, REJECTED_QUEUE_TIMEOUT: 10, "timeout": 0}
    result = measurement(latency=FAST, sent=400, errors={k: v for k, v in errors.items() if v})
    assert (result.rejected, result.rejected_rate) == (40, 0.1)
    shedding = judge("t", result, SloSpec(max_error_rate=0.05))
    assert not shedding.passed
    assert shedding.reasons == (
        "error rate 10 % (7.5 % rejected: queue full, 2.5 % rejected: queue timeout), target ≤ 5 %",
    )
    assert shedding.notes[-1] == (
        "40 of 400 requests (10.00%) were rejected by the server's queue policy (load shed): "
        "counted as failed in the error rate"
    )
    assert judge("t", result, SloSpec(max_error_rate=0.1)).passed  # an SLO may allow shedding
    assert not any("rejected" in n for n in judge("t", measurement(latency=FAST, sent=9), SloSpec()).notes)


def test_the_verdict_table_shows_rejections_and_a_growing_queue() -> None:
    shed = measurement(latency=FAST, sent=400, errors={REJECTED_QUEUE_FULL: 40})
    growing = "queue growing over 3 windows: requests outstanding at the window's end 30 → 600"
    queued = measurement(latency=FAST, sent=400, warnings=(growing,))
    slo = SloSpec(p99_ms=20, max_error_rate=0.05)
    table = verdict_table(CheckResult((shed, queued), (judge("shed", shed, slo), judge("queued", queued, slo))))
    header, _, shed_row, *rest = table.splitlines()
    assert header.split()[-2:] == ["rejected", "margins"]
    assert shed_row.split()[2:9] == ["FAIL", "5.00", "15.00", "100.0", "—", "10.00%", "10.00%"]
    assert "    ✗ error rate 10 % (10 % rejected: queue full), target ≤ 5 %" in rest
    assert "    errors rejected: queue full: 40, e.g. " in rest
    assert f"    ! {growing}" in rest


def test_nothing_measured_fails_every_latency_check() -> None:
    slo = SloSpec(p50_ms=10, p99_ms=20, min_inferences_per_s=1, max_error_rate=1.0)
    verdict = judge("t", measurement(latency=None, requests_per_s=0.0, sent=50, errors={"timeout": 50}), slo)
    p50, p99, throughput, errors = verdict.checks
    assert (p50.actual, p50.passed, p50.margin) == (None, False, None)
    assert (p99.actual, p99.passed) == (None, False)
    assert (throughput.actual, throughput.passed, throughput.margin) == (0.0, False, -1.0)
    assert (errors.actual, errors.passed) == (100.0, True)  # every request failed, which this SLO allows
    assert verdict.reasons == (
        "p50 nothing measured, target ≤ 10 ms",
        "p99 nothing measured, target ≤ 20 ms",
        "throughput 0 inf/s, target ≥ 1 inf/s",
    )


def test_nothing_sent_cannot_pass_the_error_rate() -> None:
    verdict = judge("t", measurement(latency=None, sent=0), SloSpec(max_error_rate=1.0))
    (check,) = verdict.checks
    assert (check.actual, check.passed, check.margin) == (None, False, None)
    assert not verdict.passed


def test_notes_carry_warnings_and_instability_without_failing() -> None:
    result = measurement(latency=FAST, stable=False, warnings=("the client used 95% of a core",))
    verdict = judge("t", result, SloSpec(p99_ms=20))
    assert verdict.passed
    assert verdict.notes == (
        "the client used 95% of a core",
        "not stable: the windows never agreed within the tolerance before the time bound",
        "p99 judged without a 95% interval: its 100 successful requests, correlated in time, count as fewer "
        "than the 2000 independent ones it needs",
    )
    assert judge("t", measurement(latency=FAST, warnings=("w",)), SloSpec()).notes == ("w",)


def test_check_margin_and_description() -> None:
    assert Check("throughput", 200.0, 260.0, "inf/s", False, "pass").margin == pytest.approx(0.3)
    assert Check("p95", 8.0, 10.0, "ms", True, "fail").describe() == "p95 10 ms, target ≤ 8 ms"
    assert Check("p99", 8.0, 0.123456, "ms", True, "pass").describe() == "p99 0.1235 ms, target ≤ 8 ms"
    failed = Check("p99", 8.0, 10.0, "ms", True, "fail", interval=Interval(9.0, 11.0))
    assert failed.describe() == f"p99 10 ms (95% CI 9.00{DASH}11.00), target ≤ 8 ms"


def test_an_interval_across_the_limit_is_inconclusive() -> None:
    near = latency_ms(5, 8, 9, 98.1)
    intervals = Intervals(Interval(4500, 5500), Interval(91_000, 104_200), Interval(280, 340))
    result = measurement(latency=near, requests_per_s=310, intervals=intervals)
    verdict = judge("t", result, SloSpec(p50_ms=10, p99_ms=100, min_inferences_per_s=300))
    assert [c.state for c in verdict.checks] == ["pass", "inconclusive", "inconclusive", "pass"]
    assert verdict.status == "INCONCLUSIVE" and not verdict.passed
    assert verdict.reasons == (
        f"p99 98.1 ms (95% CI 91.0{DASH}104.2), target ≤ 100 ms: inconclusive",
        f"throughput 310 inf/s (95% CI 280.0{DASH}340.0), target ≥ 300 inf/s: inconclusive",
    )
    assert verdict.notes == (
        "inconclusive (p99, throughput): a 95% interval spans its limit; a longer run (a larger "
        "load.duration_s: more windows and requests) narrows it",
    )


def test_a_conclusive_failure_outweighs_an_inconclusive_check() -> None:
    intervals = Intervals(Interval(4500, 5500), Interval(91_000, 104_200), Interval(240, 260))
    result = measurement(latency=latency_ms(5, 8, 9, 98.1), requests_per_s=250, intervals=intervals)
    verdict = judge("t", result, SloSpec(p99_ms=100, min_inferences_per_s=300))
    assert [c.state for c in verdict.checks] == ["inconclusive", "fail", "pass"]
    assert verdict.status == "FAIL" and not verdict.passed


@pytest.mark.parametrize(
    ("low", "high", "state"),
    [
        (9.0, 11.0, "inconclusive"),
        (11.0, 13.0, "fail"),  # all of it above the limit
        (7.0, 9.9, "pass"),
        (7.0, 10.0, "pass"),  # at the limit passes, as the figure itself does
        (10.0, 12.0, "inconclusive"),
    ],
)
def test_the_state_of_an_upper_limit(low: float, high: float, state: str) -> None:
    figure = min(max(9.5, low), high)
    assert judged("p99", 10.0, figure, "ms", True, Interval(low, high)).state == state


def test_the_state_of_a_lower_limit_and_without_an_interval() -> None:
    assert judged("throughput", 100.0, 105.0, "inf/s", False, Interval(95.0, 115.0)).state == "inconclusive"
    assert judged("throughput", 100.0, 105.0, "inf/s", False, Interval(100.0, 115.0)).state == "pass"
    assert judged("throughput", 100.0, 90.0, "inf/s", False, Interval(80.0, 99.0)).state == "fail"
    assert judged("throughput", 100.0, 105.0, "inf/s", False).state == "pass"
    assert judged("throughput", 100.0, 95.0, "inf/s", False).state == "fail"
    assert judged("p99", 10.0, None, "ms", True, Interval(1.0, 2.0)).state == "fail"  # nothing measured


def test_the_error_rate_is_never_inconclusive() -> None:
    verdict = judge("t", measurement(latency=FAST, sent=1000, errors={"timeout": 10}), SloSpec(max_error_rate=0.01))
    (check,) = verdict.checks
    assert (check.state, check.interval, check.actual) == ("pass", None, 1.0)


def test_the_verdict_table_shows_inconclusive_targets_intervals_and_goodput() -> None:
    near = measurement(
        latency=latency_ms(5, 8, 9, 98.1),
        intervals=Intervals(None, Interval(91_000, 104_200), None),
        goodput_per_s=90.0,
        inferences_per_request=2,
    )
    clear = measurement(latency=FAST, intervals=NARROW, goodput_per_s=100.0)
    slo = SloSpec(p99_ms=100)
    table = verdict_table(CheckResult((near, clear), (judge("near", near, slo), judge("clear", clear, slo))))
    _, _, near_row, *rest = table.splitlines()
    assert near_row.split()[2:8] == ["INCONC", "5.00", "98.10", "±7.1", "200.0", "180.0"]  # goodput: 2 x 90
    assert near_row.endswith("p99 +2%?, error rate ok")
    assert f"    ? p99 98.1 ms (95% CI 91.0{DASH}104.2), target ≤ 100 ms: inconclusive" in rest
    clear_row = next(line for line in rest if line.startswith("clear"))
    assert clear_row.split()[2:7] == ["PASS", "5.00", "15.00", "±1.5", "100.0"]
    assert rest[-1] == "1 of 2 targets met their SLO (0 failed, 1 inconclusive)"
    assert max(len(line) for line in table.splitlines()) <= 160


# -- sweeps -------------------------------------------------------------------------------------


def curve(
    levels: Sequence[float], throughputs: Sequence[float], p99s_ms: Sequence[float] | None = None
) -> list[Measurement]:
    p99s_ms = p99s_ms or [5.0] * len(levels)
    return [
        measurement(level=lv, requests_per_s=tp, latency=latency_ms(1, 2, 3, p99))
        for lv, tp, p99 in zip(levels, throughputs, p99s_ms, strict=True)
    ]


def test_knee_of_a_curve_that_keeps_following_the_load_is_the_last_point() -> None:
    assert sweep.knee_index(curve([10, 20, 40, 80], [10, 20, 40, 80])) == 3
    # Throughput growing at exactly half the load's rate is still following it.
    assert sweep.knee_index(curve([10, 20, 40], [100, 150, 225])) == 2


def test_knee_of_a_saturating_curve_is_the_bend() -> None:
    assert sweep.knee_index(curve([10, 20, 40, 80, 160], [10, 20, 39, 47, 48])) == 2
    assert sweep.knee_index(curve([1, 2, 3, 4], [100, 110, 112, 112])) == 0  # bends from the first step
    # Just under half: past the knee.
    assert sweep.knee_index(curve([10, 20, 40], [100, 149, 200])) == 0


def test_knee_needs_two_points() -> None:
    assert sweep.knee_index([]) is None
    assert sweep.knee_index(curve([10], [10])) is None


def test_analyze_orders_points_and_finds_the_best_within_the_p99_limit() -> None:
    levels = [40, 10, 80, 20, 160]
    throughputs = [39, 10, 47, 20, 48]
    p99s = [8.0, 2.0, 30.0, 3.0, 90.0]
    result = sweep.analyze("m", curve(levels, throughputs, p99s), p99_limit_ms=10)
    assert [p.level for p in result.points] == [10, 20, 40, 80, 160]
    assert (result.model, result.mode, result.p99_limit_ms) == ("m", "open", 10)
    assert result.knee == 2 and result.best == 2
    assert result.max_inferences_per_s_within_p99 == 39


def test_best_is_the_highest_throughput_not_the_highest_load() -> None:
    # Throughput drops past saturation (collapse) while p99 still meets a loose limit.
    points = curve([1, 2, 4, 8], [100, 180, 150, 120], [1, 2, 3, 4])
    result = sweep.analyze("m", points, p99_limit_ms=50)
    assert result.best == 1 and result.max_inferences_per_s_within_p99 == 180
    assert result.knee == 1  # 100 → 180 still follows the doubled load; 180 → 150 does not


def test_best_is_none_when_no_point_meets_the_limit() -> None:
    result = sweep.analyze("m", curve([10, 20], [10, 20], [11, 12]), p99_limit_ms=10)
    assert result.best is None and result.max_inferences_per_s_within_p99 is None
    assert result.knee == 1


def test_points_with_errors_or_without_latency_never_meet_the_limit() -> None:
    ok = measurement(level=1, requests_per_s=10, latency=latency_ms(1, 1, 1, 2))
    errors = measurement(level=2, requests_per_s=20, latency=latency_ms(1, 1, 1, 2), errors={"timeout": 1})
    none = measurement(level=4, requests_per_s=0, latency=None)
    assert sweep.meets_p99(ok, 2.0) and not sweep.meets_p99(ok, 1.999)
    assert not sweep.meets_p99(errors, 10) and not sweep.meets_p99(none, None)
    assert sweep.meets_p99(ok, None)  # without a limit, any clean point
    assert sweep.analyze("m", [none, errors, ok], p99_limit_ms=None).best == 0


def test_inferences_count_the_batch() -> None:
    points = [
        measurement(level=1, requests_per_s=50, inferences_per_request=8, latency=FAST, mode="closed"),
        measurement(level=2, requests_per_s=60, inferences_per_request=8, latency=FAST, mode="closed"),
    ]
    result = sweep.analyze("m", points, p99_limit_ms=None)
    assert result.mode == "closed" and result.best == 1 and result.max_inferences_per_s_within_p99 == 480
    assert result.knee == 0  # 50 → 60 requests/s for twice the load


def test_analyze_without_points() -> None:
    result = sweep.analyze("m", [], p99_limit_ms=5)
    assert (result.points, result.knee, result.best, result.mode) == ((), None, None, "closed")
