"""image-classification on a tiny random ViT: exported from pixel_values, gated on top-1 agreement
and top-5 overlap over real photographs (scikit-image's, or a folder of the user's), shipped with
its image processor, and served by Triton exactly as ONNX Runtime runs it."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest
from PIL import Image

from tests.export.conftest import WriteRecipe, check_briefly
from tests.export.tiny_vision import IMAGE_SIZE, LABELS, vit_classifier
from tritonkit.errors import InputError
from tritonkit.export.pipeline import VariantOutcome, export
from tritonkit.export.recipe import load_recipe
from tritonkit.export.reference import pixel_batches
from tritonkit.images import read_rgb, sample_photographs, views
from tritonkit.triton import model_config
from tritonkit.triton.infer import infer_once
from tritonkit.triton.server import LocalServer

VARIANTS = ["fp32", "optimized", "int8_dynamic", "int8_static"]


@pytest.fixture(scope="module")
def tiny_vit(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return vit_classifier(tmp_path_factory.mktemp("tiny") / "vit")


@pytest.fixture(scope="module")
def vit_export(tiny_vit: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[VariantOutcome]]:
    folder = tmp_path_factory.mktemp("recipe")
    recipe = folder / "vit.yaml"
    recipe.write_text(f"name: vit\nsource: {{path: {tiny_vit}}}\ntask: image-classification\nvariants: {VARIANTS}\n")
    repository = folder / "repo"
    return repository, export(load_recipe(recipe), repository, progress=lambda _: None)


def test_every_variant_is_gated_on_photographs_and_written(vit_export: tuple[Path, list[VariantOutcome]]) -> None:
    _, outcomes = vit_export
    # Half of scikit-image's photographs, six views each: the evaluation half.
    evaluated = len(sample_photographs()[0::2]) * 6
    for outcome in outcomes:
        record = outcome.record
        assert record.passed and outcome.written is not None, record.gates
        assert {g.metric for g in record.gates} >= {"min_argmax_agreement", "min_top5_overlap"}
        assert "min_cosine" not in {g.metric for g in record.gates}  # cosine of logits means nothing
        assert record.details["evaluation_rows"] == evaluated
    static = next(o for o in outcomes if o.record.variant == "int8_static").record
    assert static.details["calibration_inputs"] == len(sample_photographs()[1::2]) * 6  # the other half


def test_the_config_has_fixed_image_dims_and_the_processor_ships(vit_export: tuple[Path, list[VariantOutcome]]) -> None:
    repository, _ = vit_export
    config = model_config.read_config(repository / "vit_fp32" / "config.pbtxt")
    assert [(i.name, list(i.dims)) for i in config.input] == [("pixel_values", [3, IMAGE_SIZE, IMAGE_SIZE])]
    assert [(o.name, list(o.dims)) for o in config.output] == [("logits", [LABELS])]
    assert config.max_batch_size > 1  # fixed dims: the dynamic batcher can stack requests
    assert (repository / "vit_fp32" / "preprocessor" / "preprocessor_config.json").is_file()


@pytest.mark.integration
def test_served_logits_match_onnxruntime(vit_export: tuple[Path, list[VariantOutcome]]) -> None:
    repository, _ = vit_export
    photos = views(read_rgb(sample_photographs()[0]))
    (batch,) = pixel_batches(repository / "vit_fp32" / "preprocessor", photos)
    with LocalServer(repository, load_all=False) as server:
        for variant in VARIANTS:
            name = f"vit_{variant}"
            server.load(name)
            session = ort.InferenceSession(
                str(repository / name / "1" / "model.onnx"), providers=["CPUExecutionProvider"]
            )
            expected = session.run(["logits"], batch)[0]
            served = infer_once(server.client, name, batch, ["logits"])["logits"]
            np.testing.assert_allclose(served, expected, atol=1e-5, err_msg=name)


def test_a_folder_of_photographs_is_used_when_given(tiny_vit: Path, write_recipe: WriteRecipe, tmp_path: Path) -> None:
    photos = tmp_path / "photos"
    photos.mkdir()
    for index, source in enumerate(sample_photographs()[:2]):
        Image.fromarray(read_rgb(source)).save(photos / f"{index}.jpg")
    fields = {"name": "vit", "source": {"path": str(tiny_vit)}, "task": "image-classification",
              "variants": ["fp32"], "evaluation_images": str(photos)}  # fmt: skip
    (outcome,) = export(load_recipe(write_recipe(fields)), tmp_path / "repo", progress=lambda _: None)
    assert outcome.record.passed and outcome.record.details["evaluation_rows"] == 2 * 6


def test_text_inputs_and_text_only_variants_are_refused_for_an_image_task(
    tiny_vit: Path, write_recipe: WriteRecipe, tmp_path: Path
) -> None:
    texts = tmp_path / "texts.txt"
    texts.write_text("a sentence\n")
    fields = {"name": "vit", "source": {"path": str(tiny_vit)}, "task": "image-classification",
              "variants": ["fp32", "distilled"], "evaluation_texts": str(texts)}  # fmt: skip
    with pytest.raises(InputError) as error:
        export(load_recipe(write_recipe(fields)), tmp_path / "repo", progress=lambda _: None)
    message = str(error.value)
    assert "variant distilled applies to text tasks, not to image-classification" in message
    assert "evaluation_texts: image-classification takes image inputs" in message
    assert not (tmp_path / "repo").exists()


def test_the_default_variants_are_those_that_apply(tiny_vit: Path, write_recipe: WriteRecipe, tmp_path: Path) -> None:
    fields = {"name": "vit", "source": {"path": str(tiny_vit)}, "task": "image-classification"}
    outcomes = export(load_recipe(write_recipe(fields)), tmp_path / "repo", progress=lambda _: None)
    assert [o.record.variant for o in outcomes] == ["fp32", "optimized", "int8_dynamic", "int8_static"]


@pytest.mark.integration
def test_check_loads_the_exported_classifier_with_photographs(
    vit_export: tuple[Path, list[VariantOutcome]], tmp_path: Path
) -> None:
    """`tritonkit check` as a user runs it on the export: an images payload (scikit-image's
    photographs through the processor shipped in vit_int8_dynamic/preprocessor/), a verdict."""
    repository, _ = vit_export
    payload = {"kind": "images", "batch_size": 4, "count": 8}
    measurement = check_briefly(repository, "vit_int8_dynamic", payload, tmp_path)
    assert measurement.inferences_per_request == 4


def test_a_source_that_cannot_give_the_task_is_refused_before_anything_is_built(
    tiny_classifier: Path, tiny_vit: Path, write_recipe: WriteRecipe, tmp_path: Path
) -> None:
    """A BERT classifier named for an image task, a ViT for a text task: found from their configs
    and files, every problem in one message, instead of a traceback from the exporter."""
    fields = {"name": "bert", "source": {"path": str(tiny_classifier)}, "task": "image-classification",
              "variants": ["fp32"]}  # fmt: skip
    with pytest.raises(InputError) as error:
        export(load_recipe(write_recipe(fields)), tmp_path / "repo", progress=lambda _: None)
    message = str(error.value)
    assert "is a bert model, and transformers has no AutoModelForImageClassification" in message
    assert "has no preprocessor_config.json (the image processor)" in message
    texts = tmp_path / "texts.txt"
    texts.write_text("a sentence\n")
    fields = {"name": "vit", "source": {"path": str(tiny_vit)}, "task": "token-classification", "variants": ["fp32"],
              "evaluation_texts": str(texts)}  # fmt: skip
    with pytest.raises(InputError) as error:
        export(load_recipe(write_recipe(fields, "vit.yaml")), tmp_path / "repo", progress=lambda _: None)
    assert "is a vit model, and transformers has no AutoModelForTokenClassification" in str(error.value)
    assert "has no tokenizer (tokenizer.json or tokenizer_config.json)" in str(error.value)
    assert not (tmp_path / "repo").exists()
