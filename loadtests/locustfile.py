"""Locust load tests for a model served by Triton: one user class whose protocol is an argument
(HTTP: KServe v2 with binary tensor data; gRPC: tritonclient's client under gevent), payloads from
tritonkit.measure.payloads (the same as tritonkit's own client), load shapes from shapes.py, exact
per-request latencies recorded, and the verdict from tritonkit.slo at the end of the run.

    locust -f loadtests/locustfile.py --host http://127.0.0.1:8000 --grpc-url 127.0.0.1:8001
        # the web UI on http://localhost:8089: model, variant, protocol, input length are fields
    locust -f loadtests/locustfile.py --headless -u 8 -r 8 -t 30s --host … \\
        --targets targets/minilm.yaml --target chat-fp32 --latencies-csv loadtests/results/run.csv
        # exits 1 when the target's SLO is missed

A streaming generator has its own user, in generation.py beside this file (it shares these
options, records and verdict).

Only this process (and the workers Locust starts) is patched by gevent; the library never is.
"""

from __future__ import annotations

import grpc.experimental.gevent as grpc_gevent

grpc_gevent.init_gevent()  # gRPC's sync client blocks in C unless told about gevent: before any channel

import itertools  # noqa: E402 - after gevent's gRPC hook, on purpose
import time  # noqa: E402
from argparse import Namespace  # noqa: E402
from functools import cache  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

import tritonclient.grpc as grpcclient  # noqa: E402
import tritonclient.http as httpclient  # noqa: E402
from google.protobuf import json_format  # noqa: E402
from locust import LoadTestShape, User, constant, events  # noqa: E402
from locust import task as locust_task  # noqa: E402
from locust.clients import HttpSession  # noqa: E402
from locust.env import Environment  # noqa: E402
from locust.runners import WorkerRunner  # noqa: E402
from shapes import PROFILES, SHAPES, ShapeSettings  # noqa: E402
from tritonclient.utils import InferenceServerException  # noqa: E402

from tritonkit.check import check_records, verdict_table  # noqa: E402
from tritonkit.measure.client import RequestFailed  # noqa: E402
from tritonkit.measure.external import Record, write_records  # noqa: E402
from tritonkit.measure.payloads import PayloadPool, build_pool  # noqa: E402
from tritonkit.specs import PromptsPayload, RandomPayload, TokensPayload, load_targets  # noqa: E402
from tritonkit.triton.infer import request_tensors  # noqa: E402
from tritonkit.triton.model_config import ModelConfig  # noqa: E402

REQUEST_TIMEOUT_S = 30.0
RECORDS: list[Record] = []  # this process's requests; workers hand theirs to the master
TOKEN_ENTRIES = "token"  # request_type of a stream's TTFT and ITL entries: timings within a request, not requests


@events.init_command_line_parser.add_listener
def _arguments(parser: Any) -> None:
    tritonkit = parser.add_argument_group("tritonkit")
    tritonkit.add_argument("--model", default="minilm_fp32", help="Triton model name (or its base, with --variant)")
    tritonkit.add_argument("--variant", default="", help="appended as <model>_<variant>, e.g. int8_dynamic_latency")
    tritonkit.add_argument("--protocol", choices=("grpc", "http"), default="http", help="http uses --host")
    tritonkit.add_argument("--grpc-url", default="127.0.0.1:8001", help="host:port of Triton's gRPC endpoint")
    tritonkit.add_argument("--payload", choices=("tokens", "random"), default="tokens")
    tritonkit.add_argument("--lengths", choices=("texts", "fixed", "uniform"), default="texts")
    tritonkit.add_argument("--sequence-length", type=int, default=128, help="input length: cut, or fixed")
    tritonkit.add_argument("--batch-size", type=int, default=1, help="sentences (rows) per request")
    tritonkit.add_argument("--texts", default="export/texts/evaluation.txt", help="sentences for tokens payloads")
    tritonkit.add_argument(
        "--tokenizer", default="", help="folder with tokenizer.json (default: model_repository/<model>/tokenizer)"
    )
    tritonkit.add_argument("--outputs", default="", help="comma-separated outputs to request (default: all)")
    tritonkit.add_argument("--max-new-tokens", type=int, default=32, help="tokens each stream asks for (generation.py)")
    tritonkit.add_argument("--shape", choices=SHAPES, default="none", help="load shape (none: -u/-r/-t)")
    tritonkit.add_argument("--shape-peak-users", type=int, default=8)
    tritonkit.add_argument("--shape-base-users", type=int, default=1)
    tritonkit.add_argument("--shape-step-users", type=int, default=2)
    tritonkit.add_argument("--shape-step-s", type=float, default=10.0)
    tritonkit.add_argument("--shape-duration-s", type=float, default=60.0)
    tritonkit.add_argument("--latencies-csv", default="", help="write exact per-request latencies here")
    tritonkit.add_argument("--targets", default="", help="a targets file: judge the run against a target's SLO")
    tritonkit.add_argument("--target", default="", help="the target (by name) in --targets")


