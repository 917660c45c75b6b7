"""Streamed generation's figures from token arrival times, checked against values worked out by
hand; its SLO checks (pass, fail, inconclusive, nothing measured); the prompts payload built from a
real tokenizer under the generator contract; the stream's messages; and streams another generator
(Locust) recorded."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from tokenizers import Tokenizer
from tokenizers.models import WordLevel
from tokenizers.pre_tokenizers import Whitespace
from tritonclient.grpc import model_config_pb2 as mc
from tritonclient.grpc import service_pb2

from tests.unit.test_slo_and_sweep import FAST, NARROW, measurement
from tritonkit.errors import InputError
from tritonkit.measure.external import Record, measurement_from_records, read_records, write_records
from tritonkit.measure.generation import summarize_generation
from tritonkit.measure.measurement import Measurement
from tritonkit.measure.payloads import build_pool, payload_file_problems, with_model_files
from tritonkit.measure.stats import Interval, PercentileIntervals, t_975
from tritonkit.measure.streaming import is_final, stream_request, tokens_in
from tritonkit.measure.summary import Host
from tritonkit.slo import judge
from tritonkit.specs import PromptsPayload, SloSpec, TargetSpec
from tritonkit.triton.model_config import ModelConfig

MS = 1_000_000  # ns


# -- the figures ----------------------------------------------------------------------------------


def test_figures_by_hand() -> None:
    """Five requests around two measured 100 ms windows:
    0: due at 0, tokens at 10, 30, 60 ms      -> TTFT 10 ms, gaps 20 (at 30) and 30 (at 60)
    1: due at 100, tokens at 115, 125 ms      -> TTFT 15 ms, gap 10 (at 125)
    2: due at 150, failed                     -> nothing
    3: due in the warmup (-20), tokens at 5, 50 ms: not a measured stream, but its tokens arrived
       in the first window and count as output
    4: due after the windows (180, not due), its token at 230 ms past the last edge: nothing.
    Output: window 0 holds 5 tokens (10, 30, 60, 5, 50), window 1 holds 2 (115, 125)."""
    scheduled = np.array([0, 100, 150, -20, 180], dtype=np.int64) * MS
    tokens = [(10 * MS, 30 * MS, 60 * MS), (115 * MS, 125 * MS), None, (5 * MS, 50 * MS), (230 * MS,)]
    due = np.array([True, True, True, False, False])
    succeeded = np.array([True, True, False, True, True])
    g = summarize_generation(scheduled, tokens, due, succeeded, (0, 100 * MS, 200 * MS))

    assert g.streams == 2 and g.tokens_per_request == 2.5
    assert g.output_tokens == 7 and g.output_tokens_per_s == pytest.approx(35.0)  # 7 tokens in 0.2 s
    # Batch means over the window rates 50 and 20 tokens/s: t(1) x sd 21.21 / sqrt(2) = 12.706 x 15.
    half = t_975(1) * 15.0
    interval = g.output_tokens_per_s_interval
    assert interval is not None and interval.low == 0.0 and interval.high == pytest.approx(35.0 + half)
    assert g.ttft is not None and g.ttft.count == 2
    assert (g.ttft.p50_us, g.ttft.p99_us, g.ttft.mean_us) == (10_000.0, 15_000.0, 12_500.0)
    assert g.itl is not None and g.itl.count == 3
    assert (g.itl.p50_us, g.itl.p99_us, g.itl.max_us, g.itl.mean_us) == (20_000.0, 30_000.0, 30_000.0, 20_000.0)
    # Three gaps and two first tokens are far too few for a percentile's interval.
    assert g.ttft_intervals == g.itl_intervals == PercentileIntervals(None, None)


def test_a_run_without_a_successful_stream() -> None:
    scheduled = np.array([0, 10], dtype=np.int64) * MS
    g = summarize_generation(scheduled, (None, None), np.array([True, True]), np.array([False, False]), (0, 100 * MS))
    assert (g.streams, g.tokens_per_request, g.output_tokens, g.output_tokens_per_s) == (0, None, 0, 0.0)
    assert g.ttft is None and g.itl is None and g.output_tokens_per_s_interval is None  # one window: no spread


def test_a_run_another_generator_recorded_without_token_times() -> None:
    scheduled = np.array([0, 10], dtype=np.int64) * MS
    g = summarize_generation(scheduled, (), np.array([True, True]), np.array([True, True]), (0, 50 * MS, 100 * MS))
    assert g.streams == 2 and g.tokens_per_request == 0.0 and g.ttft is None and g.output_tokens == 0


def test_enough_streams_get_intervals_that_hold_the_figures() -> None:
    """2500 streams of 3 tokens (p99 needs 2000 independent ones), one due every 5 ms: TTFT 30-50 ms,
    gaps 20-24 ms (seeded)."""
    rng = np.random.default_rng(0)
    scheduled = np.arange(2500, dtype=np.int64) * 5 * MS
    tokens = []
    for due in scheduled:
        first = due + int(rng.uniform(30, 50) * MS)
        tokens.append(tuple(first + np.cumsum([0, *rng.uniform(20, 24, 2) * MS]).astype(np.int64)))
    every = np.ones(2500, dtype=bool)
    edges = tuple(range(0, 13_001 * MS, 1000 * MS))
    g = summarize_generation(scheduled, tokens, every, every, edges)
    assert g.ttft is not None and g.itl is not None and g.streams == 2500 and g.tokens_per_request == 3
    assert 30_000 <= g.ttft.p50_us <= 50_000 and 20_000 <= g.itl.p50_us <= g.itl.p99_us <= 24_000
    for summary, intervals in ((g.ttft, g.ttft_intervals), (g.itl, g.itl_intervals)):
        for p in (50, 99):
            found = intervals.percentile_us(p)
            assert found is not None and found.low <= summary.percentile_us(p) <= found.high
    assert g.output_tokens_per_s_interval is not None  # 13 windows


# -- the SLO checks -------------------------------------------------------------------------------

TOKENS = summarize_generation(
    np.array([0], dtype=np.int64), [(10 * MS, 30 * MS, 60 * MS)], np.array([True]), np.array([True]), (0, 100 * MS)
)


def streamed(**changes: Any) -> Measurement:
    base = measurement(latency=FAST, intervals=NARROW)
    return dataclasses.replace(base, generation=dataclasses.replace(TOKENS, **changes))


def test_generation_checks_pass_fail_and_straddle() -> None:
    m = streamed(
        ttft_intervals=PercentileIntervals(Interval(9_000, 11_000), None),
        itl_intervals=PercentileIntervals(Interval(19_000, 26_000), None),
        output_tokens_per_s_interval=Interval(20.0, 40.0),
    )
    slo = SloSpec(ttft_p50_ms=12, ttft_p99_ms=5, itl_p50_ms=25, min_output_tokens_per_s=25)
    verdict = judge("t", m, slo)
    states = {c.metric: c.state for c in verdict.checks}
    assert states == {
        "TTFT p50": "pass",  # 10 ms, 95% CI 9-11 ms, all under 12
        "TTFT p99": "fail",  # 10 ms (the one stream) over 5
        "ITL p50": "inconclusive",  # 20 ms, but the interval reaches 26 ms
        "output tokens/s": "inconclusive",  # 30/s, interval 20-40 around the limit of 25
        "error rate": "pass",
    }
    assert verdict.status == "FAIL"
    ttft = next(c for c in verdict.checks if c.metric == "TTFT p50")
    assert ttft.actual == 10.0 and ttft.unit == "ms" and ttft.interval == Interval(9.0, 11.0)
    # No interval for TTFT p99: the note says why, counting its first tokens.
    assert any("TTFT p99 judged without a 95% interval: its 1 first tokens" in n for n in verdict.notes)


def test_generation_limits_without_a_generation_fail_as_nothing_measured() -> None:
    verdict = judge("t", measurement(latency=FAST), SloSpec(itl_p99_ms=50, min_output_tokens_per_s=1))
    assert [(c.metric, c.state, c.actual) for c in verdict.checks[:2]] == [
        ("ITL p99", "fail", None),
        ("output tokens/s", "fail", None),
    ]


# -- the prompts payload --------------------------------------------------------------------------

WORDS = ["the", "parcel", "arrived", "two", "days", "late", "my", "order", "came", "and", "box", "was", "broken", "."]
TEXTS = "the parcel arrived two days late .\nmy order came late , and the box was broken .\n"


@pytest.fixture(scope="module")
def model_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A generator's folder as the exporter lays it out: <model>/tokenizer/tokenizer.json."""
    folder = tmp_path_factory.mktemp("generate")
    tokenizer = Tokenizer(WordLevel({w: i for i, w in enumerate(["[UNK]", *WORDS])}, unk_token="[UNK]"))
    tokenizer.pre_tokenizer = Whitespace()
    (folder / "tokenizer").mkdir()
    tokenizer.save(str(folder / "tokenizer" / "tokenizer.json"))
    (folder / "texts.txt").write_text(TEXTS)
    return folder


