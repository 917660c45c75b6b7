"""One asynchronous interface over tritonclient's gRPC and HTTP aio clients: config, statistics,
inference and streamed generation (gRPC), with requests prepared once (tensors serialised before the
load starts), every call bounded in time (a server that accepts connections but never answers must
not hang a run), and errors reduced to a kind a report can count."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, TypeAlias

import aiohttp
import grpc
import tritonclient.grpc.aio as grpc_aio
import tritonclient.http.aio as http_aio
from google.protobuf import json_format
from tritonclient.grpc import service_pb2, service_pb2_grpc
from tritonclient.utils import InferenceServerException

from tritonkit.measure.measurement import (
    CONNECTION,
    ERROR_RESPONSE,
    INCOMPLETE,
    REJECTED_QUEUE_FULL,
    REJECTED_QUEUE_TIMEOUT,
    TIMEOUT,
)
from tritonkit.measure.payloads import Payload
from tritonkit.measure.streaming import is_final, tokens_in
from tritonkit.triton.infer import Protocol, grpc_request, request_tensors
from tritonkit.triton.model_config import ModelConfig


@dataclass(frozen=True)
class StatsSnapshot:
    """Cumulative counters of one model version from Triton's statistics API (durations in ns)."""

    success_count: int
    success_ns: int
    fail_count: int
    queue_ns: int
    compute_input_ns: int
    compute_infer_ns: int
    compute_output_ns: int
    inference_count: int
    execution_count: int


class RequestFailed(Exception):
    """A request that did not succeed; `kind` groups failures in reports."""

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind


# Prepared requests: gRPC's whole message, or HTTP's tensors and requested outputs.
Prepared: TypeAlias = "service_pb2.ModelInferRequest | tuple[str, str, list[Any], list[Any] | None]"
_UNLIMITED = [("grpc.max_send_message_length", -1), ("grpc.max_receive_message_length", -1)]


