"""Recipe → verified ONNX variants → Triton models. Every variant is gated against the PyTorch
reference on real text before it may enter the repository. What a task is lives in export.tasks;
what a variant needs and how it is built, in VARIANTS at the end of this module."""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import get_args

import numpy as np

from tritonkit.errors import InputError
from tritonkit.export import gates, variants
from tritonkit.export.mixed_precision import Outcome, quantize_until_gate, weight_matmuls
from tritonkit.export.onnx_export import export_fp32, serving_files
from tritonkit.export.recipe import read_texts
from tritonkit.export.record import RECORD_FILE, ExportRecord, tool_versions
from tritonkit.export.reference import Reference, pixel_batches, reference, tokenize
from tritonkit.export.source import ResolvedSource, resolve_source
from tritonkit.export.tasks import TASKS, Batch, Modality, Task
from tritonkit.images import image_files, read_rgb, sample_photographs, views
from tritonkit.inputs import listed
from tritonkit.machine import cpu_description, now
from tritonkit.specs import (
    GPU_VARIANTS,
    GateSpec,
    InstanceGroupKnobs,
    OnnxRuntimeKnobs,
    RecipeSpec,
    ServingKnobs,
    SourceSpec,
    VariantName,
)
from tritonkit.triton import model_config, profiles
from tritonkit.triton.model_config import ModelConfig
from tritonkit.triton.onnx_signature import read_signature
from tritonkit.triton.repository import write_model

Progress = Callable[[str], None]
_CALIBRATION_BATCH = 4
_EVALUATION_BATCH = 16


@dataclass(frozen=True)
class VariantOutcome:
    record: ExportRecord
    written: Path | None  # None: gates failed (without --allow-failed) or nothing to write here
    note: str = ""


@dataclass(frozen=True)
class _Built:
    path: Path  # the model file to serve (ONNX, or a TensorRT plan)
    onnx: Path  # the ONNX graph it came from: its signature shapes the config
    details: dict[str, object]


def model_name(recipe: RecipeSpec, variant: str) -> str:
    return f"{recipe.name}_{variant}"


def export(
    recipe: RecipeSpec,
    repository: Path,
    *,
    only: Sequence[VariantName] = (),
    force: bool = False,
    allow_failed: bool = False,
    progress: Progress = print,
) -> list[VariantOutcome]:
    chosen = list(only or recipe.variants)
    if not only and "variants" not in recipe.model_fields_set:  # the defaults: those that apply to the task
        chosen = [v for v in chosen if TASKS[recipe.task].modality in VARIANTS[v].modalities]
    existing = [model_name(recipe, v) for v in chosen if (repository / model_name(recipe, v)).exists()]
    if existing and not force:
        raise InputError(f"{repository}: {', '.join(existing)} already exist; pass --force to replace them")
    problems = _recipe_problems(recipe, chosen)
    progress(f"resolving {recipe.name} …")
    source: ResolvedSource | None = None
    try:
        source = resolve_source(recipe.source)  # a packaged or local model is read with local_files_only
    except InputError as exc:
        problems.append(str(exc))
    task = TASKS[recipe.task]
    if source and task.library == "sentence_transformers" and source.library != "sentence_transformers":
        others = ", ".join(name for name, t in TASKS.items() if t.library == "transformers")
        problems.append(
            f"task {recipe.task} needs a sentence-transformers folder (modules.json with pooling), and "
            f"{source.description} is a plain transformers one; use another task ({others})"
        )
    if problems or source is None:
        raise InputError(f"recipe {recipe.name}:\n" + listed([f"  {problem}" for problem in problems]))
    with tempfile.TemporaryDirectory(prefix="tritonkit-export-") as scratch:
        build = _Build(recipe, source, Path(scratch), progress)
        outcomes = []
        for index, variant in enumerate(chosen, 1):
            progress(f"[{index}/{len(chosen)}] {model_name(recipe, variant)} …")
            outcomes.append(build.variant(variant, repository, force=force, allow_failed=allow_failed))
            progress(f"      {_summary(outcomes[-1])}")
    return outcomes


