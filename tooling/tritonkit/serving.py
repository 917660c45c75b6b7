"""Where a command's models are served: a local tritonserver started for the command, or a server
already running (given by its URLs). check, sweep, tune and demo share this one context.

A running server's models are read from a local copy of its repository (validation before a
reload, the tuner's variants); loading with a config override needs its explicit model control.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import tritonclient.grpc as grpcclient
from tritonclient.utils import InferenceServerException

from tritonkit.errors import InputError
from tritonkit.measure.resources import ResourceMeter, model_processes
from tritonkit.measure.summary import Host
from tritonkit.specs import TargetsSpec
from tritonkit.triton import control
from tritonkit.triton.model_config import ModelConfig
from tritonkit.triton.server import LocalServer

SETTLE_S = 3.0  # the longest a reloaded model's old instances take to exit


@dataclass
class Serving:
    host: Host
    repository: Path
    local: LocalServer | None  # None: a server already running elsewhere
    remote: grpcclient.InferenceServerClient | None  # the running server's client, when not local

    def load(self, name: str, config: ModelConfig | None = None) -> None:
        """(Re)load `name`, validated first and read back after; a dead local server says so."""
        if self.local is not None:
            self.local.raise_if_exited()
            self.local.load(name, config)
        else:
            control.load_checked(self.client, self.repository, name, config)

    @property
    def client(self) -> grpcclient.InferenceServerClient:
        if self.local is not None:
            return self.local.client
        if self.remote is None:
            raise InputError("model control on a running server needs its --grpc-url")
        return self.remote

    def unload(self, name: str) -> None:
        control.unload(self.client, name)

    def load_each(self, names: Sequence[str], progress: Callable[[str], None] = print) -> None:
        """Load every named model once (a local server starts with none loaded)."""
        for name in dict.fromkeys(names):
            progress(f"loading {name}")
            self.load(name)

    def resource_meter(self, model: str, instances: int) -> ResourceMeter | None:
        """A meter of the model's `instances` processes; None for a server on another host. After a
        reload the old instances take a moment to exit: the meter waits (briefly) for the new set."""
        if self.local is None:
            return None
        deadline = time.monotonic() + SETTLE_S
        while len(model_processes(self.local.pid, model)) != instances and time.monotonic() < deadline:
            time.sleep(0.05)
        return ResourceMeter(self.local.pid, model)

    def restart_if_exited(self) -> bool:
        """Start the local server again if it exited (a candidate took it down); True if it had."""
        if self.local is None or self.local.running:
            return False
        self.local.stop()
        self.local.start()
        return True


@contextmanager
def serving(
    spec: TargetsSpec, repository: Path, grpc_url: str | None = None, http_url: str | None = None,
    *, control: bool = True,
) -> Iterator[Serving]:  # fmt: skip
    """A local server on `repository` (no model loaded: the command loads what it needs), or the
    running server at the URLs; `control`: the command (re)loads models on it, over gRPC."""
    if (grpc_url or http_url) and not control:
        yield Serving(
            Host(grpc_url or "", http_url or "", spec.dollars_per_hour, spec.host_watts), repository, None, None
        )
        return
    if grpc_url or http_url:
        if not grpc_url:
            raise InputError("loading models on a running server needs its --grpc-url (model control is over gRPC)")
        client = grpcclient.InferenceServerClient(grpc_url)
        try:
            _check_live(client, grpc_url)
            yield Serving(
                Host(grpc_url, http_url or "", spec.dollars_per_hour, spec.host_watts), repository, None, client
            )
        finally:
            client.close()
        return
    with LocalServer(repository, load_all=False) as server:
        yield Serving(_host(spec, server.grpc_url, server.http_url), repository, server, None)


def _host(spec: TargetsSpec, grpc_url: str, http_url: str) -> Host:
    return Host(grpc_url, http_url, spec.dollars_per_hour, spec.host_watts)


def _check_live(client: grpcclient.InferenceServerClient, url: str) -> None:
    try:
        live = client.is_server_live(client_timeout=10)
    except InferenceServerException as exc:  # a precondition the user gave, like any URL
        raise InputError(f"--grpc-url {url}: cannot reach the server ({exc.message()})") from None
    if not live:
        raise InputError(f"--grpc-url {url}: the server is not live")
