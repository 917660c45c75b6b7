"""Validation of a model's scheduler: dynamic batching, sequence batching or ensemble steps."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from tritonclient.grpc import model_config_pb2 as mc
from tritonclient.grpc.model_config_pb2 import ModelConfig

from tritonkit.errors import InputError
from tritonkit.triton.model_config import read_config
from tritonkit.triton.validate_io import typed_dims
from tritonkit.triton.validate_problem import CONFIG_FILE, Model, Problem

ENSEMBLE_PLATFORM = "ensemble"

_FALSE_TRUE = ("int32_false_true", "fp32_false_true", "bool_false_true")
_CORRID_TYPES = frozenset({mc.TYPE_UINT64, mc.TYPE_INT64, mc.TYPE_UINT32, mc.TYPE_INT32, mc.TYPE_STRING})
# Fields Triton refuses in an ensemble's config: its steps' models own these.
_NOT_FOR_ENSEMBLES = ("instance_group", "optimization", "model_warmup")


def check_scheduling(model: Model, repository_models: frozenset[str] | None) -> list[Problem]:
    """`repository_models`: every model directory's name when a whole repository is validated, else None."""
    config = model.config
    scheduler = config.WhichOneof("scheduling_choice")
    is_ensemble = config.platform == ENSEMBLE_PLATFORM
    if is_ensemble and scheduler != "ensemble_scheduling":
        return [model.problem("ensemble_scheduling", "missing", "the ensemble's steps, since platform is 'ensemble'")]
    if scheduler == "ensemble_scheduling":
        if not is_ensemble:
            return [model.problem("platform", repr(config.platform), "'ensemble', since ensemble_scheduling is set")]
        return _ensemble(model, repository_models)
    if scheduler == "dynamic_batching":
        return _dynamic_batching(model)
    if scheduler == "sequence_batching":
        return _sequence_batching(model)
    return []


def _dynamic_batching(model: Model) -> list[Problem]:
    batching = model.config.dynamic_batching
    limit = model.config.max_batch_size
    problems = []
    if limit <= 0:
        problems.append(model.problem("max_batch_size", str(limit), "> 0: dynamic_batching needs a model that batches"))
    problems += _preferred_sizes(model, "dynamic_batching.preferred_batch_size", batching.preferred_batch_size)
    levels, default = batching.priority_levels, batching.default_priority_level
    if levels and not 1 <= default <= levels:
        expected = f"within 1..priority_levels ({levels})"
        problems.append(model.problem("dynamic_batching.default_priority_level", str(default), expected))
    elif not levels and default:
        expected = "0: priority_levels is 0"
        problems.append(model.problem("dynamic_batching.default_priority_level", str(default), expected))
    problems += [
        model.problem(
            f"dynamic_batching.priority_queue_policy[{level}]",
            str(level),
            f"a priority level within 1..priority_levels ({levels})",
        )
        for level in sorted(batching.priority_queue_policy)
        if not 1 <= level <= levels
    ]
    if batching.preserve_ordering:
        problems += _preserve_ordering(model, batching)
    return problems


def _preserve_ordering(model: Model, batching: mc.ModelDynamicBatching) -> list[Problem]:
    """Triton refuses what could reorder responses: several priority levels, or delaying timed-out requests."""
    problems = []
    if batching.priority_levels > 1:
        expected = "at most 1 while preserve_ordering is true"
        problems.append(model.problem("dynamic_batching.priority_levels", str(batching.priority_levels), expected))
    policies = {"dynamic_batching.default_queue_policy": batching.default_queue_policy} | {
        f"dynamic_batching.priority_queue_policy[{level}]": policy
        for level, policy in sorted(batching.priority_queue_policy.items())
    }
    problems += [
        model.problem(f"{field}.timeout_action", "DELAY", "REJECT (or no timeout) while preserve_ordering is true")
        for field, policy in policies.items()
        if policy.timeout_action == mc.ModelQueuePolicy.DELAY and policy.default_timeout_microseconds
    ]
    return problems


def _preferred_sizes(model: Model, field: str, sizes: Iterable[int]) -> list[Problem]:
    limit = model.config.max_batch_size
    problems = []
    for index, size in enumerate(sizes):
        if size < 1:
            problems.append(model.problem(f"{field}[{index}]", str(size), ">= 1"))
        elif size > limit:
            problems.append(model.problem(f"{field}[{index}]", str(size), f"<= max_batch_size ({limit})"))
    return problems


