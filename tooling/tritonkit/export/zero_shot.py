"""Zero-shot image classification (CLIP-class): the text and image towers exported one by one, each
with its projection, so each has one batch axis Triton can batch (Optimum's single CLIP graph takes
images and texts with different batch axes), and the model composed from them
(triton/zero_shot/model.py), which scores images against the recipe's labels.

Gates: each tower's embeddings against PyTorch's (cosine, max |diff|) and the similarities of the
evaluation images to the labels against CLIPModel's logits_per_image (argmax agreement)."""

from __future__ import annotations

import json
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import cast

import numpy as np
import torch
from tritonclient.grpc import model_config_pb2 as mc

from tritonkit.export import gates
from tritonkit.export.onnx_export import pin_static_dims
from tritonkit.export.reference import load_torch_model
from tritonkit.export.source import ResolvedSource
from tritonkit.export.tasks import TASKS, VECTORS, Batch, Task
from tritonkit.triton.model_config import ModelConfig, bls_model_config
from tritonkit.triton.onnx_signature import DYNAMIC

COMPOSED_FILE = "model.py"
COMPOSED_SOURCE = Path(__file__).resolve().parents[1] / "triton" / "zero_shot" / COMPOSED_FILE
LABEL_INPUTS = "label_inputs.json"  # read by the composed model: the labels' token ids
LABELS_FILE = "labels.txt"  # Triton's label_filename: the classification extension names the labels
OUTPUT = "logits_per_image"
_TOKENS = ("input_ids", "attention_mask")  # what CLIP's text tower takes (a BERT tokenizer adds token_type_ids)


@dataclass(frozen=True)
class _Tower(Task):
    suffix: str = ""  # of the tower's Triton model name, after the variant's
    inputs_taken: tuple[str, ...] = ()

    def torch_output(self, model: torch.nn.Module, features: dict[str, torch.Tensor]) -> torch.Tensor:
        return getattr(model(**{name: features[name] for name in self.inputs_taken}), self.output)


_ZERO_SHOT = TASKS["zero-shot-image-classification"]
TEXT_TOWER = _Tower(
    "", "text_embeds", False, VECTORS, "transformers", "CLIPTextModelWithProjection",
    suffix="_text_tower", inputs_taken=_TOKENS,
)  # fmt: skip
IMAGE_TOWER = _Tower(
    "", "image_embeds", False, VECTORS, "transformers", "CLIPVisionModelWithProjection",
    inputs=frozenset({"image"}), suffix="_image_tower", inputs_taken=("pixel_values",),
)  # fmt: skip


def source_problems(folder: Path, max_sequence_length: int) -> list[str]:
    config = json.loads((folder / "config.json").read_text())
    if config.get("model_type") != "clip":
        return [f"task zero-shot-image-classification needs a CLIP model (model_type clip); {folder} has "
                f"{config.get('model_type')!r}"]  # fmt: skip
    positions = int(config.get("text_config", {}).get("max_position_embeddings", 77))
    if max_sequence_length > positions:
        return [f"max_sequence_length {max_sequence_length} is more than the text tower's {positions} positions; "
                f"set max_sequence_length: {positions} or less"]  # fmt: skip
    return []


class _Projected(torch.nn.Module):
    """A tower returning only its projected embeddings, the one output the export keeps."""

    def __init__(self, tower: torch.nn.Module, task: _Tower) -> None:
        super().__init__()
        self.tower, self.task = tower, task

    def forward(self, *inputs: torch.Tensor) -> torch.Tensor:
        return getattr(self.tower(**dict(zip(self.task.inputs_taken, inputs, strict=True))), self.task.output)


def export_tower(source: ResolvedSource, tower: _Tower, opset: int, output: Path, sample: Batch) -> Path:
    """The TorchScript exporter, with a dynamic batch axis (and sequence axis for text)."""
    output.mkdir(parents=True, exist_ok=True)
    path = output / "model.onnx"
    module = _Projected(load_torch_model(source, tower), tower).eval()
    axes = {name: {0: "batch_size", 1: "sequence_length"} if name in _TOKENS else {0: "batch_size"}
            for name in tower.inputs_taken}  # fmt: skip
    with warnings.catch_warnings(), torch.inference_mode():
        warnings.simplefilter("ignore")  # tracer warnings: the gates check the trace on real inputs
        torch.onnx.export(
            module,
            tuple(torch.from_numpy(sample[name]) for name in tower.inputs_taken),
            str(path),
            input_names=list(tower.inputs_taken),
            output_names=[tower.output],
            dynamic_axes={**axes, tower.output: {0: "batch_size"}},
            opset_version=opset,
            dynamo=False,
        )
    pin_static_dims(path, sample)
    return path


