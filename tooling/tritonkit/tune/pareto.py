"""The latency/throughput tradeoff of the measured trials: the Pareto front (no other trial has
both more throughput and a lower p99), per variant and overall. Pure."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from tritonkit.tune.trials import Trial


def front(trials: Iterable[Trial]) -> list[Trial]:
    """The trials no other trial dominates on (inferences/s up, p99 down), by throughput. A
    candidate measured twice counts with its longest (confirmed) measurement."""
    latest: dict[str, Trial] = {}
    for trial in trials:
        if trial.figures is None or trial.figures.p99_ms is None:
            continue
        if trial.key not in latest or trial.fidelity == "confirm":
            latest[trial.key] = trial
    points = sorted(latest.values(), key=lambda t: (-_speed(t), _p99(t)))
    kept: list[Trial] = []
    for trial in points:  # fastest first: a trial joins when it beats every faster one on p99
        if not kept or _p99(trial) < _p99(kept[-1]):
            kept.append(trial)
    return sorted(kept, key=_speed)


def fronts(trials: Sequence[Trial]) -> dict[str, list[Trial]]:
    """The overall front ('all') and each variant's."""
    variants = sorted({t.candidate.variant for t in trials})
    return {"all": front(trials)} | {v: front(t for t in trials if t.candidate.variant == v) for v in variants}


def _speed(trial: Trial) -> float:
    assert trial.figures is not None
    return trial.figures.inferences_per_s


def _p99(trial: Trial) -> float:
    assert trial.figures is not None and trial.figures.p99_ms is not None
    return trial.figures.p99_ms
