"""Tokenized evaluation batches and the PyTorch reference outputs every variant is gated against."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
import torch
from transformers import AutoTokenizer

from tritonkit.errors import InputError
from tritonkit.export.source import ResolvedSource

Task = Literal["sentence-embedding", "text-classification"]
TASK_OUTPUT: dict[str, str] = {"sentence-embedding": "sentence_embedding", "text-classification": "logits"}
Batch = dict[str, np.ndarray]


@dataclass(frozen=True)
class Reference:
    batches: list[Batch]  # tokenized texts, padded per batch (varied lengths stay varied)
    output: np.ndarray  # the task output for every text, stacked: [texts, …]
    output_name: str


def tokenize(folder: Path, texts: list[str], max_length: int, batch_size: int = 16) -> list[Batch]:
    tokenizer = AutoTokenizer.from_pretrained(str(folder))
    batches = []
    for start in range(0, len(texts), batch_size):
        encoded = tokenizer(
            texts[start : start + batch_size], padding=True, truncation=True, max_length=max_length, return_tensors="np"
        )
        batches.append({name: np.asarray(array, dtype=np.int64) for name, array in encoded.items()})
    return batches


def load_torch_model(source: ResolvedSource, task: Task) -> torch.nn.Module:
    if task == "sentence-embedding":
        if source.library != "sentence_transformers":
            raise InputError(
                f"{source.description}: task sentence-embedding needs a sentence-transformers folder "
                "(modules.json with pooling); use task text-classification or another source"
            )
        from sentence_transformers import SentenceTransformer

        return SentenceTransformer(str(source.folder), device="cpu").eval()
    from transformers import AutoModelForSequenceClassification

    return AutoModelForSequenceClassification.from_pretrained(str(source.folder)).eval()


def task_output(model: torch.nn.Module, task: Task, features: dict[str, torch.Tensor]) -> torch.Tensor:
    """The output the gates compare: the sentence embedding, or the classifier's logits."""
    if task == "sentence-embedding":
        return model(dict(features))["sentence_embedding"]  # sentence-transformers adds keys to its input
    return model(**features).logits


@torch.inference_mode()
def torch_outputs(model: torch.nn.Module, task: Task, batches: list[Batch]) -> np.ndarray:
    return np.concatenate(
        [task_output(model, task, {n: torch.from_numpy(a) for n, a in batch.items()}).numpy() for batch in batches]
    )


def reference(source: ResolvedSource, task: Task, texts: list[str], max_length: int) -> Reference:
    batches = tokenize(source.folder, texts, max_length)
    output = torch_outputs(load_torch_model(source, task), task, batches)
    return Reference(batches, output, TASK_OUTPUT[task])
