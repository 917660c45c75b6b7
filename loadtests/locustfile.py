"""Locust load tests for a model served by Triton: one user class whose protocol is an argument
(HTTP: KServe v2 with binary tensor data; gRPC: tritonclient's client under gevent), payloads from
tritonkit.measure.payloads (the same as tritonkit's own client), load shapes from shapes.py, exact
per-request latencies recorded, and the verdict from tritonkit.slo at the end of the run.

    locust -f loadtests/locustfile.py --host http://127.0.0.1:8000 --grpc-url 127.0.0.1:8001
        # the web UI on http://localhost:8089: model, variant, protocol, input length are fields
    locust -f loadtests/locustfile.py --headless -u 8 -r 8 -t 30s --host … \\
        --targets targets/minilm.yaml --target chat-fp32 --latencies-csv loadtests/results/run.csv
        # exits 1 when the target's SLO is missed
    locust -f loadtests/locustfile.py --headless -u 4 -r 4 -t 30s --host … --model vit_base_fp32
        # a model taking pixel_values gets photographs through its own image processor (--payload
        # auto): scikit-image's, or --images FOLDER; processor model_repository/<model>/preprocessor

Payloads that cannot be built (bad options, missing or unreadable files, a model they do not fit)
end the run with one `error:` line and exit code 2 (1 when the server cannot say the model's
config), as tritonkit's own commands do; a worker's reaches its master, which ends the run.

A streaming generator has its own user, in generation.py beside this file (it shares these
options, records and verdict).

Only this process (and the workers Locust starts) is patched by gevent; the library never is.
"""

from __future__ import annotations

import grpc.experimental.gevent as grpc_gevent

grpc_gevent.init_gevent()  # gRPC's sync client blocks in C unless told about gevent: before any channel

import itertools  # noqa: E402 - after gevent's gRPC hook, on purpose
import logging  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from argparse import Namespace  # noqa: E402
from functools import cache  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any, NamedTuple  # noqa: E402

import gevent  # noqa: E402
import gevent.lock  # noqa: E402
import locust.runners  # noqa: E402
import tritonclient.grpc as grpcclient  # noqa: E402
import tritonclient.http as httpclient  # noqa: E402
from google.protobuf import json_format  # noqa: E402
from locust import LoadTestShape, User, constant, events  # noqa: E402
from locust import task as locust_task  # noqa: E402
from locust.clients import HttpSession  # noqa: E402
from locust.env import Environment  # noqa: E402
from locust.exception import StopUser  # noqa: E402
from locust.runners import STATE_STOPPED, LocalRunner, Runner, WorkerRunner  # noqa: E402
from pydantic import ValidationError  # noqa: E402
from shapes import PROFILES, SHAPES, ShapeSettings  # noqa: E402
from tritonclient.grpc import model_config_pb2  # noqa: E402
from tritonclient.utils import InferenceServerException  # noqa: E402

from tritonkit.check import check_records, judged_target, verdict_table  # noqa: E402
from tritonkit.errors import InputError, ServerError, TritonkitError  # noqa: E402
from tritonkit.inputs import excerpt, listed  # noqa: E402
from tritonkit.measure.client import RequestFailed  # noqa: E402
from tritonkit.measure.external import Record, write_records  # noqa: E402
from tritonkit.measure.payloads import PayloadPool, build_pool, payload_file_problems, with_model_files  # noqa: E402
from tritonkit.specs import (  # noqa: E402
    ImagesPayload,
    PayloadSpec,
    PromptsPayload,
    RandomPayload,
    TargetSpec,
    TextsPayload,
    TokensPayload,
    load_targets,
)
from tritonkit.triton.infer import request_tensors  # noqa: E402
from tritonkit.triton.model_config import ModelConfig  # noqa: E402

# Loading a tokenizer or image processor and preparing photographs never yields to gevent (nor can
# it run on a native thread: transformers' import starts subprocesses, which gevent allows only on
# its main loop), so a worker preparing its payloads sends no heartbeat meanwhile: its master waits
# up to 30 s for one (Locust's default, 3 s, drops a worker loading an image processor on a busy host).
locust.runners.HEARTBEAT_LIVENESS = 30

REQUEST_TIMEOUT_S = 30.0
RECORDS: list[Record] = []  # this process's requests; workers hand theirs to the master
TOKEN_ENTRIES = "token"  # request_type of a stream's TTFT and ITL entries: timings within a request, not requests
MODEL_REPOSITORY = Path("model_repository")  # Triton's, under the working directory: tokenizers, image processors
IMAGE_INPUT = "pixel_values"  # what an image model takes (the image exporters' input name)
REFUSED = "tritonkit_refused"  # a worker's message to its master: the payloads it could not prepare


