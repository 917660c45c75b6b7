"""The load engine without a server: a fake `send` stands in for the network, so what is under test
is the engine itself (schedules, concurrency, windows, draining, errors) and the Measurement that
summarize_run derives from a run.

Bounds are correctness bounds with wide margins, never performance figures: these run on small,
shared machines.
"""

from __future__ import annotations

import asyncio
import itertools
import re
from collections.abc import Callable, Coroutine
from dataclasses import replace
from typing import Any

import numpy as np
import pytest

from tritonkit.measure.client import RequestFailed, StatsSnapshot, kind_of
from tritonkit.measure.energy import NvmlMeter
from tritonkit.measure.loadgen import LATE_AFTER_NS, LoadRun, run_load
from tritonkit.measure.measurement import (
    CONNECTION,
    NOT_SENT,
    REJECTED_QUEUE_FULL,
    REJECTED_QUEUE_TIMEOUT,
    WindowStats,
    backlog_growth,
)
from tritonkit.measure.stats import within
from tritonkit.measure.summary import Edge, Host, summarize_run
from tritonkit.specs import ClosedLoopLoad, LoadSpec, OpenLoopLoad, RandomPayload, SloSpec, TargetSpec

MS = 1_000_000  # ns


class Fake:
    """A stand-in server: each request takes `latency_s(i)` seconds (or fails as `fail(i)` says),
    and what the engine does to it is recorded."""

    def __init__(
        self,
        latency_s: Callable[[int], float] | float = 0.002,
        fail: Callable[[int], RequestFailed | None] = lambda i: None,
        immediate: Callable[[int], bool] = lambda i: False,
    ) -> None:
        self.latency_s = latency_s if callable(latency_s) else (lambda i: latency_s)
        self.fail = fail
        self.immediate = immediate
        self.started: list[int] = []
        self.in_flight = 0
        self.max_in_flight = 0
        self.in_flight_at_start: list[int] = []
        self.outcome: dict[int, str] = {}
        self.snapshots = 0

    async def send(self, i: int) -> None:
        self.started.append(i)
        failure = self.fail(i)
        if failure is not None and self.immediate(i):
            self.outcome[i] = failure.kind
            raise failure  # before any await: the request never leaves the client
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        self.in_flight_at_start.append(self.in_flight)
        try:
            await asyncio.sleep(self.latency_s(i))
        finally:
            self.in_flight -= 1
        self.outcome[i] = failure.kind if failure else ""
        if failure is not None:
            raise failure

    async def snapshot(self) -> tuple[int, int]:
        """(how many snapshots before this one, requests in flight now)."""
        self.snapshots += 1
        return self.snapshots - 1, self.in_flight


def run(load: LoadSpec, send: Callable[[int], Coroutine[Any, Any, None]], snapshot: Any) -> LoadRun[Any]:
    return asyncio.run(run_load(load, send, snapshot))


def closed(**fields: Any) -> ClosedLoopLoad:
    return ClosedLoopLoad.model_validate(
        {"mode": "closed", "warmup_s": 0.1, "window_s": 0.2, "duration_s": 0.6} | fields
    )


def open_(**fields: Any) -> OpenLoopLoad:
    defaults = {"mode": "open", "arrivals": "constant", "warmup_s": 0.1, "window_s": 0.2, "duration_s": 0.6}
    return OpenLoopLoad.model_validate(defaults | fields)


def latency_ns(result: LoadRun[Any]) -> np.ndarray:
    return result.done_ns - result.scheduled_ns


def check_edges(result: LoadRun[Any], fake: Fake) -> None:
    """A snapshot at every window edge and one after the drain, with nothing left in flight."""
    assert len(result.boundaries) == len(result.windows) + 1
    assert len(result.snapshots) == len(result.boundaries) + 1
    assert [s[0] for s in result.snapshots] == list(range(len(result.snapshots)))
    assert result.snapshots[-1][1] == 0 and fake.in_flight == 0
    assert np.all(np.diff(result.boundaries) > 0) and result.boundaries[0] >= result.started_ns
    # Every request that was sent is in the log, answered after it was sent; so are those that were
    # due but never left (the open loop's backlog at its max_in_flight cap when the run ended).
    assert len(result.done_ns) == len(result.error) == len(fake.started) + result.error.count(NOT_SENT)
    assert sorted(fake.started) == list(range(len(fake.started)))
    assert np.all(result.sent_ns >= result.scheduled_ns) and np.all(result.done_ns >= result.sent_ns)
    assert [w.index for w in result.windows] == list(range(len(result.windows)))


