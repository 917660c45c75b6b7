"""fp32 ONNX export with Optimum (offline: the source is already a local folder), dynamic batch and
sequence axes, and concrete sizes where the exporter left a fixed dimension symbolic (an embedding
width, an image's channels and size), so Triton sees fixed shapes it can batch."""

from __future__ import annotations

import logging
import warnings
from collections.abc import Iterable
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort

from tritonkit.export.source import ResolvedSource
from tritonkit.export.tasks import Batch, Task

# A decoder's KV cache adds the past length, and its mask and cache outputs span past + new tokens.
_DYNAMIC_AXES = {"batch_size", "sequence_length", "past_sequence_length", "past_sequence_length + sequence_length"}
MODEL_FILE = "model.onnx"
TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "vocab.txt")
PREPROCESSOR_FILES = ("preprocessor_config.json",)


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
            task=task.optimum_task,
            library_name=task.library,
            local_files_only=True,  # the source is a local folder: nothing to fetch
            opset=opset,
            device="cpu",
            do_validation=False,  # we gate every variant ourselves, on real text
        )
    path = output / MODEL_FILE
    pin_static_dims(path, sample)
    return path


def serving_files(source: Path, inputs: Iterable[str], output: Path) -> dict[str, Path]:
    """What ships beside the model for clients and realistic payloads: the tokenizer of a text model
    (tokenizer/), the image processor's settings of an image model (preprocessor/). Saved by
    transformers from the source, so a fast tokenizer ships its tokenizer.json even where the
    source has only a vocabulary."""
    from transformers import AutoImageProcessor, AutoTokenizer

    if "text" in inputs:
        AutoTokenizer.from_pretrained(str(source), local_files_only=True).save_pretrained(str(output / "tokenizer"))
    if "image" in inputs:
        processor = AutoImageProcessor.from_pretrained(str(source), local_files_only=True)
        processor.save_pretrained(str(output / "preprocessor"))
    shipped = {f"tokenizer/{name}": output / "tokenizer" / name for name in TOKENIZER_FILES}
    shipped |= {f"preprocessor/{name}": output / "preprocessor" / name for name in PREPROCESSOR_FILES}
    return {target: path for target, path in shipped.items() if path.is_file()}


def pin_static_dims(path: Path, sample: Batch) -> None:
    """Replace symbolic dims that are neither batch nor sequence (the embedding width the exporter
    could not infer through pooling; an image's channels, height and width) with the sizes a real
    run on `sample` has. A graph without such dims (a decoder's) is left as it is, unrun."""
    model = onnx.load(str(path))
    pinned = [
        (value.name, axis, dim)
        for value in (*model.graph.input, *model.graph.output)
        for axis, dim in enumerate(value.type.tensor_type.shape.dim)
        if dim.HasField("dim_param") and dim.dim_param not in _DYNAMIC_AXES
    ]
    if not pinned:
        return
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    feed = {i.name: sample[i.name] for i in session.get_inputs()}
    observed = dict(zip([o.name for o in session.get_outputs()], session.run(None, feed), strict=True))
    observed |= feed
    for name, axis, dim in pinned:
        dim.dim_value = int(np.shape(observed[name])[axis])
    onnx.save(model, str(path))
