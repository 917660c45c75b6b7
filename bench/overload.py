"""Overload benchmark: MiniLM fp32 under the latency profile, with its bounded queue (8 requests,
30 ms timeout, REJECT) and with the queue policy removed, offered twice its measured capacity.

For each configuration: capacity first (closed loop, `--concurrency` in flight, chat payloads:
one real sentence per request at its own length), then Poisson arrivals at twice that for
`--seconds`. Printed side by side: offered and served requests/s, rejected and other failed
requests, p50/p99 of the accepted requests against the chat SLO's p99, Triton's queue time and
the requests outstanding (due, not answered) at the first and last window's end, and whether the
queue grew. The shared 2-core machine also runs the server and the client: figures drift from
run to run, ratios and trends are what to read.

    .venv/bin/tritonkit export export/minilm.yaml --variants fp32 --model-repository /tmp/minilm_repo
    .venv/bin/python bench/overload.py --exported /tmp/minilm_repo/minilm_fp32   # ~2 min
"""

from __future__ import annotations

import argparse
import asyncio
import json
import platform
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from tritonkit.measure.measurement import Measurement
from tritonkit.measure.runner import measure_target
from tritonkit.measure.stats import percentile
from tritonkit.measure.summary import Host
from tritonkit.report.data import plain
from tritonkit.specs import QueuePolicyKnobs, ServingKnobs, TargetSpec
from tritonkit.triton import model_config
from tritonkit.triton.onnx_signature import read_signature
from tritonkit.triton.profiles import profile
from tritonkit.triton.repository import write_model
from tritonkit.triton.server import LocalServer

TEXTS = Path(__file__).resolve().parent.parent / "export" / "texts" / "evaluation.txt"
CHAT_P99_MS = 120.0  # targets/minilm.yaml's chat SLO
SEQUENCE_LENGTH = 128  # the recipe's max_sequence_length: warmup and truncation


def configurations() -> dict[str, ServingKnobs]:
    latency = profile("latency").warmed_up_at(SEQUENCE_LENGTH)
    assert latency.dynamic_batching is not None
    unbounded = latency.dynamic_batching.model_copy(update={"queue_policy": QueuePolicyKnobs()})
    return {
        "minilm_fp32_latency": latency,
        "minilm_fp32_latency_no_queue_policy": latency.model_copy(update={"dynamic_batching": unbounded}),
    }


def write_repository(exported: Path, root: Path) -> Path:
    onnx = exported / "1" / "model.onnx"
    tokenizer = {f"tokenizer/{f.name}": f for f in (exported / "tokenizer").iterdir()}
    signature = read_signature(onnx)
    for name, knobs in configurations().items():
        write_model(root, model_config.build_config(name, signature, knobs), onnx, extra_files=tokenizer)
    return root


def target(model: str, repository: Path, load: dict[str, Any]) -> TargetSpec:
    return TargetSpec.model_validate(
        {
            "name": f"{model}-{load['mode']}",
            "model": model,
            "outputs": ["sentence_embedding"],
            "load": load,
            "payload": {
                "kind": "tokens",
                "texts": TEXTS,
                "tokenizer": repository / model / "tokenizer",
                "lengths": "texts",
                "sequence_length": SEQUENCE_LENGTH,
            },
            "slo": {"p99_ms": CHAT_P99_MS},
        }
    )


def from_send_ms(m: Measurement, p: int) -> float | None:
    """A percentile of the accepted requests' latency from their actual send: without the time a
    send spent behind schedule (the client starved of a core), which latency proper includes."""
    raw = m.raw
    first, last = m.measured_windows
    ok = np.asarray([e == "" for e in raw.error]) & (raw.window >= first) & (raw.window <= last)
    from_send = raw.latency_us[ok] - (raw.sent_us[ok] - raw.scheduled_us[ok])
    return percentile(from_send, p) / 1000 if from_send.size else None


