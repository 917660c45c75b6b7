"""What measuring targets needs that can be checked before a server starts: each target's model in
the local repository, the tokenizer or image processor a payload needs, the files every payload names, the
levels a sweep would reach, an SLO that judges what its payload measures (streamed generation only
from a prompts payload) and a protocol that can carry it. With a local repository, each payload
against its model's config.pbtxt too: the inputs its kind fills, its batch size, and for a
generator its cap on new tokens and its context. Every problem is reported at once, so a check
fails in a second rather than after a server start."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from pydantic import ValidationError

from tritonkit.errors import InputError
from tritonkit.inputs import listed, read_text
from tritonkit.measure.payloads import fit_problems, longest_prompt, payload_file_problems, with_model_files
from tritonkit.measure.trace import read_trace
from tritonkit.measure.trace_payloads import row_payload_problem
from tritonkit.slo import GENERATION_LIMITS
from tritonkit.specs import PayloadSpec, PromptsPayload, TargetSpec, TraceLoad
from tritonkit.triton.model_config import ModelConfig, parse

CONFIG_FILE = "config.pbtxt"
MAX_CONFIG_BYTES = 1 << 20  # the validator's bound: beyond it a file is not a config


def check_before_start(source: Path, targets: Sequence[TargetSpec], repository: Path | None) -> None:
    """`repository`: the local model repository the targets' models are served from, or None for a
    running server (whose models only the server knows)."""
    problems = _repository_problems(targets, repository) if repository is not None else []
    for target in targets:
        payload = target.payload
        try:
            payload = with_model_files(payload, None if repository is None else repository / target.model)
        except InputError as exc:  # its other files are still checked
            problems.append(f"target '{target.name}': {exc}")
        problems += payload_file_problems(payload)
        problems += [p for p in (protocol_problem(target), _slo_problem(target), _trace_problem(target)) if p]
        if repository is not None:
            problems += local_fit_problems(target.name, payload, repository / target.model)
    if problems:
        unique = list(dict.fromkeys(problems))  # targets often share a texts file
        raise InputError(f"{source}: cannot measure its targets:\n" + listed([f"  {p}" for p in unique]))


def protocol_problem(target: TargetSpec) -> str | None:
    """Streams go over gRPC: Triton's HTTP inference answers a decoupled model's request once."""
    if isinstance(target.payload, PromptsPayload) and target.load.protocol != "grpc":
        return (
            f"target '{target.name}': load.protocol {target.load.protocol}: a prompts payload streams its tokens "
            "over gRPC (protocol: grpc)"
        )
    return None


def _trace_problem(target: TargetSpec) -> str | None:
    """A trace load's file, read whole: its rows, their fit to the payload, a replay long enough to
    measure (the warmup and one window at its speed)."""
    load = target.load
    if not isinstance(load, TraceLoad):
        return None
    try:
        trace = read_trace(load.file)
    except InputError as exc:
        return f"target '{target.name}': load.file {exc}"
    if problem := row_payload_problem(trace, target.payload):
        return f"target '{target.name}': load.file {load.file}: {problem}"
    replay_s = trace.span_s / load.speed
    if replay_s < load.warmup_s + load.window_s:
        return (
            f"target '{target.name}': load.file {load.file} lasts {replay_s:g} s at speed {load.speed:g}; "
            f"at least warmup_s + window_s ({load.warmup_s + load.window_s:g} s) to measure a window"
        )
    return None


def _slo_problem(target: TargetSpec) -> str | None:
    """Generation limits on a payload that streams nothing would judge figures never measured."""
    limits = [key for key in GENERATION_LIMITS if getattr(target.slo, key) is not None]
    if limits and not isinstance(target.payload, PromptsPayload):
        return (
            f"target '{target.name}': slo {', '.join(limits)} judge streamed generation, which a "
            f"{target.payload.kind} payload does not measure: use a prompts payload on a generator model, or drop them"
        )
    return None


def model_fit_problems(payload: PayloadSpec, config: ModelConfig | None) -> list[str]:
    """The payload against the model's own config (None: none to read): what build_pool would
    refuse on the served config, and a generator's limits, which its server refuses per request."""
    if config is None:
        return []
    problems = fit_problems(payload, config)
    if isinstance(payload, PromptsPayload) and not problems:  # a generator: its limits apply
        problems += _generation_problems(payload, config)
    return problems


