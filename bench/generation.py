"""Streaming generation benchmark: time to first token and inter-token latency of a generator served
by Triton, next to an in-process ONNX Runtime KV-cache loop over the same decoder graph, at 1 and 8
concurrent streams, in one run (the ratio is served / in-process).

Both sides get the same prompts (tritonkit's prompts payload: real sentences through the
generator's own tokenizer, seeded) and ask for the same number of tokens; both stop at the EOS ids
the generator's config names. The served side is `tritonkit check`'s own client: closed loop,
streams over gRPC, its windows and stability rule. The in-process side runs one thread per stream
over one shared InferenceSession (thread-safe; the decoder's own intra/inter-op thread counts, as
its config.pbtxt sets them), greedy, each step feeding back the cache the step before returned, as
the served generator does through its BLS requests to the decoder. Figures on both sides come from
the same computation (tritonkit.measure.generation): TTFT from a stream's start (the in-process loop
starts a stream as soon as the last ended, like a closed loop), ITL between consecutive tokens.

What the ratio measures: everything serving adds to a token (gRPC streaming, Triton's scheduling,
the Python backend's BLS hop and tensor copies per step, the decoder model's own queue).

It needs a text-generation export: the decoder `<name>_<variant>` (ONNX with past_key_values.{i}.*
inputs, present.{i}.* outputs and logits) and its generator `<name>_<variant>_generate` with its
tokenizer in `<model>/tokenizer/`, as `tritonkit export` writes them (export/distilgpt2.yaml).

    .venv/bin/python bench/generation.py --repository model_repository --model distilgpt2_fp32 \\
        --texts export/texts/evaluation.txt --json bench/results/generation.json
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import platform
import sys
import threading
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from importlib import metadata
from pathlib import Path

import numpy as np
import onnxruntime as ort

from tritonkit.export.generation import GENERATOR_SUFFIX, Decoder, read_decoder
from tritonkit.measure.generation import summarize_generation
from tritonkit.measure.measurement import Generation
from tritonkit.measure.payloads import build_pool
from tritonkit.measure.runner import measure_target
from tritonkit.measure.summary import Host
from tritonkit.specs import ClosedLoopLoad, PromptsPayload, SloSpec, TargetSpec
from tritonkit.triton.model_config import ModelConfig, read_config
from tritonkit.triton.server import LocalServer

GRACE_S = 120.0  # on top of a served run's own length before it is abandoned
SEED = 0


@dataclass
class Figures:
    """One side at one concurrency (times in ms)."""

    side: str  # "served" or "in-process"
    streams_at_once: int
    streams: int  # streams measured
    tokens_per_request: float | None
    output_tokens_per_s: float
    ttft_p50_ms: float | None
    ttft_p90_ms: float | None
    ttft_p99_ms: float | None
    itl_p50_ms: float | None
    itl_p90_ms: float | None
    itl_p99_ms: float | None
    errors: int = 0
    stable: bool | None = None  # served: whether its windows agreed before the time bound

    @classmethod
    def of(cls, side: str, streams_at_once: int, g: Generation, errors: int = 0, stable: bool | None = None) -> Figures:
        def ms(summary: object, p: int) -> float | None:
            return getattr(summary, f"p{p}_us") / 1000 if summary is not None else None

        return cls(
            side, streams_at_once, g.streams, g.tokens_per_request, g.output_tokens_per_s,
            ms(g.ttft, 50), ms(g.ttft, 90), ms(g.ttft, 99), ms(g.itl, 50), ms(g.itl, 90), ms(g.itl, 99),
            errors, stable,
        )  # fmt: skip


def served(host: Host, generator: str, payload: PromptsPayload, streams: int, args: argparse.Namespace) -> Figures:
    load = ClosedLoopLoad(
        mode="closed", concurrency=streams, warmup_s=args.warmup, window_s=args.duration / 3, duration_s=args.duration
    )
    target = TargetSpec(name=f"served-{streams}", model=generator, load=load, payload=payload, slo=SloSpec())
    m = asyncio.run(asyncio.wait_for(measure_target(target, host), load.warmup_s + load.duration_s + GRACE_S))
    if m.generation is None or m.generation.ttft is None:
        raise RuntimeError(f"served at {streams} streams: no stream succeeded: {m.error_examples}")
    return Figures.of("served", streams, m.generation, m.error_count, m.stable)


def in_process(
    session: ort.InferenceSession, decoder: Decoder, prompts: Sequence[list[int]], new_tokens: int,
    eos: frozenset[int], streams: int, args: argparse.Namespace,
) -> Figures:  # fmt: skip
    """`streams` threads, each greedy-decoding one prompt after another until the time is up."""
    outputs = ["logits", *(present for present, _ in decoder.cache)]
    started = time.monotonic_ns()
    measured_from = started + int(args.warmup * 1e9)
    until = measured_from + int(args.duration * 1e9)
    log: list[tuple[int, tuple[int, ...]]] = []
    lock = threading.Lock()

    def stream(prompt: list[int]) -> tuple[int, tuple[int, ...]]:
        begun, arrivals, chosen = time.monotonic_ns(), list[int](), list[int]()
        cache, fed = decoder.empty_cache(), prompt
        while len(chosen) < new_tokens:
            logits, *presents = session.run(outputs, decoder.step(fed, len(prompt) + len(chosen), cache))
            chosen.append(int(np.argmax(logits[0, -1])))
            arrivals.append(time.monotonic_ns())
            if chosen[-1] in eos:
                break
            cache = {past: array for (_, past), array in zip(decoder.cache, presents, strict=True)}
            fed = chosen[-1:]
        return begun, tuple(arrivals)

    def worker(first: int) -> None:
        index = first
        while time.monotonic_ns() < until:  # bounded: each stream is at most new_tokens steps
            record = stream(prompts[index % len(prompts)])
            index += streams
            with lock:
                log.append(record)

    threads = [threading.Thread(target=worker, args=(k,)) for k in range(streams)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    begun = np.asarray([b for b, _ in log], dtype=np.int64)
    due = (begun >= measured_from) & (begun < until)
    g = summarize_generation(begun, [t for _, t in log], due, np.ones(begun.size, bool), (measured_from, until))
    return Figures.of("in-process", streams, g)


def session_for(repository: Path, model: str) -> tuple[ort.InferenceSession, Decoder]:
    """The decoder's newest version in ONNX Runtime with the thread counts its config gives Triton."""
    folder = repository / model
    versions = sorted((int(p.name), p) for p in folder.iterdir() if p.name.isdigit() and (p / "model.onnx").is_file())
    path = versions[-1][1] / "model.onnx"
    parameters = read_config(folder / "config.pbtxt").parameters
    options = ort.SessionOptions()
    for key, attribute in (
        ("intra_op_thread_count", "intra_op_num_threads"),
        ("inter_op_thread_count", "inter_op_num_threads"),
    ):
        if key in parameters:
            setattr(options, attribute, int(parameters[key].string_value))
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"]), read_decoder(path)


