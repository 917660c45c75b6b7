"""zero-shot-image-classification on a tiny random CLIP: its text and image towers exported one by
one, each gated on its embeddings; the model composed from them gated on the similarities of real
photographs to the labels against CLIPModel's; served, the composed model scores images as the
towers run in ONNX Runtime do, names its labels through Triton's classification extension, and is
checked by `tritonkit check` with an images payload."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest
import torch
import tritonclient.grpc as grpcclient
from transformers import CLIPModel

from tests.export.conftest import ALL_TEXTS, TEXTS, WriteRecipe, check_briefly
from tests.export.tiny_clip import LABELS, clip_model
from tests.export.tiny_vision import vit_classifier
from tritonkit.errors import InputError
from tritonkit.export.pipeline import VariantOutcome, export
from tritonkit.export.recipe import load_recipe
from tritonkit.export.reference import photograph_batches, tokenize
from tritonkit.export.zero_shot import similarities
from tritonkit.images import sample_photographs
from tritonkit.triton import model_config
from tritonkit.triton.infer import infer_once
from tritonkit.triton.server import LocalServer
from tritonkit.triton.validate import validate_path

VARIANTS = ["fp32", "optimized", "int8_dynamic", "int8_static"]
Exported = tuple[Path, list[VariantOutcome]]


def clip_recipe(source: Path, **overrides: object) -> dict[str, object]:
    fields = {"name": "clip", "source": {"path": str(source)}, "task": "zero-shot-image-classification",
              "max_sequence_length": 32, "labels": list(LABELS), "evaluation_texts": str(TEXTS / "evaluation.txt"),
              "calibration_texts": str(TEXTS / "calibration.txt")}  # fmt: skip
    return {**fields, **overrides}


@pytest.fixture(scope="module")
def tiny_clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return clip_model(tmp_path_factory.mktemp("tiny") / "clip", ALL_TEXTS)


@pytest.fixture(scope="module")
def clip_export(tiny_clip: Path, tmp_path_factory: pytest.TempPathFactory) -> Exported:
    import yaml

    folder = tmp_path_factory.mktemp("recipe")
    (folder / "clip.yaml").write_text(yaml.safe_dump(clip_recipe(tiny_clip, variants=VARIANTS)))
    repository = folder / "repo"
    return repository, export(load_recipe(folder / "clip.yaml"), repository, progress=lambda _: None)


def test_each_variant_gates_both_towers_and_the_similarities(clip_export: Exported) -> None:
    repository, outcomes = clip_export
    images = len(sample_photographs()[0::2]) * 6  # the evaluation half, six views each
    texts = len(LABELS) + len((TEXTS / "evaluation.txt").read_text().splitlines())
    for outcome in outcomes:
        record, name = outcome.record, f"clip_{outcome.record.variant}"
        assert record.passed, [g.describe() for g in record.gates]
        assert {g.metric for g in record.gates} >= {"min_mean_cosine", "min_argmax_agreement"}
        assert record.details["evaluation_rows"] == images + texts
        assert set(record.details) >= {"text_tower", "image_tower"}  # each graph's own details
        assert outcome.written == repository / name
        assert set(outcome.companions) == {repository / f"{name}_text_tower", repository / f"{name}_image_tower"}
    static = next(o for o in outcomes if o.record.variant == "int8_static").record.details["image_tower"]
    assert isinstance(static, dict) and static["calibration_inputs"] == len(sample_photographs()[1::2]) * 6
    assert validate_path(repository) == []  # what `tritonkit validate` checks


def test_the_fp32_towers_compose_to_clipmodel_logits(tiny_clip: Path, clip_export: Exported) -> None:
    """The composition the served model computes, from the exported towers, equals CLIPModel's
    logits_per_image: the towers' split loses nothing."""
    repository, _ = clip_export
    (labels,) = tokenize(tiny_clip, list(LABELS), 32, len(LABELS))
    (pixels,) = photograph_batches(tiny_clip, sample_photographs()[:1], 16)
    model = CLIPModel.from_pretrained(str(tiny_clip)).eval()
    with torch.inference_mode():
        expected = model(**{k: torch.from_numpy(v) for k, v in labels.items()},
                         pixel_values=torch.from_numpy(pixels["pixel_values"])).logits_per_image.numpy()  # fmt: skip
    text = _session(repository / "clip_fp32_text_tower").run(["text_embeds"], labels)[0]
    image = _session(repository / "clip_fp32_image_tower").run(["image_embeds"], pixels)[0]
    composed = similarities(image, text, float(model.logit_scale.detach().exp()))
    np.testing.assert_allclose(composed, expected, atol=1e-4)


