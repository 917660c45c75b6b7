"""The serving path at its limit, side by side in one run on one exported encoder (default: MiniLM
fp32), 32 tokens a sentence:

1. Backend overhead. In-process ONNX Runtime against the same file served by the local Triton
   (the Python-based onnxruntime backend), same threads, no dynamic batching:
   - one request in flight (1 intra-op thread): where a request's time goes, as means: the client
     building its tensors, then Triton's own accounting (queue, input, infer, output), then the rest
     of the client's latency (gRPC on both ends and the loopback). Inside Triton's `infer`, the
     in-process `session.run` at batch 1 (timed in blocks alternating with the served requests) is
     the model's part; what is left is the Python stub's transfer of inputs and outputs and the
     backend's own work. Served p50 minus in-process p50.
   - batches of B sentences a request: served throughput over in-process throughput at the same B,
     the ratio the issue asks ≥ 0.95 of, for one instance with every core (two requests in flight;
     in process, one session) and for an instance of one thread per core (two requests in flight
     per instance; in process, a session per core, each in its own thread), and the best served
     over the best in-process.
2. Client cost: tritonkit's client CPU per request at one and at eight in flight on an identity
   model (bench/loadgen.py sets it against Locust).
3. Open-loop truth: tritonkit's open loop against a minimal generator (a scheduler thread and a
   pool of plain threads with the synchronous gRPC client), constant arrivals at each `--rates`
   rate on the encoder served as the latency profile, in alternating order: p50 and p99 from the
   intended send time, the ratio tritonkit / minimal, and each one's pacing error p99; then
   tritonkit's pacing error at `--pacing-rate` requests/s on the identity model.

This machine is shared and has 2 cores that also run the server: read ratios of one run, not the
absolute figures. Written as JSON.

    .venv/bin/tritonkit export export/minilm.yaml --variants fp32 --model-repository /tmp/minilm
    .venv/bin/python bench/serving.py --model /tmp/minilm/minilm_fp32     # ~5 min
"""

from __future__ import annotations

import argparse
import asyncio
import json
import platform
import statistics
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime as ort
import tritonclient.grpc as grpcclient

from tritonkit import onnx_builders
from tritonkit.machine import cpu_description, usable_cores
from tritonkit.measure.runner import measure_target
from tritonkit.measure.summary import Host
from tritonkit.specs import InstanceGroupKnobs, OnnxRuntimeKnobs, ServingKnobs, TargetSpec
from tritonkit.triton import model_config
from tritonkit.triton.onnx_signature import read_signature
from tritonkit.triton.profiles import PROFILES
from tritonkit.triton.repository import write_model
from tritonkit.triton.server import LocalServer

TOKENS = 32
RESULTS = Path(__file__).resolve().parent / "results"


def feeds(session: ort.InferenceSession, batch: int) -> dict[str, np.ndarray]:
    return {i.name: np.ones((batch, TOKENS), dtype=np.int64) for i in session.get_inputs()}


