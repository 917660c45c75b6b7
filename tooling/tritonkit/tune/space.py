"""The search space: a YAML file (defaults built in) of the values each dimension takes, expanded
into every valid Candidate for one target. Pure.

Dimensions: variant x max_batch_size x dynamic batching on/off x queue delay x preferred batch
size sets x instances x intra-op threads (instances x threads within the cores, plus one
oversubscribed pair to show what it costs) x queue policy (open-loop targets) or client batch size
(closed-loop targets) x token buckets (text targets at natural lengths) x any further config.pbtxt
field (`fields`). A combination that means the same
served configuration as another (e.g. a queue delay without the batcher) is enumerated once.
"""

from __future__ import annotations

import hashlib
import itertools
import math
from collections.abc import Iterator, Sequence
from typing import Annotated, TypeVar

from pydantic import AfterValidator, Field, StrictBool, StrictFloat, StrictInt, StrictStr, model_validator

from tritonkit.errors import InputError
from tritonkit.inputs import excerpt
from tritonkit.specs import DEFAULT_BUCKETS, NonNegativeUInt32, Real, TensorLength, VariantName, _Spec
from tritonkit.tune.candidate import Candidate, QueuePolicy
from tritonkit.tune.fields import FieldValue, field_problem

MAX_WINDOW_S = 60.0  # a window lengthened for a low rate: a trial stays minutes at most
MAX_TRIAL_S = 600.0  # a trial's windows together
MAX_CANDIDATES = 100_000  # per target: enumerating is cheap, but a bigger space is a typo
# Combinations looked at before duplicates and misfits are dropped: bounds the time and memory of
# expanding a space (a few seconds) whatever its file says.
MAX_COMBINATIONS = 250_000
T = TypeVar("T")


def _distinct(values: tuple[T, ...]) -> tuple[T, ...]:
    repeated = [v for i, v in enumerate(values) if v in values[:i]]
    if repeated:
        raise ValueError(f"values given twice: {excerpt(repeated)}")
    return values


# The values one dimension takes: each once.
Dimension = Annotated[tuple[T, ...], Field(min_length=1, max_length=64), AfterValidator(_distinct)]
FIELD_PATH = r"^[a-z_]+(\[[A-Za-z0-9_-]+\])?(\.[a-z_]+(\[[A-Za-z0-9_-]+\])?)*$"
# A batch of thousands of sequences is no CPU configuration, and every batching candidate warms up
# at its max_batch_size: 2**31 rows would exhaust the server's memory.
BatchSize = Annotated[StrictInt, Field(gt=0, le=4096)]
InstanceCount = Annotated[StrictInt, Field(gt=0, le=256)]
ThreadCount = Annotated[StrictInt, Field(ge=0, le=1024)]  # 0 lets ONNX Runtime pick (one per physical core)
QueueDelay = Annotated[StrictInt, Field(ge=0, le=10_000_000)]  # 10 s: a batcher waiting longer is a typo
FieldScalar = StrictBool | StrictInt | StrictFloat | Annotated[StrictStr, Field(max_length=256)]


class QueuePolicyValue(_Spec):
    max_queue_size: NonNegativeUInt32 = 0  # 0: unbounded
    timeout_microseconds: QueueDelay = 0  # 0: no timeout


class FieldDimension(_Spec):
    """Any config.pbtxt field as a dimension: `path` is dotted (`optimization.graph.level`); a map
    entry is named in brackets (`parameters[enable_mem_pattern]`, a ModelParameter's string_value)."""

    path: Annotated[str, Field(min_length=1, max_length=200, pattern=FIELD_PATH)]
    values: Dimension[FieldScalar]

    @model_validator(mode="after")
    def _values_fit_the_field(self) -> FieldDimension:
        problems = sorted({why for value in self.values if (why := field_problem(self.path, value))})
        if problems:
            raise ValueError(f"path {self.path!r}: " + "; ".join(problems))
        return self


