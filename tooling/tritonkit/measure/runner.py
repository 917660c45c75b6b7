"""One target measured end to end: the served config, payloads prepared, the load run, server
statistics at every window edge, and the Measurement those add up to.

Every call to the server is bounded by the request timeout, so a server that stops answering
ends the run on time: the config read, each request, each statistics read (those at window edges
run beside the load; the last one follows the drain)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from tritonkit.errors import InputError
from tritonkit.measure.client import StatsSnapshot, TritonClient
from tritonkit.measure.energy import gpu_meter
from tritonkit.measure.loadgen import Send, run_load
from tritonkit.measure.measurement import Measurement
from tritonkit.measure.payloads import PayloadPool, build_pool
from tritonkit.measure.preflight import protocol_problem
from tritonkit.measure.streaming import stream_request
from tritonkit.measure.summary import Edge, Host, summarize_run
from tritonkit.measure.trace import read_trace
from tritonkit.measure.trace_payloads import carries_payloads, trace_pool
from tritonkit.specs import ClosedLoopLoad, OpenLoopLoad, PromptsPayload, TargetSpec, TraceLoad


async def measure_target(target: TargetSpec, host: Host) -> Measurement:
    load = target.load
    if not host.url(load.protocol):
        raise InputError(f"target '{target.name}' uses {load.protocol}: give the server's --{load.protocol}-url")
    if problem := protocol_problem(target):
        raise InputError(problem)
    in_flight = load.concurrency if isinstance(load, ClosedLoopLoad) else load.max_in_flight
    trace = read_trace(load.file) if isinstance(load, TraceLoad) else None
    meter = gpu_meter()
    async with TritonClient(host.url(load.protocol), load.protocol, connections=in_flight) as client:
        try:
            config = await client.config(target.model, target.model_version, load.request_timeout_s)
        except Exception as exc:
            why = f"no answer within {load.request_timeout_s:g} s" if isinstance(exc, TimeoutError) else exc
            raise InputError(
                f"target '{target.name}': cannot read model '{target.model}' from the server: {why}"
            ) from None
        if trace is not None and carries_payloads(trace):
            pool, order = trace_pool(trace, target.payload, config, load.seed)
        else:
            pool = build_pool(target.payload, config, load.seed)
            order = np.random.default_rng(load.seed).permutation(len(pool))
        send = _sender(client, target, pool, order)

        async def edge() -> Edge:
            try:
                stats: StatsSnapshot | None = await client.statistics(
                    target.model, target.model_version, load.request_timeout_s
                )
            except Exception:  # a dead server must not end the run: the report says so
                stats = None
            return Edge(stats, meter.read_joules() if meter else None)

        run = await run_load(load, send, edge, None if trace is None else trace.offsets_s)
    return summarize_run(target, run, pool.inferences_per_request, host, meter)


def _sender(client: TritonClient, target: TargetSpec, pool: PayloadPool, order: np.ndarray) -> Send:
    """The i-th request, the pool's `order[i]` (cycling), sent: one answer, or a stream of tokens."""
    load = target.load
    if isinstance(target.payload, PromptsPayload):
        streams = [stream_request(target.model, target.model_version, p) for p in pool.payloads]

        async def stream(i: int) -> Sequence[int]:
            return await client.stream(streams[order[i % len(order)]], load.request_timeout_s)

        return stream
    prepared = [client.prepare(target.model, target.model_version, p, target.outputs) for p in pool.payloads]

    async def infer(i: int) -> None:
        await client.infer(prepared[order[i % len(order)]], load.request_timeout_s)

    return infer


def describe_load(target: TargetSpec) -> str:
    load = target.load
    if isinstance(load, OpenLoopLoad):
        return f"open loop, {load.arrivals} arrivals at {load.rate_per_s:g}/s over {load.protocol}"
    if isinstance(load, TraceLoad):
        return f"trace {load.file.name} replayed at {load.speed:g}x over {load.protocol}"
    return f"closed loop, {load.concurrency} in flight over {load.protocol}"
