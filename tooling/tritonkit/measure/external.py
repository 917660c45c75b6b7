"""Runs recorded by another load generator (Locust): exact per-request records in, the same
Measurement, windows and stability rule as tritonkit's own client out, so verdicts never depend
on which generator ran the load. A streaming run's records carry each stream's token arrivals too
(a fourth column), so its TTFT, ITL and output tokens are judged as tritonkit's own client's.
Pure, apart from reading and writing the records file."""

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
TOKENS_COLUMN = "token_ms"  # a streaming run's: each token's arrival, ms after start_s, space-separated
STREAM_COLUMNS = (*COLUMNS, TOKENS_COLUMN)


@dataclass(frozen=True)
class Record:
    start_s: float  # wall-clock send time (seconds since the epoch)
    latency_ms: float  # exact, not Locust's rounded statistics
    error: str  # '' for a success, else the error's kind
    tokens_ms: tuple[float, ...] = ()  # a stream's token arrivals, ms after start_s


def write_records(path: Path, records: Sequence[Record]) -> None:
    """The records as CSV; the token column only when a record streamed."""
    streamed = any(r.tokens_ms for r in records)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="") as file:
        writer = csv.writer(file)
        writer.writerow(STREAM_COLUMNS if streamed else COLUMNS)
        for r in records:
            row = [f"{r.start_s:.6f}", f"{r.latency_ms:.4f}", r.error]
            writer.writerow([*row, " ".join(f"{t:.4f}" for t in r.tokens_ms)] if streamed else row)


MAX_RECORDS_BYTES = 1 << 30  # ≈ 30 M requests: hours of a distributed run
MAX_START_S = 1e10  # seconds since the epoch: the year 2286
MAX_LATENCY_MS = 86_400_000.0  # a day
MAX_ERROR_CHARS = 200  # an error kind ('timeout', 'HTTP 503'), not a log


def read_records(path: Path) -> list[Record]:
    """The records the locustfile wrote; every malformed row is named (the first few, and how many)."""
    text = read_text(path, "the CSV a Locust run's --latencies-csv wrote", MAX_RECORDS_BYTES)
    rows = csv.reader(io.StringIO(text, newline=""))
    try:
        header = tuple(next(rows, []))
        if header not in (COLUMNS, STREAM_COLUMNS):
            raise InputError(
                f"{path}: header {excerpt(','.join(header))}; expected CSV columns {','.join(COLUMNS)} "
                f"(as the locustfile writes them; a streaming run's add {TOKENS_COLUMN})"
            )
        records, problems = [], []
        for row in rows:
            record, problem = _record(row, len(header))
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


def _record(row: list[str], width: int) -> tuple[Record | None, str]:
    """A row of a file with `width` columns as a Record, or what is wrong with it; an empty row is neither."""
    if not row:
        return None, ""
    if len(row) != width:
        return None, f"{len(row)} fields {excerpt(row)}; expected {width} ({', '.join(STREAM_COLUMNS[:width])})"
    start, latency, error, *streamed = row
    start_s, latency_ms = _number(start), _number(latency)
    if start_s is None or not 0 <= start_s <= MAX_START_S:
        return None, f"start_s {excerpt(start)}: expected seconds since the epoch (0 to {MAX_START_S:g})"
    if latency_ms is None or not 0 <= latency_ms <= MAX_LATENCY_MS:
        return None, f"latency_ms {excerpt(latency)}: expected milliseconds (0 to {MAX_LATENCY_MS:g})"
    if len(error) > MAX_ERROR_CHARS:
        return None, f"error {excerpt(error)}: expected an error kind of at most {MAX_ERROR_CHARS} characters"
    tokens = [_number(t) for t in streamed[0].split()] if streamed else []
    if any(t is None or not 0 <= t <= latency_ms for t in tokens):
        return None, f"{TOKENS_COLUMN} {excerpt(streamed[0])}: expected milliseconds after start_s, 0 to latency_ms"
    return Record(start_s, latency_ms, error, tuple(t for t in tokens if t is not None)), ""


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
    tokens = tuple(
        tuple(int(s + round(t * 1e6)) for t in r.tokens_ms) if not r.error else None
        for s, r in zip(scheduled.tolist(), ordered, strict=True)
    )
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
        token_ns=tokens,
    )
    batch = getattr(target.payload, "batch_size", 1)
    measurement = summarize_run(target.model_copy(update={"load": load}), run, batch, host, None)
    in_flight = measurement.requests_per_s * (measurement.latency.mean_us / 1e6) if measurement.latency else 0.0
    return replace(measurement, level=round(in_flight, 1))
