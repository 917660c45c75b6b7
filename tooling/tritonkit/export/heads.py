"""Classifier heads on a sentence encoder: a multinomial logistic regression trained on a variant's
own embeddings of a labelled text set's train split, scored on its test split, and appended to the
variant's graph (MatMul, Add, Softmax after `sentence_embedding`), so that `<recipe>_<head>_<variant>`
serves class probabilities with Triton's classification extension (labels.txt).

The labelled texts are read by export.labelled."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
from onnx import TensorProto, helper, numpy_helper
from sklearn.linear_model import LogisticRegression
from tritonclient.grpc import model_config_pb2 as mc

from tritonkit.export.gating import Progress
from tritonkit.export.labelled import SPLITS, read_labelled
from tritonkit.export.record import RECORD_FILE, ExportRecord
from tritonkit.export.reference import tokenize
from tritonkit.export.tasks import Batch
from tritonkit.export.zero_shot import LABELS_FILE
from tritonkit.specs import RecipeSpec
from tritonkit.triton.model_config import ModelConfig, read_config
from tritonkit.triton.repository import CONFIG_FILE, write_model

EMBEDDING = "sentence_embedding"
PROBABILITIES = "probabilities"
_REGULARISATION = 1.0  # sklearn's C: the embeddings are L2-normalised, the default suits them


def head_model_name(recipe: str, head: str, variant: str) -> str:
    """`<recipe>_<head>_<variant>`: the heads of one name are a family of variants (tune, cascades)."""
    return f"{recipe}_{head}_{variant}"


@dataclass(frozen=True)
class Head:
    weights: np.ndarray  # [embedding, classes]
    bias: np.ndarray  # [classes]
    classes: tuple[str, ...]

    def probabilities(self, embeddings: np.ndarray) -> np.ndarray:
        logits = embeddings @ self.weights + self.bias
        exp = np.exp(logits - logits.max(axis=1, keepdims=True))
        return np.asarray(exp / exp.sum(axis=1, keepdims=True), dtype=np.float32)

    def accuracy(self, embeddings: np.ndarray, labels: list[str]) -> float:
        predicted = self.probabilities(embeddings).argmax(axis=1)
        return float(np.mean([self.classes[i] == label for i, label in zip(predicted, labels, strict=True)]))


@dataclass(frozen=True)
class FittedHead:
    """A head as written on one variant, with what a cascade over it needs."""

    name: str  # the head's
    variant: str
    model: Path  # its model directory
    head: Head
    embeddings: dict[str, np.ndarray]  # the variant's, by split
    labels: dict[str, list[str]]  # by split


def embed(onnx_file: Path, batches: list[Batch]) -> np.ndarray:
    """The graph's sentence embeddings of the tokenized batches, in ONNX Runtime."""
    session = ort.InferenceSession(str(onnx_file), providers=["CPUExecutionProvider"])
    wanted = {tensor.name for tensor in session.get_inputs()}
    rows = [session.run([EMBEDDING], {k: v for k, v in batch.items() if k in wanted})[0] for batch in batches]
    return np.concatenate(rows).astype(np.float32)


def train(embeddings: np.ndarray, labels: list[str], classes: tuple[str, ...]) -> Head:
    index = {name: i for i, name in enumerate(classes)}
    fitted = LogisticRegression(C=_REGULARISATION, max_iter=2000).fit(embeddings, [index[label] for label in labels])
    weights, bias = fitted.coef_.T, fitted.intercept_
    if len(classes) == 2:  # sklearn keeps one logit for two classes: as two, the softmax gives its sigmoid
        weights, bias = np.concatenate([-weights / 2, weights / 2], axis=1), np.array([-bias[0] / 2, bias[0] / 2])
    return Head(weights.astype(np.float32), bias.astype(np.float32), classes)


