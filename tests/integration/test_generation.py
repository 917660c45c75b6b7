"""Streamed generation measured against a real decoupled generator on a real tritonserver
(tests/integration/generator.py): TTFT, ITL and output tokens/s against what the generator's known
pace allows, tokens counted exactly, errors from the stream counted, verdicts that pass and fail,
and `tritonkit check` writing it all into its report.

Bounds come from the generator's construction, not from this machine's speed: every token follows
the previous one (or the request) by at least TOKEN_INTERVAL_S, so TTFT and the median ITL are at
least that, and no stream yields more than 1/TOKEN_INTERVAL_S tokens a second. The upper bounds are
loose (a 2-core box shares its cores between the server, its Python stub and this client)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.integration.generator import MAX_NEW_TOKENS, NAME, SENTENCES, TOKEN_INTERVAL_S, write_generator
from tritonkit.cli import main
from tritonkit.measure.measurement import ERROR_RESPONSE, Measurement
from tritonkit.measure.runner import measure_target
from tritonkit.measure.summary import Host
from tritonkit.slo import judge
from tritonkit.specs import SloSpec, TargetSpec
from tritonkit.triton.server import LocalServer

pytestmark = pytest.mark.integration

INTERVAL_US = TOKEN_INTERVAL_S * 1e6
NEW_TOKENS = 8
TIMING = {"warmup_s": 0.5, "window_s": 1.0, "duration_s": 4.0, "stable_windows": 2}


@pytest.fixture(scope="module")
def repository(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("generation")
    write_generator(root / "repository")
    (root / "texts.txt").write_text(SENTENCES)
    return root / "repository"


@pytest.fixture(scope="module")
def server(repository: Path) -> Iterator[LocalServer]:
    with LocalServer(repository) as running:
        yield running


def payload(repository: Path, max_new_tokens: int = NEW_TOKENS) -> dict[str, Any]:
    return {
        "kind": "prompts",
        "texts": str(repository.parent / "texts.txt"),
        "tokenizer": str(repository / NAME / "tokenizer"),
        "max_new_tokens": max_new_tokens,
        "count": 16,
    }


def target(repository: Path, load: dict[str, Any], max_new_tokens: int = NEW_TOKENS) -> TargetSpec:
    return TargetSpec.model_validate(
        {
            "name": f"chat-{load['mode']}",
            "model": NAME,
            "load": {**TIMING, **load},
            "payload": payload(repository, max_new_tokens),
            "slo": {},
        }
    )


def measure(server: LocalServer, spec: TargetSpec) -> Measurement:
    return asyncio.run(measure_target(spec, Host(server.grpc_url, server.http_url)))


@pytest.mark.parametrize(
    ("load", "streams_at_once"),
    [({"mode": "closed", "concurrency": 3}, 3), ({"mode": "open", "rate_per_s": 10.0, "max_in_flight": 8}, 8)],
    ids=["closed", "open"],
)
def test_streams_are_timed_token_by_token(
    server: LocalServer, repository: Path, load: dict[str, Any], streams_at_once: int
) -> None:
    m = measure(server, target(repository, load))
    generation = m.generation
    assert m.errors == {} and generation is not None and generation.streams > 10
    # Every successful stream brought exactly the tokens asked for, no more, no fewer.
    assert generation.tokens_per_request == NEW_TOKENS
    ttft, itl = generation.ttft, generation.itl
    assert ttft is not None and itl is not None
    assert itl.count == generation.streams * (NEW_TOKENS - 1)
    assert INTERVAL_US <= ttft.p50_us <= ttft.p99_us < 50 * INTERVAL_US
    assert INTERVAL_US <= itl.p50_us <= itl.p99_us < 50 * INTERVAL_US
    # A stream runs from its request to its final response: all its tokens' time, at least.
    assert m.latency is not None and m.latency.p50_us >= NEW_TOKENS * INTERVAL_US
    # At most one token per interval and stream; and every token is a stream's, so output tokens
    # per second are about the streams finished per second times their tokens.
    assert 0 < generation.output_tokens_per_s <= streams_at_once / TOKEN_INTERVAL_S
    assert generation.output_tokens_per_s == pytest.approx(m.requests_per_s * NEW_TOKENS, rel=0.35)
    # The same interval machinery as latency: the one for output tokens/s holds its figure.
    interval = generation.output_tokens_per_s_interval
    assert interval is not None and interval.low <= generation.output_tokens_per_s <= interval.high

    passing = judge(m.target, m, SloSpec(ttft_p99_ms=5000, itl_p50_ms=1000, itl_p99_ms=5000))
    assert passing.status == "PASS", passing.reasons
    # The generator waits 20 ms before each token: an ITL p50 of 5 ms cannot be met. Nor can ten
    # times the most tokens/s its streams can make, however wide two windows leave the interval
    # (t(1) = 12.7: its upper end stays below 7.4 times that most).
    impossible = 10 * streams_at_once / TOKEN_INTERVAL_S
    failing = judge(m.target, m, SloSpec(itl_p50_ms=5, min_output_tokens_per_s=impossible))
    assert failing.status == "FAIL"
    assert [c.state for c in failing.checks if c.metric in ("ITL p50", "output tokens/s")] == ["fail", "fail"]


def test_an_error_in_the_stream_counts_the_request_as_failed(server: LocalServer, repository: Path) -> None:
    """Asking for more tokens than the generator makes: it streams its 16, then an error response."""
    m = measure(server, target(repository, {"mode": "closed", "concurrency": 2}, max_new_tokens=MAX_NEW_TOKENS + 4))
    assert set(m.errors) == {ERROR_RESPONSE} and m.error_count == m.sent > 0
    assert (
        f"max_new_tokens {MAX_NEW_TOKENS + 4} exceeds this model's {MAX_NEW_TOKENS}" in m.error_examples[ERROR_RESPONSE]
    )
    generation = m.generation
    assert generation is not None and generation.streams == 0 and generation.output_tokens == 0
    assert generation.ttft is None and m.latency is None
    verdict = judge(m.target, m, SloSpec(ttft_p99_ms=5000))
    assert verdict.status == "FAIL" and any(c.metric == "error rate" and not c.passed for c in verdict.checks)


def test_check_judges_generation_slos_and_reports_them(
    server: LocalServer, repository: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`tritonkit check` on the running server: one target meets its generation SLO, one cannot."""
    base = {"model": NAME, "load": {**TIMING, "mode": "closed", "concurrency": 2}, "payload": payload(repository)}
    targets = [
        {**base, "name": "chat-ok", "slo": {"ttft_p50_ms": 2000, "itl_p99_ms": 2000, "min_output_tokens_per_s": 1}},
        {**base, "name": "chat-fast", "slo": {"itl_p50_ms": 1}},
    ]
    spec = tmp_path / "targets.yaml"
    spec.write_text(yaml.safe_dump({"targets": targets}))
    report = tmp_path / "report"
    code = main(["check", str(spec), "--grpc-url", server.grpc_url, "--report-dir", str(report)])
    out = capsys.readouterr().out
    assert code == 1, out
    assert "1 of 2 targets met their SLO (1 failed, 0 inconclusive)" in out and "✗ ITL p50" in out
    results = json.loads((report / "results.json").read_text())
    measured = {m["target"]: m["generation"] for m in results["measurements"]}
    assert measured["chat-ok"]["tokens_per_request"] == NEW_TOKENS
    assert measured["chat-ok"]["itl"]["p50_us"] >= INTERVAL_US
    checks = {c["metric"]: c["state"] for v in results["verdicts"] for c in v["checks"] if v["target"] == "chat-ok"}
    assert checks == {"TTFT p50": "pass", "ITL p99": "pass", "output tokens/s": "pass", "error rate": "pass"}
    md = (report / "report.md").read_text()
    assert "### Streamed generation" in md and "| chat-ok |" in md
    summary = (report / "summary.csv").read_text().splitlines()
    assert "ttft_p50_ms" in summary[0] and "output_tokens_per_s" in summary[0]
