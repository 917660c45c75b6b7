"""The search: predict every candidate, measure the promising ones, walk around the best, confirm
the finalists with longer measurements. Pure: measuring is the `evaluate` callback's job (the
driver reloads and measures on a server; the replay harness looks a recorded table up).

1. Rank every candidate by the queueing model's prediction (feasible ones first).
2. Screen (short windows) the best predicted, the best predicted of each variant first, so that
   one wrong guess of the model cannot hide a whole variant.
3. Calibrate: the model's error per variant (measured / predicted, median) corrects the
   predictions of every candidate not yet measured; screen those that could still beat the best.
4. Local search: measure the best's neighbours (one dimension one step away), best predicted
   first; move while a neighbour does better.
5. Successive halving: the finalists measured again with longer windows; the winner is the best
   confirmed, and when its interval overlaps the runner-up's, the one that needs fewer threads
   (equally good within noise, cheaper to run).
"""

from __future__ import annotations

import dataclasses
import statistics
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

from tritonkit.tune.candidate import Candidate
from tritonkit.tune.objective import Objective
from tritonkit.tune.predict import Prediction
from tritonkit.tune.trials import Fidelity, Trial, TrialFigures

Evaluate = Callable[[Candidate, Fidelity], Trial]


class OutOfBudget(Exception):
    """Raised by `evaluate` when the time budget is spent: the search ends with what it has."""


@dataclass(frozen=True)
class Settings:
    max_trials: int  # screening, local search and confirmation together
    finalists: int = 3  # confirmed with longer windows
    neighbours: int = 3  # measured around the best per local-search step


@dataclass(frozen=True)
class SearchResult:
    best: Trial | None  # the confirmed winner; None when no candidate met the SLO
    trials: tuple[Trial, ...]
    note: str  # how the search ended


def figures_of(prediction: Prediction) -> TrialFigures:
    """A prediction in the shape of a measurement, so the objective judges both the same way."""
    return TrialFigures(
        p50_ms=prediction.p50_ms, p90_ms=None, p95_ms=None, p99_ms=prediction.p99_ms,
        p50_interval_ms=None, p99_interval_ms=None, inferences_per_s=prediction.inferences_per_s,
        inferences_interval=None, goodput_inferences_per_s=None, error_rate=prediction.rejected_fraction,
        rejected_rate=prediction.rejected_fraction, average_batch_size=prediction.batch_size, cpu_cores=None,
        server_cpu_cores=None, rss_bytes=None, stable=True,
    )  # fmt: skip


def ranked(
    candidates: Iterable[Candidate], predicted: dict[str, TrialFigures], objective: Objective
) -> list[Candidate]:
    """Feasible first, then by score; ties go to fewer threads."""

    def order(candidate: Candidate) -> tuple[bool, float, int]:
        figures = predicted[candidate.key()]
        return (not objective.feasible(figures), -objective.score(figures).value, candidate.threads)

    return sorted(candidates, key=order)


