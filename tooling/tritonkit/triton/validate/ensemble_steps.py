"""An ensemble against its composing models: they exist (in the versions asked for), do not lead back
to the ensemble, batch at least as much, and agree with the tensors the steps connect."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from tritonclient.grpc import model_config_pb2 as mc
from tritonclient.grpc.model_config_pb2 import ModelConfig

from tritonkit.triton.validate.ensemble import ready_order, step_field
from tritonkit.triton.validate.layout import bad_name
from tritonkit.triton.validate.problem import Model, Problem

LATEST = -1


@dataclass(frozen=True)
class Composing:
    """A composing model as Triton would load it."""

    exists: bool  # its directory is in the repository
    config: ModelConfig | None  # None where its config.pbtxt cannot be read (reported with that model)
    served: tuple[int, ...]
    problems: int = 0  # its own problems (not counted for nested ensembles: they are checked on their own)


Lookup = Callable[[str], Composing]


@dataclass(frozen=True)
class _Tensor:
    """What a step or the ensemble declares about an ensemble tensor."""

    data_type: int
    dims: tuple[int, ...]
    batching: bool
    origin: str

    @property
    def full_dims(self) -> tuple[int, ...]:
        return (-1, *self.dims) if self.batching else self.dims

    def describe(self) -> str:
        return f"{mc.DataType.Name(self.data_type)} {list(self.full_dims)} (from {self.origin})"


def check_steps(model: Model, lookup: Lookup) -> list[Problem]:
    config = model.config
    steps = config.ensemble_scheduling.step
    batching = config.max_batch_size > 0
    known: dict[str, _Tensor] = {}
    problems = []
    for kind in ("input", "output"):
        for tensor in getattr(config, kind):
            dims = tuple(tensor.reshape.shape if tensor.HasField("reshape") else tensor.dims)
            known.setdefault(tensor.name, _Tensor(tensor.data_type, dims, batching, f"ensemble {kind} {tensor.name!r}"))
    decoupled: dict[int, bool] = {}
    for index, step in enumerate(steps):
        if not step.model_name or bad_name(step.model_name):
            continue  # reported with the step
        where = step_field(index, step)
        composing = lookup(step.model_name)
        if not composing.exists:
            expected = f"a model directory in {model.repository}"
            problems.append(model.problem(f"{where}.model_name", repr(step.model_name), expected))
            continue
        problems += _cycle(model, where, step.model_name, lookup)
        if composing.problems:
            expected = f"a model Triton can load ({step.model_name!r} has problems of its own: {composing.problems})"
            problems.append(model.problem(f"{where}.model_name", repr(step.model_name), expected))
        if composing.config is None:
            continue
        decoupled[index] = composing.config.model_transaction_policy.decoupled
        problems += _version(model, where, step, composing)
        problems += _batch_size(model, where, step.model_name, composing.config)
        problems += _mapping(model, where, step, composing.config, known)
    return [*problems, *_decoupled(model, steps, decoupled)]


def _cycle(model: Model, where: str, name: str, lookup: Lookup) -> list[Problem]:
    """The chain of ensembles from step model `name` back to this ensemble, if there is one."""
    own = model.dir.name
    path = [own, name]
    seen = {name}
    frontier = [path]
    while frontier:
        chain = frontier.pop()
        if chain[-1] == own:
            expected = f"a model that does not lead back to {own!r} ({' -> '.join(chain)})"
            return [model.problem(f"{where}.model_name", repr(name), expected)]
        config = lookup(chain[-1]).config
        if config is None:
            continue
        for step in config.ensemble_scheduling.step:
            if step.model_name == own or step.model_name not in seen:
                seen.add(step.model_name)
                frontier.append([*chain, step.model_name])
    return []


def _version(model: Model, where: str, step: mc.ModelEnsembling.Step, composing: Composing) -> list[Problem]:
    if step.model_version == LATEST or step.model_version in composing.served:
        return []
    omitted = " (0 is what an omitted model_version means)" if step.model_version == 0 else ""
    expected = f"-1 (latest) or a version {step.model_name!r} serves {list(composing.served)}{omitted}"
    return [model.problem(f"{where}.model_version", str(step.model_version), expected)]


def _batch_size(model: Model, where: str, name: str, config: ModelConfig) -> list[Problem]:
    limit, own = config.max_batch_size, model.config.max_batch_size
    if limit == 0 or own <= limit:
        return []  # a batching ensemble may hold non-batching models: shapes are checked with the batch dim
    expected = f"<= {limit}, the max_batch_size of {name!r} ({where})"
    return [model.problem("max_batch_size", str(own), expected)]


def _mapping(
    model: Model, where: str, step: mc.ModelEnsembling.Step, config: ModelConfig, known: dict[str, _Tensor]
) -> list[Problem]:
    problems = []
    batching = config.max_batch_size > 0
    for mapping, kind in (("input_map", "input"), ("output_map", "output")):
        declared: Sequence[mc.ModelInput | mc.ModelOutput] = getattr(config, kind)
        tensors = {tensor.name: tensor for tensor in declared}
        entries: dict[str, str] = dict(getattr(step, mapping))
        for key, name in sorted(entries.items()):
            field = f"{where}.{mapping}[{key!r}]"
            tensor = tensors.get(key)
            if tensor is None:
                expected = f"an {kind} of {step.model_name!r} ({sorted(tensors)})"
                problems.append(model.problem(field, repr(key), expected))
                continue
            found = _Tensor(tensor.data_type, tuple(tensor.dims), batching, f"{kind} {key!r} of {step.model_name!r}")
            first = known.setdefault(name, found)
            if first is not found and not _consistent(first, found):
                value = f"{name!r}: {found.describe()}"
                problems.append(model.problem(field, value, f"{first.describe()}, the tensor's type and shape"))
        if mapping == "input_map":
            problems += [
                model.problem(
                    f"{where}.input_map",
                    f"no entry for {name!r}",
                    f"every non-optional input of {step.model_name!r} mapped",
                )
                for name, tensor in tensors.items()
                if name not in entries and not tensor.optional
            ]
    return problems


def _consistent(first: _Tensor, other: _Tensor) -> bool:
    """Triton's rule: the same type, and dims equal up to -1, with or without the batch dim."""
    return first.data_type == other.data_type and (
        _same_dims(first.dims, other.dims) or _same_dims(first.full_dims, other.full_dims)
    )


