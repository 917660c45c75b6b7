"""SmoothQuant-style scale migration: a transformer's activations have a few outlier channels, and
one per-tensor int8 scale sized for them leaves the other channels a handful of levels. Dividing
each input channel j of a weight MatMul by s_j and multiplying row j of its weight by s_j gives
the same product, with the outliers moved into the weights, which int8 quantizes per output
channel. s_j = max|x_j|^alpha / max|w_j|^(1 - alpha), from the calibration inputs (Xiao et al., 2023).

A BERT-style encoder's LayerNorm output also feeds the residual, so the division cannot be folded
into the LayerNorm: it is one explicit Mul per MatMul input (shared by MatMuls reading the same
tensor, as Q, K and V do), a cheap elementwise op beside the product.
"""

from __future__ import annotations

import numpy as np
import onnx
from onnx import helper, numpy_helper

# The alphas tried, each quantized whole and scored on the calibration inputs; the best one is kept.
# 0.5 is the paper's default; on MiniLM 0.6-0.7 scored best, 0.8 moved too much into the weights.
ALPHAS = (0.5, 0.6, 0.7, 0.8)
_TINY = 1e-5  # floor for a channel's maxima: a dead channel must not divide by zero


def scales(rows: np.ndarray, weights: list[np.ndarray], alpha: float) -> np.ndarray:
    """s per input channel, for an activation's rows and the weights of the MatMuls reading it."""
    activation = np.maximum(np.abs(rows).max(axis=0), _TINY)
    weight = np.maximum(np.max([np.abs(w).max(axis=1) for w in weights], axis=0), _TINY)
    return (np.power(activation, alpha) / np.power(weight, 1 - alpha)).astype(np.float32)


def smoothed(
    model: onnx.ModelProto, groups: dict[str, list[int]], by_activation: dict[str, np.ndarray]
) -> onnx.ModelProto:
    """A copy of `model` whose weight MatMuls (`groups`, from activations.weight_matmuls_by_input) read
    their activation divided by its scales, with the weights' rows multiplied by them."""
    copy = onnx.ModelProto()
    copy.CopyFrom(model)
    graph = copy.graph
    weights = {init.name: numpy_helper.to_array(init) for init in graph.initializer}
    dividers: dict[str, onnx.NodeProto] = {}  # the smoothed activation → the Mul that makes it
    for activation, places in groups.items():
        factors, divided = by_activation[activation], f"{activation}_smoothed"
        graph.initializer.append(numpy_helper.from_array((1 / factors).astype(np.float32), f"{activation}_smoothing"))
        dividers[divided] = helper.make_node(
            "Mul", [activation, f"{activation}_smoothing"], [divided], name=f"{activation}_smooth"
        )
        for place in places:
            reader = graph.node[place]
            weight, scaled = weights[reader.input[1]], f"{reader.input[1]}_smoothed_{place}"
            graph.initializer.append(numpy_helper.from_array((weight * factors[:, None]).astype(weight.dtype), scaled))
            reader.input[0], reader.input[1] = divided, scaled
    _place_before_first_reader(graph, dividers)
    _drop_unread_initializers(graph)
    return copy


def _place_before_first_reader(graph: onnx.GraphProto, dividers: dict[str, onnx.NodeProto]) -> None:
    """Keep the node list topologically sorted, as ONNX requires."""
    ordered: list[onnx.NodeProto] = []
    for node in graph.node:
        ordered.extend(dividers.pop(name) for name in node.input if name in dividers)
        ordered.append(node)
    del graph.node[:]
    graph.node.extend(ordered)


def _drop_unread_initializers(graph: onnx.GraphProto) -> None:
    read = {name for node in graph.node for name in node.input} | {o.name for o in graph.output}
    kept = [init for init in graph.initializer if init.name in read]
    del graph.initializer[:]
    graph.initializer.extend(kept)
