"""Small ONNX graphs built in code, seeded: the tests' models, the demo's model until an export
exists, and the identity model that load-generator benchmarks measure overhead with."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

_OPSET = 17
_IR_VERSION = 9  # readable by every onnxruntime this project supports


def _save(graph: onnx.GraphProto, path: Path) -> Path:
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", _OPSET)])
    model.ir_version = _IR_VERSION
    onnx.checker.check_model(model)
    path.parent.mkdir(parents=True, exist_ok=True)
    onnx.save(model, str(path))
    return path


def mlp(
    path: Path, *, features: int = 16, hidden: int = 32, classes: int = 4, batch_dynamic: bool = True, seed: int = 0
) -> Path:
    """x[batch, features] -> logits = relu(x W1 + b1) W2 + b2, probabilities = softmax(logits)."""
    rng = np.random.default_rng(seed)
    weights = {
        "w1": rng.standard_normal((features, hidden)) / np.sqrt(features),
        "b1": rng.standard_normal(hidden) * 0.1,
        "w2": rng.standard_normal((hidden, classes)) / np.sqrt(hidden),
        "b2": rng.standard_normal(classes) * 0.1,
    }
    initializers = [numpy_helper.from_array(v.astype(np.float32), k) for k, v in weights.items()]
    nodes = [
        helper.make_node("MatMul", ["x", "w1"], ["h0"]),
        helper.make_node("Add", ["h0", "b1"], ["h1"]),
        helper.make_node("Relu", ["h1"], ["h"]),
        helper.make_node("MatMul", ["h", "w2"], ["l0"]),
        helper.make_node("Add", ["l0", "b2"], ["logits"]),
        helper.make_node("Softmax", ["logits"], ["probabilities"], axis=-1),
    ]
    batch: str | int = "batch" if batch_dynamic else 1
    graph = helper.make_graph(
        nodes,
        "mlp",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [batch, features])],
        [
            helper.make_tensor_value_info("logits", TensorProto.FLOAT, [batch, classes]),
            helper.make_tensor_value_info("probabilities", TensorProto.FLOAT, [batch, classes]),
        ],
        initializers,
    )
    return _save(graph, path)


def identity(path: Path, *, dims: tuple[int | str, ...] = ("batch", 16), elem_type: int = TensorProto.FLOAT) -> Path:
    """output = input: all that remains of a request's latency is serving overhead."""
    graph = helper.make_graph(
        [helper.make_node("Identity", ["input"], ["output"])],
        "identity",
        [helper.make_tensor_value_info("input", elem_type, list(dims))],
        [helper.make_tensor_value_info("output", elem_type, list(dims))],
    )
    return _save(graph, path)
