"""Locust load tests of a streaming generator: a decoupled Triton model under the generator contract
(`input_ids` and `max_new_tokens` in, one `token_id` response per token, then an empty final
response), streamed over gRPC one prompt at a time per user. Prompts come from
tritonkit.measure.payloads (real sentences through the model's own tokenizer, as `tritonkit check`
sends them) and the stream's messages from tritonkit.measure.streaming.

Each stream is reported to Locust three ways: end to end, named after the model; its time to first
token, named "ttft"; and every gap between two of its tokens, named "itl" (the last two of request
type "token", so Locust's tables and charts show TTFT and ITL beside the requests). The exact
records, each stream's token arrivals included, go to --latencies-csv and to the verdict against a
target's SLO (its ttft_*/itl_*/min_output_tokens_per_s too), as with locustfile.py, whose options,
records, shapes and verdict this file shares.

    locust -f loadtests/generation.py --headless -u 4 -r 4 -t 60s --grpc-url 127.0.0.1:8001 \\
        --model gpt2 --variant fp32 --max-new-tokens 32 --targets targets/gpt2.yaml --target chat
        # streams from gpt2_fp32_generate, its tokenizer in model_repository/gpt2_fp32_generate/tokenizer
"""

from __future__ import annotations

import itertools
import time
from typing import Any

import grpc
from locust import User, constant
from locust import task as locust_task
from locust.env import Environment
from locust.exception import StopUser
from locustfile import (
    REQUEST_TIMEOUT_S,
    TOKEN_ENTRIES,
    SelectedShape,
    model_name,
    payload_key,
    payload_pool,
    prepared_pool,
)
from tritonclient.grpc import service_pb2_grpc

from tritonkit.measure.client import RequestFailed, kind_of
from tritonkit.measure.measurement import ERROR_RESPONSE, INCOMPLETE, TIMEOUT
from tritonkit.measure.payloads import PayloadPool
from tritonkit.measure.streaming import is_final, stream_request, tokens_in

__all__ = ["GenerationUser", "SelectedShape"]  # Locust runs the users and the shape it finds here
GENERATOR_SUFFIX = "_generate"  # the contract's name: <name>_<variant>_generate
_user_numbers = itertools.count()


def generator_name(served: str) -> str:
    """The generator of `<model>_<variant>`; a name already ending in _generate is the generator."""
    return served if served.endswith(GENERATOR_SUFFIX) else served + GENERATOR_SUFFIX


class GenerationUser(User):
    """A closed-loop user: streams the next prompt as soon as the last one's final response arrived."""

    wait_time = constant(0)
    channel: grpc.Channel | None = None
    refused = False  # its prompts could not be prepared (the run ends, saying why): it stops at its first task

    @classmethod
    def prepare(cls, environment: Environment) -> PayloadPool:
        """The prompts the options describe (built once per process, shared by the users)."""
        options = environment.parsed_options
        assert options is not None
        model = generator_name(model_name(options))
        return payload_pool(model, "grpc", options.grpc_url, payload_key(options, "prompts"))

    def on_start(self) -> None:
        options = self.environment.parsed_options
        self.model = generator_name(model_name(options))
        pool = prepared_pool(self)
        if pool is None:
            self.refused = True
            return
        self.requests = [stream_request(self.model, "", payload) for payload in pool.payloads]
        self._order = itertools.cycle(range(next(_user_numbers) % len(pool), len(pool)))  # users start apart
        self.channel = grpc.insecure_channel(options.grpc_url)
        self.stub = service_pb2_grpc.GRPCInferenceServiceStub(self.channel)

    def on_stop(self) -> None:
        if self.channel is not None:
            self.channel.close()
            self.channel = None

    @locust_task
    def generate(self) -> None:
        if self.refused:
            raise StopUser()
        request = self.requests[next(self._order) % len(self.requests)]
        started_wall, started = time.time(), time.perf_counter()
        arrivals: list[float] = []
        failure: RequestFailed | None = None
        try:
            arrivals = self._stream(request)
        except RequestFailed as exc:
            failure = exc
        elapsed_ms = (time.perf_counter() - started) * 1000
        tokens_ms = [(t - started) * 1000 for t in arrivals]
        self._fire("grpc", self.model, elapsed_ms, failure, started_wall, len(tokens_ms), {"tokens_ms": tokens_ms})
        if failure is None and tokens_ms:
            self._fire(TOKEN_ENTRIES, "ttft", tokens_ms[0], None, started_wall)
            for before, after in itertools.pairwise(tokens_ms):
                self._fire(TOKEN_ENTRIES, "itl", after - before, None, started_wall + before / 1000)

    def _stream(self, request: Any) -> list[float]:
        """Each token's arrival (perf_counter seconds) once the final response came; RequestFailed
        with tritonkit's own kinds otherwise, so that both clients' errors read the same."""
        call = self.stub.ModelStreamInfer(iter((request,)), timeout=REQUEST_TIMEOUT_S)
        arrivals: list[float] = []
        try:
            for response in call:
                now = time.perf_counter()
                if response.error_message:
                    raise RequestFailed(kind_of(ERROR_RESPONSE, response.error_message), response.error_message)
                arrivals.extend([now] * tokens_in(response))
                if is_final(response):
                    return arrivals
        except grpc.RpcError as exc:
            code = exc.code() if isinstance(exc, grpc.Call) else None
            message = (exc.details() if isinstance(exc, grpc.Call) else None) or str(exc)
            if code == grpc.StatusCode.DEADLINE_EXCEEDED:
                raise RequestFailed(TIMEOUT, f"no final response within {REQUEST_TIMEOUT_S:g} s") from None
            raise RequestFailed(kind_of(code.name if code else None, message), message) from None
        finally:
            call.cancel()  # a no-op once the stream is over
        raise RequestFailed(INCOMPLETE, f"the stream ended after {len(arrivals)} tokens, not final")

    def _fire(
        self,
        request_type: str,
        name: str,
        response_time_ms: float,
        failure: Exception | None,
        start_time: float,
        length: int = 0,
        context: dict[str, Any] | None = None,
    ) -> None:
        self.environment.events.request.fire(
            request_type=request_type,
            name=name,
            response_time=response_time_ms,
            response_length=length,
            exception=failure,
            context=context or {},
            start_time=start_time,
        )
