"""Validation of a model's inputs and outputs, and, for ONNX models, of the config against the graph."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path

from tritonclient.grpc import model_config_pb2 as mc
from tritonclient.grpc.model_config_pb2 import ModelConfig

from tritonkit.errors import InputError
from tritonkit.triton.model_config import ONNX_PLATFORM
from tritonkit.triton.onnx_signature import DYNAMIC, TensorSignature, read_signature
from tritonkit.triton.validate_problem import Model, Problem


def check_io(model: Model) -> list[Problem]:
    problems = [*_tensors(model, "input"), *_tensors(model, "output")]
    config = model.config
    if config.platform == ONNX_PLATFORM or config.backend == "onnxruntime":
        for file in model.model_files:
            if file.is_file():  # a missing file is reported with the version directories
                problems += _against_graph(model, file)
    return problems


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


def _tensors(model: Model, kind: str) -> list[Problem]:
    problems: list[Problem] = []
    seen: set[str] = set()
    for index, tensor in enumerate(getattr(model.config, kind)):
        where = f"{kind}[{index}]"
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
            problems += _reshape(model, f"{where}.reshape.shape", tensor.reshape.shape)
    return problems


def _reshape(model: Model, field: str, shape: Sequence[int]) -> list[Problem]:
    if not shape and model.config.max_batch_size == 0:
        expected = "a non-empty shape: without batching the tensor would be a scalar, which Triton does not support"
        return [model.problem(field, "[]", expected)]
    return _bad_dims(model, field, shape)


def _against_graph(model: Model, file: Path) -> list[Problem]:
    try:
        signature = read_signature(file)
    except InputError as exc:
        return [Problem(file, "<graph>", str(exc).removeprefix(f"{file}: "), "an ONNX model that onnx can load")]
    problems: list[Problem] = []
    for kind, graph_tensors in (("input", signature.inputs), ("output", signature.outputs)):
        graph = {tensor.name: tensor for tensor in graph_tensors}
        for index, tensor in enumerate(getattr(model.config, kind)):
            where = f"{kind}[{index}]"
            found = graph.get(tensor.name)
            if found is None:
                expected = f"one of the graph's {kind}s {sorted(graph)} ({file})"
                problems.append(model.problem(f"{where}.name", repr(tensor.name), expected))
            else:
                problems += _compare(model, where, tensor, found)
    fed = {tensor.name for tensor in model.config.input} | fed_by_triton(model.config)
    problems += [
        model.problem(
            "input",
            f"no entry for graph input {tensor.name!r}",
            f"every input of the graph {file} configured: ONNX Runtime needs every input fed",
        )
        for tensor in signature.inputs
        if tensor.name not in fed
    ]
    return problems


def _compare(model: Model, where: str, tensor: mc.ModelInput | mc.ModelOutput, graph: TensorSignature) -> list[Problem]:
    problems = []
    data_type = mc.DataType.Name(tensor.data_type)
    if data_type != graph.data_type:
        problems.append(model.problem(f"{where}.data_type", data_type, f"{graph.data_type}, the graph's type"))
    graph_dims: Sequence[int] = graph.dims
    batch_size = model.config.max_batch_size
    if batch_size > 0:
        if not graph_dims or graph_dims[0] != DYNAMIC:
            expected = f"0: the graph's {graph.name!r} has shape {list(graph_dims)}, no dynamic first (batch) dim"
            return [*problems, model.problem("max_batch_size", str(batch_size), expected)]
        graph_dims = graph_dims[1:]  # Triton's batch dim is not part of the config's dims
    # With a reshape, the graph sees reshape.shape, not dims.
    reshaped = tensor.HasField("reshape")
    field, dims = (f"{where}.reshape.shape", tensor.reshape.shape) if reshaped else (f"{where}.dims", tensor.dims)
    after_batch = " after the batch dim" if batch_size > 0 else ""
    if len(dims) != len(graph_dims):
        expected = f"rank {len(graph_dims)}, like the graph's shape {list(graph_dims)}{after_batch}"
        return [*problems, model.problem(field, str(list(dims)), expected)]
    problems += [
        model.problem(f"{field}[{index}]", str(dim), f"{fixed}, the graph's dim{after_batch}")
        for index, (dim, fixed) in enumerate(zip(dims, graph_dims, strict=True))
        if fixed != DYNAMIC and dim != fixed
    ]
    return problems
