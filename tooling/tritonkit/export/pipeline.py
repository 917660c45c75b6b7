"""Recipe → verified ONNX variants → Triton models. Every variant is gated against the PyTorch
reference on real inputs before it may enter the repository. What a task is lives in export.tasks;
what a variant needs and how it is built, in VARIANTS at the end of this module; how a kind of task
(an encoder, a KV-cache decoder, CLIP's two towers) is gated and served, in its family here: a
decoder is written with its streaming generator model beside it (export.generation), CLIP's towers
with the model composed from them (export.zero_shot)."""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from functools import cached_property, partial
from pathlib import Path
from typing import Protocol, get_args

from tritonkit.errors import InputError
from tritonkit.export import cascade, gates, generation, heads, zero_shot
from tritonkit.export.gating import GreedyGating, Measured, Progress, RowGating
from tritonkit.export.graph import Built, Graph
from tritonkit.export.onnx_export import serving_files
from tritonkit.export.recipe import read_texts
from tritonkit.export.record import RECORD_FILE, ExportRecord, tool_versions
from tritonkit.export.reference import fit_problems, photograph_batches, tokenize
from tritonkit.export.source import ResolvedSource, resolve_source
from tritonkit.export.tasks import TASKS, Batch, Input, Task
from tritonkit.images import header_problems, image_files, sample_photographs
from tritonkit.inputs import listed
from tritonkit.machine import cpu_description, now
from tritonkit.specs import (
    GPU_VARIANTS,
    InstanceGroupKnobs,
    OnnxRuntimeKnobs,
    RecipeSpec,
    ServingKnobs,
    TextModelSpec,
    VariantName,
)
from tritonkit.triton import model_config, profiles, text_model
from tritonkit.triton.model_config import ModelConfig
from tritonkit.triton.onnx_signature import read_signature
from tritonkit.triton.repository import write_model
from tritonkit.triton.text_model import tokenizer_name, write_text_model

_CALIBRATION_BATCH = 4
_EVALUATION_BATCH = 16
Companion = tuple[ModelConfig, Path, dict[str, Path]]  # a model written beside the graphs': config, file, extras


@dataclass(frozen=True)
class VariantOutcome:
    record: ExportRecord
    written: Path | None  # the model clients call; None: gates failed (without --allow-failed)
    note: str = ""
    companions: tuple[Path, ...] = ()  # the other models written with it (a generator, CLIP's towers)


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
    if only and recipe.text_model is not None and recipe.text_model.variant not in chosen:
        progress(f"{text_model_name(recipe)}: not written, its encoder variant {recipe.text_model.variant} "
                 "is not among --variants")  # fmt: skip
        recipe = recipe.model_copy(update={"text_model": None})
    if only:
        dropped = [c for c in recipe.cascades if not {c.small, c.large} <= set(_headed(chosen))]
        for spec in dropped:
            progress(f"{cascade.cascade_name(recipe.name, spec.head)}: not written, its variants {spec.small} and "
                     f"{spec.large} are not both among --variants")  # fmt: skip
        recipe = recipe.model_copy(update={"cascades": tuple(c for c in recipe.cascades if c not in dropped)})
    family_class = _family_class(task)
    written = [name for v in chosen for name in family_class.model_names(model_name(recipe, v))]
    if recipe.text_model is not None:
        written += [text_model_name(recipe), tokenizer_name(text_model_name(recipe))]
    written += [heads.head_model_name(recipe.name, h.name, v) for h in recipe.heads for v in _headed(chosen)]
    written += [cascade.cascade_name(recipe.name, c.head) for c in recipe.cascades]
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
    if source:
        problems += _source_problems(recipe, source)
    if recipe.text_model is not None:
        problems += text_model.existing_problems(repository, text_model_name(recipe), force=force)
        if source:
            problems += text_model.source_length_problems(source.folder, recipe.max_sequence_length)
    if problems or source is None:
        raise InputError(f"recipe {recipe.name}:\n" + listed([f"  {problem}" for problem in problems]))
    with tempfile.TemporaryDirectory(prefix="tritonkit-export-") as scratch:
        family = family_class(recipe, source, Path(scratch), progress)
        shipped = serving_files(source.folder, task.inputs, Path(scratch) / "serving")
        outcomes = []
        for index, variant in enumerate(chosen, 1):
            progress(f"[{index}/{len(chosen)}] {model_name(recipe, variant)} …")
            outcomes.append(
                _variant(recipe, source, family, variant, repository, Path(scratch), shipped, force=force,
                         allow_failed=allow_failed)
            )  # fmt: skip
            progress(f"      {_summary(outcomes[-1])}")
        encoders = [(o.record, o.written) for o in outcomes if o.written and o.record.variant in _headed(chosen)]
        fitted = heads.write_heads(
            recipe, source.folder, encoders, repository, Path(scratch), force=force, progress=progress
        )
        cascade.write_cascades(recipe, fitted, repository, Path(scratch), force=force, progress=progress)
    if recipe.text_model is not None:
        _write_text_model(recipe, recipe.text_model, outcomes, repository, force=force, progress=progress)
    return outcomes