def _summary(outcome: VariantOutcome) -> str:
    record = outcome.record
    verdict = (
        "gates passed"
        if record.passed
        else "GATES FAILED: " + "; ".join(g.describe() for g in record.gates if not g.passed)
    )
    where = f"→ {outcome.written}" if outcome.written else "not written"
    return f"{verdict} ({record.export_seconds:.1f} s, {record.file_bytes / 1e6:.1f} MB) {where}" + (
        f"; {outcome.note}" if outcome.note else ""
    )


class _Build:
    """Artifacts shared between variants (fp32, optimized, the reference), built once on demand."""

    def __init__(self, recipe: RecipeSpec, source: ResolvedSource, scratch: Path, progress: Progress) -> None:
        self.recipe, self.source, self.scratch, self.progress = recipe, source, scratch, progress
        self.task: Task = TASKS[recipe.task]

    @cached_property
    def reference(self) -> Reference:
        self.progress(f"      PyTorch reference on the evaluation {self.task.modality}s …")
        batches = self._feeds(self.recipe.evaluation_texts, self.recipe.evaluation_images, 0, _EVALUATION_BATCH)
        return reference(self.source, self.task, batches)

    @cached_property
    def calibration(self) -> list[Batch]:
        return self._feeds(self.recipe.calibration_texts, self.recipe.calibration_images, 1, _CALIBRATION_BATCH)

    def _feeds(self, texts: Path | None, images: Path | None, half: int, batch_size: int) -> list[Batch]:
        """Real inputs as model feeds: the text file's lines tokenized, or the photographs' views
        preprocessed. Without a folder, scikit-image's photographs are split in two halves, one to
        evaluate on and one to calibrate on, so a calibrated variant is not gated on what it saw."""
        if self.task.modality == "image":
            files = image_files(images) if images is not None else sample_photographs()[half::2]
            photos = [view for file in files for view in views(read_rgb(file))]
            return pixel_batches(self.source.folder, photos, batch_size)
        assert texts is not None, "checked by _recipe_problems"
        return tokenize(self.source.folder, read_texts(texts), self.recipe.max_sequence_length, batch_size)

    @cached_property
    def fp32(self) -> Path:
        self.progress("      exporting fp32 ONNX (optimum) …")
        return export_fp32(self.source, self.task, self.recipe.opset, self.scratch / "fp32", self.reference.batches[0])

    @cached_property
    def fp32_on_calibration(self) -> np.ndarray:
        return gates.onnx_outputs(self.fp32, self.calibration, self.task)

    @cached_property
    def optimized(self) -> tuple[Path, dict[str, int]]:
        path = self.scratch / "optimized.onnx"
        return path, variants.optimize(self.fp32, path, variants.optimizer_model_type(self.source.folder))

    @cached_property
    def prepared(self) -> tuple[Path, list[str]]:
        """fp32 after ONNX Runtime's quantization pre-processing, and its activation-by-activation MatMuls."""
        path = self.scratch / "prepared.onnx"
        return path, variants.prepare_for_quantization(self.fp32, path)

    def variant(self, variant: VariantName, repository: Path, *, force: bool, allow_failed: bool) -> VariantOutcome:
        started = time.perf_counter()
        built = VARIANTS[variant].build(self)
        measured = gates.metrics(self._outputs(built.path), self.reference.output)
        results = gates.check(measured, self.recipe.gate(variant), self.task)
        cpu, features = cpu_description()
        name = model_name(self.recipe, variant)
        record = ExportRecord(
            model=name,
            variant=variant,
            task=self.recipe.task,
            source=self.source.description,
            source_sha256=self.source.sha256,
            opset=self.recipe.opset,
            tools=tool_versions(),
            cpu=cpu,
            cpu_features=features,
            gates=results,
            passed=all(r.passed for r in results),
            file_bytes=built.path.stat().st_size,
            export_seconds=round(time.perf_counter() - started, 2),
            details={**built.details, "evaluation_rows": len(self.reference.output), "metrics": vars(measured)},
            created_at=now(),
        )
        if not record.passed and not allow_failed:
            return VariantOutcome(record, None)
        record_path = record.write(self.scratch / f"{name}.{RECORD_FILE}")
        extra = {**serving_files(self.fp32.parent), RECORD_FILE: record_path}
        config = self._config(name, variant, built)
        written = write_model(repository, config, built.path, extra_files=extra, force=force)
        note = "GPU variant: served by the NGC container, not the local CPU server" if variant in GPU_VARIANTS else ""
        return VariantOutcome(record, written, note)

    def _outputs(self, model: Path) -> np.ndarray:
        """The served artifact itself runs on the evaluation texts, a TensorRT plan included."""
        if model.suffix == ".plan":
            from tritonkit.export import tensorrt

            return tensorrt.plan_outputs(model, self.reference.batches, self.task)
        return gates.onnx_outputs(model, self.reference.batches, self.task)

    def _config(self, name: str, variant: VariantName, built: _Built) -> ModelConfig:
        knobs = self.recipe.knobs or profiles.profile(self.recipe.profile)
        knobs = knobs.warmed_up_at(self.recipe.max_sequence_length)  # the longest sequence it serves
        if variant in GPU_VARIANTS:
            knobs = _on_gpu(knobs)
        signature = read_signature(built.onnx)
        if knobs.max_batch_size and not signature.batchable:
            knobs = knobs.without_batching()
        config = model_config.build_config(name, signature, knobs)
        if variant == "tensorrt":
            from tritonkit.export import tensorrt

            if built.path.suffix == ".plan":
                return tensorrt.plan_config(config)
            tensorrt.add_tensorrt_accelerator(
                config, max_batch_size=knobs.max_batch_size, max_sequence_length=self.recipe.max_sequence_length
            )
        return config

    # -- one builder per variant ---------------------------------------------------------------

    def build_fp32(self) -> _Built:
        return _Built(self.fp32, self.fp32, {})

    def build_optimized(self) -> _Built:
        path, fusions = self.optimized
        return _Built(path, path, {"fusions": fusions})

    def build_fp16(self) -> _Built:
        path = self.scratch / "fp16.onnx"
        variants.fp16(self.optimized[0], path)
        return _Built(path, path, {"fusions": self.optimized[1], "io": "float32 inputs and outputs"})

    def build_int8_dynamic(self) -> _Built:
        path = self.scratch / "int8_dynamic.onnx"
        prepared, _ = self.prepared
        outcome = quantize_until_gate(
            lambda out, keep: variants.int8_dynamic(prepared, out, keep),
            self._calibration_score("int8_dynamic"),
            weight_matmuls(prepared),
            path,
        )
        return _Built(path, path, _quantization_details(outcome))

    def build_int8_static(self) -> _Built:
        path = self.scratch / "int8_static.onnx"
        prepared, activation_matmuls = self.prepared
        outcome = quantize_until_gate(
            lambda out, keep: variants.int8_static(prepared, out, self.calibration, activation_matmuls + keep),
            self._calibration_score("int8_static"),
            weight_matmuls(prepared),
            path,
        )
        calibrated_on = sum(len(next(iter(b.values()))) for b in self.calibration)  # texts or images
        return _Built(path, path, {**_quantization_details(outcome), "calibration_inputs": calibrated_on})

    def build_distilled(self) -> _Built:
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
            self.reference.batches[0],
        )
        details: dict[str, object] = {
            "kept_layers": student.kept_layers,
            "distilled_on": str(spec.text_file) if student.final_loss is not None else None,
            "steps": spec.steps if student.final_loss is not None else 0,
            "final_loss": student.final_loss,
        }
        return _Built(path, path, details)

    def build_tensorrt(self) -> _Built:
        from tritonkit.export import tensorrt

        if not tensorrt.gpu_available():
            self.progress("      TensorRT plan: built on a GPU host only; writing the ONNX model with ONNX Runtime's "
                          "TensorRT execution accelerator configured instead")  # fmt: skip
            return _Built(self.fp32, self.fp32, {"engine": "onnxruntime-tensorrt-accelerator"})
        knobs = self.recipe.knobs or profiles.profile(self.recipe.profile)
        plan = tensorrt.build_plan(
            self.fp32,
            self.scratch / "model.plan",
            max_batch_size=knobs.max_batch_size,
            max_sequence_length=self.recipe.max_sequence_length,
        )
        return _Built(plan, self.fp32, {"engine": "tensorrt-plan"})

    def _calibration_score(self, variant: VariantName) -> Callable[[Path], tuple[bool, float]]:
        """Gate check of a quantized candidate on the calibration texts, against the fp32 graph, with
        part of the allowed loss in reserve (see _with_margin); the evaluation texts are checked
        separately, after."""
        gate = _with_margin(self.recipe.gate(variant))

        def score(candidate: Path) -> tuple[bool, float]:
            measured = gates.metrics(
                gates.onnx_outputs(candidate, self.calibration, self.task), self.fp32_on_calibration
            )
            passed = all(r.passed for r in gates.check(measured, gate, self.task))
            return passed, measured.min_cosine + measured.argmax_agreement

        return score


