"""Export benchmark: per variant in a model repository, its size, in-process ONNX Runtime latency at
batch 1 and 8, the speedup over fp32 measured in the same run, and its gate figures.

Variants are timed round-robin (one slice of each per round, medians over rounds) so that the
noise of a shared machine falls on all of them alike. Extra rows are the int8 choices the export
weighs, every weight MatMul in int8 with no float nodes, each with its accuracy on the evaluation
texts against fp32 ONNX and whether that would meet the variant's gate: the graph as prepared or
smoothed with each alpha (export.smoothing), weights per output channel or per tensor, the
reduced range, and static QDQ.

    python bench/export_bench.py --recipe export/minilm.yaml --model-repository model_repository
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import onnxruntime as ort
from onnxruntime.quantization import QuantType, quantize_dynamic

from tritonkit.export import gates, variants
from tritonkit.export.int8_graphs import Int8Graphs
from tritonkit.export.pipeline import model_name
from tritonkit.export.recipe import load_recipe, read_texts
from tritonkit.export.record import RECORD_FILE, ExportRecord
from tritonkit.export.reference import tokenize
from tritonkit.export.source import resolve_source
from tritonkit.export.tasks import TASKS, Batch
from tritonkit.machine import cpu_description
from tritonkit.specs import CPU_VARIANTS, VariantName


@dataclass
class Row:
    variant: str
    megabytes: float
    latency_ms: dict[int, float]  # batch size → median ms per call
    speedup: dict[int, float]  # batch size → fp32 ms / this ms
    gates: dict[str, float]
    passed: bool  # a choice's: whether its figures would meet its variant's gate


def session(path: Path, threads: int = 0) -> ort.InferenceSession:
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads  # 0: ONNX Runtime's default, a thread per core
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


def feed(model: ort.InferenceSession, batch: int, sequence: int) -> dict[str, np.ndarray]:
    # Token id 1000 everywhere, full attention mask: a fixed, realistic-length workload.
    return {
        i.name: np.full((batch, sequence), 1 if "mask" in i.name else 1000, dtype=np.int64) for i in model.get_inputs()
    }


def time_round_robin(
    models: dict[str, Path], batches: list[int], sequence: int, rounds: int, calls: int, threads: int = 0
) -> dict[str, dict[int, float]]:
    sessions = {name: session(path, threads) for name, path in models.items()}
    samples: dict[str, dict[int, list[float]]] = {name: {b: [] for b in batches} for name in models}
    for model in sessions.values():  # warm up each once
        for batch in batches:
            model.run(None, feed(model, batch, sequence))
    for _ in range(rounds):
        for batch in batches:
            for name, model in sessions.items():
                inputs = feed(model, batch, sequence)
                started = time.perf_counter()
                for _ in range(calls):
                    model.run(None, inputs)
                samples[name][batch].append((time.perf_counter() - started) / calls * 1000)
    return {name: {b: statistics.median(v) for b, v in per_batch.items()} for name, per_batch in samples.items()}


def int8_choices(fp32: Path, calibration: list[Batch], scratch: Path) -> dict[tuple[str, VariantName], Path]:
    """Every weight MatMul in int8, one graph per choice, named with the variant it stands for."""
    prepared = scratch / "prepared.onnx"
    activation_matmuls = variants.prepare_for_quantization(fp32, prepared)
    graphs = Int8Graphs(prepared, calibration)
    choices: dict[tuple[str, VariantName], Path] = {}
    for alpha in (None, *graphs.alphas):
        label = "as prepared" if alpha is None else f"smoothed {alpha:g}"
        choices[label, "int8_dynamic"] = path = scratch / f"dynamic-{alpha}.onnx"
        variants.int8_dynamic(graphs.graph(alpha), path, keep_float=[])
    for label, per_channel, reduce_range in (("per-tensor weights", False, False), ("reduced range", True, True)):
        choices[f"smoothed 0.6, {label}", "int8_dynamic"] = path = scratch / f"dynamic-{label}.onnx"
        quantize_dynamic(str(graphs.graph(0.6)), str(path), weight_type=QuantType.QInt8, per_channel=per_channel,
                         reduce_range=reduce_range, op_types_to_quantize=["MatMul"])  # fmt: skip
    for alpha in (None, 0.5):
        label = "as prepared" if alpha is None else f"smoothed {alpha:g}"
        choices[label, "int8_static"] = path = scratch / f"static-{alpha}.onnx"
        variants.int8_static(graphs.graph(alpha), path, calibration, activation_matmuls)
    return choices


def _row(name: str, size: int, latency: dict[str, dict[int, float]], figures: dict[str, float], passed: bool) -> Row:
    return Row(
        variant=name,
        megabytes=round(size / 1e6, 1),
        latency_ms={b: round(ms, 2) for b, ms in latency[name].items()},
        speedup={b: round(latency["fp32"][b] / ms, 2) for b, ms in latency[name].items()},
        gates=figures,
        passed=passed,
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--recipe", type=Path, default=Path("export/minilm.yaml"))
    parser.add_argument("--model-repository", type=Path, default=Path("model_repository"))
    parser.add_argument("--sequence-length", type=int, default=128)
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--calls", type=int, default=10, help="calls per variant per round")
    parser.add_argument("--threads", type=int, default=0, help="intra-op threads; 0: one per core")
    parser.add_argument("--output", type=Path, default=Path("bench/results/export_bench.json"))
    args = parser.parse_args()

    recipe = load_recipe(args.recipe)
    models: dict[str, Path] = {}
    records: dict[str, ExportRecord] = {}
    for variant in CPU_VARIANTS:
        folder = args.model_repository / model_name(recipe, variant)
        if (folder / RECORD_FILE).is_file():
            records[variant] = ExportRecord.model_validate_json((folder / RECORD_FILE).read_text())
            models[variant] = folder / "1" / "model.onnx"
    if "fp32" not in models:
        print(
            f"error: no {model_name(recipe, 'fp32')} in {args.model_repository}; run tritonkit export first",
            file=sys.stderr,
        )
        return 2

    source, task = resolve_source(recipe.source), TASKS[recipe.task]
    assert recipe.evaluation_texts and recipe.calibration_texts, "a text model's recipe names both"
    texts = tokenize(source.folder, read_texts(recipe.evaluation_texts), recipe.max_sequence_length)
    calibration = tokenize(source.folder, read_texts(recipe.calibration_texts), recipe.max_sequence_length)
    expected = gates.onnx_outputs(models["fp32"], texts, task)
    rows = []
    with tempfile.TemporaryDirectory() as scratch:
        choices = int8_choices(models["fp32"], calibration, Path(scratch))
        named = {f"{variant}: {label}": path for (label, variant), path in choices.items()}
        latency = time_round_robin(
            {**models, **named}, [1, 8], args.sequence_length, args.rounds, args.calls, args.threads
        )
        for name, record in records.items():
            figures = {g.metric: float(f"{g.value:.4g}") for g in record.gates}
            rows.append(_row(name, record.file_bytes, latency, figures, record.passed))
        for (label, variant), path in choices.items():
            measured = gates.metrics(gates.onnx_outputs(path, texts, task), expected)
            verdicts = gates.check(measured, recipe.gate(variant), task)
            figures = {"min_mean_cosine": round(measured.mean_cosine, 6), "min_cosine": round(measured.min_cosine, 6)}
            rows.append(_row(f"{variant}: {label}", path.stat().st_size, latency, figures,
                             all(v.passed for v in verdicts)))  # fmt: skip

    cpu, features = cpu_description()
    print(
        f"{recipe.name}: sequence {args.sequence_length}, {args.rounds} rounds x {args.calls} calls, "
        f"intra-op threads {args.threads or 'one per core'}; {cpu} {features}"
    )
    print("exported variants, then every weight MatMul in int8 by each choice (its gate verdict would be):")
    print(f"{'variant':<54} {'MB':>6} {'b1 ms':>7} {'b1 x':>5} {'b8 ms':>7} {'b8 x':>5}  gates")
    for row in rows:
        verdict = "pass" if row.passed else "FAIL"
        shown = ", ".join(f"{k} {v:.4g}" for k, v in row.gates.items())
        print(f"{row.variant:<54} {row.megabytes:>6.1f} {row.latency_ms[1]:>7.2f} {row.speedup[1]:>5.2f} "
              f"{row.latency_ms[8]:>7.2f} {row.speedup[8]:>5.2f}  {verdict}: {shown}")  # fmt: skip
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps({
        "recipe": str(args.recipe), "sequence_length": args.sequence_length, "rounds": args.rounds,
        "calls": args.calls, "intra_op_threads": args.threads, "cpu": cpu, "cpu_features": features,
        "onnxruntime": ort.__version__,
        "rows": [asdict(r) for r in rows],
    }, indent=2) + "\n")  # fmt: skip
    print(f"wrote {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
