"""The gates' real inputs as model feeds (tokenized text, preprocessed photographs) and the PyTorch
reference outputs every variant is gated against."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from transformers import AutoTokenizer

from tritonkit.export.source import ResolvedSource
from tritonkit.export.tasks import Batch, Task
from tritonkit.images import read_rgb, views


@dataclass(frozen=True)
class Reference:
    batches: list[Batch]  # tokenized texts, padded per batch (varied lengths stay varied)
    output: np.ndarray  # the task output's rows (per text, or per real token), stacked
    output_name: str


def tokenize(folder: Path, texts: list[str], max_length: int, batch_size: int = 16) -> list[Batch]:
    tokenizer = AutoTokenizer.from_pretrained(str(folder), local_files_only=True)
    batches = []
    for start in range(0, len(texts), batch_size):
        encoded = tokenizer(
            texts[start : start + batch_size], padding=True, truncation=True, max_length=max_length, return_tensors="np"
        )
        batches.append({name: np.asarray(array, dtype=np.int64) for name, array in encoded.items()})
    return batches


def pixel_batches(folder: Path, images: list[np.ndarray], batch_size: int = 16) -> list[Batch]:
    """Photographs as the model's own image processor prepares them (resize, crop, normalise)."""
    return _batched(_pixels(_image_processor(folder), images), batch_size)


def photograph_batches(folder: Path, files: list[Path], batch_size: int) -> list[Batch]:
    """Every view (images.views) of every photograph, prepared one photograph at a time: a
    full-resolution photograph's views take tens of MB, their prepared pixels a few hundred kB."""
    processor = _image_processor(folder)
    return _batched(np.concatenate([_pixels(processor, views(read_rgb(file))) for file in files]), batch_size)


def _image_processor(folder: Path) -> Any:
    from transformers import AutoImageProcessor

    return AutoImageProcessor.from_pretrained(str(folder), local_files_only=True)


def _pixels(processor: Any, images: list[np.ndarray]) -> np.ndarray:
    return np.asarray(processor(images=images, return_tensors="np")["pixel_values"], dtype=np.float32)


def _batched(pixels: np.ndarray, batch_size: int) -> list[Batch]:
    return [{"pixel_values": pixels[start : start + batch_size]} for start in range(0, len(pixels), batch_size)]


def load_torch_model(source: ResolvedSource, task: Task) -> torch.nn.Module:
    """The task's PyTorch model from the local folder (never the hub: it is already here)."""
    if task.library == "sentence_transformers":  # the pipeline checked the source is one
        from sentence_transformers import SentenceTransformer

        return SentenceTransformer(str(source.folder), device="cpu", local_files_only=True).eval()
    import transformers

    auto = getattr(transformers, task.auto_class)
    return auto.from_pretrained(str(source.folder), local_files_only=True).eval()


def fit_problems(folder: Path, task: Task, name: str) -> list[str]:
    """Why the source cannot give the task's model, read from its config and files before any
    weight is loaded: transformers has no such model for its architecture, or its tokenizer or
    image processor is missing."""
    problems = []
    if task.library == "transformers":
        import transformers
        from transformers import AutoConfig

        try:
            config = AutoConfig.from_pretrained(str(folder), local_files_only=True)
        except (OSError, ValueError, KeyError):  # its message lists every model type transformers knows
            model_type = json.loads((folder / "config.json").read_text()).get("model_type")
            return [f"task {name}: {folder}/config.json names no model type transformers knows ({model_type!r})"]
        auto = getattr(transformers, task.auto_class)
        if hasattr(auto, "_model_mapping") and type(config) not in auto._model_mapping:
            problems.append(
                f"task {name}: {folder} is a {config.model_type} model, and transformers has no "
                f"{task.auto_class} for that architecture"
            )
    if "image" in task.inputs and not (folder / "preprocessor_config.json").is_file():
        problems.append(f"task {name}: {folder} has no preprocessor_config.json (the image processor)")
    tokenizer = ("tokenizer.json", "tokenizer_config.json")
    if "text" in task.inputs and not any((folder / file).is_file() for file in tokenizer):
        problems.append(f"task {name}: {folder} has no tokenizer (tokenizer.json or tokenizer_config.json)")
    return problems


@torch.inference_mode()
def torch_outputs(model: torch.nn.Module, task: Task, batches: list[Batch]) -> np.ndarray:
    return np.concatenate(
        [
            task.rows(task.torch_output(model, {n: torch.from_numpy(a) for n, a in batch.items()}).numpy(), batch)
            for batch in batches
        ]
    )


def reference(source: ResolvedSource, task: Task, batches: list[Batch]) -> Reference:
    output = torch_outputs(load_torch_model(source, task), task, batches)
    return Reference(batches, output, task.output)
