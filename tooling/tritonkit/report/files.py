"""A report as files: rendered in memory first (pure), then written all at once (the only effect),
so a crash can never leave a half-written report or damage the previous one."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

from tritonkit.files import replace_directory
from tritonkit.measure.measurement import Measurement
from tritonkit.measure.sweep import SweepResult
from tritonkit.report import data, document, html, markdown, plots
from tritonkit.slo import Verdict

# A directory holding one of these is a report we may replace; anything else is the user's.
MARKERS = ("report.md", "results.json")


def render_report(
    title: str,
    measurements: Sequence[Measurement],
    verdicts: Sequence[Verdict] = (),
    sweeps: Sequence[SweepResult] = (),
) -> dict[str, bytes]:
    """Every file of the report, by path relative to the report directory."""
    figures = plots.render(measurements, verdicts, sweeps)
    images = {p.path: p.png for p in figures}
    blocks = document.build(title, measurements, verdicts, sweeps, figures)
    files = {
        "report.md": markdown.render(blocks).encode(),
        "report.html": html.render(title, blocks, images).encode(),
        "results.json": data.results_json(title, measurements, verdicts, sweeps, list(images)).encode(),
        "summary.csv": data.summary_csv(measurements, sweeps).encode(),
        **images,
    }
    for path, m in zip(data.latency_files(measurements), measurements, strict=True):
        files[path] = data.latencies_csv(m).encode()
    return files


def write_files(directory: Path, files: Mapping[str, bytes]) -> Path:
    """Write `files` into a sibling temporary directory, then swap it in for `directory`."""
    return replace_directory(directory, files, markers=MARKERS, kind="report")


def write_report(
    directory: Path,
    *,
    title: str,
    measurements: Sequence[Measurement],
    verdicts: Sequence[Verdict] = (),
    sweeps: Sequence[SweepResult] = (),
) -> Path:
    """Render and write the report to `directory`, replacing a previous report there; returns it."""
    return write_files(directory, render_report(title, measurements, verdicts, sweeps))
