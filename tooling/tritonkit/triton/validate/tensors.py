"""A config's tensor declarations: inputs, outputs, reshapes, batch inputs and batch outputs."""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence

from tritonclient.grpc import model_config_pb2 as mc
from tritonclient.grpc.model_config_pb2 import ModelConfig

from tritonkit.triton.validate.problem import Model, Problem, named

DYNAMIC = -1
_TENSORRT_PLATFORM = "tensorrt_plan"
_BATCH_INPUT_TYPES = (mc.TYPE_INT32, mc.TYPE_FP32)
_LAYOUT_FORMATS = (mc.ModelInput.FORMAT_NHWC, mc.ModelInput.FORMAT_NCHW)


def check_tensors(model: Model) -> list[Problem]:
    return [
        *_declarations(model, "input"),
        *_declarations(model, "output"),
        *_batch_inputs(model),
        *_batch_outputs(model),
    ]


def typed_dims(model: Model, where: str, data_type: int, dims: Iterable[int]) -> list[Problem]:
    """A tensor declaration's own problems: no data type, or a dim that is neither -1 nor positive."""
    problems = []
    if data_type == mc.TYPE_INVALID:
        problems.append(model.problem(f"{where}.data_type", "TYPE_INVALID", "a data type such as TYPE_FP32"))
    return problems + _bad_dims(model, f"{where}.dims", dims)


def fed_by_triton(config: ModelConfig) -> set[str]:
    """Model inputs that Triton feeds without a config `input`: sequence controls, states and batch inputs."""
    sequence = config.sequence_batching
    return (
        {control.name for control in sequence.control_input}
        | {state.input_name for state in sequence.state}
        | {name for batch_input in config.batch_input for name in batch_input.target_name}
    )


def _bad_dims(model: Model, field: str, dims: Iterable[int]) -> list[Problem]:
    return [
        model.problem(f"{field}[{index}]", str(dim), "-1 (dynamic) or >= 1")
        for index, dim in enumerate(dims)
        if dim != DYNAMIC and dim < 1
    ]


def _declarations(model: Model, kind: str) -> list[Problem]:
    problems: list[Problem] = []
    seen: set[str] = set()
    tensors: Sequence[mc.ModelInput | mc.ModelOutput] = getattr(model.config, kind)
    for index, tensor in enumerate(tensors):
        where = named(kind, index, tensor.name)
        if not tensor.name:
            problems.append(model.problem(f"{where}.name", '""', "a name"))
        elif tensor.name in seen:
            problems.append(model.problem(f"{where}.name", repr(tensor.name), f"a name unique among {kind}s"))
        seen.add(tensor.name)
        if not tensor.dims:
            expected = "at least one dim (a scalar is dims: [ 1 ] with reshape: { shape: [ ] })"
            problems.append(model.problem(f"{where}.dims", "[]", expected))
        problems += typed_dims(model, where, tensor.data_type, tensor.dims)
        if tensor.HasField("reshape"):
            problems += _reshape(model, where, tensor.dims, tensor.reshape.shape)
        problems += _tensorrt_only(model, where, tensor)
    return problems


def _tensorrt_only(model: Model, where: str, tensor: mc.ModelInput | mc.ModelOutput) -> list[Problem]:
    problems = []
    is_tensorrt = model.config.platform == _TENSORRT_PLATFORM
    if tensor.is_shape_tensor and not is_tensorrt:
        problems.append(model.problem(f"{where}.is_shape_tensor", "true", "false: shape tensors are TensorRT-only"))
    if tensor.is_non_linear_format_io and not is_tensorrt:
        expected = "false: non-linear formats are TensorRT-only"
        problems.append(model.problem(f"{where}.is_non_linear_format_io", "true", expected))
    elif tensor.is_non_linear_format_io and len(tensor.dims) != 3:
        expected = "3 dims for a non-linear format"
        problems.append(model.problem(f"{where}.dims", str(list(tensor.dims)), expected))
    if isinstance(tensor, mc.ModelInput) and tensor.format in _LAYOUT_FORMATS and len(tensor.dims) != 3:
        expected = f"3 dims (C, H, W in some order) for {mc.ModelInput.Format.Name(tensor.format)}"
        problems.append(model.problem(f"{where}.dims", str(list(tensor.dims)), expected))
    return problems


