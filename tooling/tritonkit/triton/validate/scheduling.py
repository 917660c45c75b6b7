"""A model's batching scheduler: dynamic batching or sequence batching (ensembles: see ensemble.py)."""

from __future__ import annotations

from collections.abc import Iterable

from tritonclient.grpc import model_config_pb2 as mc

from tritonkit.triton.validate.problem import Model, Problem, data_source, named
from tritonkit.triton.validate.tensors import typed_dims

_CONTROL = mc.ModelSequenceBatching.Control
_FALSE_TRUE = ("int32_false_true", "fp32_false_true", "bool_false_true")
_CORRID_TYPES = frozenset({mc.TYPE_UINT64, mc.TYPE_INT64, mc.TYPE_UINT32, mc.TYPE_INT32, mc.TYPE_STRING})


def check_scheduling(model: Model) -> list[Problem]:
    scheduler = model.config.WhichOneof("scheduling_choice")
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
        # Triton ignores it; a level without levels is a config that does not do what it says.
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
    utilization = sequence.direct.minimum_slot_utilization
    if not 0.0 <= utilization <= 1.0:
        field = "sequence_batching.direct.minimum_slot_utilization"
        problems.append(model.problem(field, str(utilization), "within 0.0..1.0"))
    problems += _control_inputs(model, sequence)
    for index, state in enumerate(sequence.state):
        where = named("sequence_batching.state", index, state.input_name)
        problems += [
            model.problem(f"{where}.{name}", '""', "the model tensor that carries the state")
            for name in ("input_name", "output_name")
            if not getattr(state, name)
        ]
        problems += typed_dims(model, where, state.data_type, state.dims)
        problems += _initial_state(model, where, state)
    return problems


def _initial_state(model: Model, where: str, state: mc.ModelSequenceBatching.State) -> list[Problem]:
    """The value a state starts a sequence with: one at most, concrete, matching the state."""
    if len(state.initial_state) > 1:
        return [model.problem(f"{where}.initial_state", f"{len(state.initial_state)} entries", "at most one")]
    problems = []
    for initial in state.initial_state:
        field = named(f"{where}.initial_state", 0, initial.name)
        if not initial.name:
            problems.append(model.problem(f"{field}.name", '""', "a name (Triton requires one)"))
        if initial.data_type != state.data_type:
            expected = f"{mc.DataType.Name(state.data_type)}, the state's type"
            problems.append(model.problem(f"{field}.data_type", mc.DataType.Name(initial.data_type), expected))
        if len(initial.dims) != len(state.dims):
            expected = f"rank {len(state.dims)}, like the state's dims {list(state.dims)}"
            problems.append(model.problem(f"{field}.dims", str(list(initial.dims)), expected))
        else:
            problems += [
                model.problem(f"{field}.dims[{number}]", str(dim), f"{fixed if fixed != -1 else '>= 1'}: concrete")
                for number, (dim, fixed) in enumerate(zip(initial.dims, state.dims, strict=True))
                if dim < 1 or (fixed != -1 and dim != fixed)
            ]
        source = initial.WhichOneof("state_data")
        problems += data_source(model, field, source, "zero_data or data_file", "initial_state", initial.data_file)
    return problems


def _control_inputs(model: Model, sequence: mc.ModelSequenceBatching) -> list[Problem]:
    """Each control tensor once, each control kind on one tensor, each control carrying what its kind needs."""
    problems = []
    tensors: set[str] = set()
    kinds: dict[int, str] = {}  # control kind -> the tensor that carries it
    for index, control_input in enumerate(sequence.control_input):
        where = named("sequence_batching.control_input", index, control_input.name)
        if not control_input.name:
            problems.append(model.problem(f"{where}.name", '""', "the name of the model input the control is fed to"))
        elif control_input.name in tensors:
            expected = "a tensor named by one control_input (one tensor per control kind)"
            problems.append(model.problem(f"{where}.name", repr(control_input.name), expected))
        tensors.add(control_input.name)
        if not control_input.control:
            problems.append(model.problem(f"{where}.control", "[]", "at least one control"))
        for number, control in enumerate(control_input.control):
            field = f"{where}.control[{number}]"
            kind = _CONTROL.Kind.Name(control.kind)
            if control.kind in kinds:
                expected = f"one tensor per control kind: {kinds[control.kind]!r} already carries {kind}"
                problems.append(model.problem(f"{field}.kind", kind, expected))
            kinds.setdefault(control.kind, control_input.name)
            problems += _control(model, field, control)
    return problems


def _control(model: Model, where: str, control: mc.ModelSequenceBatching.Control) -> list[Problem]:
    # `kind` is an enum whose zero is CONTROL_SEQUENCE_START, so an omitted kind reads as START:
    # what can be checked is that the control carries what its kind needs.
    kind = _CONTROL.Kind.Name(control.kind)
    given = {name: list(getattr(control, name)) for name in _FALSE_TRUE if getattr(control, name)}
    if control.kind == _CONTROL.CONTROL_SEQUENCE_CORRID:
        problems = []
        if given:
            problems.append(model.problem(where, f"{kind} with {given}", "no false/true values: it carries the id"))
        if control.data_type not in _CORRID_TYPES:
            expected = f"the correlation id's type, one of {sorted(mc.DataType.Name(t) for t in _CORRID_TYPES)}"
            problems.append(model.problem(f"{where}.data_type", mc.DataType.Name(control.data_type), expected))
        return problems
    if len(given) == 1 and all(len(values) == 2 for values in given.values()):
        return []
    expected = f"exactly one of {', '.join(_FALSE_TRUE)} with two values [false, true] for {kind}"
    return [model.problem(where, f"{kind} with {given or 'no values'}", expected)]
