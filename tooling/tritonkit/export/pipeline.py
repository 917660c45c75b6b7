"""Recipe → verified ONNX variants → Triton models. Every variant is gated against the PyTorch
reference on real inputs before it may enter the repository. What a task is lives in export.tasks;
what a variant needs and how it is built, in VARIANTS at the end of this module. A text-generation
variant is a KV-cache decoder gated by greedy decoding, written with its streaming generator model
beside it (export.generation)."""

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
from tritonkit.export import gates, generation, variants
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
    generator: Path | None = None  # text generation: the streaming model written beside `written`


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
    task = TASKS[recipe.task]
    chosen = list(only or recipe.variants)
    if not only and "variants" not in recipe.model_fields_set:  # the defaults: those that apply to the task
        chosen = [v for v in chosen if VARIANTS[v].applies_to(task)]
    written = [model_name(recipe, v) for v in chosen]
    written += [generation.generator_name(name) for name in written] if task.generates else []
    existing = [name for name in written if (repository / name).exists()]
    if existing and not force:
        raise InputError(f"{repository}: {', '.join(existing)} already exist; pass --force to replace them")
    problems = _recipe_problems(recipe, chosen)
    progress(f"resolving {recipe.name} …")
    source: ResolvedSource | None = None
    try:
        source = resolve_source(recipe.source)  # a packaged or local model is read with local_files_only
    except InputError as exc:
        problems.append(str(exc))
    if source and task.generates:
        problems += generation.source_problems(source.folder, recipe.generation)
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

    # A decoder is gated on prompts instead: each evaluation line alone, greedy-decoded.

    @cached_property
    def prompts(self) -> list[list[int]]:
        assert self.recipe.evaluation_texts is not None, "checked by _recipe_problems"
        return self._prompts(self.recipe.evaluation_texts)[: self.recipe.generation.gate_prompts]

    @cached_property
    def decoded(self) -> generation.Decoded:
        self.progress(f"      PyTorch greedy decoding of {len(self.prompts)} evaluation prompts …")
        return generation.decode_torch(self.source, self.prompts, self.recipe.generation.gate_new_tokens)

    @cached_property
    def calibration_prompts(self) -> list[list[int]]:
        """Every calibration line: a token agreement over few prompts is too coarse to rank MatMuls by."""
        assert self.recipe.calibration_texts is not None, "checked by _recipe_problems"
        return self._prompts(self.recipe.calibration_texts)

    def _prompts(self, texts: Path) -> list[list[int]]:
        positions = generation.max_positions(self.source.folder)
        assert positions is not None, "checked by generation.source_problems"
        room = min(self.recipe.max_sequence_length, positions - self.recipe.generation.gate_new_tokens)
        return generation.prompt_ids(self.source.folder, read_texts(texts), room)

    def _decoding_metrics(self, model: Path, prompts: list[list[int]], expected: generation.Decoded
                          ) -> gates.GenerationMetrics:  # fmt: skip
        decoded = generation.decode_onnx(model, prompts, self.recipe.generation.gate_new_tokens)
        return generation.compare(decoded, expected)

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
    def sample(self) -> Batch:
        """Inputs the exporter runs once to size what it left symbolic."""
        if self.task.generates:
            return generation.step_feeds(self.prompts[0], len(self.prompts[0]), {}, position_ids=True)
        return self.reference.batches[0]

    @cached_property
    def fp32(self) -> Path:
        self.progress("      exporting fp32 ONNX (optimum) …")
        return export_fp32(self.source, self.task, self.recipe.opset, self.scratch / "fp32", self.sample)

    @cached_property
    def fp32_on_calibration(self) -> np.ndarray:
        return gates.onnx_outputs(self.fp32, self.calibration, self.task)

    @cached_property
    def fp32_decoded_on_calibration(self) -> generation.Decoded:
        return generation.decode_onnx(self.fp32, self.calibration_prompts, self.recipe.generation.gate_new_tokens)

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

    def variant(self, variant: VariantName, repository: Path, *, force: bool, allow_failed: bool) -> VariantOutcome:
        started = time.perf_counter()
        built = VARIANTS[variant].build(self)
        measured, rows = self._measure(built.path)
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
            details={**built.details, "evaluation_rows": rows, "metrics": vars(measured)},
            created_at=now(),
        )
        if not record.passed and not allow_failed:
            return VariantOutcome(record, None)
        record_path = record.write(self.scratch / f"{name}.{RECORD_FILE}")
        extra = {**serving_files(self.fp32.parent), RECORD_FILE: record_path}
        config = self._config(name, variant, built)
        written = write_model(repository, config, built.path, extra_files=extra, force=force)
        note = "GPU variant: served by the NGC container, not the local CPU server" if variant in GPU_VARIANTS else ""
        generator = None
        if self.task.generates:
            streaming = generation.generator_config(
                name, generation.read_decoder(built.onnx), self.source.folder, self.recipe.generation
            )
            tokenizer = serving_files(self.fp32.parent)  # clients find the tokenizer beside the model they call
            generator = write_model(
                repository, streaming, generation.GENERATOR_SOURCE, extra_files=tokenizer, force=force
            )
        return VariantOutcome(record, written, note, generator)

    def _measure(self, model: Path) -> tuple[gates.Metrics | gates.GenerationMetrics, int]:
        """The variant's gate figures, and how many rows (texts, tokens, images) they cover."""
        if self.task.generates:
            tokens = sum(len(continuation) for continuation in self.decoded.tokens)
            return self._decoding_metrics(model, self.prompts, self.decoded), tokens
        return gates.metrics(self._outputs(model), self.reference.output), len(self.reference.output)

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
        if self.task.generates:
            # Each request carries its own batch and past length, so a decoder does not batch; and
            # its mask is past + new tokens long, which warmup's one size for every dynamic dim
            # cannot express (the generator's first streams warm it instead).
            knobs = knobs.without_batching().model_copy(update={"warmup": None})
        config = model_config.build_config(name, signature, knobs)
        if variant == "tensorrt":
            from tritonkit.export import tensorrt

            if built.path.suffix == ".plan":
                return tensorrt.plan_config(config)
            tensorrt.add_tensorrt_accelerator(
                config, max_batch_size=knobs.max_batch_size, max_sequence_length=self.recipe.max_sequence_length
            )
            if self.task.generates:  # the cache inputs are 4-D, and the mask spans past + new tokens
                positions = generation.max_positions(self.source.folder)
                assert positions is not None, "checked by generation.source_problems"
                shapes = generation.tensorrt_profiles(
                    generation.read_decoder(built.onnx), [t.name for t in config.input], positions
                )
                config.optimization.execution_accelerators.gpu_execution_accelerator[0].parameters.update(shapes)
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

        if self.task.generates:
            # tensorrt.build_plan profiles [batch, sequence] inputs only; a decoder's cache is 4-D.
            self.progress("      TensorRT: a decoder is served by ONNX Runtime's TensorRT execution accelerator")
            return _Built(self.fp32, self.fp32, {"engine": "onnxruntime-tensorrt-accelerator"})
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
            if self.task.generates:
                decoding = self._decoding_metrics(candidate, self.calibration_prompts, self.fp32_decoded_on_calibration)
                passed = all(r.passed for r in gates.check(decoding, gate, self.task))
                return passed, decoding.mean_cosine + decoding.token_agreement
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
            "min_token_agreement": tighter(gate.min_token_agreement),
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
    decoders: bool = True  # it applies to a generating task's KV-cache decoder too

    def applies_to(self, task: Task) -> bool:
        return task.modality in self.modalities and (self.decoders or not task.generates)


