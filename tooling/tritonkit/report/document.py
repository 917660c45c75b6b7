"""The report's content as a sequence of blocks, independent of markup: deciding what the report
says happens once, here; markdown.py and html.py only decide how it looks."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from tritonkit.measure.measurement import Measurement
from tritonkit.measure.sweep import SweepResult
from tritonkit.report import formatting as fmt
from tritonkit.report import tables
from tritonkit.report.columns import GENERATION_SECTIONS, SECTIONS
from tritonkit.report.plots import Plot
from tritonkit.report.tables import Table
from tritonkit.slo import Verdict

HOW_TO_READ = (
    "Each measurement is one load run against one target (a served model under one load). "
    "Latency is timed from when a request was due, not when it was sent, so a load generator that "
    "falls behind shows up as latency instead of hiding it; percentiles are nearest-rank over the "
    "successful requests due in the measured windows (warmup excluded). The level is the offered "
    "load: requests per second in an open loop, requests in flight in a closed loop, the speed of "
    "a replayed trace. 'stable' says whether consecutive windows agreed on throughput and p99 before "
    "the time bound (for a trace: whether it was replayed to its end). "
    "A check's margin is its headroom as a fraction of the limit: positive passes, negative fails "
    "by that much. The server columns are Triton's own per-request averages (queue wait, then input, "
    "inference and output compute); client overhead is the client's mean latency minus the "
    "server's mean handling time. Errors are counted by kind: 'rejected' requests were refused by the "
    "server's queue policy (queue full, or their queue timeout expired: load shed), 'timeout' ones got no "
    "answer in time, 'connection' ones lost the connection, 'not sent' ones were still waiting for the "
    "client's in-flight cap when the run ended; all of them count in the error rate. The windows table "
    "shows the backlog at each window's end (requests due and not answered) and Triton's queue time: "
    "when both keep rising the offered load is above capacity, and the measurement says 'queue growing'. "
    "Goodput counts only the requests answered within the SLO's latency deadline (its p99_ms, else its "
    "tightest percentile limit). The 95% intervals come from the run itself: throughput's from the "
    "spread of the measured windows, p50's and p99's from a block bootstrap over the requests in "
    "order; a percentile gets none when too few requests (counted as independent ones) were measured "
    "for it. A check whose interval straddles its limit is INCONCLUSIVE rather than a coin flip: "
    "measure longer. "
    "A dash means the figure was not measured (no successful request, "
    "no $/hour given); energy shows how it was obtained or why it is not available. In a sweep, "
    "the knee is the last load at which throughput still grew with the load: beyond it, extra load "
    "mostly turns into queueing."
)

HOW_TO_READ_GENERATION = (
    "A prompts payload streams: each request is one stream, from its send to its final response, and "
    "its latency above runs to that end. TTFT (time to first token) runs from when the request was due "
    "to its first token; ITL (inter-token latency) is each gap between consecutive tokens of a stream. "
    "Both count successful streams only, with nearest-rank percentiles and 95% intervals as for latency "
    "(TTFT's by stream in the order they were due, ITL's by gap in the order they arrived). Output "
    "tokens/s are the successful streams' tokens that arrived in the measured windows, per second; "
    "tokens/request their mean per stream."
)


@dataclass(frozen=True)
class Heading:
    level: int  # 1 is the title
    text: str


@dataclass(frozen=True)
class Paragraph:
    text: str


@dataclass(frozen=True)
class Bullets:
    items: tuple[str, ...]


@dataclass(frozen=True)
class Figure:
    path: str  # relative to the report directory, e.g. plots/percentiles.png
    alt: str


Block = Heading | Paragraph | Bullets | Table | Figure


def _figures(plots: Sequence[Plot], sweep: int | None) -> list[Block]:
    return [Figure(p.path, p.alt) for p in plots if p.sweep == sweep]


def _verdicts(verdicts: Sequence[Verdict]) -> list[Block]:
    if not verdicts:
        return []
    passed = sum(v.passed for v in verdicts)
    inconclusive = sum(v.status == "INCONCLUSIVE" for v in verdicts)
    failed = len(verdicts) - passed - inconclusive
    return [
        Heading(2, "Verdicts"),
        Paragraph(
            f"{passed} of {len(verdicts)} targets meet their SLO ({failed} failed, {inconclusive} inconclusive)."
        ),
        tables.verdict_summary(verdicts),
        Heading(3, "Checks"),
        tables.verdict_checks(verdicts),
    ]


def _streamed(measurement: Measurement) -> bool:
    return measurement.generation is not None


def _measurements(measurements: Sequence[Measurement], plots: Sequence[Plot]) -> list[Block]:
    if not measurements:
        return []
    blocks: list[Block] = [Heading(2, "Measurements")]
    for title, columns in SECTIONS:
        blocks += [Heading(3, title), tables.measurements(measurements, columns)]
    if any(map(_streamed, measurements)):
        blocks += [Heading(3, "Streamed generation"), Paragraph(HOW_TO_READ_GENERATION)]
        for title, columns in GENERATION_SECTIONS:  # listing only the measurements that streamed
            blocks += [Heading(4, title), tables.measurements(measurements, columns, _streamed)]
    if any(m.windows for m in measurements):
        blocks += [Heading(3, "Windows: stability and backlog"), tables.windows(measurements)]
    figures = _figures(plots, None)
    if figures:
        blocks += [Heading(3, "Plots"), *figures]
    return blocks


def _sweeps(sweeps: Sequence[SweepResult], plots: Sequence[Plot]) -> list[Block]:
    if not sweeps:
        return []
    blocks: list[Block] = [Heading(2, "Sweeps"), tables.sweep_summary(sweeps)]
    for index, sweep in enumerate(sweeps):
        blocks += [Heading(3, f"{sweep.model} ({sweep.mode} loop)"), tables.sweep_points(sweep)]
        blocks += _figures(plots, index)
    return blocks


def _warnings(measurements: Sequence[Measurement], sweeps: Sequence[SweepResult]) -> list[Block]:
    """Warnings and one example message per error kind: the first things to read when a figure is odd."""
    named = list(zip(fmt.labels(measurements), measurements, strict=True))
    for s in sweeps:
        named += [(f"sweep of {s.model}, {label}", p) for label, p in zip(fmt.labels(s.points), s.points, strict=True)]
    items = []
    for label, m in named:
        items += [f"{label}: {warning}" for warning in m.warnings]
        items += [f"{label}: error {kind}: {message}" for kind, message in sorted(m.error_examples.items())]
    return [Heading(2, "Warnings and errors"), Bullets(tuple(items))] if items else []


def build(
    title: str,
    measurements: Sequence[Measurement],
    verdicts: Sequence[Verdict],
    sweeps: Sequence[SweepResult],
    plots: Sequence[Plot],
) -> tuple[Block, ...]:
    """The whole report, title first; `plots` are placed next to the tables they illustrate."""
    blocks: list[Block] = [Heading(1, title), Heading(2, "How to read this report"), Paragraph(HOW_TO_READ)]
    if not (measurements or sweeps):
        blocks.append(Paragraph("Nothing was measured."))
    blocks += _verdicts(verdicts)
    blocks += _measurements(measurements, plots)
    blocks += _sweeps(sweeps, plots)
    blocks += _warnings(measurements, sweeps)
    return tuple(blocks)
