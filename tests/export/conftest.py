"""Export fixtures: tiny random BERTs built here, recipes written as YAML, one shared export run."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.export.tiny_models import classifier_model, sentence_embedding_model
from tritonkit.export.pipeline import VariantOutcome, export
from tritonkit.export.recipe import load_recipe, read_texts
from tritonkit.report.results import MeasurementRecord, Results
from tritonkit.specs import RecipeSpec

TEXTS = Path(__file__).resolve().parents[2] / "export" / "texts"
ALL_TEXTS = [
    line for name in ("evaluation", "calibration", "distillation") for line in read_texts(TEXTS / f"{name}.txt")
]
TINY_VARIANTS = ["fp32", "optimized", "int8_dynamic", "int8_static", "distilled", "fp16", "tensorrt"]

WriteRecipe = Callable[..., Path]


@pytest.fixture(scope="session")
def tiny_embedder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return sentence_embedding_model(tmp_path_factory.mktemp("tiny") / "embedder", ALL_TEXTS)


@pytest.fixture(scope="session")
def tiny_classifier(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return classifier_model(tmp_path_factory.mktemp("tiny") / "classifier", ALL_TEXTS)


def recipe_fields(source: Path, task: str, **overrides: Any) -> dict[str, Any]:
    fields: dict[str, Any] = {
        "name": "tiny",
        "source": {"path": str(source)},
        "task": task,
        "max_sequence_length": 64,
        "variants": TINY_VARIANTS,
        "evaluation_texts": str(TEXTS / "evaluation.txt"),
        "calibration_texts": str(TEXTS / "calibration.txt"),
        "distillation": {"text_file": str(TEXTS / "distillation.txt"), "steps": 20},
    }
    return {**fields, **overrides}


@pytest.fixture
def write_recipe(tmp_path: Path) -> WriteRecipe:
    def write(fields: dict[str, Any], name: str = "recipe.yaml") -> Path:
        path = tmp_path / name
        path.write_text(yaml.safe_dump(fields))
        return path

    return write


@pytest.fixture(scope="session")
def tiny_recipe(tiny_embedder: Path, tmp_path_factory: pytest.TempPathFactory) -> RecipeSpec:
    path = tmp_path_factory.mktemp("recipe") / "tiny.yaml"
    path.write_text(yaml.safe_dump(recipe_fields(tiny_embedder, "sentence-embedding")))
    return load_recipe(path)


@pytest.fixture(scope="session")
def tiny_export(tiny_recipe: RecipeSpec, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[VariantOutcome]]:
    """Every variant of the tiny embedder, exported once for the tests that inspect the result."""
    repository = tmp_path_factory.mktemp("export") / "model_repository"
    return repository, export(tiny_recipe, repository, progress=lambda _: None)


def check_briefly(repository: Path, model: str, payload: dict[str, Any], tmp_path: Path) -> MeasurementRecord:
    """`tritonkit check` of `model` with `payload`, closed loop, briefly, as a user runs it on an
    export: its measurement, with no error and some latency recorded."""
    from tests.e2e.test_check_cli import write_targets
    from tests.e2e.test_cli import run

    target = {
        "name": "brief-closed", "model": model,
        "load": {"mode": "closed", "concurrency": 2, "warmup_s": 0.5, "window_s": 1.0, "duration_s": 2.0,
                 "stable_windows": 2},
        "payload": payload, "slo": {"p99_ms": 5000},
    }  # fmt: skip
    targets = write_targets(tmp_path / "targets.yaml", [target])
    report = tmp_path / "report"
    result = run("check", targets, "--model-repository", repository, "--report-dir", report, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    (measurement,) = Results.model_validate_json((report / "results.json").read_text()).measurements
    assert measurement.error_count == 0
    assert measurement.latency is not None and measurement.latency.count > 0
    return measurement
