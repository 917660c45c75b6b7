"""Classifier heads, exported on a tiny random sentence encoder and served: each variant gets its own
head (trained on its own embeddings), its recorded test accuracy is what its served model scores on
the test split, and the served probabilities are the head's on the variant's embeddings."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import tritonclient.grpc as grpcclient
import yaml
from onnx import numpy_helper

from tests.export.conftest import ALL_TEXTS, recipe_fields
from tritonkit.export.heads import PROBABILITIES
from tritonkit.export.labelled import read_labelled
from tritonkit.export.pipeline import export
from tritonkit.export.recipe import load_recipe
from tritonkit.export.reference import tokenize
from tritonkit.triton.server import LocalServer
from tritonkit.triton.validate import validate_path

pytestmark = pytest.mark.integration

VARIANTS = ["fp32", "int8_dynamic"]
Batch = dict[str, np.ndarray]


def run(session: ort.InferenceSession, batch: Batch) -> np.ndarray:
    wanted = {tensor.name for tensor in session.get_inputs()}
    return np.asarray(session.run([PROBABILITIES], {k: v for k, v in batch.items() if k in wanted})[0])


def labelled_file(path: Path) -> Path:
    """The tiny encoder's own sentences, labelled by whether they mention a parcel-ish word: a
    label its random embeddings can partly separate, with a stratified 75/25 split."""
    rows = ["text\tkind\tsplit"]
    for index, text in enumerate(ALL_TEXTS[:240]):
        kind = "question" if "?" in text or text.lower().startswith(("how", "what", "why", "can")) else "statement"
        rows.append(f"{text}\t{kind}\t{'test' if index % 4 == 0 else 'train'}")
    path.write_text("\n".join(rows) + "\n")
    return path


@pytest.fixture(scope="module")
def exported(tiny_embedder: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("heads")
    data = labelled_file(root / "messages.tsv")
    fields = recipe_fields(tiny_embedder, "sentence-embedding", variants=VARIANTS,
                           heads=[{"name": "kind", "data": str(data)}])  # fmt: skip
    (root / "recipe.yaml").write_text(yaml.safe_dump(fields))
    repository = root / "model_repository"
    export(load_recipe(root / "recipe.yaml"), repository, progress=lambda _: None)
    return repository, data


def test_each_variant_gets_a_head_whose_recorded_accuracy_is_its_own(
    exported: tuple[Path, Path], tiny_embedder: Path
) -> None:
    repository, data = exported
    labelled = read_labelled(data, "kind")
    test_batches = tokenize(tiny_embedder, labelled.texts["test"], 64, 32)
    weights = {}
    for variant in VARIANTS:
        folder = repository / f"tiny_kind_{variant}"
        assert validate_path(folder) == []
        assert (folder / "labels.txt").read_text().split() == list(labelled.classes)
        record = json.loads((folder / "export_record.json").read_text())
        head = record["details"]["head"]
        assert head["encoder"] == f"tiny_{variant}" and head["rows"] == {"train": 180, "test": 60}
        session = ort.InferenceSession(str(folder / "1" / "model.onnx"), providers=["CPUExecutionProvider"])
        probabilities = np.concatenate([run(session, batch) for batch in test_batches])
        np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, atol=1e-5)
        predicted = [labelled.classes[i] for i in probabilities.argmax(axis=1)]
        scored = np.mean([p == label for p, label in zip(predicted, labelled.labels["test"], strict=True)])
        assert head["accuracy"]["test"] == pytest.approx(scored, abs=1e-4)
        weights[variant] = next(
            numpy_helper.to_array(t) for t in onnx.load(str(folder / "1" / "model.onnx")).graph.initializer
            if t.name == "head_weights"
        )  # fmt: skip
    # Each head was fitted on its own variant's embeddings (int8's differ a little from fp32's).
    assert weights["fp32"].shape == weights["int8_dynamic"].shape == (32, 2)
    assert not np.array_equal(weights["fp32"], weights["int8_dynamic"])


def test_a_served_head_answers_as_its_graph_does_with_labels(exported: tuple[Path, Path], tiny_embedder: Path) -> None:
    repository, data = exported
    labelled = read_labelled(data, "kind")
    (batch,) = tokenize(tiny_embedder, labelled.texts["test"][:4], 64, 4)
    model = "tiny_kind_fp32"
    session = ort.InferenceSession(str(repository / model / "1" / "model.onnx"), providers=["CPUExecutionProvider"])
    expected = run(session, batch)
    batch = {k: v for k, v in batch.items() if k in {t.name for t in session.get_inputs()}}
    with LocalServer(repository, load_all=False) as server:
        server.load(model)
        inputs = []
        for name, array in batch.items():
            tensor = grpcclient.InferInput(name, list(array.shape), "INT64")
            tensor.set_data_from_numpy(array)
            inputs.append(tensor)
        plain = server.client.infer(model, inputs).as_numpy(PROBABILITIES)
        classified = server.client.infer(
            model, inputs, outputs=[grpcclient.InferRequestedOutput(PROBABILITIES, class_count=1)]
        ).as_numpy(PROBABILITIES)
    np.testing.assert_allclose(plain, expected, atol=1e-5)
    for row, answer in zip(expected, classified[:, 0], strict=True):
        score, index, label = answer.decode().split(":")
        assert int(index) == int(row.argmax()) and label == labelled.classes[int(index)]
        assert float(score) == pytest.approx(float(row.max()), abs=1e-5)
