"""Smoothing and the int8 sensitivity ranking on small real ONNX graphs, run by ONNX Runtime."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
from onnx import TensorProto, helper, numpy_helper

from tritonkit.export import activations, sensitivity, smoothing, variants
from tritonkit.export.int8_graphs import Int8Graphs

RNG = np.random.default_rng(7)


def _outlier_rows(rows: int = 64, channels: int = 8, outlier: int = 3) -> np.ndarray:
    x = RNG.normal(size=(rows, channels)).astype(np.float32)
    x[:, outlier] *= 60  # one channel far larger than the rest, as in a transformer's activations
    return x


def _graph(folder: Path) -> Path:
    """x feeds two weight MatMuls (one group) and an Add; p feeds a third MatMul of its own."""
    weights = [
        numpy_helper.from_array(RNG.normal(size=(8, 4)).astype(np.float32), "w1"),
        numpy_helper.from_array(RNG.normal(size=(8, 3)).astype(np.float32), "w2"),
        numpy_helper.from_array(RNG.normal(size=(8, 5)).astype(np.float32), "w3"),
        numpy_helper.from_array(np.ones(8, np.float32), "bias"),
    ]
    nodes = [
        helper.make_node("MatMul", ["x", "w1"], ["y1"], name="first"),
        helper.make_node("Add", ["x", "bias"], ["z"], name="shifted"),
        helper.make_node("MatMul", ["x", "w2"], ["y2"], name="second"),
        helper.make_node("MatMul", ["p", "w3"], ["y3"], name="plain"),
    ]
    inputs = [helper.make_tensor_value_info(n, TensorProto.FLOAT, ["rows", 8]) for n in ("x", "p")]
    outputs = [
        helper.make_tensor_value_info(n, TensorProto.FLOAT, ["rows", k])
        for n, k in (("y1", 4), ("y2", 3), ("z", 8), ("y3", 5))
    ]
    model = helper.make_model(helper.make_graph(nodes, "g", inputs, outputs, weights))
    model.opset_import[0].version = 17
    path = folder / "prepared.onnx"
    onnx.save(model, str(path))
    return path


def _run(path: Path, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return dict(zip([o.name for o in session.get_outputs()], session.run(None, feeds), strict=True))


def test_a_smoothed_graph_computes_the_same_outputs(tmp_path: Path) -> None:
    feeds = {"x": _outlier_rows(), "p": RNG.normal(size=(64, 8)).astype(np.float32)}
    graphs = Int8Graphs(_graph(tmp_path), [feeds])
    smoothed = graphs.graph(0.5)
    onnx.checker.check_model(onnx.load(str(smoothed)), full_check=True)  # still sorted, every name defined
    before, after = _run(graphs.graph(None), feeds), _run(smoothed, feeds)
    for name in ("y1", "y2", "y3"):
        np.testing.assert_allclose(after[name], before[name], rtol=1e-4, atol=1e-3)
    np.testing.assert_array_equal(after["z"], before["z"])  # the Add still reads x itself
    readers = {n.name: list(n.input) for n in onnx.load(str(smoothed)).graph.node}
    assert readers["first"][0] == readers["second"][0] == "x_smoothed"  # one Mul for the group
    assert readers["shifted"][0] == "x"
    assert sum(n.op_type == "Mul" for n in onnx.load(str(smoothed)).graph.node) == 2


def test_smoothing_moves_an_outlier_channel_into_the_weights(tmp_path: Path) -> None:
    rows, weight = _outlier_rows(), RNG.normal(size=(8, 4)).astype(np.float32)
    scales = smoothing.scales(rows, [weight], alpha=0.5)
    assert scales.argmax() == 3
    plain, smoothed = (
        sensitivity.int8_error(rows, weight),
        sensitivity.int8_error(rows / scales, weight * scales[:, None]),
    )
    assert smoothed < plain / 3


def test_the_ranking_puts_the_matmul_reading_outliers_first_and_smoothing_changes_it(tmp_path: Path) -> None:
    feeds = {"x": _outlier_rows(), "p": RNG.normal(size=(64, 8)).astype(np.float32)}
    graphs = Int8Graphs(_graph(tmp_path), [feeds])
    assert set(graphs.ranked(None)[:2]) == {"first", "second"} and graphs.ranked(None)[2] == "plain"
    assert graphs.ranked(0.5)[0] == "plain"  # smoothed, x's MatMuls lose less than p's


def test_a_smoothed_graph_quantizes_closer_to_float(tmp_path: Path) -> None:
    feeds = {"x": _outlier_rows(), "p": RNG.normal(size=(64, 8)).astype(np.float32)}
    graphs = Int8Graphs(_graph(tmp_path), [feeds])
    expected = _run(graphs.graph(None), feeds)["y1"]

    def error(alpha: float | None) -> float:
        output = tmp_path / f"int8-{alpha}.onnx"
        variants.int8_dynamic(graphs.graph(alpha), output, keep_float=[])
        return float(np.linalg.norm(_run(output, feeds)["y1"] - expected) / np.linalg.norm(expected))

    assert error(0.5) < error(None) / 2


def test_padding_does_not_size_anything(tmp_path: Path) -> None:
    weight = numpy_helper.from_array(np.eye(4, dtype=np.float32), "w")
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 3, 4])
    mask = helper.make_tensor_value_info("attention_mask", TensorProto.INT64, [2, 3])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, None)
    model = helper.make_model(helper.make_graph([helper.make_node("MatMul", ["x", "w"], ["y"])], "g", [x, mask], [y],
                                                [weight]))  # fmt: skip
    values = np.ones((2, 3, 4), np.float32)
    values[1, 2] = 1000  # a padded position
    batch = {"x": values, "attention_mask": np.array([[1, 1, 1], [1, 1, 0]], np.int64)}
    rows = activations.read_rows(model, ["x"], [batch])["x"]
    assert rows.shape == (5, 4) and rows.max() == 1
