"""An ONNX model file: readable as ONNX, its external data inside the model directory, and the config
against its graph."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import onnx
from tritonclient.grpc import model_config_pb2 as mc

from tritonkit.errors import InputError
from tritonkit.triton.model_config import ONNX_PLATFORM
from tritonkit.triton.onnx_signature import (
    DYNAMIC,
    DataFault,
    TensorSignature,
    external_data_fault,
    external_tensors,
    signature_of,
)
from tritonkit.triton.validate.problem import Model, Problem, named
from tritonkit.triton.validate.tensors import fed_by_triton

_READABLE = "an ONNX model that onnx can load"


def check_onnx(model: Model) -> list[Problem]:
    config = model.config
    if config.platform != ONNX_PLATFORM and config.backend != "onnxruntime":
        return []
    problems = []
    for file in model.model_files:
        # Missing, empty or folder model files are reported with the version directories.
        if file.is_file() and file.stat().st_size > 0:
            problems += _file(model, file)
    return problems


def _file(model: Model, file: Path) -> list[Problem]:
    try:
        proto = onnx.load(str(file), load_external_data=False)
    except Exception as exc:  # onnx raises DecodeError and others for a corrupt file
        return [Problem(file, "<graph>", f"not a readable ONNX model ({exc})", _READABLE)]
    if proto.ir_version < 1 or not proto.opset_import or not proto.graph.output:
        # Bytes that happen to decode as a protobuf, e.g. a truncated or foreign file.
        state = f"ir_version {proto.ir_version}, {len(proto.opset_import)} opsets, {len(proto.graph.output)} outputs"
        return [Problem(file, "<graph>", f"not an ONNX model ({state})", _READABLE)]
    problems = _external_data(file, proto)
    try:
        signature = signature_of(proto, file)
    except InputError as exc:
        return [*problems, Problem(file, "<graph>", str(exc).removeprefix(f"{file}: "), _READABLE)]
    for kind, graph_tensors in (("input", signature.inputs), ("output", signature.outputs)):
        problems += _against_graph(model, file, kind, graph_tensors)
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


def _external_data(file: Path, proto: onnx.ModelProto) -> list[Problem]:
    """External data: a relative path below the model file's folder, to a file long enough for its tensor."""
    problems = []
    for name, location, end in external_tensors(proto):
        field = f"<external data> {name!r}"
        data = file.parent / location
        fault = external_data_fault(file, location, end)
        if fault is DataFault.NOT_RELATIVE:
            expected = "a relative path below the model file's folder (no absolute path, no '..')"
            problems.append(Problem(file, field, repr(location), expected))
        elif fault is DataFault.OUTSIDE:
            expected = f"a file inside {file.parent}: ONNX Runtime refuses data outside the model's folder"
            problems.append(Problem(file, field, f"{location!r} resolves to {data.resolve()}", expected))
        elif fault is DataFault.MISSING:
            problems.append(Problem(file, field, f"{location!r} missing", f"the file {data}"))
        elif fault is DataFault.SHORT:
            expected = f"at least {end} bytes (offset + length)"
            problems.append(Problem(data, field, f"{data.stat().st_size} bytes", expected))
    return problems


def _against_graph(model: Model, file: Path, kind: str, graph_tensors: Sequence[TensorSignature]) -> list[Problem]:
    graph = {tensor.name: tensor for tensor in graph_tensors}
    problems: list[Problem] = []
    for index, tensor in enumerate(getattr(model.config, kind)):
        where = named(kind, index, tensor.name)
        found = graph.get(tensor.name)
        if found is None:
            expected = f"one of the graph's {kind}s {sorted(graph)} ({file})"
            problems.append(model.problem(f"{where}.name", repr(tensor.name), expected))
        else:
            problems += _compare(model, where, tensor, found)
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
