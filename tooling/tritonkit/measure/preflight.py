"""What measuring targets needs that can be checked before a server starts: each target's model in
the local repository, the tokenizer or image processor a payload needs, the files every payload names, the
levels a sweep would reach, an SLO that judges what its payload measures (streamed generation only
from a prompts payload) and a protocol that can carry it. Every problem is reported at once, so a
check fails in a second rather than after a server start."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from pydantic import ValidationError

from tritonkit.errors import InputError
from tritonkit.inputs import listed
from tritonkit.measure.payloads import payload_file_problems, with_model_files
from tritonkit.slo import GENERATION_LIMITS
from tritonkit.specs import OpenLoopLoad, PromptsPayload, TargetSpec

CONFIG_FILE = "config.pbtxt"


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
        problems += [p for p in (protocol_problem(target), _slo_problem(target)) if p]
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


def _slo_problem(target: TargetSpec) -> str | None:
    """Generation limits on a payload that streams nothing would judge figures never measured."""
    limits = [key for key in GENERATION_LIMITS if getattr(target.slo, key) is not None]
    if limits and not isinstance(target.payload, PromptsPayload):
        return (
            f"target '{target.name}': slo {', '.join(limits)} judge streamed generation, which a "
            f"{target.payload.kind} payload does not measure: use a prompts payload on a generator model, or drop them"
        )
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
    field = "rate_per_s" if isinstance(load, OpenLoopLoad) else "concurrency"
    steps = levels or [load.level * 2**i for i in range(max_steps)]
    flag = "--levels" if levels else f"--max-steps {max_steps} (doubling from {load.level:g})"
    for level in steps[:max_steps]:
        try:
            load.at_level(level)
        except ValidationError as exc:
            raise InputError(f"{flag}: a step at {field} {level:g}: {exc.errors()[0]['msg']}") from None