@dataclass(frozen=True)
class Similarities:
    """The reference: CLIPModel's logits_per_image of the evaluation images against the labels."""

    logits: np.ndarray  # [images, labels]
    logit_scale: float  # exp(logit_scale): the temperature the served model multiplies by


@torch.inference_mode()
def reference_similarities(source: ResolvedSource, labels: Batch, images: list[Batch]) -> Similarities:
    model = load_torch_model(source, _ZERO_SHOT)
    text = {name: torch.from_numpy(labels[name]) for name in _TOKENS}
    logits = [model(**text, pixel_values=torch.from_numpy(batch["pixel_values"])).logits_per_image for batch in images]
    return Similarities(torch.cat(logits).numpy(), float(torch.exp(cast(torch.Tensor, model.logit_scale))))


def metrics(
    text: gates.Metrics, image: gates.Metrics, labels: np.ndarray, images: np.ndarray, expected: Similarities,
    rows: tuple[int, int],
) -> gates.Metrics:  # fmt: skip
    """Both towers' embedding figures as one (the worse of each), and the candidate's similarities
    (its label and image embeddings) against CLIPModel's: argmax and top-5 agreement."""
    similarity = gates.metrics(similarities(images, labels, expected.logit_scale), expected.logits)
    text_rows, image_rows = rows
    return gates.Metrics(
        max_abs_diff=max(text.max_abs_diff, image.max_abs_diff),
        mean_cosine=(text.mean_cosine * text_rows + image.mean_cosine * image_rows) / (text_rows + image_rows),
        min_cosine=min(text.min_cosine, image.min_cosine),
        argmax_agreement=similarity.argmax_agreement,
        top5_overlap=similarity.top5_overlap,
    )


def similarities(images: np.ndarray, labels: np.ndarray, logit_scale: float) -> np.ndarray:
    """What the composed model computes: exp(logit_scale) · cos(image, label)."""

    def unit(rows: np.ndarray) -> np.ndarray:
        return rows / np.maximum(np.linalg.norm(rows, axis=-1, keepdims=True), 1e-12)

    return logit_scale * unit(images.astype(np.float64)) @ unit(labels.astype(np.float64)).T


def composed_config(name: str, image_tower: ModelConfig, text_tower: ModelConfig, logit_scale: float,
                    labels: int) -> ModelConfig:  # fmt: skip
    """The Python model scoring images against the labels: the image tower's input and batching,
    one CPU instance (it waits on the towers, which hold the weights and their instances)."""
    config = bls_model_config(image_tower, name, COMPOSED_FILE, [text_tower.name, image_tower.name])
    dims = [labels] if config.max_batch_size else [DYNAMIC, labels]
    config.output.add(name=OUTPUT, data_type=mc.TYPE_FP32, dims=dims, label_filename=LABELS_FILE)
    parameters = {
        "image_tower": image_tower.name,
        "text_tower": text_tower.name,
        "logit_scale": repr(logit_scale),
        "text_batch_size": str(text_tower.max_batch_size or labels),
    }
    for key, value in parameters.items():
        config.parameters[key].string_value = value
    return config


def label_files(labels: tuple[str, ...], tokens: Batch, scratch: Path) -> dict[str, Path]:
    """The composed model's files beside its config: the labels (one a line) and their token ids."""
    (scratch / LABELS_FILE).write_text("".join(f"{label}\n" for label in labels))
    (scratch / LABEL_INPUTS).write_text(json.dumps({name: tokens[name].tolist() for name in _TOKENS}))
    return {LABELS_FILE: scratch / LABELS_FILE, LABEL_INPUTS: scratch / LABEL_INPUTS}
