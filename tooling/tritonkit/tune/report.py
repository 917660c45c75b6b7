"""A tune's report: per target the winner, the Pareto front and every trial (tune.md), a plot of
the tradeoff (plots/pareto_<target>.png), the typed results (tune.json) and the trial log — all
written at once. Rendering is pure; writing is report.files'."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from functools import partial
from pathlib import Path

from matplotlib.axes import Axes
from pydantic import BaseModel, ConfigDict

from tritonkit.files import replace_directory
from tritonkit.measure.sweep import SweepResult
from tritonkit.report.formatting import slugs
from tritonkit.report.plots import axes_labels, curve, render_figure
from tritonkit.tune.driver import TargetTune
from tritonkit.tune.log import TRIAL_LOG
from tritonkit.tune.pareto import front, fronts
from tritonkit.tune.run import TuneOutcome
from tritonkit.tune.trials import Trial

MARKERS = ("tune.md", "tune.json", TRIAL_LOG)  # a directory holding one is a tune report


class CurvePoint(BaseModel):
    """One level of a latency-against-load sweep."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    level: float  # requests/s offered (open loop) or in flight (closed loop)
    inferences_per_s: float
    p50_ms: float | None
    p99_ms: float | None
    error_rate: float


class TargetResults(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")
    target: str
    objective: str
    candidates: int
    note: str
    winner: Trial | None
    tuned_model: str | None
    front: list[str]  # candidate keys on the overall Pareto front
    trials: list[Trial]
    curves: dict[str, list[CurvePoint]] = {}  # configuration -> latency against load (--curves)


class TuneResults(BaseModel):
    """tune.json: what `tritonkit tune` found, read back by reports and later commands."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    schema_version: int = 1
    family: str
    variants: tuple[str, ...]
    targets: list[TargetResults]


def results(outcome: TuneOutcome) -> TuneResults:
    return TuneResults(
        family=outcome.family.name,
        variants=outcome.family.variants,
        targets=[
            TargetResults(
                target=t.target.name,
                objective=t.objective.describe(),
                candidates=t.candidates,
                note=t.result.note,
                winner=t.result.best,
                tuned_model=outcome.tuned.get(t.target.name),
                front=[f.key for f in front(t.result.trials)],
                trials=list(t.result.trials),
                curves={label: _points_of(sweep) for label, sweep in outcome.curves.get(t.target.name, {}).items()},
            )
            for t in outcome.tunes
        ],
    )


def _points_of(sweep: SweepResult) -> list[CurvePoint]:
    return [
        CurvePoint(
            level=p.level,
            inferences_per_s=p.inferences_per_s,
            error_rate=p.error_rate,
            p50_ms=p.latency.p50_us / 1000 if p.latency else None,
            p99_ms=p.latency.p99_us / 1000 if p.latency else None,
        )
        for p in sweep.points
    ]


def _cell(value: float | None, digits: str = ".1f") -> str:
    return "—" if value is None else format(value, digits)


def _row(trial: Trial, tune: TargetTune, on_front: set[str]) -> str:
    predicted = tune.predictions.get(trial.key)
    guess = f"{_cell(predicted.p99_ms)} / {_cell(predicted.inferences_per_s, '.0f')}" if predicted else "—"
    if trial.figures is None:
        return (
            f"| {trial.fidelity} | {trial.candidate.describe()} | failed: {trial.failure[:120]} | | | | | | | {guess} |"
        )
    f = trial.figures
    ci = f" ({_cell(f.p99_interval_ms.low)} to {_cell(f.p99_interval_ms.high)})" if f.p99_interval_ms else ""
    missed = tune.objective.violations(f)
    verdict = "meets SLO" if not missed else "misses: " + ", ".join(missed)
    mark = " ★" if trial.key in on_front else ""
    memory = f.rss_bytes / 2**20 if f.rss_bytes else None
    cells = (
        trial.fidelity, trial.candidate.describe() + mark, verdict, _cell(f.p50_ms), _cell(f.p99_ms) + ci,
        _cell(f.inferences_per_s, ".0f"), _cell(f.average_batch_size, ".2f"), _cell(f.cpu_cores, ".2f"),
        _cell(memory, ".0f"), guess,
    )  # fmt: skip
    return "| " + " | ".join(cells) + " |"


def markdown(title: str, outcome: TuneOutcome, plots: dict[str, str]) -> str:
    lines = [f"# {title}", "", f"Model family `{outcome.family.name}`, variants {', '.join(outcome.family.variants)}; "
             f"{outcome.resumed} trial results reused from the trial log (a resumed tune, or targets that "
             "measure the same thing).", ""]  # fmt: skip
    for tune in outcome.tunes:
        best, name = tune.result.best, outcome.tuned.get(tune.target.name)
        on_front = {t.key for t in front(tune.result.trials)}
        lines += [f"## {tune.target.name}: {tune.objective.describe()}", ""]
        if best is not None and best.figures is not None:
            f = best.figures
            figures = f"p50 {_cell(f.p50_ms)} ms, p99 {_cell(f.p99_ms)} ms, {_cell(f.inferences_per_s, '.0f')} inf/s"
            lines.append(
                f"**Winner** ({tune.result.note}): {best.candidate.describe()}: {figures}; written as `{name}`."
            )
        else:
            lines.append(f"**No configuration met the SLO** ({tune.result.note}).")
        lines += ["", f"{len(tune.result.trials)} trials of {tune.candidates} candidates. ★: on the Pareto front.", ""]
        if tune.target.name in plots:
            lines += [f"![throughput against p99 of every trial]({plots[tune.target.name]})", ""]
        lines += [
            "| fidelity | candidate | verdict | p50 ms | p99 ms (95% CI) | inf/s | batch | CPU cores | RSS MB "
            "| predicted p99 / inf/s |",
            "|---|---|---|---:|---:|---:|---:|---:|---:|---:|",
            *(_row(t, tune, on_front) for t in tune.result.trials),
            "",
        ]
        lines += _curves_section(outcome.curves.get(tune.target.name, {}), plots.get(f"{tune.target.name} curves"))
        for variant, points in fronts(tune.result.trials).items():
            described = "; ".join(
                f"{t.figures.inferences_per_s:.0f} inf/s at p99 {t.figures.p99_ms:.1f} ms" for t in points if t.figures
            )
            lines.append(f"- Pareto front ({variant}): {described or 'none'}")
        lines.append("")
    return "\n".join(lines)


def _curves_section(sweeps: dict[str, SweepResult], plot: str | None) -> list[str]:
    """Latency against load of the winner, the minimal config and the profiles, level by level."""
    if not sweeps:
        return []
    levels = sorted({p.level for sweep in sweeps.values() for p in sweep.points})
    lines = ["### Latency against load: the winner, the minimal config and the profiles", ""]
    if plot:
        lines += [f"![p50 and p99 against throughput of each configuration]({plot})", ""]
    lines += ["| configuration | " + " | ".join(f"at {level:g}: inf/s, p99 ms" for level in levels) + " |",
              "|---|" + "---:|" * len(levels)]  # fmt: skip
    for label, sweep in sweeps.items():
        by_level = {p.level: p for p in sweep.points}
        cells = []
        for level in levels:
            point = by_level.get(level)
            p99 = point.latency.p99_us / 1000 if point and point.latency else None
            cells.append(f"{point.inferences_per_s:.0f}, {_cell(p99)}" if point else "—")
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    return [*lines, ""]


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
    files: dict[str, bytes] = {TRIAL_LOG: log_bytes}
    plots = {}
    for tune, slug in zip(outcome.tunes, slugs([t.target.name for t in outcome.tunes]), strict=True):
        if any(t.figures for t in tune.result.trials):
            path = f"plots/pareto_{slug}.png"
            draw = partial(_draw_pareto, trials=tune.result.trials, limit_ms=tune.target.slo.p99_ms,
                           title=f"{tune.target.name}: every trial, throughput against p99")  # fmt: skip
            files[path] = render_figure(draw)
            plots[tune.target.name] = path
    for name, slug in zip(outcome.curves, slugs(list(outcome.curves)), strict=True):
        path = f"plots/load_{slug}.png"
        files[path] = render_figure(
            partial(_draw_curves, sweeps=outcome.curves[name], title=f"{name}: latency against load")
        )
        plots[f"{name} curves"] = path
    files["tune.md"] = markdown(title, outcome, plots).encode()
    files["tune.json"] = (results(outcome).model_dump_json(indent=2) + "\n").encode()
    return files


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
