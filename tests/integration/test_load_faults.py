"""Faults in the load path, against real sockets and a real tritonserver: a server that accepts
connections and never answers, one that accepts them and closes them, and offered load at twice
the measured capacity, with the latency profile's bounded queue and without any.

Nothing here asserts a duration as a figure: the only time bound is a hang detector, generous
enough for a busy shared machine (a run must end, with a Measurement, not within some speed)."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import threading
from collections.abc import Callable, Iterator
from typing import Any, Literal

import pytest

from tritonkit import onnx_builders
from tritonkit.errors import InputError
from tritonkit.measure.measurement import CONNECTION, REJECTED, TIMEOUT, Measurement
from tritonkit.measure.runner import measure_target
from tritonkit.measure.summary import Host
from tritonkit.report import render_report
from tritonkit.specs import DynamicBatchingKnobs, InstanceGroupKnobs, QueuePolicyKnobs, ServingKnobs, TargetSpec
from tritonkit.triton import model_config
from tritonkit.triton.onnx_signature import read_signature
from tritonkit.triton.profiles import profile
from tritonkit.triton.repository import write_model
from tritonkit.triton.server import LocalServer

pytestmark = pytest.mark.integration

Fault = Literal["silent", "close"]
HANG_SLACK_S = 30.0  # beyond the configured bounds, before a run counts as hung


class FaultyProxy:
    """A TCP listener on 127.0.0.1 that forwards to `upstream` until its fault starts: then it
    accepts connections and never answers ('silent': what it reads is dropped), or closes every
    connection it has and each new one on accept ('close'). The fault starts once the clients have
    sent `fault_after_bytes` (0: from the start), so it always begins after the config was read."""

    def __init__(self, upstream: str, fault: Fault, fault_after_bytes: int) -> None:
        self._upstream = upstream.rsplit(":", 1)
        self._fault = fault
        self._after = fault_after_bytes
        self._forwarded = 0
        self._lock = threading.Lock()
        self._sockets: list[socket.socket] = []
        self._listener = socket.create_server(("127.0.0.1", 0), backlog=256)
        self.url = f"127.0.0.1:{self._listener.getsockname()[1]}"
        self._threads = [threading.Thread(target=self._accept, daemon=True)]
        self._threads[0].start()

    @property
    def faulty(self) -> bool:
        return self._forwarded >= self._after

    def __enter__(self) -> FaultyProxy:
        return self

    def __exit__(self, *exc: object) -> None:
        _close(self._listener)  # shutting it down wakes the blocked accept()
        self._close_all()
        for thread in self._threads:
            thread.join(5)

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return  # the listener was closed
            if self.faulty and self._fault == "close":
                _close(client)
                continue
            pair = [client]
            if not self.faulty:
                pair.append(socket.create_connection((self._upstream[0], int(self._upstream[1]))))
            with self._lock:
                self._sockets += pair
            for source, sink in {(pair[0], pair[-1]), (pair[-1], pair[0])}:
                thread = threading.Thread(target=self._pump, args=(source, sink, source is client), daemon=True)
                self._threads.append(thread)
                thread.start()

    def _pump(self, source: socket.socket, sink: socket.socket, upstream_bound: bool) -> None:
        with contextlib.suppress(OSError):
            while data := source.recv(65536):
                if upstream_bound:
                    with self._lock:
                        self._forwarded += len(data)
                if self.faulty:
                    if self._fault == "close":
                        self._close_all()
                        return
                    continue  # silent: read, never answer
                if sink is not source:
                    sink.sendall(data)

    def _close_all(self) -> None:
        with self._lock:
            for s in self._sockets:
                _close(s)


def _close(s: socket.socket) -> None:
    with contextlib.suppress(OSError):
        s.shutdown(socket.SHUT_RDWR)
    s.close()


def in_time(function: Callable[[], Any], seconds: float) -> Any:
    """Run `function` in a thread so that a hang fails the test instead of blocking the whole test run."""
    outcome: list[Any] = []

    def call() -> None:
        try:
            outcome.append(function())
        except BaseException as exc:
            outcome.append(exc)

    thread = threading.Thread(target=call, daemon=True)
    thread.start()
    thread.join(seconds)
    assert not thread.is_alive(), f"still running after {seconds:g} s: hung"
    if isinstance(outcome[0], BaseException):
        raise outcome[0]
    return outcome[0]


# -- the model and its two queue policies -------------------------------------------------------

# The latency profile's bounded queue (8 requests, 30 ms, REJECT) on one instance of one thread, one
# request per execution: capacity is the model's alone (a few hundred requests/s), and the second
# core is left to the client and Triton's frontend, so that twice the capacity really is offered.
LATENCY = profile("latency")
BOUNDED = LATENCY.model_copy(
    update={"max_batch_size": 1, "instance_groups": (InstanceGroupKnobs(kind="KIND_CPU", count=1),), "warmup": None}
)
assert BOUNDED.dynamic_batching is not None and BOUNDED.dynamic_batching.queue_policy.max_queue_size > 0
QUEUE_TIMEOUT_US = BOUNDED.dynamic_batching.queue_policy.default_timeout_microseconds
UNBOUNDED = BOUNDED.model_copy(update={"dynamic_batching": DynamicBatchingKnobs(queue_policy=QueuePolicyKnobs())})
MODELS: dict[str, ServingKnobs] = {"bounded": BOUNDED, "unbounded": UNBOUNDED}


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalServer]:
    root = tmp_path_factory.mktemp("faults")
    onnx = onnx_builders.mlp(root / "mlp.onnx", features=1024, hidden=8192, classes=4)
    repository = root / "repository"
    for name, knobs in MODELS.items():
        write_model(repository, model_config.build_config(name, read_signature(onnx), knobs), onnx)
    with LocalServer(repository) as running:
        yield running


def target(model: str, load: dict[str, Any]) -> TargetSpec:
    return TargetSpec.model_validate(
        {
            "name": f"{model}-{load['mode']}",
            "model": model,
            "load": load,
            "payload": {"kind": "random", "count": 16},
            "slo": {},
        }
    )


def measure(spec: TargetSpec, url: str) -> Measurement:
    load = spec.load
    # Config read, drain and the last statistics read are each bounded by the request timeout.
    bound = load.warmup_s + load.duration_s + 3 * load.request_timeout_s + HANG_SLACK_S
    return in_time(lambda: asyncio.run(measure_target(spec, Host(url, url))), bound)  # type: ignore[no-any-return]


# -- a server that stops answering, or closes --------------------------------------------------

FAULT_LOAD = {"warmup_s": 0.5, "window_s": 0.5, "duration_s": 1.5, "request_timeout_s": 1.0}


@pytest.mark.parametrize("protocol", ["grpc", "http"])
@pytest.mark.parametrize("mode", ["open", "closed"])
@pytest.mark.parametrize(("fault", "kind"), [("silent", TIMEOUT), ("close", CONNECTION)])
def test_a_server_that_goes_silent_or_closes_ends_each_request_at_its_bound(
    server: LocalServer, protocol: str, mode: str, fault: Fault, kind: str
) -> None:
    level = {"rate_per_s": 40} if mode == "open" else {"concurrency": 4}
    # No queue policy: every failure is the fault's, none a rejection by a busy server.
    spec = target("unbounded", {"mode": mode, "protocol": protocol, **level, **FAULT_LOAD})
    # ~16 requests of 4 KiB in, the server stops answering: the config was read, the load started.
    with FaultyProxy(server.grpc_url if protocol == "grpc" else server.http_url, fault, 64_000) as proxy:
        measurement = measure(spec, proxy.url)
        assert proxy.faulty
    # Every failure is of the fault's kind: no answer in time, or the connection gone; nothing hung.
    raw_kinds = set(measurement.raw.error) - {""}
    assert raw_kinds == {kind}, measurement.error_examples
    assert "" in measurement.raw.error  # requests before the fault were answered
    assert measurement.errors.get(kind, 0) > 0 and measurement.error_rate > 0
    if fault == "silent":
        latencies = measurement.raw.latency_us[[e == TIMEOUT for e in measurement.raw.error]]
        assert latencies.min() >= 1e6  # each timed-out request ran to its 1 s timeout
    # The statistics at the window edges and after the drain timed out or failed, and said so.
    assert any("no server statistics" in w for w in measurement.warnings)
    report = render_report("fault", [measurement])["report.md"].decode()
    assert f"{kind}: {measurement.errors[kind]}" in report


@pytest.mark.parametrize("protocol", ["grpc", "http"])
def test_a_server_that_never_answers_fails_the_config_read_in_time(server: LocalServer, protocol: str) -> None:
    spec = target("unbounded", {"mode": "closed", "concurrency": 2, "protocol": protocol, **FAULT_LOAD})
    with FaultyProxy(server.grpc_url, "silent", 0) as proxy, pytest.raises(InputError, match="no answer within 1 s"):
        measure(spec, proxy.url)


# -- overload: twice the capacity ---------------------------------------------------------------


CAPACITY_LOAD = {"mode": "closed", "concurrency": 8, "warmup_s": 0.5, "window_s": 1.0, "duration_s": 2.0}


def capacity(server: LocalServer, model: str, protocol: str = "grpc") -> float:
    """Requests/s with 8 in flight (the instance always busy, a few requests queued, far from 16),
    in the best window: other work on a shared host only ever lowers it."""
    url = server.grpc_url if protocol == "grpc" else server.http_url
    measured = measure(target(model, CAPACITY_LOAD | {"stable_windows": 2, "protocol": protocol}), url)
    best = max(w.throughput_per_s for w in measured.windows)
    assert best > 0
    return best


def overload(server: LocalServer, model: str, protocol: str = "grpc") -> Measurement:
    """Twice the capacity, Poisson; the client's in-flight cap is out of reach of this short run,
    so any backlog is the server's own queue."""
    rate = 2 * capacity(server, model, protocol)
    load = {"mode": "open", "rate_per_s": rate, "warmup_s": 0.5, "window_s": 1.0, "duration_s": 3.0}
    url = server.grpc_url if protocol == "grpc" else server.http_url
    return measure(target(model, load | {"max_in_flight": 4096, "protocol": protocol}), url)


