"""Locust against a real `<name>_text` model: a tiny random embedder exported with `text_model`,
served, and driven by `locust -f loadtests/locustfile.py` with nothing text-model-specific on the
command line: strings go out (the server tokenizes them), exact latencies are recorded and judged,
and the encoder behind the ensemble counts every sentence."""

from __future__ import annotations

import csv
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from subprocess import PIPE

import pytest
import yaml

from tests.e2e.test_cli import REPO
from tests.e2e.test_locust import finish
from tests.export.conftest import ALL_TEXTS, TEXTS, recipe_fields
from tests.export.tiny_models import sentence_embedding_model
from tritonkit.export.pipeline import export
from tritonkit.export.recipe import load_recipe
from tritonkit.triton.server import LocalServer

pytestmark = pytest.mark.integration

LOCUST = [sys.executable, "-m", "locust", "-f", str(REPO / "loadtests" / "locustfile.py")]


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[LocalServer, Path]]:
    root = tmp_path_factory.mktemp("locust-texts")
    source = sentence_embedding_model(root / "embedder", ALL_TEXTS)
    fields = recipe_fields(source, "sentence-embedding", variants=["fp32"], text_model={"variant": "fp32"})
    (root / "tiny.yaml").write_text(yaml.safe_dump(fields))
    export(load_recipe(root / "tiny.yaml"), root / "model_repository", progress=lambda _: None)
    with LocalServer(root / "model_repository") as running:
        yield running, root


def test_strings_are_sent_recorded_and_judged(served: tuple[LocalServer, Path], tmp_path: Path) -> None:
    server, root = served
    target = {"name": "text-locust", "model": "tiny_text", "load": {"mode": "closed", "concurrency": 2,
              "warmup_s": 0.5, "window_s": 1.0, "duration_s": 3.0, "stable_windows": 2},
              "payload": {"kind": "texts", "texts": str(TEXTS / "evaluation.txt")},
              "slo": {"p99_ms": 5000, "max_error_rate": 0.0}}  # fmt: skip
    targets = tmp_path / "targets.yaml"
    targets.write_text(yaml.safe_dump({"targets": [target]}))
    records = tmp_path / "run.csv"
    (before,) = server.client.get_inference_statistics("tiny_fp32").model_stats
    process = subprocess.Popen(
        [*LOCUST, "--headless", "-u", "2", "-r", "2", "-t", "4s", "--host", f"http://{server.http_url}",
         "--grpc-url", server.grpc_url, "--model", "tiny", "--variant", "text", "--protocol", "grpc",
         "--texts", str(TEXTS / "evaluation.txt"), "--targets", str(targets), "--target", "text-locust",
         "--latencies-csv", str(records)],
        cwd=root, stdout=PIPE, stderr=PIPE, text=True,
    )  # fmt: skip
    result = finish(process, 90)
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-3000:]
    assert "1 of 1 targets met their SLO" in output and "error:" not in output
    rows = list(csv.DictReader(records.open()))
    assert len(rows) > 10 and all(row["error"] == "" for row in rows)
    (after,) = server.client.get_inference_statistics("tiny_fp32").model_stats
    assert after.inference_count - before.inference_count >= len(rows)  # each string reached the encoder
