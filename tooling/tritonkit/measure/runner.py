"""One target measured end to end: the served config, payloads prepared, the load run, server
statistics at every window edge, and the Measurement those add up to.

Every call to the server is bounded by the request timeout, so a server that stops answering
ends the run on time: the config read, each request, each statistics read (those at window edges
run beside the load; the last one follows the drain)."""

from __future__ import annotations

import numpy as np

from tritonkit.errors import InputError
from tritonkit.measure.client import StatsSnapshot, TritonClient
from tritonkit.measure.energy import gpu_meter
from tritonkit.measure.loadgen import run_load
from tritonkit.measure.measurement import Measurement
from tritonkit.measure.payloads import build_pool
from tritonkit.measure.summary import Edge, Host, summarize_run
from tritonkit.specs import OpenLoopLoad, TargetSpec


async def measure_target(target: TargetSpec, host: Host) -> Measurement:
    load = target.load
    if not host.url(load.protocol):
        raise InputError(f"target '{target.name}' uses {load.protocol}: give the server's --{load.protocol}-url")
    in_flight = load.max_in_flight if isinstance(load, OpenLoopLoad) else load.concurrency
    meter = gpu_meter()
    async with TritonClient(host.url(load.protocol), load.protocol, connections=in_flight) as client:
        try:
            config = await client.config(target.model, target.model_version, load.request_timeout_s)
        except Exception as exc:
            why = f"no answer within {load.request_timeout_s:g} s" if isinstance(exc, TimeoutError) else exc
            raise InputError(
                f"target '{target.name}': cannot read model '{target.model}' from the server: {why}"
            ) from None
        pool = build_pool(target.payload, config, load.seed)
        prepared = [client.prepare(p, target.outputs) for p in pool.payloads]
        order = np.random.default_rng(load.seed).permutation(len(prepared))

        async def send(i: int) -> None:
            request = prepared[order[i % len(order)]]
            await client.infer(target.model, target.model_version, request, load.request_timeout_s)

        async def edge() -> Edge:
            try:
                stats: StatsSnapshot | None = await client.statistics(
                    target.model, target.model_version, load.request_timeout_s
                )
            except Exception:  # a dead server must not end the run: the report says so
                stats = None
            return Edge(stats, meter.read_joules() if meter else None)

        run = await run_load(load, send, edge)
    return summarize_run(target, run, pool.inferences_per_request, host, meter)


def describe_load(target: TargetSpec) -> str:
    load = target.load
    if isinstance(load, OpenLoopLoad):
        return f"open loop, {load.arrivals} arrivals at {load.rate_per_s:g}/s over {load.protocol}"
    return f"closed loop, {load.concurrency} in flight over {load.protocol}"
