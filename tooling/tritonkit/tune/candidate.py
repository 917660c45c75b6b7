"""One point of the search space: a served configuration (variant and config.pbtxt knobs) plus the
client batch size a pipeline sends. Pure: turns into ServingKnobs and a ModelConfig, names itself."""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass
from typing import Annotated, get_args

from pydantic import Field, StrictBool, StrictFloat, StrictInt, StrictStr
from tritonclient.grpc.model_config_pb2 import ModelConfig

from tritonkit.specs import (
    INT64_MAX,
    UINT32_MAX,
    DynamicBatchingKnobs,
    InstanceGroupKnobs,
    OnnxRuntimeKnobs,
    QueuePolicyKnobs,
    ServingKnobs,
    VariantName,
    WarmupKnobs,
)
from tritonkit.triton.model_config import apply_knobs
from tritonkit.tune.fields import set_field

AUTO_THREADS = 1024  # what intra_op_threads 0 (one per physical core) may mean, at most

# The bounds of a candidate read back from a trial log (pydantic checks them where a Candidate is a
# field of a model, as in a Trial; a Candidate built in Python is not checked): at least as wide as
# the search space's. A Trial also checks client_batch_size and preferred sizes ≤ max_batch_size.
_Variant = Annotated[str, Field(pattern=f"^({'|'.join(get_args(VariantName))})$")]
_Batch = Annotated[StrictInt, Field(ge=1, le=65_536)]
_Delay = Annotated[StrictInt, Field(ge=0, le=INT64_MAX)]
_QueueSize = Annotated[StrictInt, Field(ge=0, le=UINT32_MAX)]
_Instances = Annotated[StrictInt, Field(ge=1, le=256)]
_Threads = Annotated[StrictInt, Field(ge=0, le=AUTO_THREADS)]
_FieldPath = Annotated[StrictStr, Field(min_length=1, max_length=200)]
_FieldValue = (
    StrictBool
    | Annotated[StrictInt, Field(ge=-INT64_MAX - 1, le=INT64_MAX)]
    | Annotated[StrictFloat, Field(allow_inf_nan=False)]
    | Annotated[StrictStr, Field(max_length=256)]
)


@dataclass(frozen=True)
class QueuePolicy:
    max_queue_size: _QueueSize  # 0: unbounded
    timeout_us: _Delay  # 0: no timeout; past it a queued request is rejected


@dataclass(frozen=True)
class Candidate:
    variant: _Variant  # the exported variant: the family's model `<name>_<variant>`
    max_batch_size: _Batch  # >= client_batch_size
    dynamic_batching: StrictBool
    max_queue_delay_us: _Delay  # 0 when dynamic_batching is off
    preferred_batch_sizes: tuple[_Batch, ...]  # () when off, or the batcher forms any size
    instance_count: _Instances
    intra_op_threads: _Threads  # 0: ONNX Runtime's choice (one per physical core)
    queue: QueuePolicy | None  # None: unbounded, no timeout (and always None without dynamic batching)
    client_batch_size: _Batch = 1  # inferences per request the client sends (a pipeline's knob, not the server's)
    # further config.pbtxt fields: (dotted path, value)
    fields: Annotated[tuple[tuple[_FieldPath, _FieldValue], ...], Field(max_length=16)] = ()
    # The lengths a text client pads its token ids to ((): each request at its own length), so that
    # requests of one bucket batch: a client's knob, like client_batch_size.
    buckets: tuple[_Batch, ...] = ()

    @property
    def threads(self) -> int:
        """Threads the instances keep busy, for preferring the cheaper of two equally good
        candidates: ONNX Runtime's own choice (0) counts as every core of any host."""
        return self.instance_count * (self.intra_op_threads or AUTO_THREADS)

    def key(self) -> str:
        """A short stable name: the same candidate always gets the same key (trial logs, replay tables)."""
        fields = asdict(self)
        if not self.buckets:  # as before buckets were a dimension: trial logs keep their keys
            del fields["buckets"]
        text = json.dumps(fields, sort_keys=True)
        return hashlib.sha256(text.encode()).hexdigest()[:12]

    def describe(self) -> str:
        batching = (
            f"batching ≤{self.max_batch_size} delay {self.max_queue_delay_us} µs"
            + (f" preferred {list(self.preferred_batch_sizes)}" if self.preferred_batch_sizes else "")
            if self.dynamic_batching
            else f"no batcher (max_batch_size {self.max_batch_size})"
        )
        queue = f", queue {self.queue.max_queue_size}/{self.queue.timeout_us} µs" if self.queue else ""
        client = f", client batch {self.client_batch_size}" if self.client_batch_size > 1 else ""
        client += f", padded to buckets {list(self.buckets)}" if self.buckets else ""
        extra = "".join(f", {path}={value}" for path, value in self.fields)
        threads = self.intra_op_threads or "auto"
        return f"{self.variant}: {batching}, {self.instance_count}x{threads} threads{queue}{client}{extra}"

    def config(self, base: ModelConfig, warmup_dim: int) -> ModelConfig:
        """`base` (the model's identity and I/O) served as this candidate."""
        config = apply_knobs(base, self.knobs(warmup_dim))
        for path, value in self.fields:
            set_field(config, path, value)
        return config

    def knobs(self, warmup_dim: int) -> ServingKnobs:
        """The serving knobs (everything but `fields`, which apply to the ModelConfig), warming up the
        batch sizes the candidate will run at `warmup_dim` for the dynamic dimensions."""
        batching = None
        if self.dynamic_batching:
            policy = QueuePolicyKnobs()
            if self.queue is not None:
                policy = QueuePolicyKnobs(
                    max_queue_size=self.queue.max_queue_size,
                    default_timeout_microseconds=self.queue.timeout_us,
                    timeout_action="REJECT",
                )
            batching = DynamicBatchingKnobs(
                preferred_batch_sizes=self.preferred_batch_sizes,
                max_queue_delay_microseconds=self.max_queue_delay_us,
                queue_policy=policy,
            )
        warm = sorted({1, self.client_batch_size, *((self.max_batch_size,) if self.dynamic_batching else ())})
        return ServingKnobs(
            max_batch_size=self.max_batch_size,
            dynamic_batching=batching,
            instance_groups=(InstanceGroupKnobs(kind="KIND_CPU", count=self.instance_count),),
            onnxruntime=OnnxRuntimeKnobs(intra_op_thread_count=self.intra_op_threads, inter_op_thread_count=1),
            warmup=WarmupKnobs(batch_sizes=tuple(warm), dynamic_dim_size=warmup_dim),
        )