@pytest.mark.parametrize("protocol", ["grpc", "http"])
def test_overload_with_the_latency_queue_policy_is_shed_and_bounded(server: LocalServer, protocol: str) -> None:
    m = overload(server, "bounded", protocol)
    # The server stayed up and answered: some requests served, the excess rejected by the queue
    # policy (as rejections, not as client timeouts), and the backlog held.
    assert m.latency is not None and m.requests_per_s > 0
    assert m.rejected > 0 and set(m.errors) <= set(REJECTED), m.error_examples
    assert not m.queue_growing
    server.raise_if_exited()
    assert server.client.is_model_ready("bounded")
    # Accepted requests waited at most the policy's timeout in the queue (Triton's own accounting);
    # the p99 limit an SLO would set sits above that bound plus the compute.
    assert m.server is not None and m.server.queue_us <= QUEUE_TIMEOUT_US
    assert all(w.server_queue_us is not None and w.server_queue_us <= QUEUE_TIMEOUT_US for w in m.windows)


def test_overload_without_a_queue_policy_shows_the_queue_growing(server: LocalServer) -> None:
    m = overload(server, "unbounded")
    assert m.rejected == 0 and TIMEOUT not in m.errors
    queue = [w.server_queue_us for w in m.windows]
    outstanding = [w.outstanding for w in m.windows]
    assert all(q is not None for q in queue) and all(o is not None for o in outstanding)
    assert queue[-1] > queue[0] and outstanding[-1] > outstanding[0]  # type: ignore[operator]
    assert m.queue_growing and any(w.startswith("queue growing") for w in m.warnings)