def eos_ids(config: ModelConfig) -> frozenset[int]:
    text = config.parameters["eos_token_ids"].string_value if "eos_token_ids" in config.parameters else "[]"
    return frozenset(int(i) for i in json.loads(text))


def ratios(rows: list[Figures]) -> list[dict[str, object]]:
    """Served / in-process, per concurrency and figure (above 1: serving is slower)."""
    result = []
    for streams in sorted({r.streams_at_once for r in rows}):
        pair = {r.side: r for r in rows if r.streams_at_once == streams}
        entry: dict[str, object] = {"streams_at_once": streams}
        for key in ("ttft_p50_ms", "ttft_p99_ms", "itl_p50_ms", "itl_p99_ms", "output_tokens_per_s"):
            a, b = getattr(pair["served"], key), getattr(pair["in-process"], key)
            entry[key] = round(a / b, 3) if a is not None and b else None
        result.append(entry)
    return result


def machine() -> dict[str, object]:
    cpuinfo = Path("/proc/cpuinfo").read_text() if Path("/proc/cpuinfo").exists() else ""
    models = [line.split(":", 1)[1].strip() for line in cpuinfo.splitlines() if line.startswith("model name")]
    packages = ("tritonclient", "onnxruntime", "nvidia-pytriton", "grpcio")
    return {
        "cpu": models[0] if models else platform.processor(),
        "cores": os.cpu_count(),
        "load_average_at_start": os.getloadavg(),
        "python": platform.python_version(),
        "versions": {p: metadata.version(p) for p in packages},
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repository", type=Path, default=Path("model_repository"))
    parser.add_argument(
        "--model", required=True, help="the decoder, <name>_<variant>; its generator is <model>_generate"
    )
    parser.add_argument("--texts", type=Path, default=Path("export/texts/evaluation.txt"), help="one prompt a line")
    parser.add_argument("--max-new-tokens", type=int, default=32)
    parser.add_argument("--max-prompt-tokens", type=int, default=64)
    parser.add_argument("--streams", default="1,8", help="concurrent streams, comma-separated")
    parser.add_argument("--warmup", type=float, default=2.0, help="seconds before each measurement")
    parser.add_argument("--duration", type=float, default=15.0, help="measured seconds per side and concurrency")
    parser.add_argument("--grpc-url", default="", help="a running server instead of a local one on --repository")
    parser.add_argument("--json", type=Path, default=Path("bench/results/generation.json"))
    args = parser.parse_args()
    generator = args.model + GENERATOR_SUFFIX
    levels = [int(s) for s in args.streams.split(",")]
    payload = PromptsPayload(
        kind="prompts", tokenizer=args.repository / generator / "tokenizer", texts=args.texts,
        max_prompt_tokens=args.max_prompt_tokens, max_new_tokens=args.max_new_tokens, count=64,
    )  # fmt: skip
    config = read_config(args.repository / generator / "config.pbtxt")
    prompts = [p["input_ids"].tolist() for p in build_pool(payload, config, SEED).payloads]
    session, decoder = session_for(args.repository, args.model)
    info, started = machine(), time.monotonic()

    rows: list[Figures] = []
    with contextlib.ExitStack() as stack:
        url = args.grpc_url
        if not url:
            server = stack.enter_context(LocalServer(args.repository, load_all=False))
            for name in (args.model, generator):  # the decoder first: the generator's BLS calls need it
                server.load(name)
            url = server.grpc_url
        host = Host(url, "")
        for i, streams in enumerate(levels):
            # Who goes first alternates, so a drift of the machine's speed does not favour one side.
            for side in ("served", "in-process") if i % 2 == 0 else ("in-process", "served"):
                if side == "served":
                    row = served(host, generator, payload, streams, args)
                else:
                    row = in_process(session, decoder, prompts, args.max_new_tokens, eos_ids(config), streams, args)
                rows.append(row)
                print(f"  {streams} streams {side:<10} TTFT p50 {row.ttft_p50_ms or 0:.3g} ms, ITL p50 "
                      f"{row.itl_p50_ms or 0:.3g} ms, {row.output_tokens_per_s:.4g} tokens/s, {row.streams} streams",
                      flush=True)  # fmt: skip
    document = {
        "machine": info, "decoder": args.model, "generator": generator, "max_new_tokens": args.max_new_tokens,
        "max_prompt_tokens": args.max_prompt_tokens, "prompts": len(prompts), "warmup_s": args.warmup,
        "duration_s": args.duration, "elapsed_s": round(time.monotonic() - started, 1),
        "runs": [asdict(r) for r in rows], "served_over_in_process": ratios(rows),
    }  # fmt: skip
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(document, indent=2, allow_nan=False) + "\n")
    print(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