def _sequence_batching(model: Model) -> list[Problem]:
    sequence = model.config.sequence_batching
    problems = _preferred_sizes(
        model, "sequence_batching.oldest.preferred_batch_size", sequence.oldest.preferred_batch_size
    )
    for index, control_input in enumerate(sequence.control_input):
        where = f"sequence_batching.control_input[{index}]"
        if not control_input.name:
            problems.append(model.problem(f"{where}.name", '""', "the name of the model input the control is fed to"))
        if not control_input.control:
            problems.append(model.problem(f"{where}.control", "[]", "at least one control"))
        for number, control in enumerate(control_input.control):
            problems += _control(model, f"{where}.control[{number}]", control)
    for index, state in enumerate(sequence.state):
        where = f"sequence_batching.state[{index}]"
        problems += [
            model.problem(f"{where}.{name}", '""', "the model tensor that carries the state")
            for name in ("input_name", "output_name")
            if not getattr(state, name)
        ]
        problems += typed_dims(model, where, state.data_type, state.dims)
    return problems


def _control(model: Model, where: str, control: mc.ModelSequenceBatching.Control) -> list[Problem]:
    # `kind` is an enum whose zero is CONTROL_SEQUENCE_START, so an omitted kind reads as START:
    # what can be checked is that the control carries what its kind needs.
    kinds = mc.ModelSequenceBatching.Control
    kind = kinds.Kind.Name(control.kind)
    if control.kind == kinds.CONTROL_SEQUENCE_CORRID:
        if control.data_type in _CORRID_TYPES:
            return []
        expected = f"the correlation id's type, one of {sorted(mc.DataType.Name(t) for t in _CORRID_TYPES)}"
        return [model.problem(f"{where}.data_type", mc.DataType.Name(control.data_type), expected)]
    given = {name: list(getattr(control, name)) for name in _FALSE_TRUE if getattr(control, name)}
    if len(given) == 1 and all(len(values) == 2 for values in given.values()):
        return []
    expected = f"exactly one of {', '.join(_FALSE_TRUE)} with two values [false, true] for {kind}"
    return [model.problem(where, f"{kind} with {given or 'no values'}", expected)]


def _ensemble(model: Model, repository_models: frozenset[str] | None) -> list[Problem]:
    config = model.config
    present = {field.name for field, _ in config.ListFields()}
    problems = [
        model.problem(name, "set", "nothing: an ensemble's step models own it")
        for name in _NOT_FOR_ENSEMBLES
        if name in present
    ]
    steps = config.ensemble_scheduling.step
    if not steps:
        return [*problems, model.problem("ensemble_scheduling.step", "[]", "at least one step")]
    consumed = {tensor for step in steps for tensor in step.input_map.values()}
    produced = {tensor for step in steps for tensor in step.output_map.values()}
    # Triton refuses dangling tensors: every input a step reads must come from somewhere, and
    # every output a step writes must go somewhere.
    sources = {tensor.name for tensor in config.input} | produced
    sinks = {tensor.name for tensor in config.output} | consumed
    mappings = (
        ("input_map", sources, "an ensemble input or a tensor some step produces"),
        ("output_map", sinks, "an ensemble output or a tensor some step consumes"),
    )
    for index, step in enumerate(steps):
        where = f"ensemble_scheduling.step[{index}]"
        problems += _step_model(model, where, step, repository_models)
        for mapping, known, expected in mappings:
            problems += [
                model.problem(f"{where}.{mapping}[{key!r}]", repr(tensor), expected)
                for key, tensor in sorted(getattr(step, mapping).items())
                if tensor not in known
            ]
    for kind, names, how in (("input", consumed, "consumed by"), ("output", produced, "produced by")):
        problems += [
            model.problem(f"{kind}[{index}].name", repr(tensor.name), f"a tensor {how} some step")
            for index, tensor in enumerate(getattr(config, kind))
            if tensor.name not in names
        ]
    return problems


def _step_model(
    model: Model, where: str, step: mc.ModelEnsembling.Step, repository_models: frozenset[str] | None
) -> list[Problem]:
    if not step.model_name:
        return [model.problem(f"{where}.model_name", '""', "the name of a model in the repository")]
    if repository_models is not None and step.model_name not in repository_models:
        expected = f"a model in the repository (it has {sorted(repository_models)})"
        return [model.problem(f"{where}.model_name", repr(step.model_name), expected)]
    # Best effort: the step model's own config may be unreadable (reported on its own) or absent.
    step_config = _config_or_none(model.dir.parent / step.model_name / CONFIG_FILE)
    if step_config is None:
        return []
    problems = []
    for mapping, kind in (("input_map", "input"), ("output_map", "output")):
        names = sorted(tensor.name for tensor in getattr(step_config, kind))
        problems += [
            model.problem(f"{where}.{mapping}[{key!r}]", repr(key), f"an {kind} of {step.model_name!r} ({names})")
            for key in sorted(getattr(step, mapping))
            if names and key not in names  # a config without tensors is auto-completed by Triton
        ]
    return problems


def _config_or_none(file: Path) -> ModelConfig | None:
    try:
        return read_config(file)
    except InputError:
        return None
