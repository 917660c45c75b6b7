"""The machine-readable side of a report: results.json, summary.csv and the raw per-request CSVs.

results.json is strict JSON (no NaN: a figure that was not measured is null) with sorted keys and
no timestamp, so the same data gives the same bytes and two reports can be diffed. Its schema is
report.results.Results: the document is validated against it before it is written.
"""

from __future__ import annotations

import csv
import dataclasses
import io
import json
import math
from collections.abc import Sequence

import numpy as np

from tritonkit.measure.measurement import Measurement, RequestLog
from tritonkit.measure.sweep import SweepResult
from tritonkit.report import columns
from tritonkit.report import formatting as fmt
from tritonkit.report.results import SCHEMA_VERSION, Results
from tritonkit.slo import Verdict

RAW_COLUMNS = ("scheduled_us", "sent_us", "latency_us", "window", "error")


def latency_files(measurements: Sequence[Measurement]) -> list[str]:
    """Where each measurement's raw requests go, relative to the report directory."""
    return [f"latencies/{name}.csv" for name in fmt.slugs(fmt.labels(measurements))]


def plain(value: object) -> object:
    """`value` as JSON data. Dataclasses carry their fields and their properties too (the derived
    figures such as inferences_per_s or a check's margin), since the report shows those; raw
    request logs are left out, they go to the CSVs."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        fields = {f.name: getattr(value, f.name) for f in dataclasses.fields(value)}
        derived = {name: getattr(value, name) for name, kind in vars(type(value)).items() if isinstance(kind, property)}
        return {k: plain(v) for k, v in (fields | derived).items() if not isinstance(v, RequestLog)}
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [plain(v) for v in value]
    if isinstance(value, np.generic):
        return plain(value.item())
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if value is None or isinstance(value, str | int | float | bool):
        return value
    raise TypeError(f"cannot put a {type(value).__name__} in results.json")


def results_json(
    title: str,
    measurements: Sequence[Measurement],
    verdicts: Sequence[Verdict],
    sweeps: Sequence[SweepResult],
    plot_paths: Sequence[str],
) -> str:
    entries = []
    for m, label, path in zip(measurements, fmt.labels(measurements), latency_files(measurements), strict=True):
        entry = plain(m)
        assert isinstance(entry, dict)
        entries.append(entry | {"label": label, "latencies_csv": path})
    document = Results.model_validate({
        "schema_version": SCHEMA_VERSION,
        "title": title,
        "measurements": entries,
        "verdicts": plain(verdicts),
        "sweeps": plain(sweeps),
        "plots": list(plot_paths),
    })  # fmt: skip
    data = document.model_dump(mode="json")
    return json.dumps(data, indent=2, sort_keys=True, allow_nan=False, ensure_ascii=False) + "\n"


def _csv(header: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    return buffer.getvalue()


def _cell(value: object) -> object:
    """Empty for a figure that was not measured, so spreadsheets see a blank, not 'None' or 'nan'."""
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return ""
    return value


def summary_csv(measurements: Sequence[Measurement], sweeps: Sequence[SweepResult]) -> str:
    """One row per measurement, then one per sweep point (its sweep named in the first column), with
    the report tables' columns as raw numbers in the units their headers say."""
    rows = [("", m) for m in measurements] + [(f"{s.model} ({s.mode})", p) for s in sweeps for p in s.points]
    return _csv(
        ("sweep", *(c.key for c in columns.ALL)),
        [(sweep, *(_cell(c.value(m)) for c in columns.ALL)) for sweep, m in rows],
    )


def latencies_csv(measurement: Measurement) -> str:
    """Every request of the run, warmup (window -1) included: the data behind every percentile."""
    raw = measurement.raw
    rows = zip(
        raw.scheduled_us.tolist(), raw.sent_us.tolist(), raw.latency_us.tolist(), raw.window.tolist(), raw.error,
        strict=True,
    )  # fmt: skip
    return _csv(RAW_COLUMNS, [tuple(map(_cell, row)) for row in rows])