def _reshape(model: Model, where: str, dims: Sequence[int], shape: Sequence[int]) -> list[Problem]:
    """Triton's rule: the same element count, and where dims vary, the same fixed blocks between the -1s."""
    field = f"{where}.reshape.shape"
    if not shape and model.config.max_batch_size == 0:
        expected = "a non-empty shape: without batching the tensor would be a scalar, which Triton does not support"
        return [model.problem(field, "[]", expected)]
    problems = _bad_dims(model, field, shape)
    if problems or any(dim != DYNAMIC and dim < 1 for dim in dims):
        return problems  # element counts of bad dims mean nothing
    if not shape:
        fits = _count(dims) == 1
        expected = "dims of one element, e.g. [ 1 ], for an empty (scalar) reshape"
    else:
        fits = _blocks(dims) == _blocks(shape)
        expected = f"as many elements as dims {list(dims)}, with -1s between equal-sized fixed blocks"
    return [] if fits else [model.problem(field, str(list(shape)), expected)]


def _count(dims: Sequence[int]) -> int:
    return DYNAMIC if DYNAMIC in dims else math.prod(dims)


def _blocks(dims: Sequence[int]) -> list[int]:
    """The element counts of the runs of fixed dims between variable ones: [2, 4, -1, 6] -> [8, 6]."""
    blocks = [1]
    for dim in dims:
        if dim == DYNAMIC:
            blocks.append(1)
        else:
            blocks[-1] *= dim
    return blocks


def _batch_inputs(model: Model) -> list[Problem]:
    inputs = {tensor.name for tensor in model.config.input}
    kinds = mc.BatchInput.Kind
    problems = []
    targets: set[str] = set()
    for index, batch_input in enumerate(model.config.batch_input):
        where = named("batch_input", index, ", ".join(batch_input.target_name))
        if batch_input.kind not in kinds.values():
            problems.append(model.problem(f"{where}.kind", str(batch_input.kind), f"one of {list(kinds.keys())}"))
        else:
            problems += _sources(model, where, kinds.Name(batch_input.kind), batch_input.source_input, inputs)
        if batch_input.data_type not in _BATCH_INPUT_TYPES:
            expected = "TYPE_INT32 or TYPE_FP32"
            problems.append(model.problem(f"{where}.data_type", mc.DataType.Name(batch_input.data_type), expected))
        if not batch_input.target_name:
            problems.append(model.problem(f"{where}.target_name", "[]", "the model input it feeds"))
        problems += _duplicates(model, f"{where}.target_name", batch_input.target_name, targets)
    return problems


def _batch_outputs(model: Model) -> list[Problem]:
    inputs = {tensor.name for tensor in model.config.input}
    outputs = {tensor.name for tensor in model.config.output}
    kinds = mc.BatchOutput.Kind
    problems = []
    for index, batch_output in enumerate(model.config.batch_output):
        where = named("batch_output", index, ", ".join(batch_output.target_name))
        if batch_output.kind not in kinds.values():
            problems.append(model.problem(f"{where}.kind", str(batch_output.kind), f"one of {list(kinds.keys())}"))
        else:
            problems += _sources(model, where, kinds.Name(batch_output.kind), batch_output.source_input, inputs)
        problems += [
            model.problem(f"{where}.target_name[{number}]", repr(name), f"a config output ({sorted(outputs)})")
            for number, name in enumerate(batch_output.target_name)
            if name not in outputs
        ]
        problems += _duplicates(model, f"{where}.target_name", batch_output.target_name, set())
    return problems


def _sources(model: Model, where: str, kind: str, sources: Sequence[str], inputs: set[str]) -> list[Problem]:
    if len(sources) != 1:
        return [model.problem(f"{where}.source_input", str(list(sources)), f"exactly one source input for {kind}")]
    if sources[0] not in inputs:
        return [model.problem(f"{where}.source_input[0]", repr(sources[0]), f"a config input ({sorted(inputs)})")]
    return []


def _duplicates(model: Model, field: str, names: Sequence[str], seen: set[str]) -> list[Problem]:
    """Names already in `seen` (which collects them): a tensor is the target of one batch input or output."""
    problems = []
    for number, name in enumerate(names):
        if name in seen:
            problems.append(model.problem(f"{field}[{number}]", repr(name), "a target named once"))
        seen.add(name)
    return problems
