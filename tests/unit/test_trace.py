"""Arrival traces: the CSV read (every problem at once), the day a traffic profile synthesises, a
trace replayed on schedule by the load engine (a fake `send` stands in for the network), and the
requests built from what each row carries (a real tiny tokenizer)."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from tests.unit.test_loadgen import MS, Fake, check_edges
from tests.unit.test_payloads import CLS, SEP, TEXTS, VOCAB, config, texts, tokenizer_dir, tokens  # noqa: F401
from tritonkit.errors import InputError
from tritonkit.measure.loadgen import LoadRun, run_load
from tritonkit.measure.trace import Trace, busiest_rate_per_s, rate_curve, read_trace, synthesize, write_trace
from tritonkit.measure.trace_payloads import row_payload_problem, trace_pool
from tritonkit.specs import RandomPayload, TextsPayload, TraceLoad, TrafficSpec

TRAFFIC = TrafficSpec(
    peak_inferences_per_s=300, off_peak_inferences_per_s=50, peak_hours_per_day=8,
    dollars_per_hour_per_replica=1, cold_start_s=10,
)  # fmt: skip


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "trace.csv"
    path.write_text(text)
    return path


def load(path: Path, **fields: Any) -> TraceLoad:
    defaults = {"mode": "trace", "file": path, "warmup_s": 0.05, "window_s": 0.1, "duration_s": 5.0}
    return TraceLoad.model_validate(defaults | fields)


def replay(trace: Trace, spec: TraceLoad, fake: Fake) -> LoadRun[Any]:
    return asyncio.run(run_load(spec, fake.send, fake.snapshot, trace.offsets_s))


# -- reading -------------------------------------------------------------------------------------


def test_a_trace_is_read_with_its_columns_in_any_order_and_offsets_from_its_first_request(tmp_path: Path) -> None:
    path = write(
        tmp_path, 'length,timestamp,text\n12,100.5,"hello, world"\n\n3,100.75,bye\n30,102,"a ""quoted"" one"\n'
    )
    trace = read_trace(path)
    assert trace.offsets_s.tolist() == [0.0, 0.25, 1.5]
    assert trace.texts == ("hello, world", "bye", 'a "quoted" one')
    assert trace.lengths == (12, 3, 30)
    assert trace.span_s == 1.5 and trace.mean_rate_per_s == pytest.approx(2 / 1.5)


def test_timestamps_alone_carry_no_payloads(tmp_path: Path) -> None:
    trace = read_trace(write(tmp_path, "timestamp\n0\n0\n0.5\n"))  # equal timestamps: a burst
    assert trace.offsets_s.tolist() == [0, 0, 0.5] and trace.texts is None and trace.lengths is None


def test_every_problem_of_a_trace_is_reported_at_once(tmp_path: Path) -> None:
    path = write(tmp_path, "timestamp,length,text\nsoon,4,a\n2,0,b\n1,x,\n3,4\ninf,5,c\n")
    with pytest.raises(InputError) as caught:
        read_trace(path)
    message = str(caught.value)
    assert message.startswith(f"{path}: ") and "\n" not in message
    for expected in (
        "line 2: timestamp 'soon' is not a number of seconds",
        "line 3: length 0; expected 1 to 65536 tokens",
        "line 4: timestamp 1 is before the previous one (2); sort the trace",
        "line 4: length 'x' is not a whole number of tokens",
        "line 4: empty text",
        "line 5: 2 fields; the header has 3",
        "line 6: timestamp 'inf' is not finite",
    ):
        assert expected in message


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", "empty (expected a header: timestamp[,text][,length])"),
        ("time,text\n1,a\n", "unknown column 'time'; no 'timestamp' column (seconds, one per request)"),
        ("timestamp,timestamp\n1,2\n", "column 'timestamp' given twice"),
        ("timestamp\n", "no requests (expected a row a request after the header)"),
        ("timestamp\n0\n700000\n", "timestamps span 700000 s; at most 604800 (a week): seconds expected"),
    ],
)
def test_malformed_traces_say_what_is_expected(tmp_path: Path, text: str, expected: str) -> None:
    with pytest.raises(InputError, match=expected.replace("(", r"\(").replace(")", r"\)").replace("[", r"\[")):
        read_trace(write(tmp_path, text))


def test_a_written_trace_reads_back(tmp_path: Path) -> None:
    trace = synthesize(TRAFFIC, duration_s=20, seed=1, texts=["one, with a comma", 'two "quoted"'])
    write_trace(tmp_path / "out" / "day.csv", trace)
    back = read_trace(tmp_path / "out" / "day.csv")
    assert np.allclose(back.offsets_s, trace.offsets_s, atol=1e-6) and back.texts == trace.texts
    assert [p.name for p in (tmp_path / "out").iterdir()] == ["day.csv"]  # nothing staged is left


# -- synthesis -----------------------------------------------------------------------------------


def test_the_rate_curve_is_off_peak_at_night_and_peak_in_the_afternoon() -> None:
    hours = np.array([3, 9.5, 12, 14, 18.5, 19.5, 22]) / 24  # peak 10:00-18:00, ramps an hour
    assert rate_curve(TRAFFIC, hours).tolist() == pytest.approx([50, 175, 300, 300, 175, 50, 50])


def test_a_synthesised_day_follows_the_profile_and_is_seeded() -> None:
    duration = 240.0
    trace = synthesize(TRAFFIC, duration, seed=7)
    assert np.array_equal(trace.offsets_s, synthesize(TRAFFIC, duration, seed=7).offsets_s)
    assert not np.array_equal(trace.offsets_s[:50], synthesize(TRAFFIC, duration, seed=8).offsets_s[:50])
    assert np.all(np.diff(trace.offsets_s) >= 0) and trace.offsets_s[0] == 0
    # Expected requests: the curve's integral (off-peak 14 h, peak 8 h, two 1-hour ramps at the mean).
    expected = (50 * 14 + 300 * 8 + 175 * 2) / 24 * duration
    assert abs(len(trace) - expected) < 4 * np.sqrt(expected)
    hour = duration / 24
    night = np.sum(trace.offsets_s < 6 * hour) / (6 * hour)
    afternoon = np.sum((trace.offsets_s >= 12 * hour) & (trace.offsets_s < 16 * hour)) / (4 * hour)
    assert night == pytest.approx(50, rel=0.2) and afternoon == pytest.approx(300, rel=0.1)
    assert busiest_rate_per_s(trace, 1.0, window_s=hour) == pytest.approx(300, rel=0.15)
    assert busiest_rate_per_s(trace, 2.0, window_s=hour / 2) == pytest.approx(600, rel=0.15)


def test_a_day_too_large_for_a_trace_is_refused() -> None:
    with pytest.raises(InputError, match=r"--duration-s 86400 at the profile's peak of 300/s .* at most 1000000"):
        synthesize(TRAFFIC, 86_400, seed=0)


# -- replay --------------------------------------------------------------------------------------


def test_a_trace_is_replayed_on_its_schedule_at_its_speed(tmp_path: Path) -> None:
    stamps = [0, 0.01, 0.011, 0.05, 0.2, 0.21, 0.3, 0.31, 0.32, 0.5]
    path = write(tmp_path, "timestamp\n" + "\n".join(f"{100 + s}" for s in stamps) + "\n")
    trace = read_trace(path)
    for speed in (1.0, 2.0):
        fake = Fake(latency_s=0.001)
        result = replay(trace, load(path, speed=speed), fake)
        check_edges(result, fake)
        assert result.open_loop and result.stable  # replayed to its end
        due = np.sort(result.scheduled_ns - result.started_ns)
        expected = np.array([s * 1e9 / speed for s in stamps])
        assert due.size == len(stamps) and np.all(np.abs(due - expected) <= 1_000)  # to the µs (float stamps)
        assert np.median(result.sent_ns - result.scheduled_ns) < 2 * MS
        assert sorted(fake.started) == list(range(len(stamps)))


def test_a_trace_longer_than_duration_is_cut_and_not_stable(tmp_path: Path) -> None:
    path = write(tmp_path, "timestamp\n" + "\n".join(f"{i * 0.01:.2f}" for i in range(200)) + "\n")
    fake = Fake(latency_s=0.001)
    result = replay(read_trace(path), load(path, duration_s=0.3, stable_windows=1), fake)
    assert not result.stable and len(result.windows) == 3  # never stopped early: windows that agree do not end it
    assert len(fake.started) < 200


# -- what rows carry -----------------------------------------------------------------------------


def test_rows_lengths_and_texts_become_their_requests(tokenizer_dir: Path, texts: Path) -> None:  # noqa: F811
    trace = Trace(
        np.arange(5.0), ("the cat sat", "slow", "the cat sat", "a dog ran far away .", "slow"), (7, 3, 7, 4, 9)
    )
    pool, order = trace_pool(trace, tokens(tokenizer_dir, texts, sequence_length=16), config(), seed=0)
    assert len(pool) == 4 and order.tolist() == [0, 1, 0, 2, 3]  # equal rows share one request
    requests = [pool.payloads[i] for i in order]
    assert [r["input_ids"].shape for r in requests] == [(1, 7), (1, 3), (1, 7), (1, 4), (1, 9)]
    cat = requests[0]
    assert cat["input_ids"][0, :5].tolist() == [CLS, *[VOCAB[w] for w in ["the", "cat", "sat"]], SEP]
    assert cat["attention_mask"][0].tolist() == [1] * 5 + [0] * 2  # padded to its length
    assert requests[3]["attention_mask"][0].tolist() == [1] * 4  # cut at its length


def test_lengths_alone_take_sentences_from_the_texts_file(tokenizer_dir: Path, texts: Path) -> None:  # noqa: F811
    trace = Trace(np.arange(4.0), None, (5, 12, 20, 5))
    pool, order = trace_pool(trace, tokens(tokenizer_dir, texts, sequence_length=20), config(), seed=0)
    assert order.tolist() == [0, 1, 2, 0]
    for i, length in zip(order, (5, 12, 20, 5), strict=True):
        ids = pool.payloads[i]["input_ids"]
        assert ids.shape == (1, length) and pool.payloads[i]["attention_mask"].sum() == length


def test_texts_alone_keep_their_own_lengths(tokenizer_dir: Path, texts: Path) -> None:  # noqa: F811
    trace = Trace(np.arange(3.0), tuple(TEXTS[:3]), None)
    pool, _ = trace_pool(trace, tokens(tokenizer_dir, texts, sequence_length=10), config(), seed=0)
    assert [p["input_ids"].shape[1] for p in pool.payloads] == [5, 8, 10]  # the third cut at sequence_length


def test_a_payload_that_cannot_send_the_rows_is_named(tokenizer_dir: Path, texts: Path) -> None:  # noqa: F811
    lengths = Trace(np.arange(2.0), None, (4, 40))
    both = Trace(np.arange(2.0), ("a", "b"), (4, 5))
    random = RandomPayload(kind="random")
    assert row_payload_problem(Trace(np.arange(2.0), None, None), random) is None
    assert "needs a tokens or texts payload, not random" in str(row_payload_problem(lengths, random))
    assert "exceeds the payload's sequence_length 20" in str(
        row_payload_problem(lengths, tokens(tokenizer_dir, texts, sequence_length=20))
    )
    assert "batch_size must be 1, not 2" in str(row_payload_problem(both, tokens(tokenizer_dir, texts, batch_size=2)))
    texts_payload = TextsPayload(kind="texts", texts=texts)
    assert "use a tokens payload" in str(row_payload_problem(both, texts_payload))
    with pytest.raises(InputError, match="use a tokens payload"):
        trace_pool(both, texts_payload, config(), seed=0)