def test_the_composed_model_batches_images_and_names_its_labels(clip_export: Exported) -> None:
    repository, _ = clip_export
    config = model_config.read_config(repository / "clip_fp32" / "config.pbtxt")
    assert config.backend == "python" and config.max_batch_size > 1
    assert [(o.name, list(o.dims), o.label_filename) for o in config.output] == [
        ("logits_per_image", [len(LABELS)], "labels.txt")
    ]
    assert (repository / "clip_fp32" / "labels.txt").read_text().splitlines() == list(LABELS)
    assert (repository / "clip_fp32" / "preprocessor" / "preprocessor_config.json").is_file()
    tower = model_config.read_config(repository / "clip_fp32_text_tower" / "config.pbtxt")
    assert [i.name for i in tower.input] == ["input_ids", "attention_mask"] and tower.max_batch_size > 1


@pytest.mark.integration
def test_served_similarities_match_the_towers_in_onnxruntime(tiny_clip: Path, clip_export: Exported) -> None:
    repository, _ = clip_export
    (labels,) = tokenize(tiny_clip, list(LABELS), 32, len(LABELS))
    (pixels,) = photograph_batches(tiny_clip, sample_photographs()[:1], 16)
    scale = float(CLIPModel.from_pretrained(str(tiny_clip)).logit_scale.detach().exp())
    with LocalServer(repository, load_all=False) as server:
        for variant in VARIANTS:
            name = f"clip_{variant}"
            server.load(name)  # it loads its towers itself, at its first request
            text = _session(repository / f"{name}_text_tower").run(["text_embeds"], labels)[0]
            image = _session(repository / f"{name}_image_tower").run(["image_embeds"], pixels)[0]
            served = infer_once(server.client, name, pixels, ["logits_per_image"])["logits_per_image"]
            np.testing.assert_allclose(served, similarities(image, text, scale), atol=1e-4, err_msg=name)
        best = _classify(server.client, "clip_fp32", pixels["pixel_values"][:2])
        expected = np.argmax(infer_once(server.client, "clip_fp32", {"pixel_values": pixels["pixel_values"][:2]})
                             ["logits_per_image"], axis=-1)  # fmt: skip
        assert best == [LABELS[i] for i in expected]


def _classify(client: grpcclient.InferenceServerClient, model: str, pixels: np.ndarray) -> list[str]:
    """Triton's classification extension: the best label of each image, named from labels.txt."""
    request = grpcclient.InferInput("pixel_values", list(pixels.shape), "FP32")
    request.set_data_from_numpy(pixels)
    best = grpcclient.InferRequestedOutput("logits_per_image", class_count=1)
    result = client.infer(model, [request], outputs=[best])
    return [entry[0].decode().split(":", 2)[2] for entry in result.as_numpy("logits_per_image")]


@pytest.mark.integration
def test_check_measures_the_composed_model_with_photographs(clip_export: Exported, tmp_path: Path) -> None:
    repository, _ = clip_export
    payload = {"kind": "images", "batch_size": 2, "count": 8}
    measurement = check_briefly(repository, "clip_int8_dynamic", payload, tmp_path)
    assert measurement.inferences_per_request == 2


def test_a_zero_shot_recipe_reports_every_problem_at_once(
    tiny_clip: Path, write_recipe: WriteRecipe, tmp_path: Path
) -> None:
    fields = clip_recipe(tiny_clip, variants=["fp32", "distilled"], max_sequence_length=128)
    del fields["labels"]
    with pytest.raises(InputError) as error:
        export(load_recipe(write_recipe(fields)), tmp_path / "repo", progress=lambda _: None)
    message = str(error.value)
    assert "variant distilled applies to text tasks, not to zero-shot-image-classification" in message
    assert "labels: task zero-shot-image-classification scores images against labels" in message
    assert "max_sequence_length 128 is more than the text tower's 64 positions" in message
    assert not (tmp_path / "repo").exists()


def test_labels_belong_to_zero_shot_and_a_clip_task_needs_a_clip(
    tmp_path_factory: pytest.TempPathFactory, write_recipe: WriteRecipe, tmp_path: Path
) -> None:
    vit = vit_classifier(tmp_path_factory.mktemp("tiny") / "vit")
    fields = {"name": "vit", "source": {"path": str(vit)}, "task": "image-classification", "labels": ["a", "b"]}
    with pytest.raises(InputError, match="labels: only zero-shot-image-classification takes labels"):
        export(load_recipe(write_recipe(fields)), tmp_path / "repo", progress=lambda _: None)
    with pytest.raises(InputError, match="needs a CLIP model \\(model_type clip\\)"):
        export(load_recipe(write_recipe(clip_recipe(vit), name="clip.yaml")), tmp_path / "repo", progress=print)
    assert not (tmp_path / "repo").exists()


def _session(model: Path) -> ort.InferenceSession:
    return ort.InferenceSession(str(model / "1" / "model.onnx"), providers=["CPUExecutionProvider"])
