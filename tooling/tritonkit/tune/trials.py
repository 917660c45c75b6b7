"""A trial: one candidate measured (or failed) for one target at one fidelity. Pydantic, because
trials are written to the trial log and read back by --resume and the replay harness."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictInt, field_validator

from tritonkit.measure.measurement import Measurement
from tritonkit.measure.resources import ResourceUsage
from tritonkit.measure.stats import Interval
from tritonkit.tune.candidate import Candidate

Fidelity = Literal["screen", "confirm"]
# A trial read back from a log (--resume, replay) is what the search trusts: every figure a finite
# number in its range (allow_inf_nan=False below also covers the intervals' bounds).
Amount = Annotated[float, Field(ge=0)]  # milliseconds, inferences/s, cores, a batch size
Fraction = Annotated[float, Field(ge=0, le=1)]


class _Record(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", allow_inf_nan=False)


class TrialFigures(_Record):
    """The figures a search reads and a report shows (ms, inferences/s, bytes)."""

    p50_ms: Amount | None
    p90_ms: Amount | None
    p95_ms: Amount | None
    p99_ms: Amount | None
    p50_interval_ms: Interval | None
    p99_interval_ms: Interval | None
    inferences_per_s: Amount
    inferences_interval: Interval | None
    goodput_inferences_per_s: Amount | None
    error_rate: Fraction
    rejected_rate: Fraction
    average_batch_size: Amount | None  # the server's inferences per execution
    cpu_cores: Amount | None  # the model's instances, CPU seconds per second
    server_cpu_cores: Amount | None  # tritonserver itself (front-ends, batcher)
    rss_bytes: Annotated[StrictInt, Field(ge=0)] | None  # the model's instances' resident memory
    stable: bool

    @field_validator("p50_interval_ms", "p99_interval_ms", "inferences_interval")
    @classmethod
    def _ordered(cls, interval: Interval | None) -> Interval | None:
        if interval is not None and not 0 <= interval.low <= interval.high:
            raise ValueError(f"expected 0 ≤ low ≤ high, got low {interval.low:g}, high {interval.high:g}")
        return interval

    @classmethod
    def of(cls, measurement: Measurement, resources: ResourceUsage | None) -> TrialFigures:
        latency, intervals = measurement.latency, measurement.intervals

        def ms(value: float | None) -> float | None:
            return value / 1000 if value is not None else None

        def interval_ms(interval: Interval | None) -> Interval | None:
            return Interval(interval.low / 1000, interval.high / 1000) if interval is not None else None

        return cls(
            p50_ms=ms(latency.p50_us) if latency else None,
            p90_ms=ms(latency.p90_us) if latency else None,
            p95_ms=ms(latency.p95_us) if latency else None,
            p99_ms=ms(latency.p99_us) if latency else None,
            p50_interval_ms=interval_ms(intervals.p50_us),
            p99_interval_ms=interval_ms(intervals.p99_us),
            inferences_per_s=measurement.inferences_per_s,
            inferences_interval=intervals.inferences_per_s,
            goodput_inferences_per_s=measurement.goodput_inferences_per_s,
            error_rate=measurement.error_rate,
            rejected_rate=measurement.rejected_rate,
            average_batch_size=measurement.server.average_batch_size if measurement.server else None,
            cpu_cores=resources.cpu_cores if resources else None,
            server_cpu_cores=resources.server_cpu_cores if resources else None,
            rss_bytes=resources.rss_bytes if resources else None,
            stable=measurement.stable,
        )


class Trial(_Record):
    kind: Literal["trial"] = "trial"
    target: str  # the target's name
    workload: str  # digest of what the target measures (load, payload, SLO): equal targets share trials
    candidate: Candidate
    fidelity: Fidelity
    figures: TrialFigures | None  # None: the candidate failed (see `failure`)
    failure: str = ""  # why it failed: invalid, did not load, crashed, no successful request
    seconds: Amount  # wall time of the trial, reload and warmup included

    @field_validator("candidate")
    @classmethod
    def _batches_fit(cls, candidate: Candidate) -> Candidate:
        """What the field bounds (candidate.py) cannot say: sizes within the candidate's max_batch_size."""
        most = candidate.max_batch_size
        problems = [f"client_batch_size {candidate.client_batch_size}"] if candidate.client_batch_size > most else []
        if any(size > most for size in candidate.preferred_batch_sizes):
            problems.append(f"preferred_batch_sizes {list(candidate.preferred_batch_sizes)}")
        if problems:
            raise ValueError(f"{' and '.join(problems)} above its max_batch_size {most}")
        return candidate

    @property
    def key(self) -> str:
        return self.candidate.key()

    @property
    def failed(self) -> bool:
        return self.figures is None
