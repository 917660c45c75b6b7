"""Cascades of classifier heads: `<recipe>_<head>_cascade`, a Python BLS model (triton/cascade/
model.py) in which the head on a small variant answers every row and the head on a large variant
answers the rows the small one is less confident of than a threshold.

The threshold is the recipe's, or chosen here: the lowest (fewest escalations) whose accuracy stays
within `max_accuracy_loss` of the large head's, on out-of-fold predictions of the train split (each
fold's rows classified by heads fitted on the other folds), so that the test split, where the
record's accuracies come from, played no part in the choice."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.model_selection import StratifiedKFold
from tritonclient.grpc import model_config_pb2 as mc

from tritonkit.export.gating import Progress
from tritonkit.export.heads import PROBABILITIES, FittedHead, Head, train
from tritonkit.export.record import RECORD_FILE, ExportRecord
from tritonkit.export.zero_shot import LABELS_FILE
from tritonkit.specs import CascadeSpec, Confidence, RecipeSpec
from tritonkit.triton.model_config import ModelConfig, bls_model_config, read_config
from tritonkit.triton.onnx_signature import DYNAMIC
from tritonkit.triton.repository import CONFIG_FILE, write_model

MODEL_FILE = "model.py"
MODEL_SOURCE = Path(__file__).resolve().parents[1] / "triton" / "cascade" / MODEL_FILE
ANSWERED_BY, CONFIDENCE = "answered_by", "confidence"
_FOLDS = 5
_CURVE = np.round(np.linspace(0.0, 1.0, 21), 2)  # thresholds recorded for the report


def cascade_name(recipe: str, head: str) -> str:
    return f"{recipe}_{head}_cascade"


def confidence(probabilities: np.ndarray, kind: Confidence) -> np.ndarray:
    """Each row's confidence in its best class (the served model computes the same)."""
    if kind == "max_probability":
        return np.asarray(probabilities.max(axis=1))
    top_two = np.sort(probabilities, axis=1)[:, -2:]
    return np.asarray(top_two[:, 1] - top_two[:, 0])


@dataclass(frozen=True)
class Outcome:
    threshold: float
    accuracy: float
    escalation_rate: float  # the share of rows the large head answers


@dataclass(frozen=True)
class Predictions:
    """Both heads' class probabilities of the same rows, and the rows' true classes."""

    small: np.ndarray  # [rows, classes]
    large: np.ndarray
    truth: np.ndarray  # [rows] class indices

    def outcome(self, threshold: float, kind: Confidence) -> Outcome:
        escalated = confidence(self.small, kind) < threshold
        predicted = np.where(escalated, self.large.argmax(axis=1), self.small.argmax(axis=1))
        return Outcome(float(threshold), float(np.mean(predicted == self.truth)), float(np.mean(escalated)))

    def accuracy(self, stage: str) -> float:
        probabilities = self.small if stage == "small" else self.large
        return float(np.mean(probabilities.argmax(axis=1) == self.truth))


def lowest_threshold(predictions: Predictions, kind: Confidence, max_accuracy_loss: float) -> float:
    """The lowest threshold whose accuracy is at least the large head's less `max_accuracy_loss`:
    candidates are 0 (never escalate) and each row's confidence (escalating every row below it)."""
    floor = predictions.accuracy("large") - max_accuracy_loss
    for threshold in np.unique(np.concatenate([[0.0], confidence(predictions.small, kind), [1.0]])):
        if threshold <= 1.0 and predictions.outcome(threshold, kind).accuracy >= floor - 1e-12:
            return float(threshold)
    return 1.0


def out_of_fold(embeddings: np.ndarray, labels: list[str], classes: tuple[str, ...]) -> np.ndarray:
    """Each row's probabilities from a head fitted (as the served one is) on the other folds."""
    folds = StratifiedKFold(n_splits=min(_FOLDS, *(labels.count(c) for c in classes)), shuffle=True, random_state=0)
    result = np.zeros((len(labels), len(classes)), np.float32)
    for fit_rows, held_rows in folds.split(embeddings, labels):
        fold_labels = [labels[i] for i in fit_rows]
        head: Head = train(embeddings[fit_rows], fold_labels, classes)
        result[held_rows] = head.probabilities(embeddings[held_rows])
    return result


def predictions(small: FittedHead, large: FittedHead) -> dict[str, Predictions]:
    """Out-of-fold train predictions (`choice`) and the written heads' test predictions (`test`)."""
    classes = small.head.classes
    index = {name: i for i, name in enumerate(classes)}
    train_labels = small.labels["train"]
    return {
        "choice": Predictions(
            out_of_fold(small.embeddings["train"], train_labels, classes),
            out_of_fold(large.embeddings["train"], train_labels, classes),
            np.array([index[label] for label in train_labels]),
        ),
        "test": Predictions(
            small.head.probabilities(small.embeddings["test"]),
            large.head.probabilities(large.embeddings["test"]),
            np.array([index[label] for label in small.labels["test"]]),
        ),
    }


