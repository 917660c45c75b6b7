"""How much capacity can padding buy at best? The compute ceiling of each padding strategy for
chat traffic on this machine, measured in-process (ONNX Runtime, no server, no client).

Natural lengths run one sentence per execution at its own length. A padding strategy runs full
batches of B sentences: buckets (each sentence padded to the shortest of 16/32/64/128 that holds
it, every bucket's batch full), or one length for all (every sentence padded to the longest of the
texts: what padding to the longest of each batch tends to at large B). The ceiling is the ratio of
per-sentence compute, natural over the strategy's, weighted by the texts' mix: the capacity gain a
server could reach if it added no cost of its own and every batch were full.

The server does not fill them: Triton's batcher merges consecutive requests of one shape only
(a request of another bucket ends the batch), so a mix of buckets with shares p batches about
1 / (1 - sum p²) requests at a time; printed beside the ceiling, with that batch size's ceiling.

Every (batch, length) is timed in interleaved rounds (this machine is shared); medians are kept.
Written as JSON.

    .venv/bin/python bench/batching_ceiling.py --exported /tmp/minilm_repo/minilm_fp32   # ~1 min
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import time
from collections import Counter
from pathlib import Path

import numpy as np
import onnxruntime as ort
from tokenizers import Tokenizer

from tritonkit.machine import cpu_description

TEXTS = Path(__file__).resolve().parent.parent / "export" / "texts" / "evaluation.txt"
BUCKETS = (16, 32, 64, 128)
BATCHES = (1, 2, 4, 8, 16, 32)


def lengths(exported: Path, texts: Path, max_length: int) -> list[int]:
    tokenizer = Tokenizer.from_file(str(exported / "tokenizer" / "tokenizer.json"))
    tokenizer.no_padding()
    tokenizer.enable_truncation(max_length)
    lines = [line for line in texts.read_text().splitlines() if line.strip()]
    return [len(encoding.ids) for encoding in tokenizer.encode_batch(lines)]


def bucket_of(length: int) -> int:
    return next((b for b in BUCKETS if length <= b), BUCKETS[-1])


def time_shapes(session: ort.InferenceSession, shapes: list[tuple[int, int]], rounds: int, runs: int) -> dict:
    """Median seconds of one execution per (batch, length), timed round by round."""
    names = [tensor.name for tensor in session.get_inputs()]
    feeds = {shape: {name: np.ones(shape, dtype=np.int64) for name in names} for shape in shapes}
    samples: dict[tuple[int, int], list[float]] = {shape: [] for shape in shapes}
    for feed in feeds.values():
        session.run(None, feed)  # warm every shape once
    for _ in range(rounds):
        for shape, feed in feeds.items():
            for _ in range(runs):
                started = time.perf_counter()
                session.run(None, feed)
                samples[shape].append(time.perf_counter() - started)
    return {shape: statistics.median(values) for shape, values in samples.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--exported", type=Path, default=Path("/tmp/minilm_repo/minilm_fp32"))
    parser.add_argument("--texts", type=Path, default=TEXTS)
    parser.add_argument("--max-length", type=int, default=128)
    parser.add_argument("--threads", type=int, default=len(os.sched_getaffinity(0)))
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--runs", type=int, default=4, help="executions per shape in each round")
    parser.add_argument("--json", type=Path, default=Path("bench/results/batching_ceiling.json"))
    args = parser.parse_args()

    found = lengths(args.exported, args.texts, args.max_length)
    mix = Counter(found)
    buckets = Counter(bucket_of(length) for length in found)
    longest = max(found)
    shapes = sorted({(1, length) for length in mix} | {(b, n) for b in BATCHES for n in (*buckets, longest)})
    options = ort.SessionOptions()
    options.intra_op_num_threads = args.threads
    session = ort.InferenceSession(str(args.exported / "1" / "model.onnx"), options, ["CPUExecutionProvider"])
    seconds = time_shapes(session, shapes, args.rounds, args.runs)

    total = len(found)
    natural = sum(count * seconds[(1, length)] for length, count in mix.items()) / total
    share = {bucket: count / total for bucket, count in buckets.items()}
    run_length = 1 / (1 - sum(p * p for p in share.values()))
    rows = []
    for batch in BATCHES:
        bucketed = sum(p * seconds[(batch, bucket)] / batch for bucket, p in share.items())
        one_length = seconds[(batch, longest)] / batch
        rows.append({"batch": batch, "buckets_ms_per_sentence": 1e3 * bucketed,
                     "one_length_ms_per_sentence": 1e3 * one_length, "buckets_ceiling": natural / bucketed,
                     "one_length_ceiling": natural / one_length})  # fmt: skip
    print(f"{total} texts, {min(found)}-{longest} tokens (mean {statistics.mean(found):.1f}); buckets {dict(buckets)}")
    print(f"natural lengths, batch 1: {1e3 * natural:.2f} ms per sentence")
    print(f"{'batch':>5} {'buckets ms':>11} {'ceiling':>8} {'one length ms':>14} {'ceiling':>8}")
    for row in rows:
        print(f"{row['batch']:>5} {row['buckets_ms_per_sentence']:>11.2f} {row['buckets_ceiling']:>7.2f}x "
              f"{row['one_length_ms_per_sentence']:>14.2f} {row['one_length_ceiling']:>7.2f}x")  # fmt: skip
    print(f"Triton's batcher merges consecutive requests of one bucket: about {run_length:.2f} at a time for this mix")
    result = {
        "date": time.strftime("%Y-%m-%d"), "machine": cpu_description()[0], "python": platform.python_version(),
        "onnxruntime": ort.__version__, "threads": args.threads, "model": str(args.exported), "texts": str(args.texts),
        "token_lengths": {"min": min(found), "max": longest, "mean": statistics.mean(found)},
        "bucket_shares": {str(b): p for b, p in sorted(share.items())}, "same_bucket_run": run_length,
        "natural_ms_per_sentence": 1e3 * natural, "rows": rows,
        "seconds": {f"{b}x{n}": s for (b, n), s in seconds.items()},
    }  # fmt: skip
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {args.json}")


if __name__ == "__main__":
    main()
