"""What one load run measured: raw per-request records, per-window figures, the server's own
breakdown, and the derived figures (throughput, goodput, confidence intervals, cost, energy) a
verdict and a report read."""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from tritonkit.measure.stats import Interval, Intervals, LatencySummary, PercentileIntervals

# Error kinds the client gives that reports treat apart. A rejection is the server shedding load
# (Triton's queue policy: queue full, or the request's queue timeout expired) — an answer, unlike a
# client timeout (no answer in time) or a connection failure (no answer at all).
REJECTED_QUEUE_FULL = "rejected: queue full"
REJECTED_QUEUE_TIMEOUT = "rejected: queue timeout"
REJECTED = (REJECTED_QUEUE_FULL, REJECTED_QUEUE_TIMEOUT)
TIMEOUT = "timeout"
CONNECTION = "connection"
NOT_SENT = "not sent"  # open loop: due before the end while the client waited at its max_in_flight cap
# A streamed (decoupled) request: a response that carried an error (Triton sends no status code with
# it), or a stream that the server closed before its final response.
ERROR_RESPONSE = "error response"
INCOMPLETE = "incomplete stream"

# What a measurement's `level` counts, by its mode.
LEVEL_UNITS = {"open": "req/s", "closed": "in flight", "trace": "x trace speed"}


@dataclass(frozen=True)
class RequestLog:
    """Every request of the run, warmup included, as columns (times in µs from the run's start).

    `scheduled_us` is when the request was due: its intended send time in an open loop, its send
    time in a closed loop. Latency runs from there to the answer, so a late send shows up as
    latency (no coordinated omission). `window` is -1 for warmup and settling windows' requests are
    kept too; `error` is '' for a success, else the error's kind.
    """

    scheduled_us: np.ndarray
    sent_us: np.ndarray
    latency_us: np.ndarray
    window: np.ndarray
    error: tuple[str, ...]

    def __len__(self) -> int:
        return int(self.scheduled_us.size)


@dataclass(frozen=True)
class WindowStats:
    index: int
    completed: int  # answers (successes and errors) that arrived in the window
    errors: int
    throughput_per_s: float  # successful requests answered in the window, per second
    p99_us: float | None  # of the successes answered in the window
    # Filled in once the run is over (None where unknown): the backlog's trend across windows.
    outstanding: int | None = None  # requests due by the window's end and not yet answered
    server_queue_us: float | None = None  # Triton's mean queue time of the requests it served in the window


# The backlog grows when the requests outstanding (due, not yet answered) never shrink from one
# window's end to the next and grow by more than noise: at least 20 requests, and at least a tenth
# of what was answered meanwhile (the load offered exceeds what is served by 10% or more). Triton's
# queue time alone is no proof: under a bounded queue it rises to the policy's timeout and stays
# there, and behind the client's in-flight cap it stops rising while the backlog, waiting in the
# client now, keeps growing.
GROWTH_MIN_OUTSTANDING = 20
GROWTH_MIN_FRACTION = 0.1


def backlog_growth(windows: Sequence[WindowStats]) -> str | None:
    """What grew across the windows, as a sentence; None when the backlog did not (or one window)."""
    outstanding = [w.outstanding for w in windows]
    if len(windows) < 2 or any(o is None for o in outstanding):
        return None
    counts = [o for o in outstanding if o is not None]
    grown = counts[-1] - counts[0]
    answered = sum(w.completed for w in windows[1:])
    if not all(b >= a for a, b in itertools.pairwise(counts)):
        return None
    if grown < GROWTH_MIN_OUTSTANDING or grown < GROWTH_MIN_FRACTION * answered:
        return None
    note = f"queue growing over {len(windows)} windows: requests outstanding at the window's end "
    note += f"{counts[0]} → {counts[-1]}"
    queue = [w.server_queue_us for w in windows]
    if queue[0] is not None and queue[-1] is not None:
        note += f", server queue time per request {queue[0] / 1000:.1f} → {queue[-1] / 1000:.1f} ms"
    return note + " (offered load above capacity)"


