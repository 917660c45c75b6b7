"""One synchronous inference over gRPC: numpy arrays in, numpy arrays out."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import tritonclient.grpc as grpcclient
from tritonclient.utils import np_to_triton_dtype


def infer_once(
    client: grpcclient.InferenceServerClient,
    model: str,
    inputs: Mapping[str, np.ndarray],
    outputs: Sequence[str] = (),
) -> dict[str, np.ndarray]:
    """Run `model` on `inputs`; ask for `outputs` only (all of them when empty)."""
    tensors = []
    for name, array in inputs.items():
        tensor = grpcclient.InferInput(name, list(array.shape), np_to_triton_dtype(array.dtype))
        tensor.set_data_from_numpy(array)
        tensors.append(tensor)
    requested = [grpcclient.InferRequestedOutput(name) for name in outputs] or None
    result = client.infer(model, tensors, outputs=requested)
    names = outputs or [o.name for o in result.get_response().outputs]
    return {name: result.as_numpy(name) for name in names}
