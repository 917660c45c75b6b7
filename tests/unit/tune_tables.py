"""Trial figures and trials built by hand, for the tuner's pure parts."""

from __future__ import annotations

from tritonkit.measure.stats import Interval
from tritonkit.tune.candidate import Candidate
from tritonkit.tune.trials import Fidelity, Trial, TrialFigures


def figures(
    p99_ms: float, inferences_per_s: float, *, spread: float = 0.0, error_rate: float = 0.0, cpu: float | None = None
) -> TrialFigures:
    """A measurement with p50 at half the p99 and intervals `spread` (a fraction) wide each way."""
    return TrialFigures(
        p50_ms=p99_ms / 2, p90_ms=None, p95_ms=None, p99_ms=p99_ms,
        p50_interval_ms=Interval(p99_ms / 2 * (1 - spread), p99_ms / 2 * (1 + spread)),
        p99_interval_ms=Interval(p99_ms * (1 - spread), p99_ms * (1 + spread)),
        inferences_per_s=inferences_per_s,
        inferences_interval=Interval(inferences_per_s * (1 - spread), inferences_per_s * (1 + spread)),
        goodput_inferences_per_s=inferences_per_s, error_rate=error_rate, rejected_rate=0.0,
        average_batch_size=1.0, cpu_cores=cpu, server_cpu_cores=None, rss_bytes=None, stable=True,
    )  # fmt: skip


def trial(candidate: Candidate, result: TrialFigures | None, fidelity: Fidelity = "screen") -> Trial:
    return Trial(target="t", workload="w", candidate=candidate, fidelity=fidelity, figures=result,
                 failure="" if result else "did not load", seconds=1.0)  # fmt: skip


def candidate(variant: str = "fp32", batch: int = 8, instances: int = 1, threads: int = 1, delay: int = 0) -> Candidate:
    return Candidate(variant, batch, True, delay, (), instances, threads, None)
