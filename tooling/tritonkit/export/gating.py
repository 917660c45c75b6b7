"""How a graph is gated, one class per kind: an encoder's output rows against PyTorch's on real
inputs (RowGating), a KV-cache decoder's greedy tokens against PyTorch's greedy decoding
(GreedyGating). Each gives the inputs the exporter sizes the graph with, the gate figures of a
built variant, and the score int8 ranks its candidates by on the calibration inputs."""

from __future__ import annotations

import json
from collections.abc import Callable
from functools import cached_property
from pathlib import Path
from typing import Protocol

import numpy as np

from tritonkit.export import gates, generation
from tritonkit.export.reference import Reference, reference
from tritonkit.export.source import ResolvedSource
from tritonkit.export.tasks import Batch, Task
from tritonkit.specs import GateSpec, GenerationSpec

Progress = Callable[[str], None]
Measured = gates.Metrics | gates.GenerationMetrics


class Gating(Protocol):
    def sample(self) -> Batch:
        """Inputs the exporter runs once to size what it left symbolic."""

    def measure(self, model: Path) -> tuple[Measured, int]:
        """The built model's gate figures, and how many rows (texts, tokens, images) they cover."""

    def score(self, candidate: Path, fp32: Path, gate: GateSpec) -> tuple[bool, float]:
        """Whether a quantized candidate passes `gate` on the calibration inputs against the fp32
        graph, and a score to rank candidates by (higher: more accurate)."""

    def calibration_fingerprint(self) -> bytes:
        """What `score` reads, as bytes: remembered int8 answers are keyed by it."""

    def calibration_inputs(self, fp32: Path) -> list[Batch]:
        """The calibration inputs as `fp32`'s feeds: int8 reads its activations on them."""


class RowGating:
    """An encoder: the task output's rows on the evaluation inputs against the PyTorch reference."""

    def __init__(
        self,
        source: ResolvedSource,
        task: Task,
        evaluation: Callable[[], list[Batch]],
        calibration: Callable[[], list[Batch]],
        progress: Progress,
    ) -> None:
        self.source, self.task, self.progress = source, task, progress
        self._evaluation, self._calibration = evaluation, calibration
        self._fp32_on_calibration: tuple[Path, np.ndarray] | None = None

    @cached_property
    def reference(self) -> Reference:
        self.progress(f"      PyTorch reference on the evaluation {self.task.modality}s …")
        return reference(self.source, self.task, self._evaluation())

    @cached_property
    def calibration(self) -> list[Batch]:
        return self._calibration()

    def sample(self) -> Batch:
        return self.reference.batches[0]

    def calibration_fingerprint(self) -> bytes:
        return b"".join(name.encode() + batch[name].tobytes() for batch in self.calibration for name in sorted(batch))

    def calibration_inputs(self, fp32: Path) -> list[Batch]:
        return self.calibration

    def outputs(self, model: Path) -> np.ndarray:
        """The served artifact itself runs on the evaluation inputs, a TensorRT plan included."""
        if model.suffix == ".plan":
            from tritonkit.export import tensorrt

            return tensorrt.plan_outputs(model, self.reference.batches, self.task)
        return gates.onnx_outputs(model, self.reference.batches, self.task)

    def measure(self, model: Path) -> tuple[Measured, int]:
        return gates.metrics(self.outputs(model), self.reference.output), len(self.reference.output)

    def score(self, candidate: Path, fp32: Path, gate: GateSpec) -> tuple[bool, float]:
        if self._fp32_on_calibration is None or self._fp32_on_calibration[0] != fp32:
            self._fp32_on_calibration = fp32, gates.onnx_outputs(fp32, self.calibration, self.task)
        expected = self._fp32_on_calibration[1]
        measured = gates.metrics(gates.onnx_outputs(candidate, self.calibration, self.task), expected)
        passed = all(r.passed for r in gates.check(measured, gate, self.task))
        return passed, measured.min_cosine + measured.argmax_agreement


class GreedyGating:
    """A KV-cache decoder: each evaluation line alone as a prompt, greedy-decoded."""

    def __init__(
        self,
        source: ResolvedSource,
        task: Task,
        spec: GenerationSpec,
        evaluation: Callable[[], list[list[int]]],
        calibration: Callable[[], list[list[int]]],
        progress: Progress,
    ) -> None:
        self.source, self.task, self.spec, self.progress = source, task, spec, progress
        self._evaluation, self._calibration = evaluation, calibration
        self._fp32_on_calibration: tuple[Path, generation.Decoded] | None = None

    @cached_property
    def prompts(self) -> list[list[int]]:
        return self._evaluation()[: self.spec.gate_prompts]

    @cached_property
    def decoded(self) -> generation.Decoded:
        self.progress(f"      PyTorch greedy decoding of {len(self.prompts)} evaluation prompts …")
        return generation.decode_torch(self.source, self.prompts, self.spec.gate_new_tokens)

    @cached_property
    def calibration_prompts(self) -> list[list[int]]:
        """Every calibration line: a token agreement over few prompts is too coarse to rank MatMuls by."""
        return self._calibration()

    def calibration_fingerprint(self) -> bytes:
        return json.dumps([self.calibration_prompts, self.spec.gate_new_tokens]).encode()

    def calibration_inputs(self, fp32: Path) -> list[Batch]:
        """Each calibration prompt's first step: the whole prompt on an empty cache."""
        decoder = generation.read_decoder(fp32)
        return [decoder.step(prompt, len(prompt), decoder.empty_cache()) for prompt in self.calibration_prompts]

    def sample(self) -> Batch:
        return generation.step_feeds(self.prompts[0], len(self.prompts[0]), {}, position_ids=True)

    def _metrics(self, model: Path, prompts: list[list[int]], expected: generation.Decoded) -> gates.GenerationMetrics:
        return generation.compare(generation.decode_onnx(model, prompts, self.spec.gate_new_tokens), expected)

    def measure(self, model: Path) -> tuple[Measured, int]:
        tokens = sum(len(continuation) for continuation in self.decoded.tokens)
        return self._metrics(model, self.prompts, self.decoded), tokens

    def score(self, candidate: Path, fp32: Path, gate: GateSpec) -> tuple[bool, float]:
        if self._fp32_on_calibration is None or self._fp32_on_calibration[0] != fp32:
            expected = generation.decode_onnx(fp32, self.calibration_prompts, self.spec.gate_new_tokens)
            self._fp32_on_calibration = fp32, expected
        decoding = self._metrics(candidate, self.calibration_prompts, self._fp32_on_calibration[1])
        passed = all(r.passed for r in gates.check(decoding, gate, self.task))
        return passed, decoding.mean_cosine + decoding.token_agreement
