"""A report as files: rendered in memory first (pure), then written all at once (the only effect),
so a crash can never leave a half-written report or damage the previous one."""

from __future__ import annotations

import shutil
import uuid
from collections.abc import Mapping, Sequence
from pathlib import Path

from tritonkit.errors import UserError
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


def _replaceable(directory: Path) -> bool:
    return directory.is_dir() and (not any(directory.iterdir()) or any((directory / m).exists() for m in MARKERS))


def _sibling(directory: Path, kind: str) -> Path:
    """A fresh hidden directory next to `directory` (same file system, so renames are atomic). Not
    tempfile.mkdtemp: its 0700 mode would end up on the report, unreadable to anyone else."""
    path = directory.parent / f".{directory.name}.{uuid.uuid4().hex}.{kind}"
    path.mkdir()
    return path


def write_files(directory: Path, files: Mapping[str, bytes]) -> Path:
    """Write `files` into a sibling temporary directory, then swap it in for `directory`."""
    if directory.exists() and not _replaceable(directory):
        raise UserError(f"{directory} exists and is not a report directory; refusing to replace it")
    directory.parent.mkdir(parents=True, exist_ok=True)
    staging = _sibling(directory, "new")
    try:
        for relative, content in files.items():
            path = staging / relative
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(content)
        _swap(staging, directory)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return directory


def _swap(staging: Path, directory: Path) -> None:
    """Move the old report aside, the new one in, and the old one back if that fails."""
    if not directory.exists():
        staging.rename(directory)
        return
    retired = _sibling(directory, "old")
    try:
        directory.rename(retired / directory.name)
        try:
            staging.rename(directory)
        except BaseException:
            (retired / directory.name).rename(directory)
            raise
    finally:
        shutil.rmtree(retired, ignore_errors=True)


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
