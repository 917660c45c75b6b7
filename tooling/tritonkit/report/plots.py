"""The report's plots as PNG bytes (matplotlib, Agg, a fixed size and style so that the same data
gives the same image). Figures are built with the object API, not pyplot: nothing is registered
globally, so nothing is left open and rendering works in any thread or headless process."""

from __future__ import annotations

import io
import math
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import partial
from typing import Any

import matplotlib.style
import numpy as np
from matplotlib import ticker
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from tritonkit.measure.measurement import Measurement
from tritonkit.measure.sweep import SweepResult
from tritonkit.report import formatting as fmt
from tritonkit.slo import Verdict

SIZE = (10.0, 5.6)  # inches
DPI = 100
STYLE = {
    "font.family": "DejaVu Sans",  # bundled with matplotlib: the same glyphs on every machine
    "font.size": 10,
    "axes.titlesize": 12,
    "axes.grid": True,
    "grid.alpha": 0.3,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "legend.fontsize": 8.5,
    "legend.framealpha": 0.9,
}
PERCENTILES = (50, 90, 95, 99)
CDF_POINTS = 2000  # enough for a smooth curve; a million-request run would otherwise be slow to draw


@dataclass(frozen=True)
class Plot:
    path: str  # relative to the report directory
    alt: str  # what the plot shows, for alt text and captions
    png: bytes
    sweep: int | None  # index of the sweep it belongs to; None for the measurements' plots


def render_figure(draw: Callable[[Axes], None]) -> bytes:
    with matplotlib.style.context(["default", STYLE]):
        figure = Figure(figsize=SIZE, dpi=DPI, layout="constrained")
        FigureCanvasAgg(figure)
        draw(figure.add_subplot())
        buffer = io.BytesIO()
        figure.savefig(buffer, format="png", metadata={"Software": None})  # no version stamp: same bytes
    return buffer.getvalue()


def successful_latencies_us(m: Measurement) -> np.ndarray:
    """Latencies of the successful requests in the measured windows: what the percentiles cover."""
    raw = m.raw
    ok = np.fromiter((e == "" for e in raw.error), dtype=bool, count=len(raw))
    first, last = m.measured_windows
    return np.asarray(raw.latency_us[ok & (raw.window >= first) & (raw.window <= last)], dtype=float)


def _p99_limits(verdicts: Sequence[Verdict], targets: set[str]) -> list[float]:
    return sorted({c.limit for v in verdicts if v.target in targets for c in v.checks if c.metric == "p99"})


def curve(ax: Axes, points: Sequence[Measurement], color: str, name: str) -> None:
    """p50 dotted and p99 solid against achieved throughput; each p99 point labelled with its load."""
    measured = [(p, p.latency) for p in points if p.latency is not None]
    x = [p.inferences_per_s for p, _ in measured]
    p99 = [summary.p99_us / 1000 for _, summary in measured]
    ax.plot(x, [summary.p50_us / 1000 for _, summary in measured], ":o", color=color, label=f"{name} p50".strip())
    ax.plot(x, p99, "-^", color=color, label=f"{name} p99".strip())
    for xi, yi, (p, _) in zip(x, p99, measured, strict=True):
        ax.annotate(fmt.level(p), (xi, yi), textcoords="offset points", xytext=(4, 6), fontsize=7, color=color)


def axes_labels(ax: Axes, title: str) -> None:
    ax.set_title(title)
    ax.set_xlabel("achieved inferences/s")
    ax.set_ylabel("latency (ms)")
    ax.margins(0.1)  # room for the load labels next to the last point
    ax.set_xlim(left=0)
    ax.set_yscale("log")  # latencies and limits that span decades stay readable on one plot
    ax.legend(loc="best")


