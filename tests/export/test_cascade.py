"""Cascades of classifier heads, exported on a tiny random sentence encoder and served on the real
Triton: rows escalate exactly when the small head's confidence is below the threshold, each stage's
answer equals its head served alone, Triton's metrics count the escalations, and a cascade whose
stage is missing fails by name before any server sees it."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import urllib.request
from pathlib import Path

import numpy as np
import pytest
import tritonclient.grpc as grpcclient
import yaml

from tests.commands import TRITONKIT
from tests.export.conftest import recipe_fields
from tests.export.test_heads import labelled_file
from tritonkit.errors import InputError
from tritonkit.export.cascade import confidence, write_cascades
from tritonkit.export.heads import PROBABILITIES
from tritonkit.export.labelled import read_labelled
from tritonkit.export.pipeline import export
from tritonkit.export.recipe import load_recipe
from tritonkit.export.reference import tokenize
from tritonkit.k8s.overlay import with_callees
from tritonkit.triton.model_config import read_config
from tritonkit.triton.server import LocalServer
from tritonkit.triton.validate import validate_path

pytestmark = pytest.mark.integration

SMALL, LARGE = "tiny_kind_int8_dynamic", "tiny_kind_fp32"
CASCADE = "tiny_kind_cascade"
REPEATS = 300
Batch = dict[str, np.ndarray]


@pytest.fixture(scope="module")
def exported(tiny_embedder: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("cascade")
    data = labelled_file(root / "messages.tsv")
    fields = recipe_fields(
        tiny_embedder, "sentence-embedding", variants=["fp32", "int8_dynamic"],
        heads=[{"name": "kind", "data": str(data)}],
        cascades=[{"head": "kind", "small": "int8_dynamic", "large": "fp32", "max_accuracy_loss": 0.0}],
    )  # fmt: skip
    (root / "recipe.yaml").write_text(yaml.safe_dump(fields))
    repository = root / "model_repository"
    export(load_recipe(root / "recipe.yaml"), repository, progress=lambda _: None)
    return repository, data


def infer(client: grpcclient.InferenceServerClient, model: str, batch: Batch) -> grpcclient.InferResult:
    inputs = []
    for name, array in batch.items():
        tensor = grpcclient.InferInput(name, list(array.shape), "INT64")
        tensor.set_data_from_numpy(array)
        inputs.append(tensor)
    return client.infer(model, inputs, client_timeout=30)  # a crashed server fails the test, not hangs it


def metric(text: str, name: str, **labels: str) -> float:
    """The sum of a metric's series with these labels in Triton's Prometheus text (one per instance)."""
    total = 0.0
    for line in text.splitlines():
        found = re.fullmatch(rf"{name}\{{(.*)\}} (\S+)", line)
        if found and all(f'{k}="{v}"' in found[1] for k, v in labels.items()):
            total += float(found[2])
    return total


def test_the_record_says_the_threshold_and_the_accuracies(exported: tuple[Path, Path]) -> None:
    repository, _ = exported
    assert validate_path(repository) == []
    details = json.loads((repository / CASCADE / "export_record.json").read_text())["details"]["cascade"]
    assert (details["small"], details["large"], details["confidence"]) == ("int8_dynamic", "fp32", "max_probability")
    # No accuracy may be lost on the out-of-fold train predictions it was chosen on.
    chosen = details["out_of_fold_train"]
    assert chosen["cascade"] >= chosen["large"]
    curve = details["test_curve"]
    assert curve[0] == {"threshold": 0.0, "accuracy": details["test"]["small"], "escalation_rate": 0.0}
    assert [point["escalation_rate"] for point in curve] == sorted(point["escalation_rate"] for point in curve)
    config = read_config(repository / CASCADE / "config.pbtxt")
    assert config.parameters["bls_models"].string_value == f"{SMALL},{LARGE}"


def test_rows_escalate_exactly_below_the_threshold_and_stages_answer_as_alone(
    exported: tuple[Path, Path], tiny_embedder: Path
) -> None:
    repository, data = exported
    labelled = read_labelled(data, "kind")
    (batch,) = tokenize(tiny_embedder, labelled.texts["test"][:16], 64, 16)
    batch = {
        k: v for k, v in batch.items() if k in {t.name for t in read_config(repository / SMALL / "config.pbtxt").input}
    }
    config = read_config(repository / CASCADE / "config.pbtxt")
    with LocalServer(repository, load_all=False) as server:
        server.load(CASCADE)  # its stages are loaded first, by tritonkit
        assert server.client.is_model_ready(SMALL) and server.client.is_model_ready(LARGE)
        small = infer(server.client, SMALL, batch).as_numpy(PROBABILITIES)
        large = infer(server.client, LARGE, batch).as_numpy(PROBABILITIES)
        confident = confidence(small, "max_probability")
        # A threshold between two rows' confidences: the rows below it, and only they, escalate.
        threshold = float(np.median(confident))
        config.parameters["threshold"].string_value = repr(threshold)
        server.load(CASCADE, config)  # its old instances, which had no requests, go
        # The reloaded cascade under load: a reload once left the new instances' metrics freed.
        results = [infer(server.client, CASCADE, batch) for _ in range(REPEATS)]
        after = urllib.request.urlopen(server.metrics_url, timeout=10).read().decode()
    escalated = confident < threshold
    assert 0 < escalated.sum() < len(escalated)
    expected = np.where(escalated[:, None], large, small)
    for result in results:
        answered_by = [name.decode() for name in result.as_numpy("answered_by")[:, 0]]
        assert answered_by == [LARGE if hard else SMALL for hard in escalated]
        np.testing.assert_allclose(result.as_numpy(PROBABILITIES), expected, atol=1e-6)
        confident_in_answer = confidence(expected, "max_probability")
        np.testing.assert_allclose(result.as_numpy("confidence")[:, 0], confident_in_answer, atol=1e-6)
    rows = metric(after, "tritonkit_cascade_rows", model=CASCADE)
    escalations = metric(after, "tritonkit_cascade_escalations", model=CASCADE)
    assert (rows, escalations) == (REPEATS * len(escalated), REPEATS * escalated.sum())
    assert metric(after, "tritonkit_cascade_stage_duration_seconds_count", model=CASCADE, stage="large") == REPEATS


def test_a_missing_stage_fails_by_name_before_any_server(exported: tuple[Path, Path], tmp_path: Path) -> None:
    repository, _ = exported
    copy = tmp_path / "model_repository"
    shutil.copytree(repository, copy)
    assert with_callees((CASCADE,), copy) == (SMALL, LARGE, CASCADE)
    shutil.rmtree(copy / LARGE)
    problems = [str(p) for p in validate_path(copy / CASCADE)]
    assert problems and all("parameters['bls_models'] = 'tiny_kind_fp32'" in p for p in problems), problems
    with pytest.raises(InputError, match="calls 'tiny_kind_fp32'"):
        with_callees((CASCADE,), copy)
    with LocalServer(copy, load_all=False) as server, pytest.raises(InputError, match="tiny_kind_fp32"):
        server.load(CASCADE)


def test_a_target_names_the_cascade_like_any_model(exported: tuple[Path, Path], tmp_path: Path) -> None:
    """`tritonkit check` loads the cascade with its stages and measures it with real messages (a few
    queue-timeout rejections are allowed: the local server stalls now and then, see README Limits)."""
    repository, data = exported
    texts = tmp_path / "messages.txt"
    texts.write_text("\n".join(read_labelled(data, "kind").texts["test"]) + "\n")
    load = {"mode": "closed", "concurrency": 2, "warmup_s": 0.5, "window_s": 1.0, "duration_s": 3.0}
    payload = {"kind": "tokens", "texts": str(texts), "lengths": "buckets", "sequence_length": 64}
    slo = {"p99_ms": 5000, "max_error_rate": 0.1}
    target = {"name": "triage", "model": CASCADE, "load": load, "payload": payload, "slo": slo}
    (tmp_path / "targets.yaml").write_text(yaml.safe_dump({"targets": [target]}))
    result = subprocess.run(
        [*TRITONKIT, "check", tmp_path / "targets.yaml", "--model-repository", repository,
         "--report-dir", tmp_path / "report"],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    assert "1 of 1 targets met their SLO" in result.stdout, result.stdout


def test_a_cascade_whose_variant_has_no_head_is_not_written(tmp_path: Path) -> None:
    """A variant that failed its gate has no head: its cascades are left out, by name."""
    recipe = load_recipe(Path(__file__).resolve().parents[2] / "export" / "minilm_support.yaml")
    said: list[str] = []
    assert write_cascades(recipe, [], tmp_path, tmp_path, force=False, progress=said.append) == []
    assert said == [f"      minilm_support_{head}_cascade: not written, no {head} head on distilled and fp32"
                    for head in ("sentiment", "topic")]  # fmt: skip
    assert list(tmp_path.iterdir()) == []