class TrialTiming(_Spec):
    """How a trial measures: a warmup after the reload, then `windows` windows of `window_s`,
    lengthened at a low arrival rate until they hold `min_requests` (a p99 of 60 requests is
    their slowest one, not a percentile)."""

    warmup_s: Annotated[Real, Field(ge=0, le=60)]
    window_s: Annotated[Real, Field(gt=0, le=MAX_WINDOW_S)]
    windows: Annotated[StrictInt, Field(gt=0, le=100)]
    min_requests: Annotated[StrictInt, Field(ge=0, le=1_000_000)] = 0

    @model_validator(mode="after")
    def _bounded(self) -> TrialTiming:
        if self.window_s * self.windows > MAX_TRIAL_S:
            raise ValueError(
                f"windows x window_s is {self.window_s * self.windows:g} s; at most {MAX_TRIAL_S:g} s a trial"
            )
        return self

    def load_fields(self, rate_per_s: float | None) -> dict[str, float]:
        """The load spec's fields for this timing at an open loop's rate (None: a closed loop);
        stable after up to 3 agreeing windows."""
        window_s = self.window_s
        if rate_per_s:
            window_s = min(MAX_TRIAL_S / self.windows, max(window_s, self.min_requests / (rate_per_s * self.windows)))
        return {"warmup_s": self.warmup_s, "window_s": window_s, "duration_s": window_s * self.windows,
                "stable_windows": min(3, self.windows)}  # fmt: skip


class SpaceSpec(_Spec):
    """A search space file. Every list is the values one dimension takes."""

    variants: tuple[VariantName, ...] = ()  # (): every variant of the family that was exported
    max_batch_size: Dimension[BatchSize] = (8, 16, 32, 64)
    dynamic_batching: Dimension[StrictBool] = (False, True)
    max_queue_delay_microseconds: Dimension[QueueDelay] = (0, 500, 2_000, 8_000, 20_000)
    # Sets a batcher prefers; a set with an entry above a candidate's max_batch_size does not apply to it.
    preferred_batch_sizes: Dimension[Annotated[tuple[BatchSize, ...], Field(max_length=16)]] = ((), (8,), (16, 32))
    instances: Dimension[InstanceCount] = (1, 2, 4)
    intra_op_threads: Dimension[ThreadCount] = (1, 2)
    oversubscribed: StrictBool = True  # add one instances x threads pair beyond the cores
    queue_policies: Dimension[QueuePolicyValue] = (  # open-loop (latency) targets
        QueuePolicyValue(),
        QueuePolicyValue(max_queue_size=8, timeout_microseconds=30_000),
        QueuePolicyValue(max_queue_size=32, timeout_microseconds=100_000),
    )
    client_batch_sizes: Dimension[BatchSize] = (1, 8, 32)  # closed-loop (pipeline) targets
    # Text targets whose token ids go at each sentence's own length (a tokens payload's lengths
    # `texts` or `uniform`): () keeps that, a set pads each request to its bucket (`lengths: buckets`).
    token_buckets: Dimension[Annotated[tuple[TensorLength, ...], Field(max_length=32)]] = ((), DEFAULT_BUCKETS)
    fields: Annotated[tuple[FieldDimension, ...], Field(max_length=16)] = ()
    # Screening is short (a trial in about 6 s, reload included); a finalist is confirmed with
    # windows long enough for its p99 to rest on hundreds of requests.
    screen: TrialTiming = TrialTiming(warmup_s=1.0, window_s=1.0, windows=3, min_requests=200)
    confirm: TrialTiming = TrialTiming(warmup_s=1.0, window_s=2.0, windows=5, min_requests=600)

    @model_validator(mode="after")
    def _bounded(self) -> SpaceSpec:
        paths = [f.path.removesuffix(".string_value") for f in self.fields]
        repeated = sorted({p for p in paths if paths.count(p) > 1})
        if repeated:
            raise ValueError(f"fields: path given twice: {', '.join(repeated)}")
        combinations = self.combinations(variants=max(1, len(self.variants) or 5))
        if combinations > MAX_COMBINATIONS:
            raise ValueError(f"{combinations} combinations of values; at most {MAX_COMBINATIONS}: narrow the space")
        return self

    def combinations(self, variants: int) -> int:
        """How many combinations expanding the space looks at, per target, at most."""
        batcher = len(self.max_batch_size) * len(self.max_queue_delay_microseconds) * len(self.preferred_batch_sizes)
        per = len(self.instances) * len(self.intra_op_threads) * (1 + batcher * len(self.queue_policies))
        per *= len(self.client_batch_sizes) * len(self.token_buckets)
        return variants * per * math.prod(len(f.values) for f in self.fields)

    def digest(self) -> str:
        """Identifies the space in trial logs: a log from another space is not resumed."""
        return hashlib.sha256(self.model_dump_json().encode()).hexdigest()[:16]