@events.init_command_line_parser.add_listener
def _arguments(parser: Any) -> None:
    tritonkit = parser.add_argument_group("tritonkit")
    tritonkit.add_argument("--model", default="minilm_fp32", help="Triton model name (or its base, with --variant)")
    tritonkit.add_argument("--variant", default="", help="appended as <model>_<variant>, e.g. int8_dynamic_latency")
    tritonkit.add_argument("--protocol", choices=("grpc", "http"), default="http", help="http uses --host")
    tritonkit.add_argument("--grpc-url", default="127.0.0.1:8001", help="host:port of Triton's gRPC endpoint")
    tritonkit.add_argument(
        "--payload", choices=("auto", "tokens", "texts", "images", "random"), default="auto",
        help=f"auto: images for a model taking {IMAGE_INPUT}, texts for a string input (a <name>_text model), "
        "tokens otherwise",
    )  # fmt: skip
    tritonkit.add_argument("--lengths", choices=("texts", "fixed", "uniform"), default="texts")
    tritonkit.add_argument("--sequence-length", type=int, default=128, help="input length: cut, or fixed")
    tritonkit.add_argument("--batch-size", type=int, default=1, help="rows (sentences, images) per request")
    tritonkit.add_argument("--texts", default="export/texts/evaluation.txt", help="sentences for tokens payloads")
    tritonkit.add_argument(
        "--tokenizer", default="", help="folder with tokenizer.json (default: model_repository/<model>/tokenizer)"
    )
    tritonkit.add_argument(
        "--images", default="", help="a folder of .jpg/.png photographs for images payloads (default: scikit-image's)"
    )
    tritonkit.add_argument(
        "--processor",
        default="",
        help="folder with preprocessor_config.json, for images (default: model_repository/<model>/preprocessor)",
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


class PayloadSettings(NamedTuple):
    """What the options say about payloads; hashable, so that a process builds each pool once."""

    kind: str  # auto, tokens, texts, images, random, or prompts (generation.py)
    lengths: Any  # one of --lengths' choices: the payload spec validates it for its kind
    sequence_length: int  # tokens: cut, or fixed; prompts: the longest prompt
    batch_size: int
    texts: str
    tokenizer: str  # "": the model's, as the exporter writes it
    max_new_tokens: int
    images: str  # "": scikit-image's sample photographs
    processor: str  # "": the model's, as the exporter writes it


def payload_key(options: Namespace, kind: str | None = None) -> PayloadSettings:
    o = options
    return PayloadSettings(
        kind or o.payload, o.lengths, o.sequence_length, o.batch_size, o.texts, o.tokenizer, o.max_new_tokens,
        o.images, o.processor,
    )  # fmt: skip


@cache
def payload_pool(model: str, protocol: str, url: str | None, settings: PayloadSettings) -> PayloadPool:
    """One pool per process and settings: users share it (tokenizing is not free). Its files are
    checked before the server is asked anything; bad options or files and a model the payload does
    not fit are an InputError, a server that cannot say the model's config a ServerError."""
    spec = None if settings.kind == "auto" else payload_spec(settings, model)
    config = served_config(model, protocol, url)
    if spec is None:
        spec = payload_spec(settings._replace(kind=auto_kind(config)), model)
    return build_pool(spec, config, seed=0)


def auto_kind(config: ModelConfig) -> str:
    if any(tensor.name == IMAGE_INPUT for tensor in config.input):
        return "images"
    strings = [tensor for tensor in config.input if tensor.data_type == model_config_pb2.TYPE_STRING]
    return "texts" if strings else "tokens"


def payload_spec(settings: PayloadSettings, model: str) -> PayloadSpec:
    """The payload the settings describe, its tokenizer or image processor defaulting to the one the
    exporter wrote beside the model, every file it names checked (all problems at once)."""
    s = settings
    try:
        spec: PayloadSpec
        if s.kind == "random":
            spec = RandomPayload(kind="random", batch_size=s.batch_size)
        elif s.kind == "images":
            spec = ImagesPayload(
                kind="images", processor=_optional(s.processor), images=_optional(s.images), batch_size=s.batch_size
            )
        elif s.kind == "texts":  # strings: the server tokenizes them
            spec = TextsPayload(kind="texts", texts=Path(s.texts), batch_size=s.batch_size)
        elif s.kind == "prompts":  # --sequence-length is the longest prompt
            spec = PromptsPayload(
                kind="prompts", tokenizer=_optional(s.tokenizer), texts=Path(s.texts), lengths=s.lengths,
                max_prompt_tokens=s.sequence_length, max_new_tokens=s.max_new_tokens,
            )  # fmt: skip
        else:
            spec = TokensPayload(
                kind="tokens", tokenizer=_optional(s.tokenizer), texts=Path(s.texts), lengths=s.lengths,
                sequence_length=s.sequence_length, batch_size=s.batch_size,
            )  # fmt: skip
    except ValidationError as exc:
        raise _refusal(s.kind, model, [_flag_problem(error) for error in exc.errors()]) from None
    spec = with_model_files(spec, MODEL_REPOSITORY / model)
    problems = payload_file_problems(spec)
    if problems:
        raise _refusal(spec.kind, model, list(dict.fromkeys(problems)))
    return spec


def _optional(path: str) -> Path | None:
    return Path(path) if path else None


_FLAGS = {"max_prompt_tokens": "--sequence-length"}  # the payload fields the options name otherwise


def _flag_problem(error: Any) -> str:
    field = str(error["loc"][0]) if error["loc"] else ""
    flag = _FLAGS.get(field, "--" + field.replace("_", "-"))
    return f"{flag} {excerpt(error['input'])}: {error['msg']}"


def _refusal(kind: str, model: str, problems: list[str]) -> InputError:
    what = f"the {kind} payload for model '{model}'"
    if len(problems) == 1:
        return InputError(f"{what}: {problems[0]}")
    return InputError(f"{what}:\n" + listed([f"  {p}" for p in problems]))


def served_config(model: str, protocol: str, url: str | None) -> ModelConfig:
    """The model's config as the server serves it: what the payload is shaped from."""
    if not url:
        raise InputError("--host: give Triton's HTTP URL (e.g. http://127.0.0.1:8000), or use --protocol grpc")
    try:
        if protocol == "grpc":
            client = grpcclient.InferenceServerClient(url)
            try:
                config: ModelConfig = client.get_model_config(model, client_timeout=REQUEST_TIMEOUT_S).config
            finally:
                client.close()
            return config
        http = httpclient.InferenceServerClient(
            url.split("://")[-1], connection_timeout=REQUEST_TIMEOUT_S, network_timeout=REQUEST_TIMEOUT_S
        )
        try:
            raw = http.get_model_config(model)
        finally:
            http.close()
        return json_format.ParseDict(raw, ModelConfig(), ignore_unknown_fields=True)
    except (InferenceServerException, OSError, gevent.Timeout) as exc:
        raise ServerError(f"model '{model}': no config from the server at {url} ({excerpt(str(exc))})") from None


# -- payloads that cannot be built end the run ------------------------------------------------------

_refused: list[str] = []  # this run's refusals, each printed once
_preparing = gevent.lock.Semaphore()  # users starting while a pool is built wait for it, then share it


def prepared_pool(user: User) -> PayloadPool | None:
    """The user's payloads (its class's `prepare`); None once the run is refused: the user stops at
    its first task."""
    if _refused:
        return None
    try:
        with _preparing:
            pool: PayloadPool = type(user).prepare(user.environment)  # type: ignore[attr-defined]
        return pool
    except TritonkitError as exc:
        refusal = {"message": str(exc), "exit_code": exc.exit_code}
        runner = user.environment.runner
        if isinstance(runner, WorkerRunner):  # the master ends the run; this worker's log says why too
            _print_refusal(str(exc))
            user.environment.process_exit_code = exc.exit_code
            runner.send_message(REFUSED, refusal)
        elif runner is not None:
            _end_refused_run(user.environment, refusal)
        return None


def _print_refusal(message: str) -> None:
    if message not in _refused:
        _refused.append(message)
        print(f"error: {message}", file=sys.stderr, flush=True)


def _end_refused_run(environment: Environment, refusal: dict[str, Any]) -> None:
    """One `error:` line and the exit code; a headless run quits, a web UI's run stops (its form can
    be corrected and the run started again)."""
    first = not _refused
    message = str(refusal["message"])
    headless = bool(environment.parsed_options and environment.parsed_options.headless)
    if headless:
        _print_refusal(message)
    elif message not in _refused:
        _refused.append(message)
        logging.getLogger("tritonkit").error("error: %s", message)  # the web UI's log shows it
    environment.process_exit_code = int(refusal["exit_code"])
    runner = environment.runner
    if first and runner is not None:
        gevent.spawn(runner.quit if headless else runner.stop)  # not from the user's own greenlet


@events.init.add_listener
def _prepare_before_the_load(environment: Environment, runner: Runner | None = None, **_: Any) -> None:
    """A headless run on one process prepares its payloads before any user starts; a headless
    master or single process reads its target. Either ends with one `error:` line (every problem
    in it) before any load (a web UI's form, or a master's workers, may change the options before
    a run: payloads are refused when the run starts). The master (or this process) listens for
    its workers' refusals."""
    if runner is None:
        return
    if not isinstance(runner, WorkerRunner):
        runner.register_message(REFUSED, lambda environment, msg, **_: _end_refused_run(environment, msg.data))
    options = environment.parsed_options
    if not (options and options.headless):
        return
    problems: list[TritonkitError] = []
    if options.targets and not isinstance(runner, WorkerRunner):
        try:
            _judged["target"] = judged_target(load_targets(Path(options.targets)), options.target or None)
        except TritonkitError as exc:
            problems.append(exc)
    if isinstance(runner, LocalRunner):
        for user_class in environment.user_classes:
            prepare = getattr(user_class, "prepare", None)
            try:
                if prepare is not None:
                    prepare(environment)
            except TritonkitError as exc:
                problems.append(exc)
    if problems:
        first, *more = problems
        print("error: " + "\n".join([str(first), *(f"  {p}" for p in more)]), file=sys.stderr, flush=True)
        sys.exit(max(p.exit_code for p in problems))


_judged: dict[str, TargetSpec] = {}  # a headless run's target: the run ends once the verdict has its records


@events.test_start.add_listener
def _end_once_judged(environment: Environment, **_: Any) -> None:
    if "target" in _judged and not isinstance(environment.runner, WorkerRunner):
        gevent.spawn(_quit_when_covered, environment, _judged["target"].load.judged_span_s)


def _quit_when_covered(environment: Environment, span_s: float) -> None:
    """Quit once the records span what the verdict reads (--run-time stays the cap): the seconds
    workers spend preparing payloads (an image processor's import alone takes several) do not
    cut the judged run short, and no run goes on longer than its verdict needs."""
    while environment.runner is not None and environment.runner.state != STATE_STOPPED:
        gevent.sleep(1.0)
        starts = [record.start_s for record in RECORDS]
        if starts and max(starts) - min(starts) >= span_s:
            environment.runner.quit()
            return


_user_numbers = itertools.count()


class TritonUser(User):
    """A closed-loop user: sends the next request as soon as the answer arrives."""

    wait_time = constant(0)
    grpc: grpcclient.InferenceServerClient | None = None
    refused = False  # its payloads could not be prepared: it stops at its first task

    @classmethod
    def prepare(cls, environment: Environment) -> PayloadPool:
        """The payloads the options describe (built once per process, shared by the users)."""
        options = environment.parsed_options
        assert options is not None
        url = options.grpc_url if options.protocol == "grpc" else environment.host or cls.host
        return payload_pool(model_name(options), options.protocol, url, payload_key(options))

    def on_start(self) -> None:
        options = self.environment.parsed_options
        self.model = model_name(options)
        self.protocol = options.protocol
        outputs = [name for name in options.outputs.split(",") if name]
        pool = prepared_pool(self)
        if pool is None:
            self.refused = True
            return
        self._order = itertools.cycle(range(next(_user_numbers) % len(pool), len(pool)))  # users start apart
        if self.protocol == "grpc":
            self.grpc = grpcclient.InferenceServerClient(options.grpc_url)
            self.grpc_requests = [request_tensors(p, outputs, "grpc") for p in pool.payloads]
        else:
            self.http = HttpSession(base_url=self.host, request_event=self.environment.events.request, user=self)
            self.http_requests = [_http_body(p, outputs) for p in pool.payloads]

    def on_stop(self) -> None:
        if self.grpc is not None:
            self.grpc.close()
            self.grpc = None

    @locust_task
    def infer(self) -> None:
        if self.refused:
            raise StopUser()
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
        assert self.grpc is not None
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
def _forget_earlier_runs(environment: Environment, **_: Any) -> None:
    RECORDS.clear()  # a web UI master runs test after test: judge and write only the latest
    if _refused:  # and a corrected form gets a new try
        _refused.clear()
        environment.process_exit_code = None


@events.quitting.add_listener
def _judge(environment: Environment, **_: Any) -> None:
    if isinstance(environment.runner, WorkerRunner) or _refused:  # a refused run: its error line says it all
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