def model_name(options: Namespace) -> str:
    return f"{options.model}_{options.variant}" if options.variant else options.model


@cache
def payload_pool(model: str, protocol: str, url: str, key: tuple[Any, ...]) -> PayloadPool:
    """One pool per process and settings: users share it (tokenizing is not free)."""
    if protocol == "grpc":
        config = grpcclient.InferenceServerClient(url).get_model_config(model).config
    else:
        raw = httpclient.InferenceServerClient(url.split("://")[-1]).get_model_config(model)
        config = json_format.ParseDict(raw, ModelConfig(), ignore_unknown_fields=True)
    kind, lengths, sequence_length, batch_size, texts, tokenizer, max_new_tokens = key
    default_tokenizer = Path(tokenizer or f"model_repository/{model}/tokenizer")
    if kind == "random":
        spec: TokensPayload | PromptsPayload | RandomPayload = RandomPayload(kind="random", batch_size=batch_size)
    elif kind == "prompts":  # --sequence-length is the longest prompt
        spec = PromptsPayload(
            kind="prompts", tokenizer=default_tokenizer, texts=Path(texts), lengths=lengths,
            max_prompt_tokens=sequence_length, max_new_tokens=max_new_tokens,
        )  # fmt: skip
    else:
        spec = TokensPayload(
            kind="tokens",
            tokenizer=default_tokenizer,
            texts=Path(texts),
            lengths=lengths,
            sequence_length=sequence_length,
            batch_size=batch_size,
        )
    return build_pool(spec, config, seed=0)


def payload_key(options: Namespace, kind: str | None = None) -> tuple[Any, ...]:
    o = options
    return (kind or o.payload, o.lengths, o.sequence_length, o.batch_size, o.texts, o.tokenizer, o.max_new_tokens)


_user_numbers = itertools.count()


class TritonUser(User):
    """A closed-loop user: sends the next request as soon as the answer arrives."""

    wait_time = constant(0)

    def on_start(self) -> None:
        options = self.environment.parsed_options
        self.model = model_name(options)
        self.protocol = options.protocol
        outputs = [name for name in options.outputs.split(",") if name]
        url = options.grpc_url if self.protocol == "grpc" else self.host
        pool = payload_pool(self.model, self.protocol, url, payload_key(options))
        self._order = itertools.cycle(range(next(_user_numbers) % len(pool), len(pool)))  # users start apart
        if self.protocol == "grpc":
            self.grpc = grpcclient.InferenceServerClient(options.grpc_url)
            self.grpc_requests = [request_tensors(p, outputs, "grpc") for p in pool.payloads]
        else:
            self.http = HttpSession(base_url=self.host, request_event=self.environment.events.request, user=self)
            self.http_requests = [_http_body(p, outputs) for p in pool.payloads]

    def on_stop(self) -> None:
        if self.protocol == "grpc":
            self.grpc.close()

    @locust_task
    def infer(self) -> None:
        if self.protocol == "grpc":
            self._infer_grpc(*self.grpc_requests[next(self._order) % len(self.grpc_requests)])
        else:
            self._infer_http(*self.http_requests[next(self._order) % len(self.http_requests)])

    def _infer_http(self, body: bytes, json_size: int | None) -> None:
        headers = {"Content-Type": "application/octet-stream"}
        if json_size is not None:
            headers["Inference-Header-Content-Length"] = str(json_size)
        with self.http.post(
            f"/v2/models/{self.model}/infer", data=body, headers=headers, name=self.model, catch_response=True,
            timeout=REQUEST_TIMEOUT_S,
        ) as response:  # fmt: skip
            if response.status_code != 200:
                response.failure(f"HTTP {response.status_code}: {response.text[:200] if response.text else ''}")

    def _infer_grpc(self, inputs: list[grpcclient.InferInput], outputs: list[Any] | None) -> None:
        exception: Exception | None = None
        started_wall, started = time.time(), time.perf_counter()
        try:
            self.grpc.infer(self.model, inputs, outputs=outputs, client_timeout=REQUEST_TIMEOUT_S)
        except InferenceServerException as exc:
            exception = exc
        self.environment.events.request.fire(
            request_type="grpc",
            name=self.model,
            response_time=(time.perf_counter() - started) * 1000,
            response_length=0,
            exception=exception,
            context={},
            start_time=started_wall,
        )


