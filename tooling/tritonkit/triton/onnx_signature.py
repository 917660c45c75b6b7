"""Read an ONNX graph's inputs and outputs (names, Triton dtypes, dims) without running it, and the
external data files its weights live in."""

from __future__ import annotations

import enum
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

import onnx
from onnx import TensorProto
from onnx.external_data_helper import _get_all_tensors, uses_external_data

from tritonkit.errors import InputError
from tritonkit.inputs import listed

DYNAMIC = -1

# ONNX element types that Triton can carry, mapped to Triton's DataType names.
_TRITON_DTYPE: dict[int, str] = {
    TensorProto.BOOL: "TYPE_BOOL",
    TensorProto.UINT8: "TYPE_UINT8",
    TensorProto.UINT16: "TYPE_UINT16",
    TensorProto.UINT32: "TYPE_UINT32",
    TensorProto.UINT64: "TYPE_UINT64",
    TensorProto.INT8: "TYPE_INT8",
    TensorProto.INT16: "TYPE_INT16",
    TensorProto.INT32: "TYPE_INT32",
    TensorProto.INT64: "TYPE_INT64",
    TensorProto.FLOAT16: "TYPE_FP16",
    TensorProto.FLOAT: "TYPE_FP32",
    TensorProto.DOUBLE: "TYPE_FP64",
    TensorProto.STRING: "TYPE_STRING",
    TensorProto.BFLOAT16: "TYPE_BF16",
}


@dataclass(frozen=True)
class TensorSignature:
    name: str
    data_type: str  # Triton DataType name, e.g. "TYPE_FP32"
    dims: tuple[int, ...]  # full ONNX shape; DYNAMIC where symbolic or unknown
    shaped: bool = True  # False where the graph gives no shape at all (unknown rank)


@dataclass(frozen=True)
class OnnxSignature:
    inputs: tuple[TensorSignature, ...]
    outputs: tuple[TensorSignature, ...]

    @property
    def batchable(self) -> bool:
        """True when every input and output has a dynamic first dimension (Triton's batch dim)."""
        tensors = self.inputs + self.outputs
        return all(t.dims and t.dims[0] == DYNAMIC for t in tensors)


def _tensor(value_info: onnx.ValueInfoProto, path: Path) -> TensorSignature:
    tensor_type = value_info.type.tensor_type
    data_type = _TRITON_DTYPE.get(tensor_type.elem_type)
    if data_type is None:
        raise InputError(
            f"{path}: tensor '{value_info.name}' has ONNX element type "
            f"{TensorProto.DataType.Name(tensor_type.elem_type)}, which Triton cannot serve"
        )
    dims = tuple(d.dim_value if d.HasField("dim_value") and d.dim_value > 0 else DYNAMIC for d in tensor_type.shape.dim)
    return TensorSignature(value_info.name, data_type, dims, shaped=tensor_type.HasField("shape"))


def _load(path: Path) -> onnx.ModelProto:
    """The graph without its external data. Only regular files: a FIFO or a device would block or never end."""
    if not path.exists():
        raise InputError(f"{path}: no such ONNX file")
    if not path.is_file():
        raise InputError(f"{path}: not a regular file; expected an ONNX model file")
    if path.stat().st_size == 0:
        raise InputError(f"{path}: the file is empty (0 bytes); expected an ONNX model")
    try:
        return onnx.load(str(path), load_external_data=False)
    except Exception as exc:  # onnx raises DecodeError and others for a corrupt file
        raise InputError(f"{path}: not a readable ONNX model ({exc})") from None


def read_signature(path: Path) -> OnnxSignature:
    """The graph's feedable inputs (initializers excluded) and its outputs."""
    return signature_of(_load(path), path)


def signature_of(model: onnx.ModelProto, path: Path) -> OnnxSignature:
    """read_signature of a model already loaded from `path` (a large graph is parsed once)."""
    graph = model.graph
    initializers = {init.name for init in graph.initializer}
    inputs = tuple(_tensor(v, path) for v in graph.input if v.name not in initializers)
    outputs = tuple(_tensor(v, path) for v in graph.output)
    return OnnxSignature(inputs, outputs)


class DataFault(enum.Enum):
    """Why ONNX Runtime could not read a tensor's external data beside its model file."""

    NOT_RELATIVE = "an absolute path or '..'"
    OUTSIDE = "resolves outside the model's directory"
    MISSING = "no such file"
    SHORT = "shorter than its tensors need"


def external_tensors(model: onnx.ModelProto) -> Iterator[tuple[str, str, int]]:
    """(tensor name, location, where its data ends; 0 where no length is given) for every tensor
    stored outside the graph: initializers and Constant attributes, in subgraphs too."""
    for tensor in _get_all_tensors(model):
        if uses_external_data(tensor):
            entries = {entry.key: entry.value for entry in tensor.external_data}
            offset, length = entries.get("offset", "0"), entries.get("length", "")
            end = int(offset) + int(length) if offset.isdigit() and length.isdigit() else 0
            yield tensor.name, entries.get("location", ""), end


def external_data_fault(model_file: Path, location: str, end: int) -> DataFault | None:
    """ONNX Runtime opens a location relative to the model file's directory, so it must stay inside
    that directory (no absolute path, no `..`, no symbolic link resolving elsewhere: a link in a
    downloaded archive must not pull an unrelated local file into a deployed repository), exist as
    a regular file, and be long enough for its tensors."""
    relative = PurePosixPath(location)
    data = (model_file.parent / location).resolve()
    if not location or relative.is_absolute() or ".." in relative.parts:
        return DataFault.NOT_RELATIVE
    if not data.is_relative_to(model_file.parent.resolve()):
        return DataFault.OUTSIDE
    if not data.is_file():
        return DataFault.MISSING
    if data.stat().st_size < end:
        return DataFault.SHORT
    return None


def external_data_files(path: Path) -> dict[str, Path]:
    """The files holding the graph's external data: {location as written in the graph: the file}.
    Raises InputError listing every location external_data_fault refuses."""
    model = _load(path)
    directory = path.parent.resolve()
    needed: dict[str, int] = {}  # location -> the bytes its tensors need
    for _, location, end in external_tensors(model):
        needed[location] = max(needed.get(location, 0), end)
    files: dict[str, Path] = {}
    problems: list[str] = []
    for location, end in sorted(needed.items()):
        source = (path.parent / location).resolve()
        fault = external_data_fault(path, location, end)
        if fault is DataFault.NOT_RELATIVE:
            problems.append(f"'{location}': expected a path relative to the model's directory, without '..'")
        elif fault is DataFault.OUTSIDE:
            problems.append(f"'{location}' resolves to {source}, outside {directory}: copy the file there")
        elif fault is DataFault.MISSING:
            problems.append(f"'{location}': no such file in {directory}")
        elif fault is DataFault.SHORT:
            problems.append(f"'{location}': {source.stat().st_size} bytes, but its tensors need {end}")
        else:
            files[str(PurePosixPath(location))] = source
    if problems:
        raise InputError(f"{path}: external data that cannot be copied along:\n" + listed([f"  {p}" for p in problems]))
    return files