def _draw_latency_throughput(ax: Axes, measurements: Sequence[Measurement], verdicts: Sequence[Verdict]) -> None:
    groups: dict[tuple[str, str], list[Measurement]] = defaultdict(list)
    for m in measurements:
        if m.latency is not None:
            groups[m.model, m.mode].append(m)
    for i, ((model, mode), points) in enumerate(sorted(groups.items())):
        color = f"C{i % 10}"
        curve(ax, sorted(points, key=lambda p: p.level), color, f"{model} ({mode})")
        for limit in _p99_limits(verdicts, {p.target for p in points}):
            ax.axhline(limit, color=color, linestyle="--", linewidth=1.2, label=f"{model} p99 SLO {fmt.sig(limit)} ms")
    axes_labels(ax, "Latency against throughput")


def latency_throughput(measurements: Sequence[Measurement], verdicts: Sequence[Verdict]) -> bytes | None:
    """One curve per model and load mode (levels mean different things in open and closed loops)."""
    if not any(m.latency for m in measurements):
        return None
    return render_figure(partial(_draw_latency_throughput, measurements=measurements, verdicts=verdicts))


def _mark(ax: Axes, sweep: SweepResult, index: int | None, name: str, **style: Any) -> None:
    """Circle or star a sweep's point on its p99 curve, its throughput and load in the legend."""
    point = sweep.points[index] if index is not None else None
    if point is None or point.latency is None:
        return
    label = f"{name}: {fmt.sig(point.inferences_per_s)} inf/s at {fmt.level(point)}"
    ax.plot([point.inferences_per_s], [point.latency.p99_us / 1000], linestyle="none", label=label, **style)


def _draw_sweep(ax: Axes, sweep: SweepResult) -> None:
    curve(ax, sweep.points, "C0", "")
    if sweep.p99_limit_ms is not None:
        ax.axhline(sweep.p99_limit_ms, color="C3", linestyle="--", label=f"p99 SLO {fmt.sig(sweep.p99_limit_ms)} ms")
    _mark(ax, sweep, sweep.knee, "knee", marker="o", markersize=16, mfc="none", mec="black", mew=1.5)
    _mark(ax, sweep, sweep.best, "best within p99", marker="*", markersize=16, color="C2")
    axes_labels(ax, f"Sweep of {sweep.model} ({sweep.mode} loop)")


def sweep_curve(sweep: SweepResult) -> bytes | None:
    if not any(p.latency for p in sweep.points):
        return None
    return render_figure(partial(_draw_sweep, sweep=sweep))


def _draw_percentiles(ax: Axes, measurements: Sequence[Measurement], verdicts: Sequence[Verdict]) -> None:
    width = 0.8 / len(PERCENTILES)
    x = np.arange(len(measurements))
    blues = matplotlib.colormaps["Blues"]
    limits = {(v.target, c.metric): c.limit for v in verdicts for c in v.checks}
    limit_label = "SLO limit"
    for j, p in enumerate(PERCENTILES):
        offsets = x + (j - (len(PERCENTILES) - 1) / 2) * width
        heights = [m.latency.percentile_us(p) / 1000 if m.latency else 0.0 for m in measurements]
        ax.bar(offsets, heights, width, color=blues(0.35 + 0.6 * j / len(PERCENTILES)), label=f"p{p}")
        for offset, m in zip(offsets, measurements, strict=True):
            limit = limits.get((m.target, f"p{p}"))
            if limit is not None:
                ax.hlines(limit, offset - width / 2, offset + width / 2, colors="C3", linewidth=2.5, label=limit_label)
                limit_label = "_nolegend_"  # one legend entry for all the limits
    for xi, m in zip(x, measurements, strict=True):
        if m.latency is None:
            ax.text(xi, 0, "no successful request", ha="center", va="bottom", rotation=90, fontsize=8)
    crowded = len(measurements) > 4
    ax.set_xticks(x, fmt.labels(measurements), rotation=20 if crowded else 0, ha="right" if crowded else "center")
    ax.set_yscale("log", nonpositive="clip")  # targets' latencies and limits span decades
    ax.set_ylabel("latency (ms)")
    ax.set_title("Latency percentiles per target, with SLO limits")
    ax.legend(loc="upper left")


