"""Triton requests from numpy arrays: the tensors of a request built once (for either protocol),
and one synchronous gRPC inference."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Literal

import numpy as np
import tritonclient.grpc as grpcclient
import tritonclient.http as httpclient
from tritonclient.utils import np_to_triton_dtype

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
