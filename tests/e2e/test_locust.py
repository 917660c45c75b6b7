"""Locust against the real server: headless runs over HTTP and gRPC judged by the targets' SLOs
(and `tritonkit check --locust` agreeing), a step shape stepping, master + 2 workers, and the web
UI driven through its HTTP API and photographed in headless Chromium."""

from __future__ import annotations

import csv
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from subprocess import PIPE

import pytest
import yaml

from tests.e2e.test_cli import REPO, run
from tritonkit import onnx_builders
from tritonkit.specs import DynamicBatchingKnobs, ServingKnobs
from tritonkit.triton import model_config
from tritonkit.triton.onnx_signature import read_signature
from tritonkit.triton.repository import write_model
from tritonkit.triton.server import LocalServer, free_port

pytestmark = pytest.mark.integration

LOCUSTFILE = REPO / "loadtests" / "locustfile.py"
LOCUST = [sys.executable, "-m", "locust", "-f", str(LOCUSTFILE)]
TIMING = {"warmup_s": 0.5, "window_s": 1.0, "duration_s": 4.0, "stable_windows": 2}


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalServer]:
    root = tmp_path_factory.mktemp("locust")
    onnx = onnx_builders.mlp(root / "mlp.onnx")
    knobs = ServingKnobs(max_batch_size=8, dynamic_batching=DynamicBatchingKnobs())
    write_model(root / "repo", model_config.build_config("mlp", read_signature(onnx), knobs), onnx)
    with LocalServer(root / "repo") as running:
        yield running


def targets_file(path: Path, p99_ms: float) -> Path:
    target = {
        "name": "mlp-locust",
        "model": "mlp",
        "load": {**TIMING, "mode": "closed", "concurrency": 2},
        "payload": {"kind": "random"},
        "slo": {"p99_ms": p99_ms, "max_error_rate": 0.0},
    }
    path.write_text(yaml.safe_dump({"targets": [target]}))
    return path


def server_arguments(server: LocalServer) -> list[str]:
    return [
        "--host",
        f"http://{server.http_url}",
        "--grpc-url",
        server.grpc_url,
        "--model",
        "mlp",
        "--payload",
        "random",
    ]