def _same_dims(left: tuple[int, ...], right: tuple[int, ...]) -> bool:
    return len(left) == len(right) and all(a == b or -1 in (a, b) for a, b in zip(left, right, strict=True))


def _decoupled(model: Model, steps: Sequence[mc.ModelEnsembling.Step], decoupled: dict[int, bool]) -> list[Problem]:
    """A step (or the ensemble's outputs) must not read tensors that come from different decoupled models:
    their responses do not pair up."""
    config = model.config
    lineage = {tensor.name: "the ensemble's inputs" for tensor in config.input}
    problems = []
    order, _ = ready_order(config, steps)
    readers = [(step_field(index, steps[index]), steps[index].input_map.values(), index) for index in order]
    for where, names, index in [*readers, ("output", [tensor.name for tensor in config.output], None)]:
        sources = sorted({lineage[name] for name in names if name in lineage})
        if len(sources) > 1:
            value = f"inputs from {' and '.join(sources)}"
            problems.append(model.problem(where, value, "inputs from one decoupled model at most (or none)"))
        if index is not None:
            step = steps[index]
            first = sources[0] if sources else "the ensemble's inputs"
            source = f"decoupled step {index} {step.model_name!r}" if decoupled.get(index) else first
            lineage.update(dict.fromkeys(step.output_map.values(), source))
    return problems