# -- closed loop --------------------------------------------------------------------------------


def test_closed_loop_keeps_exactly_concurrency_requests_in_flight() -> None:
    fake = Fake(latency_s=0.005)
    result = run(closed(concurrency=5), fake.send, fake.snapshot)
    check_edges(result, fake)
    assert not result.open_loop
    assert fake.max_in_flight == 5
    # Workers start one after the other, then each answer is followed at once by the next send.
    assert fake.in_flight_at_start[:5] == [1, 2, 3, 4, 5]
    assert set(fake.in_flight_at_start[5:]) == {5}
    # A closed loop's request is due when its worker sends it.
    assert np.all(result.sent_ns - result.scheduled_ns < MS)
    assert np.all(latency_ns(result) >= 5 * MS)
    # 5 in flight for 0.5 s at ≥ 5 ms each: at most 500 requests, and not a handful either.
    assert 100 < len(result.done_ns) <= 5 * (result.boundaries[-1] - result.started_ns) / (5 * MS) + 5


def test_a_closed_loop_whose_requests_fail_without_awaiting_does_not_hang() -> None:
    fake = Fake(fail=lambda i: RequestFailed("refused", "connection refused"), immediate=lambda i: True)
    load = closed(concurrency=2, warmup_s=0.05, window_s=0.1, duration_s=0.3)
    result = _in_time(lambda: run(load, fake.send, fake.snapshot), seconds=20)
    check_edges(result, fake)
    assert len(result.windows) == 3 and not result.stable  # windows without a success never agree
    assert all(w.p99_us is None and w.throughput_per_s == 0 and w.errors == w.completed for w in result.windows)
    assert set(result.error) == {"refused"} and result.error_examples == {"refused": "connection refused"}
    assert len(result.error) > 50


def _in_time(function: Callable[[], LoadRun[Any]], seconds: float) -> LoadRun[Any]:
    """Run `function` in a thread so that a hung event loop fails the test instead of the session."""
    import threading

    results: list[LoadRun[Any]] = []
    thread = threading.Thread(target=lambda: results.append(function()), daemon=True)
    thread.start()
    thread.join(seconds)
    assert not thread.is_alive(), f"the load did not finish within {seconds} s"
    return results[0]


def test_a_slow_snapshot_never_moves_a_window_edge() -> None:
    """Statistics calls at the edges run beside the load: a server slow to answer them (here 1 s,
    five windows) neither stretches the windows nor loses a snapshot; the run waits for them."""
    fake = Fake(latency_s=0.002)

    async def slow() -> tuple[int, int]:
        taken = await fake.snapshot()
        await asyncio.sleep(1.0)
        return taken

    load = closed(concurrency=2)
    result = run(load, fake.send, slow)
    assert len(result.windows) == load.max_windows == 3
    assert len(result.snapshots) == len(result.boundaries) + 1
    assert [s[0] for s in result.snapshots] == list(range(len(result.snapshots)))
    late_ns = [edge - result.boundaries[0] - k * 200 * MS for k, edge in enumerate(result.boundaries)]
    assert all(0 <= late < 500 * MS for late in late_ns)  # on schedule: far less than one slow snapshot


# -- open loop ----------------------------------------------------------------------------------


def test_open_loop_sends_on_a_constant_schedule() -> None:
    fake = Fake(latency_s=0.002)
    load = open_(rate_per_s=200, warmup_s=0.2, window_s=0.25, duration_s=1.0)
    result = run(load, fake.send, fake.snapshot)
    check_edges(result, fake)
    assert result.open_loop
    # Due times are the schedule itself: i x 5 ms from the start, whatever happened meanwhile.
    offsets = np.sort(result.scheduled_ns - result.started_ns)
    assert offsets.tolist() == [int(i * 5 * MS) for i in range(offsets.size)]
    elapsed_s = (result.boundaries[-1] - result.started_ns) / 1e9
    assert 0.9 * 200 * elapsed_s - 2 <= offsets.size <= 1.1 * 200 * elapsed_s + 5
    lag = result.sent_ns - result.scheduled_ns
    assert np.median(lag) < 2 * MS  # sends leave on schedule (typically within 0.1 ms)
    assert np.all(latency_ns(result) >= 2 * MS)
    for window in result.windows:  # 50 answers per 0.25 s window
        assert 20 <= window.completed <= 80 and window.errors == 0


