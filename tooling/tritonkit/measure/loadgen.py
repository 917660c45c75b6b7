"""Open- and closed-loop load on asyncio, measured in windows until they agree.

Time runs on one monotonic clock. Each request is due at a time (open loop: its place in the
arrival schedule; closed loop: when its worker sends it) and its latency runs from then to its
answer, so a generator that falls behind cannot hide queueing (no coordinated omission): the
delay shows as latency, and the late sends are counted.

After a warmup, windows of `window_s` follow until the last `stable_windows` agree within
`stability_tolerance` on throughput and p99, or `duration_s` runs out. Then sending stops and the
requests still in flight are awaited (each is bounded by its timeout), so none is left out; an
open loop stopped while waiting at its `max_in_flight` cap logs the requests already due as
'not sent' failures rather than send them late or drop them from the count.

A streamed request (a decoupled generator's) is one request from its send to its final response,
and its latency runs to that end; the arrival time of each of its tokens is logged beside it.
"""

from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import Awaitable, Callable, Coroutine, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

import numpy as np

from tritonkit.measure.alarm import Alarm
from tritonkit.measure.client import RequestFailed
from tritonkit.measure.measurement import NOT_SENT, WindowStats
from tritonkit.measure.stats import percentile, within
from tritonkit.specs import ClosedLoopLoad, LoadSpec, OpenLoopLoad, TraceLoad

LATE_AFTER_NS = 1_000_000  # an open-loop send more than 1 ms behind its schedule counts as late
# asyncio's timers wake up to ~1 ms late (epoll waits in whole milliseconds), which would add the
# generator's own jitter to every open-loop latency. So a send waits on a timerfd (measure.alarm)
# until shortly before it is due and yields to the loop (answers keep flowing) for the rest: a CPU
# woken from idle is slow to get going, one that is busy yielding is not. The yielding costs CPU,
# so it is capped at an eighth of the mean interval and 0.2 ms (it was a quarter and 2.5 ms with
# millisecond timers: a sixth of a core at 100 requests/s).
_MAX_SPIN_NS = 200_000
Snapshot = TypeVar("Snapshot")
# Sends the i-th request and returns once it is answered: None for one answer, or a stream's token
# arrival times (ns on the monotonic clock); raises RequestFailed.
Send = Callable[[int], Awaitable[Sequence[int] | None]]


@dataclass
class _Log:
    scheduled_ns: list[int] = field(default_factory=list)
    sent_ns: list[int] = field(default_factory=list)
    done_ns: list[int] = field(default_factory=list)
    error: list[str] = field(default_factory=list)
    examples: dict[str, str] = field(default_factory=dict)
    token_ns: list[tuple[int, ...] | None] = field(default_factory=list)

    def add(
        self, scheduled: int, sent: int, done: int, failure: RequestFailed | None, tokens: Sequence[int] | None = None
    ) -> None:
        self.scheduled_ns.append(scheduled)
        self.sent_ns.append(sent)
        self.done_ns.append(done)
        self.token_ns.append(None if tokens is None else tuple(tokens))
        kind = failure.kind if failure else ""
        self.error.append(kind)
        if failure and kind not in self.examples:
            self.examples[kind] = str(failure)


@dataclass(frozen=True)
class LoadRun(Generic[Snapshot]):
    """Raw outcome of a run. Times are ns on the monotonic clock; `boundaries` are the window
    edges (boundaries[0] ends the warmup) and `snapshots` were taken at each edge, plus one last
    after the drain."""

    scheduled_ns: np.ndarray
    sent_ns: np.ndarray
    done_ns: np.ndarray
    error: tuple[str, ...]
    error_examples: dict[str, str]
    started_ns: int
    boundaries: tuple[int, ...]
    snapshots: tuple[Snapshot, ...]
    windows: tuple[WindowStats, ...]
    measured: tuple[int, int]  # first and last window the figures cover
    stable: bool
    cpu_s: float | None  # this process's CPU time during the measured windows (None: not measured)
    open_loop: bool
    # Per request, a successful stream's token arrival times (ns); None for a single answer or a
    # failure. Empty: not recorded (a run another generator recorded without them).
    token_ns: tuple[tuple[int, ...] | None, ...] = ()

    @property
    def period_ns(self) -> tuple[int, int]:
        first, last = self.measured
        return self.boundaries[first], self.boundaries[last + 1]

    def window_of_each(self) -> np.ndarray:
        """Window index of every request by its due time: -1 warmup, len(windows) after the last."""
        return np.searchsorted(np.asarray(self.boundaries), self.scheduled_ns, side="right") - 1


