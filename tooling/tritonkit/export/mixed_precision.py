"""Accuracy-aware int8: quantize every weight MatMul; if the calibration texts miss the variant's
gate, try the graph with its activation outliers migrated into the weights (export.smoothing);
if that misses too, keep the most sensitive MatMuls in float until it is met.

Why per node, not per layer: in MiniLM a handful of MatMuls carry the error, so keeping whole
layers in float threw away most of the speedup. The MatMuls are ranked by what int8 costs each
alone (export.sensitivity); the shortest prefix of the ranking that meets the gate is found by
bisection. Only calibration inputs are used, so the evaluation inputs stay an independent check.
An earlier search's answer, when given, is tried first: if it still meets the gate, no search runs.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

Quantize = Callable[[Path, Path, list[str]], None]  # (graph, output, node names to keep in float)
Score = Callable[[Path], tuple[bool, float]]  # (meets the gate, higher is better)


class Graphs(Protocol):
    """The graph as prepared (alpha None) or smoothed (export.int8_graphs), and its weight MatMuls
    ranked by what int8 costs them, the costliest first."""

    alphas: tuple[float, ...]

    def graph(self, alpha: float | None) -> Path: ...

    def ranked(self, alpha: float | None) -> list[str]: ...

    def matmuls(self) -> set[str]:
        """The weight MatMuls' names: the ones int8 speeds up (and may hurt)."""


@dataclass(frozen=True)
class Answer:
    smoothing: float | None  # the alpha of the smoothed graph quantized; None: the graph as prepared
    float_nodes: tuple[str, ...]  # kept in float, most sensitive first


@dataclass(frozen=True)
class Outcome:
    answer: Answer
    trials: int
    recalled: bool = False  # an earlier search's answer, checked against the gate again


def quantize_until_gate(
    quantize: Quantize, score: Score, graphs: Graphs, output: Path, known: Answer | None = None
) -> Outcome:
    """The graph as prepared, all int8; if it misses the gate, each smoothed graph all int8; if
    none passes, the best-scoring of them with the fewest of its costliest MatMuls in float."""
    trials = 0

    def attempt(smoothing: float | None, kept: Sequence[str]) -> tuple[bool, float]:
        nonlocal trials
        trials += 1
        quantize(graphs.graph(smoothing), output, list(kept))
        return score(output)

    if known is not None and _applies(known, graphs) and attempt(known.smoothing, known.float_nodes)[0]:
        return Outcome(known, trials, recalled=True)
    tried: dict[float | None, tuple[bool, float]] = {None: attempt(None, [])}
    for alpha in graphs.alphas if not tried[None][0] else ():
        tried[alpha] = attempt(alpha, [])
    passing = [smoothing for smoothing, (passed, _) in tried.items() if passed]
    best = max(passing or tried, key=lambda smoothing: tried[smoothing][1])
    ranked = [] if passing else graphs.ranked(best)
    if not ranked:
        if best != list(tried)[-1]:
            attempt(best, [])  # leave the chosen model in `output`
        return Outcome(Answer(best, ()), trials)
    # Smallest k whose k costliest MatMuls in float pass; all in float passes (it is fp32).
    low, high = 1, len(ranked)
    while low < high:
        middle = (low + high) // 2
        if attempt(best, ranked[:middle])[0]:
            high = middle
        else:
            low = middle + 1
    attempt(best, ranked[:low])  # leave the chosen model in `output`
    return Outcome(Answer(best, tuple(ranked[:low])), trials)


def _applies(known: Answer, graphs: Graphs) -> bool:
    """A remembered answer names a smoothing still tried and MatMuls of this graph."""
    smoothing_tried = known.smoothing is None or known.smoothing in graphs.alphas
    return smoothing_tried and set(known.float_nodes) <= graphs.matmuls()