def _headed(chosen: Sequence[VariantName]) -> list[VariantName]:
    """The variants heads are trained on: the CPU ones (their embeddings are computed here)."""
    return [variant for variant in chosen if variant not in GPU_VARIANTS]


def text_model_name(recipe: RecipeSpec) -> str:
    return f"{recipe.name}_text"


def _write_text_model(recipe: RecipeSpec, spec: TextModelSpec, outcomes: list[VariantOutcome], repository: Path,
                      *, force: bool, progress: Progress) -> None:  # fmt: skip
    encoder = next(o for o in outcomes if o.record.variant == spec.variant)
    if encoder.written is None:
        progress(f"{text_model_name(recipe)}: not written, its encoder {encoder.record.model} failed its gates")
        return
    text = write_text_model(
        repository, text_model_name(recipe), encoder.record.model, spec, recipe.max_sequence_length, force=force
    )
    padding = f"buckets {list(text.buckets)}" if text.buckets else "the longest text of each batch"
    progress(f"{text.ensemble.name}: strings in, tokenized by {text.tokenizer.name} (padded to {padding}, "
             f"truncated at {text.max_length} tokens), into {encoder.record.model} → {text.ensemble}")  # fmt: skip


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


def _variant(
    recipe: RecipeSpec,
    source: ResolvedSource,
    family: _Family,
    variant: VariantName,
    repository: Path,
    scratch: Path,
    shipped: Mapping[str, Path],
    *,
    force: bool,
    allow_failed: bool,
) -> VariantOutcome:
    started = time.perf_counter()
    built = {suffix: VARIANTS[variant].build(graph) for suffix, graph in family.graphs.items()}
    measured, rows = family.measure(built)
    task = TASKS[recipe.task]
    results = gates.check(measured, recipe.gate(variant), task)
    cpu, features = cpu_description()
    name = model_name(recipe, variant)
    details = (
        {**built[""].details}
        if list(built) == [""]
        else {suffix.strip("_"): one.details for suffix, one in built.items()}  # per graph
    )
    record = ExportRecord(
        model=name,
        variant=variant,
        task=recipe.task,
        source=source.description,
        source_sha256=source.sha256,
        opset=recipe.opset,
        tools=tool_versions(),
        cpu=cpu,
        cpu_features=features,
        gates=results,
        passed=all(r.passed for r in results),
        file_bytes=sum(one.path.stat().st_size for one in built.values()),
        export_seconds=round(time.perf_counter() - started, 2),
        details={**details, "evaluation_rows": rows, "metrics": vars(measured)},
        created_at=now(),
    )
    if not record.passed and not allow_failed:
        return VariantOutcome(record, None)
    record_path = record.write(scratch / f"{name}.{RECORD_FILE}")
    extra = {**shipped, RECORD_FILE: record_path}
    configs = {suffix: _config(recipe, family, name + suffix, variant, one) for suffix, one in built.items()}
    models = [
        write_model(repository, configs[suffix], one.path, extra_files=extra, force=force)
        for suffix, one in built.items()
    ]
    models += [
        write_model(repository, config, file, extra_files=files, force=force)
        for config, file, files in family.companions(name, configs, built, extra)
    ]
    called = next(model for model in models if model.name == name)
    note = "GPU variant: served by the NGC container, not the local CPU server" if variant in GPU_VARIANTS else ""
    return VariantOutcome(record, called, note, tuple(m for m in models if m != called))


