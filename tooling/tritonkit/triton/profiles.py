"""Deployment profiles: named starting points on the latency/throughput tradeoff.

They are presets for a small CPU host (the local server), meant to be measured and then refined
by tuning, not final answers. Each value says why it is there.
"""

from __future__ import annotations

from tritonkit.errors import InputError
from tritonkit.specs import (
    DynamicBatchingKnobs,
    InstanceGroupKnobs,
    OnnxRuntimeKnobs,
    QueuePolicyKnobs,
    ServingKnobs,
    WarmupKnobs,
)

PROFILES: dict[str, ServingKnobs] = {
    # Chat, translation: a request should never wait for others.
    "latency": ServingKnobs(
        # Small batches only: a request that joins a batch pays for the whole batch's compute.
        max_batch_size=8,
        dynamic_batching=DynamicBatchingKnobs(
            # No waiting for a batch to fill; requests already queued when an instance frees up
            # still run together, which is free latency-wise and helps under bursts.
            max_queue_delay_microseconds=0,
            queue_policy=QueuePolicyKnobs(
                # Bounded queue with REJECT: past this backlog a request would miss any sane
                # latency target anyway, so fail it fast and let the client retry elsewhere. The
                # timeout leaves most of a chat SLO (~100 ms p99) to compute and transport: at
                # twice its capacity MiniLM kept accepted p99 at 58-62 ms with 8 / 30 ms, against
                # 106-124 ms with 16 / 100 ms, serving as much (bench/overload.py).
                max_queue_size=8,
                default_timeout_microseconds=30_000,
                timeout_action="REJECT",
            ),
        ),
        # Two instances, one thread each: two requests in flight never queue behind each other,
        # and instances x threads stays within the cores (no oversubscription jitter).
        instance_groups=(InstanceGroupKnobs(kind="KIND_CPU", count=2),),
        onnxruntime=OnnxRuntimeKnobs(intra_op_thread_count=1, inter_op_thread_count=1),
        # Warm the shapes the first users will send, so they do not pay session warm-up.
        warmup=WarmupKnobs(batch_sizes=(1,), dynamic_dim_size=128),
    ),
    # Batch pipelines, moderation: maximise inferences per second, latency is secondary.
    "throughput": ServingKnobs(
        # Large batches amortise per-call overhead; on CPU, batch 8 already gives ~1.5x batch 1.
        max_batch_size=64,
        dynamic_batching=DynamicBatchingKnobs(
            preferred_batch_sizes=(16, 32),
            # Wait up to 20 ms to fill a preferred batch: small against a pipeline's deadline.
            max_queue_delay_microseconds=20_000,
            # Unbounded queue, no timeout: a pipeline would rather wait than retry.
        ),
        # One instance using every core (0 = ONNX Runtime picks one thread per physical core):
        # big batches parallelise inside operators, and one session keeps memory low.
        instance_groups=(InstanceGroupKnobs(kind="KIND_CPU", count=1),),
        onnxruntime=OnnxRuntimeKnobs(intra_op_thread_count=0, inter_op_thread_count=1),
        warmup=WarmupKnobs(batch_sizes=(1, 32), dynamic_dim_size=128),
    ),
    # Interactive APIs with steady traffic: some batching, bounded waiting.
    "balanced": ServingKnobs(
        max_batch_size=32,
        dynamic_batching=DynamicBatchingKnobs(
            preferred_batch_sizes=(4, 8),
            # 2 ms: enough for concurrent requests to meet, small next to a model's compute time.
            max_queue_delay_microseconds=2_000,
            # No queue policy: any bound or timeout turns off Triton's payload prefetching, and the
            # batcher then waits for a free instance with a wait that can miss its wake-up (2.51)
            # and sleeps 500 ms. On one instance that stalled 2-3% of requests at every load
            # (MiniLM, c=1: 13 stalls in 8 s, p99 510 ms; without the policy none, p99 12 ms).
        ),
        instance_groups=(InstanceGroupKnobs(kind="KIND_CPU", count=1),),
        onnxruntime=OnnxRuntimeKnobs(intra_op_thread_count=0, inter_op_thread_count=1),
        warmup=WarmupKnobs(batch_sizes=(1, 8), dynamic_dim_size=128),
    ),
}


def profile(name: str) -> ServingKnobs:
    try:
        return PROFILES[name]
    except KeyError:
        raise InputError(f"unknown profile {name!r}; expected one of {', '.join(PROFILES)}") from None