def test_poisson_arrivals_are_seeded_and_irregular() -> None:
    def offsets(seed: int) -> np.ndarray:
        fake = Fake(latency_s=0.001)
        load = open_(rate_per_s=200, arrivals="poisson", seed=seed, warmup_s=0.05, window_s=0.15, duration_s=0.45)
        result = run(load, fake.send, fake.snapshot)
        return np.sort(result.scheduled_ns - result.started_ns)

    first, again, other = offsets(3), offsets(3), offsets(4)
    n = min(first.size, again.size, other.size)
    assert n > 40
    assert np.array_equal(first[:n], again[:n]) and not np.array_equal(first[:n], other[:n])
    intervals = np.diff(first) / MS
    assert 3.0 < intervals.mean() < 7.5  # 5 ms on average …
    assert intervals.std() > 2.0 and intervals.min() < 1.0  # … but not evenly spaced


def test_open_loop_does_not_wait_for_a_slow_server() -> None:
    """No coordinated omission: a server that serves 100 requests/s under 200 arrivals/s still gets
    every arrival on time, and the queue it builds shows as growing latency."""
    server = asyncio.Lock()  # one request at a time, 10 ms each
    fake = Fake()

    async def send(i: int) -> None:
        fake.started.append(i)
        fake.in_flight += 1
        fake.max_in_flight = max(fake.max_in_flight, fake.in_flight)
        try:
            async with server:
                await asyncio.sleep(0.010)
        finally:
            fake.in_flight -= 1

    result = run(open_(rate_per_s=200), send, fake.snapshot)
    check_edges(result, fake)
    elapsed_s = (result.boundaries[-1] - result.started_ns) / 1e9
    assert result.scheduled_ns.size >= 0.9 * 200 * elapsed_s - 2  # not throttled to the server's pace
    assert fake.max_in_flight >= 20  # the queue grew
    # Sends do not wait for answers: their lag is a small part of the latency (a generator that
    # waited for the server would have lag ≈ latency, and hide the queue from the figures).
    assert np.median(result.sent_ns - result.scheduled_ns) < 0.2 * np.median(latency_ns(result))
    by_due = latency_ns(result)[np.argsort(result.scheduled_ns)]
    assert by_due[:3].max() < 100 * MS and by_due[-10:].min() > 250 * MS
    p99s = [w.p99_us for w in result.windows]
    assert all(a is not None and b is not None and b > a for a, b in itertools.pairwise(p99s))
    assert not result.stable and len(result.windows) == 3