class TritonClient:
    """`protocol` over `url` (host:port). Use as an async context manager. gRPC inference goes
    through the service's own stub with messages built once (tritonclient's infer() rebuilds and
    re-serialises every request and parses every response: CPU the server's host pays for)."""

    def __init__(self, url: str, protocol: Protocol, *, connections: int = 100) -> None:
        self.protocol = protocol
        self._url = url
        self._channel: grpc.aio.Channel | None = None
        if protocol == "grpc":
            self._grpc: grpc_aio.InferenceServerClient | None = grpc_aio.InferenceServerClient(url)
            self._http: http_aio.InferenceServerClient | None = None
            self._channel = grpc.aio.insecure_channel(url, options=_UNLIMITED)
            self._stub = service_pb2_grpc.GRPCInferenceServiceStub(self._channel)
        else:
            self._grpc = None
            # aiohttp queues requests beyond its connection limit: allow every request in flight, plus
            # one so that statistics calls never wait behind a closed loop's workers (and time out).
            self._http = http_aio.InferenceServerClient(url, conn_limit=connections + 1)

    async def __aenter__(self) -> TritonClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def close(self) -> None:
        if self._channel is not None:
            await self._channel.close()
        if self._grpc is not None:
            await self._grpc.close()
        if self._http is not None:
            await self._http.close()

    async def config(self, model: str, version: str, timeout_s: float) -> ModelConfig:
        async with asyncio.timeout(timeout_s):
            if self._grpc is not None:
                response = await self._grpc.get_model_config(model, version)
                return response.config
            assert self._http is not None
            raw = await self._http.get_model_config(model, version)
        return json_format.ParseDict(raw, ModelConfig(), ignore_unknown_fields=True)

    async def statistics(self, model: str, version: str, timeout_s: float) -> StatsSnapshot:
        async with asyncio.timeout(timeout_s):
            if self._grpc is not None:
                response = await self._grpc.get_inference_statistics(model, version)
            else:
                assert self._http is not None
                raw = await self._http.get_inference_statistics(model, version)
                response = json_format.ParseDict(raw, service_pb2.ModelStatisticsResponse(), ignore_unknown_fields=True)
        if len(response.model_stats) != 1:
            raise RequestFailed("statistics", f"expected one version of '{model}', got {len(response.model_stats)}")
        stats = response.model_stats[0]
        inference = stats.inference_stats
        return StatsSnapshot(
            success_count=inference.success.count,
            success_ns=inference.success.ns,
            fail_count=inference.fail.count,
            queue_ns=inference.queue.ns,
            compute_input_ns=inference.compute_input.ns,
            compute_infer_ns=inference.compute_infer.ns,
            compute_output_ns=inference.compute_output.ns,
            inference_count=stats.inference_count,
            execution_count=stats.execution_count,
        )

    def prepare(self, model: str, version: str, payload: Payload, outputs: Sequence[str]) -> Prepared:
        """Serialise a request once; the same object is sent many times."""
        if self.protocol == "grpc":
            return grpc_request(model, version, payload, outputs)
        return (model, version, *request_tensors(payload, outputs, self.protocol))

    async def infer(self, prepared: Prepared, timeout_s: float) -> None:
        """Send one request and wait for its answer; RequestFailed (with a kind) when it fails."""
        try:
            async with asyncio.timeout(timeout_s):  # no extra task per request, unlike wait_for
                if isinstance(prepared, service_pb2.ModelInferRequest):
                    await self._stub.ModelInfer(prepared)
                else:
                    assert self._http is not None
                    model, version, inputs, outputs = prepared
                    await self._http.infer(model, inputs, model_version=version, outputs=outputs)
        except TimeoutError:
            raise RequestFailed(TIMEOUT, f"no answer within {timeout_s:g} s") from None
        except grpc.aio.AioRpcError as exc:
            message = exc.details() or str(exc)
            raise RequestFailed(kind_of(exc.code().name, message), message) from None
        except InferenceServerException as exc:
            message = exc.message() or str(exc)
            raise RequestFailed(kind_of(exc.status(), message), message) from None
        except (OSError, aiohttp.ClientConnectionError) as exc:  # refused, reset, closed before the answer
            raise RequestFailed(CONNECTION, str(exc) or type(exc).__name__) from None
        except Exception as exc:  # anything else grpc or aiohttp raise: named by its type
            raise RequestFailed(type(exc).__name__, str(exc)) from None

    async def stream(self, request: service_pb2.ModelInferRequest, timeout_s: float) -> tuple[int, ...]:
        """Send one streamed request (streaming.stream_request) and read its responses until the
        final one; each token's arrival time (ns, monotonic). RequestFailed when a response carries
        an error, the stream ends early or the whole stream outlasts the timeout."""
        if self._channel is None:
            raise RequestFailed("protocol", "streamed generation needs gRPC")
        call = self._stub.ModelStreamInfer()
        arrivals: list[int] = []
        try:
            async with asyncio.timeout(timeout_s):
                await call.write(request)
                await call.done_writing()  # one request a stream: Triton still answers it in full
                while True:
                    response = await call.read()
                    now = time.monotonic_ns()
                    if response is grpc.aio.EOF:
                        raise RequestFailed(INCOMPLETE, f"the stream ended after {len(arrivals)} tokens, not final")
                    if response.error_message:
                        message = response.error_message
                        raise RequestFailed(kind_of(ERROR_RESPONSE, message), message)
                    arrivals.extend([now] * tokens_in(response))
                    if is_final(response):
                        return tuple(arrivals)
        except TimeoutError:
            raise RequestFailed(TIMEOUT, f"no final response within {timeout_s:g} s") from None
        except grpc.aio.AioRpcError as exc:
            message = exc.details() or str(exc)
            raise RequestFailed(kind_of(exc.code().name, message), message) from None
        finally:
            call.cancel()  # a no-op once the stream is over; else the server stops generating


# Triton's own words when its queue policy sheds a request (status UNAVAILABLE, HTTP 503).
_REJECTIONS = {"exceeds maximum queue size": REJECTED_QUEUE_FULL, "request timeout expired": REJECTED_QUEUE_TIMEOUT}
# gRPC reports a broken transport as UNAVAILABLE too, in grpc-core's words rather than Triton's.
_GRPC_TRANSPORT = ("failed to connect", "socket closed", "connection reset", "connection refused", "broken pipe")


def kind_of(status: str | None, message: str) -> str:
    """The kind of a failed request from its status and message: a rejection under the queue policy,
    a connection failure, or the status itself (`UNAVAILABLE`, `HTTP 400`, …)."""
    text = message.lower()
    for words, kind in _REJECTIONS.items():
        if words in text:
            return kind
    code = (status or "error").removeprefix("StatusCode.")
    if code == "UNAVAILABLE" and any(words in text for words in _GRPC_TRANSPORT):
        return CONNECTION
    return f"HTTP {code}" if code.isdigit() else code
