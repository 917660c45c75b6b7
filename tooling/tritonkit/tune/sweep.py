"""A sweep: one target's load at increasing levels on a server, analysed for its knee and the most
throughput within its p99 limit (measure.sweep's pure analysis)."""

from __future__ import annotations

from collections.abc import Callable
from functools import partial

from tritonkit.interrupts import run_async
from tritonkit.measure.measurement import LEVEL_UNITS, Measurement
from tritonkit.measure.runner import describe_load, measure_target
from tritonkit.measure.summary import Host
from tritonkit.measure.sweep import SweepResult, analyze, meets_p99
from tritonkit.specs import TargetSpec

Progress = Callable[[str], None]


def run_sweep(
    target: TargetSpec, host: Host, levels: list[float] | None, max_steps: int, progress: Progress = print
) -> SweepResult:
    """The target's load at each level (rates or concurrencies); without levels, doubling from the
    target's own level until a step misses the p99 limit or `max_steps` is reached."""
    p99_limit_ms = target.slo.p99_ms
    points: list[Measurement] = []
    steps = levels or [target.load.level * 2**i for i in range(max_steps)]
    for level in steps[:max_steps]:
        step = _at_level(target, level)
        progress(f"sweep step {len(points) + 1}: {describe_load(step)}")
        point = run_async(partial(measure_target, step, host))
        points.append(point)
        if levels is None and not meets_p99(point, p99_limit_ms):
            break
    return analyze(target.model, points, p99_limit_ms)


def _at_level(target: TargetSpec, level: float) -> TargetSpec:
    return target.model_copy(update={"name": f"{target.name}@{level:g}", "load": target.load.at_level(level)})


def sweep_table(sweep: SweepResult) -> str:
    """The terminal's view: one row per level, the knee and the best marked, then the capacity."""
    unit = "req/s offered" if sweep.mode == "open" else LEVEL_UNITS.get(sweep.mode, "in flight")
    lines = [f"{'load (' + unit + ')':>22} {'inf/s':>8} {'p50 ms':>8} {'p99 ms':>8} {'errors':>7}"]
    for i, point in enumerate(sweep.points):
        latency = point.latency
        p50, p99 = (f"{latency.p50_us / 1000:.2f}", f"{latency.p99_us / 1000:.2f}") if latency else ("—", "—")
        mark = ("  knee" if i == sweep.knee else "") + ("  best within p99" if i == sweep.best else "")
        lines.append(
            f"{point.level:>22g} {point.inferences_per_s:>8.1f} {p50:>8} {p99:>8} {point.error_rate:>7.2%}{mark}"
        )
    best = sweep.max_inferences_per_s_within_p99
    limit = f"p99 ≤ {sweep.p99_limit_ms:g} ms" if sweep.p99_limit_ms else "no p99 limit"
    lines.append(
        f"max throughput meeting {limit}: " + (f"{best:.1f} inf/s" if best is not None else "none of the steps")
    )
    return "\n".join(lines)
