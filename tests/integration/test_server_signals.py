"""SIGTERM and Ctrl-C to a process that runs a LocalServer: `tritonkit serve`, and a plain Python
program (a script, a test run) whose SIGTERM is at its default, which would end it without a
`finally`. Either way the server is stopped: no tritonserver or backend stub, no shared memory and
no work dir (tritonkit-server-* under the process's TMPDIR) is left."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

from tests.commands import Command
from tritonkit import onnx_builders
from tritonkit.specs import ServingKnobs
from tritonkit.triton import model_config, processes
from tritonkit.triton.onnx_signature import read_signature
from tritonkit.triton.repository import write_model
from tritonkit.triton.server import LocalServer, free_port

pytestmark = pytest.mark.integration

# The program a user writes around the library; {start} is how it runs the server.
PROGRAM = """
import faulthandler, signal, sys, time
from pathlib import Path
from tritonkit.triton.server import LocalServer

faulthandler.register(signal.SIGUSR1, all_threads=True)  # where it hangs, should it hang

if sys.argv[2] == "ctrl-c-ignored":  # as in a shell's background job
    signal.signal(signal.SIGINT, signal.SIG_IGN)
server = LocalServer(Path(sys.argv[1]))
if sys.argv[2] == "never-stopped":  # started, then left to the end of the program
    server.start()
    print("serving", flush=True)
    time.sleep(600)
with server:
    print("serving", flush=True)
    time.sleep(600)
"""


@pytest.fixture(scope="module")
def repository(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One model served by the Python-based ONNX Runtime backend: a stub process and shared memory."""
    root = tmp_path_factory.mktemp("signals")
    onnx = onnx_builders.mlp(root / "mlp.onnx")
    write_model(root / "repository", model_config.build_config("mlp", read_signature(onnx), ServingKnobs()), onnx)
    return root / "repository"


def _ctrl_c_at_its_default() -> None:
    """In the child: a program started from a background job inherits SIGINT ignored (and Python
    then leaves it so); the programs here are started as from a terminal."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def leftovers(pid: int, scratch: Path) -> list[str]:
    """What the server of process `pid` left: processes and shared memory carry its prefix, its
    work dir is in the process's TMPDIR."""
    prefix = f"tritonkit_{pid}_"
    found = [
        f"pid {p.pid} {p.info['name']}"
        for p in psutil.process_iter(["name", "cmdline"])
        if prefix in " ".join(p.info["cmdline"] or ())
    ]
    found += [str(region) for region in processes.shm_regions(prefix)]
    return found + [str(path) for path in scratch.glob("tritonkit-server-*")]


@pytest.mark.parametrize("sent", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_serve_stopped_by_a_signal_leaves_nothing(tmp_path: Path, repository: Path, sent: int) -> None:
    """Exit 130, one line, and (Command.interrupt checks) no scratch, server process or shared memory."""
    ports = [str(free_port()) for _ in range(3)]
    command = Command(
        tmp_path, "serve", "--model-repository", repository,
        "--http-port", ports[0], "--grpc-port", ports[1], "--metrics-port", ports[2],
    )  # fmt: skip
    command.wait_for("Ctrl-C stops")
    assert list(command.scratch.glob("tritonkit-server-*")), "the server's work dir is under TMPDIR"
    command.interrupt(sent)
    assert not leftovers(command.process.pid, command.scratch)


@pytest.mark.parametrize(
    ("how", "sent"),
    [
        pytest.param(how, sent, id=f"{how}-{sent.name}")
        for how, sent in [
            ("with-block", signal.SIGTERM),
            ("with-block", signal.SIGINT),
            ("never-stopped", signal.SIGTERM),
            ("ctrl-c-ignored", signal.SIGTERM),
        ]
    ],
)
def test_a_program_running_a_server_stopped_by_a_signal_leaves_nothing(
    tmp_path: Path, repository: Path, how: str, sent: int
) -> None:
    program = tmp_path / "program.py"
    program.write_text(PROGRAM)
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    process = subprocess.Popen(
        [sys.executable, str(program), str(repository), how],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env={**os.environ, "TMPDIR": str(scratch)},
        preexec_fn=_ctrl_c_at_its_default,
    )  # fmt: skip
    try:
        assert process.stdout is not None
        assert process.stdout.readline() == "serving\n", process.stderr.read() if process.stderr else ""
        assert list(scratch.glob("tritonkit-server-*")), "the server's work dir is under TMPDIR"
        process.send_signal(sent)
        try:
            _, stderr = process.communicate(timeout=90)
        except subprocess.TimeoutExpired:
            process.send_signal(signal.SIGUSR1)  # its threads' stacks, into the failure's message
            time.sleep(2)
            process.kill()
            pytest.fail(f"still running 90 s after {sent.name}:\n{process.communicate()[1][-4000:]}")
    finally:
        process.kill()
    assert process.returncode != 0, "it ended by the signal"
    assert "KeyboardInterrupt" in stderr, stderr  # it unwound: stop() ran, rather than dying at once
    assert not leftovers(process.pid, scratch)


def test_sigterm_gets_its_default_back_when_the_last_server_stops(repository: Path) -> None:
    """This test process left SIGTERM at its default: while servers run it unwinds, after them it
    is the default again."""
    if signal.getsignal(signal.SIGTERM) != signal.SIG_DFL:
        pytest.skip("this test run has a SIGTERM handler of its own, which a server leaves alone")
    with LocalServer(repository, load_all=False) as first:
        handler = signal.getsignal(signal.SIGTERM)
        assert handler != signal.SIG_DFL
        with LocalServer(repository, load_all=False):
            assert signal.getsignal(signal.SIGTERM) == handler
        assert signal.getsignal(signal.SIGTERM) == handler, "the first server still runs"
        assert first.running
    assert signal.getsignal(signal.SIGTERM) == signal.SIG_DFL