def cascade_config(
    name: str, small: ModelConfig, large: ModelConfig, threshold: float, kind: Confidence
) -> ModelConfig:
    """The Python model over the two heads: the small head's inputs and batcher, a batch no
    larger than either head takes, one instance (with two, tritonserver 2.51 crashed, heap
    corruption in the Python backend, within a reload or two under load; one survived 20)."""
    config = bls_model_config(small, name, MODEL_FILE, [small.name, large.name])
    config.max_batch_size = min(small.max_batch_size, large.max_batch_size)
    # Its batcher merges what queues while its instances wait on the heads, and never waits for
    # more: the heads' own batchers do (a delay here would add to theirs).
    if config.HasField("dynamic_batching"):
        config.dynamic_batching.ClearField("preferred_batch_size")
        config.dynamic_batching.max_queue_delay_microseconds = 0
    (probabilities,) = [o for o in small.output if o.name == PROBABILITIES]
    batch = [] if config.max_batch_size else [DYNAMIC]
    config.output.add(
        name=PROBABILITIES, data_type=mc.TYPE_FP32, dims=[*batch, *probabilities.dims[-1:]], label_filename=LABELS_FILE
    )
    config.output.add(name=ANSWERED_BY, data_type=mc.TYPE_STRING, dims=[*batch, 1])
    config.output.add(name=CONFIDENCE, data_type=mc.TYPE_FP32, dims=[*batch, 1])
    parameters = {"small_model": small.name, "large_model": large.name, "threshold": repr(threshold)}
    for key, value in {**parameters, "confidence": kind}.items():
        config.parameters[key].string_value = value
    return config


def write_cascades(
    recipe: RecipeSpec, fitted: Sequence[FittedHead], repository: Path, scratch: Path, *, force: bool,
    progress: Progress,
) -> list[Path]:  # fmt: skip
    """Every cascade of the recipe written beside its heads, its threshold and accuracies recorded."""
    by_key = {(f.name, f.variant): f for f in fitted}
    written = []
    for spec in recipe.cascades:
        name = cascade_name(recipe.name, spec.head)
        missing = [v for v in (spec.small, spec.large) if (spec.head, v) not in by_key]
        if missing:  # a variant that failed its gate has no head (the export's exit code says so)
            progress(f"      {name}: not written, no {spec.head} head on {' and '.join(missing)}")
            continue
        small, large = by_key[(spec.head, spec.small)], by_key[(spec.head, spec.large)]
        predicted = predictions(small, large)
        threshold = spec.threshold
        if threshold is None:
            threshold = lowest_threshold(predicted["choice"], spec.confidence, spec.max_accuracy_loss)
        config = cascade_config(
            name, read_config(small.model / CONFIG_FILE), read_config(large.model / CONFIG_FILE), threshold,
            spec.confidence,
        )  # fmt: skip
        details = _details(spec, threshold, predicted)
        folder = scratch / "cascades" / name
        folder.mkdir(parents=True)
        small_record = ExportRecord.model_validate_json((small.model / RECORD_FILE).read_text())
        update = {"model": name, "variant": "cascade", "file_bytes": MODEL_SOURCE.stat().st_size, "details": details}
        record = small_record.model_copy(update=update)
        extra = {RECORD_FILE: record.write(folder / RECORD_FILE), LABELS_FILE: small.model / LABELS_FILE}
        extra |= {f"tokenizer/{f.name}": f for f in sorted((small.model / "tokenizer").glob("*")) if f.is_file()}
        written.append(write_model(repository, config, MODEL_SOURCE, extra_files=extra, force=force))
        test = details["cascade"]["test"]
        progress(f"      {name}: {small.variant} first, {large.variant} below {spec.confidence} {threshold:.4f}: "
                 f"test accuracy {test['cascade']:.3f} (small {test['small']:.3f}, large {test['large']:.3f}), "
                 f"{test['escalation_rate']:.0%} escalated → {written[-1]}")  # fmt: skip
    return written


def _details(spec: CascadeSpec, threshold: float, predicted: dict[str, Predictions]) -> dict[str, Any]:
    test, choice = predicted["test"], predicted["choice"]
    chosen_by = "recipe" if spec.threshold is not None else (
        f"lowest within {spec.max_accuracy_loss} of the large head's accuracy, on out-of-fold train predictions"
    )  # fmt: skip

    def summary(predictions: Predictions) -> dict[str, float]:
        outcome = predictions.outcome(threshold, spec.confidence)
        return {
            "small": round(predictions.accuracy("small"), 4),
            "large": round(predictions.accuracy("large"), 4),
            "cascade": round(outcome.accuracy, 4),
            "escalation_rate": round(outcome.escalation_rate, 4),
        }

    curve = [test.outcome(float(t), spec.confidence) for t in _CURVE]
    return {"cascade": {
        "head": spec.head, "small": spec.small, "large": spec.large, "confidence": spec.confidence,
        "threshold": threshold, "chosen_by": chosen_by, "test": summary(test), "out_of_fold_train": summary(choice),
        "test_curve": [{"threshold": o.threshold, "accuracy": round(o.accuracy, 4),
                        "escalation_rate": round(o.escalation_rate, 4)} for o in curve],
    }}  # fmt: skip
