"""ONNX-to-ONNX variants: graph-optimized (fused), int8 dynamic, int8 static (QDQ), fp16.

Each takes the fp32 (or optimized) model and writes a new file; accuracy is gated elsewhere.
"""

from __future__ import annotations

import contextlib
import json
import logging
from collections.abc import Iterator
from pathlib import Path

import onnx
from onnx import helper, numpy_helper
from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_dynamic, quantize_static
from onnxruntime.quantization.shape_inference import quant_pre_process
from onnxruntime.transformers.onnx_model import OnnxModel
from onnxruntime.transformers.optimizer import optimize_model

from tritonkit.export.tasks import Batch

# Hugging Face model types the ONNX Runtime transformer optimizer fuses as BERT-like encoders.
_OPTIMIZER_MODEL_TYPE = {"gpt2": "gpt2", "clip": "clip", "vit": "vit", "bart": "bart", "t5": "t5"}


def optimizer_model_type(source_folder: Path) -> str:
    model_type = json.loads((source_folder / "config.json").read_text()).get("model_type", "bert")
    return _OPTIMIZER_MODEL_TYPE.get(model_type, "bert")


def optimize(fp32: Path, output: Path, model_type: str) -> dict[str, int]:
    """Fuse attention, LayerNorm and GELU subgraphs; the fusion counts say what was found."""
    logging.getLogger("onnxruntime.transformers").setLevel(logging.ERROR)
    with _in_folder_of(output):
        optimized = optimize_model(
            str(fp32), model_type=model_type, num_heads=0, hidden_size=0, opt_level=1, use_gpu=False
        )
    optimized.save_model_to_file(str(output))
    return {op: count for op, count in optimized.get_fused_operator_statistics().items() if count}


def fp16(optimized: Path, output: Path) -> None:
    """The fused graph in float16 with float32 inputs and outputs: a GPU variant (CPUs gain nothing)."""
    model = OnnxModel(onnx.load(str(optimized)))
    with _in_folder_of(output):
        model.convert_float_to_float16(keep_io_types=True)
    model.save_model_to_file(str(output))


def _in_folder_of(output: Path) -> contextlib.chdir[Path]:
    """ONNX Runtime's symbolic shape inference drops a temp model in the working directory when it
    gives up (and the caller falls back); keep that litter in the scratch folder."""
    return contextlib.chdir(output.parent)


def int8_dynamic(prepared: Path, output: Path, keep_float: list[str]) -> None:
    """Weights to int8 ahead of time (per output channel), activations quantized per call: no
    calibration data needed. Quantizing the unfused graph keeps node names for `keep_float`, and
    ONNX Runtime fuses the quantized graph at load anyway."""
    quantize_dynamic(
        str(prepared),
        str(output),
        weight_type=QuantType.QInt8,
        per_channel=True,
        op_types_to_quantize=["MatMul"],
        nodes_to_exclude=keep_float,
    )


def prepare_for_quantization(fp32: Path, output: Path, *, gemms_as_matmuls: bool = False) -> list[str]:
    """ONNX Runtime's pre-processing for quantization (shape inference, constant folding), and with
    `gemms_as_matmuls` every weight Gemm rewritten as MatMul + Add (see _gemms_as_matmuls). Returns
    the activation-by-activation MatMuls (attention scores and context), which stay float: their
    ranges vary most per input."""
    quant_pre_process(str(fp32), str(output), skip_symbolic_shape=True)
    model = onnx.load(str(output))
    if gemms_as_matmuls:
        _gemms_as_matmuls(model.graph)
        onnx.save(model, str(output))
    weights = {init.name for init in model.graph.initializer}
    return [
        node.name for node in model.graph.node if node.op_type == "MatMul" and not any(i in weights for i in node.input)
    ]


def _gemms_as_matmuls(graph: onnx.GraphProto) -> None:
    """Gemm(A, W, C) with a constant W as MatMul(A, W) + C, the same product in the op that dynamic
    quantization takes: GPT-2's Conv1D layers (every projection) export as Gemm, which it skips.
    The MatMul keeps the Gemm's name, so keep-float lists and records still name the layer."""
    weights = {init.name: init for init in graph.initializer}
    nodes = []
    for node in graph.node:
        attributes = {a.name: helper.get_attribute_value(a) for a in node.attribute}
        plain = attributes.get("alpha", 1.0) == 1.0 and attributes.get("beta", 1.0) == 1.0
        if node.op_type != "Gemm" or node.input[1] not in weights or attributes.get("transA", 0) or not plain:
            nodes.append(node)
            continue
        weight = node.input[1]
        if attributes.get("transB", 0):
            transposed = f"{weight}_transposed"
            if transposed not in weights:  # a weight two Gemms share is transposed once
                weights[transposed] = numpy_helper.from_array(numpy_helper.to_array(weights[weight]).T, transposed)
                graph.initializer.append(weights[transposed])
            weight = transposed
        biased = len(node.input) > 2 and node.input[2]
        product = f"{node.output[0]}_product" if biased else node.output[0]
        nodes.append(helper.make_node("MatMul", [node.input[0], weight], [product], name=node.name))
        if biased:
            nodes.append(helper.make_node("Add", [product, node.input[2]], [node.output[0]], name=f"{node.name}_bias"))
    del graph.node[:]
    graph.node.extend(nodes)


class _Calibration(CalibrationDataReader):
    def __init__(self, batches: list[Batch], input_names: list[str]) -> None:
        self._feeds: Iterator[dict[str, object]] = iter([{n: b[n] for n in input_names} for b in batches])

    def get_next(self) -> dict[str, object] | None:
        return next(self._feeds, None)


def int8_static(prepared: Path, output: Path, calibration: list[Batch], keep_float: list[str]) -> None:
    """QDQ int8 with activation ranges calibrated on real text. Only MatMuls are quantized:
    LayerNorm, GELU and Softmax stay float, where int8 costs most accuracy."""
    model = onnx.load(str(prepared), load_external_data=False)
    weights = {init.name for init in model.graph.initializer}
    input_names = [i.name for i in model.graph.input if i.name not in weights]
    quantize_static(
        str(prepared),
        str(output),
        _Calibration(calibration, input_names),
        quant_format=QuantFormat.QDQ,
        op_types_to_quantize=["MatMul"],
        nodes_to_exclude=keep_float,
        per_channel=True,
        activation_type=QuantType.QUInt8,
        weight_type=QuantType.QInt8,
    )
