"""A cascade's threshold, swept on the local Triton: accuracy against p50/p99 and throughput, with
the small and the large head alone beside it, side by side in one run.

For the small head, the large head and the cascade at each threshold (its recommended one, 0 —
the small head behind one BLS call — and points of the export's test curve), in alternating rounds:
- accuracy and escalation rate: every test-split message of the head's data sent to the served
  model (`answered_by` says which stage answered);
- p50/p99 at one request in flight, and throughput at `--concurrency` requests in flight (closed
  loop), with the test messages as the payload, so the escalation rate under load is the real one,
  padded to buckets so that Triton's batcher can merge requests.
The cascade is reloaded with each threshold (a config override: no restart). Medians over rounds
are printed with ratios to the large head, the Pareto front (accuracy up, p50 down, throughput
up), the recommended threshold for the accuracy floor (the fastest within `--max-accuracy-loss`
of the large head's served accuracy), and the cost of one BLS call: p50 of the cascade at
threshold 0 minus p50 of the small head alone. Written as JSON and a plot.

    .venv/bin/tritonkit export export/minilm_support.yaml --model-repository /tmp/support
    .venv/bin/python bench/cascade.py --repository /tmp/support --head sentiment   # ~6 min
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

import matplotlib
import numpy as np
import tritonclient.grpc as grpcclient

matplotlib.use("Agg")
import matplotlib.pyplot as plt

from tritonkit.export.cascade import ANSWERED_BY, cascade_name
from tritonkit.export.heads import PROBABILITIES
from tritonkit.export.labelled import read_labelled
from tritonkit.export.reference import tokenize
from tritonkit.measure.measurement import Measurement
from tritonkit.measure.runner import measure_target
from tritonkit.measure.summary import Host
from tritonkit.specs import TargetSpec
from tritonkit.triton.model_config import ModelConfig, read_config
from tritonkit.triton.server import LocalServer

RESULTS = Path(__file__).resolve().parent / "results"
SEQUENCE_LENGTH = 128


def served_accuracy(client: grpcclient.InferenceServerClient, model: str, batches: list[dict[str, np.ndarray]],
                    truth: np.ndarray, small: str) -> tuple[float, float | None]:  # fmt: skip
    """Accuracy of `model` on the test messages, and the share a cascade did not leave to `small`
    (None for a head alone)."""
    predicted, escalated = [], []
    for batch in batches:
        inputs = []
        for name, array in batch.items():
            tensor = grpcclient.InferInput(name, list(array.shape), "INT64")
            tensor.set_data_from_numpy(array)
            inputs.append(tensor)
        result = client.infer(model, inputs)
        predicted.append(result.as_numpy(PROBABILITIES).argmax(axis=1))
        if model.endswith("_cascade"):
            escalated.append([name.decode() != small for name in result.as_numpy(ANSWERED_BY)[:, 0]])
    accuracy = float(np.mean(np.concatenate(predicted) == truth))
    return accuracy, float(np.mean(np.concatenate(escalated))) if escalated else None


def target(model: str, texts: Path, tokenizer: Path, concurrency: int, seconds: float) -> TargetSpec:
    payload = {"kind": "tokens", "texts": texts, "tokenizer": tokenizer, "lengths": "buckets",
               "sequence_length": SEQUENCE_LENGTH, "count": 240}  # fmt: skip
    load = {"mode": "closed", "concurrency": concurrency, "warmup_s": 1.0, "window_s": seconds / 2,
            "duration_s": seconds, "stable_windows": 2}  # fmt: skip
    fields = {"name": f"{model}-c{concurrency}", "model": model, "outputs": [PROBABILITIES], "load": load,
              "payload": payload, "slo": {}}  # fmt: skip
    return TargetSpec.model_validate(fields)


def measure(host: Host, model: str, texts: Path, tokenizer: Path, args: argparse.Namespace) -> dict[str, float]:
    one: Measurement = asyncio.run(measure_target(target(model, texts, tokenizer, 1, args.seconds), host))
    many: Measurement = asyncio.run(
        measure_target(target(model, texts, tokenizer, args.concurrency, args.seconds), host)
    )
    assert one.latency is not None and many.latency is not None, f"{model}: no request succeeded"
    return {"p50_ms": one.latency.p50_us / 1000, "p99_ms": one.latency.p99_us / 1000,
            "throughput_per_s": many.inferences_per_s, "error_rate": max(one.error_rate, many.error_rate)}  # fmt: skip


def with_threshold(config: ModelConfig, threshold: float) -> ModelConfig:
    changed = ModelConfig()
    changed.CopyFrom(config)
    changed.parameters["threshold"].string_value = repr(threshold)
    return changed


def pareto(rows: list[dict[str, Any]]) -> list[str]:
    """The configurations no other beats on accuracy, p50 and throughput at once."""

    def beats(a: dict[str, Any], b: dict[str, Any]) -> bool:
        at_least = a["accuracy"] >= b["accuracy"] and a["p50_ms"] <= b["p50_ms"] and (
            a["throughput_per_s"] >= b["throughput_per_s"])  # fmt: skip
        return at_least and (a["accuracy"], -a["p50_ms"], a["throughput_per_s"]) != (
            b["accuracy"], -b["p50_ms"], b["throughput_per_s"])  # fmt: skip

    return [row["name"] for row in rows if not any(beats(other, row) for other in rows)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repository", type=Path, required=True, help="exported with a cascade (see above)")
    parser.add_argument("--head", default="sentiment")
    parser.add_argument("--recipe", default="minilm_support")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--seconds", type=float, default=4.0, help="measured per configuration and load")
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--max-accuracy-loss", type=float, default=0.01)
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    cascade = cascade_name(args.recipe, args.head)
    config = read_config(args.repository / cascade / "config.pbtxt")
    small, large = (config.parameters[key].string_value for key in ("small_model", "large_model"))
    record = json.loads((args.repository / cascade / "export_record.json").read_text())["details"]["cascade"]
    head = json.loads((args.repository / small / "export_record.json").read_text())["details"]["head"]
    recommended = float(record["threshold"])
    curve = [p["threshold"] for p in record["test_curve"] if 0 < p["escalation_rate"] < 1]
    thresholds = sorted({0.0, recommended, *curve[:: max(1, len(curve) // 6)]})
    labelled = read_labelled(Path(head["data"]), head["label"])
    tokenizer = args.repository / small / "tokenizer"
    inputs = {t.name for t in config.input}
    batches = [{k: v for k, v in b.items() if k in inputs}
               for b in tokenize(tokenizer, labelled.texts["test"], SEQUENCE_LENGTH, 16)]  # fmt: skip
    truth = np.array([labelled.classes.index(label) for label in labelled.labels["test"]])
    configurations = {small: (small, None), large: (large, None)}
    configurations |= {f"cascade@{t:.4g}": (cascade, t) for t in thresholds}
    rounds: dict[str, list[dict[str, Any]]] = {name: [] for name in configurations}
    with tempfile.TemporaryDirectory() as scratch, LocalServer(args.repository, load_all=False) as server:
        texts = Path(scratch) / "test_messages.txt"
        texts.write_text("\n".join(labelled.texts["test"]) + "\n")
        host = Host(server.grpc_url, server.http_url, 0.0, None)
        server.load(cascade)  # and its two stages
        for index in range(args.rounds):
            for name, (model, threshold) in configurations.items():
                if threshold is not None:
                    server.load(cascade, with_threshold(config, threshold))
                accuracy, escalation = served_accuracy(server.client, model, batches, truth, small)
                row = {
                    "accuracy": accuracy,
                    "escalation_rate": escalation,
                    **measure(host, model, texts, tokenizer, args),
                }
                rounds[name].append(row)
                print(f"round {index + 1} {name:>38}: accuracy {accuracy:.3f}, escalated "
                      f"{'-' if escalation is None else f'{escalation:.0%}'}, p50 {row['p50_ms']:.2f} ms, "
                      f"p99 {row['p99_ms']:.2f} ms, {row['throughput_per_s']:.0f}/s", flush=True)  # fmt: skip
    rows = []
    for name, measured in rounds.items():
        median = {key: statistics.median(r[key] for r in measured) for key in ("p50_ms", "p99_ms", "throughput_per_s")}
        first = measured[0]
        rows.append({"name": name, "threshold": configurations[name][1], "accuracy": first["accuracy"],
                     "escalation_rate": first["escalation_rate"], **median,
                     "error_rate": max(r["error_rate"] for r in measured)})  # fmt: skip
    by_name = {row["name"]: row for row in rows}
    base = by_name[large]
    for row in rows:
        row["p50_vs_large"] = row["p50_ms"] / base["p50_ms"]
        row["throughput_vs_large"] = row["throughput_per_s"] / base["throughput_per_s"]
        row["accuracy_vs_large_points"] = 100 * (row["accuracy"] - base["accuracy"])
    front = pareto(rows)
    floor = base["accuracy"] - args.max_accuracy_loss
    within = [row for row in rows if row["threshold"] is not None and row["accuracy"] >= floor - 1e-12]
    best = max(within, key=lambda row: row["throughput_per_s"]) if within else None
    bls_ms = by_name["cascade@0"]["p50_ms"] - by_name[small]["p50_ms"]
    print(f"\n{'configuration':<40}{'accuracy':>9}{'escalated':>10}{'p50 ms':>8}{'p99 ms':>8}{'inf/s':>7}"
          f"{'p50/large':>10}{'thr/large':>10}  pareto")  # fmt: skip
    for row in rows:
        escalated = "-" if row["escalation_rate"] is None else f"{row['escalation_rate']:.0%}"
        print(f"{row['name']:<40}{row['accuracy']:9.3f}{escalated:>10}{row['p50_ms']:8.2f}{row['p99_ms']:8.2f}"
              f"{row['throughput_per_s']:7.0f}{row['p50_vs_large']:10.2f}{row['throughput_vs_large']:10.2f}"
              f"  {'*' if row['name'] in front else ''}")  # fmt: skip
    print(f"\nexport's recommended threshold {recommended:.4g} (out-of-fold train, within {args.max_accuracy_loss} "
          f"of large); one BLS call: {bls_ms:+.2f} ms at p50 (cascade@0 vs {small} alone)")  # fmt: skip
    if best is not None:
        print(f"fastest within {100 * args.max_accuracy_loss:g} point(s) of the large head: {best['name']}: "
              f"accuracy {best['accuracy']:.3f} vs {base['accuracy']:.3f}, p50 {best['p50_vs_large']:.2f}x, "
              f"throughput {best['throughput_vs_large']:.2f}x the large head's")  # fmt: skip
    out = args.out or RESULTS / f"cascade_{args.head}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    document = {
        "machine": {"processor": platform.processor() or platform.machine(), "cpus": os.cpu_count()},
        "cascade": cascade, "small": small, "large": large, "recommended_threshold": recommended,
        "rounds": args.rounds, "seconds": args.seconds, "concurrency": args.concurrency,
        "max_accuracy_loss": args.max_accuracy_loss, "rows": rows, "pareto": front,
        "fastest_within_floor": best["name"] if best else None, "bls_call_p50_ms": bls_ms,
        "export_record": record,
    }  # fmt: skip
    out.write_text(json.dumps(document, indent=2) + "\n")
    plot(rows, front, small, large, out.with_suffix(".png"))
    print(f"wrote {out} and {out.with_suffix('.png')}")


def plot(rows: list[dict[str, Any]], front: list[str], small: str, large: str, path: Path) -> None:
    figure, axes = plt.subplots(1, 2, figsize=(11, 4.5), sharey=True)
    cascade = sorted((r for r in rows if r["threshold"] is not None), key=lambda r: r["threshold"])
    for ax, key, title in ((axes[0], "p50_ms", "p50 at 1 in flight (ms)"),
                           (axes[1], "throughput_per_s", "throughput (inferences/s)")):  # fmt: skip
        ax.plot([r[key] for r in cascade], [r["accuracy"] for r in cascade], marker="o", label="cascade")
        for row in cascade:
            ax.annotate(f"{row['threshold']:.2g}", (row[key], row["accuracy"]), fontsize=7, xytext=(3, 3),
                        textcoords="offset points")  # fmt: skip
        for row in rows:
            if row["threshold"] is None:
                ax.scatter(row[key], row["accuracy"], marker="s", s=60, label=row["name"])
        on_front = [r for r in rows if r["name"] in front]
        ax.scatter([r[key] for r in on_front], [r["accuracy"] for r in on_front], facecolors="none",
                   edgecolors="black", s=140, label="Pareto front")  # fmt: skip
        ax.set_xlabel(title)
    axes[0].set_ylabel("accuracy (test split)")
    axes[1].legend(fontsize=8)
    figure.suptitle(f"cascade: {small} first, {large} below the threshold (labels: thresholds)")
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)


if __name__ == "__main__":
    main()