def _http_body(payload: dict[str, Any], outputs: list[str]) -> tuple[bytes, int | None]:
    """KServe v2 request with binary tensor data: a JSON header, then the raw tensor bytes."""
    tensors, requested = request_tensors(payload, outputs, "http")
    body, json_size = httpclient.InferenceServerClient.generate_request_body(tensors, outputs=requested)
    return body, json_size


class SelectedShape(LoadTestShape):
    """The shape named by --shape; with `none`, Locust's own -u/-r/-t (or the web UI's fields)."""

    use_common_options = True

    def tick(self) -> tuple[int, float] | None:
        assert self.runner is not None
        options = self.runner.environment.parsed_options
        if options.shape == "none":
            run_time = options.run_time
            if run_time and self.get_run_time() >= run_time:
                return None
            return options.num_users, options.spawn_rate
        settings = ShapeSettings(
            peak_users=options.shape_peak_users,
            base_users=options.shape_base_users,
            step_users=options.shape_step_users,
            step_s=options.shape_step_s,
            duration_s=options.shape_duration_s,
        )
        return PROFILES[options.shape](self.get_run_time(), settings)


# -- exact latencies and the verdict ----------------------------------------------------------------


@events.request.add_listener
def _record(
    response_time: float,
    request_type: str = "",
    exception: BaseException | None = None,
    start_time: float | None = None,
    context: dict[str, Any] | None = None,
    **_: Any,
) -> None:
    if request_type == TOKEN_ENTRIES:  # its stream is recorded once, tokens included
        return
    start = start_time if start_time is not None else time.time() - response_time / 1000
    tokens = tuple((context or {}).get("tokens_ms", ()))
    RECORDS.append(Record(start, float(response_time), _kind(exception), tokens))


def _kind(exception: BaseException | None) -> str:
    if exception is None:
        return ""
    if isinstance(exception, RequestFailed):  # a stream's: its kind as tritonkit's own client names it
        return exception.kind
    if isinstance(exception, InferenceServerException):
        return (exception.status() or "error").removeprefix("StatusCode.")
    message = str(exception)
    if message.startswith("HTTP "):
        return message.split(":")[0]
    return type(exception).__name__


@events.report_to_master.add_listener
def _hand_to_master(client_id: str, data: dict[str, Any]) -> None:
    data["tritonkit_records"] = [(r.start_s, r.latency_ms, r.error, list(r.tokens_ms)) for r in RECORDS]
    RECORDS.clear()


@events.worker_report.add_listener
def _collect_from_worker(client_id: str, data: dict[str, Any]) -> None:
    rows = data.get("tritonkit_records", ())
    RECORDS.extend(Record(start, latency, error, tuple(tokens)) for start, latency, error, tokens in rows)


@events.test_start.add_listener
def _forget_earlier_runs(**_: Any) -> None:
    RECORDS.clear()  # a web UI master runs test after test: judge and write only the latest


@events.quitting.add_listener
def _judge(environment: Environment, **_: Any) -> None:
    if isinstance(environment.runner, WorkerRunner):
        return
    options = environment.parsed_options
    if options.latencies_csv:
        write_records(Path(options.latencies_csv), RECORDS)
    if not options.targets:
        return
    if not RECORDS:
        print("\nno requests were recorded: nothing to judge against the SLO", flush=True)
        environment.process_exit_code = 1
        return
    result = check_records(load_targets(Path(options.targets)), options.target or None, RECORDS)
    print("\n" + verdict_table(result), flush=True)
    # The verdict decides, error budget included: Locust alone would fail on any failed request.
    environment.process_exit_code = 0 if result.passed else 1
