"""Runs recorded by another load generator (Locust): exact per-request records in, the same
Measurement, windows and stability rule as tritonkit's own client out, so verdicts never depend
on which generator ran the load. Pure, apart from reading and writing the records file."""

from __future__ import annotations

import csv
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from tritonkit.errors import InputError
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


def read_records(path: Path) -> list[Record]:
    try:
        with path.open(newline="") as file:
            rows = list(csv.DictReader(file))
    except OSError as exc:
        raise InputError(f"{path}: cannot read the run's records ({exc.strerror})") from None
    try:
        records = [Record(float(r["start_s"]), float(r["latency_ms"]), r["error"] or "") for r in rows]
    except (KeyError, TypeError, ValueError):
        raise InputError(f"{path}: expected CSV columns {', '.join(COLUMNS)} (as the locustfile writes them)") from None
    if not records:
        raise InputError(f"{path}: no requests recorded")
    return records


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
