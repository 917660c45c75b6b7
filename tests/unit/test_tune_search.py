"""The search against replay tables: it finds the known optimum with a few percent of the
space's trials, even when the model it ranks with is off; failures and budgets do not end it."""

from __future__ import annotations

import dataclasses
import json
import math
from pathlib import Path

import pytest

from tests.unit.tune_tables import candidate, figures, trial
from tritonkit.specs import SloSpec, TargetSpec
from tritonkit.tune.candidate import Candidate
from tritonkit.tune.log import read_trials
from tritonkit.tune.objective import Objective
from tritonkit.tune.predict import ComputeProfile, Prediction, Profiles, Workload, predict
from tritonkit.tune.replay import replay, table_of
from tritonkit.tune.search import OutOfBudget, Settings, neighbours, search
from tritonkit.tune.space import SpaceSpec, candidates
from tritonkit.tune.trials import Fidelity, Trial, TrialFigures

PIPELINE = Objective("throughput", SloSpec(p99_ms=200.0))
CHAT = Objective("latency", SloSpec(p99_ms=60.0, max_error_rate=0.01))


def profiles(scale: dict[str, float], per_item: float = 0.0015) -> Profiles:
    """Seconds per execution a + b x batch per variant (int8 faster), at 1 and 2 threads."""
    found = []
    for variant, factor in scale.items():
        for threads, speedup in ((1, 1.0), (2, 1.6)):
            seconds = tuple((b, factor * (0.004 + per_item * b) / speedup) for b in (1, 2, 4, 8, 16, 32, 64))
            found.append(ComputeProfile(variant=variant, threads=threads, batch_seconds=seconds))
    return Profiles(tuple(found))


def as_figures(p: Prediction, noise: float) -> TrialFigures | None:
    if not math.isfinite(p.p99_ms):
        return None  # the queue grew without bound: the run would have timed out
    p99, speed = p.p99_ms * (1 + noise), p.inferences_per_s * (1 - noise)
    return figures(p99, speed, spread=0.03, error_rate=p.rejected_fraction)


def table(space: list[Candidate], truth: Profiles, workload: Workload) -> dict[str, TrialFigures]:
    """The 'measured' grid: the truth's predictions with a deterministic ±4% of noise."""
    found = {}
    for i, c in enumerate(space):
        measured = as_figures(predict(c, truth, workload), noise=0.04 * math.sin(7.0 * i))
        if measured is not None:
            found[c.key()] = measured
    return found


@pytest.mark.parametrize(
    ("objective", "workload", "open_loop"),
    [
        (PIPELINE, Workload(mode="closed", level=16, shape_sharing=1.0, cores=2), False),
        (CHAT, Workload(mode="open", level=120, shape_sharing=1.0, cores=2), True),
        (CHAT, Workload(mode="open", level=60, shape_sharing=0.05, cores=2), True),
    ],
)
def test_the_search_reaches_the_grid_optimum_with_a_few_percent_of_its_trials(
    objective: Objective, workload: Workload, open_loop: bool
) -> None:
    space = candidates(SpaceSpec(), ["fp32", "int8_dynamic"], cores=2, open_loop=open_loop)
    truth = profiles({"fp32": 1.0, "int8_dynamic": 0.6})
    # The model the search ranks with is wrong by 30-50% and gets the variants' ratio wrong too:
    # calibration and local search must make up for it.
    model = profiles({"fp32": 1.3, "int8_dynamic": 1.0}, per_item=0.002)
    predictions = {c.key(): predict(c, model, workload) for c in space}
    budget = math.floor(0.04 * len(space))
    outcome = replay(space, predictions, objective, table(space, truth, workload), Settings(max_trials=budget))
    assert outcome.trials <= budget
    assert outcome.quality is not None and outcome.quality >= 0.98, outcome.result.note


def test_failed_candidates_are_recorded_and_the_search_goes_on() -> None:
    space = [candidate(batch=b, instances=i) for b in (8, 16, 32) for i in (1, 2)]
    measured: list[Candidate] = []

    def evaluate(c: Candidate, fidelity: Fidelity) -> Trial:
        measured.append(c)
        if c.instance_count == 2:
            return trial(c, None, fidelity)  # every two-instance candidate fails to load
        return trial(c, figures(10.0, 10.0 * c.max_batch_size), fidelity)

    predictions = {c.key(): _guess(c) for c in space}
    result = search(space, predictions, PIPELINE, evaluate, Settings(max_trials=12))
    assert result.best is not None and result.best.candidate == candidate(batch=32)
    assert any(t.failed for t in result.trials)
    assert result.best.fidelity == "confirm"


def test_out_of_budget_ends_with_the_best_screened() -> None:
    space = [candidate(batch=b) for b in (8, 16, 32, 64)]
    calls = 0

    def evaluate(c: Candidate, fidelity: Fidelity) -> Trial:
        nonlocal calls
        calls += 1
        if calls > 2:
            raise OutOfBudget
        return trial(c, figures(10.0, float(c.max_batch_size)), fidelity)

    result = search(space, {c.key(): _guess(c) for c in space}, PIPELINE, evaluate, Settings(max_trials=20))
    assert result.best is not None and "budget" in result.note
    assert len(result.trials) == 2