def with_head(onnx_file: Path, head: Head, out: Path) -> Path:
    """The encoder graph with the head on its sentence embedding: one output, `probabilities`."""
    model = onnx.load(str(onnx_file))
    graph = model.graph
    graph.initializer.extend(
        [numpy_helper.from_array(head.weights, "head_weights"), numpy_helper.from_array(head.bias, "head_bias")]
    )
    graph.node.extend([
        helper.make_node("MatMul", [EMBEDDING, "head_weights"], ["head_logits_unbiased"]),
        helper.make_node("Add", ["head_logits_unbiased", "head_bias"], ["head_logits"]),
        helper.make_node("Softmax", ["head_logits"], [PROBABILITIES], axis=-1),
    ])  # fmt: skip
    batch = next(o for o in graph.output if o.name == EMBEDDING).type.tensor_type.shape.dim[0]
    output = helper.make_tensor_value_info(PROBABILITIES, TensorProto.FLOAT, [None, len(head.classes)])
    output.type.tensor_type.shape.dim[0].CopyFrom(batch)
    del graph.output[:]
    graph.output.append(output)
    onnx.checker.check_model(model)
    out.parent.mkdir(parents=True, exist_ok=True)
    onnx.save(model, str(out))
    return out


def head_config(variant: ModelConfig, name: str, classes: int) -> ModelConfig:
    """The variant's config (inputs, batching, warmup) serving `name`: class probabilities out."""
    config = ModelConfig()
    config.CopyFrom(variant)
    config.name = name
    del config.output[:]
    config.output.add(name=PROBABILITIES, data_type=mc.TYPE_FP32, dims=[classes], label_filename=LABELS_FILE)
    return config


def write_heads(
    recipe: RecipeSpec, source: Path, encoders: Sequence[tuple[ExportRecord, Path]], repository: Path,
    scratch: Path, *, force: bool, progress: Progress,
) -> list[FittedHead]:  # fmt: skip
    """Every head on every encoder variant written (its record, its model directory), trained on
    that variant's embeddings (tokenized by the tokenizer of `source`), scored on the test split,
    its accuracy in its export record; returns the heads written."""
    written: list[FittedHead] = []
    data = {head.name: read_labelled(head.data, head.label or head.name) for head in recipe.heads}
    tokens: dict[Path, dict[str, list[Batch]]] = {}
    for head in recipe.heads:
        if head.data not in tokens:
            texts = data[head.name].texts
            tokens[head.data] = {s: tokenize(source, texts[s], recipe.max_sequence_length, 32) for s in SPLITS}
    for encoder, directory in encoders:
        variant = encoder.variant
        embeddings: dict[Path, dict[str, np.ndarray]] = {}
        for head in recipe.heads:
            labelled = data[head.name]
            if head.data not in embeddings:
                onnx_file = directory / "1" / "model.onnx"
                embeddings[head.data] = {s: embed(onnx_file, batches) for s, batches in tokens[head.data].items()}
            rows = embeddings[head.data]
            fitted = train(rows["train"], labelled.labels["train"], labelled.classes)
            accuracy = {s: round(fitted.accuracy(rows[s], labelled.labels[s]), 4) for s in SPLITS}
            name = head_model_name(recipe.name, head.name, variant)
            folder = scratch / "heads" / name
            onnx_file = with_head(directory / "1" / "model.onnx", fitted, folder / "model.onnx")
            labels_file = folder / LABELS_FILE
            labels_file.write_text("\n".join(labelled.classes) + "\n")
            details = {**encoder.details, "head": {
                "name": head.name, "data": str(head.data), "label": head.label or head.name,
                "classes": list(labelled.classes), "rows": {s: len(labelled.labels[s]) for s in SPLITS},
                "accuracy": accuracy, "encoder": encoder.model,
            }}  # fmt: skip
            record = encoder.model_copy(
                update={"model": name, "file_bytes": onnx_file.stat().st_size, "details": details}
            )
            record_path = record.write(folder / RECORD_FILE)
            config = head_config(read_config(directory / CONFIG_FILE), name, len(labelled.classes))
            extra = {RECORD_FILE: record_path, LABELS_FILE: labels_file}
            extra |= {f"tokenizer/{f.name}": f for f in sorted((directory / "tokenizer").glob("*")) if f.is_file()}
            model = write_model(repository, config, onnx_file, extra_files=extra, force=force)
            written.append(FittedHead(head.name, variant, model, fitted, rows, labelled.labels))
            progress(f"      {name}: {head.name} head, test accuracy {accuracy['test']:.3f} "
                     f"(train {accuracy['train']:.3f}, {len(labelled.classes)} classes) → {model}")  # fmt: skip
    return written