class _Search:
    def __init__(
        self, candidates: Sequence[Candidate], predictions: dict[str, Prediction], objective: Objective,
        evaluate: Evaluate, settings: Settings,
    ) -> None:  # fmt: skip
        self.by_key = {c.key(): c for c in candidates}
        self.predicted = {k: figures_of(p) for k, p in predictions.items()}
        self.objective, self.evaluate, self.settings = objective, evaluate, settings
        self.trials: list[Trial] = []
        self.screened: dict[str, Trial] = {}

    # -- measuring ---------------------------------------------------------------------------

    def room(self, reserve: int = 0) -> bool:
        return len(self.trials) + reserve < self.settings.max_trials

    def screen(self, candidates: Iterable[Candidate], reserve: int) -> None:
        for candidate in candidates:
            if not self.room(reserve):
                return
            if candidate.key() not in self.screened:
                trial = self.evaluate(candidate, "screen")
                self.trials.append(trial)
                self.screened[candidate.key()] = trial

    def best_screened(self) -> Trial | None:
        good = [t for t in self.screened.values() if t.figures and self.objective.feasible(t.figures)]
        return max(good, key=self.point, default=None)

    def point(self, trial: Trial) -> tuple[float, int]:
        assert trial.figures is not None
        return (self.objective.score(trial.figures).value, -trial.candidate.threads)

    # -- the model's error, per variant ----------------------------------------------------------

    def calibrated(self) -> dict[str, TrialFigures]:
        """Predictions scaled by the median measured / predicted ratio of the variant's screened
        trials (throughput and latency apart)."""
        ratios: dict[str, tuple[list[float], list[float]]] = {}
        for key, trial in self.screened.items():
            measured, predicted = trial.figures, self.predicted[key]
            if measured is None or measured.p99_ms is None or not predicted.inferences_per_s:
                continue
            speed, latency = ratios.setdefault(trial.candidate.variant, ([], []))
            speed.append(measured.inferences_per_s / predicted.inferences_per_s)
            if predicted.p99_ms and predicted.p99_ms != float("inf"):
                latency.append(measured.p99_ms / predicted.p99_ms)
        corrected = {}
        for key, figures in self.predicted.items():
            speed, latency = ratios.get(self.by_key[key].variant, ([], []))
            s = statistics.median(speed) if speed else 1.0
            lat = statistics.median(latency) if latency else 1.0
            corrected[key] = figures.model_copy(update={
                "inferences_per_s": figures.inferences_per_s * s,
                "p50_ms": figures.p50_ms * lat if figures.p50_ms is not None else None,
                "p99_ms": figures.p99_ms * lat if figures.p99_ms is not None else None,
            })  # fmt: skip
        return corrected

    def promising(self, predicted: dict[str, TrialFigures], than: Trial | None) -> list[Candidate]:
        """Unmeasured candidates, best predicted first, that could still beat `than`."""
        rest = [c for k, c in self.by_key.items() if k not in self.screened]
        order = ranked(rest, predicted, self.objective)
        if than is None or than.figures is None:
            return order
        bar = self.objective.score(than.figures).value
        return [c for c in order if self.objective.feasible(predicted[c.key()])
                and self.objective.score(predicted[c.key()]).value > bar]  # fmt: skip

    # -- the search's steps --------------------------------------------------------------------

    def run(self) -> SearchResult:
        finalists = min(self.settings.finalists, self.settings.max_trials // 4)
        try:
            order = ranked(self.by_key.values(), self.predicted, self.objective)
            self.screen(_spread(order), reserve=max(finalists, self.settings.max_trials // 2))
            self.screen(self.promising(self.calibrated(), self.best_screened()), reserve=self.settings.max_trials // 3)
            self.local_search(reserve=finalists)
            return self.confirm(finalists)
        except OutOfBudget:
            best = self.best_screened()
            return SearchResult(best, tuple(self.trials), "the time budget ran out: best screened, not confirmed")

    def local_search(self, reserve: int) -> None:
        seen: set[str] = set()
        while self.room(reserve):
            best = self.best_screened()
            if best is None or best.key in seen:
                return
            seen.add(best.key)
            corrected = self.calibrated()
            around = [c for c in neighbours(best.candidate, self.by_key) if c.key() not in self.screened]
            self.screen(ranked(around, corrected, self.objective)[: self.settings.neighbours], reserve)

    def confirm(self, finalists: int) -> SearchResult:
        good = [t for t in self.screened.values() if t.figures and self.objective.feasible(t.figures)]
        if not good:
            return SearchResult(None, tuple(self.trials), "no candidate met the SLO")
        top = sorted(good, key=self.point, reverse=True)[: max(finalists, 1)]
        if finalists == 0:
            return SearchResult(top[0], tuple(self.trials), "no trials left to confirm: best screened")
        confirmed = []
        for trial in top:
            again = self.evaluate(trial.candidate, "confirm")
            self.trials.append(again)
            if again.figures and self.objective.feasible(again.figures):
                confirmed.append(again)
        if not confirmed:
            return SearchResult(None, tuple(self.trials), "no finalist met the SLO with longer windows")
        return SearchResult(self.winner(confirmed), tuple(self.trials), f"{len(confirmed)} finalists confirmed")

    def winner(self, confirmed: list[Trial]) -> Trial:
        """The best confirmed, or among those it does not beat beyond noise, the cheapest."""
        best = max(confirmed, key=self.point)
        assert best.figures is not None
        score = self.objective.score(best.figures)
        level = [t for t in confirmed if t.figures and not score.beats(self.objective.score(t.figures))]
        return min(level, key=lambda t: (t.candidate.threads, -self.point(t)[0]))


def search(
    candidates: Sequence[Candidate], predictions: dict[str, Prediction], objective: Objective,
    evaluate: Evaluate, settings: Settings,
) -> SearchResult:  # fmt: skip
    return _Search(candidates, predictions, objective, evaluate, settings).run()


def _spread(order: Sequence[Candidate]) -> list[Candidate]:
    """The best predicted of each variant first, then the rest in order: calibration needs a
    measurement of every variant, and a variant the model misjudges is not left out. (Spreading
    over instances x threads pairs too cost a third of a small budget on the recorded grid and
    found less: the profiles, taken at each thread count, already place them.)"""
    firsts: dict[str, Candidate] = {}
    for candidate in order:
        firsts.setdefault(candidate.variant, candidate)
    leaders = list(firsts.values())
    return leaders + [c for c in order if c not in leaders]


# The dimensions a neighbour moves along: the candidate's attributes each one sets, and whether its
# values are ordered (a neighbour is one step away) or categories (every other value is a neighbour).
_DIMENSIONS: tuple[tuple[tuple[str, ...], bool], ...] = (
    (("variant",), False), (("max_batch_size",), True), (("dynamic_batching",), True),
    (("max_queue_delay_us",), True), (("preferred_batch_sizes",), True),
    (("instance_count", "intra_op_threads"), True), (("queue",), True), (("client_batch_size",), True),
    (("buckets",), False), (("fields",), False),
)  # fmt: skip


def _order(value: tuple[object, ...]) -> tuple[object, ...]:
    """Sort key of a dimension's value: numbers as numbers, sets by size then members, no queue
    policy before the bounded ones, an instances x threads pair by the threads it keeps busy."""
    if len(value) == 2:  # instances, threads
        instances, threads = value
        assert isinstance(instances, int) and isinstance(threads, int)
        return (instances * (threads or 1024), instances)
    (item,) = value
    if item is None:
        return (0,)
    if isinstance(item, tuple):
        return (1, len(item), item)
    if dataclasses.is_dataclass(item):
        return (1, *dataclasses.astuple(item))  # type: ignore[arg-type]
    return (1, item)


def neighbours(candidate: Candidate, space: dict[str, Candidate]) -> list[Candidate]:
    """Candidates of the space that differ from `candidate` in one dimension only: by one step
    where the dimension's values are ordered, by any value where they are categories."""
    found: dict[str, Candidate] = {}
    for names, ordered in _DIMENSIONS:
        rest = [f.name for f in dataclasses.fields(Candidate) if f.name not in names]
        here = tuple(getattr(candidate, n) for n in rest)
        line = [c for c in space.values() if tuple(getattr(c, n) for n in rest) == here]
        line.sort(key=lambda c: _order(tuple(getattr(c, n) for n in names)))
        index = next(i for i, c in enumerate(line) if c.key() == candidate.key()) if candidate in line else None
        if index is None:
            continue
        chosen = [line[i] for i in (index - 1, index + 1) if 0 <= i < len(line)] if ordered else line
        found.update({c.key(): c for c in chosen if c.key() != candidate.key()})
    return list(found.values())
