"""A trial: one candidate measured (or failed) for one target at one fidelity. Pydantic, because
trials are written to the trial log and read back by --resume and the replay harness."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict

from tritonkit.measure.measurement import Measurement
from tritonkit.measure.resources import ResourceUsage
from tritonkit.measure.stats import Interval
from tritonkit.tune.candidate import Candidate

Fidelity = Literal["screen", "confirm"]


class _Record(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class TrialFigures(_Record):
    """The figures a search reads and a report shows (ms, inferences/s, bytes)."""

    p50_ms: float | None
    p90_ms: float | None
    p95_ms: float | None
    p99_ms: float | None
    p50_interval_ms: Interval | None
    p99_interval_ms: Interval | None
    inferences_per_s: float
    inferences_interval: Interval | None
    goodput_inferences_per_s: float | None
    error_rate: float
    rejected_rate: float
    average_batch_size: float | None  # the server's inferences per execution
    cpu_cores: float | None  # the model's instances, CPU seconds per second
    server_cpu_cores: float | None  # tritonserver itself (front-ends, batcher)
    rss_bytes: int | None  # the model's instances' resident memory
    stable: bool

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
    seconds: float  # wall time of the trial, reload and warmup included

    @property
    def key(self) -> str:
        return self.candidate.key()

    @property
    def failed(self) -> bool:
        return self.figures is None
