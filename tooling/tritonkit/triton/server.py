"""A real local tritonserver as a context manager: free loopback ports, a readiness deadline,
the log attached to every failure, killed with its parent, always stopped: on leaving the block, on
Ctrl-C or SIGTERM (see processes.hold_sigterm), at interpreter exit if never stopped.

Models are under explicit control, so a model can be (re)loaded with a config override without
restarting the server, and every load is checked: the config the server reports must match the
one we asked for, field by field.
"""

from __future__ import annotations

import atexit
import contextlib
import ctypes
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

import tritonclient.grpc as grpcclient

from tritonkit.errors import InputError, ServerError
from tritonkit.interrupts import signals_deferred, threads_born_deaf
from tritonkit.triton import control, processes
from tritonkit.triton.local_install import TritonInstall, find_install, lay_out_backends, server_environment
from tritonkit.triton.model_config import ModelConfig
from tritonkit.triton.processes import LOOPBACK
from tritonkit.triton.validate.layout import startup_blockers

_LOG_TAIL_LINES = 40
_PR_SET_PDEATHSIG = 1


@dataclass(frozen=True)
class Ports:
    http: int
    grpc: int
    metrics: int


@dataclass(frozen=True)
class ModelState:
    name: str
    state: str  # READY, UNAVAILABLE, LOADING, ...
    reason: str


def free_port() -> int:
    return free_ports(1)[0]


def free_ports(count: int) -> list[int]:
    """`count` distinct free loopback ports: every probe stays bound until all are picked, since
    the kernel may hand a just-released port out again (seen: gRPC and metrics both got one)."""
    with contextlib.ExitStack() as probes:
        bound = [probes.enter_context(socket.socket()) for _ in range(count)]
        for probe in bound:
            probe.bind((LOOPBACK, 0))
        return [int(probe.getsockname()[1]) for probe in bound]


def _prepare_server_process() -> None:
    """Runs in the child before exec. The kernel sends SIGKILL if this Python process dies; SIGINT
    and SIGTERM reach tritonserver whatever this process had (held while launching, or ignored as
    in a shell's background job): exec keeps a blocked or ignored signal so, and Triton's graceful
    shutdown would never start."""
    libc = ctypes.CDLL("libc.so.6", use_errno=True)
    libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
    for shutdown in (signal.SIGINT, signal.SIGTERM):
        signal.signal(shutdown, signal.SIG_DFL)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT, signal.SIGTERM})


