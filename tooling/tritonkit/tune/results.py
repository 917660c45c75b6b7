"""tune.json: what `tritonkit tune` found, typed — written by the tune's report and read back by
`plan --results` (and anything else) through these same models."""

from __future__ import annotations

from typing import TYPE_CHECKING

from pydantic import BaseModel, ConfigDict

from tritonkit.measure.sweep import SweepResult
from tritonkit.tune.pareto import front
from tritonkit.tune.trials import Trial

if TYPE_CHECKING:  # the outcome's module runs servers: not needed to read a tune.json
    from tritonkit.tune.run import TuneOutcome


class CurvePoint(BaseModel):
    """One level of a latency-against-load sweep."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    level: float  # requests/s offered (open loop) or in flight (closed loop)
    inferences_per_s: float
    p50_ms: float | None
    p99_ms: float | None
    error_rate: float


class TargetResults(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")
    target: str
    objective: str
    candidates: int
    note: str
    winner: Trial | None
    tuned_model: str | None
    front: list[str]  # candidate keys on the overall Pareto front
    trials: list[Trial]
    curves: dict[str, list[CurvePoint]] = {}  # configuration -> latency against load (--curves)


class TuneResults(BaseModel):
    """tune.json: what `tritonkit tune` found, read back by reports and later commands."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    schema_version: int = 1
    family: str
    variants: tuple[str, ...]
    targets: list[TargetResults]


def results(outcome: TuneOutcome) -> TuneResults:
    return TuneResults(
        family=outcome.family.name,
        variants=outcome.family.variants,
        targets=[
            TargetResults(
                target=t.target.name,
                objective=t.objective.describe(),
                candidates=t.candidates,
                note=t.result.note,
                winner=t.result.best,
                tuned_model=outcome.tuned.get(t.target.name),
                front=[f.key for f in front(t.result.trials)],
                trials=list(t.result.trials),
                curves={label: _points_of(sweep) for label, sweep in outcome.curves.get(t.target.name, {}).items()},
            )
            for t in outcome.tunes
        ],
    )


def _points_of(sweep: SweepResult) -> list[CurvePoint]:
    return [
        CurvePoint(
            level=p.level,
            inferences_per_s=p.inferences_per_s,
            error_rate=p.error_rate,
            p50_ms=p.latency.p50_us / 1000 if p.latency else None,
            p99_ms=p.latency.p99_us / 1000 if p.latency else None,
        )
        for p in sweep.points
    ]
