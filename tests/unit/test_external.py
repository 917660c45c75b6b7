"""Runs recorded by another generator (Locust): records on disk, and the same windows, stability
rule and verdicts as tritonkit's own client."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from tritonkit.check import check_records
from tritonkit.errors import InputError
from tritonkit.measure.external import Record, measurement_from_records, read_records, write_records
from tritonkit.measure.stats import Interval
from tritonkit.measure.summary import Host
from tritonkit.specs import TargetSpec, TargetsSpec

HOST = Host("", "", dollars_per_hour=3.6)


def target(p99_ms: float = 50.0, **load: object) -> TargetSpec:
    return TargetSpec.model_validate(
        {
            "name": "t",
            "model": "m",
            "load": {"mode": "open", "rate_per_s": 100, "warmup_s": 1, "window_s": 1, "duration_s": 5, **load},
            "payload": {"kind": "random", "batch_size": 2},
            "slo": {"p99_ms": p99_ms, "max_error_rate": 0.05},
        }
    )


def steady(seconds: float = 6.0, rate: int = 100, latency_ms: float = 10.0) -> list[Record]:
    """`rate` requests a second from t=1000 s, each `latency_ms` long, every 50th a timeout."""
    count = int(seconds * rate)
    return [Record(1000 + i / rate, latency_ms, "timeout" if i % 50 == 49 else "") for i in range(count)]


def test_records_round_trip_through_csv(tmp_path: Path) -> None:
    records = steady(seconds=0.1)
    write_records(tmp_path / "run.csv", records)
    assert read_records(tmp_path / "run.csv") == records


@pytest.mark.parametrize(
    ("content", "message"),
    [("start_s,latency_ms,error\n", "no requests recorded"), ("a,b\n1,2\n", "expected CSV columns")],
)
def test_unreadable_records_are_user_errors(tmp_path: Path, content: str, message: str) -> None:
    path = tmp_path / "run.csv"
    path.write_text(content)
    with pytest.raises(InputError, match=message):
        read_records(path)
    with pytest.raises(InputError, match=r"missing\.csv: not found"):
        read_records(tmp_path / "missing.csv")


def test_a_steady_run_settles_like_the_own_client() -> None:
    m = measurement_from_records(target(), steady(), HOST)
    assert m.stable and m.measured_windows == (0, 2)  # three agreeing windows after 1 s of warmup
    assert m.latency is not None and m.latency.p50_us == pytest.approx(10_000)
    assert m.errors == {"timeout": 6} and m.sent == 300
    assert m.requests_per_s == pytest.approx(98, abs=1)  # 2% timed out
    assert m.inferences_per_s == pytest.approx(2 * m.requests_per_s)  # the payload's batch size
    assert m.level == pytest.approx(m.requests_per_s * 0.010, abs=0.1)  # Little's law: ~1 in flight
    assert m.client_cpu_percent is None and m.server is None
    assert m.cost_per_million == pytest.approx(0.001 / m.inferences_per_s * 1e6)


def test_a_run_shorter_than_warmup_and_one_window_is_refused() -> None:
    with pytest.raises(InputError, match="shorter than its warmup"):
        measurement_from_records(target(), steady(seconds=1.5), HOST)


def test_check_records_judges_against_the_named_target() -> None:
    spec = TargetsSpec(targets=(target(p99_ms=50), target(p99_ms=5).model_copy(update={"name": "tight"})))
    assert check_records(spec, "t", steady()).passed
    tight = check_records(spec, "tight", steady())
    assert not tight.passed and tight.verdicts[0].reasons == ("p99 10 ms, target ≤ 5 ms",)
    with pytest.raises(InputError, match="--target"):
        check_records(spec, None, steady())


def test_every_malformed_row_is_named_by_its_line(tmp_path: Path) -> None:
    path = tmp_path / "run.csv"
    path.write_text("start_s,latency_ms,error\n1000,5,\n1000,-1,\nnan,5,\n1000,5\n1000,inf,\n")
    with pytest.raises(InputError) as error:
        read_records(path)
    lines = str(error.value).splitlines()
    assert lines[0] == f"{path}: 4 malformed row(s):"
    assert [line.split(":")[0].strip() for line in lines[1:]] == ["line 3", "line 4", "line 5", "line 6"]


def test_records_give_goodput_and_confidence_intervals() -> None:
    """Every fourth request took 60 ms, past the 50 ms p99 limit: a quarter of the successes are
    not goodput. The intervals come from the same records as the figures."""
    records = [replace(r, latency_ms=60.0 if i % 4 == 0 else 10.0) for i, r in enumerate(steady())]
    m = measurement_from_records(target(p99_ms=50), records, HOST)
    assert m.goodput_per_s is not None and m.goodput_per_s == pytest.approx(0.75 * m.requests_per_s, rel=0.02)
    assert m.goodput_inferences_per_s == pytest.approx(2 * m.goodput_per_s)
    assert measurement_from_records(target(p99_ms=100), records, HOST).goodput_per_s == m.requests_per_s
    throughput, p50 = m.intervals.inferences_per_s, m.intervals.p50_us
    assert throughput is not None and throughput.low <= m.inferences_per_s <= throughput.high
    assert p50 == Interval(10_000, 10_000)  # three quarters took exactly 10 ms
    assert m.intervals.p99_us is None  # 294 successes: too few for a p99 interval