async def run_load(
    load: LoadSpec,
    send: Send,
    snapshot: Callable[[], Coroutine[Any, Any, Snapshot]],
    trace_offsets_s: np.ndarray | None = None,
) -> LoadRun[Snapshot]:
    """Drive `send(i)` (the i-th request; raises RequestFailed) under `load`; `snapshot()` is
    taken at every window edge (e.g. the server's statistics) and once more after the drain. Edge
    snapshots run beside the load, so a slow answer never moves a window edge; `snapshot` must
    bound its own time, since the run waits for every one before it returns. A trace load replays
    `trace_offsets_s` (seconds from its first request, in order). A trace replayed to its end
    counts as stable; one cut by `duration_s` does not."""
    log = _Log()
    edges: list[asyncio.Task[Snapshot]] = []
    stop = asyncio.Event()
    started = time.monotonic_ns()
    generator: asyncio.Task[bool | None]
    if isinstance(load, OpenLoopLoad | TraceLoad):
        arrivals = _arrivals(load, trace_offsets_s)
        generator = asyncio.create_task(_open_loop(load, arrivals, send, log, stop, started))
    else:
        generator = asyncio.create_task(_closed_loop(load, send, log, stop))
    try:
        await _sleep_until(started + _ns(load.warmup_s))
        boundaries = [time.monotonic_ns()]
        edges.append(asyncio.create_task(snapshot()))
        cpu = [time.process_time()]
        windows: list[WindowStats] = []
        stable = False
        while len(windows) < load.max_windows and not generator.done():
            await _sleep_until(boundaries[0] + _ns(load.window_s) * (len(windows) + 1))
            boundaries.append(time.monotonic_ns())
            cpu.append(time.process_time())
            edges.append(asyncio.create_task(snapshot()))
            windows.append(
                window_stats(
                    np.asarray(log.scheduled_ns, dtype=np.int64),
                    np.asarray(log.done_ns, dtype=np.int64),
                    np.asarray(log.error),
                    len(windows),
                    boundaries[-2],
                    boundaries[-1],
                )
            )
            stable = load.stops_when_stable and _agree(windows[-load.stable_windows :], load)
            if stable:
                break
        stop.set()
        replayed = await generator  # once every request sent has been answered or has timed out
        stable = stable or (isinstance(load, TraceLoad) and bool(replayed))
        snapshots = [*await asyncio.gather(*edges), await snapshot()]
    finally:
        stop.set()
        for task in (generator, *edges):
            task.cancel()  # a no-op for those already done
    first = len(windows) - load.stable_windows if stable and load.stops_when_stable else 0
    return LoadRun(
        scheduled_ns=np.asarray(log.scheduled_ns, dtype=np.int64),
        sent_ns=np.asarray(log.sent_ns, dtype=np.int64),
        done_ns=np.asarray(log.done_ns, dtype=np.int64),
        error=tuple(log.error),
        error_examples=log.examples,
        started_ns=started,
        boundaries=tuple(boundaries),
        snapshots=tuple(snapshots),
        windows=tuple(windows),
        measured=(first, max(len(windows) - 1, 0)),
        stable=stable,
        cpu_s=cpu[-1] - cpu[first],
        open_loop=not isinstance(load, ClosedLoopLoad),
        token_ns=tuple(log.token_ns),
    )


def _ns(seconds: float) -> int:
    return int(seconds * 1e9)


async def _sleep_until(deadline_ns: int) -> None:
    delay = deadline_ns - time.monotonic_ns()
    if delay > 0:
        await asyncio.sleep(delay / 1e9)
    await _yield_until(deadline_ns)


async def _yield_until(deadline_ns: int) -> None:
    while time.monotonic_ns() < deadline_ns:
        await asyncio.sleep(0)


async def _timed(send: Send, i: int, scheduled: int, log: _Log) -> None:
    sent = time.monotonic_ns()
    failure, tokens = None, None
    try:
        tokens = await send(i)
    except RequestFailed as exc:
        failure = exc
    log.add(scheduled, sent, time.monotonic_ns(), failure, tokens)


async def _closed_loop(load: ClosedLoopLoad, send: Send, log: _Log, stop: asyncio.Event) -> None:
    counter = itertools.count()

    async def worker() -> None:
        while not stop.is_set():
            await _timed(send, next(counter), time.monotonic_ns(), log)
            if log.error[-1]:
                await asyncio.sleep(0)  # a request that fails without awaiting must not starve the clock

    await asyncio.gather(*(worker() for _ in range(load.concurrency)))


