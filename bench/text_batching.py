"""Chat traffic with variable-length text: does padding to buckets make it batch? MiniLM under the
latency profile (the chat configuration), one real sentence per request, Poisson arrivals.

Four ways to send the same sentences, side by side in one run:
- natural: token ids tokenized by the client at each sentence's own length, to the encoder (today's
  chat traffic: shapes differ, so Triton's batcher rarely merges two requests);
- client buckets: the same, padded by the client to 16/32/64/128 (a tokens payload's
  `lengths: buckets`);
- text longest: strings to `<name>_text` with padding to the longest text of each tokenizer batch;
- text buckets: strings to `<name>_text` with buckets 16/32/64/128.

For each: p50/p99 at a low rate, then rising rates until p99 leaves the chat SLO (or errors pass
1%), then a few bisection steps between the last rate within it and the first beyond: the highest
rate within it is the capacity. The encoder's own statistics give its average
batch size at each rate. Printed: capacity ratios against natural, p99 at low load, batch sizes;
written as JSON and a plot of p99 against offered rate. The shared 2-core machine also runs the
server and the client: figures drift from run to run, ratios measured in one run are what to read.

    .venv/bin/tritonkit export export/minilm.yaml --variants fp32 --model-repository /tmp/minilm_repo
    .venv/bin/python bench/text_batching.py --exported /tmp/minilm_repo/minilm_fp32   # ~12 min
"""

from __future__ import annotations

import argparse
import asyncio
import json
import platform
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt

from tritonkit.measure.measurement import Measurement
from tritonkit.measure.runner import measure_target
from tritonkit.measure.summary import Host
from tritonkit.specs import TargetSpec, TextModelSpec
from tritonkit.triton import model_config
from tritonkit.triton.onnx_signature import read_signature
from tritonkit.triton.profiles import profile
from tritonkit.triton.repository import write_model
from tritonkit.triton.server import LocalServer
from tritonkit.triton.text_model import write_text_model

TEXTS = Path(__file__).resolve().parent.parent / "export" / "texts" / "evaluation.txt"
CHAT_P99_MS = 120.0  # targets/minilm.yaml's chat SLO
SEQUENCE_LENGTH = 128  # the recipe's max_sequence_length: warmup and truncation
ENCODER = "minilm_fp32_latency"
BUCKETS = (16, 32, 64, 128)
MAX_ERROR_RATE = 0.01


@dataclass(frozen=True)
class Strategy:
    model: str
    payload: dict[str, Any]


STRATEGIES = {
    "natural": Strategy(ENCODER, {"kind": "tokens", "lengths": "texts"}),
    "client buckets": Strategy(ENCODER, {"kind": "tokens", "lengths": "buckets", "buckets": list(BUCKETS)}),
    "text longest": Strategy("minilm_text_longest", {"kind": "texts"}),
    "text buckets": Strategy("minilm_text_buckets", {"kind": "texts"}),
}


def write_repository(exported: Path, root: Path, queue_delay_us: int | None) -> Path:
    """The encoder under the latency profile (with another batcher delay where asked: the same for
    every strategy), and the two text models over it."""
    onnx = exported / "1" / "model.onnx"
    tokenizer = {f"tokenizer/{f.name}": f for f in (exported / "tokenizer").iterdir()}
    knobs = profile("latency").warmed_up_at(SEQUENCE_LENGTH)
    if queue_delay_us is not None:
        assert knobs.dynamic_batching is not None
        batching = knobs.dynamic_batching.model_copy(update={"max_queue_delay_microseconds": queue_delay_us})
        knobs = knobs.model_copy(update={"dynamic_batching": batching})
    write_model(root, model_config.build_config(ENCODER, read_signature(onnx), knobs), onnx, extra_files=tokenizer)
    for padding in ("longest", "buckets"):
        spec = TextModelSpec(variant="fp32", padding=padding, buckets=BUCKETS)  # type: ignore[arg-type]
        write_text_model(root, f"minilm_text_{padding}", ENCODER, spec, SEQUENCE_LENGTH)
    return root


