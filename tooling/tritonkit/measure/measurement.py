"""What one load run measured: raw per-request records, per-window figures, the server's own
breakdown, and the derived figures (throughput, cost, energy) a verdict and a report read."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from tritonkit.measure.stats import LatencySummary


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
class Measurement:
    target: str
    model: str
    protocol: str
    mode: str  # "open" or "closed"
    level: float  # requests per second (open) or requests in flight (closed)
    inferences_per_request: int  # the payload's batch size
    measured_windows: tuple[int, int]  # first and last window the figures below cover
    stable: bool  # whether the stability rule was met before the time bound
    duration_s: float  # length of the measured windows
    sent: int  # requests due in the measured windows
    latency: LatencySummary | None  # of those that succeeded
    requests_per_s: float  # successes answered during the measured windows, per second
    errors: dict[str, int]  # by kind, for requests due in the measured windows
    error_examples: dict[str, str]  # one message per kind
    windows: tuple[WindowStats, ...]
    late_sends: int  # open loop: sends more than the lateness tolerance behind schedule
    max_send_lag_us: float
    server: ServerBreakdown | None
    client_overhead_us: float | None  # client mean latency minus the server's mean handling time
    client_cpu_percent: float | None  # the load generator's CPU over wall time (100 = one core); None: unknown
    cost_per_million: float | None  # dollars per 1M inferences, from the host's $/hour
    energy: Energy
    warnings: tuple[str, ...]
    raw: RequestLog = field(repr=False)

    @property
    def inferences_per_s(self) -> float:
        return self.requests_per_s * self.inferences_per_request

    @property
    def error_count(self) -> int:
        return sum(self.errors.values())

    @property
    def error_rate(self) -> float:
        return self.error_count / self.sent if self.sent else 0.0