def summary(capacity: Measurement, overload: Measurement, server_up: bool) -> dict[str, Any]:
    first, last = overload.windows[0], overload.windows[-1]
    latency = overload.latency
    return {
        "capacity_per_s": capacity.requests_per_s,
        "capacity_p99_ms": capacity.latency.p99_us / 1000 if capacity.latency else None,
        "offered_per_s": overload.level,
        "served_per_s": overload.requests_per_s,
        "requests_due": overload.sent,
        "rejected_percent": 100 * overload.rejected_rate,
        "other_errors": {k: v for k, v in overload.errors.items() if not k.startswith("rejected")},
        "accepted_p50_ms": latency.p50_us / 1000 if latency else None,
        "accepted_p99_ms": latency.p99_us / 1000 if latency else None,
        "accepted_p99_within_chat_slo": latency is not None and latency.p99_us <= CHAT_P99_MS * 1000,
        "accepted_p50_from_send_ms": from_send_ms(overload, 50),
        "accepted_p99_from_send_ms": from_send_ms(overload, 99),
        "server_queue_ms_mean": overload.server.queue_us / 1000 if overload.server else None,
        "server_queue_ms_first_last": [
            w.server_queue_us / 1000 if w.server_queue_us is not None else None for w in (first, last)
        ],
        "outstanding_first_last": [first.outstanding, last.outstanding],
        "late_send_percent": 100 * overload.late_sends / overload.sent if overload.sent else None,
        "queue_growing": overload.queue_growing,
        "server_stayed_up": server_up,
    }


def print_table(rows: dict[str, dict[str, Any]]) -> None:
    def show(value: Any) -> str:
        if isinstance(value, float):
            return f"{value:.1f}"
        if isinstance(value, list):
            return " → ".join(show(v) for v in value)
        if isinstance(value, dict):
            return ", ".join(f"{k}: {v}" for k, v in value.items()) or "none"
        return str(value)

    names = list(rows)
    keys = list(rows[names[0]])
    width = max(len(k) for k in keys)
    print(f"{'':<{width}}  " + "  ".join(f"{n:>36}" for n in names))
    for key in keys:
        print(f"{key:<{width}}  " + "  ".join(f"{show(rows[n][key]):>36}" for n in names))


def model_ready(server: LocalServer, model: str) -> bool:
    try:
        server.raise_if_exited()
        return bool(server.client.is_model_ready(model))
    except Exception:
        return False


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--exported", type=Path, default=Path("/tmp/minilm_repo/minilm_fp32"))
    parser.add_argument("--seconds", type=float, default=20.0, help="overload measured for this long")
    parser.add_argument("--concurrency", type=int, default=8, help="in flight while measuring capacity")
    parser.add_argument("--json", type=Path, default=Path("bench/results/overload.json"))
    args = parser.parse_args()

    rows: dict[str, dict[str, Any]] = {}
    runs: dict[str, Any] = {}
    with tempfile.TemporaryDirectory() as tmp:
        repository = write_repository(args.exported, Path(tmp) / "repository")
        with LocalServer(repository) as server:
            host = Host(server.grpc_url, server.http_url)
            for model in configurations():
                closed = {"mode": "closed", "concurrency": args.concurrency, "warmup_s": 2, "window_s": 2}
                capacity = asyncio.run(measure_target(target(model, repository, closed | {"duration_s": 8}), host))
                window_s = args.seconds / 5
                load = {"mode": "open", "arrivals": "poisson", "rate_per_s": 2 * capacity.requests_per_s}
                timing = {"warmup_s": 2, "window_s": window_s, "duration_s": args.seconds, "stable_windows": 5}
                overload = asyncio.run(measure_target(target(model, repository, load | timing), host))
                rows[model] = summary(capacity, overload, model_ready(server, model))
                runs[model] = {"capacity": plain(capacity), "overload": plain(overload)}
                print(f"{model}: capacity {capacity.requests_per_s:.0f}/s, then {overload.level:.0f}/s offered")
                for warning in overload.warnings:
                    print(f"  ! {warning}")
    print_table(rows)
    args.json.parent.mkdir(parents=True, exist_ok=True)
    document = {"cpu": platform.processor() or platform.machine(), "summary": rows, "runs": runs}
    args.json.write_text(json.dumps(document, indent=2, allow_nan=False) + "\n")
    print(f"wrote {args.json}")


if __name__ == "__main__":
    main()