class LocalServer:
    """tritonserver from the nvidia-pytriton wheel, serving `model_repository` on 127.0.0.1."""

    def __init__(
        self,
        model_repository: Path,
        *,
        http_port: int | None = None,
        grpc_port: int | None = None,
        metrics_port: int | None = None,
        load_all: bool = True,
        response_cache_bytes: int = 64 * 2**20,
        ready_timeout_s: float = 180.0,
        log_verbose: int = 0,
        metrics_config: tuple[str, ...] = (),
    ) -> None:
        self.model_repository = Path(model_repository).resolve()
        spare = iter(free_ports(3))
        self.ports = Ports(http_port or next(spare), grpc_port or next(spare), metrics_port or next(spare))
        self._load_all = load_all
        self._response_cache_bytes = response_cache_bytes
        self._ready_timeout_s = ready_timeout_s
        self._log_verbose = log_verbose
        self._metrics_config = metrics_config
        self._workdir: Path | None = None
        self._process: subprocess.Popen[bytes] | None = None
        self._client: grpcclient.InferenceServerClient | None = None
        self.shm_prefix = processes.new_shm_prefix()

    # -- lifecycle ---------------------------------------------------------------------------

    def __enter__(self) -> LocalServer:
        self.start()
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self.stop()

    @property
    def http_url(self) -> str:
        return f"{LOOPBACK}:{self.ports.http}"

    @property
    def grpc_url(self) -> str:
        return f"{LOOPBACK}:{self.ports.grpc}"

    @property
    def metrics_url(self) -> str:
        return f"http://{LOOPBACK}:{self.ports.metrics}/metrics"

    @property
    def log_path(self) -> Path:
        assert self._workdir is not None, "server not started"
        return self._workdir / "tritonserver.log"

    def start(self) -> None:
        if not self.model_repository.is_dir():
            raise InputError(f"{self.model_repository}: model repository is not a directory")
        blockers = startup_blockers(self.model_repository)
        if blockers:
            listed = "\n  ".join(str(problem) for problem in blockers)
            raise InputError(f"{self.model_repository}: tritonserver cannot start on this repository:\n  {listed}")
        processes.check_ports(
            {"--http-port": self.ports.http, "--grpc-port": self.ports.grpc, "--metrics-port": self.ports.metrics}
        )
        install = find_install()
        try:
            processes.hold_sigterm(self)
            atexit.register(self.stop)  # a server its owner never stopped: stopped at exit
            self._launch(install)
            self._wait_ready()
            with threads_born_deaf():
                self._client = grpcclient.InferenceServerClient(self.grpc_url)
        except BaseException:  # Ctrl-C included: nothing of a half-started server may stay behind
            self.stop()
            raise

    def _launch(self, install: TritonInstall) -> None:
        with signals_deferred():  # made and remembered at once, so that stop() removes it
            self._workdir = Path(tempfile.mkdtemp(prefix="tritonkit-server-"))
        lay_out_backends(install, self._workdir / "backends")
        command = [str(install.binary), *self._arguments(install.cache_dir)]
        with self.log_path.open("wb") as log, signals_deferred():  # no Popen half-done on Ctrl-C
            self._process = subprocess.Popen(
                command,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env=server_environment(install),
                preexec_fn=_prepare_server_process,
                start_new_session=True,  # its own process group: see tritonkit.triton.processes
            )

    def stop(self) -> None:
        """SIGINT for Triton's graceful shutdown, SIGKILL if it overstays; then every process left in
        its group (backend stubs), its shared memory and the work dir go. Not interruptible: a Ctrl-C
        or SIGTERM during the stop is delivered once it is done (as KeyboardInterrupt)."""
        try:
            self._stop()
        finally:  # after the delivery: SIGTERM still unwinds while it is delivered
            atexit.unregister(self.stop)
            processes.release_sigterm(self)

    def _stop(self) -> None:
        with signals_deferred():
            if self._client is not None:
                self._client.close()
                self._client = None
            process, self._process = self._process, None
            if process is not None:
                if process.poll() is None:
                    process.send_signal(signal.SIGINT)
                    try:
                        process.wait(timeout=15)
                    except subprocess.TimeoutExpired:
                        process.kill()
                        process.wait()
                processes.kill_group(process.pid)  # the group id is the server's pid (a new session)
            processes.remove_shm_regions(self.shm_prefix)
            if self._workdir is not None:
                shutil.rmtree(self._workdir, ignore_errors=True)
                self._workdir = None

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    @property
    def pid(self) -> int:
        assert self._process is not None, "server not started"
        return self._process.pid

    def raise_if_exited(self) -> None:
        """A ServerError with the log if tritonserver is no longer running (it crashed or was killed)."""
        assert self._process is not None, "server not started"
        if self._process.poll() is not None:
            raise self.exit_error()

    def exit_error(self) -> ServerError:
        """What tritonserver's exit means, with its log; only once it has exited."""
        assert self._process is not None and self._process.returncode is not None, "server still running"
        code = self._process.returncode
        how = f" ({signal.Signals(-code).name})" if code < 0 and -code in signal.valid_signals() else ""
        return ServerError(f"tritonserver exited with code {code}{how}", log=self.log_tail())

    def wait(self) -> int:
        """Block until tritonserver exits; its exit code."""
        assert self._process is not None, "server not started"
        return self._process.wait()

    def _arguments(self, cache_dir: Path) -> list[str]:
        arguments = [
            f"--model-repository={self.model_repository}",
            f"--backend-directory={self._workdir / 'backends'}",  # type: ignore[operator]
            f"--cache-directory={cache_dir}",
            f"--http-address={LOOPBACK}",
            f"--http-port={self.ports.http}",
            f"--grpc-address={LOOPBACK}",
            f"--grpc-port={self.ports.grpc}",
            f"--metrics-address={LOOPBACK}",
            f"--metrics-port={self.ports.metrics}",
            "--allow-gpu-metrics=false",
            "--model-control-mode=explicit",
            # A broken model must not take the others down; readiness is judged per model.
            "--exit-on-error=false",
            "--strict-readiness=false",
            # The config that runs must be the one we wrote: no backend fills in fields.
            "--disable-auto-complete-config",
            "--exit-timeout-secs=10",
            f"--log-verbose={self._log_verbose}",
            f"--backend-config=python,shm-region-prefix-name={self.shm_prefix}",
        ]
        if self._load_all:
            arguments.append("--load-model=*")
        if self._response_cache_bytes:
            arguments.append(f"--cache-config=local,size={self._response_cache_bytes}")
        # e.g. "summary_latencies=true": the latency quantiles the production pods export
        arguments.extend(f"--metrics-config={setting}" for setting in self._metrics_config)
        return arguments

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + self._ready_timeout_s
        url = f"http://{self.http_url}/v2/health/ready"
        while time.monotonic() < deadline:
            assert self._process is not None
            self.raise_if_exited()
            try:
                with urllib.request.urlopen(url, timeout=2) as response:
                    ready = response.status == 200
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                ready = False
            if ready:
                self._check_listeners()
                return
            time.sleep(0.2)
        raise ServerError(f"tritonserver not ready within {self._ready_timeout_s:.0f} s", log=self.log_tail())

    def _check_listeners(self) -> None:
        """The ports were free before the start; whoever answers must now be our own process."""
        assert self._process is not None
        strangers = [port for port in (self.ports.http, self.ports.grpc) if not processes.listens_on(self.pid, port)]
        if strangers:
            raise ServerError(
                f"another process answers on {LOOPBACK}:{strangers[0]}, not the tritonserver started here",
                log=self.log_tail(),
            )

    def log_tail(self, lines: int = _LOG_TAIL_LINES) -> str:
        if self._workdir is None or not self.log_path.exists():
            return "(no log)"
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])

    # -- models ------------------------------------------------------------------------------

    @property
    def client(self) -> grpcclient.InferenceServerClient:
        if self._client is None:
            raise RuntimeError("server not started")
        return self._client

    def model_states(self) -> dict[str, ModelState]:
        index = self.client.get_model_repository_index(as_json=False)
        return {m.name: ModelState(m.name, m.state, control.stub_free(m.reason)) for m in index.models}

    def served_config(self, name: str) -> ModelConfig:
        return self.client.get_model_config(name, as_json=False).config

    def load(self, name: str, config: ModelConfig | None = None) -> None:
        """Load (or reload) `name`, validated first and read back after (see control.load_checked)."""
        control.load_checked(self.client, self.model_repository, name, config, self.log_tail)

    def unload(self, name: str, timeout_s: float = 60.0) -> None:
        control.unload(self.client, name, timeout_s)

    def verify(self, name: str, expected: ModelConfig | None = None) -> None:
        """Fail unless the server runs `expected` for `name` (default: its config.pbtxt)."""
        control.verify(self.client, self.model_repository, name, expected)

    def verify_all_ready(self) -> list[ModelState]:
        """Check every READY model's config and return the models that failed to load."""
        states = self.model_states().values()
        for state in states:
            if state.state == "READY" and (self.model_repository / state.name / "config.pbtxt").is_file():
                self.verify(state.name)
        return [s for s in states if s.state != "READY"]