def _config(recipe: RecipeSpec, family: _Family, name: str, variant: VariantName, built: Built) -> ModelConfig:
    knobs = recipe.knobs or profiles.profile(recipe.profile)
    knobs = knobs.warmed_up_at(recipe.max_sequence_length)  # the longest sequence it serves
    if variant in GPU_VARIANTS:
        knobs = _on_gpu(knobs)
    signature = read_signature(built.onnx)
    if knobs.max_batch_size and not signature.batchable:
        knobs = knobs.without_batching()
    config = model_config.build_config(name, signature, family.knobs(knobs))
    if variant == "tensorrt":
        from tritonkit.export import tensorrt

        if built.path.suffix == ".plan":
            return tensorrt.plan_config(config)
        tensorrt.add_tensorrt_accelerator(config, signature, max_batch_size=knobs.max_batch_size,
                                          max_sequence_length=recipe.max_sequence_length)  # fmt: skip
        family.configure(config, built, variant)
    return config


def _on_gpu(knobs: ServingKnobs) -> ServingKnobs:
    """GPU variants: one GPU instance; CPU thread settings mean nothing there."""
    return knobs.model_copy(
        update={"instance_groups": (InstanceGroupKnobs(kind="KIND_GPU", count=1),), "onnxruntime": OnnxRuntimeKnobs()}
    )


# -- the families -----------------------------------------------------------------------------------


class _Family(Protocol):
    """One kind of task: the graphs it exports, and how a variant of them is gated and served."""

    graphs: dict[str, Graph]  # by the suffix of each graph's Triton model name ("": the variant's name)

    def __init__(self, recipe: RecipeSpec, source: ResolvedSource, scratch: Path, progress: Progress) -> None: ...

    @staticmethod
    def model_names(name: str) -> list[str]:
        """Every model a variant named `name` writes."""

    def measure(self, built: Mapping[str, Built]) -> tuple[Measured, int]:
        """The variant's gate figures, and how many rows (texts, tokens, images) they cover."""

    def knobs(self, knobs: ServingKnobs) -> ServingKnobs:
        """The profile's knobs as this kind of graph can be served with them."""

    def configure(self, config: ModelConfig, built: Built, variant: VariantName) -> None:
        """A GPU accelerator's settings beyond the batch and sequence axes tensorrt gives."""

    def companions(self, name: str, configs: Mapping[str, ModelConfig], built: Mapping[str, Built],
                   extra: Mapping[str, Path]) -> list[Companion]:  # fmt: skip
        """The models written beside the graphs'."""


class _Inputs:
    """The recipe's real inputs as feeds: text lines tokenized, or photographs' views prepared.
    Without a folder, scikit-image's photographs are split in two halves, one to evaluate on and
    one to calibrate on, so a calibrated variant is not gated on what it saw."""

    def __init__(self, recipe: RecipeSpec, folder: Path, modality: Input, leading_texts: Sequence[str] = ()) -> None:
        self.recipe, self.folder, self.modality, self.leading = recipe, folder, modality, list(leading_texts)

    def evaluation(self) -> list[Batch]:
        return self._feeds(self.recipe.evaluation_texts, self.recipe.evaluation_images, 0, _EVALUATION_BATCH)

    def calibration(self) -> list[Batch]:
        return self._feeds(self.recipe.calibration_texts, self.recipe.calibration_images, 1, _CALIBRATION_BATCH)

    def _feeds(self, texts: Path | None, images: Path | None, half: int, batch_size: int) -> list[Batch]:
        if self.modality == "image":
            files = image_files(images) if images is not None else sample_photographs()[half::2]
            return photograph_batches(self.folder, files, batch_size)
        assert texts is not None, "checked by _recipe_problems"
        lines = (self.leading if half == 0 else []) + read_texts(texts)
        return tokenize(self.folder, lines, self.recipe.max_sequence_length, batch_size)


class _Encoder:
    """One encoder graph, gated on its output rows."""

    def __init__(self, recipe: RecipeSpec, source: ResolvedSource, scratch: Path, progress: Progress) -> None:
        task = TASKS[recipe.task]
        inputs = _Inputs(recipe, source.folder, next(iter(task.inputs)))
        self.gating = RowGating(source, task, inputs.evaluation, inputs.calibration, progress)
        self.graphs = {"": Graph(recipe, source, task, self.gating, scratch, progress)}

    @staticmethod
    def model_names(name: str) -> list[str]:
        return [name]

    def measure(self, built: Mapping[str, Built]) -> tuple[Measured, int]:
        return self.gating.measure(built[""].path)

    def knobs(self, knobs: ServingKnobs) -> ServingKnobs:
        return knobs

    def configure(self, config: ModelConfig, built: Built, variant: VariantName) -> None:
        return None

    def companions(self, name: str, configs: Mapping[str, ModelConfig], built: Mapping[str, Built],
                   extra: Mapping[str, Path]) -> list[Companion]:  # fmt: skip
        return []


