"""A tune's report: per target the winner, the Pareto front and every trial (tune.md, and the same
in a self-contained tune.html), a plot of the tradeoff (plots/pareto_<target>.png), the typed
results (tune.json) and the trial log — all written at once. The content is built once as the
check report's blocks (report.document), so both formats say the same and escape the data's text.
Rendering is pure; writing is files.replace_directory's."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from functools import partial
from pathlib import Path

from matplotlib.axes import Axes

from tritonkit.files import replace_directory
from tritonkit.measure.sweep import SweepResult
from tritonkit.report import html, markdown
from tritonkit.report.document import Block, Bullets, Figure, Heading, Paragraph
from tritonkit.report.formatting import slugs
from tritonkit.report.plots import axes_labels, curve, render_figure
from tritonkit.report.tables import Cell, Table
from tritonkit.tune.driver import TargetTune
from tritonkit.tune.log import TRIAL_LOG
from tritonkit.tune.pareto import front, fronts
from tritonkit.tune.results import results
from tritonkit.tune.run import TuneOutcome
from tritonkit.tune.trials import Trial

MARKERS = ("tune.md", "tune.json", TRIAL_LOG)  # a directory holding one is a tune report


def _cell(value: float | None, digits: str = ".1f") -> str:
    return "—" if value is None else format(value, digits)


_TRIAL_HEADERS = ("fidelity", "candidate", "verdict", "p50 ms", "p99 ms (95% CI)", "inf/s", "batch", "CPU cores",
                 "RSS MB", "predicted p99 / inf/s")  # fmt: skip


def _row(trial: Trial, tune: TargetTune, on_front: set[str]) -> tuple[Cell, ...]:
    predicted = tune.predictions.get(trial.key)
    guess = f"{_cell(predicted.p99_ms)} / {_cell(predicted.inferences_per_s, '.0f')}" if predicted else "—"
    if trial.figures is None:
        failed = Cell(f"failed: {trial.failure[:120]}", "fail")
        blanks = (Cell(""),) * (len(_TRIAL_HEADERS) - 4)
        return Cell(trial.fidelity), Cell(trial.candidate.describe()), failed, *blanks, Cell(guess)
    f = trial.figures
    ci = f" ({_cell(f.p99_interval_ms.low)} to {_cell(f.p99_interval_ms.high)})" if f.p99_interval_ms else ""
    missed = tune.objective.violations(f)
    verdict = Cell("meets SLO", "pass") if not missed else Cell("misses: " + ", ".join(missed), "fail")
    mark = " ★" if trial.key in on_front else ""
    memory = f.rss_bytes / 2**20 if f.rss_bytes else None
    texts = (
        _cell(f.p50_ms), _cell(f.p99_ms) + ci, _cell(f.inferences_per_s, ".0f"), _cell(f.average_batch_size, ".2f"),
        _cell(f.cpu_cores, ".2f"), _cell(memory, ".0f"), guess,
    )  # fmt: skip
    return Cell(trial.fidelity), Cell(trial.candidate.describe() + mark), verdict, *map(Cell, texts)


def _trials_table(tune: TargetTune) -> Table:
    on_front = {t.key for t in front(tune.result.trials)}
    rows = tuple(_row(t, tune, on_front) for t in tune.result.trials)
    return Table(_TRIAL_HEADERS, rows, (False, False, False, *(True,) * (len(_TRIAL_HEADERS) - 3)))


def _winner(tune: TargetTune, tuned_model: str | None) -> Paragraph:
    best, note = tune.result.best, tune.result.note
    if best is None or best.figures is None:
        return Paragraph(f"No configuration met the SLO ({note}).")
    f = best.figures
    figures = f"p50 {_cell(f.p50_ms)} ms, p99 {_cell(f.p99_ms)} ms, {_cell(f.inferences_per_s, '.0f')} inf/s"
    return Paragraph(f"Winner ({note}): {best.candidate.describe()}: {figures}; written as {tuned_model}.")


def _front_bullets(trials: Sequence[Trial]) -> list[Block]:
    items = []
    for variant, points in fronts(trials).items():
        described = "; ".join(
            f"{t.figures.inferences_per_s:.0f} inf/s at p99 {t.figures.p99_ms:.1f} ms" for t in points if t.figures
        )
        items.append(f"Pareto front ({variant}): {described or 'none'}")
    return [Bullets(tuple(items))] if items else []


def blocks(
    title: str, outcome: TuneOutcome, pareto_plots: Mapping[str, str], curve_plots: Mapping[str, str]
) -> tuple[Block, ...]:
    """The whole tune report, title first, for report.markdown and report.html to render;
    `pareto_plots` and `curve_plots` map a target's name to its plot's path."""
    content: list[Block] = [
        Heading(1, title),
        Paragraph(
            f"Model family {outcome.family.name}, variants {', '.join(outcome.family.variants)}; "
            f"{outcome.resumed} trial results reused from the trial log (a resumed tune, or targets that "
            "measure the same thing)."
        ),
    ]
    for tune in outcome.tunes:
        name = tune.target.name
        content += [
            Heading(2, f"{name}: {tune.objective.describe()}"),
            _winner(tune, outcome.tuned.get(name)),
            Paragraph(f"{len(tune.result.trials)} trials of {tune.candidates} candidates. ★: on the Pareto front."),
        ]
        if name in pareto_plots:
            content.append(Figure(pareto_plots[name], "throughput against p99 of every trial"))
        content.append(_trials_table(tune))
        content += _curves_section(outcome.curves.get(name, {}), curve_plots.get(name))
        content += _front_bullets(tune.result.trials)
    return tuple(content)


def _curves_section(sweeps: dict[str, SweepResult], plot: str | None) -> list[Block]:
    """Latency against load of the winner, the minimal config and the profiles, level by level."""
    if not sweeps:
        return []
    levels = sorted({p.level for sweep in sweeps.values() for p in sweep.points})
    section: list[Block] = [Heading(3, "Latency against load: the winner, the minimal config and the profiles")]
    if plot:
        section.append(Figure(plot, "p50 and p99 against throughput of each configuration"))
    rows = []
    for label, sweep in sweeps.items():
        by_level = {p.level: p for p in sweep.points}
        cells = [Cell(label)]
        for level in levels:
            point = by_level.get(level)
            p99 = point.latency.p99_us / 1000 if point and point.latency else None
            cells.append(Cell(f"{point.inferences_per_s:.0f}, {_cell(p99)}" if point else "—"))
        rows.append(tuple(cells))
    headers = ("configuration", *(f"at {level:g}: inf/s, p99 ms" for level in levels))
    return [*section, Table(headers, tuple(rows), (False, *(True,) * len(levels)))]


def _draw_curves(ax: Axes, sweeps: dict[str, SweepResult], title: str) -> None:
    for i, (label, sweep) in enumerate(sweeps.items()):
        curve(ax, sweep.points, f"C{i % 10}", label)
    axes_labels(ax, title)


def _points(trials: Iterable[Trial]) -> tuple[list[float], list[float]]:
    """(inferences/s, p99 ms) of the trials that measured both."""
    pairs = [(t.figures.inferences_per_s, t.figures.p99_ms) for t in trials if t.figures and t.figures.p99_ms]
    return [x for x, _ in pairs], [y for _, y in pairs if y is not None]


def _draw_pareto(ax: Axes, trials: Sequence[Trial], limit_ms: float | None, title: str) -> None:
    variants = sorted({t.candidate.variant for t in trials})
    for i, variant in enumerate(variants):
        x, y = _points(t for t in trials if t.candidate.variant == variant)
        ax.scatter(x, y, color=f"C{i}", alpha=0.6, label=variant)
    x, y = _points(front(trials))
    ax.plot(x, y, "k--", marker="*", markersize=10, label="Pareto front")
    if limit_ms is not None:
        ax.axhline(limit_ms, color="C3", linestyle=":", label=f"p99 SLO {limit_ms:g} ms")
    ax.set_title(title)
    ax.set_xlabel("achieved inferences/s")
    ax.set_ylabel("p99 latency (ms)")
    ax.set_yscale("log")
    ax.legend(loc="best")


def render(title: str, outcome: TuneOutcome, log_bytes: bytes) -> dict[str, bytes]:
    pareto_plots: dict[str, str] = {}
    curve_plots: dict[str, str] = {}
    images: dict[str, bytes] = {}  # plot path -> PNG, linked by tune.md and embedded in tune.html
    for tune, slug in zip(outcome.tunes, slugs([t.target.name for t in outcome.tunes]), strict=True):
        if any(t.figures for t in tune.result.trials):
            path = f"plots/pareto_{slug}.png"
            draw = partial(_draw_pareto, trials=tune.result.trials, limit_ms=tune.target.slo.p99_ms,
                           title=f"{tune.target.name}: every trial, throughput against p99")  # fmt: skip
            images[path] = render_figure(draw)
            pareto_plots[tune.target.name] = path
    for name, slug in zip(outcome.curves, slugs(list(outcome.curves)), strict=True):
        path = f"plots/load_{slug}.png"
        images[path] = render_figure(
            partial(_draw_curves, sweeps=outcome.curves[name], title=f"{name}: latency against load")
        )
        curve_plots[name] = path
    content = blocks(title, outcome, pareto_plots, curve_plots)
    return {
        TRIAL_LOG: log_bytes,
        **images,
        "tune.md": markdown.render(content).encode(),
        "tune.html": html.render(title, content, images).encode(),
        "tune.json": (results(outcome).model_dump_json(indent=2) + "\n").encode(),
    }


def write_tune_report(directory: Path, title: str, outcome: TuneOutcome) -> Path:
    log_bytes = outcome.log_path.read_bytes()
    return replace_directory(directory, render(title, outcome, log_bytes), markers=MARKERS, kind="tune report")


def summary(outcome: TuneOutcome) -> str:
    """The terminal's view: one line per target with its winner, then where it went."""
    header = f"{'target':<24} {'winner':<72} {'p50 ms':>7} {'p99 ms':>7} {'inf/s':>7}  written as"
    lines = [header, "-" * len(header)]
    for tune in outcome.tunes:
        best = tune.result.best
        if best is None or best.figures is None:
            lines.append(f"{tune.target.name:<24} none met the SLO: {tune.result.note}")
            continue
        f = best.figures
        lines.append(
            f"{tune.target.name:<24} {best.candidate.describe()[:72]:<72} {_cell(f.p50_ms):>7} {_cell(f.p99_ms):>7} "
            f"{_cell(f.inferences_per_s, '.0f'):>7}  {outcome.tuned.get(tune.target.name, '—')}"
        )
    return "\n".join(lines)