@dataclass(frozen=True)
class ServerBreakdown:
    """Deltas of Triton's statistics API over the measured period, averaged per request (µs)."""

    requests: int
    request_us: float  # Triton's whole handling time (success duration)
    queue_us: float
    compute_input_us: float
    compute_infer_us: float
    compute_output_us: float
    inferences: int
    executions: int

    @property
    def compute_us(self) -> float:
        return self.compute_input_us + self.compute_infer_us + self.compute_output_us

    @property
    def average_batch_size(self) -> float:
        return self.inferences / self.executions if self.executions else 0.0


@dataclass(frozen=True)
class Energy:
    joules_per_inference: float | None
    method: str  # how it was obtained: a measurement, an estimate and its model, or why not available


@dataclass(frozen=True)
class Generation:
    """Streamed generation (a prompts payload): one request is one stream, from its send to its final
    response. TTFT runs from when the request was due to its first token (so a late send counts, as
    for latency), ITL is each gap between consecutive tokens of a stream. Only successful streams
    count; TTFT and tokens per request are over those due in the measured windows, ITL over their
    gaps, output tokens over those that arrived in the measured period (like requests_per_s)."""

    streams: int  # successful streams due in the measured windows
    tokens_per_request: float | None  # their mean number of tokens; None: no successful stream
    output_tokens: int  # tokens of successful streams that arrived in the measured period
    output_tokens_per_s: float
    output_tokens_per_s_interval: Interval | None  # batch means over the measured windows, like throughput
    ttft: LatencySummary | None  # µs; None: no stream with a token
    ttft_intervals: PercentileIntervals
    itl: LatencySummary | None  # µs; None: no stream with two tokens
    itl_intervals: PercentileIntervals


@dataclass(frozen=True)
class Measurement:
    target: str
    model: str
    protocol: str
    mode: str  # "open", "closed" or "trace" (an open loop on a recorded schedule)
    level: float  # requests per second (open) or requests in flight (closed)
    inferences_per_request: int  # the payload's batch size
    measured_windows: tuple[int, int]  # first and last window the figures below cover
    stable: bool  # whether the stability rule was met before the time bound
    duration_s: float  # length of the measured windows
    sent: int  # requests due in the measured windows
    latency: LatencySummary | None  # of those that succeeded
    intervals: Intervals  # 95% confidence intervals of p50, p99 and throughput
    requests_per_s: float  # successes answered during the measured windows, per second
    # Of those, the ones within the SLO's latency deadline (stats.latency_deadline_us); None: no period
    goodput_per_s: float | None
    errors: dict[str, int]  # by kind, for requests due in the measured windows
    error_examples: dict[str, str]  # one message per kind
    windows: tuple[WindowStats, ...]
    late_sends: int  # open loop: sends more than the lateness tolerance behind schedule
    max_send_lag_us: float
    send_lag_p99_us: float  # pacing error: how far behind its schedule the 99th-percentile send left
    server: ServerBreakdown | None
    client_overhead_us: float | None  # client mean latency minus the server's mean handling time
    client_cpu_percent: float | None  # the load generator's CPU over wall time (100 = one core); None: unknown
    cost_per_million: float | None  # dollars per 1M inferences, from the host's $/hour
    energy: Energy
    warnings: tuple[str, ...]
    raw: RequestLog = field(repr=False)
    generation: Generation | None = None  # a prompts payload's streams; None for any other payload

    @property
    def inferences_per_s(self) -> float:
        return self.requests_per_s * self.inferences_per_request

    @property
    def goodput_inferences_per_s(self) -> float | None:
        return None if self.goodput_per_s is None else self.goodput_per_s * self.inferences_per_request

    @property
    def error_count(self) -> int:
        return sum(self.errors.values())

    @property
    def error_rate(self) -> float:
        return self.error_count / self.sent if self.sent else 0.0

    @property
    def queue_growing(self) -> bool:
        return backlog_growth(self.windows) is not None

    @property
    def rejected(self) -> int:
        """Requests the server refused under its queue policy: failed requests, counted as errors."""
        return sum(self.errors.get(kind, 0) for kind in REJECTED)

    @property
    def rejected_rate(self) -> float:
        return self.rejected / self.sent if self.sent else 0.0
