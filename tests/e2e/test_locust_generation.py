"""Locust's streaming user (loadtests/generation.py) against a real decoupled generator on a real
server: TTFT and ITL as Locust request entries, exact records with every stream's tokens, the
verdict on a generation SLO, and `tritonkit check --locust` agreeing on the same records."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from tests.e2e.test_cli import REPO, run
from tests.e2e.test_locust import finish
from tests.integration.generator import NAME, SENTENCES, TOKEN_INTERVAL_S, write_generator
from tritonkit.triton.server import LocalServer

pytestmark = pytest.mark.integration

LOCUST = ["-m", "locust", "-f", str(REPO / "loadtests" / "generation.py")]
NEW_TOKENS = 6
TIMING = {"warmup_s": 0.5, "window_s": 1.0, "duration_s": 4.0, "stable_windows": 2}


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[LocalServer, Path]]:
    root = tmp_path_factory.mktemp("locust-generation")
    write_generator(root / "repository")
    (root / "texts.txt").write_text(SENTENCES)
    with LocalServer(root / "repository") as running:
        yield running, root


def targets_file(path: Path, root: Path, slo: dict[str, float]) -> Path:
    payload = {"kind": "prompts", "texts": str(root / "texts.txt"), "max_new_tokens": NEW_TOKENS}
    target = {"name": "chat", "model": NAME, "load": {**TIMING, "mode": "closed", "concurrency": 2}}
    path.write_text(yaml.safe_dump({"targets": [{**target, "payload": payload, "slo": slo}]}))
    return path


def test_streams_report_ttft_and_itl_and_are_judged(served: tuple[LocalServer, Path], tmp_path: Path) -> None:
    server, root = served
    tokenizer = root / "repository" / NAME / "tokenizer"
    records, stats = tmp_path / "run.csv", tmp_path / "stats"
    passing = targets_file(tmp_path / "ok.yaml", root, {"ttft_p99_ms": 5000, "itl_p50_ms": 5000})
    process = subprocess.Popen(
        [sys.executable, *LOCUST, "--headless", "-u", "2", "-r", "2", "-t", "5s", "--grpc-url", server.grpc_url,
         "--model", NAME, "--texts", str(root / "texts.txt"), "--tokenizer", str(tokenizer),
         "--max-new-tokens", str(NEW_TOKENS), "--targets", str(passing), "--target", "chat",
         "--latencies-csv", str(records), "--csv", str(stats)],
        cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    result = finish(process, timeout=90)
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-3000:]
    assert "1 of 1 targets met their SLO" in output

    entries = {row["Name"]: row for row in csv.DictReader((tmp_path / "stats_stats.csv").open())}
    streams, ttft, itl = entries[NAME], entries["ttft"], entries["itl"]
    assert ttft["Type"] == itl["Type"] == "token" and int(streams["Failure Count"]) == 0
    # One TTFT per successful stream and NEW_TOKENS - 1 gaps, each at least the generator's pace.
    assert int(ttft["Request Count"]) == int(streams["Request Count"]) > 10
    assert int(itl["Request Count"]) == (NEW_TOKENS - 1) * int(streams["Request Count"])
    assert float(itl["Median Response Time"]) >= TOKEN_INTERVAL_S * 1000
    assert float(ttft["Min Response Time"]) >= TOKEN_INTERVAL_S * 1000 * 0.9  # Locust rounds its figures

    rows = list(csv.DictReader(records.open()))
    assert len(rows) == int(streams["Request Count"]) and all(row["error"] == "" for row in rows)
    assert all(len(row["token_ms"].split()) == NEW_TOKENS for row in rows)  # the stream's exact arrivals

    report = tmp_path / "report"
    checked = run("check", passing, "--locust", records, "--report-dir", report)
    assert checked.returncode == 0 and "1 of 1 targets met their SLO" in checked.stdout, checked.stdout
    generation = json.loads((report / "results.json").read_text())["measurements"][0]["generation"]
    assert generation["tokens_per_request"] == NEW_TOKENS and generation["itl"]["p50_us"] >= TOKEN_INTERVAL_S * 1e6

    impossible = targets_file(tmp_path / "impossible.yaml", root, {"itl_p50_ms": 1})
    failed = run("check", impossible, "--locust", records, "--report-dir", report)
    assert failed.returncode == 1 and "✗ ITL p50" in failed.stdout, failed.stdout
