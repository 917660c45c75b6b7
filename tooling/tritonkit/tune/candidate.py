"""One point of the search space: a served configuration (variant and config.pbtxt knobs) plus the
client batch size a pipeline sends. Pure: turns into ServingKnobs and a ModelConfig, names itself."""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass

from tritonclient.grpc.model_config_pb2 import ModelConfig

from tritonkit.specs import (
    DynamicBatchingKnobs,
    InstanceGroupKnobs,
    OnnxRuntimeKnobs,
    QueuePolicyKnobs,
    ServingKnobs,
    WarmupKnobs,
)
from tritonkit.triton.model_config import apply_knobs
from tritonkit.tune.fields import FieldValue, set_field

AUTO_THREADS = 1024  # what intra_op_threads 0 (one per physical core) may mean, at most


@dataclass(frozen=True)
class QueuePolicy:
    max_queue_size: int  # 0: unbounded
    timeout_us: int  # 0: no timeout; past it a queued request is rejected


@dataclass(frozen=True)
class Candidate:
    variant: str  # the exported variant: the family's model `<name>_<variant>`
    max_batch_size: int  # >= client_batch_size
    dynamic_batching: bool
    max_queue_delay_us: int  # 0 when dynamic_batching is off
    preferred_batch_sizes: tuple[int, ...]  # () when off, or the batcher forms any size
    instance_count: int
    intra_op_threads: int  # 0: ONNX Runtime's choice (one per physical core)
    queue: QueuePolicy | None  # None: unbounded, no timeout (and always None without dynamic batching)
    client_batch_size: int = 1  # inferences per request the client sends (a pipeline's knob, not the server's)
    fields: tuple[tuple[str, FieldValue], ...] = ()  # further config.pbtxt fields: (dotted path, value)

    @property
    def threads(self) -> int:
        """Threads the instances keep busy, for preferring the cheaper of two equally good
        candidates: ONNX Runtime's own choice (0) counts as every core of any host."""
        return self.instance_count * (self.intra_op_threads or AUTO_THREADS)

    def key(self) -> str:
        """A short stable name: the same candidate always gets the same key (trial logs, replay tables)."""
        text = json.dumps(asdict(self), sort_keys=True)
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