async def _open_loop(
    load: OpenLoopLoad | TraceLoad, arrivals: Schedule, send: Send, log: _Log, stop: asyncio.Event, started: int
) -> bool:
    """Sends on schedule until `stop` or the schedule's end; True when the schedule ran out."""
    spin_ns = min(_MAX_SPIN_NS, arrivals.mean_interval_ns // 8)
    slots = asyncio.Semaphore(load.max_in_flight)
    in_flight: set[asyncio.Task[None]] = set()
    failures: list[BaseException] = []

    def finished(task: asyncio.Task[None]) -> None:
        in_flight.discard(task)
        if not task.cancelled() and task.exception() is not None:
            failures.append(task.exception())  # type: ignore[arg-type]
            stop.set()

    async def one(i: int, due: int) -> None:
        try:
            await _timed(send, i, due, log)
        finally:
            slots.release()

    ran_out = True
    with Alarm() as alarm:
        for i, offset in enumerate(arrivals.offsets_ns):
            due = started + offset
            await alarm.until(due - spin_ns)
            await _yield_until(due)
            if stop.is_set():
                ran_out = False
                break
            await slots.acquire()  # at the cap, this wait makes the send late, and latency counts it
            if stop.is_set():  # the run ended while this request waited at the cap: sending it now would
                slots.release()  # only lengthen the drain, and leaving it out would hide the backlog
                _not_sent(log, load, started, offset, arrivals.offsets_ns)
                ran_out = False
                break
            task = asyncio.create_task(one(i, due))
            in_flight.add(task)
            task.add_done_callback(finished)
    await asyncio.gather(*in_flight)
    if failures:
        raise failures[0]
    return ran_out


def _not_sent(log: _Log, load: OpenLoopLoad | TraceLoad, started: int, first: int, rest: Iterator[int]) -> None:
    """Log the requests due by now that never left (the backlog at the cap) as failed: they were offered."""
    now = time.monotonic_ns()
    failure = RequestFailed(NOT_SENT, f"due while the client waited at its max_in_flight cap ({load.max_in_flight})")
    for offset in itertools.chain([first], itertools.takewhile(lambda o: started + o <= now, rest)):
        log.add(started + offset, now, now, failure)


@dataclass(frozen=True)
class Schedule:
    """Due times in ns from the start, and their mean spacing."""

    offsets_ns: Iterator[int]
    mean_interval_ns: int


def _arrivals(load: OpenLoopLoad | TraceLoad, trace_offsets_s: np.ndarray | None) -> Schedule:
    """Evenly spaced, a seeded Poisson process, or a trace's offsets at its speed."""
    if isinstance(load, TraceLoad):
        if trace_offsets_s is None or not trace_offsets_s.size:
            raise ValueError("a trace load needs the trace's offsets")
        scaled = (trace_offsets_s * (1e9 / load.speed)).astype(np.int64)
        gaps = int(scaled[-1] // max(scaled.size - 1, 1)) if scaled.size > 1 else _MAX_SPIN_NS * 4
        return Schedule((int(o) for o in scaled), gaps)
    interval = 1e9 / load.rate_per_s
    if load.arrivals == "constant":
        return Schedule((int(i * interval) for i in itertools.count()), int(interval))
    rng = np.random.default_rng(load.seed)

    def poisson() -> Iterator[int]:
        t = 0.0
        while True:
            yield int(t)
            t += rng.exponential(interval)

    return Schedule(poisson(), int(interval))


def window_stats(
    scheduled_ns: np.ndarray, done_ns: np.ndarray, error: np.ndarray, index: int, start: int, end: int
) -> WindowStats:
    """Answers that arrived in [start, end): throughput and p99 of this window alone."""
    in_window = (done_ns >= start) & (done_ns < end)
    ok = in_window & (error == "")
    latency_us = (done_ns[ok] - scheduled_ns[ok]) / 1e3
    return WindowStats(
        index=index,
        completed=int(in_window.sum()),
        errors=int(in_window.sum() - ok.sum()),
        throughput_per_s=float(ok.sum()) / ((end - start) / 1e9),
        p99_us=percentile(latency_us, 99) if latency_us.size else None,
    )


def settle(
    scheduled_ns: np.ndarray, done_ns: np.ndarray, error: tuple[str, ...], boundaries: tuple[int, ...], load: LoadSpec
) -> tuple[tuple[WindowStats, ...], tuple[int, int], bool]:
    """The stability rule applied after the fact (to a run another generator recorded): windows
    in order until the last `stable_windows` agree. Windows, the measured range, stable or not."""
    errors = np.asarray(error)
    windows: list[WindowStats] = []
    for start, end in itertools.pairwise(boundaries):
        windows.append(window_stats(scheduled_ns, done_ns, errors, len(windows), start, end))
        if _agree(windows[-load.stable_windows :], load):
            return tuple(windows), (len(windows) - load.stable_windows, len(windows) - 1), True
    return tuple(windows), (0, max(len(windows) - 1, 0)), False


def _agree(windows: list[WindowStats], load: LoadSpec) -> bool:
    if len(windows) < load.stable_windows or any(w.p99_us is None for w in windows):
        return False
    p99s = [w.p99_us for w in windows if w.p99_us is not None]
    throughputs = [w.throughput_per_s for w in windows]
    return within(throughputs, load.stability_tolerance) and within(p99s, load.stability_tolerance)
