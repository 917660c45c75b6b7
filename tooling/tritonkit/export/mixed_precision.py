"""Accuracy-aware int8: quantize every weight MatMul, and if the calibration texts miss the variant's
gate, keep the most sensitive MatMuls in float until they meet it.

Why per node, not per layer: in MiniLM a handful of MatMuls (mostly in the first layers) carry
the error, so keeping whole layers in float threw away most of the speedup. Sensitivity is
measured once per node (quantize everything except that node); then the shortest prefix of the
ranking that meets the gate is found by bisection. Only calibration texts are used, so the
evaluation texts stay an independent check. An earlier search's answer, when given, is tried
first: if it still meets the gate, no search runs.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import onnx
from tqdm import tqdm

Quantize = Callable[[Path, list[str]], None]  # (output, node names to keep in float)
Score = Callable[[Path], tuple[bool, float]]  # (meets the gate, higher is better)


@dataclass(frozen=True)
class Outcome:
    float_nodes: tuple[str, ...]  # kept in float, most sensitive first
    trials: int
    recalled: bool = False  # an earlier search's answer, checked against the gate again


def weight_matmuls(model_path: Path) -> list[str]:
    """MatMuls with a constant weight operand: the ones int8 speeds up (and may hurt)."""
    model = onnx.load(str(model_path), load_external_data=False)
    weights = {init.name for init in model.graph.initializer}
    return [
        node.name for node in model.graph.node if node.op_type == "MatMul" and any(i in weights for i in node.input)
    ]


def quantize_until_gate(
    quantize: Quantize, score: Score, candidates: list[str], output: Path, known: Sequence[str] | None = None
) -> Outcome:
    trials = 0

    def attempt(kept: list[str]) -> tuple[bool, float]:
        nonlocal trials
        trials += 1
        quantize(output, kept)
        return score(output)

    if known is not None and set(known) <= set(candidates) and attempt(list(known))[0]:
        return Outcome(tuple(known), trials, recalled=True)
    if attempt([])[0] or not candidates:
        return Outcome((), trials)
    recovered = {node: attempt([node])[1] for node in tqdm(candidates, desc="int8 sensitivity", leave=False)}
    ranked = sorted(candidates, key=lambda node: recovered[node], reverse=True)
    # Smallest k whose top-k float nodes pass; all in float passes by definition (it is fp32).
    low, high = 1, len(ranked)
    while low < high:
        middle = (low + high) // 2
        if attempt(ranked[:middle])[0]:
            high = middle
        else:
            low = middle + 1
    attempt(ranked[:low])  # leave the chosen model in `output`
    return Outcome(tuple(ranked[:low]), trials)
