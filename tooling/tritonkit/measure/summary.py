"""A load run's raw records turned into a Measurement: the measured windows, percentiles,
throughput, goodput, confidence intervals, errors, the server's breakdown from statistics deltas,
cost, energy and warnings. Pure: shared by tritonkit's own client and by runs other generators recorded."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from tritonkit.measure.client import StatsSnapshot
from tritonkit.measure.energy import NvmlMeter, energy_per_inference
from tritonkit.measure.generation import summarize_generation
from tritonkit.measure.loadgen import LATE_AFTER_NS, LoadRun
from tritonkit.measure.measurement import (
    NOT_SENT,
    Measurement,
    RequestLog,
    ServerBreakdown,
    WindowStats,
    backlog_growth,
)
from tritonkit.measure.stats import (
    Intervals,
    confidence_intervals,
    goodput_per_s,
    latency_deadline_us,
    percentile,
    summarize,
)
from tritonkit.specs import PromptsPayload, TargetSpec

LATE_WARNING_FRACTION = 0.05  # warn when more than 5% of open-loop sends left late
CLIENT_CPU_WARNING_PERCENT = 90.0  # one core nearly busy: the client may be the bottleneck


@dataclass(frozen=True)
class Edge:
    """What is read at a window edge; None where it could not be read (e.g. the server is gone)."""

    stats: StatsSnapshot | None
    joules: float | None


@dataclass(frozen=True)
class Host:
    """Where the server is, and what the host costs."""

    grpc_url: str
    http_url: str
    dollars_per_hour: float | None = None
    host_watts: float | None = None

    def url(self, protocol: str) -> str:
        return self.grpc_url if protocol == "grpc" else self.http_url


def summarize_run(
    target: TargetSpec, run: LoadRun[Edge], inferences_per_request: int, host: Host, meter: NvmlMeter | None
) -> Measurement:
    first, last = run.measured
    start_ns, end_ns = run.period_ns
    duration_s = (end_ns - start_ns) / 1e9
    window = run.window_of_each()
    due = (window >= first) & (window <= last)
    errors = np.asarray(run.error)
    ok = due & (errors == "")
    latency_us = (run.done_ns - run.scheduled_ns) / 1e3
    answered_in_period = (errors == "") & (run.done_ns >= start_ns) & (run.done_ns < end_ns)
    requests_per_s = float(answered_in_period.sum()) / duration_s if duration_s else 0.0
    kinds, counts = np.unique(errors[due & (errors != "")], return_counts=True)
    lag_ns = (run.sent_ns - run.scheduled_ns)[due & (errors != NOT_SENT)]
    late = int((lag_ns > LATE_AFTER_NS).sum()) if run.open_loop else 0

    begin, final = run.snapshots[first], run.snapshots[-1]
    server = _breakdown(begin.stats, final.stats)
    client_overhead_us = None
    if server is not None and ok.any():
        client_overhead_us = float(((run.done_ns - run.sent_ns)[ok]).mean() / 1e3) - server.request_us
    inferences = int(answered_in_period.sum()) * inferences_per_request
    inferences_per_s = requests_per_s * inferences_per_request
    joules = final.joules - begin.joules if final.joules is not None and begin.joules is not None else None
    cost = host.dollars_per_hour / 3600 / inferences_per_s * 1e6 if host.dollars_per_hour and inferences_per_s else None
    cpu_percent = 100 * run.cpu_s / duration_s if duration_s and run.cpu_s is not None else None

    windows = _with_backlog(run)
    warnings = []
    sent = int(due.sum())
    if run.open_loop and sent and late / sent > LATE_WARNING_FRACTION:
        warnings.append(
            f"the load generator fell behind its schedule: {late} of {sent} sends left more than "
            f"{LATE_AFTER_NS / 1e6:g} ms late (up to {lag_ns.max() / 1e6:.1f} ms); latencies include the delay "
            "(they run from the intended send time), but arrivals reached the server less evenly than offered"
        )
    if cpu_percent is not None and cpu_percent > CLIENT_CPU_WARNING_PERCENT:
        warnings.append(f"the client used {cpu_percent:.0f}% of a core: it may be the bottleneck")
    growth = backlog_growth(windows)
    if growth:
        warnings.append(growth)
    not_sent = int((due & (errors == NOT_SENT)).sum())
    if not_sent:
        warnings.append(
            f"{not_sent} requests due in the measured windows were never sent: the client was at its max_in_flight "
            "cap when the run ended (counted as errors, kind 'not sent')"
        )
    if begin.stats is None or final.stats is None:
        warnings.append("no server statistics at the start or end of the measured windows: no server-side breakdown")

    generation = None
    if isinstance(target.payload, PromptsPayload):
        edges = run.boundaries[first : last + 2]
        generation = summarize_generation(run.scheduled_ns, run.token_ns, due, errors == "", edges)
    load = target.load
    return Measurement(
        target=target.name,
        model=target.model,
        protocol=load.protocol,
        mode=load.mode,
        level=load.level,
        inferences_per_request=inferences_per_request,
        measured_windows=run.measured,
        stable=run.stable,
        duration_s=duration_s,
        sent=sent,
        latency=summarize(latency_us[ok]),
        intervals=_intervals(run, latency_us, ok, requests_per_s, inferences_per_request),
        requests_per_s=requests_per_s,
        goodput_per_s=goodput_per_s(latency_us[answered_in_period], duration_s, latency_deadline_us(target.slo)),
        errors={str(k): int(c) for k, c in zip(kinds, counts, strict=True)},
        error_examples={k: v for k, v in run.error_examples.items() if k in set(kinds.tolist())},
        windows=windows,
        late_sends=late,
        max_send_lag_us=float(lag_ns.max() / 1e3) if lag_ns.size else 0.0,
        send_lag_p99_us=percentile(lag_ns / 1e3, 99) if lag_ns.size else 0.0,
        server=server,
        client_overhead_us=client_overhead_us,
        client_cpu_percent=cpu_percent,
        cost_per_million=cost,
        energy=energy_per_inference(meter, joules, duration_s, inferences, host.host_watts),
        warnings=tuple(warnings),
        raw=RequestLog(
            scheduled_us=(run.scheduled_ns - run.started_ns) / 1e3,
            sent_us=(run.sent_ns - run.started_ns) / 1e3,
            latency_us=latency_us,
            window=window,
            error=run.error,
        ),
        generation=generation,
    )


def _intervals(
    run: LoadRun[Edge], latency_us: np.ndarray, ok: np.ndarray, requests_per_s: float, inferences_per_request: int
) -> Intervals:
    """The successes' latencies in the order they were due (the bootstrap keeps neighbours
    together) and each measured window's throughput."""
    in_order = np.argsort(run.scheduled_ns, kind="stable")
    first, last = run.measured
    rates = [w.throughput_per_s for w in run.windows[first : last + 1]]
    return confidence_intervals(latency_us[in_order][ok[in_order]], requests_per_s, rates, inferences_per_request)


