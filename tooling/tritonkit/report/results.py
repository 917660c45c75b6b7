"""results.json as one typed document: the report writes it through these models and every reader
(`plan --results`, scripts, the tests) reads it back through them, so a field renamed on one side
fails at once instead of reading as missing on the other.

Figures that were not measured (no successful request, a quantity that came out non-finite) are
null. Reading is strict: an unknown field, a wrong type or a non-finite number is refused."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, NonNegativeInt, StrictBool

SCHEMA_VERSION = 1
Figure = float | None  # null: not measured


class _Record(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", allow_inf_nan=False)


class IntervalRecord(_Record):
    low: float
    high: float


class PercentileIntervalsRecord(_Record):
    p50_us: IntervalRecord | None
    p99_us: IntervalRecord | None


class IntervalsRecord(PercentileIntervalsRecord):
    inferences_per_s: IntervalRecord | None


class LatencyRecord(_Record):
    count: NonNegativeInt
    mean_us: Figure
    p50_us: Figure
    p90_us: Figure
    p95_us: Figure
    p99_us: Figure
    max_us: Figure


class GenerationRecord(_Record):
    """Streamed generation (measure.measurement.Generation): TTFT and ITL in µs."""

    streams: NonNegativeInt
    tokens_per_request: Figure
    output_tokens: NonNegativeInt
    output_tokens_per_s: Figure
    output_tokens_per_s_interval: IntervalRecord | None
    ttft: LatencyRecord | None
    ttft_intervals: PercentileIntervalsRecord
    itl: LatencyRecord | None
    itl_intervals: PercentileIntervalsRecord


class WindowRecord(_Record):
    index: int
    completed: NonNegativeInt
    errors: NonNegativeInt
    throughput_per_s: Figure
    p99_us: Figure
    outstanding: int | None
    server_queue_us: Figure


class ServerRecord(_Record):
    requests: NonNegativeInt
    request_us: Figure
    queue_us: Figure
    compute_input_us: Figure
    compute_infer_us: Figure
    compute_output_us: Figure
    compute_us: Figure
    inferences: NonNegativeInt
    executions: NonNegativeInt
    average_batch_size: Figure


class EnergyRecord(_Record):
    joules_per_inference: Figure
    method: str


class MeasurementRecord(_Record):
    """One load run against one target (measure.measurement.Measurement, its raw requests aside)."""

    target: str
    model: str
    protocol: str
    mode: Literal["open", "closed"]
    level: float
    inferences_per_request: NonNegativeInt
    measured_windows: tuple[int, int]
    stable: StrictBool
    duration_s: Figure
    sent: NonNegativeInt
    latency: LatencyRecord | None
    intervals: IntervalsRecord
    requests_per_s: Figure
    inferences_per_s: Figure
    goodput_per_s: Figure
    goodput_inferences_per_s: Figure
    errors: dict[str, NonNegativeInt]
    error_examples: dict[str, str]
    error_count: NonNegativeInt
    error_rate: Figure
    rejected: NonNegativeInt
    rejected_rate: Figure
    queue_growing: StrictBool
    windows: tuple[WindowRecord, ...]
    late_sends: NonNegativeInt
    max_send_lag_us: Figure
    send_lag_p99_us: Figure = 0.0  # absent from results.json written before it was measured
    server: ServerRecord | None
    client_overhead_us: Figure
    client_cpu_percent: Figure
    cost_per_million: Figure
    energy: EnergyRecord
    warnings: tuple[str, ...]
    generation: GenerationRecord | None = None  # a prompts payload's streams; absent in older documents


class ReportedMeasurement(MeasurementRecord):
    """A measurement as the report lists it: its label there and the CSV of its raw requests."""

    label: str
    latencies_csv: str


class CheckRecord(_Record):
    metric: str
    limit: float
    actual: Figure
    unit: str
    upper_bound: StrictBool
    state: Literal["pass", "fail", "inconclusive"]
    passed: StrictBool
    margin: Figure
    detail: str
    interval: IntervalRecord | None


class VerdictRecord(_Record):
    target: str
    model: str
    status: Literal["PASS", "FAIL", "INCONCLUSIVE"]
    passed: StrictBool
    checks: tuple[CheckRecord, ...]
    reasons: tuple[str, ...]
    notes: tuple[str, ...]


class SweepRecord(_Record):
    model: str
    mode: Literal["open", "closed"]
    points: tuple[MeasurementRecord, ...]
    p99_limit_ms: float | None
    knee: NonNegativeInt | None
    best: NonNegativeInt | None
    max_inferences_per_s_within_p99: Figure


class Results(_Record):
    """results.json."""

    schema_version: Literal[1]
    title: str
    measurements: tuple[ReportedMeasurement, ...]
    verdicts: tuple[VerdictRecord, ...]
    sweeps: tuple[SweepRecord, ...]
    plots: tuple[str, ...]
