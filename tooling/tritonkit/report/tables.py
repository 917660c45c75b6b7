"""The report's tables as plain data (headers, rows of text cells): built once here and rendered
by both the Markdown and the HTML writer, which only decide the markup."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from tritonkit.measure.measurement import Measurement
from tritonkit.measure.sweep import SweepResult
from tritonkit.report import formatting as fmt
from tritonkit.report.columns import THROUGHPUT_AND_LATENCY, Column
from tritonkit.slo import RANGE_DASH, Check, CheckState, Verdict, VerdictStatus

Status = CheckState  # a result cell's colour: a check's state, or a verdict's
_VERDICT_STATES: dict[VerdictStatus, Status] = {"PASS": "pass", "FAIL": "fail", "INCONCLUSIVE": "inconclusive"}


@dataclass(frozen=True)
class Cell:
    text: str
    status: Status | None = None  # coloured in HTML; the text itself always says PASS, FAIL or INCONCLUSIVE


@dataclass(frozen=True)
class Table:
    headers: tuple[str, ...]
    rows: tuple[tuple[Cell, ...], ...]
    numeric: tuple[bool, ...]  # per column: right-aligned


def _result(state: Status) -> Cell:
    return Cell(state.upper(), state)


def verdict_summary(verdicts: Sequence[Verdict]) -> Table:
    """One row per target: the outcome first, then why, so a failing target explains itself."""
    rows = tuple(
        (
            Cell(v.target),
            Cell(v.model),
            _result(_VERDICT_STATES[v.status]),
            Cell("; ".join(v.reasons) or fmt.MISSING),
            Cell("; ".join(v.notes) or fmt.MISSING),
        )
        for v in verdicts
    )
    return Table(("target", "model", "result", "checks not passed", "notes"), rows, (False,) * 5)


def _with_unit(value: float | None, unit: str) -> str:
    return f"{fmt.sig(value, 4)} {unit}".rstrip() if value is not None else "nothing measured"


def _interval(check: Check) -> str:
    interval = check.interval
    if interval is None:
        return fmt.MISSING
    return f"{fmt.sig(interval.low, 4)}{RANGE_DASH}{_with_unit(interval.high, check.unit)}"


def _check_row(target: str, check: Check) -> tuple[Cell, ...]:
    bound = "≤" if check.upper_bound else "≥"
    return (
        Cell(target),
        Cell(check.metric),
        Cell(_with_unit(check.actual, check.unit)),
        Cell(_interval(check)),
        Cell(f"{bound} {_with_unit(check.limit, check.unit)}"),
        Cell(fmt.margin(check.margin)),
        _result(check.state),
    )


def verdict_checks(verdicts: Sequence[Verdict]) -> Table:
    """Every check with its headroom and its 95% interval: how close a passing target is to
    failing matters too, and an interval across the limit makes a check inconclusive."""
    rows = tuple(_check_row(v.target, c) for v in verdicts for c in v.checks)
    headers = ("target", "check", "actual", "95% CI", "limit", "margin", "result")
    return Table(headers, rows, (False, False, True, True, True, True, False))


def measurements(
    items: Sequence[Measurement], columns: Sequence[Column], listed: Callable[[Measurement], bool] = lambda m: True
) -> Table:
    """One row per measurement (those `listed`), led by its unique label among all `items` so that
    the split tables can be joined by eye."""
    rows = tuple(
        (Cell(label), *(Cell(c.text(m)) for c in columns))
        for label, m in zip(fmt.labels(items), items, strict=True)
        if listed(m)
    )
    return Table(("measurement", *(c.header for c in columns)), rows, (False, *(c.numeric for c in columns)))


def windows(items: Sequence[Measurement]) -> Table:
    """Every window of every measurement in order: whether the backlog held steady or grew."""
    rows = tuple(
        (
            Cell(label),
            Cell(str(w.index)),
            Cell("yes" if m.measured_windows[0] <= w.index <= m.measured_windows[1] else "no"),
            Cell(fmt.sig(w.throughput_per_s)),
            Cell(fmt.sig(w.p99_us / 1000) if w.p99_us is not None else fmt.MISSING),
            Cell(str(w.errors)),
            Cell(str(w.outstanding) if w.outstanding is not None else fmt.MISSING),
            Cell(fmt.sig(w.server_queue_us / 1000) if w.server_queue_us is not None else fmt.MISSING),
        )
        for label, m in zip(fmt.labels(items), items, strict=True)
        for w in m.windows
    )
    headers = ("measurement", "window", "measured", "requests/s", "p99 ms", "errors", "outstanding at end", "queue ms")
    return Table(headers, rows, (False, True, False, True, True, True, True, True))


def sweep_summary(sweeps: Sequence[SweepResult]) -> Table:
    rows = []
    for s in sweeps:
        knee = s.points[s.knee] if s.knee is not None else None
        best = s.points[s.best] if s.best is not None else None
        rows.append(
            (
                Cell(s.model),
                Cell(s.mode),
                Cell(str(len(s.points))),
                Cell(f"{fmt.sig(s.p99_limit_ms)} ms" if s.p99_limit_ms is not None else "none"),
                Cell(f"{fmt.level(knee)}: {fmt.sig(knee.inferences_per_s)} inf/s" if knee else fmt.MISSING),
                Cell(f"{fmt.sig(s.max_inferences_per_s_within_p99)} inf/s at {fmt.level(best)}" if best else "none"),
            )
        )
    headers = ("model", "mode", "points", "p99 limit", "knee", "max throughput within p99")
    return Table(headers, tuple(rows), (False, False, True, True, False, False))


def sweep_points(sweep: SweepResult) -> Table:
    """The sweep's steps in load order, with the knee and the best point flagged."""
    base = measurements(sweep.points, THROUGHPUT_AND_LATENCY)
    flags = []
    for i in range(len(sweep.points)):
        marks = [name for name, index in (("knee", sweep.knee), ("best within p99", sweep.best)) if index == i]
        flags.append(Cell(", ".join(marks)))
    rows = tuple((*row, flag) for row, flag in zip(base.rows, flags, strict=True))
    return Table((*base.headers, "marks"), rows, (*base.numeric, False))