VARIANTS: dict[VariantName, Variant] = {
    "fp32": Variant(_Build.build_fp32),
    "optimized": Variant(_Build.build_optimized),
    "int8_dynamic": Variant(_Build.build_int8_dynamic, calibrated=True),
    # Its calibration reads batches of encoder inputs, not a decoder's steps with their cache.
    "int8_static": Variant(_Build.build_int8_static, calibrated=True, decoders=False),
    "fp16": Variant(_Build.build_fp16),
    # Its student is trained on a text file (distillation.text_file) to match an encoder's outputs.
    "distilled": Variant(_Build.build_distilled, modalities=frozenset({"text"}), decoders=False),
    "tensorrt": Variant(_Build.build_tensorrt),
}
assert set(VARIANTS) == set(get_args(VariantName)), "every variant name has its entry"


def _recipe_problems(recipe: RecipeSpec, chosen: Sequence[VariantName]) -> list[str]:
    """What the task and the chosen variants need that the recipe lacks or cannot use, all of it."""
    task = TASKS[recipe.task]
    modality = task.modality
    problems = [
        f"variant {variant} applies to {' and '.join(sorted(VARIANTS[variant].modalities))} tasks, not to {recipe.task}"
        for variant in chosen
        if modality not in VARIANTS[variant].modalities
    ]
    problems += [
        f"variant {variant} applies to encoder tasks, not to {recipe.task} (a KV-cache decoder)"
        for variant in chosen
        if task.generates and not VARIANTS[variant].decoders
    ]
    if not task.generates and "generation" in recipe.model_fields_set:
        problems.append(f"generation: only text-generation decodes; {recipe.task} does not")
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
