"""A recorded trace replayed against a real tritonserver: every row sent at its time, each with
its own length. The encoder takes exactly 7 tokens, so Triton itself tells which lengths arrived:
the rows of length 7 are answered, the rows of length 9 refused."""

from __future__ import annotations

import asyncio
from pathlib import Path

import numpy as np
import pytest

from tests.reliability.text_encoder import write_encoder
from tritonkit.measure.runner import measure_target
from tritonkit.measure.summary import Host
from tritonkit.specs import TargetSpec
from tritonkit.triton.server import LocalServer

pytestmark = pytest.mark.integration

ROWS = 40
GAP_S = 0.05  # 2 s of trace


def write_trace(path: Path) -> list[int]:
    lengths = [7 if i % 4 else 9 for i in range(ROWS)]  # every fourth row too long for the model
    texts = ["the parcel arrived two days late", "my order came and the box was broken", "it is fine"]
    rows = [f"{1000 + i * GAP_S:.3f},{lengths[i]},{texts[i % 3]}" for i in range(ROWS)]
    path.write_text("timestamp,length,text\n" + "\n".join(rows) + "\n")
    return lengths


def test_a_trace_is_replayed_row_by_row_with_its_lengths(tmp_path: Path) -> None:
    repository = tmp_path / "repo"
    folder = write_encoder(repository, "enc7", sequence=7)
    lengths = write_trace(tmp_path / "trace.csv")
    (tmp_path / "texts.txt").write_text("unused: every row carries its text\n")
    spec = TargetSpec.model_validate(
        {
            "name": "replay",
            "model": "enc7",
            "load": {
                "mode": "trace",
                "file": tmp_path / "trace.csv",
                "speed": 1.0,
                "warmup_s": 0.2,
                "window_s": 0.5,
                "duration_s": 10,
            },
            "payload": {
                "kind": "tokens",
                "texts": tmp_path / "texts.txt",
                "tokenizer": folder / "tokenizer",
                "sequence_length": 16,
            },
            "slo": {},
        }
    )
    with LocalServer(repository) as server:
        measurement = asyncio.run(measure_target(spec, Host(server.grpc_url, server.http_url)))
        stats = server.client.get_inference_statistics("enc7", as_json=True)["model_stats"][0]
    assert measurement.mode == "trace" and measurement.level == 1.0
    assert measurement.stable  # the whole trace was replayed
    # Triton answered exactly the rows of the length it takes, and refused the others.
    assert int(stats["inference_stats"]["success"]["count"]) == lengths.count(7)
    measured = measurement.sent
    assert 0 < measured <= ROWS and sum(measurement.errors.values()) == pytest.approx(measured / 4, abs=1)
    # The replay took the trace's time: its measured windows cover about 2 s less the warmup.
    assert measurement.duration_s == pytest.approx(ROWS * GAP_S - 0.2, abs=0.6)
    assert np.isfinite(measurement.requests_per_s)
