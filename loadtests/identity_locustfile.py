"""Locust users that send a Triton model seeded random tensors over gRPC, as fast as they can.

The load-generator benchmark (bench/loadgen.py) runs this next to tritonkit's own client against
the same server and model, so both send the same tensors: the pool comes from
tritonkit.measure.payloads, which is pure numpy (nothing asyncio-based is imported here, and
gevent's monkey-patching stays in Locust's process).

Configured by the environment, read when a user starts:
    TRITONKIT_GRPC_URL   host:port of Triton's gRPC endpoint (required)
    TRITONKIT_MODEL      the model to call (required)
    TRITONKIT_SEED       payload seed (default 0, as tritonkit's loads)
    TRITONKIT_BATCH_SIZE rows per request (default 1)

    TRITONKIT_GRPC_URL=127.0.0.1:8001 TRITONKIT_MODEL=identity \
        locust -f loadtests/identity_locustfile.py --headless -u 8 -r 8 -t 30s

`TritonGrpcUser` holds what any gRPC Triton user needs (client, prepared requests, timed calls
reported as Locust request events); the full Locust suite can subclass it with other tasks.
"""

from __future__ import annotations

import itertools
import os
import time
from dataclasses import dataclass
from typing import Any

import grpc.experimental.gevent as grpc_gevent
import tritonclient.grpc as grpcclient
from locust import User, constant, task
from tritonclient.utils import InferenceServerException, np_to_triton_dtype

from tritonkit.measure.payloads import Payload, build_pool
from tritonkit.specs import RandomPayload

# gRPC's sync client blocks in C unless told about gevent; this must run before any channel exists.
grpc_gevent.init_gevent()

REQUEST_TIMEOUT_S = 30.0
_user_numbers = itertools.count()


@dataclass(frozen=True)
class Settings:
    grpc_url: str
    model: str
    seed: int
    batch_size: int

    @staticmethod
    def from_environment() -> Settings:
        missing = [name for name in ("TRITONKIT_GRPC_URL", "TRITONKIT_MODEL") if not os.environ.get(name)]
        if missing:
            raise RuntimeError(f"set {' and '.join(missing)} (see {__file__})")
        return Settings(
            grpc_url=os.environ["TRITONKIT_GRPC_URL"],
            model=os.environ["TRITONKIT_MODEL"],
            seed=int(os.environ.get("TRITONKIT_SEED", "0")),
            batch_size=int(os.environ.get("TRITONKIT_BATCH_SIZE", "1")),
        )


def prepare(payload: Payload) -> list[grpcclient.InferInput]:
    """Serialise a payload's tensors once, as tritonkit's client does before its load starts."""
    tensors = []
    for name, array in payload.items():
        tensor = grpcclient.InferInput(name, list(array.shape), np_to_triton_dtype(array.dtype))
        tensor.set_data_from_numpy(array)
        tensors.append(tensor)
    return tensors


class TritonGrpcUser(User):
    """One synchronous gRPC client per user; `infer` times a call and reports it to Locust."""

    abstract = True
    settings: Settings
    client: grpcclient.InferenceServerClient
    requests: list[list[grpcclient.InferInput]]
    _next: int = 0

    def on_start(self) -> None:
        self.settings = Settings.from_environment()
        self.client = grpcclient.InferenceServerClient(self.settings.grpc_url)
        config = self.client.get_model_config(self.settings.model).config
        pool = build_pool(RandomPayload(kind="random", batch_size=self.settings.batch_size), config, self.settings.seed)
        self.requests = [prepare(p) for p in pool.payloads]
        # Users start at different places in the pool, deterministically.
        self._next = next(_user_numbers) % len(self.requests)

    def on_stop(self) -> None:
        self.client.close()

    def next_request(self) -> list[grpcclient.InferInput]:
        request = self.requests[self._next]
        self._next = (self._next + 1) % len(self.requests)
        return request

    def infer(self, inputs: list[grpcclient.InferInput], outputs: list[Any] | None = None) -> None:
        exception: Exception | None = None
        started = time.perf_counter()
        try:
            self.client.infer(self.settings.model, inputs, outputs=outputs, client_timeout=REQUEST_TIMEOUT_S)
        except InferenceServerException as exc:
            exception = exc
        self.environment.events.request.fire(
            request_type="grpc",
            name=self.settings.model,
            response_time=(time.perf_counter() - started) * 1000,
            response_length=0,
            exception=exception,
            context={},
        )


class RandomTensorUser(TritonGrpcUser):
    """Closed loop: each user sends again as soon as its answer arrives."""

    wait_time = constant(0)

    @task
    def send(self) -> None:
        self.infer(self.next_request())
