"""A layer-dropped student: keep every k-th transformer layer of the teacher, then (optionally)
train it to reproduce the teacher on a text file: its task output and its last hidden states (a
target per token, not one per text, which a small text file needs). Fewer layers, proportionally
less compute at every batch size; the gates report what it costs in accuracy."""

from __future__ import annotations

import copy
import itertools
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from tqdm import tqdm

from tritonkit.errors import InputError
from tritonkit.export.recipe import read_texts
from tritonkit.export.reference import load_torch_model, tokenize
from tritonkit.export.source import ResolvedSource
from tritonkit.export.tasks import Batch, Task
from tritonkit.specs import DistillationSpec


@dataclass(frozen=True)
class Student:
    folder: Path  # save_pretrained layout, like the source
    kept_layers: list[int]
    final_loss: float | None  # None: not trained


def layer_dropped_student(
    source: ResolvedSource, task: Task, spec: DistillationSpec, output: Path, *, max_length: int
) -> Student:
    teacher = load_torch_model(source, task)
    student = copy.deepcopy(teacher)
    kept = drop_layers(student, spec.keep_every)
    loss = None
    if spec.text_file is not None and spec.steps:
        texts = read_texts(spec.text_file)
        batches = tokenize(source.folder, texts, max_length, batch_size=spec.batch_size)
        loss = distill(teacher, student, task, batches, steps=spec.steps, learning_rate=spec.learning_rate)
    student.eval()
    saved: Any = student
    if source.library == "sentence_transformers":
        saved.save(str(output))  # modules.json, pooling and tokenizer too
    else:
        from transformers import AutoTokenizer

        saved.save_pretrained(str(output))
        AutoTokenizer.from_pretrained(str(source.folder), local_files_only=True).save_pretrained(str(output))
    return Student(output, kept, loss)


def drop_layers(model: torch.nn.Module, keep_every: int) -> list[int]:
    """Keep the last layer of every group of k (k-1, 2k-1, …), in place; returns the kept indices.
    Ending on the teacher's final layer matters: on MiniLM, layers 1,3,5 start at a mean cosine of
    0.58 to the teacher, layers 0,2,4 at 0.40."""
    config = _transformer_config(model)
    count = config.num_hidden_layers
    stacks = [m for m in model.modules() if isinstance(m, torch.nn.ModuleList) and len(m) == count]
    if len(stacks) != 1:
        raise InputError(f"cannot find the model's single stack of {count} transformer layers to drop from")
    kept = list(range(keep_every - 1, count, keep_every))
    if len(kept) == count:
        raise InputError(f"distillation.keep_every = {keep_every} keeps all {count} layers; expected ≥ 2")
    stack = stacks[0]
    remaining = [stack[i] for i in kept]
    del stack[len(remaining) :]
    for index, layer in enumerate(remaining):
        stack[index] = layer
    config.num_hidden_layers = len(kept)
    return kept


def distill(
    teacher: torch.nn.Module,
    student: torch.nn.Module,
    task: Task,
    batches: list[Batch],
    *,
    steps: int,
    learning_rate: float,
) -> float:
    """Adam on the task loss (cosine distance for embeddings, squared error for logits) plus the squared
    error of the last hidden states at real tokens. Dropout stays off (eval mode), so the student
    learns the deterministic function it will serve. Returns the last loss."""
    teacher.eval()
    student.eval()
    _freeze_token_embeddings(student)
    optimizer = torch.optim.AdamW([p for p in student.parameters() if p.requires_grad], lr=learning_rate)
    feeds = [{name: torch.from_numpy(array) for name, array in batch.items()} for batch in batches]
    with torch.no_grad():  # not inference_mode: its tensors cannot enter the loss's graph
        targets = [_outputs(teacher, task, feed) for feed in feeds]
    loss_value = float("nan")
    progress = tqdm(itertools.islice(itertools.cycle(range(len(feeds))), steps), total=steps, desc="distilling")
    for index in progress:
        (output, hidden), (target, target_hidden) = _outputs(student, task, feeds[index]), targets[index]
        tokens = feeds[index]["attention_mask"].bool()
        if task.per_token:  # compared at real tokens, as the gates do
            output, target = output[tokens], target[tokens]
        if "min_cosine" in task.gates:  # vectors: their direction is what the gates check
            task_loss = (1 - torch.nn.functional.cosine_similarity(output, target, dim=-1)).mean()
        else:
            task_loss = torch.nn.functional.mse_loss(output, target)
        loss = task_loss + torch.nn.functional.mse_loss(hidden[tokens], target_hidden[tokens])
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        loss_value = loss.item()
        progress.set_postfix(loss=f"{loss_value:.2e}")
    return loss_value


def _freeze_token_embeddings(model: torch.nn.Module) -> None:
    """The student keeps the teacher's token table: a few thousand sentences touch a few thousand
    of its rows, yet AdamW would update (and decay) every row each step, a third of the step's
    time on MiniLM (232 → 145 ms per step)."""
    for module in model.modules():
        table: Any = getattr(module, "get_input_embeddings", None)  # Hugging Face models have one
        embeddings = table() if callable(table) else None
        if isinstance(embeddings, torch.nn.Embedding):
            embeddings.weight.requires_grad_(False)


def _outputs(
    model: torch.nn.Module, task: Task, features: dict[str, torch.Tensor]
) -> tuple[torch.Tensor, torch.Tensor]:
    """The task output and the last hidden states [batch, tokens, hidden]."""
    if task.library == "sentence_transformers":
        result = model(dict(features))
        return result[task.output], result["token_embeddings"]
    result = model(**features, output_hidden_states=True)
    return getattr(result, task.output), result.hidden_states[-1]


def _transformer_config(model: torch.nn.Module) -> Any:
    if hasattr(model, "config"):  # transformers PreTrainedModel
        return model.config
    for module in model.modules():  # sentence-transformers wraps the Hugging Face model
        if hasattr(module, "auto_model"):
            return getattr(module, "auto_model").config  # noqa: B009
    raise InputError(f"{type(model).__name__}: no transformer config found")