def _quantization_details(outcome: Outcome) -> dict[str, object]:
    return {"float_nodes": list(outcome.float_nodes), "quantization_trials": outcome.trials}


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
        }
    )


def _on_gpu(knobs: ServingKnobs) -> ServingKnobs:
    """GPU variants: one GPU instance; CPU thread settings mean nothing there."""
    return knobs.model_copy(
        update={"instance_groups": (InstanceGroupKnobs(kind="KIND_GPU", count=1),), "onnxruntime": OnnxRuntimeKnobs()}
    )


@dataclass(frozen=True)
class Variant:
    build: Callable[[_Build], _Built]
    # int8 keeps float the MatMuls that cost accuracy on real calibration inputs: only it reads them.
    calibrated: bool = False
    modalities: frozenset[Modality] = frozenset(get_args(Modality))  # the tasks' inputs it applies to


VARIANTS: dict[VariantName, Variant] = {
    "fp32": Variant(_Build.build_fp32),
    "optimized": Variant(_Build.build_optimized),
    "int8_dynamic": Variant(_Build.build_int8_dynamic, calibrated=True),
    "int8_static": Variant(_Build.build_int8_static, calibrated=True),
    "fp16": Variant(_Build.build_fp16),
    # Its student is trained on a text file (distillation.text_file).
    "distilled": Variant(_Build.build_distilled, modalities=frozenset({"text"})),
    "tensorrt": Variant(_Build.build_tensorrt),
}
assert set(VARIANTS) == set(get_args(VariantName)), "every variant name has its entry"


def _recipe_problems(recipe: RecipeSpec, chosen: Sequence[VariantName]) -> list[str]:
    """What the task and the chosen variants need that the recipe lacks or cannot use, all of it."""
    modality = TASKS[recipe.task].modality
    problems = [
        f"variant {variant} applies to {' and '.join(sorted(VARIANTS[variant].modalities))} tasks, not to {recipe.task}"
        for variant in chosen
        if modality not in VARIANTS[variant].modalities
    ]
    inputs = {"text": ("evaluation_texts", "calibration_texts"), "image": ("evaluation_images", "calibration_images")}
    for other, fields in inputs.items():
        if other != modality:
            problems += [f"{f}: {recipe.task} takes {modality} inputs" for f in fields if getattr(recipe, f)]
    if modality == "text":  # images default to scikit-image's photographs; text has no default
        if recipe.evaluation_texts is None:
            problems.append(f"evaluation_texts: task {recipe.task} is gated on real text (a file, a line each)")
        problems += [
            f"variant {variant} needs calibration_texts (real text, a line each); the recipe has none"
            for variant in chosen
            if VARIANTS[variant].calibrated and recipe.calibration_texts is None
        ]
    return problems