def target(strategy: Strategy, repository: Path, rate: float) -> TargetSpec:
    payload = {"texts": TEXTS, "count": 512, **strategy.payload}
    if payload["kind"] == "tokens":
        payload |= {"tokenizer": repository / ENCODER / "tokenizer", "sequence_length": SEQUENCE_LENGTH}
    load = {"mode": "open", "arrivals": "poisson", "rate_per_s": rate, "warmup_s": 1.0, "window_s": 2.0,
            "duration_s": 6.0, "stable_windows": 3}  # fmt: skip
    fields = {"name": f"{strategy.model}-{rate:g}", "model": strategy.model, "outputs": ["sentence_embedding"],
              "load": load, "payload": payload, "slo": {"p99_ms": CHAT_P99_MS}}  # fmt: skip
    return TargetSpec.model_validate(fields)


def encoder_counts(server: LocalServer) -> tuple[int, int]:
    stats = server.client.get_inference_statistics(ENCODER).model_stats[0]
    return stats.inference_count, stats.execution_count


def run_level(server: LocalServer, host: Host, strategy: Strategy, repository: Path, rate: float) -> dict[str, Any]:
    before = encoder_counts(server)
    measured: Measurement = asyncio.run(measure_target(target(strategy, repository, rate), host))
    inferences, executions = (a - b for a, b in zip(encoder_counts(server), before, strict=True))
    latency = measured.latency
    p99 = latency.p99_us / 1000 if latency else None
    errors = measured.error_rate
    return {
        "offered_per_s": rate,
        "served_per_s": measured.requests_per_s,
        "p50_ms": latency.p50_us / 1000 if latency else None,
        "p99_ms": p99,
        "error_rate": errors,
        "encoder_average_batch": inferences / executions if executions else None,
        "within_slo": p99 is not None and p99 <= CHAT_P99_MS and errors <= MAX_ERROR_RATE,
    }


def capacity_run(server: LocalServer, host: Host, strategy: Strategy, repository: Path, args: argparse.Namespace
                 ) -> dict[str, Any]:  # fmt: skip
    low = run_level(server, host, strategy, repository, args.low_rate)
    levels = []
    rate = args.start_rate
    while rate <= args.max_rate:
        level = run_level(server, host, strategy, repository, rate)
        levels.append(level)
        show(level)
        if not level["within_slo"]:
            break
        rate *= args.step
    # Between the last rate within the SLO and the first beyond it: halve the gap (geometrically).
    passing = [level["offered_per_s"] for level in levels if level["within_slo"]]
    failing = [level["offered_per_s"] for level in levels if not level["within_slo"]]
    low_rate, high_rate = max(passing, default=0.0), min(failing, default=0.0)
    for _ in range(args.refine if low_rate and high_rate else 0):
        rate = (low_rate * high_rate) ** 0.5
        level = run_level(server, host, strategy, repository, rate)
        levels.append(level)
        show(level)
        low_rate, high_rate = (rate, high_rate) if level["within_slo"] else (low_rate, rate)
    levels.sort(key=lambda level: level["offered_per_s"])
    return {"low_load": low, "levels": levels, "capacity_per_s": low_rate}


def show(level: dict[str, Any]) -> None:
    p99, batch = level["p99_ms"] or float("nan"), level["encoder_average_batch"] or 0.0
    print(f"  {level['offered_per_s']:7.1f}/s: p99 {p99:7.1f} ms, errors {100 * level['error_rate']:.1f}%, "
          f"encoder batch {batch:.2f}")  # fmt: skip


def ratio(value: float | None, base: float | None) -> float | None:
    return value / base if value is not None and base else None