class _Decoder:
    """A KV-cache decoder gated by greedy decoding, with its streaming generator model beside it."""

    def __init__(self, recipe: RecipeSpec, source: ResolvedSource, scratch: Path, progress: Progress) -> None:
        self.recipe, self.source = recipe, source
        positions = generation.max_positions(source.folder)
        assert positions is not None, "checked by generation.source_problems"
        self.positions = positions
        room = min(recipe.max_sequence_length, positions - recipe.generation.gate_new_tokens)

        def prompts(texts: Path | None) -> Callable[[], list[list[int]]]:
            assert texts is not None, "checked by _recipe_problems"
            return lambda: generation.prompt_ids(source.folder, read_texts(texts), room)

        task = TASKS[recipe.task]
        self.gating = GreedyGating(
            source, task, recipe.generation, prompts(recipe.evaluation_texts), prompts(recipe.calibration_texts),
            progress,
        )  # fmt: skip
        self.graphs = {"": Graph(recipe, source, task, self.gating, scratch, progress)}

    @staticmethod
    def model_names(name: str) -> list[str]:
        return [name, generation.generator_name(name)]

    def measure(self, built: Mapping[str, Built]) -> tuple[Measured, int]:
        return self.gating.measure(built[""].path)

    def knobs(self, knobs: ServingKnobs) -> ServingKnobs:
        # Each request carries its own batch and past length, so a decoder does not batch; and its
        # mask is past + new tokens long, which warmup's one size for every dynamic dim cannot
        # express (the generator's first streams warm it instead).
        return knobs.without_batching().model_copy(update={"warmup": None})

    def configure(self, config: ModelConfig, built: Built, variant: VariantName) -> None:
        # The cache inputs are 4-D, and the mask spans past + new tokens.
        shapes = generation.tensorrt_profiles(
            generation.read_decoder(built.onnx), [t.name for t in config.input], self.positions
        )
        config.optimization.execution_accelerators.gpu_execution_accelerator[0].parameters.update(shapes)

    def companions(self, name: str, configs: Mapping[str, ModelConfig], built: Mapping[str, Built],
                   extra: Mapping[str, Path]) -> list[Companion]:  # fmt: skip
        decoder = generation.read_decoder(built[""].onnx)
        streaming = generation.generator_config(name, decoder, self.source.folder, self.recipe.generation)
        tokenizer = {k: v for k, v in extra.items() if k.startswith("tokenizer/")}  # clients tokenize with it
        return [(streaming, generation.GENERATOR_SOURCE, tokenizer)]


