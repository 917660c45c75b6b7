"""Load-generator benchmark: how much load tritonkit's asyncio client can generate, and what it costs,
next to Locust (one process, gRPC under gevent) against the same server, model and tensors.

The model is an identity ONNX graph, so what is left of a request's latency is serving and client
overhead. Per closed-loop concurrency: requests/s, latency, the client's CPU (100% = one core, and
per request), its overhead (client mean latency minus Triton's own mean handling time: the client,
gRPC on both sides and, once the cores are busy, waiting for one), and the requests really in
flight (req/s x mean latency, by Little's law: below the concurrency when a client spends time
between its requests). Then an open-loop probe: tritonkit's client at increasing Poisson rates;
the highest rate at which at most 5% of sends left late is the generator's sustainable rate here.

This machine is shared, has 2 cores and runs the server too, so its speed drifts: both clients
run one after the other at each concurrency, in alternating order, round after round, and the
figures are medians over rounds (the ratio is the median of per-round ratios). Locust's mean is
exact, its percentiles are its rounded ones (whole ms below 100 ms: fine for a benchmark, never
for a verdict, and coarse for an identity model).

    .venv/bin/python bench/loadgen.py --duration 10 --concurrency 1,4,16 --json bench/results/loadgen.json
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import platform
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import asdict, dataclass
from importlib import metadata
from pathlib import Path

import tritonclient.grpc as grpcclient

from tritonkit import onnx_builders
from tritonkit.measure.measurement import Measurement
from tritonkit.measure.runner import measure_target
from tritonkit.measure.summary import Host
from tritonkit.specs import (
    ClosedLoopLoad,
    InstanceGroupKnobs,
    LoadSpec,
    OpenLoopLoad,
    RandomPayload,
    ServingKnobs,
    SloSpec,
    TargetSpec,
)
from tritonkit.triton import model_config
from tritonkit.triton.onnx_signature import read_signature
from tritonkit.triton.repository import write_model
from tritonkit.triton.server import LocalServer

MODEL = "identity"
# Locust's log lines that bracket the measured part: stats reset once every user runs, and the
# run time's end (the locustfile's load shape stops it when -t runs out).
STDERR_MARKERS = {"Resetting stats": "started", "limit reached": "stopped", "Shape test stopping": "stopped"}
LOCUSTFILE = Path(__file__).resolve().parent.parent / "loadtests" / "locustfile.py"
WARMUP_S = 1.0
LATE_LIMIT = 0.05  # open loop: a rate is sustained while at most 5% of sends leave late
GRACE_S = 60.0  # on top of a run's own length before it is abandoned
EXIT_GRACE_S = 10.0  # for Locust to exit once it has written its final stats


@dataclass
class ClosedRun:
    client: str  # "tritonkit" or "locust"
    concurrency: int
    round: int
    seconds: float  # the measured period
    requests: int
    errors: int
    requests_per_s: float
    mean_ms: float
    p50_ms: float
    p99_ms: float
    cpu_percent: float
    overhead_us: float | None  # mean latency minus Triton's mean handling time per request
    note: str = ""  # anything odd about the run
    cpu_us_per_request: float = 0.0  # the client's CPU time per answered request
    in_flight: float = 0.0  # requests really in flight on average: req/s x mean latency

    def __post_init__(self) -> None:
        if self.requests_per_s:
            self.cpu_us_per_request = self.cpu_percent / 100 * 1e6 / self.requests_per_s
        self.in_flight = self.requests_per_s * self.mean_ms / 1e3


@dataclass
class RateProbe:
    rate_per_s: float
    achieved_per_s: float
    sent: int
    late_sends: int
    late_fraction: float
    max_send_lag_ms: float
    p50_ms: float | None
    p99_ms: float | None
    cpu_percent: float
    errors: int


def build_repository(root: Path, instances: int) -> Path:
    onnx = onnx_builders.identity(root / "identity.onnx", dims=("batch", 16))
    knobs = ServingKnobs(max_batch_size=8, instance_groups=(InstanceGroupKnobs(count=instances),))
    repository = root / "repository"
    write_model(repository, model_config.build_config(MODEL, read_signature(onnx), knobs), onnx)
    return repository


def measure(load: LoadSpec, host: Host) -> Measurement:
    target = TargetSpec(name="loadgen", model=MODEL, load=load, payload=RandomPayload(kind="random"), slo=SloSpec())
    bound = load.warmup_s + load.duration_s + GRACE_S
    return asyncio.run(asyncio.wait_for(measure_target(target, host), bound))


def tritonkit_closed(host: Host, concurrency: int, duration: float, round_: int) -> ClosedRun:
    window = duration / 3
    load = ClosedLoopLoad(
        mode="closed", concurrency=concurrency, warmup_s=WARMUP_S, window_s=window, duration_s=duration
    )
    m = measure(load, host)
    if m.latency is None:
        raise RuntimeError(f"tritonkit at concurrency {concurrency}: no request succeeded: {m.error_examples}")
    return ClosedRun(
        client="tritonkit",
        concurrency=concurrency,
        round=round_,
        seconds=m.duration_s,
        requests=m.latency.count,
        errors=m.error_count,
        requests_per_s=m.requests_per_s,
        mean_ms=m.latency.mean_us / 1e3,
        p50_ms=m.latency.p50_us / 1e3,
        p99_ms=m.latency.p99_us / 1e3,
        cpu_percent=m.client_cpu_percent,
        overhead_us=m.client_overhead_us,
    )


def server_totals(grpc_url: str) -> tuple[int, int]:
    """Triton's cumulative (successful requests, ns spent handling them) for the model."""
    client = grpcclient.InferenceServerClient(grpc_url)
    try:
        success = client.get_inference_statistics(MODEL).model_stats[0].inference_stats.success
        return int(success.count), int(success.ns)
    finally:
        client.close()


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a live process, all its threads (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # fields 14, 15: utime, stime


def locust_percentile(response_times: dict[str, int], p: float) -> float:
    """Percentile of Locust's histogram of response times (ms, rounded to whole ms below 100 ms)."""
    counts = sorted((float(ms), n) for ms, n in response_times.items())
    rank, seen = p / 100 * sum(n for _, n in counts), 0
    for ms, n in counts:
        seen += n
        if seen >= rank:
            return ms
    return counts[-1][0]


def locust_closed(grpc_url: str, concurrency: int, duration: float, round_: int, scratch: Path) -> ClosedRun:
    """Locust headless in one process; its stats are reset once every user is spawned, and its CPU
    is read from /proc at that moment and when its run time ends.

    Figures come from Locust's final stats (--json-file): its --csv files are rewritten once a
    second and not at exit, so they miss up to the run's last second."""
    prefix = scratch / f"locust_c{concurrency}_r{round_}"
    run_time = math.ceil(WARMUP_S + duration)
    command = [
        sys.executable, "-m", "locust", "-f", str(LOCUSTFILE), "--headless",
        "-u", str(concurrency), "-r", str(concurrency), "-t", f"{run_time}s",
        "--reset-stats", "--stop-timeout", "5", "--json-file", str(prefix), "--loglevel", "INFO",
        "--protocol", "grpc", "--grpc-url", grpc_url, "--model", MODEL, "--payload", "random",
    ]  # fmt: skip
    env = dict(os.environ)
    marks: dict[str, tuple[float, float]] = {}  # marker → (monotonic s, Locust's CPU s)
    tail: list[str] = []
    shutting_down = False
    served_before = server_totals(grpc_url)
    with (prefix.parent / f"{prefix.name}.stdout").open("wb") as stdout:
        process = subprocess.Popen(command, env=env, stdout=stdout, stderr=subprocess.PIPE, text=True)
    killer = threading.Timer(run_time + GRACE_S, process.kill)  # bounds the run even if Locust hangs
    killer.start()
    try:
        assert process.stderr is not None
        for line in process.stderr:
            for marker, key in STDERR_MARKERS.items():
                if marker in line and key not in marks:
                    marks[key] = (time.monotonic(), cpu_seconds(process.pid))
            if "Shutting down" in line:  # final stats written; what is left is the interpreter's exit
                killer.cancel()
                killer = threading.Timer(EXIT_GRACE_S, process.kill)
                killer.start()
                shutting_down = True
            tail = [*tail[-30:], line.rstrip()]
        code = process.wait()
    finally:
        killer.cancel()
        if process.poll() is None:
            process.kill()
            process.wait()
    hung_at_exit = code == -signal.SIGKILL and shutting_down
    if (code != 0 and not hung_at_exit) or len(marks) != 2:
        raise RuntimeError(f"locust exited {code} ({sorted(marks)} seen):\n" + "\n".join(tail))
    served_after = server_totals(grpc_url)

    (entry,) = json.loads(Path(f"{prefix}.json").read_text())  # one request name: the model
    (t0, cpu0), (t1, cpu1) = marks["started"], marks["stopped"]
    handled = served_after[0] - served_before[0]
    server_us = (served_after[1] - served_before[1]) / handled / 1e3 if handled else None
    requests, seconds = int(entry["num_requests"]), entry["last_request_timestamp"] - entry["start_time"]
    mean_ms = entry["total_response_time"] / requests
    return ClosedRun(
        client="locust",
        concurrency=concurrency,
        round=round_,
        seconds=seconds,
        requests=requests,
        errors=int(entry["num_failures"]),
        requests_per_s=requests / seconds,
        mean_ms=mean_ms,
        p50_ms=locust_percentile(entry["response_times"], 50),
        p99_ms=locust_percentile(entry["response_times"], 99),
        cpu_percent=100 * (cpu1 - cpu0) / (t1 - t0),
        overhead_us=mean_ms * 1e3 - server_us if server_us is not None else None,
        note=f"Locust hung after writing its final stats; killed {EXIT_GRACE_S:g} s later" if hung_at_exit else "",
    )


def probe_rates(host: Host, rates: list[float], seconds: float) -> list[RateProbe]:
    """Open loop at increasing rates, stopping after the first rate the generator cannot hold."""
    probes = []
    for rate in rates:
        load = OpenLoopLoad(
            mode="open", rate_per_s=rate, warmup_s=0.5, window_s=seconds / 3, duration_s=seconds, arrivals="poisson"
        )
        m = measure(load, host)
        probe = RateProbe(
            rate_per_s=rate,
            achieved_per_s=m.requests_per_s,
            sent=m.sent,
            late_sends=m.late_sends,
            late_fraction=m.late_sends / m.sent if m.sent else 1.0,
            max_send_lag_ms=m.max_send_lag_us / 1e3,
            p50_ms=m.latency.p50_us / 1e3 if m.latency else None,
            p99_ms=m.latency.p99_us / 1e3 if m.latency else None,
            cpu_percent=m.client_cpu_percent,
            errors=m.error_count,
        )
        probes.append(probe)
        print(f"  open loop {rate:>6g}/s: achieved {probe.achieved_per_s:7.0f}/s, late {probe.late_fraction:6.1%}, "
              f"p50 {probe.p50_ms or 0:.2f} ms, CPU {probe.cpu_percent:.0f}%", flush=True)  # fmt: skip
        if probe.late_fraction > LATE_LIMIT or probe.errors:
            break
    return probes


@dataclass
class Summary:
    """Per concurrency: medians over rounds of each client's figures (None where never measured)."""

    concurrency: int
    ratio: float | None  # median over rounds of tritonkit req/s / Locust req/s
    tritonkit: dict[str, float | None]
    locust: dict[str, float | None]


SUMMARY_FIELDS = (
    "requests_per_s", "mean_ms", "p50_ms", "p99_ms", "cpu_percent", "cpu_us_per_request", "overhead_us", "in_flight",
)  # fmt: skip


def medians(runs: list[ClosedRun]) -> dict[str, float | None]:
    found = {f: [getattr(r, f) for r in runs if getattr(r, f) is not None] for f in SUMMARY_FIELDS}
    return {f: statistics.median(values) if values else None for f, values in found.items()}


def summarize(runs: list[ClosedRun], concurrencies: list[int]) -> list[Summary]:
    rows = []
    for c in concurrencies:
        ours = [r for r in runs if r.concurrency == c and r.client == "tritonkit"]
        theirs = [r for r in runs if r.concurrency == c and r.client == "locust"]
        ratios = [a.requests_per_s / b.requests_per_s for a, b in zip(ours, theirs, strict=True) if b.requests_per_s]
        rows.append(Summary(c, statistics.median(ratios) if ratios else None, medians(ours), medians(theirs)))
    return rows


COLUMNS = (("requests_per_s", "req/s", ".0f"), ("mean_ms", "mean ms", ".3f"), ("p50_ms", "p50 ms", ".2f"),
           ("p99_ms", "p99 ms", ".2f"), ("cpu_percent", "CPU %", ".0f"), ("cpu_us_per_request", "CPU µs/req", ".0f"),
           ("overhead_us", "overhead µs", ".0f"), ("in_flight", "in flight", ".1f"))  # fmt: skip


def cell(value: float | None, spec: str) -> str:
    return "-" if value is None else format(value, spec)


def print_table(rows: list[Summary]) -> None:
    """Two lines per concurrency, tritonkit's and Locust's; the throughput ratio on tritonkit's."""
    lines = [["conc", "client", COLUMNS[0][1], "tk/locust", *[title for _, title, _ in COLUMNS[1:]]]]
    for row in rows:
        for client, figures in (("tritonkit", row.tritonkit), ("locust", row.locust)):
            cells = [cell(figures[field], spec) for field, _, spec in COLUMNS]
            ratio = cell(row.ratio, ".2f") if client == "tritonkit" else ""
            lines.append([str(row.concurrency), client, cells[0], ratio, *cells[1:]])
    widths = [max(len(line[i]) for line in lines) for i in range(len(lines[0]))]
    for line in lines:
        print("  ".join(text.rjust(width) if i != 1 else text.ljust(width) for i, (text, width) in
                        enumerate(zip(line, widths, strict=True))))  # fmt: skip


@dataclass
class Machine:
    cpu: str
    cores: int | None
    load_average_at_start: tuple[float, float, float]
    python: str
    versions: dict[str, str]


def machine() -> Machine:
    cpuinfo = Path("/proc/cpuinfo").read_text() if Path("/proc/cpuinfo").exists() else ""
    models = [line.split(":", 1)[1].strip() for line in cpuinfo.splitlines() if line.startswith("model name")]
    versions = {p: metadata.version(p) for p in ("tritonclient", "locust", "grpcio", "gevent", "nvidia-pytriton")}
    return Machine(
        cpu=models[0] if models else platform.processor(),
        cores=os.cpu_count(),
        load_average_at_start=os.getloadavg(),
        python=platform.python_version(),
        versions=versions,
    )


def round_robin(
    server: LocalServer, concurrencies: list[int], rounds: int, duration: float, scratch: Path
) -> list[ClosedRun]:
    """Both clients at each concurrency, round after round; who goes first alternates, so a drift
    of the machine's speed during a pair does not always favour the same client."""
    host, runs = Host(server.grpc_url, server.http_url), []
    for round_ in range(rounds):
        for i, c in enumerate(concurrencies):
            for client in ("tritonkit", "locust") if (round_ + i) % 2 == 0 else ("locust", "tritonkit"):
                if client == "tritonkit":
                    run = tritonkit_closed(host, c, duration, round_)
                else:
                    run = locust_closed(server.grpc_url, c, duration, round_, scratch)
                runs.append(run)
                print(f"  round {round_} c={c:<3} {client:<9} {run.requests_per_s:7.0f} req/s  "
                      f"mean {run.mean_ms:.3f} ms  CPU {run.cpu_percent:3.0f}%  {run.note}", flush=True)  # fmt: skip
    return runs


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=float, default=10.0, help="measured seconds per run (after warmup)")
    parser.add_argument("--concurrency", default="1,4,16", help="closed-loop concurrencies, comma-separated")
    parser.add_argument("--rounds", type=int, default=3, help="round-robin rounds (medians are taken over them)")
    parser.add_argument("--rates", default="250,500,1000,2000,4000", help="open-loop rates/s to probe, ascending")
    parser.add_argument("--rate-duration", type=float, default=3.0, help="measured seconds per open-loop rate")
    parser.add_argument("--instances", type=int, default=2, help="model instances on the server")
    parser.add_argument("--json", type=Path, default=Path("bench/results/loadgen.json"))
    args = parser.parse_args()
    concurrencies = [int(c) for c in args.concurrency.split(",")]
    rates = [float(r) for r in args.rates.split(",")]
    info = machine()
    started = time.monotonic()

    with tempfile.TemporaryDirectory(prefix="tritonkit-loadgen-") as scratch_dir:
        scratch = Path(scratch_dir)
        with LocalServer(build_repository(scratch, args.instances)) as server:
            host = Host(server.grpc_url, server.http_url)
            print(f"server ready after {time.monotonic() - started:.1f} s; {args.rounds} rounds", flush=True)
            runs = round_robin(server, concurrencies, args.rounds, args.duration, scratch)
            probes = probe_rates(host, rates, args.rate_duration)
    elapsed = time.monotonic() - started

    rows = summarize(runs, concurrencies)
    held = [p.rate_per_s for p in probes if p.late_fraction <= LATE_LIMIT and not p.errors]
    max_rate = max(held) if held else None
    capped = bool(held) and max_rate == rates[-1]

    print(f"\n{info.cpu}, {info.cores} cores; tritonclient {info.versions['tritonclient']}, locust "
          f"{info.versions['locust']}; identity model, {args.instances} instances, {args.duration:g} s per run, "
          f"medians of {args.rounds} rounds")  # fmt: skip
    print_table(rows)
    rate_text = f"{'≥ ' if capped else ''}{max_rate:g}/s" if max_rate else f"below {rates[0]:g}/s"
    print(f"open-loop max sustainable rate (≤ {LATE_LIMIT:.0%} late sends): {rate_text}")
    print(f"total {elapsed:.0f} s")

    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps({
        "machine": asdict(info), "model": MODEL, "instances": args.instances, "duration_s": args.duration,
        "warmup_s": WARMUP_S, "rounds": args.rounds, "elapsed_s": round(elapsed, 1),
        "summary": [asdict(r) for r in rows], "runs": [asdict(r) for r in runs],
        "open_loop": {"late_limit": LATE_LIMIT, "max_rate_per_s": max_rate, "capped_by_probe_list": capped,
                      "probes": [asdict(p) for p in probes]},
        "notes": "locust percentiles are Locust's rounded ones; locust overhead uses Triton's mean handling "
                 "time over its whole run (spawn included); CPU% = process CPU time / measured wall time",
    }, indent=2) + "\n")  # fmt: skip
    print(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
