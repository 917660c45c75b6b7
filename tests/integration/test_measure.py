"""The load client against a real tritonserver: both loop modes, both protocols, the client's
latency against the server's own accounting, and a server that dies mid-run."""

from __future__ import annotations

import asyncio
import os
import signal
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psutil
import pytest

from tritonkit import onnx_builders
from tritonkit.measure.measurement import Measurement
from tritonkit.measure.runner import measure_target
from tritonkit.measure.summary import Host
from tritonkit.report import write_report
from tritonkit.specs import DynamicBatchingKnobs, OnnxRuntimeKnobs, ServingKnobs, TargetSpec
from tritonkit.triton import model_config
from tritonkit.triton.onnx_signature import read_signature
from tritonkit.triton.repository import write_model
from tritonkit.triton.server import LocalServer

pytestmark = pytest.mark.integration

FEATURES = 1024
ONE_THREAD = OnnxRuntimeKnobs(intra_op_thread_count=1, inter_op_thread_count=1)


def build_repository(root: Path) -> Path:
    """`heavy`: milliseconds of compute per request; `identity`: the same request size, no compute."""
    repository = root / "repository"
    heavy = onnx_builders.mlp(root / "heavy.onnx", features=FEATURES, hidden=8192, classes=4)
    identity = onnx_builders.identity(root / "identity.onnx", dims=("batch", FEATURES))
    models: dict[str, tuple[Path, ServingKnobs]] = {
        "heavy": (heavy, ServingKnobs(max_batch_size=8, onnxruntime=ONE_THREAD)),
        "identity": (identity, ServingKnobs(max_batch_size=8, onnxruntime=ONE_THREAD)),
        "batching": (
            heavy,
            ServingKnobs(
                max_batch_size=16,
                dynamic_batching=DynamicBatchingKnobs(max_queue_delay_microseconds=2_000),
                onnxruntime=ONE_THREAD,
            ),
        ),
    }
    for name, (onnx, knobs) in models.items():
        write_model(repository, model_config.build_config(name, read_signature(onnx), knobs), onnx)
    return repository


