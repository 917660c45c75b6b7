"""Cold start of a Triton replica on this machine: tritonserver from process start to live, then
each model's load (its instances created, its warmup run) until it is ready. In a cluster a cold
start adds the image pull and, with object storage, the copy of the weights; those are not
measured here. Every model is loaded in a fresh server each run; medians over runs.

    .venv/bin/python bench/cold_start.py --model-repository model_repository \\
        --models minilm_fp32_latency,minilm_int8_dynamic_latency --runs 3
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

from tritonkit.machine import cpu_description
from tritonkit.triton.server import LocalServer


def cold_start(repository: Path, model: str) -> tuple[float, float]:
    """(seconds to a live server, seconds to load `model` into it)."""
    started = time.perf_counter()
    with LocalServer(repository, load_all=False, response_cache_bytes=0) as server:
        live = time.perf_counter() - started
        loading = time.perf_counter()
        server.load(model)
        return live, time.perf_counter() - loading


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model-repository", type=Path, default=Path("model_repository"))
    parser.add_argument("--models", required=True, help="comma-separated model names")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--json", type=Path, default=Path("bench/results/cold_start.json"))
    args = parser.parse_args()

    rows = []
    print(f"{'model':<32} {'server live s':>13} {'model load s':>12} {'total s':>8}  (median of {args.runs})")
    for model in args.models.split(","):
        runs = [cold_start(args.model_repository, model) for _ in range(args.runs)]
        live = statistics.median(r[0] for r in runs)
        load = statistics.median(r[1] for r in runs)
        rows.append({"model": model, "server_live_s": live, "model_load_s": load, "runs": runs})
        print(f"{model:<32} {live:>13.2f} {load:>12.2f} {live + load:>8.2f}")
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps({"cpu": cpu_description(), "models": rows}, indent=2) + "\n")
    print(f"wrote {args.json}")


if __name__ == "__main__":
    main()