def test_within_noise_the_cheaper_finalist_wins() -> None:
    lean, wide = candidate(batch=16, instances=1), candidate(batch=16, instances=2)
    noisy = {lean.key(): figures(10.0, 100.0, spread=0.1), wide.key(): figures(10.0, 104.0, spread=0.1)}

    def evaluate(c: Candidate, fidelity: Fidelity) -> Trial:
        return trial(c, noisy[c.key()], fidelity)

    result = search([wide, lean], {c.key(): _guess(c) for c in (wide, lean)}, PIPELINE, evaluate, Settings(12))
    assert result.best is not None and result.best.candidate == lean  # 4% more is within the ±10% intervals


def test_a_clearly_better_finalist_wins_even_when_it_costs_more() -> None:
    lean, wide = candidate(batch=16, instances=1), candidate(batch=16, instances=2)
    clear = {lean.key(): figures(10.0, 100.0, spread=0.02), wide.key(): figures(10.0, 150.0, spread=0.02)}
    result = search(
        [wide, lean], {c.key(): _guess(c) for c in (wide, lean)}, PIPELINE,
        lambda c, f: trial(c, clear[c.key()], f), Settings(12),
    )  # fmt: skip
    assert result.best is not None and result.best.candidate == wide


def test_nothing_feasible_is_said_so() -> None:
    space = [candidate(batch=b) for b in (8, 16)]
    result = search(
        space, {c.key(): _guess(c) for c in space}, PIPELINE, lambda c, f: trial(c, figures(900.0, 5.0), f), Settings(8)
    )
    assert result.best is None and "no candidate met the SLO" in result.note


def test_neighbours_differ_in_one_dimension_by_one_step() -> None:
    space = {c.key(): c for c in candidates(SpaceSpec(), ["fp32", "int8_dynamic"], cores=2, open_loop=False)}
    here = next(c for c in space.values() if (c.variant, c.max_batch_size, c.max_queue_delay_us, c.instance_count,
                c.intra_op_threads, c.client_batch_size, c.preferred_batch_sizes) ==
                ("fp32", 16, 2000, 1, 1, 1, (8,)))  # fmt: skip
    around = neighbours(here, space)
    assert around and all(_differences(here, c) == 1 for c in around)
    assert {c.max_batch_size for c in around if c.max_batch_size != 16} == {8, 32}
    assert {c.max_queue_delay_us for c in around if c.max_queue_delay_us != 2000} == {500, 8000}
    assert any(c.variant == "int8_dynamic" for c in around)


def _differences(a: Candidate, b: Candidate) -> int:
    pairs = [
        ("variant",), ("max_batch_size",), ("dynamic_batching",), ("max_queue_delay_us",), ("preferred_batch_sizes",),
        ("instance_count", "intra_op_threads"), ("queue",), ("client_batch_size",),
    ]  # fmt: skip
    return sum(any(getattr(a, n) != getattr(b, n) for n in names) for names in pairs)


def _guess(c: Candidate) -> Prediction:
    return Prediction(
        inferences_per_s=10.0 * c.max_batch_size, p50_ms=5.0, p99_ms=10.0, rejected_fraction=0.0, utilization=0.5,
        batch_size=1.0, capacity_inferences_per_s=100.0, service_ms=5.0, batching_delay_ms=0.0, slowdown=1.0,
    )  # fmt: skip


def test_the_search_reaches_the_committed_grids_optimum_with_four_percent_of_its_trials() -> None:
    """bench/results/tune_grid: every configuration of a 368-candidate space measured on MiniLM."""
    grid = Path(__file__).resolve().parents[2] / "bench" / "results" / "tune_grid"
    meta = json.loads(grid.with_suffix(".json").read_text())
    _, profile_lines, trials = read_trials(grid.with_suffix(".jsonl"))
    objective = Objective.of(TargetSpec.model_validate(meta["target"]))
    profiled = Profiles(tuple(p.profile for p in profile_lines))
    space = list({t.key: t.candidate for t in trials}.values())
    assert len(space) >= 300
    workload = Workload(**meta["workload"])
    predictions = {c.key(): predict(c, profiled, workload) for c in space}
    budget = math.floor(0.04 * len(space))
    outcome = replay(space, predictions, objective, table_of(trials), Settings(max_trials=budget))
    assert outcome.trials <= budget
    assert outcome.quality is not None and outcome.quality >= 0.98


def test_a_neighbour_changes_the_token_buckets_alone() -> None:
    space = {c.key(): c for c in candidates(SpaceSpec(), ["fp32"], cores=2, open_loop=True, longest_tokens=128)}
    natural = next(c for c in space.values() if not c.buckets and c.dynamic_batching)
    around = neighbours(natural, space)
    assert dataclasses.replace(natural, buckets=(16, 32, 64, 128)) in around
