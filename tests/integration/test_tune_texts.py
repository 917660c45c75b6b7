"""A real tune of a target that sends strings to a text model: the tokenizer's padding is a
dimension (to the longest of each batch, or to buckets); the winner is a text model of its own that
serves exactly its candidate (its encoder's knobs, its tokenizer's padding), answers strings as
the tokenizer and the encoder would, and the text model tuned through is put back as written.

The encoder is the tiny masked-sum graph of tests/reliability/text_encoder.py: its output is the
sum of a text's token ids, whatever the padding, so answers are checked exactly."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from tokenizers import Tokenizer

from tests.reliability.text_encoder import OUTPUT, write_encoder
from tritonkit.specs import TargetsSpec, TextModelSpec
from tritonkit.triton import model_config
from tritonkit.triton.infer import infer_once
from tritonkit.triton.server import LocalServer
from tritonkit.triton.text_model import write_text_model
from tritonkit.triton.validate import validate_path
from tritonkit.tune.log import TRIAL_LOG
from tritonkit.tune.run import tune_targets
from tritonkit.tune.space import SpaceSpec

pytestmark = pytest.mark.integration

MAX_LENGTH = 32
TEXTS = ["the parcel arrived two days late", "my order came and the box was broken", "it is fine", "serving",
         "the box", "a parcel, a box and my order still arrived late !"]  # fmt: skip
# 2 paddings x (no batcher + one delay): 4 candidates, every one of them measured
SPACE = SpaceSpec(
    max_batch_size=(8,), max_queue_delay_microseconds=(0, 2000), preferred_batch_sizes=((),), instances=(1,),
    intra_op_threads=(1,), oversubscribed=False, client_batch_sizes=(1,), token_buckets=((), (8, 16)),
    screen={"warmup_s": 0.3, "window_s": 0.5, "windows": 2}, confirm={"warmup_s": 0.3, "window_s": 0.5, "windows": 2},
)  # fmt: skip

TIMING = {"warmup_s": 0.5, "window_s": 1.0, "duration_s": 2.0, "stable_windows": 2}


def targets(texts: Path) -> TargetsSpec:
    return TargetsSpec.model_validate({
        "targets": [{
            "name": "chat", "model": "enc_text",
            "load": {"mode": "open", "rate_per_s": 40, **TIMING},
            "payload": {"kind": "texts", "texts": str(texts), "count": 16}, "slo": {"p99_ms": 2000},
        }],
    })  # fmt: skip


def test_a_texts_target_tunes_the_tokenizer_padding_and_writes_a_text_model(tmp_path: Path) -> None:
    repository = tmp_path / "repository"
    write_encoder(repository, "enc_fp32", max_batch_size=8)
    write_text_model(repository, "enc_text", "enc_fp32", TextModelSpec(variant="fp32"), MAX_LENGTH)
    written = {name: (repository / name / "config.pbtxt").read_text() for name in ("enc_text", "enc_text_tokenizer")}
    texts = tmp_path / "texts.txt"
    texts.write_text("\n".join(TEXTS) + "\n")
    lines: list[str] = []
    with LocalServer(repository, load_all=False) as server:
        server.load("enc_text")
        outcome = tune_targets(
            targets(texts), repository, SPACE, tmp_path / "tune" / TRIAL_LOG, max_trials=8,
            grpc_url=server.grpc_url, http_url=server.http_url, curves=True, progress=lines.append,
        )  # fmt: skip
        (tune,) = outcome.tunes
        measured = [t for t in tune.result.trials if t.figures is not None]
        assert {t.candidate.buckets for t in measured} == {(), (8, 16, MAX_LENGTH)}, lines
        best = tune.result.best
        assert best is not None and outcome.tuned["chat"] == "enc_tuned_chat"
        # The winner: a text model over its own encoder, padded as its candidate says.
        ensemble = model_config.read_config(repository / "enc_tuned_chat" / "config.pbtxt")
        assert [s.model_name for s in ensemble.ensemble_scheduling.step] == [
            "enc_tuned_chat_tokenizer", "enc_tuned_chat_encoder"
        ]  # fmt: skip
        tokenizer = model_config.read_config(repository / "enc_tuned_chat_tokenizer" / "config.pbtxt")
        assert tokenizer.parameters["padding"].string_value == ("buckets" if best.candidate.buckets else "longest")
        assert json.loads(tokenizer.parameters["buckets"].string_value) == list(best.candidate.buckets)
        encoder = model_config.read_config(repository / "enc_tuned_chat_encoder" / "config.pbtxt")
        assert encoder.dynamic_batching.max_queue_delay_microseconds == best.candidate.max_queue_delay_us
        for name in ("enc_tuned_chat", "enc_tuned_chat_tokenizer", "enc_tuned_chat_encoder"):
            assert validate_path(repository / name) == []
            server.verify(name)  # loaded, serving what was written
        strings = np.array([[text.encode()] for text in TEXTS[:3]], dtype=np.object_)
        served = infer_once(server.client, "enc_tuned_chat", {"TEXT": strings})[OUTPUT]
        library = Tokenizer.from_file(str(repository / "enc_fp32" / "tokenizer" / "tokenizer.json"))
        library.no_padding()
        expected = [sum(e.ids) for e in library.encode_batch(TEXTS[:3])]
        assert served[:, 0].tolist() == expected
        # Latency against load: the winner as written, the others through the text model as written.
        curves = outcome.curves["chat"]
        assert set(curves) == {"tuned", "minimal", "latency profile", "balanced profile", "throughput profile"}, lines
        assert all(point.latency is not None for sweep in curves.values() for point in sweep.points), lines
        # The text model tuned through: back as written, on disk and on the server.
        for name, text in written.items():
            assert (repository / name / "config.pbtxt").read_text() == text
            server.verify(name)
