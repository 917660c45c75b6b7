"""Runs recorded by another load generator (Locust): exact per-request records in, the same
Measurement, windows and stability rule as tritonkit's own client out, so verdicts never depend
on which generator ran the load. Pure, apart from reading and writing the records file."""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from tritonkit.errors import InputError
from tritonkit.inputs import excerpt, listed, read_text
from tritonkit.measure.loadgen import LoadRun, settle
from tritonkit.measure.measurement import Measurement
from tritonkit.measure.summary import Edge, Host, summarize_run
from tritonkit.specs import ClosedLoopLoad, TargetSpec

COLUMNS = ("start_s", "latency_ms", "error")


@dataclass(frozen=True)
class Record:
    start_s: float  # wall-clock send time (seconds since the epoch)
    latency_ms: float  # exact, not Locust's rounded statistics
    error: str  # '' for a success, else the error's kind


def write_records(path: Path, records: Sequence[Record]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="") as file:
        writer = csv.writer(file)
        writer.writerow(COLUMNS)
        writer.writerows((f"{r.start_s:.6f}", f"{r.latency_ms:.4f}", r.error) for r in records)


MAX_RECORDS_BYTES = 1 << 30  # ≈ 30 M requests: hours of a distributed run
MAX_START_S = 1e10  # seconds since the epoch: the year 2286
MAX_LATENCY_MS = 86_400_000.0  # a day
MAX_ERROR_CHARS = 200  # an error kind ('timeout', 'HTTP 503'), not a log


def read_records(path: Path) -> list[Record]:
    """The records the locustfile wrote; every malformed row is named (the first few, and how many)."""
    text = read_text(path, "the CSV a Locust run's --latencies-csv wrote", MAX_RECORDS_BYTES)
    rows = csv.reader(io.StringIO(text, newline=""))
    try:
        header = next(rows, [])
        if tuple(header) != COLUMNS:
            raise InputError(
                f"{path}: header {excerpt(','.join(header))}; expected CSV columns {','.join(COLUMNS)} "
                "(as the locustfile writes them)"
            )
        records, problems = [], []
        for row in rows:
            record, problem = _record(row)
            if problem:
                problems.append(f"  line {rows.line_num}: {problem}")
            elif record is not None:
                records.append(record)
    except csv.Error as exc:
        raise InputError(f"{path}: not a readable CSV file (line {rows.line_num}: {exc})") from None
    if problems:
        raise InputError(f"{path}: {len(problems)} malformed row(s):\n" + listed(problems))
    if not records:
        raise InputError(f"{path}: no requests recorded")
    return records


def _record(row: list[str]) -> tuple[Record | None, str]:
    """A row as a Record, or what is wrong with it; an empty row is neither."""
    if not row:
        return None, ""
    if len(row) != len(COLUMNS):
        return None, f"{len(row)} fields {excerpt(row)}; expected {len(COLUMNS)} ({', '.join(COLUMNS)})"
    start, latency, error = row
    start_s, latency_ms = _number(start), _number(latency)
    if start_s is None or not 0 <= start_s <= MAX_START_S:
        return None, f"start_s {excerpt(start)}: expected seconds since the epoch (0 to {MAX_START_S:g})"
    if latency_ms is None or not 0 <= latency_ms <= MAX_LATENCY_MS:
        return None, f"latency_ms {excerpt(latency)}: expected milliseconds (0 to {MAX_LATENCY_MS:g})"
    if len(error) > MAX_ERROR_CHARS:
        return None, f"error {excerpt(error)}: expected an error kind of at most {MAX_ERROR_CHARS} characters"
    return Record(start_s, latency_ms, error), ""


def _number(text: str) -> float | None:
    try:
        value = float(text)
    except ValueError:
        return None
    return value if math.isfinite(value) else None


def measurement_from_records(target: TargetSpec, records: Sequence[Record], host: Host) -> Measurement:
    """The run judged as tritonkit's own client's would be: the target's warmup, windows and
    stability rule, counted from the first send. Requests really in flight are not known from the
    records alone; the level reported is Little's law's (throughput x mean latency)."""
    ordered = sorted(records, key=lambda r: r.start_s)
    first = ordered[0].start_s
    scheduled = np.asarray([round((r.start_s - first) * 1e9) for r in ordered], dtype=np.int64)
    done = scheduled + np.asarray([round(r.latency_ms * 1e6) for r in ordered], dtype=np.int64)
    errors = tuple(r.error for r in ordered)
    timing = {k: getattr(target.load, k) for k in ClosedLoopLoad.model_fields if k not in ("mode", "concurrency")}
    load = ClosedLoopLoad(**timing, mode="closed", concurrency=1)
    window_ns, warmup_ns = round(load.window_s * 1e9), round(load.warmup_s * 1e9)
    available = min(load.max_windows, int((scheduled[-1] - warmup_ns) // window_ns))
    if available < 1:
        raise InputError(
            f"target '{target.name}': the run lasted {scheduled[-1] / 1e9:.1f} s, shorter than its warmup "
            f"({load.warmup_s:g} s) plus one window ({load.window_s:g} s)"
        )
    boundaries = tuple(warmup_ns + k * window_ns for k in range(available + 1))
    windows, measured, stable = settle(scheduled, done, errors, boundaries, load)
    used = boundaries[: measured[1] + 2]
    run: LoadRun[Edge] = LoadRun(
        scheduled_ns=scheduled,
        sent_ns=scheduled,
        done_ns=done,
        error=errors,
        error_examples={},
        started_ns=0,
        boundaries=used,
        snapshots=tuple(Edge(None, None) for _ in range(len(used) + 1)),  # no server statistics
        windows=windows[: measured[1] + 1],
        measured=measured,
        stable=stable,
        cpu_s=None,
        open_loop=False,
    )
    batch = getattr(target.payload, "batch_size", 1)
    measurement = summarize_run(target.model_copy(update={"load": load}), run, batch, host, None)
    in_flight = measurement.requests_per_s * (measurement.latency.mean_us / 1e6) if measurement.latency else 0.0
    return replace(measurement, level=round(in_flight, 1))