def _generation_problems(payload: PromptsPayload, config: ModelConfig) -> list[str]:
    """tritonkit's generator refuses each request for more new tokens than its cap, or whose prompt
    and new tokens overrun its context (triton/generator/model.py): a run would measure errors only.
    The exporter writes both limits as config parameters; another generator may carry neither."""
    problems = []
    cap, positions = _parameter(config, "max_new_tokens"), _parameter(config, "max_positions")
    wanted = payload.max_new_tokens
    if cap is not None and wanted > cap:
        problems.append(
            f"payload max_new_tokens {wanted}: model '{config.name}' generates at most {cap} new tokens a request "
            "(parameter max_new_tokens of its config.pbtxt, from generation.max_new_tokens of its export recipe)"
        )
    if positions is None:
        return problems
    try:
        longest = longest_prompt(payload)
    except InputError:  # its texts or tokenizer, which payload_file_problems reports
        return problems
    if longest + wanted > positions:
        source = (
            f"payload max_prompt_tokens {payload.max_prompt_tokens}"
            if payload.lengths == "uniform"
            else f"the longest line of {payload.texts}, cut at max_prompt_tokens {payload.max_prompt_tokens}"
        )
        problems.append(
            f"prompts of up to {longest} tokens ({source}) and max_new_tokens {wanted} make {longest + wanted}: "
            f"more than the {positions} positions of model '{config.name}' (its context, parameter max_positions): "
            "lower max_prompt_tokens or max_new_tokens"
        )
    return problems


def _parameter(config: ModelConfig, key: str) -> int | None:
    """A positive integer parameter of the config, or None where it has none."""
    if key not in config.parameters:  # `in`: indexing a protobuf map would add the key
        return None
    value = config.parameters[key].string_value
    return int(value) if value.isdigit() and int(value) > 0 else None


def local_fit_problems(target: str, payload: PayloadSpec, model: Path) -> list[str]:
    """The payload against the config of `model`, a model folder of a local repository."""
    config = _local_config(model / CONFIG_FILE)
    return [f"target '{target}': {problem}" for problem in model_fit_problems(payload, config)]


def _local_config(path: Path) -> ModelConfig | None:
    """The model's config.pbtxt, or None where there is none to read: a missing one is reported
    above, one that does not parse by the validator when the model loads (naming the field)."""
    if not path.is_file():
        return None
    try:
        return parse(read_text(path, "a Triton model config", MAX_CONFIG_BYTES), path)
    except InputError:
        return None


def _repository_problems(targets: Sequence[TargetSpec], repository: Path) -> list[str]:
    if not repository.is_dir():
        state = "not a directory" if repository.exists() else "not found"
        return [f"model repository {repository}: {state} (--model-repository)"]
    return [
        f"target '{target.name}': model '{target.model}' is not in {repository} (no {target.model}/{CONFIG_FILE})"
        for target in targets
        if not (repository / target.model / CONFIG_FILE).is_file()
    ]


def check_levels(target: TargetSpec, levels: list[float] | None, max_steps: int) -> None:
    """Every level a sweep would run (the given ones, or doubling from the target's own level)
    within the bounds the target's load itself has."""
    load = target.load
    field = {"open": "rate_per_s", "trace": "speed"}.get(load.mode, "concurrency")
    steps = levels or [load.level * 2**i for i in range(max_steps)]
    flag = "--levels" if levels else f"--max-steps {max_steps} (doubling from {load.level:g})"
    for level in steps[:max_steps]:
        try:
            load.at_level(level)
        except ValidationError as exc:
            raise InputError(f"{flag}: a step at {field} {level:g}: {exc.errors()[0]['msg']}") from None