def percentile_bars(measurements: Sequence[Measurement], verdicts: Sequence[Verdict]) -> bytes | None:
    if not any(m.latency for m in measurements):
        return None
    return render_figure(partial(_draw_percentiles, measurements=measurements, verdicts=verdicts))


def _plain_log_ticks(ax: Axes, low_ms: float, high_ms: float) -> None:
    """Ticks labelled 2, 5, 10 rather than matplotlib's 2x10^0: latencies are read, not computed.
    1-2-5 steps over a wide range; over a narrow one, matplotlib's own ticks, all labelled."""
    plain = ticker.FuncFormatter(lambda value, _: fmt.sig(value))
    decades = range(math.floor(math.log10(low_ms)), math.ceil(math.log10(high_ms)) + 1)
    ticks = [m * 10.0**d for d in decades for m in (1, 2, 5) if low_ms <= m * 10.0**d <= high_ms]
    if len(ticks) >= 3:
        ax.xaxis.set_major_locator(ticker.FixedLocator(ticks))
        ax.xaxis.set_minor_formatter(ticker.NullFormatter())
    else:
        ax.xaxis.set_minor_formatter(plain)
    ax.xaxis.set_major_formatter(plain)


def _draw_cdf(ax: Axes, series: Sequence[tuple[str, np.ndarray]]) -> None:
    """`series`: a label and its latencies in ms, sorted."""
    for i, (label, ordered) in enumerate(series):
        keep = np.unique(np.linspace(0, ordered.size - 1, min(ordered.size, CDF_POINTS)).astype(int))
        ax.step(ordered[keep], (keep + 1) / ordered.size, where="post", color=f"C{i % 10}", label=label)
    for q, name in ((0.5, "p50"), (0.99, "p99")):
        ax.axhline(q, color="grey", linewidth=0.8, linestyle=":")
        ax.annotate(name, (0.005, q), xycoords=("axes fraction", "data"), xytext=(0, 2), textcoords="offset points",
                    fontsize=8, color="grey")  # fmt: skip
    ax.set_xscale("log")
    _plain_log_ticks(ax, min(float(ms[0]) for _, ms in series), max(float(ms[-1]) for _, ms in series))
    ax.set_ylim(0, 1.02)
    ax.set_xlabel("latency (ms, log scale)")
    ax.set_ylabel("fraction of requests at or below")
    ax.set_title("Latency distribution per target (successful requests, measured windows)")
    ax.legend(loc="lower right")


def latency_cdf(measurements: Sequence[Measurement]) -> bytes | None:
    named = zip(fmt.labels(measurements), measurements, strict=True)
    series = [(label, np.sort(us) / 1000) for label, m in named if (us := successful_latencies_us(m)).size]
    return render_figure(partial(_draw_cdf, series=series)) if series else None


def render(
    measurements: Sequence[Measurement], verdicts: Sequence[Verdict], sweeps: Sequence[SweepResult]
) -> tuple[Plot, ...]:
    """Every plot the data supports; a plot with nothing to show (no successful request) is left out."""
    candidates: list[tuple[str, str, int | None, bytes | None]] = [
        ("plots/latency_throughput.png", "Latency (p50, p99) against throughput", None,
         latency_throughput(measurements, verdicts)),
        ("plots/percentiles.png", "Latency percentiles per target, with SLO limits", None,
         percentile_bars(measurements, verdicts)),
        ("plots/latency_cdf.png", "Latency distribution per target", None, latency_cdf(measurements)),
    ]  # fmt: skip
    names = fmt.slugs([f"{s.model}_{s.mode}" for s in sweeps])
    for index, (sweep, name) in enumerate(zip(sweeps, names, strict=True)):
        alt = f"Sweep of {sweep.model} ({sweep.mode} loop): latency against throughput"
        candidates.append((f"plots/sweep_{name}.png", alt, index, sweep_curve(sweep)))
    return tuple(Plot(path, alt, png, sweep) for path, alt, sweep, png in candidates if png is not None)