def locust(*arguments: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    process = subprocess.Popen([*LOCUST, *arguments], cwd=REPO, stdout=PIPE, stderr=PIPE, text=True)
    return finish(process, timeout)


def finish(process: subprocess.Popen[str], timeout: float) -> subprocess.CompletedProcess[str]:
    """Wait for Locust. With gRPC under gevent it can hang in the interpreter's exit after writing
    everything (a gRPC/gevent clean-up problem, a few runs in a hundred): if it has logged its exit
    code by `timeout`, it is killed and that code stands; otherwise the test fails."""
    try:
        stdout, stderr = process.communicate(timeout=timeout)
        return subprocess.CompletedProcess(process.args, process.returncode, stdout, stderr)
    except subprocess.TimeoutExpired:
        process.kill()
        stdout, stderr = process.communicate()
    logged = re.search(r"Shutting down \(exit code (\d+)\)", stderr)
    if logged is None:
        raise AssertionError(f"locust did not finish within {timeout} s:\n{stderr[-3000:]}")
    return subprocess.CompletedProcess(process.args, int(logged.group(1)), stdout, stderr)


@pytest.mark.parametrize("protocol", ["http", "grpc"])
def test_headless_run_is_judged_like_tritonkit_check(tmp_path: Path, server: LocalServer, protocol: str) -> None:
    records = tmp_path / "run.csv"
    passing = targets_file(tmp_path / "ok.yaml", p99_ms=5000)
    result = locust(
        "--headless", "-u", "2", "-r", "2", "-t", "5s", *server_arguments(server), "--protocol", protocol,
        "--targets", str(passing), "--target", "mlp-locust", "--latencies-csv", str(records),
    )  # fmt: skip
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    output = result.stdout + result.stderr
    assert "1 of 1 targets met their SLO" in output
    rows = list(csv.DictReader(records.open()))
    assert len(rows) > 50 and all(row["error"] == "" for row in rows)
    # Exact latencies, not Locust's whole milliseconds.
    assert any(float(row["latency_ms"]) % 1 for row in rows)

    checked = run("check", passing, "--locust", records, "--report-dir", tmp_path / "report")
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "1 of 1 targets met their SLO" in checked.stdout

    impossible = targets_file(tmp_path / "impossible.yaml", p99_ms=0.001)
    failed = run("check", impossible, "--locust", records, "--report-dir", tmp_path / "report")
    assert failed.returncode == 1 and "✗ p99" in failed.stdout


def test_a_missed_slo_makes_locust_exit_non_zero(tmp_path: Path, server: LocalServer) -> None:
    impossible = targets_file(tmp_path / "impossible.yaml", p99_ms=0.001)
    result = locust(
        "--headless", "-u", "1", "-r", "1", "-t", "4s", *server_arguments(server),
        "--targets", str(impossible), "--target", "mlp-locust",
    )  # fmt: skip
    assert result.returncode == 1, result.stdout[-2000:] + result.stderr[-2000:]
    assert "✗ p99" in result.stdout + result.stderr


def test_a_step_shape_runs_its_steps(tmp_path: Path, server: LocalServer) -> None:
    prefix = tmp_path / "step"
    result = locust(
        "--headless", *server_arguments(server), "--shape", "step", "--shape-step-users", "1",
        "--shape-step-s", "2", "--shape-peak-users", "3", "--shape-duration-s", "7",
        "--csv", str(prefix), "--csv-full-history",
    )  # fmt: skip
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    history = list(csv.DictReader((tmp_path / "step_stats_history.csv").open()))
    counts = [int(row["User Count"]) for row in history if row["Name"] == "Aggregated"]
    steps = [c for i, c in enumerate(counts) if i == 0 or c != counts[i - 1]]
    assert steps[:4] in ([0, 1, 2, 3], [1, 2, 3, 0]), counts  # the first row may precede the first user


def test_master_and_two_workers_complete(tmp_path: Path, server: LocalServer) -> None:
    port = free_port()
    records = tmp_path / "distributed.csv"
    master = subprocess.Popen(
        [*LOCUST, "--master", "--master-bind-host", "127.0.0.1", "--master-bind-port", str(port),
         "--expect-workers", "2", "--headless", "-u", "4", "-r", "4", "-t", "5s", *server_arguments(server),
         "--latencies-csv", str(records), "--json"],
        cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    command = [*LOCUST, "--worker", "--master-host", "127.0.0.1", "--master-port", str(port), *server_arguments(server)]
    workers = [
        subprocess.Popen(command, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL) for _ in range(2)
    ]
    try:
        result = finish(master, timeout=90)
    finally:
        for process in (master, *workers):
            if process.poll() is None:
                process.kill()
    assert result.returncode == 0, result.stderr[-3000:]
    stats = json.loads(result.stdout)
    assert sum(entry["num_requests"] for entry in stats) > 50
    assert len(list(csv.DictReader(records.open()))) > 50  # the workers' exact latencies reached the master


def test_web_ui_starts_a_swarm_and_renders(tmp_path: Path, server: LocalServer) -> None:
    port = free_port()
    ui = subprocess.Popen(
        [*LOCUST, "--web-host", "127.0.0.1", "--web-port", str(port), *server_arguments(server)],
        cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, start_new_session=True,
    )  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    try:
        _wait_for(f"{base}/", timeout_s=60)
        form = urllib.parse.urlencode({"user_count": 2, "spawn_rate": 2, "host": f"http://{server.http_url}"})
        with urllib.request.urlopen(f"{base}/swarm", data=form.encode(), timeout=10) as response:
            assert json.loads(response.read())["success"]
        stats: dict[str, object] = {}
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            with urllib.request.urlopen(f"{base}/stats/requests", timeout=10) as response:
                stats = json.loads(response.read())
            requests = sum(int(s["num_requests"]) for s in stats["stats"] if s["name"] == "mlp")  # type: ignore[index, union-attr]
            if requests > 20:
                break
            time.sleep(0.5)
        assert requests > 20 and stats["user_count"] == 2, stats
        screenshot = _screenshot(f"{base}/", tmp_path)
        assert screenshot.stat().st_size > 10_000
        urllib.request.urlopen(f"{base}/stop", data=b"", timeout=10).close()
    finally:
        stop_group(ui)


def _wait_for(url: str, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            urllib.request.urlopen(url, timeout=2).close()
            return
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.3)


def _screenshot(url: str, tmp_path: Path) -> Path:
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        pytest.skip("no chromium on PATH (Debian's `chromium` package; .ci/run installs it)")
    target = tmp_path / "locust-ui.png"
    subprocess.run(
        [chromium, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         f"--user-data-dir={tmp_path / 'chromium-profile'}", "--window-size=1280,900",
         "--virtual-time-budget=5000", f"--screenshot={target}", url],
        capture_output=True, timeout=60, check=True,
    )  # fmt: skip
    return target


def stop_group(process: subprocess.Popen[str]) -> None:
    """Stop a process started in its own group (a web UI and what it spawned), killing what lingers."""
    os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()
