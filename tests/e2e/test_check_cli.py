"""`tritonkit check` and `tritonkit sweep` as a user runs them: a real process, a targets file,
a local server started for the run, a verdict table, an exit code and a report."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from tests.e2e.test_cli import assert_user_error, run
from tritonkit import onnx_builders
from tritonkit.report.results import Results
from tritonkit.specs import DynamicBatchingKnobs, ServingKnobs
from tritonkit.triton import model_config
from tritonkit.triton.onnx_signature import read_signature
from tritonkit.triton.repository import write_model

pytestmark = pytest.mark.integration

LOAD = {"warmup_s": 0.5, "window_s": 1.0, "duration_s": 3.0, "stable_windows": 2}
PAYLOAD = {"kind": "random", "count": 8}


@pytest.fixture
def repository(tmp_path: Path) -> Path:
    onnx = onnx_builders.mlp(tmp_path / "mlp.onnx")
    knobs = ServingKnobs(max_batch_size=8, dynamic_batching=DynamicBatchingKnobs())
    write_model(tmp_path / "repo", model_config.build_config("mlp", read_signature(onnx), knobs), onnx)
    return tmp_path / "repo"


def write_targets(path: Path, targets: list[dict[str, object]]) -> Path:
    path.write_text(yaml.safe_dump({"dollars_per_hour": 1.0, "targets": targets}))
    return path


def test_an_impossible_target_fails_with_exit_1_and_a_readable_reason(tmp_path: Path, repository: Path) -> None:
    targets = write_targets(
        tmp_path / "targets.yaml",
        [
            {
                "name": "reachable",
                "model": "mlp",
                "load": {**LOAD, "mode": "closed", "concurrency": 2, "protocol": "http"},
                "payload": PAYLOAD,
                "slo": {"p99_ms": 5000, "max_error_rate": 0.0},
            },
            {
                "name": "impossible",
                "model": "mlp",
                "load": {**LOAD, "mode": "open", "rate_per_s": 50},
                "payload": PAYLOAD,
                "slo": {"p99_ms": 0.001, "min_inferences_per_s": 1e6},
            },
        ],
    )
    report = tmp_path / "report"
    result = run("check", targets, "--model-repository", repository, "--report-dir", report, timeout=300)
    assert result.returncode == 1, result.stdout + result.stderr
    assert "Traceback" not in result.stderr
    lines = {line.split()[0]: line for line in result.stdout.splitlines() if line.split()}
    assert "PASS" in lines["reachable"] and "FAIL" in lines["impossible"]
    assert "✗ p99" in result.stdout and "target ≤ 0.001 ms" in result.stdout
    assert "✗ throughput" in result.stdout and "target ≥ 1e+06 inf/s" in result.stdout
    assert "1 of 2 targets met their SLO" in result.stdout
    results = Results.model_validate_json((report / "results.json").read_text())
    assert [v.passed for v in results.verdicts] == [True, False]
    assert {"report.md", "report.html", "summary.csv"} <= {p.name for p in report.iterdir()}


def test_sweep_finds_the_most_throughput_within_p99(tmp_path: Path, repository: Path) -> None:
    targets = write_targets(
        tmp_path / "targets.yaml",
        [
            {
                "name": "mlp-closed",
                "model": "mlp",
                "load": {**LOAD, "mode": "closed", "concurrency": 1},
                "payload": PAYLOAD,
                "slo": {"p99_ms": 5000},
            }
        ],
    )
    report = tmp_path / "sweep"
    result = run(
        "sweep", targets, "--target", "mlp-closed", "--levels", "1,2,4",
        "--model-repository", repository, "--report-dir", report, timeout=300,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    assert "max throughput meeting p99 ≤ 5000 ms:" in result.stdout
    assert "best within p99" in result.stdout
    (sweep,) = Results.model_validate_json((report / "results.json").read_text()).sweeps
    assert [point.level for point in sweep.points] == [1, 2, 4]
    assert sweep.best is not None


def test_targets_file_errors_name_the_field(tmp_path: Path, repository: Path) -> None:
    targets = write_targets(
        tmp_path / "targets.yaml",
        [{"name": "x", "model": "mlp", "load": {"mode": "closed", "concurency": 2}, "payload": PAYLOAD, "slo": {}}],
    )
    result = run("check", targets, "--model-repository", repository)
    assert_user_error(result, "targets.yaml", "concurency")


def test_a_target_naming_a_missing_model_is_a_clear_error(tmp_path: Path, repository: Path) -> None:
    targets = write_targets(
        tmp_path / "targets.yaml",
        [{"name": "x", "model": "nope", "load": {**LOAD, "mode": "closed", "concurrency": 1}, "payload": PAYLOAD,
          "slo": {}}],
    )  # fmt: skip
    result = run("check", targets, "--model-repository", repository, "--report-dir", tmp_path / "r")
    assert_user_error(result, "nope")
