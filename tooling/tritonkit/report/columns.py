"""The per-measurement columns, defined once: the report's tables show them formatted and
summary.csv writes the same columns as raw values, so the two can never disagree. Streamed
generation's columns are in every summary.csv (blank for other payloads) and in the report's tables
when a measurement streamed."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from tritonkit.measure.measurement import Generation, Measurement
from tritonkit.measure.stats import Interval, LatencySummary, PercentileIntervals
from tritonkit.report import formatting as fmt

Scalar = str | int | float | bool | None


def _show(value: Scalar) -> str:
    if value is None:
        return fmt.MISSING
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int | float):
        return fmt.sig(value)
    return value


@dataclass(frozen=True)
class Column:
    key: str  # summary.csv header: snake_case with the unit, for machines
    header: str  # table header, for people
    value: Callable[[Measurement], Scalar]
    show: Callable[[Scalar], str] = _show
    numeric: bool = True  # right-aligned in tables
    display: Callable[[Measurement], str] | None = None  # when the text needs more than the value

    def text(self, measurement: Measurement) -> str:
        if self.display is not None:
            return self.display(measurement)
        return self.show(self.value(measurement))


def _percentile_ms(times: Callable[[Measurement], LatencySummary | None], p: str) -> Callable[[Measurement], Scalar]:
    def value(m: Measurement) -> Scalar:
        found = times(m)
        return getattr(found, f"{p}_us") / 1000 if found else None

    return value


def _latency_ms(p: str) -> Callable[[Measurement], Scalar]:
    return _percentile_ms(lambda m: m.latency, p)


def _bound(
    interval: Callable[[Measurement], Interval | None], end: Literal["low", "high"], scale: float = 1.0
) -> Callable[[Measurement], Scalar]:
    """One end of a 95% interval; missing where too little was measured for one."""

    def value(m: Measurement) -> Scalar:
        found = interval(m)
        return getattr(found, end) * scale if found else None

    return value


def _generation(figure: Callable[[Generation], Scalar]) -> Callable[[Measurement], Scalar]:
    return lambda m: figure(m.generation) if m.generation else None


def _token_ms(times: str, p: str) -> Callable[[Measurement], Scalar]:
    """A percentile of TTFT or ITL (`times`: the Generation field) in ms."""
    return _percentile_ms(lambda m: getattr(m.generation, times, None), p)


def _token_interval(times: str, p: int) -> Callable[[Measurement], Interval | None]:
    """The 95% interval of TTFT's or ITL's p50 or p99 (µs)."""

    def interval(m: Measurement) -> Interval | None:
        intervals: PercentileIntervals | None = getattr(m.generation, f"{times}_intervals", None)
        return intervals.percentile_us(p) if intervals else None

    return interval


def _tokens_per_s_interval(m: Measurement) -> Interval | None:
    return m.generation.output_tokens_per_s_interval if m.generation else None


def _server(name: str) -> Callable[[Measurement], Scalar]:
    return lambda m: getattr(m.server, name) if m.server else None


def _errors_by_kind(m: Measurement) -> str:
    return "; ".join(f"{kind}: {count}" for kind, count in sorted(m.errors.items()))


def _as_percent(value: Scalar) -> str:
    return fmt.percent(value) if isinstance(value, int | float) else fmt.MISSING


def _as_dollars(value: Scalar) -> str:
    return fmt.dollars(value) if isinstance(value, int | float) else fmt.MISSING


# summary.csv only: the tables lead with a label, the target plus its load when a target repeats.
IDENTITY = (Column("target", "target", lambda m: m.target, numeric=False),)

THROUGHPUT_AND_LATENCY = (
    Column("model", "model", lambda m: m.model, numeric=False),
    Column("protocol", "protocol", lambda m: m.protocol, numeric=False),
    Column("mode", "mode", lambda m: m.mode, numeric=False),
    Column("level", "level", lambda m: m.level, display=fmt.level),
    Column("stable", "stable", lambda m: m.stable, numeric=False),
    Column("duration_s", "measured s", lambda m: m.duration_s),
    Column("requests_per_s", "requests/s", lambda m: m.requests_per_s),
    # Goodput: the successes within the SLO's latency deadline (stats.latency_deadline_us).
    Column("goodput_per_s", "goodput requests/s", lambda m: m.goodput_per_s),
    Column("inferences_per_s", "inferences/s", lambda m: m.inferences_per_s),
    Column("goodput_inferences_per_s", "goodput inferences/s", lambda m: m.goodput_inferences_per_s),
    Column("p50_ms", "p50 ms", _latency_ms("p50")),
    Column("p90_ms", "p90 ms", _latency_ms("p90")),
    Column("p95_ms", "p95 ms", _latency_ms("p95")),
    Column("p99_ms", "p99 ms", _latency_ms("p99")),
    Column("max_ms", "max ms", _latency_ms("max")),
    Column("mean_ms", "mean ms", _latency_ms("mean")),
)

ERRORS_AND_LOAD = (
    Column("sent", "requests due", lambda m: m.sent),
    # Measurement.error_rate is 0 when nothing was due; that is no rate, so it shows as missing.
    Column("error_rate", "error rate", lambda m: m.error_rate if m.sent else None, _as_percent),
    Column("errors_by_kind", "errors by kind", _errors_by_kind, lambda v: str(v) or "none", numeric=False),
    # Shed by the server's queue policy: among the errors above, apart from timeouts and broken connections.
    Column("rejected_rate", "rejected", lambda m: m.rejected_rate if m.sent else None, _as_percent),
    Column("queue_growing", "queue growing", lambda m: m.queue_growing, numeric=False),
    Column("late_sends", "late sends", lambda m: m.late_sends),
    Column("max_send_lag_ms", "max send lag ms", lambda m: m.max_send_lag_us / 1000),
    Column("send_lag_p99_ms", "send lag p99 ms", lambda m: m.send_lag_p99_us / 1000),
)

CONFIDENCE_INTERVALS = (
    Column("p50_ci_low_ms", "p50 low ms", _bound(lambda m: m.intervals.p50_us, "low", 1e-3)),
    Column("p50_ci_high_ms", "p50 high ms", _bound(lambda m: m.intervals.p50_us, "high", 1e-3)),
    Column("p99_ci_low_ms", "p99 low ms", _bound(lambda m: m.intervals.p99_us, "low", 1e-3)),
    Column("p99_ci_high_ms", "p99 high ms", _bound(lambda m: m.intervals.p99_us, "high", 1e-3)),
    Column("inferences_per_s_ci_low", "inferences/s low", _bound(lambda m: m.intervals.inferences_per_s, "low")),
    Column("inferences_per_s_ci_high", "inferences/s high", _bound(lambda m: m.intervals.inferences_per_s, "high")),
)

TIME_COST_ENERGY = (
    Column("server_queue_us", "queue µs", _server("queue_us")),
    Column("server_compute_input_us", "compute input µs", _server("compute_input_us")),
    Column("server_compute_infer_us", "infer µs", _server("compute_infer_us")),
    Column("server_compute_output_us", "output µs", _server("compute_output_us")),
    Column("server_average_batch_size", "avg batch", _server("average_batch_size")),
    Column("client_overhead_us", "client overhead µs", lambda m: m.client_overhead_us),
    Column("client_cpu_percent", "client CPU %", lambda m: m.client_cpu_percent),
    Column("cost_per_million_usd", "$ / 1M inferences", lambda m: m.cost_per_million, _as_dollars),
    Column("energy_j_per_inference", "J / inference", lambda m: m.energy.joules_per_inference),
    Column("energy_method", "energy method", lambda m: m.energy.method, numeric=False),
)

GENERATION = (
    Column("streams", "streams", _generation(lambda g: g.streams)),
    Column("tokens_per_request", "tokens/request", _generation(lambda g: g.tokens_per_request)),
    Column("output_tokens_per_s", "output tokens/s", _generation(lambda g: g.output_tokens_per_s)),
    *(Column(f"ttft_{p}_ms", f"TTFT {p} ms", _token_ms("ttft", p)) for p in ("p50", "p90", "p95", "p99", "max")),
    *(Column(f"itl_{p}_ms", f"ITL {p} ms", _token_ms("itl", p)) for p in ("p50", "p90", "p95", "p99", "max")),
)

_ENDS: tuple[Literal["low", "high"], ...] = ("low", "high")
GENERATION_INTERVALS = (
    *(
        Column(
            f"{times}_p{p}_ci_{end}_ms", f"{times.upper()} p{p} {end} ms", _bound(_token_interval(times, p), end, 1e-3)
        )
        for times in ("ttft", "itl")
        for p in (50, 99)
        for end in _ENDS
    ),
    *(
        Column(f"output_tokens_per_s_ci_{end}", f"output tokens/s {end}", _bound(_tokens_per_s_interval, end))
        for end in _ENDS
    ),
)

# Table title and columns, in the order the report shows them.
SECTIONS: tuple[tuple[str, tuple[Column, ...]], ...] = (
    ("Throughput and latency", THROUGHPUT_AND_LATENCY),
    ("95% confidence intervals", CONFIDENCE_INTERVALS),
    ("Errors and load generation", ERRORS_AND_LOAD),
    ("Where the time goes, cost and energy", TIME_COST_ENERGY),
)
# Shown after those, under "Streamed generation", when a measurement streamed.
GENERATION_SECTIONS: tuple[tuple[str, tuple[Column, ...]], ...] = (
    ("TTFT, ITL and output tokens", GENERATION),
    ("Their 95% confidence intervals", GENERATION_INTERVALS),
)

ALL = IDENTITY + tuple(column for _, columns in SECTIONS + GENERATION_SECTIONS for column in columns)