def generator(decoupled: bool = True, extra: bool = False, max_batch_size: int = 0) -> ModelConfig:
    config = ModelConfig(name="gpt_fp32_generate", backend="python", max_batch_size=max_batch_size)
    config.input.add(name="input_ids", data_type=mc.TYPE_INT64, dims=[-1])
    config.input.add(name="max_new_tokens", data_type=mc.TYPE_INT32, dims=[1])
    if extra:
        config.input.add(name="temperature", data_type=mc.TYPE_FP32, dims=[1])
    config.output.add(name="token_id", data_type=mc.TYPE_INT64, dims=[1])
    config.model_transaction_policy.decoupled = decoupled
    return config


def prompts(folder: Path, **fields: object) -> PromptsPayload:
    spec = PromptsPayload.model_validate({"kind": "prompts", "texts": folder / "texts.txt"} | fields)
    defaulted = with_model_files(spec, folder)
    assert isinstance(defaulted, PromptsPayload)
    return defaulted


def test_prompts_are_real_sentences_with_the_tokens_to_generate(model_folder: Path) -> None:
    spec = prompts(model_folder, max_new_tokens=12, count=20)
    assert spec.tokenizer == model_folder / "tokenizer"  # the exporter's folder, by default
    pool = build_pool(spec, generator(), seed=3)
    assert len(pool) == 20 and pool.inferences_per_request == 1 and "12 new tokens" in pool.description
    lengths = set()
    for payload in pool.payloads:
        assert set(payload) == {"input_ids", "max_new_tokens"}
        ids, wanted = payload["input_ids"], payload["max_new_tokens"]
        assert ids.dtype == np.int64 and ids.ndim == 1 and wanted.dtype == np.int32 and wanted.tolist() == [12]
        lengths.add(ids.size)
    assert lengths == {7, 11}  # each line is its own prompt: 7 tokens, and 11 (',' is [UNK])
    assert [p["input_ids"].tolist() for p in build_pool(spec, generator(), seed=3).payloads] == [
        p["input_ids"].tolist() for p in pool.payloads
    ]  # seeded


