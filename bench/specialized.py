"""Specialized task models sharing one server: how much each loses when the other is under load too.

Two task models of one repository (by default the sentiment and the topic head of
export/minilm_support.yaml on the fp32 encoder, each with its own config.pbtxt), served by one
local Triton. In alternating rounds, each model alone, then both at once, at the same load (closed
loop, `--concurrency` requests in flight per model, the head data's test messages padded to
buckets): throughput and p50/p99 per model. Printed: the medians and each model's
shared/alone ratios; written as JSON. On a 2-core host that also runs the client, the models
compete for the same cores, so the ratios say how much capacity a second task costs here.

    .venv/bin/tritonkit export export/minilm_support.yaml --model-repository /tmp/support
    .venv/bin/python bench/specialized.py --repository /tmp/support   # ~2 min
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import statistics
import tempfile
from pathlib import Path
from typing import Any

from tritonkit.export.labelled import read_labelled
from tritonkit.measure.measurement import Measurement
from tritonkit.measure.runner import measure_target
from tritonkit.measure.summary import Host
from tritonkit.specs import TargetSpec
from tritonkit.triton.server import LocalServer

RESULTS = Path(__file__).resolve().parent / "results"


def target(model: str, repository: Path, texts: Path, args: argparse.Namespace) -> TargetSpec:
    payload = {"kind": "tokens", "texts": texts, "tokenizer": repository / model / "tokenizer", "lengths": "buckets",
               "sequence_length": 128, "count": 240}  # fmt: skip
    load = {"mode": "closed", "concurrency": args.concurrency, "warmup_s": 1.0, "window_s": args.seconds / 2,
            "duration_s": args.seconds, "stable_windows": 2}  # fmt: skip
    return TargetSpec.model_validate({"name": model, "model": model, "load": load, "payload": payload, "slo": {}})


async def measure(host: Host, targets: list[TargetSpec]) -> list[Measurement]:
    return list(await asyncio.gather(*(measure_target(t, host) for t in targets)))


def figures(measured: Measurement) -> dict[str, float]:
    assert measured.latency is not None, f"{measured.target}: no request succeeded"
    return {"throughput_per_s": measured.inferences_per_s, "p50_ms": measured.latency.p50_us / 1000,
            "p99_ms": measured.latency.p99_us / 1000, "error_rate": measured.error_rate}  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repository", type=Path, required=True)
    parser.add_argument("--models", default="minilm_support_sentiment_fp32,minilm_support_topic_fp32")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=4.0)
    parser.add_argument("--concurrency", type=int, default=4, help="in flight per model")
    parser.add_argument("--out", type=Path, default=RESULTS / "specialized.json")
    args = parser.parse_args()
    models = args.models.split(",")
    head = json.loads((args.repository / models[0] / "export_record.json").read_text())["details"]["head"]
    labelled = read_labelled(Path(head["data"]), head["label"])
    runs: dict[str, dict[str, list[dict[str, float]]]] = {kind: {m: [] for m in models} for kind in ("alone", "shared")}
    with tempfile.TemporaryDirectory() as scratch, LocalServer(args.repository, load_all=False) as server:
        texts = Path(scratch) / "messages.txt"
        texts.write_text("\n".join(labelled.texts["test"]) + "\n")
        host = Host(server.grpc_url, server.http_url, 0.0, None)
        for model in models:
            server.load(model)
        targets = {m: target(m, args.repository, texts, args) for m in models}
        for index in range(args.rounds):
            for model in models:
                (alone,) = asyncio.run(measure(host, [targets[model]]))
                runs["alone"][model].append(figures(alone))
            for model, shared in zip(models, asyncio.run(measure(host, list(targets.values()))), strict=True):
                runs["shared"][model].append(figures(shared))
            print(f"round {index + 1}: " + ", ".join(
                f"{m} {runs['alone'][m][-1]['throughput_per_s']:.0f}/s alone, "
                f"{runs['shared'][m][-1]['throughput_per_s']:.0f}/s shared" for m in models), flush=True)  # fmt: skip
    rows: list[dict[str, Any]] = []
    for model in models:
        median = {
            kind: {key: statistics.median(r[key] for r in runs[kind][model]) for key in runs[kind][model][0]}
            for kind in ("alone", "shared")
        }
        alone, shared = median["alone"], median["shared"]
        rows.append({"model": model, **median,
                     "throughput_shared_vs_alone": shared["throughput_per_s"] / alone["throughput_per_s"],
                     "p50_shared_vs_alone": shared["p50_ms"] / alone["p50_ms"]})  # fmt: skip
    total_alone = sum(r["alone"]["throughput_per_s"] for r in rows) / len(rows)
    total_shared = sum(r["shared"]["throughput_per_s"] for r in rows)
    print(f"\n{'model':<36}{'alone/s':>9}{'shared/s':>10}{'x':>6}{'p50 alone':>11}{'p50 shared':>12}{'x':>6}")
    for r in rows:
        print(f"{r['model']:<36}{r['alone']['throughput_per_s']:9.0f}{r['shared']['throughput_per_s']:10.0f}"
              f"{r['throughput_shared_vs_alone']:6.2f}{r['alone']['p50_ms']:11.2f}{r['shared']['p50_ms']:12.2f}"
              f"{r['p50_shared_vs_alone']:6.2f}")  # fmt: skip
    print(f"both together serve {total_shared:.0f}/s, {total_shared / total_alone:.2f}x one model alone")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({
        "machine": {"processor": platform.processor() or platform.machine(), "cpus": os.cpu_count()},
        "rounds": args.rounds, "seconds": args.seconds, "concurrency_per_model": args.concurrency, "rows": rows,
        "together_vs_one_alone": total_shared / total_alone,
    }, indent=2) + "\n")  # fmt: skip
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