def test_max_in_flight_caps_requests_and_the_waits_count_as_lateness() -> None:
    fake = Fake(latency_s=0.020)
    result = run(open_(rate_per_s=200, max_in_flight=2), fake.send, fake.snapshot)
    check_edges(result, fake)
    assert fake.max_in_flight == 2
    # The schedule is kept (due times on the 5 ms grid), the sends are not: 2 x 50/s leave at most.
    offsets = np.sort(result.scheduled_ns - result.started_ns)
    assert offsets.tolist() == [int(i * 5 * MS) for i in range(offsets.size)]
    sent = np.asarray(result.error) != NOT_SENT
    elapsed_s = (result.boundaries[-1] - result.started_ns) / 1e9
    assert sent.sum() < 0.75 * 200 * elapsed_s
    lag = (result.sent_ns - result.scheduled_ns)[sent]
    assert (lag > LATE_AFTER_NS).mean() > 0.5 and lag.max() > 100 * MS
    # Latency runs from the due time, so the wait for a slot is in it.
    assert np.all(latency_ns(result)[sent] >= lag + 15 * MS)
    # The backlog when the run ended is not sent (that would only lengthen the drain) but logged as
    # failed, due before the end: everything the schedule offered by then is in the log.
    unsent = result.scheduled_ns[~sent]
    assert unsent.size > 10 and unsent.max() <= result.done_ns.max()
    assert offsets.size == int((result.done_ns[~sent][0] - result.started_ns) // (5 * MS)) + 1
    assert result.error_examples[NOT_SENT] == "due while the client waited at its max_in_flight cap (2)"


def test_an_unexpected_exception_from_send_is_not_swallowed() -> None:
    """Only RequestFailed is a request outcome; anything else is a bug and must end the run loudly
    in both modes, rather than leave requests out of the log."""

    def broken(i: int) -> RequestFailed | None:
        if i == 3:
            raise KeyError("no prepared request 3")
        return None

    for load in (closed(concurrency=2), open_(rate_per_s=100)):
        fake = Fake(fail=broken)
        with pytest.raises(KeyError, match="no prepared request 3"):
            run(load, fake.send, fake.snapshot)


# -- windows ------------------------------------------------------------------------------------


def test_a_load_that_settles_stops_once_the_last_windows_agree() -> None:
    first_send: list[float] = []

    def settling(i: int) -> float:  # 80 ms for the first 0.3 s, then a steady 20 ms
        now = asyncio.get_running_loop().time()
        first_send[:] = first_send or [now]
        return 0.080 if now - first_send[0] < 0.3 else 0.020

    fake = Fake(latency_s=settling)
    # A loose tolerance: the rule under test is stopping at agreement, not how steady this machine is.
    load = closed(concurrency=8, warmup_s=0.05, window_s=0.25, duration_s=2.0, stability_tolerance=0.5)
    assert load.max_windows == 8
    result = run(load, fake.send, fake.snapshot)
    check_edges(result, fake)
    assert result.stable
    # The slow start keeps the first windows out of agreement; the figures cover the settled ones only.
    assert 4 <= len(result.windows) < load.max_windows
    n = len(result.windows)
    assert result.measured == (n - 3, n - 1)
    last = result.windows[-3:]
    assert within([w.throughput_per_s for w in last], 0.5)
    assert within([w.p99_us for w in last if w.p99_us is not None], 0.5)
    # Stopped at the first agreement: the three windows before the last did not agree.
    if n > 3:
        before = result.windows[-4:-1]
        p99s = [w.p99_us for w in before if w.p99_us is not None]
        assert not (within([w.throughput_per_s for w in before], 0.5) and len(p99s) == 3 and within(p99s, 0.5))
    assert result.period_ns == (result.boundaries[n - 3], result.boundaries[n])
    # Windows are window_s apart from the end of the warmup.
    edges = (np.asarray(result.boundaries) - result.boundaries[0]) / 1e9
    assert np.all(edges >= 0.25 * np.arange(n + 1) - 1e-3)
    assert result.boundaries[0] - result.started_ns >= 0.05e9
    # Each window's figures are the answers that arrived in it.
    for window, start, end in zip(result.windows, result.boundaries, result.boundaries[1:], strict=False):
        arrived = int(((result.done_ns >= start) & (result.done_ns < end)).sum())
        assert window.completed == arrived and window.errors == 0
        assert window.throughput_per_s == pytest.approx(arrived / ((end - start) / 1e9))


def test_an_unsteady_load_runs_to_the_time_bound() -> None:
    first_send: list[float] = []

    def growing(i: int) -> float:  # doubles every 0.15 s: no two windows agree
        now = asyncio.get_running_loop().time()
        first_send[:] = first_send or [now]
        return 0.002 * 2 ** ((now - first_send[0]) / 0.15)

    fake = Fake(latency_s=growing)
    load = closed(concurrency=2, warmup_s=0.05, window_s=0.15, duration_s=0.6)
    result = run(load, fake.send, fake.snapshot)
    check_edges(result, fake)
    assert not result.stable and len(result.windows) == load.max_windows == 4
    assert result.measured == (0, 3)  # unstable: every window is measured
    assert (result.boundaries[-1] - result.boundaries[0]) / 1e9 >= 0.6 - 1e-3
    p99s = [w.p99_us for w in result.windows]
    assert all(p is not None for p in p99s) and p99s[-1] > 2 * p99s[0]  # type: ignore[operator]


def test_window_of_each_request_follows_its_due_time() -> None:
    fake = Fake(latency_s=0.003)
    result = run(open_(rate_per_s=100), fake.send, fake.snapshot)
    window = result.window_of_each()
    edges = np.asarray(result.boundaries)
    for due, index in zip(result.scheduled_ns, window, strict=True):
        if index == -1:
            assert due < edges[0]
        elif index == len(result.windows):
            assert due >= edges[-1]
        else:
            assert edges[index] <= due < edges[index + 1]
    assert (window == -1).sum() >= 5 and set(range(len(result.windows))) <= set(window.tolist())


def test_requests_in_flight_at_the_end_are_awaited() -> None:
    for load in (closed(concurrency=4, warmup_s=0.0), open_(rate_per_s=100, warmup_s=0.0)):
        fake = Fake(latency_s=0.15)
        result = run(load, fake.send, fake.snapshot)
        check_edges(result, fake)
        assert result.done_ns.max() > result.boundaries[-1]  # answers arrived during the drain


# -- errors -------------------------------------------------------------------------------------


def test_errors_are_recorded_by_kind_with_an_example() -> None:
    def fail(i: int) -> RequestFailed | None:
        if i % 5 == 0:
            return RequestFailed("timeout", f"no answer to request {i} within 1 s")
        if i % 7 == 0:
            return RequestFailed("HTTP 400", "input_ids: wrong shape")
        return None

    for load in (closed(concurrency=3), open_(rate_per_s=300)):
        fake = Fake(latency_s=0.002, fail=fail, immediate=lambda i: i % 7 == 0)
        result = run(load, fake.send, fake.snapshot)
        check_edges(result, fake)
        kinds, counts = np.unique(np.asarray(result.error), return_counts=True)
        expected = {"": 0, "timeout": 0, "HTTP 400": 0}
        for outcome in fake.outcome.values():
            expected[outcome] += 1
        assert dict(zip(kinds.tolist(), counts.tolist(), strict=True)) == expected
        assert expected["timeout"] > 10 and expected["HTTP 400"] > 5
        assert set(result.error_examples) == {"timeout", "HTTP 400"}
        assert re.fullmatch(r"no answer to request \d+ within 1 s", result.error_examples["timeout"])
        assert result.error_examples["HTTP 400"] == "input_ids: wrong shape"
        assert sum(w.errors for w in result.windows) > 0
        for window, start, end in zip(result.windows, result.boundaries, result.boundaries[1:], strict=False):
            assert window.throughput_per_s == pytest.approx((window.completed - window.errors) / ((end - start) / 1e9))


# -- summarize_run ------------------------------------------------------------------------------

S = 1_000  # started_ns of the synthetic run


def stats(n: int) -> StatsSnapshot:
    return StatsSnapshot(
        success_count=n,
        success_ns=n * 9 * MS,
        fail_count=0,
        queue_ns=n * MS,
        compute_input_ns=n * MS // 2,
        compute_infer_ns=n * 7 * MS,
        compute_output_ns=n * MS // 4,
        inference_count=4 * n,
        execution_count=n // 2,
    )


def synthetic_run(*, cpu_s: float = 0.5, edges: tuple[Edge, ...] | None = None, lag_ms: float = 3.0) -> LoadRun[Edge]:
    """450 requests due every 10 ms from S; windows [1, 2), [2, 3), [3, 4) s after S, the last two
    measured. Every 10th request leaves `lag_ms` late, the others 0.2 ms; answers take 15 ms."""
    k = np.arange(450)
    scheduled = S + k * 10 * MS
    sent = scheduled + np.where(k % 10 == 0, int(lag_ms * MS), MS // 5)
    done = sent + 15 * MS
    error = []
    for i in k:
        if i % 25 == 1 or i == 399:
            error.append("timeout")
        elif i % 50 == 7:
            error.append("HTTP 400")
        elif i == 50:
            error.append("UNAVAILABLE")  # in the warmup
        elif i == 420:
            error.append("cancelled")  # after the measured windows
        else:
            error.append("")
    examples = {
        "timeout": "no answer within 30 s",
        "HTTP 400": "bad input",
        "UNAVAILABLE": "server not ready",
        "cancelled": "stopped",
    }
    readings = [(0, 0.0), (1000, 100.0), (1100, 115.0), (1190, 128.0), (1200, 130.0)]  # the last after the drain
    edges = edges or tuple(Edge(stats(n), joules) for n, joules in readings)
    windows = tuple(WindowStats(i, 100, 5, 95.0, 16000.0) for i in range(3))
    return LoadRun(
        scheduled_ns=scheduled,
        sent_ns=sent,
        done_ns=done,
        error=tuple(error),
        error_examples=examples,
        started_ns=S,
        boundaries=(S + 1_000_000_000, S + 2_000_000_000, S + 3_000_000_000, S + 4_000_000_000),
        snapshots=edges,
        windows=windows,
        measured=(1, 2),
        stable=True,
        cpu_s=cpu_s,
        open_loop=True,
    )


def target(load: LoadSpec | None = None) -> TargetSpec:
    return TargetSpec(
        name="chat",
        model="minilm",
        load=load or OpenLoopLoad(mode="open", rate_per_s=100, window_s=1, duration_s=3),
        payload=RandomPayload(kind="random", batch_size=4),
        slo=SloSpec(),
    )


HOST = Host("127.0.0.1:8001", "127.0.0.1:8000")


def test_summarize_run_counts_what_was_due_in_the_measured_windows() -> None:
    m = summarize_run(target(), synthetic_run(), 4, HOST, None)
    assert (m.target, m.model, m.protocol, m.mode, m.level) == ("chat", "minilm", "grpc", "open", 100.0)
    assert (m.measured_windows, m.stable, m.duration_s, m.inferences_per_request) == ((1, 2), True, 2.0, 4)
    # Due in [2 s, 4 s): requests 200..399. Failures in the warmup and after the period are not counted.
    assert m.sent == 200
    assert m.errors == {"HTTP 400": 4, "timeout": 9}  # 207, 257, 307, 357; 201, 226, …, 376 and 399
    assert m.error_examples == {"HTTP 400": "bad input", "timeout": "no answer within 30 s"}
    assert m.error_count == 13 and m.error_rate == 13 / 200
    # Latency from the due time: 15.2 ms, or 18 ms for the 20 late sends.
    assert m.latency is not None
    assert (m.latency.count, m.latency.p50_us, m.latency.p90_us, m.latency.max_us) == (187, 15200, 18000, 18000)
    assert m.latency.mean_us == pytest.approx((167 * 15200 + 20 * 18000) / 187)
    # Throughput counts successes answered within the period: 199 (answered at 2.0052 s) is in,
    # 399 failed; 187 + 1 over 2 s.
    assert m.requests_per_s == 94.0 and m.inferences_per_s == 376.0
    assert (m.late_sends, m.max_send_lag_us) == (20, 3000.0)
    assert m.client_cpu_percent == 25.0
    # Each window gains its backlog at its end: requests 199 and 200 (due at the edge) are
    # outstanding; Triton's queue time is the window's statistics delta, 1 ms per request.
    assert m.windows == tuple(replace(w, outstanding=2, server_queue_us=1000.0) for w in synthetic_run().windows)
    assert not m.queue_growing and not any("queue growing" in w for w in m.warnings)


def test_summarize_run_server_breakdown_is_the_delta_over_the_period() -> None:
    m = summarize_run(target(), synthetic_run(), 4, HOST, None)
    server = m.server
    assert server is not None
    # From the snapshot at the period's start (index 1: 1000) to the one after the drain (1200).
    assert (server.requests, server.inferences, server.executions) == (200, 800, 100)
    assert (server.request_us, server.queue_us, server.compute_infer_us) == (9000.0, 1000.0, 7000.0)
    assert (server.compute_input_us, server.compute_output_us) == (500.0, 250.0)
    assert server.compute_us == 7750.0 and server.average_batch_size == 8.0
    assert m.client_overhead_us == 15000.0 - 9000.0  # client-side 15 ms from send to answer


def test_summarize_run_without_server_statistics() -> None:
    edges = (Edge(None, None),) * 2 + (Edge(stats(5), None),) * 3
    m = summarize_run(target(), synthetic_run(edges=edges), 4, HOST, None)
    assert m.server is None and m.client_overhead_us is None
    assert "no server statistics at the start or end of the measured windows: no server-side breakdown" in m.warnings
    # No request between the two readings: no breakdown either (not a division by zero).
    still = (Edge(stats(7), None),) * 5
    assert summarize_run(target(), synthetic_run(edges=still), 4, HOST, None).server is None


def test_summarize_run_cost_and_energy() -> None:
    inferences = 188 * 4
    plain = summarize_run(target(), synthetic_run(), 4, HOST, None)
    assert plain.cost_per_million is None
    assert plain.energy.joules_per_inference is None
    assert plain.energy.method == (
        "not available: no GPU energy counter (NVML) here, and no host_watts in the targets file"
    )

    host = Host("g", "h", dollars_per_hour=3.6, host_watts=50)
    m = summarize_run(target(), synthetic_run(), 4, host, None)
    assert m.cost_per_million == pytest.approx(3.6 / 3600 / 376.0 * 1e6)  # $/s over inferences/s, per 1M
    assert m.energy.joules_per_inference == pytest.approx(50 * 2.0 / inferences)
    assert m.energy.method == "estimate: constant host power 50 W (targets file) x time / inferences"

    class Nvml:
        def nvmlDeviceGetCount(self) -> int:
            return 2

        def nvmlDeviceGetHandleByIndex(self, i: int) -> int:
            return i

        def nvmlDeviceGetTotalEnergyConsumption(self, handle: int) -> int:
            return 1000

    meter = NvmlMeter(Nvml())
    measured = summarize_run(target(), synthetic_run(), 4, host, meter)
    # The counters read at the period's start (100 J) and after the drain (130 J).
    assert measured.energy.joules_per_inference == pytest.approx(30.0 / inferences)
    assert measured.energy.method == "measured: NVML total energy counter of 2 GPU(s), board level"


def test_summarize_run_warnings() -> None:
    quiet = summarize_run(target(), synthetic_run(lag_ms=0.5), 4, HOST, None)
    assert quiet.late_sends == 0 and quiet.warnings == ()
    late = summarize_run(target(), synthetic_run(cpu_s=1.9), 4, HOST, None)
    assert late.warnings == (
        "the load generator fell behind its schedule: 20 of 200 sends left more than 1 ms late (up to 3.0 ms); "
        "latencies include the delay (they run from the intended send time), but arrivals reached the server "
        "less evenly than offered",
        "the client used 95% of a core: it may be the bottleneck",
    )
    closed_target = target(ClosedLoopLoad(mode="closed", concurrency=4, window_s=1, duration_s=3))
    run_closed = synthetic_run()
    run_closed = LoadRun(**{**run_closed.__dict__, "open_loop": False})
    m = summarize_run(closed_target, run_closed, 4, HOST, None)
    assert (m.mode, m.level, m.late_sends, m.warnings) == ("closed", 4.0, 0, ())


def test_summarize_run_keeps_every_request_in_the_raw_log() -> None:
    result = synthetic_run()
    raw = summarize_run(target(), result, 4, HOST, None).raw
    assert len(raw) == 450 and raw.error == result.error
    assert raw.scheduled_us[:3].tolist() == [0.0, 10_000.0, 20_000.0]
    assert raw.sent_us[:2].tolist() == [3000.0, 10_200.0] and raw.latency_us[:2].tolist() == [18000.0, 15200.0]
    assert raw.window.tolist() == [-1] * 100 + [0] * 100 + [1] * 100 + [2] * 100 + [3] * 50


def test_summarize_run_on_a_real_run() -> None:
    """The engine and the summary together, with server counters that follow the fake's answers."""
    answered = {"n": 0}

    async def send(i: int) -> None:
        await asyncio.sleep(0.004)
        if i % 9 == 4:
            raise RequestFailed("timeout", "late")
        answered["n"] += 1

    async def edge() -> Edge:
        return Edge(stats(answered["n"]), None)

    load = ClosedLoopLoad(mode="closed", concurrency=3, warmup_s=0.1, window_s=0.2, duration_s=0.6)
    result = asyncio.run(run_load(load, send, edge))
    m = summarize_run(target(load), result, 2, Host("g", "h", dollars_per_hour=1.0), None)
    first, last = result.measured
    window = result.window_of_each()
    due = (window >= first) & (window <= last)
    errors = np.asarray(result.error)
    assert m.sent == int(due.sum()) > 50
    assert m.errors == {"timeout": int((due & (errors == "timeout")).sum())} and m.errors["timeout"] > 0
    assert m.latency is not None and m.latency.count == int((due & (errors == "")).sum())
    assert m.latency.p50_us >= 4000
    assert m.duration_s == pytest.approx((result.boundaries[last + 1] - result.boundaries[first]) / 1e9)
    assert m.inferences_per_s == 2 * m.requests_per_s > 0
    assert m.cost_per_million == pytest.approx(1.0 / 3600 / m.inferences_per_s * 1e6)
    assert m.server is not None
    assert m.server.requests == answered["n"] - result.snapshots[first].stats.success_count  # type: ignore[union-attr]
    assert m.server.request_us == 9000.0 and m.server.average_batch_size == pytest.approx(8.0, rel=0.05)
    assert m.late_sends == 0 and m.energy.joules_per_inference is None


# -- overload: a backlog that grows, or a queue that sheds ---------------------------------------


class OneAtATime:
    """A server with one worker (5 ms per request) and Triton-like statistics; with a `limit`, it
    rejects requests that would find `limit` already waiting, as a bounded queue policy does."""

    SERVICE_S = 0.005

    def __init__(self, limit: int | None = None) -> None:
        self.worker = asyncio.Lock()
        self.limit = limit
        self.waiting = 0
        self.served = 0
        self.queue_ns = 0

    async def send(self, i: int) -> None:
        if self.limit is not None and self.waiting >= self.limit:
            await asyncio.sleep(0)
            raise RequestFailed(REJECTED_QUEUE_FULL, "Exceeds maximum queue size")
        arrived = asyncio.get_running_loop().time()
        self.waiting += 1
        async with self.worker:
            self.waiting -= 1
            self.queue_ns += int((asyncio.get_running_loop().time() - arrived) * 1e9)
            await asyncio.sleep(self.SERVICE_S)
            self.served += 1

    async def edge(self) -> Edge:
        snapshot = replace(stats(self.served), queue_ns=self.queue_ns)
        return Edge(snapshot, None)


def overloaded(server: OneAtATime) -> Any:
    """Twice the capacity (at most 200/s), offered for three 0.2 s windows, capped at 64 in flight."""
    load = open_(rate_per_s=400, max_in_flight=64, warmup_s=0.1, duration_s=0.6, request_timeout_s=5)
    return summarize_run(target(load), run(load, server.send, server.edge), 1, HOST, None)


def test_an_overload_without_a_bounded_queue_shows_the_backlog_growing() -> None:
    m = overloaded(OneAtATime())
    outstanding = [w.outstanding for w in m.windows]
    assert all(o is not None for o in outstanding)
    assert outstanding == sorted(outstanding) and outstanding[-1] > 2 * outstanding[0]  # type: ignore[operator]
    assert m.queue_growing and any(
        w.startswith("queue growing over 3 windows: requests outstanding") for w in m.warnings
    )
    # The cap was reached: the backlog at the end was never sent, and counts as failed.
    assert m.rejected == 0 and m.errors.get(NOT_SENT, 0) > 0
    assert any("never sent" in w for w in m.warnings)
    assert m.late_sends > 0


def test_an_overload_against_a_bounded_queue_is_shed_not_queued() -> None:
    m = overloaded(OneAtATime(limit=4))
    assert not m.queue_growing
    assert m.rejected == m.errors[REJECTED_QUEUE_FULL] > 0 and m.rejected_rate == m.rejected / m.sent
    assert NOT_SENT not in m.errors and "timeout" not in m.errors
    # Accepted requests waited behind at most 4 others: their queue time stays bounded.
    assert all(w.server_queue_us is not None and w.server_queue_us < 1e6 for w in m.windows)
    assert all(w.outstanding is not None and w.outstanding < 64 for w in m.windows)


def test_backlog_growth_needs_a_sustained_material_rise() -> None:
    def windows(
        outstanding: list[int | None], queue_us: list[float | None] | None = None, answered: int = 10
    ) -> tuple[WindowStats, ...]:
        queue = queue_us or [None] * len(outstanding)
        return tuple(
            WindowStats(i, answered, 0, 10.0, 1.0, outstanding=o, server_queue_us=q)
            for i, (o, q) in enumerate(zip(outstanding, queue, strict=True))
        )

    assert backlog_growth(windows([30, 300, 600])) == (
        "queue growing over 3 windows: requests outstanding at the window's end 30 → 600 (offered load above capacity)"
    )
    grown = backlog_growth(windows([300, 400, 500], [400e3, 900e3, 1.1e6], answered=800))  # 200 vs 1600: 12.5%
    assert grown is not None and grown.endswith(
        "server queue time per request 400.0 → 1100.0 ms (offered load above capacity)"
    )
    assert backlog_growth(windows([300, 350, 400], answered=800)) is None  # 100 vs 1600: within 10%
    assert backlog_growth(windows([30, 300, 290])) is None  # fell back: not sustained
    assert backlog_growth(windows([0, 5, 12])) is None  # rising, but within noise
    assert backlog_growth(windows([20, 25, 18], [47e3, 60e3, 95e3])) is None  # a bounded queue filling up
    assert backlog_growth(windows([30])) is None  # one window shows no trend
    assert backlog_growth(windows([30, None, 600])) is None  # a gap: no claim


@pytest.mark.parametrize(
    ("status", "message", "kind"),
    [
        ("StatusCode.UNAVAILABLE", "Exceeds maximum queue size", REJECTED_QUEUE_FULL),
        ("503", "Exceeds maximum queue size", REJECTED_QUEUE_FULL),
        ("StatusCode.UNAVAILABLE", "Request timeout expired", REJECTED_QUEUE_TIMEOUT),
        ("StatusCode.UNAVAILABLE", "failed to connect to all addresses; last error: ... Socket closed", CONNECTION),
        ("StatusCode.UNAVAILABLE", "Request for unknown model: 'x' is not ready", "UNAVAILABLE"),
        ("400", "input_ids: wrong shape", "HTTP 400"),
        (None, "", "error"),
    ],
)
def test_failures_are_classified_by_status_and_triton_words(status: str | None, message: str, kind: str) -> None:
    assert kind_of(status, message) == kind
