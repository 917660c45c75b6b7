"""An ensemble's own config: the fields it may have, its steps, and the data flow between them.

Checks against the composing models' configs live in ensemble_steps.py.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

from tritonclient.grpc import model_config_pb2 as mc

from tritonkit.triton.validate.layout import bad_name
from tritonkit.triton.validate.problem import Model, Problem, named

# Fields Triton refuses in an ensemble's config: its steps' models own these.
_NOT_FOR_ENSEMBLES = ("instance_group", "optimization", "model_warmup")


def step_field(index: int, step: mc.ModelEnsembling.Step) -> str:
    return named("ensemble_scheduling.step", index, step.model_name)


def is_scheduled_ensemble(model: Model) -> bool:
    return model.is_ensemble and model.config.WhichOneof("scheduling_choice") == "ensemble_scheduling"


def check_ensemble(model: Model) -> list[Problem]:
    config = model.config
    scheduled = config.WhichOneof("scheduling_choice") == "ensemble_scheduling"
    if model.is_ensemble and not scheduled:
        return [model.problem("ensemble_scheduling", "missing", "the ensemble's steps, since platform is 'ensemble'")]
    if scheduled and not model.is_ensemble:
        return [model.problem("platform", repr(config.platform), "'ensemble', since ensemble_scheduling is set")]
    if not scheduled:
        return []
    present = {field.name for field, _ in config.ListFields()}
    problems = [
        model.problem(name, "set", "nothing: an ensemble's step models own it")
        for name in _NOT_FOR_ENSEMBLES
        if name in present
    ]
    steps = config.ensemble_scheduling.step
    if not steps:
        return [*problems, model.problem("ensemble_scheduling.step", "[]", "at least one step")]
    for index, step in enumerate(steps):
        problems += _step(model, index, step)
    return [*problems, *_produced_once(model, steps), *_flow(model, steps)]


def _step(model: Model, index: int, step: mc.ModelEnsembling.Step) -> list[Problem]:
    where = step_field(index, step)
    problems = []
    if not step.model_name:
        problems.append(model.problem(f"{where}.model_name", '""', "the name of a model in the repository"))
    elif (reason := bad_name(step.model_name)) is not None:
        problems.append(model.problem(f"{where}.model_name", repr(step.model_name), f"a model name, not {reason}"))
    problems += [
        model.problem(f"{where}.{mapping}", "{}", f"at least one entry: {what}")
        for mapping, what in (("input_map", "what the step reads"), ("output_map", "what the step writes"))
        if not getattr(step, mapping)
    ]
    return problems


def _produced_once(model: Model, steps: Sequence[mc.ModelEnsembling.Step]) -> list[Problem]:
    """A tensor has one producer: one step's output_map, or the ensemble's inputs."""
    inputs = {tensor.name for tensor in model.config.input}
    producers: Counter[str] = Counter()
    problems = []
    for index, step in enumerate(steps):
        for key, tensor in sorted(step.output_map.items()):
            field = f"{step_field(index, step)}.output_map[{key!r}]"
            if tensor in inputs:
                problems.append(model.problem(field, repr(tensor), "a new tensor: this name is an ensemble input"))
            elif producers[tensor]:
                problems.append(model.problem(field, repr(tensor), "a tensor no other step produces"))
            producers[tensor] += 1
    return problems


def _flow(model: Model, steps: Sequence[mc.ModelEnsembling.Step]) -> list[Problem]:
    """Every tensor computed from the ensemble's inputs, every one read by a step or returned."""
    config = model.config
    consumed = {tensor for step in steps for tensor in step.input_map.values()}
    produced = {tensor for step in steps for tensor in step.output_map.values()}
    ready = set(ready_order(config, steps)[1])
    problems = []
    for index, step in enumerate(steps):
        where = step_field(index, step)
        for key, tensor in sorted(step.input_map.items()):
            if tensor not in produced and tensor not in {t.name for t in config.input}:
                expected = "an ensemble input or a tensor some step produces"
            elif tensor not in ready:
                expected = "a tensor computed from the ensemble's inputs (this one depends on a cycle among the steps)"
            else:
                continue
            problems.append(model.problem(f"{where}.input_map[{key!r}]", repr(tensor), expected))
        outputs = {tensor.name for tensor in config.output}
        problems += [
            model.problem(
                f"{where}.output_map[{key!r}]", repr(tensor), "an ensemble output or a tensor some step consumes"
            )
            for key, tensor in sorted(step.output_map.items())
            if tensor not in outputs and tensor not in consumed
        ]
    for kind, names, how in (("input", consumed, "consumed by"), ("output", produced, "produced by")):
        problems += [
            model.problem(f"{named(kind, index, tensor.name)}.name", repr(tensor.name), f"a tensor {how} some step")
            for index, tensor in enumerate(getattr(config, kind))
            if tensor.name not in names
        ]
    return problems


def ready_order(config: mc.ModelConfig, steps: Sequence[mc.ModelEnsembling.Step]) -> tuple[list[int], list[str]]:
    """The steps in the order their inputs become available from the ensemble's inputs, and the
    tensors that do; steps missing from the order never run."""
    ready = [tensor.name for tensor in config.input]
    order: list[int] = []
    progressed = True
    while progressed:
        progressed = False
        for index, step in enumerate(steps):
            if index not in order and all(tensor in ready for tensor in step.input_map.values()):
                order.append(index)
                ready += [tensor for tensor in step.output_map.values() if tensor not in ready]
                progressed = True
    return order, ready