def test_uniform_prompt_lengths_fall_in_their_range(model_folder: Path) -> None:
    spec = prompts(model_folder, lengths="uniform", min_prompt_tokens=9, max_prompt_tokens=20, count=50)
    sizes = {p["input_ids"].size for p in build_pool(spec, generator(), seed=0).payloads}
    assert min(sizes) >= 9 and max(sizes) <= 20 and len(sizes) > 3


@pytest.mark.parametrize(
    ("config", "says"),
    [
        (generator(decoupled=False), "(max_batch_size 0, not decoupled); a prompts payload streams from a decoupled"),
        (generator(extra=True), "'temperature' float32 [1] (max_batch_size 0, decoupled)"),
        (generator(max_batch_size=4), "(max_batch_size 4, decoupled)"),
    ],
)
def test_a_model_that_is_not_a_generator_is_refused_by_name(model_folder: Path, config: ModelConfig, says: str) -> None:
    with pytest.raises(InputError, match="model 'gpt_fp32_generate' takes 'input_ids' int64") as error:
        build_pool(prompts(model_folder), config, seed=0)
    assert says in str(error.value)
    assert "exactly 'input_ids' int64 [-1] and 'max_new_tokens' int32 [1]" in str(error.value)


def test_prompt_files_are_checked_before_a_start(model_folder: Path) -> None:
    spec = PromptsPayload(kind="prompts", texts=model_folder / "absent.txt", tokenizer=model_folder / "nowhere")
    problems = payload_file_problems(spec)
    assert len(problems) == 2 and "absent.txt: not found" in problems[0] and "nowhere: not found" in problems[1]
    with pytest.raises(InputError, match="the prompts payload needs `tokenizer:` on a running server"):
        with_model_files(PromptsPayload(kind="prompts", texts=model_folder / "texts.txt"), None)


