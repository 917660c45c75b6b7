"""Export benchmark: per variant in a model repository, its size, in-process ONNX Runtime latency at
batch 1 and 8, the speedup over fp32 measured in the same run, and its gate figures.

Variants are timed round-robin (one slice of each per round, medians over rounds) so that the
noise of a shared machine falls on all of them alike. One extra, ungated row quantizes every
MatMul to int8: the speed int8 could give if accuracy did not matter, next to what the gate allows.

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

from tritonkit.export import gates, variants
from tritonkit.export.pipeline import model_name
from tritonkit.export.recipe import load_recipe, read_texts
from tritonkit.export.record import RECORD_FILE, ExportRecord
from tritonkit.export.reference import tokenize
from tritonkit.export.source import resolve_source
from tritonkit.export.tasks import TASKS
from tritonkit.machine import cpu_description
from tritonkit.specs import CPU_VARIANTS

UNGATED = "int8_all_matmuls (ungated)"


@dataclass
class Row:
    variant: str
    megabytes: float
    latency_ms: dict[int, float]  # batch size → median ms per call
    speedup: dict[int, float]  # batch size → fp32 ms / this ms
    gates: dict[str, float]
    passed: bool | None


def session(path: Path) -> ort.InferenceSession:
    return ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])


def feed(model: ort.InferenceSession, batch: int, sequence: int) -> dict[str, np.ndarray]:
    # Token id 1000 everywhere, full attention mask: a fixed, realistic-length workload.
    return {
        i.name: np.full((batch, sequence), 1 if "mask" in i.name else 1000, dtype=np.int64) for i in model.get_inputs()
    }


def time_round_robin(
    models: dict[str, Path], batches: list[int], sequence: int, rounds: int, calls: int
) -> dict[str, dict[int, float]]:
    sessions = {name: session(path) for name, path in models.items()}
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


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--recipe", type=Path, default=Path("export/minilm.yaml"))
    parser.add_argument("--model-repository", type=Path, default=Path("model_repository"))
    parser.add_argument("--sequence-length", type=int, default=128)
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--calls", type=int, default=10, help="calls per variant per round")
    parser.add_argument("--output", type=Path, default=Path("bench/results/export_bench.json"))
    args = parser.parse_args()

    recipe = load_recipe(args.recipe)
    models, records = {}, {}
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

    with tempfile.TemporaryDirectory() as scratch:
        # The ungated reference: every weight MatMul in int8, accuracy measured against fp32 ONNX.
        prepared, ungated = Path(scratch) / "prepared.onnx", Path(scratch) / "int8_all.onnx"
        variants.prepare_for_quantization(models["fp32"], prepared)
        variants.int8_dynamic(prepared, ungated, keep_float=[])
        source = resolve_source(recipe.source)
        texts = tokenize(source.folder, read_texts(recipe.evaluation_texts), recipe.max_sequence_length)
        task = TASKS[recipe.task]
        measured = gates.metrics(
            gates.onnx_outputs(ungated, texts, task), gates.onnx_outputs(models["fp32"], texts, task)
        )
        latency = time_round_robin({**models, UNGATED: ungated}, [1, 8], args.sequence_length, args.rounds, args.calls)
        ungated_bytes = ungated.stat().st_size

    rows = []
    for name, per_batch in latency.items():
        record = records.get(name)
        figures = {g.metric: float(f"{g.value:.4g}") for g in record.gates} if record else {
            "min_mean_cosine": round(measured.mean_cosine, 6), "min_cosine": round(measured.min_cosine, 6)}  # fmt: skip
        rows.append(Row(
            variant=name,
            megabytes=round((record.file_bytes if record else ungated_bytes) / 1e6, 1),
            latency_ms={b: round(ms, 2) for b, ms in per_batch.items()},
            speedup={b: round(latency["fp32"][b] / ms, 2) for b, ms in per_batch.items()},
            gates=figures,
            passed=record.passed if record else None,
        ))  # fmt: skip

    cpu, features = cpu_description()
    print(
        f"{recipe.name}: sequence {args.sequence_length}, {args.rounds} rounds x {args.calls} calls; {cpu} {features}"
    )
    print(f"{'variant':<30} {'MB':>6} {'b1 ms':>7} {'b1 x':>5} {'b8 ms':>7} {'b8 x':>5}  gates")
    for row in rows:
        verdict = {True: "pass", False: "FAIL", None: "not gated"}[row.passed]
        figures = ", ".join(f"{k} {v:.4g}" for k, v in row.gates.items())
        print(f"{row.variant:<30} {row.megabytes:>6.1f} {row.latency_ms[1]:>7.2f} {row.speedup[1]:>5.2f} "
              f"{row.latency_ms[8]:>7.2f} {row.speedup[8]:>5.2f}  {verdict}: {figures}")  # fmt: skip
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps({
        "recipe": str(args.recipe), "sequence_length": args.sequence_length, "rounds": args.rounds,
        "calls": args.calls, "cpu": cpu, "cpu_features": features, "onnxruntime": ort.__version__,
        "rows": [asdict(r) for r in rows],
    }, indent=2) + "\n")  # fmt: skip
    print(f"wrote {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
