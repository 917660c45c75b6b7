"""The gates' real inputs as model feeds (tokenized text, preprocessed photographs) and the PyTorch
reference outputs every variant is gated against."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from transformers import AutoTokenizer

from tritonkit.export.source import ResolvedSource
from tritonkit.export.tasks import Batch, Task


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
    from transformers import AutoImageProcessor

    processor = AutoImageProcessor.from_pretrained(str(folder), local_files_only=True)
    return [
        {"pixel_values": np.asarray(processor(images=images[start : start + batch_size], return_tensors="np")
                                    ["pixel_values"], dtype=np.float32)}
        for start in range(0, len(images), batch_size)
    ]  # fmt: skip


def load_torch_model(source: ResolvedSource, task: Task) -> torch.nn.Module:
    """The task's PyTorch model from the local folder (never the hub: it is already here)."""
    if task.library == "sentence_transformers":  # the pipeline checked the source is one
        from sentence_transformers import SentenceTransformer

        return SentenceTransformer(str(source.folder), device="cpu", local_files_only=True).eval()
    import transformers

    auto = getattr(transformers, task.auto_class)
    return auto.from_pretrained(str(source.folder), local_files_only=True).eval()


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
