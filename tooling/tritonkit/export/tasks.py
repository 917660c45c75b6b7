"""What each export task is, in one entry: how Optimum exports it, which output the gates compare and
how, which PyTorch model gives the reference, what source and inputs it needs. Adding a task is one
entry here (and its name in specs.TaskName)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal, get_args

import numpy as np

from tritonkit.specs import TaskName

if TYPE_CHECKING:
    import torch

Batch = dict[str, np.ndarray]
GateName = Literal[
    "max_abs_diff", "min_mean_cosine", "min_cosine", "min_argmax_agreement", "min_top5_overlap", "min_token_agreement"
]
Library = Literal["sentence_transformers", "transformers"]
Input = Literal["text", "image"]  # what the gates' real inputs are: tokenized text, or photographs
# Cosine and max |diff| compare vectors (embeddings, hidden states); argmax agreement compares
# classes (logits). Argmax of an embedding is noise, cosine of two logits too.
VECTORS: tuple[GateName, ...] = ("max_abs_diff", "min_mean_cosine", "min_cosine")
_CLASSES: tuple[GateName, ...] = ("max_abs_diff", "min_argmax_agreement")


@dataclass(frozen=True)
class Task:
    optimum_task: str  # optimum's name for the export
    output: str  # the graph output (and the PyTorch output's attribute) the gates compare
    per_token: bool  # the output has a sequence axis: compared token by token, padding left out
    gates: tuple[GateName, ...]
    library: Library  # what the source must be: a sentence-transformers folder, or any transformers one
    auto_class: str  # the transformers class of the PyTorch reference (sentence-transformers: unused)
    inputs: frozenset[Input] = frozenset({"text"})
    # A decoder with a KV cache: gated by greedy decoding (export.generation), served with a
    # streaming generator model beside it.
    generates: bool = False

    @property
    def modality(self) -> str:
        """Its inputs in words: text, image, or image and text."""
        return " and ".join(sorted(self.inputs))

    def rows(self, output: np.ndarray, batch: Batch) -> np.ndarray:
        """One row per text, or per real token for a per-token output: what the gates compare, and
        the same shape for every batch whatever its padding."""
        return output[batch["attention_mask"].astype(bool)] if self.per_token else output

    def torch_output(self, model: torch.nn.Module, features: dict[str, torch.Tensor]) -> torch.Tensor:
        if self.library == "sentence_transformers":
            return model(dict(features))[self.output]  # sentence-transformers adds keys to its input
        return getattr(model(**features), self.output)


TASKS: dict[TaskName, Task] = {
    "sentence-embedding": Task(
        "feature-extraction", "sentence_embedding", False, VECTORS, "sentence_transformers", "SentenceTransformer"
    ),
    "feature-extraction": Task("feature-extraction", "last_hidden_state", True, VECTORS, "transformers", "AutoModel"),
    "text-classification": Task(
        "text-classification", "logits", False, _CLASSES, "transformers", "AutoModelForSequenceClassification"
    ),
    "token-classification": Task(
        "token-classification", "logits", True, _CLASSES, "transformers", "AutoModelForTokenClassification"
    ),
    # Top-1 agreement, and how many of the 5 likeliest classes stay among the 5 (ImageNet's metric).
    "image-classification": Task(
        "image-classification",
        "logits",
        False,
        (*_CLASSES, "min_top5_overlap"),
        "transformers",
        "AutoModelForImageClassification",
        inputs=frozenset({"image"}),
    ),
    # Greedy decoding through the exported KV-cache loop: the tokens, and the first step's logits.
    "text-generation": Task(
        "text-generation-with-past",
        "logits",
        True,
        ("max_abs_diff", "min_token_agreement"),
        "transformers",
        "AutoModelForCausalLM",
        generates=True,
    ),
    # CLIP's towers, each gated on its embeddings (export.zero_shot's TOWERS), and the similarities
    # of the evaluation images to the labels: argmax agreement.
    "zero-shot-image-classification": Task(
        "",  # not Optimum's single graph: the towers are exported one by one (export.zero_shot)
        "logits_per_image",
        False,
        ("max_abs_diff", "min_mean_cosine", "min_cosine", "min_argmax_agreement"),
        "transformers",
        "CLIPModel",
        inputs=frozenset({"text", "image"}),
    ),
}
assert set(TASKS) == set(get_args(TaskName)), "every task name has its entry"
