"""Arrival traces: a recorded (or synthesised) day of requests, replayed open loop.

A trace is a CSV file with a header. `timestamp` (seconds, any origin, in order) is required; an
optional `text` column gives each request's text and an optional `length` its length in tokens,
so a replay sends what was recorded, not only when. Every problem of a file is reported at once.

`synthesize` draws one from a traffic profile (`k8s/traffic.yaml`): the profile's day compressed
into `duration_s`, off-peak rate, a ramp, the peak plateau for its share of the day, a ramp down,
as a Poisson process whose rate follows that curve, so `plan` and a replay read the same day.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from tritonkit.errors import InputError
from tritonkit.files import replace_file
from tritonkit.inputs import MAX_LISTED_PROBLEMS, MAX_TEXT_BYTES, excerpt, read_text
from tritonkit.specs import TrafficSpec

COLUMNS = ("timestamp", "text", "length")
MAX_ROWS = 1_000_000  # a day at ~12 requests/s; a replay this long is hours of load
MAX_LENGTH = 65_536  # tokens: the largest tensor length a targets file takes
MAX_SPAN_S = 7 * 86_400  # a week of timestamps: beyond is a unit mistake (ms for s)
_RAMP_SHARE = 1 / 24  # of the day, each ramp between off-peak and peak: an hour


@dataclass(frozen=True)
class Trace:
    """Arrival offsets from the first request, with what each request carries (None: not given)."""

    offsets_s: np.ndarray  # float64, starts at 0, non-decreasing
    texts: tuple[str, ...] | None
    lengths: tuple[int, ...] | None

    def __len__(self) -> int:
        return int(self.offsets_s.size)

    @property
    def span_s(self) -> float:
        return float(self.offsets_s[-1]) if len(self) else 0.0

    @property
    def mean_rate_per_s(self) -> float:
        return (len(self) - 1) / self.span_s if self.span_s > 0 else float("inf")


def read_trace(path: Path) -> Trace:
    """The trace in `path`, or an InputError listing every problem found in it."""
    text = read_text(path, "a CSV trace: a header with timestamp[,text][,length], then a row a request", MAX_TEXT_BYTES)
    rows = csv.reader(io.StringIO(text, newline=""))
    header = [name.strip() for name in next(rows, [])]
    problems = _header_problems(header)
    if problems:
        raise InputError(f"{path}: {'; '.join(problems)}")
    column = {name: header.index(name) for name in COLUMNS if name in header}
    offsets: list[float] = []
    texts: list[str] = []
    lengths: list[int] = []
    for line, row in enumerate(rows, start=2):
        if not row or not any(cell.strip() for cell in row):
            continue
        if len(offsets) == MAX_ROWS:
            problems.append(f"more than {MAX_ROWS} requests")
            break
        if len(row) != len(header):
            problems.append(f"line {line}: {len(row)} fields; the header has {len(header)}")
            continue
        stamp = _number(row[column["timestamp"]], float, line, "timestamp", problems)
        if stamp is not None:
            if offsets and stamp < offsets[-1]:
                before = f"is before the previous one ({offsets[-1]:g}); sort the trace"
                problems.append(f"line {line}: timestamp {stamp:g} {before}")
            offsets.append(stamp)
        if "text" in column:
            texts.append(row[column["text"]])
            if not row[column["text"]].strip():
                problems.append(f"line {line}: empty text")
        if "length" in column:
            length = _number(row[column["length"]], int, line, "length", problems)
            if length is not None and not 1 <= length <= MAX_LENGTH:
                problems.append(f"line {line}: length {length}; expected 1 to {MAX_LENGTH} tokens")
            lengths.append(int(length or 1))
    if not offsets and not problems:
        problems.append("no requests (expected a row a request after the header)")
    elif offsets and offsets[-1] - offsets[0] > MAX_SPAN_S:
        span = offsets[-1] - offsets[0]
        problems.append(f"timestamps span {span:g} s; at most {MAX_SPAN_S} (a week): seconds expected")
    if problems:
        shown = problems[:MAX_LISTED_PROBLEMS]
        more = f"; and {len(problems) - len(shown)} more" if len(problems) > len(shown) else ""
        raise InputError(f"{path}: {'; '.join(shown)}{more}")
    start = offsets[0]
    return Trace(
        np.asarray(offsets, dtype=np.float64) - start,
        tuple(texts) if "text" in column else None,
        tuple(lengths) if "length" in column else None,
    )


def busiest_rate_per_s(trace: Trace, speed: float, window_s: float = 10.0) -> float:
    """Requests/s over the trace's busiest `window_s` of replay time (the whole trace if shorter)."""
    replay = trace.offsets_s / speed
    if replay[-1] <= window_s:
        return len(trace) / max(float(replay[-1]), 1e-9) if len(trace) > 1 else 1.0
    ends = np.searchsorted(replay, replay + window_s, side="left")
    return float((ends - np.arange(replay.size)).max()) / window_s