@pytest.fixture(scope="module")
def repository(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_repository(tmp_path_factory.mktemp("measure"))


@pytest.fixture(scope="module")
def server(repository: Path) -> Iterator[LocalServer]:
    with LocalServer(repository) as running:
        yield running


def target(model: str, load: dict[str, Any], *, batch_size: int = 1, outputs: tuple[str, ...] = ()) -> TargetSpec:
    timing = {"warmup_s": 0.5, "window_s": 1.0, "duration_s": 4.0, "stable_windows": 2}
    return TargetSpec.model_validate(
        {
            "name": f"{model}-{load['mode']}",
            "model": model,
            "load": {**timing, **load},
            "payload": {"kind": "random", "batch_size": batch_size, "count": 16},
            "slo": {},
            "outputs": outputs,
        }
    )


def measure(server: LocalServer, spec: TargetSpec, **host: Any) -> Measurement:
    return asyncio.run(measure_target(spec, Host(server.grpc_url, server.http_url, **host)))


@pytest.mark.parametrize("protocol", ["grpc", "http"])
def test_closed_loop_figures_add_up(server: LocalServer, protocol: str) -> None:
    measurement = measure(
        server,
        target("batching", {"mode": "closed", "concurrency": 4, "protocol": protocol}, batch_size=2),
        dollars_per_hour=3.6,
    )
    assert measurement.errors == {} and measurement.sent > 20
    assert measurement.latency is not None and measurement.latency.p50_us > 0
    assert measurement.inferences_per_request == 2
    assert measurement.inferences_per_s == pytest.approx(2 * measurement.requests_per_s)
    server_side = measurement.server
    assert server_side is not None
    # Four requests in flight against one instance: queued requests meet in the dynamic batcher.
    assert server_side.inferences == 2 * server_side.requests
    assert server_side.executions < server_side.requests
    assert server_side.average_batch_size > 2
    assert server_side.queue_us > 0 and server_side.compute_infer_us > 0
    # $3.6/hour is $0.001 per second: the cost of 1M inferences follows from the throughput.
    assert measurement.cost_per_million == pytest.approx(0.001 / measurement.inferences_per_s * 1e6)
    assert measurement.energy.joules_per_inference is None
    assert measurement.energy.method.startswith("not available")
    assert len(measurement.raw) >= measurement.sent


def test_open_loop_offers_the_rate_it_was_given(server: LocalServer) -> None:
    rate = 40.0
    spec = target("heavy", {"mode": "open", "rate_per_s": rate, "arrivals": "constant"})
    measurement = measure(server, spec)
    assert measurement.errors == {}
    # Constant arrivals: exactly one request due every 25 ms over the measured windows.
    assert measurement.sent == pytest.approx(rate * measurement.duration_s, abs=2)
    assert measurement.requests_per_s == pytest.approx(rate, rel=0.15)
    assert measurement.latency is not None
    assert measurement.late_sends <= 0.05 * measurement.sent


def test_client_p50_is_server_time_plus_loopback_overhead(server: LocalServer) -> None:
    """One request at a time, so there is no queueing and p50 ≈ mean. The loopback overhead
    (serialisation, gRPC, Triton's request handling, the Python backend's hand-off) is measured on
    the identity model with the same request size; the heavy model adds milliseconds of compute.

    Tolerance: 25% of the client's p50 plus 0.5 ms. The machine is shared and has 2 cores, which the
    client, the server and the backend stub share: scheduling jitter of a few hundred µs per
    request is normal, and p50 (client) is compared with a mean (server statistics)."""
    closed = {"mode": "closed", "concurrency": 1}
    baseline = measure(server, target("identity", closed, batch_size=8, outputs=("output",)))
    heavy = measure(server, target("heavy", closed, batch_size=8, outputs=("logits",)))
    assert baseline.latency is not None and baseline.server is not None
    assert heavy.latency is not None and heavy.server is not None
    loopback_us = baseline.latency.p50_us - (baseline.server.queue_us + baseline.server.compute_us)
    expected_us = heavy.server.queue_us + heavy.server.compute_us + loopback_us
    assert heavy.server.compute_us > 3 * loopback_us, "the heavy model must dominate the overhead"
    assert heavy.latency.p50_us == pytest.approx(expected_us, rel=0.25, abs=500)


def test_a_server_that_dies_mid_run_gives_error_counts_not_a_hang(tmp_path: Path) -> None:
    repository = build_repository(tmp_path)
    orphans: list[int] = []

    def kill_server(server: LocalServer) -> None:
        orphans.extend(children(server.pid))  # its backend stubs outlive a SIGKILL: stop() must end them
        os.kill(server.pid, signal.SIGKILL)

    with LocalServer(repository) as doomed:
        killer = threading.Timer(1.5, kill_server, args=(doomed,))
        killer.start()
        try:
            spec = target("heavy", {"mode": "closed", "concurrency": 2, "request_timeout_s": 5.0})
            measurement = measure(doomed, spec)
        finally:
            killer.cancel()
    assert orphans, "the server had backend stubs to clean up"
    assert not [pid for pid in orphans if alive(pid)], "stop() ended the orphaned stubs"
    assert measurement.errors, "requests after the kill must fail"
    assert measurement.error_rate > 0
    assert measurement.latency is not None  # requests before the kill succeeded
    assert any("server statistics" in w for w in measurement.warnings)
    report = write_report(tmp_path / "report", title="server died", measurements=[measurement])
    text = (report / "report.md").read_text()
    for kind, count in measurement.errors.items():
        assert kind in text and str(count) in text


def alive(pid: int) -> bool:
    """Running, not merely a zombie waiting for init to reap it."""
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def children(pid: int) -> list[int]:
    found = []
    for status in Path("/proc").glob("[0-9]*/status"):
        try:
            fields = dict(line.split(":\t", 1) for line in status.read_text().splitlines() if ":\t" in line)
        except (OSError, ValueError):
            continue  # exited while we looked
        if int(fields.get("PPid", "0")) == pid:
            found.append(int(status.parent.name))
    return found
