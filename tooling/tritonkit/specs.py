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
