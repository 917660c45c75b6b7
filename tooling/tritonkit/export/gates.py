"""Hard accuracy gates: a variant's task output on real inputs against the PyTorch reference; for
text generation, its greedy tokens and first-step logits (decoded in export.generation)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnxruntime as ort
from pydantic import BaseModel, ConfigDict

from tritonkit.export.tasks import Batch, Task
from tritonkit.specs import GateSpec


class GateResult(BaseModel):
    model_config = ConfigDict(frozen=True)

    metric: str  # e.g. "min_cosine"
    value: float
    threshold: float
    passed: bool

    def describe(self) -> str:
        bound = "≤" if self.metric == "max_abs_diff" else "≥"
        verdict = "ok" if self.passed else f"FAILED by {abs(self.value - self.threshold):.3g}"
        return f"{self.metric} {self.value:.6g} (gate {bound} {self.threshold:g}): {verdict}"


@dataclass(frozen=True)
class Metrics:
    max_abs_diff: float
    mean_cosine: float
    min_cosine: float
    argmax_agreement: float
    top5_overlap: float


@dataclass(frozen=True)
class GenerationMetrics:
    max_abs_diff: float  # the first step's logits, at every prompt position
    mean_cosine: float  # the same rows
    token_agreement: float  # see token_agreement


# The measured figure each gate bounds.
_MEASURED = {
    "max_abs_diff": "max_abs_diff",
    "min_mean_cosine": "mean_cosine",
    "min_cosine": "min_cosine",
    "min_argmax_agreement": "argmax_agreement",
    "min_top5_overlap": "top5_overlap",
    "min_token_agreement": "token_agreement",
}


def onnx_outputs(path: Path, batches: list[Batch], task: Task) -> np.ndarray:
    """The task output's rows (per text, or per real token) on every batch, stacked."""
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    names = [i.name for i in session.get_inputs()]
    return np.concatenate(
        [task.rows(session.run([task.output], {n: batch[n] for n in names})[0], batch) for batch in batches]
    )


def metrics(candidate: np.ndarray, expected: np.ndarray) -> Metrics:
    candidate, expected = candidate.astype(np.float64), expected.astype(np.float64)
    norms = np.linalg.norm(candidate, axis=-1) * np.linalg.norm(expected, axis=-1)
    cosine = np.sum(candidate * expected, axis=-1) / np.maximum(norms, 1e-12)
    return Metrics(
        max_abs_diff=float(np.max(np.abs(candidate - expected))),
        mean_cosine=float(np.mean(cosine)),
        min_cosine=float(np.min(cosine)),
        argmax_agreement=float(np.mean(candidate.argmax(-1) == expected.argmax(-1))),
        top5_overlap=_top_k_overlap(candidate, expected, 5),
    )


def _top_k_overlap(candidate: np.ndarray, expected: np.ndarray, k: int) -> float:
    """The mean share of each row's k largest expected entries that are among the candidate's k largest."""
    k = min(k, expected.shape[-1])
    top = [np.argpartition(-a, k - 1, axis=-1)[..., :k].reshape(-1, k) for a in (candidate, expected)]
    shared = [len(set(c) & set(e)) for c, e in zip(top[0].tolist(), top[1].tolist(), strict=True)]
    return float(np.mean(shared)) / k if shared else 1.0


def token_agreement(candidate: list[list[int]], expected: list[list[int]]) -> float:
    """The share of expected tokens that the candidate decoded identically, position by position.
    A token counts only while every earlier one of its prompt agreed: after the first divergence the
    two continue different texts, so the rest of that prompt counts as different."""
    agreed = sum(
        next((i for i, (a, b) in enumerate(zip(mine, theirs, strict=False)) if a != b), min(len(mine), len(theirs)))
        for mine, theirs in zip(candidate, expected, strict=True)
    )
    total = sum(len(theirs) for theirs in expected)
    return agreed / total if total else 1.0


def check(measured: Metrics | GenerationMetrics, gate: GateSpec, task: Task) -> list[GateResult]:
    results = []
    for name in task.gates:
        threshold = getattr(gate, name)
        if threshold is None:
            continue
        value = getattr(measured, _MEASURED[name])
        passed = value <= threshold if name == "max_abs_diff" else value >= threshold
        results.append(GateResult(metric=name, value=value, threshold=threshold, passed=passed))
    return results