class _ZeroShot(_Encoder):
    """CLIP's text and image towers, each gated on its embeddings, and the model composed from
    them, gated on the similarities of the evaluation images to the labels."""

    def __init__(self, recipe: RecipeSpec, source: ResolvedSource, scratch: Path, progress: Progress) -> None:
        assert recipe.labels is not None, "checked by _recipe_problems"
        self.recipe, self.source, self.scratch, self.labels = recipe, source, scratch, recipe.labels
        text = _Inputs(recipe, source.folder, "text", leading_texts=self.labels)  # the labels are rows 0..n-1
        image = _Inputs(recipe, source.folder, "image")
        self.towers = {
            tower.suffix: RowGating(source, tower, inputs.evaluation, inputs.calibration, progress)
            for tower, inputs in ((zero_shot.TEXT_TOWER, text), (zero_shot.IMAGE_TOWER, image))
        }
        self.graphs = {
            tower.suffix: Graph(
                recipe, source, tower, self.towers[tower.suffix], scratch / tower.suffix.strip("_"), progress,
                exporter=partial(zero_shot.export_tower, source, tower, recipe.opset),
            )
            for tower in (zero_shot.TEXT_TOWER, zero_shot.IMAGE_TOWER)
        }  # fmt: skip

    @staticmethod
    def model_names(name: str) -> list[str]:
        return [name, *(name + tower.suffix for tower in (zero_shot.TEXT_TOWER, zero_shot.IMAGE_TOWER))]

    @cached_property
    def label_tokens(self) -> Batch:
        (tokens,) = tokenize(self.source.folder, list(self.labels), self.recipe.max_sequence_length, len(self.labels))
        return tokens

    @cached_property
    def expected(self) -> zero_shot.Similarities:
        images = self.towers[zero_shot.IMAGE_TOWER.suffix].reference.batches
        return zero_shot.reference_similarities(self.source, self.label_tokens, images)

    def measure(self, built: Mapping[str, Built]) -> tuple[Measured, int]:
        text, image = (self.towers[t.suffix] for t in (zero_shot.TEXT_TOWER, zero_shot.IMAGE_TOWER))
        text_rows, image_rows = (tower.outputs(built[suffix].path) for suffix, tower in self.towers.items())
        combined = zero_shot.metrics(
            gates.metrics(text_rows, text.reference.output),
            gates.metrics(image_rows, image.reference.output),
            text_rows[: len(self.labels)],
            image_rows,
            self.expected,
            (len(text_rows), len(image_rows)),
        )
        return combined, len(text_rows) + len(image_rows)

    def companions(self, name: str, configs: Mapping[str, ModelConfig], built: Mapping[str, Built],
                   extra: Mapping[str, Path]) -> list[Companion]:  # fmt: skip
        text, image = (configs[t.suffix] for t in (zero_shot.TEXT_TOWER, zero_shot.IMAGE_TOWER))
        composed = zero_shot.composed_config(name, image, text, self.expected.logit_scale, len(self.labels))
        files = {**extra, **zero_shot.label_files(self.labels, self.label_tokens, self.scratch)}
        return [(composed, zero_shot.COMPOSED_SOURCE, files)]


def _family_class(task: Task) -> type[_Family]:
    if task.generates:
        return _Decoder
    return _ZeroShot if task.inputs == {"text", "image"} else _Encoder


def _source_problems(recipe: RecipeSpec, source: ResolvedSource) -> list[str]:
    """What the task needs of the source that it lacks."""
    task = TASKS[recipe.task]
    if task.library == "sentence_transformers" and source.library != "sentence_transformers":
        others = ", ".join(name for name, t in TASKS.items() if t.library == "transformers")
        return [
            f"task {recipe.task} needs a sentence-transformers folder (modules.json with pooling), and "
            f"{source.description} is a plain transformers one; use another task ({others})"
        ]
    problems = fit_problems(source.folder, task, recipe.task)
    if task.generates:
        problems += generation.source_problems(source.folder, recipe.generation)
    if _family_class(task) is _ZeroShot:
        problems += zero_shot.source_problems(source.folder, recipe.max_sequence_length)
    return problems


@dataclass(frozen=True)
class Variant:
    build: Callable[[Graph], Built]
    # int8 keeps float the MatMuls that cost accuracy on real calibration inputs: only it reads them.
    calibrated: bool = False
    inputs: frozenset[Input] = frozenset({"text", "image"})  # the task inputs it applies to
    decoders: bool = True  # it applies to a generating task's KV-cache decoder too

    def applies_to(self, task: Task) -> bool:
        return task.inputs <= self.inputs and (self.decoders or not task.generates)


VARIANTS: dict[VariantName, Variant] = {
    "fp32": Variant(Graph.build_fp32),
    "optimized": Variant(Graph.build_optimized),
    "int8_dynamic": Variant(Graph.build_int8_dynamic, calibrated=True),
    # Its calibration reads batches of encoder inputs, not a decoder's steps with their cache.
    "int8_static": Variant(Graph.build_int8_static, calibrated=True, decoders=False),
    "fp16": Variant(Graph.build_fp16),
    # Its student is trained on a text file (distillation.text_file) to match an encoder's outputs.
    "distilled": Variant(Graph.build_distilled, inputs=frozenset({"text"}), decoders=False),
    "tensorrt": Variant(Graph.build_tensorrt),
}
assert set(VARIANTS) == set(get_args(VariantName)), "every variant name has its entry"
_INPUT_FIELDS: dict[Input, tuple[str, str]] = {
    "text": ("evaluation_texts", "calibration_texts"),
    "image": ("evaluation_images", "calibration_images"),
}