def _with_backlog(run: LoadRun[Edge]) -> tuple[WindowStats, ...]:
    """Each window with the backlog at its end: requests due and not yet answered (every request is
    answered or failed by the end of a run, so the log knows), and Triton's mean queue time."""
    ends = np.asarray(run.boundaries[1:], dtype=np.int64)
    due = np.searchsorted(np.sort(run.scheduled_ns), ends, side="right")
    answered = np.searchsorted(np.sort(run.done_ns), ends, side="right")
    return tuple(
        dataclasses.replace(w, outstanding=int(due[k] - answered[k]), server_queue_us=_queue_us(run.snapshots, k))
        for k, w in enumerate(run.windows)
    )


def _queue_us(snapshots: Sequence[Edge], window: int) -> float | None:
    begin, end = snapshots[window].stats, snapshots[window + 1].stats
    if begin is None or end is None or end.success_count <= begin.success_count:
        return None
    return (end.queue_ns - begin.queue_ns) / (end.success_count - begin.success_count) / 1e3


def _breakdown(begin: StatsSnapshot | None, end: StatsSnapshot | None) -> ServerBreakdown | None:
    if begin is None or end is None:
        return None
    requests = end.success_count - begin.success_count
    if requests <= 0:
        return None

    def per_request(field: str) -> float:
        return (getattr(end, field) - getattr(begin, field)) / requests / 1e3

    return ServerBreakdown(
        requests=requests,
        request_us=per_request("success_ns"),
        queue_us=per_request("queue_ns"),
        compute_input_us=per_request("compute_input_ns"),
        compute_infer_us=per_request("compute_infer_ns"),
        compute_output_us=per_request("compute_output_ns"),
        inferences=end.inference_count - begin.inference_count,
        executions=end.execution_count - begin.execution_count,
    )
