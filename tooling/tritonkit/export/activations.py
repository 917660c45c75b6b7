"""What a graph's weight MatMuls read on real inputs: the activations int8 must represent, which
smoothing sizes its scales by and the sensitivity ranking quantizes (export.int8_graphs)."""

from __future__ import annotations

import numpy as np
import onnx
import onnxruntime as ort
from onnx import helper

from tritonkit.export.tasks import Batch


def weight_matmuls_by_input(model: onnx.ModelProto) -> dict[str, list[int]]:
    """MatMuls with a 2-D constant weight (their places in the node list: names may repeat), by
    the activation they read: Q, K and V read one."""
    weights = {init.name: init for init in model.graph.initializer}
    groups: dict[str, list[int]] = {}
    for place, node in enumerate(model.graph.node):
        weight = weights.get(node.input[1]) if node.op_type == "MatMul" else None
        if weight is not None and len(weight.dims) == 2:
            groups.setdefault(node.input[0], []).append(place)
    return groups


def read_rows(model: onnx.ModelProto, activations: list[str], batches: list[Batch]) -> dict[str, np.ndarray]:
    """Each activation on every batch, one row per real token (or image patch): padding's
    activations are never used downstream, so they must not size anything."""
    probe = onnx.ModelProto()
    probe.CopyFrom(model)
    probe.graph.output.extend(helper.make_tensor_value_info(n, onnx.TensorProto.FLOAT, None) for n in activations)
    session = ort.InferenceSession(probe.SerializeToString(), providers=["CPUExecutionProvider"])
    feeds = [i.name for i in session.get_inputs()]
    rows: dict[str, list[np.ndarray]] = {name: [] for name in activations}
    for batch in batches:
        mask = batch.get("attention_mask")
        for name, value in zip(activations, session.run(activations, {n: batch[n] for n in feeds}), strict=True):
            real = value[mask.astype(bool)] if mask is not None and value.shape[:2] == mask.shape else value
            rows[name].append(real.reshape(-1, value.shape[-1]))
    return {name: np.concatenate(parts) for name, parts in rows.items()}
