"""Replay: a search run against a recorded table of measurements instead of a server, to judge a
search strategy (how close to the table's optimum, with how many trials) in a second. Pure."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from tritonkit.tune.candidate import Candidate
from tritonkit.tune.objective import Objective
from tritonkit.tune.predict import Prediction
from tritonkit.tune.search import SearchResult, Settings, search
from tritonkit.tune.trials import Fidelity, Trial, TrialFigures


@dataclass(frozen=True)
class ReplayOutcome:
    result: SearchResult
    optimum: str | None  # the key of the table's best feasible candidate
    trials: int  # how many measurements the search asked for
    table: int  # how many candidates the table holds
    quality: float | None  # the found candidate's objective as a fraction of the optimum's (1.0: found it)


def table_of(trials: Sequence[Trial]) -> dict[str, TrialFigures]:
    """One measurement per candidate: a confirmed one where there is one."""
    table: dict[str, TrialFigures] = {}
    for trial in sorted(trials, key=lambda t: t.fidelity == "confirm"):
        if trial.figures is not None:
            table[trial.key] = trial.figures
    return table


def quality(objective: Objective, found: TrialFigures, optimum: TrialFigures) -> float:
    """How good `found` is next to `optimum`: throughput as a fraction of the optimum's, latency as
    the optimum's p99 over the found one's (both 1.0 at the optimum, less below it)."""
    if objective.kind == "throughput":
        return found.inferences_per_s / optimum.inferences_per_s
    assert found.p99_ms is not None and optimum.p99_ms is not None
    return optimum.p99_ms / found.p99_ms


def replay(
    candidates: Sequence[Candidate], predictions: dict[str, Prediction], objective: Objective,
    table: dict[str, TrialFigures], settings: Settings,
) -> ReplayOutcome:  # fmt: skip
    """The search over `candidates`, each measurement looked up in `table` (a candidate the table
    lacks counts as a failed trial, as one that did not load would)."""

    def evaluate(candidate: Candidate, fidelity: Fidelity) -> Trial:
        figures = table.get(candidate.key())
        failure = "" if figures is not None else "not in the table"
        return Trial(target="replay", workload="replay", candidate=candidate, fidelity=fidelity, figures=figures,
                     failure=failure, seconds=0.0)  # fmt: skip

    result = search(candidates, predictions, objective, evaluate, settings)
    keys = {c.key() for c in candidates}
    feasible = {k: f for k, f in table.items() if k in keys and objective.feasible(f)}
    optimum = max(feasible, key=lambda k: objective.score(feasible[k]).value, default=None)
    found = table.get(result.best.key) if result.best is not None else None
    score = quality(objective, found, feasible[optimum]) if found is not None and optimum is not None else None
    return ReplayOutcome(result, optimum, len(result.trials), len(table), score)
