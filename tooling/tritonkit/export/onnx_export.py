"""fp32 ONNX export with Optimum (offline: the source is already a local folder), dynamic batch and
sequence axes, and concrete sizes where the exporter left a fixed dimension symbolic."""

from __future__ import annotations

import logging
import warnings
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort

from tritonkit.export.reference import Batch, Task
from tritonkit.export.source import ResolvedSource

_OPTIMUM_TASK = {"sentence-embedding": "feature-extraction", "text-classification": "text-classification"}
_DYNAMIC_AXES = {"batch_size", "sequence_length"}
MODEL_FILE = "model.onnx"
TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "vocab.txt")


def export_fp32(source: ResolvedSource, task: Task, opset: int, output: Path, sample: Batch) -> Path:
    from optimum.exporters.onnx import main_export

    logging.getLogger("optimum").setLevel(logging.ERROR)
    # Tracer warnings say a trace may not generalise to other shapes: the gates check exactly that,
    # on real varied-length text, so the warnings are noise here.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        main_export(
            str(source.folder),
            output=str(output),
            task=_OPTIMUM_TASK[task],
            library_name=source.library,
            opset=opset,
            device="cpu",
            do_validation=False,  # we gate every variant ourselves, on real text
        )
    path = output / MODEL_FILE
    _pin_static_output_dims(path, sample)
    return path


def tokenizer_files(folder: Path) -> dict[str, Path]:
    """Tokenizer files to ship beside the model (text-in serving and realistic payloads need them)."""
    return {f"tokenizer/{name}": folder / name for name in TOKENIZER_FILES if (folder / name).is_file()}


def _pin_static_output_dims(path: Path, sample: Batch) -> None:
    """Replace symbolic output dims that are neither batch nor sequence (e.g. the embedding width the
    exporter could not infer through pooling) with the size a real run produces."""
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    feed = {i.name: sample[i.name] for i in session.get_inputs()}
    observed = dict(zip([o.name for o in session.get_outputs()], session.run(None, feed), strict=True))
    model = onnx.load(str(path))
    changed = False
    for output in model.graph.output:
        for axis, dim in enumerate(output.type.tensor_type.shape.dim):
            if dim.HasField("dim_param") and dim.dim_param not in _DYNAMIC_AXES:
                dim.dim_value = int(np.shape(observed[output.name])[axis])
                changed = True
    if changed:
        onnx.save(model, str(path))
