"""CPU and memory of a model's instances, read from the real stub processes of the shared server."""

from __future__ import annotations

import time

import numpy as np
import pytest

from tests.integration.conftest import stub_processes
from tritonkit.measure.resources import ResourceMeter, ResourceUsage, model_processes
from tritonkit.triton.infer import infer_once
from tritonkit.triton.server import LocalServer

pytestmark = pytest.mark.integration

MB = 2**20
BUSY_REQUESTS = 5_000  # an upper bound: the loop also stops after about a second
BUSY_S = 1.0


def _x(rows: int) -> np.ndarray:
    return np.random.default_rng(3).standard_normal((rows, 16)).astype(np.float32)


def _measured(meter: ResourceMeter) -> ResourceUsage:
    usage = meter.stop()
    assert usage is not None, "the model's processes were there at start and stop"
    return usage


def _busy(server: LocalServer, model: str) -> int:
    """Real requests one after another for about BUSY_S; how many were answered."""
    x = _x(8)
    deadline = time.monotonic() + BUSY_S
    sent = 0
    while sent < BUSY_REQUESTS and time.monotonic() < deadline:
        infer_once(server.client, model, {"x": x}, ["logits"])
        sent += 1
    return sent


def test_each_instance_is_one_stub_process(server: LocalServer) -> None:
    two = model_processes(server.pid, "mlp_two_instances")
    batching = model_processes(server.pid, "mlp_batching")
    assert len(two) == 2
    assert len(batching) == 1
    assert {p.pid for p in two} == {pid for pid, _ in stub_processes(server, "mlp_two_instances")}
    assert not {p.pid for p in two} & {p.pid for p in batching}
    # A name that prefixes other models' names matches none of their stubs.
    assert model_processes(server.pid, "mlp") == []
    assert model_processes(server.pid, "mlp_two") == []


def test_busy_instances_use_cpu_and_idle_ones_less(server: LocalServer) -> None:
    idle = ResourceMeter(server.pid, "mlp_two_instances")
    idle.start()
    time.sleep(0.5)
    at_rest = _measured(idle)

    busy = ResourceMeter(server.pid, "mlp_two_instances")
    other = ResourceMeter(server.pid, "mlp_batching")
    busy.start()
    other.start()
    answered = _busy(server, "mlp_two_instances")
    working = _measured(busy)
    untouched = _measured(other)

    assert answered > 0
    assert working.processes == at_rest.processes == 2
    assert working.rss_bytes > 2 * 16 * MB  # each stub holds a Python interpreter and an ORT session
    assert working.cpu_cores > 0
    assert at_rest.cpu_cores < working.cpu_cores
    # The requests went through the server's gRPC front-end, and never to mlp_batching's stub.
    assert working.server_cpu_cores > 0
    assert at_rest.server_cpu_cores < working.server_cpu_cores
    assert untouched.processes == 1
    assert untouched.cpu_cores < working.cpu_cores


def test_a_reload_between_start_and_stop_gives_none(server: LocalServer) -> None:
    meter = ResourceMeter(server.pid, "mlp_reload")
    meter.start()
    server.unload("mlp_reload")
    server.load("mlp_reload")  # a new stub process, whatever the old one is doing by now
    assert meter.stop() is None
    assert server.client.is_model_ready("mlp_reload")


def test_no_instances_gives_none(server: LocalServer) -> None:
    meter = ResourceMeter(server.pid, "mlp")  # no such model: only others whose names it prefixes
    meter.start()
    assert meter.stop() is None