def in_process(onnx: Path, threads: int, batch: int, seconds: float, sessions: int = 1) -> dict[str, float]:
    """session.run on `batch` sentences, back to back for `seconds`, in each of `sessions` threads
    with a session of its own (ONNX Runtime releases the GIL while it runs): p50 ms, sentences/s."""
    options = ort.SessionOptions()
    options.intra_op_num_threads, options.inter_op_num_threads = threads, 1
    runners = [ort.InferenceSession(str(onnx), options, providers=["CPUExecutionProvider"]) for _ in range(sessions)]
    times: list[list[float]] = [[] for _ in runners]

    def run(k: int, end: float) -> None:
        feed = feeds(runners[k], batch)
        while time.perf_counter() < end:
            start = time.perf_counter()
            runners[k].run(None, feed)
            times[k].append(time.perf_counter() - start)

    for runner in runners:
        for _ in range(3):
            runner.run(None, feeds(runner, batch))
    started, end = time.perf_counter(), time.perf_counter() + seconds
    workers = [threading.Thread(target=run, args=(k, end)) for k in range(sessions)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    every = [t for per_session in times for t in per_session]
    return {"p50_ms": statistics.median(every) * 1e3, "per_s": batch * len(every) / (time.perf_counter() - started)}


def build_repository(root: Path, onnx: Path) -> Path:
    """`single` (1 instance, 1 thread), `wide` (1 instance, every core), `pair` (an instance of
    1 thread per core), all without batching; `latency` (the latency profile); `identity` (no compute)."""
    repository = root / "repository"
    signature = read_signature(onnx)

    def plain(threads: int, instances: int = 1) -> ServingKnobs:
        ort_knobs = OnnxRuntimeKnobs(intra_op_thread_count=threads, inter_op_thread_count=1)
        groups = (InstanceGroupKnobs(count=instances),)
        return ServingKnobs(max_batch_size=64, instance_groups=groups, onnxruntime=ort_knobs)

    knobs = {
        "single": plain(1),
        "wide": plain(0),
        "pair": plain(1, instances=usable_cores()),
        "latency": PROFILES["latency"].model_copy(update={"warmup": None}),
    }
    for name, knob in knobs.items():
        write_model(repository, model_config.build_config(name, signature, knob), onnx)
    identity = onnx_builders.identity(root / "identity.onnx", dims=("batch", 16))
    write_model(
        repository,
        model_config.build_config("identity", read_signature(identity), ServingKnobs(max_batch_size=8)),
        identity,
    )
    return repository


def server_means(client: grpcclient.InferenceServerClient, model: str, before: dict[str, Any]) -> dict[str, float]:
    """Triton's mean µs per request since `before` (a statistics snapshot), by phase."""
    after = client.get_inference_statistics(model, as_json=True)["model_stats"][0]["inference_stats"]
    old = before["model_stats"][0]["inference_stats"]
    count = int(after["success"]["count"]) - int(old["success"].get("count", 0))
    phases = ("queue", "compute_input", "compute_infer", "compute_output")
    return {p: (int(after[p]["ns"]) - int(old[p].get("ns", 0))) / 1e3 / max(count, 1) for p in phases}


def breakdown(url: str, onnx: Path, requests: int, blocks: int = 8) -> dict[str, float]:
    """One request in flight on `single`: the client's tensors, Triton's phases, the rest. Served
    requests and in-process runs alternate in blocks (this machine's speed drifts by a fifth
    within minutes: a reference measured apart would mislead by more than the gap itself)."""
    client = grpcclient.InferenceServerClient(url)
    options = ort.SessionOptions()
    options.intra_op_num_threads, options.inter_op_num_threads = 1, 1
    session = ort.InferenceSession(str(onnx), options, providers=["CPUExecutionProvider"])
    names = [i.name for i in session.get_inputs()]
    data = np.ones((1, TOKENS), dtype=np.int64)
    feed = dict.fromkeys(names, data)
    for _ in range(20):
        client.infer("single", [_input(n, data) for n in names])
        session.run(None, feed)
    before = client.get_inference_statistics("single", as_json=True)
    build, total, runs = [], [], []
    for _ in range(blocks):
        for _ in range(requests // blocks):
            start = time.perf_counter()
            inputs = [_input(n, data) for n in names]
            built = time.perf_counter()
            client.infer("single", inputs)
            total.append(time.perf_counter() - start)
            build.append(built - start)
        for _ in range(requests // blocks):
            start = time.perf_counter()
            session.run(None, feed)
            runs.append(time.perf_counter() - start)
    server = server_means(client, "single", before)
    mean_us = statistics.mean(total) * 1e6
    parts = {
        "client_tensors_us": statistics.mean(build) * 1e6,
        **{f"triton_{k}_us": v for k, v in server.items()},
        "in_process_run_us": statistics.mean(runs) * 1e6,
    }
    parts["stub_and_backend_us"] = server["compute_infer"] - parts["in_process_run_us"]
    parts["grpc_and_loopback_us"] = mean_us - parts["client_tensors_us"] - sum(server.values())
    p50_ms, raw_ms = statistics.median(total) * 1e3, statistics.median(runs) * 1e3
    ends = {"served_mean_us": mean_us, "served_p50_ms": p50_ms, "in_process_p50_ms": raw_ms}
    return {**parts, **ends, "p50_gap_ms": p50_ms - raw_ms}


def _input(name: str, data: np.ndarray) -> grpcclient.InferInput:
    tensor = grpcclient.InferInput(name, list(data.shape), "INT64")
    tensor.set_data_from_numpy(data)
    return tensor


def served_batches(
    url: str, names: list[str], batch: int, seconds: float, in_flight: int = 2, model: str = "wide"
) -> float:
    """Sentences/s on `model`, requests of `batch` sentences, `in_flight` plain threads."""
    data = np.ones((batch, TOKENS), dtype=np.int64)
    counts = [0] * in_flight
    end = time.perf_counter() + seconds

    def worker(k: int) -> None:
        client = grpcclient.InferenceServerClient(url)
        inputs = [_input(n, data) for n in names]
        client.infer(model, inputs)
        while time.perf_counter() < end:
            client.infer(model, inputs)
            counts[k] += batch

    started = time.perf_counter()
    threads = [threading.Thread(target=worker, args=(k,)) for k in range(in_flight)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return sum(counts) / (time.perf_counter() - started)


def minimal_open_loop(url: str, names: list[str], rate: float, seconds: float) -> dict[str, float]:
    """The reference generator: a thread sleeps to each due time and hands the request to a pool
    of plain threads, each with its own synchronous client; latency from the due time."""
    data = np.ones((1, TOKENS), dtype=np.int64)
    local = threading.local()
    records: list[tuple[float, float, float]] = []  # due, sent, done

    def send(due: float) -> None:
        if not hasattr(local, "client"):
            local.client = grpcclient.InferenceServerClient(url)
            local.inputs = [_input(n, data) for n in names]
        sent = time.perf_counter()
        local.client.infer("latency", local.inputs)
        records.append((due, sent, time.perf_counter()))

    with ThreadPoolExecutor(max_workers=64) as pool:
        start = time.perf_counter() + 0.1
        for i in range(int(rate * seconds)):
            due = start + i / rate
            while (wait := due - time.perf_counter()) > 0:
                time.sleep(wait)
            pool.submit(send, due)
    warm = [r for r in records if r[0] >= start + 1.0]  # the first second is warmup
    latency = np.array([done - due for due, _, done in warm]) * 1e3
    lag = np.array([sent - due for due, sent, _ in warm]) * 1e3
    return {"p50_ms": float(np.percentile(latency, 50)), "p99_ms": float(np.percentile(latency, 99)),
            "pacing_p99_ms": float(np.percentile(lag, 99)), "sent": len(warm)}  # fmt: skip


def tritonkit_open_loop(
    host: Host, model: str, rate: float, seconds: float, payload: dict[str, Any]
) -> dict[str, float]:
    spec = TargetSpec.model_validate({
        "name": f"{model}-{rate:g}", "model": model, "payload": payload, "slo": {},
        "load": {"mode": "open", "rate_per_s": rate, "arrivals": "constant", "warmup_s": 1.0,
                 "window_s": seconds - 1.0, "duration_s": seconds - 1.0, "stable_windows": 1},
    })  # fmt: skip
    m = asyncio.run(measure_target(spec, host))
    assert m.latency is not None
    latency = {"p50_ms": m.latency.p50_us / 1e3, "p99_ms": m.latency.p99_us / 1e3}
    return {**latency, "pacing_p99_ms": m.send_lag_p99_us / 1e3, "sent": m.sent, "errors": m.error_count}


def client_cost(host: Host, in_flight: int, seconds: float) -> dict[str, float]:
    spec = TargetSpec.model_validate({
        "name": f"identity-c{in_flight}", "model": "identity", "payload": {"kind": "random"}, "slo": {},
        "load": {"mode": "closed", "concurrency": in_flight, "warmup_s": 1.0, "window_s": seconds,
                 "duration_s": seconds, "stable_windows": 1},
    })  # fmt: skip
    m = asyncio.run(measure_target(spec, host))
    cpu = (m.client_cpu_percent or 0.0) / 100
    return {"requests_per_s": m.requests_per_s, "client_cpu_percent": cpu * 100,
            "client_cpu_us_per_request": cpu * 1e6 / m.requests_per_s if m.requests_per_s else 0.0}  # fmt: skip


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", type=Path, required=True, help="an exported encoder folder (1/model.onnx)")
    parser.add_argument("--batches", default="1,8,32")
    parser.add_argument("--rates", default="100,400")
    parser.add_argument("--pacing-rate", type=float, default=1000.0)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--out", type=Path, default=RESULTS / "serving.json")
    args = parser.parse_args()
    onnx = args.model / "1" / "model.onnx"
    names = [i.name for i in ort.InferenceSession(str(onnx), providers=["CPUExecutionProvider"]).get_inputs()]
    batches = [int(b) for b in args.batches.split(",")]
    rates = [float(r) for r in args.rates.split(",")]
    machine = {"cpu": cpu_description()[0], "cores": usable_cores(), "python": platform.python_version()}
    result: dict[str, Any] = {"machine": machine, "model": str(args.model), "tokens": TOKENS}
    result["date"] = time.strftime("%Y-%m-%d")
    with tempfile.TemporaryDirectory() as scratch, LocalServer(build_repository(Path(scratch), onnx)) as server:
        host = Host(server.grpc_url, server.http_url)
        result["one_in_flight"] = parts = breakdown(server.grpc_url, onnx, 400)
        print("one request in flight (µs, means):")
        for key, value in parts.items():
            print(f"  {key:<28} {value:10.1f}")
        ratios = []
        cores = usable_cores()
        for batch in batches:
            # Rounds alternate the four measurements, so the machine's drift falls on all of them.
            samples: dict[str, list[float]] = {"raw_wide": [], "raw_pair": [], "served_wide": [], "served_pair": []}
            for _ in range(args.rounds):
                samples["raw_wide"].append(in_process(onnx, 0, batch, args.seconds / 2)["per_s"])
                samples["served_wide"].append(served_batches(server.grpc_url, names, batch, args.seconds))
                samples["raw_pair"].append(in_process(onnx, 1, batch, args.seconds / 2, sessions=cores)["per_s"])
                samples["served_pair"].append(
                    served_batches(server.grpc_url, names, batch, args.seconds, 2 * cores, model="pair")
                )
            medians = {key: statistics.median(values) for key, values in samples.items()}
            best_raw, best_served = (
                max(medians["raw_wide"], medians["raw_pair"]),
                max(medians["served_wide"], medians["served_pair"]),
            )
            ratios.append({
                "batch": batch, **medians, "wide_ratio": medians["served_wide"] / medians["raw_wide"],
                "pair_ratio": medians["served_pair"] / medians["raw_pair"], "best_ratio": best_served / best_raw,
            })  # fmt: skip
            print(
                f"batch {batch:>3}: 1 x {cores} threads: in-process {medians['raw_wide']:7.1f}/s, "
                f"served {medians['served_wide']:7.1f}/s (x{ratios[-1]['wide_ratio']:.2f}); {cores} x 1 thread: "
                f"in-process {medians['raw_pair']:7.1f}/s, served {medians['served_pair']:7.1f}/s "
                f"(x{ratios[-1]['pair_ratio']:.2f}); best served / best in-process x{ratios[-1]['best_ratio']:.2f}"
            )
        result["throughput"] = ratios
        result["client_cost"] = {c: client_cost(host, c, args.seconds) for c in (1, 8)}
        for c, cost in result["client_cost"].items():
            per_request = cost["client_cpu_us_per_request"]
            print(f"client at {c} in flight: {cost['requests_per_s']:.0f}/s, {per_request:.0f} µs CPU a request")
        tokens = {"kind": "random", "count": 16, "dynamic_dim_size": TOKENS}  # valid ids; the cost is the shape
        open_loop = []
        for rate in rates:
            runs: dict[str, list[dict[str, float]]] = {"tritonkit": [], "minimal": []}
            for r in range(args.rounds):
                for who in ("tritonkit", "minimal") if r % 2 == 0 else ("minimal", "tritonkit"):
                    run = (tritonkit_open_loop(host, "latency", rate, args.seconds, tokens) if who == "tritonkit"
                           else minimal_open_loop(server.grpc_url, names, rate, args.seconds))  # fmt: skip
                    runs[who].append(run)
            row: dict[str, Any] = {"rate_per_s": rate}
            for who, done in runs.items():
                row[who] = {k: statistics.median(d[k] for d in done) for k in ("p50_ms", "p99_ms", "pacing_p99_ms")}
            row["p50_ratio"] = row["tritonkit"]["p50_ms"] / row["minimal"]["p50_ms"]
            row["p99_ratio"] = row["tritonkit"]["p99_ms"] / row["minimal"]["p99_ms"]
            open_loop.append(row)
            ours, theirs = row["tritonkit"], row["minimal"]
            print(
                f"open loop {rate:g}/s: p50 {ours['p50_ms']:.2f} vs {theirs['p50_ms']:.2f} ms "
                f"(x{row['p50_ratio']:.2f}), p99 {ours['p99_ms']:.2f} vs {theirs['p99_ms']:.2f} ms "
                f"(x{row['p99_ratio']:.2f}), pacing p99 {ours['pacing_p99_ms']:.3f} vs {theirs['pacing_p99_ms']:.3f} ms"
            )
        result["open_loop"] = open_loop
        pacing = tritonkit_open_loop(host, "identity", args.pacing_rate, args.seconds, {"kind": "random"})
        result["pacing"] = {"rate_per_s": args.pacing_rate, **pacing}
        lag, errors = pacing["pacing_p99_ms"], pacing["errors"]
        print(f"pacing at {args.pacing_rate:g}/s (identity): p99 {lag:.3f} ms, {errors} errors")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