def summarise(results: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    natural = results["natural"]
    summary = {}
    for name, result in results.items():
        at_capacity = [lv for lv in result["levels"] if lv["offered_per_s"] == result["capacity_per_s"]]
        summary[name] = {
            "capacity_per_s": result["capacity_per_s"],
            "capacity_vs_natural": ratio(result["capacity_per_s"], natural["capacity_per_s"]),
            "low_load_p99_ms": result["low_load"]["p99_ms"],
            "low_load_p99_vs_natural": ratio(result["low_load"]["p99_ms"], natural["low_load"]["p99_ms"]),
            "encoder_batch_at_capacity": at_capacity[0]["encoder_average_batch"] if at_capacity else None,
        }
    return summary


def print_summary(summary: dict[str, dict[str, Any]]) -> None:
    columns = [("capacity/s", "capacity_per_s"), ("x natural", "capacity_vs_natural"),
               ("low-load p99 ms", "low_load_p99_ms"), ("x natural", "low_load_p99_vs_natural"),
               ("encoder batch", "encoder_batch_at_capacity")]  # fmt: skip
    print(f"\n{'strategy':<16}" + "".join(f"{title:>17}" for title, _ in columns))
    for name, row in summary.items():
        cells = [f"{row[key]:17.2f}" if isinstance(row[key], float) else f"{'-':>17}" for _, key in columns]
        print(f"{name:<16}" + "".join(cells))


def plot(results: dict[str, dict[str, Any]], path: Path) -> None:
    figure, axes = plt.subplots(figsize=(7, 4.5))
    for name, result in results.items():
        levels = [level for level in result["levels"] if level["p99_ms"] is not None]
        axes.plot([lv["offered_per_s"] for lv in levels], [lv["p99_ms"] for lv in levels], marker="o", label=name)
    axes.axhline(CHAT_P99_MS, color="grey", linestyle="--", label=f"chat SLO p99 {CHAT_P99_MS:g} ms")
    axes.set_xlabel("offered requests/s (Poisson, one sentence each)")
    axes.set_ylabel("p99 latency (ms)")
    axes.set_yscale("log")
    axes.set_title("MiniLM fp32, latency profile: padding strategies under chat traffic")
    axes.legend()
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--exported", type=Path, default=Path("/tmp/minilm_repo/minilm_fp32"))
    parser.add_argument("--low-rate", type=float, default=10.0, help="the low load p99 is compared at")
    parser.add_argument("--start-rate", type=float, default=20.0)
    parser.add_argument("--step", type=float, default=1.3, help="each level offers this many times the last")
    parser.add_argument("--max-rate", type=float, default=2000.0)
    parser.add_argument("--refine", type=int, default=3, help="bisection steps between the last pass and first miss")
    parser.add_argument("--queue-delay-us", type=int, help="the encoder's batcher delay (default: the profile's, 0)")
    parser.add_argument("--json", type=Path, default=Path("bench/results/text_batching.json"))
    args = parser.parse_args()

    results: dict[str, dict[str, Any]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        repository = write_repository(args.exported, Path(tmp) / "repository", args.queue_delay_us)
        with LocalServer(repository) as server:
            host = Host(server.grpc_url, server.http_url)
            for name, strategy in STRATEGIES.items():
                print(f"{name}: {strategy.model}")
                results[name] = capacity_run(server, host, strategy, repository, args)
    summary = summarise(results)
    print_summary(summary)
    args.json.parent.mkdir(parents=True, exist_ok=True)
    document = {"cpu": platform.processor() or platform.machine(), "chat_p99_ms": CHAT_P99_MS,
                "queue_delay_us": args.queue_delay_us or 0, "summary": summary, "runs": results}  # fmt: skip
    args.json.write_text(json.dumps(document, indent=2, allow_nan=False) + "\n")
    plot(results, args.json.with_suffix(".png"))
    print(f"wrote {args.json} and {args.json.with_suffix('.png')}")


if __name__ == "__main__":
    main()
