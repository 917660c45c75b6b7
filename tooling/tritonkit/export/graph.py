"""One ONNX graph and its variants: the fp32 export, the artifacts variants share (the optimized
graph, the graph prepared for quantization), built once on demand, and one builder per variant.
A task exports one graph (an encoder, a decoder) or several (CLIP's two towers); how each graph is
gated is its Gating's concern (export.gating)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

from tritonkit.export import int8_memory, variants
from tritonkit.export.gating import Gating, Progress, RowGating
from tritonkit.export.int8_graphs import Int8Graphs
from tritonkit.export.mixed_precision import Outcome, Quantize, quantize_until_gate
from tritonkit.export.onnx_export import export_fp32
from tritonkit.export.source import ResolvedSource, resolve_source
from tritonkit.export.tasks import Batch, Task
from tritonkit.specs import GateSpec, RecipeSpec, SourceSpec, VariantName
from tritonkit.triton import profiles

Exporter = Callable[[Path, Batch], Path]  # (output folder, sample inputs) → the fp32 ONNX file


@dataclass(frozen=True)
class Built:
    path: Path  # the model file to serve (ONNX, or a TensorRT plan)
    onnx: Path  # the ONNX graph it came from: its signature shapes the config
    details: dict[str, object]


class Graph:
    def __init__(
        self,
        recipe: RecipeSpec,
        source: ResolvedSource,
        task: Task,
        gating: Gating,
        scratch: Path,
        progress: Progress,
        exporter: Exporter | None = None,  # None: Optimum's export of the task
    ) -> None:
        self.recipe, self.source, self.task, self.gating = recipe, source, task, gating
        self.scratch, self.progress = scratch, progress
        scratch.mkdir(parents=True, exist_ok=True)
        self._export = exporter or (lambda output, sample: export_fp32(source, task, recipe.opset, output, sample))

    @cached_property
    def fp32(self) -> Path:
        self.progress("      exporting fp32 ONNX …")
        return self._export(self.scratch / "fp32", self.gating.sample())

    @cached_property
    def optimized(self) -> tuple[Path, dict[str, int]]:
        path = self.scratch / "optimized.onnx"
        return path, variants.optimize(self.fp32, path, variants.optimizer_model_type(self.source.folder))

    @cached_property
    def prepared(self) -> tuple[Path, list[str]]:
        """fp32 after ONNX Runtime's quantization pre-processing, and its activation-by-activation MatMuls."""
        path = self.scratch / "prepared.onnx"
        # A decoder's projections are GPT-2 Conv1D Gemms: as MatMuls, int8 quantizes them too.
        return path, variants.prepare_for_quantization(self.fp32, path, gemms_as_matmuls=self.task.generates)

    def build_fp32(self) -> Built:
        return Built(self.fp32, self.fp32, {})

    def build_optimized(self) -> Built:
        path, fusions = self.optimized
        return Built(path, path, {"fusions": fusions})

    def build_fp16(self) -> Built:
        path = self.scratch / "fp16.onnx"
        variants.fp16(self.optimized[0], path)
        return Built(path, path, {"fusions": self.optimized[1], "io": "float32 inputs and outputs"})

    @cached_property
    def int8_graphs(self) -> Int8Graphs:
        return Int8Graphs(self.prepared[0], self.gating.calibration_inputs(self.fp32))

    def build_int8_dynamic(self) -> Built:
        path = self.scratch / "int8_dynamic.onnx"
        outcome = self._quantize("int8_dynamic", variants.int8_dynamic, path)
        return Built(path, path, _quantization_details(outcome))

    def build_int8_static(self) -> Built:
        assert isinstance(self.gating, RowGating), "int8_static applies to encoders only (pipeline.VARIANTS)"
        calibration = self.gating.calibration
        path = self.scratch / "int8_static.onnx"
        _, activation_matmuls = self.prepared
        outcome = self._quantize(
            "int8_static",
            lambda graph, out, keep: variants.int8_static(graph, out, calibration, activation_matmuls + keep),
            path,
        )
        calibrated_on = sum(len(next(iter(b.values()))) for b in calibration)  # texts or images
        return Built(path, path, {**_quantization_details(outcome), "calibration_inputs": calibrated_on})

    def build_distilled(self) -> Built:
        from tritonkit.export.distill import layer_dropped_student

        spec = self.recipe.distillation
        self.progress(f"      student: 1 of every {spec.keep_every} layers kept, {spec.steps} distillation steps …")
        student = layer_dropped_student(
            self.source, self.task, spec, self.scratch / "student", max_length=self.recipe.max_sequence_length
        )
        path = export_fp32(
            resolve_source(SourceSpec(path=student.folder)),
            self.task,
            self.recipe.opset,
            self.scratch / "distilled",
            self.gating.sample(),
        )
        details: dict[str, object] = {
            "kept_layers": student.kept_layers,
            "distilled_on": str(spec.text_file) if student.final_loss is not None else None,
            "steps": spec.steps if student.final_loss is not None else 0,
            "final_loss": student.final_loss,
        }
        return Built(path, path, details)

    def build_tensorrt(self) -> Built:
        from tritonkit.export import tensorrt

        if self.task.generates:
            # tensorrt.build_plan profiles the batch and sequence axes; a decoder's cache adds a past axis.
            self.progress("      TensorRT: a decoder is served by ONNX Runtime's TensorRT execution accelerator")
            return Built(self.fp32, self.fp32, {"engine": "onnxruntime-tensorrt-accelerator"})
        if not tensorrt.gpu_available():
            self.progress("      TensorRT plan: built on a GPU host only; writing the ONNX model with ONNX Runtime's "
                          "TensorRT execution accelerator configured instead")  # fmt: skip
            return Built(self.fp32, self.fp32, {"engine": "onnxruntime-tensorrt-accelerator"})
        knobs = self.recipe.knobs or profiles.profile(self.recipe.profile)
        plan = tensorrt.build_plan(
            self.fp32,
            self.scratch / "model.plan",
            max_batch_size=knobs.max_batch_size,
            max_sequence_length=self.recipe.max_sequence_length,
        )
        return Built(plan, self.fp32, {"engine": "tensorrt-plan"})

    def _quantize(self, variant: VariantName, quantize: Quantize, path: Path) -> Outcome:
        """The fewest MatMuls in float that pass the gate, smoothed if that is what passes: an earlier
        export's answer for this very graph, gate and calibration when it still passes (int8_memory),
        else a search."""
        prepared, _ = self.prepared
        gate = _with_margin(self.recipe.gate(variant))
        digest = int8_memory.key(prepared, variant, gate, self.gating.calibration_fingerprint())
        known = int8_memory.recall(digest)
        outcome = quantize_until_gate(quantize, self._calibration_score(variant), self.int8_graphs, path, known)
        if not outcome.recalled:
            int8_memory.remember(digest, outcome.answer)
        return outcome

    def _calibration_score(self, variant: VariantName) -> Callable[[Path], tuple[bool, float]]:
        """Gate check of a quantized candidate on the calibration inputs, against the fp32 graph, with
        part of the allowed loss in reserve (see _with_margin); the evaluation inputs are checked
        separately, after."""
        gate = _with_margin(self.recipe.gate(variant))
        return lambda candidate: self.gating.score(candidate, self.fp32, gate)


def _quantization_details(outcome: Outcome) -> dict[str, object]:
    found = "an earlier export's, checked again" if outcome.recalled else "searched"
    return {
        "smoothing_alpha": outcome.answer.smoothing,
        "float_nodes": list(outcome.answer.float_nodes),
        "quantization_trials": outcome.trials,
        "float_nodes_from": found,
    }


def _with_margin(gate: GateSpec) -> GateSpec:
    """A quarter of the allowed accuracy loss is kept in reserve: the worst of a few dozen
    calibration texts understates the worst of the evaluation texts (measured on MiniLM: with no
    reserve the evaluation min cosine missed 0.98; with half in reserve twice as many MatMuls
    stayed float, for no gain the gate asks for)."""

    def tighter(bound: float | None) -> float | None:
        return None if bound is None else 1 - (1 - bound) * 0.75

    return gate.model_copy(
        update={
            "min_mean_cosine": tighter(gate.min_mean_cosine),
            "min_cosine": tighter(gate.min_cosine),
            "min_argmax_agreement": tighter(gate.min_argmax_agreement),
            "min_token_agreement": tighter(gate.min_token_agreement),
        }
    )