# -- the stream's messages ------------------------------------------------------------------------


def test_a_stream_request_carries_raw_tensors_and_asks_for_the_final_response() -> None:
    ids = np.array([4, 5, 6], dtype=np.int64)
    request = stream_request("g", "2", {"input_ids": ids, "max_new_tokens": np.array([8], dtype=np.int32)})
    assert (request.model_name, request.model_version) == ("g", "2")
    assert [(t.name, t.datatype, list(t.shape)) for t in request.inputs] == [
        ("input_ids", "INT64", [3]),
        ("max_new_tokens", "INT32", [1]),
    ]
    assert np.frombuffer(request.raw_input_contents[0], np.int64).tolist() == [4, 5, 6]
    assert request.parameters["triton_enable_empty_final_response"].bool_param


def test_responses_say_their_tokens_and_whether_they_are_final() -> None:
    token = service_pb2.ModelStreamInferResponse()
    token.infer_response.outputs.add(name="token_id", datatype="INT64", shape=[1])
    final = service_pb2.ModelStreamInferResponse()
    final.infer_response.parameters["triton_final_response"].bool_param = True
    assert (tokens_in(token), is_final(token)) == (1, False)
    assert (tokens_in(final), is_final(final)) == (0, True)


# -- streams another generator recorded (Locust) --------------------------------------------------


def streamed_records(seconds: float = 6.0, rate: int = 20) -> list[Record]:
    """`rate` streams a second, each of 4 tokens 10 ms apart after a 30 ms first token."""
    return [Record(1000 + i / rate, 70.0, "", (30.0, 40.0, 50.0, 60.0)) for i in range(int(seconds * rate))]


def test_streamed_records_round_trip_and_give_the_same_figures(tmp_path: Path) -> None:
    records = [*streamed_records(seconds=0.2), Record(1000.3, 5.0, "error response")]
    write_records(tmp_path / "run.csv", records)
    assert (tmp_path / "run.csv").read_text().splitlines()[:2] == [
        "start_s,latency_ms,error,token_ms",
        "1000.000000,70.0000,,30.0000 40.0000 50.0000 60.0000",
    ]
    assert read_records(tmp_path / "run.csv") == records

    prompts_target = TargetSpec.model_validate(
        {
            "name": "chat",
            "model": "g_generate",
            "load": {"mode": "closed", "concurrency": 2, "warmup_s": 1, "window_s": 1, "duration_s": 4},
            "payload": {"kind": "prompts", "texts": "texts.txt"},
            "slo": {"ttft_p50_ms": 31, "itl_p99_ms": 10},
        }
    )
    m = measurement_from_records(prompts_target, streamed_records(), Host("", ""))
    g = m.generation
    assert g is not None and g.tokens_per_request == 4 and g.streams == m.sent
    assert g.ttft is not None and g.ttft.p50_us == pytest.approx(30_000, abs=1)
    assert g.itl is not None and g.itl.p99_us == pytest.approx(10_000, abs=1)
    assert g.output_tokens_per_s == pytest.approx(4 * 20, rel=0.05)
    assert judge("chat", m, prompts_target.slo).status == "PASS"


def test_a_token_time_that_is_not_one_is_named(tmp_path: Path) -> None:
    path = tmp_path / "run.csv"
    path.write_text("start_s,latency_ms,error,token_ms\n1000,5,,1 2\n1000,5,,3 x\n1000,5,,9\n1000,5,\n")
    with pytest.raises(InputError) as error:
        read_records(path)
    lines = str(error.value).splitlines()
    assert lines[0] == f"{path}: 3 malformed row(s):"
    assert "line 3: token_ms '3 x': expected milliseconds after start_s, 0 to latency_ms" in lines[1]
    assert "line 4: token_ms '9'" in lines[2] and "line 5: 3 fields" in lines[3]
