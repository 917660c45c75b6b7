"""Read an ONNX graph's inputs and outputs (names, Triton dtypes, dims) without running it."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import onnx
from onnx import TensorProto

from tritonkit.errors import InputError

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
    return TensorSignature(value_info.name, data_type, dims)


def read_signature(path: Path) -> OnnxSignature:
    """The graph's feedable inputs (initializers excluded) and its outputs."""
    try:
        model = onnx.load(str(path), load_external_data=False)
    except FileNotFoundError:
        raise InputError(f"{path}: no such ONNX file") from None
    except Exception as exc:  # onnx raises DecodeError and others for a corrupt file
        raise InputError(f"{path}: not a readable ONNX model ({exc})") from None
    graph = model.graph
    initializers = {init.name for init in graph.initializer}
    inputs = tuple(_tensor(v, path) for v in graph.input if v.name not in initializers)
    outputs = tuple(_tensor(v, path) for v in graph.output)
    return OnnxSignature(inputs, outputs)