def _header_problems(header: list[str]) -> list[str]:
    if not header or header == [""]:
        return ["empty (expected a header: timestamp[,text][,length])"]
    problems = [f"unknown column {excerpt(name)}" for name in header if name not in COLUMNS]
    problems += [f"column {name!r} given twice" for name in COLUMNS if header.count(name) > 1]
    if "timestamp" not in header:
        problems.append("no 'timestamp' column (seconds, one per request)")
    if problems:
        problems.append(f"the columns are {', '.join(COLUMNS)}")
    return problems


def _number(cell: str, kind: type[float] | type[int], line: int, name: str, problems: list[str]) -> float | int | None:
    try:
        value = kind(cell.strip())
    except ValueError:
        expected = "a number of seconds" if kind is float else "a whole number of tokens"
        problems.append(f"line {line}: {name} {excerpt(cell)} is not {expected}")
        return None
    if kind is float and not np.isfinite(value):
        problems.append(f"line {line}: {name} {excerpt(cell)} is not finite")
        return None
    return value


def rate_curve(traffic: TrafficSpec, day_share: np.ndarray) -> np.ndarray:
    """Requests/s at each point of the day (0..1): off-peak, an hour's ramp, the peak plateau
    centred in the afternoon (14:00) for its share of the day, an hour's ramp down."""
    half = traffic.peak_hours_per_day / 24 / 2
    distance = np.abs(day_share - 14 / 24) - half  # <= 0 on the plateau
    ramp = np.clip(1 - distance / _RAMP_SHARE, 0, 1) if half > 0 else np.zeros_like(day_share)
    peak, off = traffic.peak_inferences_per_s, traffic.off_peak_inferences_per_s
    return off + (peak - off) * ramp


def synthesize(traffic: TrafficSpec, duration_s: float, seed: int, texts: Sequence[str] | None = None) -> Trace:
    """The profile's day compressed into `duration_s`, at the profile's rates: a Poisson process
    whose rate follows `rate_curve` (drawn by thinning a peak-rate process), with a seeded pick
    from `texts` per request when given."""
    rng = np.random.default_rng(seed)
    peak = traffic.peak_inferences_per_s
    expected = peak * duration_s
    if expected > MAX_ROWS:
        raise InputError(
            f"--duration-s {duration_s:g} at the profile's peak of {peak:g}/s is ~{expected:.0f} requests; "
            f"at most {MAX_ROWS}: shorten it"
        )
    gaps = rng.exponential(1 / peak, size=int(expected + 10 * np.sqrt(expected) + 10))
    candidates = np.cumsum(gaps)
    candidates = candidates[candidates < duration_s]
    keep = rng.random(candidates.size) < rate_curve(traffic, candidates / duration_s) / peak
    offsets = candidates[keep]
    if offsets.size == 0:
        raise InputError(f"--duration-s {duration_s:g}: no request arrives in so short a day at these rates")
    picked = tuple(texts[i] for i in rng.integers(0, len(texts), offsets.size)) if texts else None
    return Trace(offsets - offsets[0], picked, None)


def write_trace(path: Path, trace: Trace) -> None:
    """`trace` as CSV at `path` (given by --out), whole or not at all."""
    text = io.StringIO(newline="")
    writer = csv.writer(text)
    writer.writerow(["timestamp", *(["text"] if trace.texts is not None else [])])
    for i, offset in enumerate(trace.offsets_s):
        writer.writerow([f"{offset:.6f}", *([trace.texts[i]] if trace.texts is not None else [])])
    replace_file(path, text.getvalue(), flag="--out", kind="trace")