def _recipe_problems(recipe: RecipeSpec, chosen: Sequence[VariantName]) -> list[str]:
    """What the task and the chosen variants need that the recipe lacks or cannot use, all of it."""
    task = TASKS[recipe.task]
    problems = [
        f"variant {variant} applies to {' and '.join(sorted(VARIANTS[variant].inputs))} tasks, "
        f"not to {recipe.task} ({task.modality})"
        for variant in chosen
        if not task.inputs <= VARIANTS[variant].inputs
    ]
    problems += [
        f"variant {variant} applies to encoder tasks, not to {recipe.task} (a KV-cache decoder)"
        for variant in chosen
        if task.generates and not VARIANTS[variant].decoders
    ]
    if not task.generates and "generation" in recipe.model_fields_set:
        problems.append(f"generation: only text-generation decodes; {recipe.task} does not")
    problems += _text_model_problems(recipe, task, chosen)
    if recipe.heads and recipe.task != "sentence-embedding":
        problems.append(f"heads: a head is trained on sentence embeddings; {recipe.task} gives none "
                        "(use task sentence-embedding)")  # fmt: skip
    problems += _cascade_problems(recipe, chosen)
    zero_shot_task = _family_class(task) is _ZeroShot
    if zero_shot_task and recipe.labels is None:
        problems.append(f"labels: task {recipe.task} scores images against labels (at least 2 texts)")
    if not zero_shot_task and recipe.labels is not None:
        problems.append(f"labels: only zero-shot-image-classification takes labels; {recipe.task} does not")
    for kind, fields in _INPUT_FIELDS.items():
        if kind not in task.inputs:
            problems += [f"{f}: {recipe.task} takes {task.modality} inputs" for f in fields if getattr(recipe, f)]
    if "text" in task.inputs:  # images default to scikit-image's photographs; text has no default
        if recipe.evaluation_texts is None:
            problems.append(f"evaluation_texts: task {recipe.task} is gated on real text (a file, a line each)")
        problems += [
            f"variant {variant} needs calibration_texts (real text, a line each); the recipe has none"
            for variant in chosen
            if VARIANTS[variant].calibrated and recipe.calibration_texts is None
        ]
    if "image" in task.inputs:
        problems += _image_problems(recipe, chosen)
    return problems


def _text_model_problems(recipe: RecipeSpec, task: Task, chosen: Sequence[VariantName]) -> list[str]:
    spec = recipe.text_model
    if spec is None:
        return []
    if _family_class(task) is not _Encoder or task.inputs != {"text"}:
        return [f"text_model: strings go into a text encoder; {recipe.task} is not one"]
    problems = []
    if spec.variant not in chosen:
        problems.append(f"text_model.variant {spec.variant} is not among the variants exported ({', '.join(chosen)})")
    too_long = [b for b in spec.buckets if b > recipe.max_sequence_length]
    if spec.padding == "buckets" and too_long and "buckets" in spec.model_fields_set:
        problems.append(f"text_model.buckets {too_long}: longer than max_sequence_length {recipe.max_sequence_length}, "
                        "where texts are truncated")  # fmt: skip
    return problems


def _cascade_problems(recipe: RecipeSpec, chosen: Sequence[VariantName]) -> list[str]:
    heads_named = [head.name for head in recipe.heads]
    problems = []
    for index, spec in enumerate(recipe.cascades):
        if spec.head not in heads_named:
            problems.append(f"cascades[{index}].head {spec.head}: not one of the recipe's heads "
                            f"({', '.join(heads_named) or 'none'})")  # fmt: skip
        for role in ("small", "large"):
            variant = getattr(spec, role)
            if variant not in _headed(chosen):
                problems.append(f"cascades[{index}].{role} {variant}: heads are trained on the CPU variants exported "
                                f"({', '.join(_headed(chosen)) or 'none'})")  # fmt: skip
    return problems


def _image_problems(recipe: RecipeSpec, chosen: Sequence[VariantName]) -> list[str]:
    """Every photograph the export will read, checked by its header now: a bad one found mid-export
    would leave the variants before it written."""
    folders = [recipe.evaluation_images]
    if any(VARIANTS[variant].calibrated for variant in chosen):
        folders.append(recipe.calibration_images)
    problems: list[str] = []
    for folder in dict.fromkeys(folders):
        try:
            problems += header_problems(image_files(folder))
        except InputError as exc:
            problems.append(str(exc))
    return problems