def resource_pairs(space: SpaceSpec, cores: int) -> list[tuple[int, int]]:
    """(instances, intra-op threads) with instances x threads ≤ cores (threads 0 counts as all
    cores), and, when asked, one pair beyond them: the one that oversubscribes least."""

    def busy(instances: int, threads: int) -> int:
        return instances * (threads or cores)

    pairs = [(i, t) for i in space.instances for t in space.intra_op_threads if busy(i, t) <= cores]
    beyond = [(i, t) for i in space.instances for t in space.intra_op_threads if busy(i, t) > cores]
    if space.oversubscribed and beyond:
        pairs.append(min(beyond, key=lambda pair: (busy(*pair), pair)))
    return pairs


def candidates(
    space: SpaceSpec, variants: Sequence[str], cores: int, *, open_loop: bool, longest_tokens: int | None = None
) -> list[Candidate]:
    """Every valid candidate for a target: queue policies vary for open-loop (latency) targets,
    client batch sizes for closed-loop (pipeline) ones, token buckets for a text target whose
    requests go at their own lengths (`longest_tokens`: its sequence_length; None: not one)."""
    found: dict[str, Candidate] = {}
    bucket_sets = [()] if longest_tokens is None else [_within(b, longest_tokens) for b in space.token_buckets]
    queues = [_queue(q) for q in space.queue_policies] if open_loop else [None]
    clients = (1,) if open_loop else space.client_batch_sizes
    extras = list(itertools.product(*[[(f.path, v) for v in f.values] for f in space.fields]))
    for variant, (instances, threads), client, buckets, extra in itertools.product(
        variants, resource_pairs(space, cores), clients, dict.fromkeys(bucket_sets), extras
    ):
        for batching in _batching_options(space, client, queues):
            candidate = Candidate(
                variant=variant, instance_count=instances, intra_op_threads=threads, client_batch_size=client,
                buckets=buckets, fields=_applicable(extra, batching["dynamic_batching"]), **batching,
            )  # fmt: skip
            found.setdefault(candidate.key(), candidate)
            if len(found) > MAX_CANDIDATES:
                raise InputError(f"more than {MAX_CANDIDATES} candidates; narrow the space (--space)")
    if not found:
        raise InputError(f"the space has no candidate for it: {_why_empty(space, cores, open_loop)}")
    return list(found.values())


def _within(buckets: tuple[int, ...], longest: int) -> tuple[int, ...]:
    """A bucket set as a payload of `longest` tokens can use it: the buckets up to it, then it."""
    if not buckets:
        return ()
    kept = tuple(b for b in buckets if b < longest)
    return (*kept, longest)


def _why_empty(space: SpaceSpec, cores: int, open_loop: bool) -> str:
    if not resource_pairs(space, cores):
        return f"no instances x intra_op_threads pair fits {cores} cores (and oversubscribed is off)"
    if not open_loop and min(space.client_batch_sizes) > max(space.max_batch_size):
        return "every client_batch_sizes value is above every max_batch_size"
    return "with dynamic_batching [true] only, every preferred_batch_sizes set exceeds every max_batch_size"


def _applicable(extra: Sequence[tuple[str, FieldValue]], batching: bool) -> tuple[tuple[str, FieldValue], ...]:
    """The fields that mean something for the candidate: a batcher's field without the batcher
    would turn the batcher on."""
    return tuple((path, value) for path, value in extra if batching or not path.startswith("dynamic_batching"))


def _queue(value: QueuePolicyValue) -> QueuePolicy | None:
    if not value.max_queue_size and not value.timeout_microseconds:
        return None
    return QueuePolicy(value.max_queue_size, value.timeout_microseconds)


def _batching_options(space: SpaceSpec, client: int, queues: Sequence[QueuePolicy | None]) -> Iterator[dict]:
    """The batcher's settings for one client batch size. Without the batcher only max_batch_size ≥
    the client's batch matters (its value changes nothing else), so one config stands for all."""
    sizes = sorted(s for s in space.max_batch_size if s >= client)
    if False in space.dynamic_batching and sizes:
        yield dict(max_batch_size=sizes[0], dynamic_batching=False, max_queue_delay_us=0,
                   preferred_batch_sizes=(), queue=None)  # fmt: skip
    if True not in space.dynamic_batching:
        return
    for size, delay, preferred, queue in itertools.product(
        sizes, space.max_queue_delay_microseconds, space.preferred_batch_sizes, queues
    ):
        if any(p > size for p in preferred):
            continue
        # With no delay the batcher never waits for a preferred size: the set changes nothing.
        yield dict(max_batch_size=size, dynamic_batching=True, max_queue_delay_us=delay,
                   preferred_batch_sizes=tuple(sorted(set(preferred))) if delay else (), queue=queue)  # fmt: skip
