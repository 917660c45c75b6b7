"""Faults around the real local server: interrupts at any moment, ports taken, a crash, a huge
declared shape. Whatever happens, no tritonserver, no backend stub and no shared memory survives."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import psutil
import pytest

from tests.integration.conftest import build_repository
from tritonkit.errors import InputError, ServerError
from tritonkit.triton import processes
from tritonkit.triton.server import LocalServer, free_port

pytestmark = pytest.mark.integration

TRITONKIT = [str(Path(sys.executable).with_name("tritonkit"))]  # the executable users run


def leftovers(prefix: str, repository: Path) -> list[str]:
    """Processes and shared memory of a server started for `repository`: the server names the
    repository, its stubs the server's shared-memory prefix (which holds its owner's pid)."""
    found = []
    for process in psutil.process_iter(["pid", "name", "cmdline"]):
        command = " ".join(process.info["cmdline"] or ())
        if prefix in command or f"--model-repository={repository}" in command:
            found.append(f"pid {process.info['pid']} {process.info['name']}")
    return found + [str(region) for region in processes.shm_regions(prefix)]


@pytest.fixture(scope="module")
def own_repository(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Not the shared server's repository: its processes would count as leftovers."""
    return build_repository(tmp_path_factory.mktemp("faults"))


def serve(repository: Path) -> subprocess.Popen[str]:
    # Not in a shell's background job: that would ignore SIGINT.
    ports = [str(free_port()) for _ in range(3)]
    return subprocess.Popen(
        [*TRITONKIT, "serve", "--model-repository", str(repository),
         "--http-port", ports[0], "--grpc-port", ports[1], "--metrics-port", ports[2]],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip


def wait_for_stubs(owner_pid: int, count: int, timeout_s: float = 120) -> None:
    """Until `count` stub processes of this owner's server exist (the middle of its startup)."""
    prefix = f"tritonkit_{owner_pid}_"
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        stubs = [p for p in psutil.process_iter(["cmdline"]) if prefix in " ".join(p.info["cmdline"] or ())]
        if len(stubs) >= count:
            return
        time.sleep(0.05)
    raise AssertionError(f"fewer than {count} backend stubs within {timeout_s} s")


def stopped_cleanly(process: subprocess.Popen[str], repository: Path) -> None:
    _, stderr = process.communicate(timeout=90)
    assert process.returncode == 130, stderr
    assert stderr.strip().splitlines()[-1] == "interrupted: stopped"
    assert "Traceback" not in stderr
    assert not leftovers(f"tritonkit_{process.pid}_", repository)


@pytest.mark.parametrize(
    ("moment", "sent"),
    [
        *((moment, signal.SIGINT) for moment in ("at once", "first stub started", "three stubs started", "serving")),
        ("first stub started", signal.SIGTERM),
        ("serving", signal.SIGTERM),
    ],
)
def test_an_interrupt_at_any_moment_leaves_nothing_behind(own_repository: Path, moment: str, sent: int) -> None:
    repository = own_repository
    process = serve(repository)
    try:
        if moment == "at once":
            time.sleep(0.5)  # tritonkit is still importing, or launching the server
        elif moment == "serving":
            assert process.stdout is not None
            for line in process.stdout:
                if "Ctrl-C stops" in line:
                    break
        else:
            wait_for_stubs(process.pid, 1 if moment == "first stub started" else 3)
        process.send_signal(sent)
        stopped_cleanly(process, repository)
    finally:
        process.kill()


def test_a_crashed_server_leaves_no_stub_or_shared_memory(tmp_path: Path) -> None:
    repository = build_repository(tmp_path)  # its own: the shared server's processes must not count
    server = LocalServer(repository)
    with server:
        stubs = [p for p in processes.group_members(server.pid) if p.pid != server.pid]
        assert stubs, "the repository's models run in backend stubs"
        assert processes.shm_regions(server.shm_prefix)
        os.kill(server.pid, signal.SIGKILL)
        server_pid = server.pid
    assert not leftovers(server.shm_prefix, repository)
    assert not psutil.pid_exists(server_pid) or psutil.Process(server_pid).status() == psutil.STATUS_ZOMBIE


def test_a_port_taken_by_anything_is_refused_before_start(repository: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        taken_by_us = rf"--grpc-port {port}: already in use on 127.0.0.1 \(by pid {os.getpid()}"
        with pytest.raises(InputError, match=taken_by_us):
            LocalServer(repository, grpc_port=port, load_all=False).start()


def test_a_port_held_by_another_triton_is_refused(server: LocalServer, repository: Path) -> None:
    with pytest.raises(InputError, match=rf"--http-port {server.ports.http}: already in use .*tritonserver"):
        LocalServer(repository, http_port=server.ports.http, load_all=False).start()
    assert server.client.is_server_live()  # the running one is untouched


def test_ports_out_of_range_are_refused(repository: Path) -> None:
    with pytest.raises(InputError, match=r"--http-port 70000: expected a port within 1..65535; --metrics-port -5"):
        LocalServer(repository, http_port=70000, metrics_port=-5).start()


def test_readiness_is_believed_only_from_our_own_process(server: LocalServer) -> None:
    assert processes.listens_on(server.pid, server.ports.http)
    assert processes.listens_on(server.pid, server.ports.grpc)
    assert not processes.listens_on(os.getpid(), server.ports.http)  # someone else's listener is not ours


def test_a_huge_declared_shape_aborts_local_2_51_and_is_contained(tmp_path: Path) -> None:
    """tritonserver 2.51 allocates a declared shape before checking it and aborts (every model down);
    upstream fixed it in later releases, which the container and k8s pin. Locally the crash must
    be reported as a server failure, and leave nothing behind."""
    repository = build_repository(tmp_path)
    server = LocalServer(repository, load_all=False)
    with server:
        server.load("mlp_reload")
        body = {"inputs": [{"name": "x", "shape": [1, 1099511627776], "datatype": "FP32", "data": [1.0]}]}
        request = urllib.request.Request(
            f"http://{server.http_url}/v2/models/mlp_reload/infer",
            data=json.dumps(body).encode(),
            headers={"Content-Type": "application/json"},
        )
        with pytest.raises((urllib.error.URLError, ConnectionError)):
            urllib.request.urlopen(request, timeout=30)
        assert server.wait() == -signal.SIGABRT
        with pytest.raises(ServerError, match="tritonserver exited with code -6"):
            server.raise_if_exited()
    assert not leftovers(server.shm_prefix, repository)


@pytest.mark.parametrize(
    ("folder", "fragment"),
    [
        ("mlp_reload/99999999999999999999", "aborts on this name"),
        ("bad name", "blocks tritonserver 2.51's startup"),
        ("semi;colon", "blocks tritonserver 2.51's startup"),
    ],
)
def test_a_repository_that_would_take_the_server_down_is_refused_before_start(
    tmp_path: Path, folder: str, fragment: str
) -> None:
    repository = build_repository(tmp_path)
    (repository / folder).mkdir()
    with pytest.raises(InputError, match=rf"(?s)tritonserver cannot start on this repository:.*{fragment}"):
        LocalServer(repository).start()
    assert not leftovers(f"--model-repository={repository}", repository)
