"""Triton requests from numpy arrays: the tensors of a request built once (for either protocol, or
as gRPC's own ModelInferRequest message), and one synchronous gRPC inference."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Literal

import numpy as np
import tritonclient.grpc as grpcclient
import tritonclient.http as httpclient
from tritonclient.grpc import service_pb2
from tritonclient.utils import np_to_triton_dtype, serialize_byte_tensor

Protocol = Literal["grpc", "http"]


def request_tensors(
    inputs: Mapping[str, np.ndarray], outputs: Sequence[str] = (), protocol: Protocol = "grpc"
) -> tuple[list[Any], list[Any] | None]:
    """Input tensors serialised once (HTTP: as binary data, not JSON) and the requested outputs
    (None: all of them); the same objects can be sent many times."""
    client: Any = grpcclient if protocol == "grpc" else httpclient
    binary = {"binary_data": True} if protocol == "http" else {}
    tensors = []
    for name, array in inputs.items():
        tensor = client.InferInput(name, list(array.shape), np_to_triton_dtype(array.dtype))
        tensor.set_data_from_numpy(array, **binary)
        tensors.append(tensor)
    requested = [client.InferRequestedOutput(name, **binary) for name in outputs] or None
    return tensors, requested


def grpc_request(
    model: str, version: str, inputs: Mapping[str, np.ndarray], outputs: Sequence[str] = ()
) -> service_pb2.ModelInferRequest:
    """The whole gRPC request as one message, tensors as raw bytes (strings length-prefixed, as
    Triton reads BYTES), requested outputs by name (none: all): built once, sent as it is, so a
    load does not rebuild it per request the way tritonclient's infer() does."""
    request = service_pb2.ModelInferRequest(model_name=model, model_version=version)
    for name, array in inputs.items():
        datatype = np_to_triton_dtype(array.dtype)
        request.inputs.add(name=name, datatype=datatype, shape=array.shape)
        raw = serialize_byte_tensor(array).item() if datatype == "BYTES" else np.ascontiguousarray(array).tobytes()
        request.raw_input_contents.append(raw)
    for name in outputs:
        request.outputs.add(name=name)
    return request


def infer_once(
    client: grpcclient.InferenceServerClient,
    model: str,
    inputs: Mapping[str, np.ndarray],
    outputs: Sequence[str] = (),
) -> dict[str, np.ndarray]:
    """Run `model` on `inputs`; ask for `outputs` only (all of them when empty)."""
    tensors, requested = request_tensors(inputs, outputs)
    result = client.infer(model, tensors, outputs=requested)
    names = outputs or [o.name for o in result.get_response().outputs]
    return {name: result.as_numpy(name) for name in names}
