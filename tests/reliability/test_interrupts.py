"""Ctrl-C (and SIGTERM) anywhere: during imports, an export, an add-model, a check or a sweep. Each
command exits 130 with one line and no traceback, and leaves no partial model, no staging or scratch
directory, no server process and no shared memory."""

from __future__ import annotations

import signal
import time
from pathlib import Path

import pytest
import yaml

from tests.commands import Command
from tests.export.conftest import recipe_fields
from tests.export.tiny_models import sentence_embedding_model
from tritonkit import onnx_builders
from tritonkit.export.recipe import read_texts
from tritonkit.specs import DynamicBatchingKnobs, ServingKnobs
from tritonkit.triton import model_config
from tritonkit.triton.onnx_signature import read_signature
from tritonkit.triton.repository import STAGING_PREFIX, write_model
from tritonkit.triton.validate import validate_path

pytestmark = pytest.mark.integration

TEXTS = Path(__file__).resolve().parents[2] / "export" / "texts"


def assert_only_whole_models(repository: Path) -> None:
    if not repository.exists():
        return
    assert not [p for p in repository.iterdir() if p.name.startswith(STAGING_PREFIX)], "a staging directory is left"
    for model in repository.iterdir():
        assert (model / "config.pbtxt").is_file(), f"{model}: a partial model"
        assert not validate_path(model), f"{model}: a partial model"


@pytest.fixture(scope="module")
def tiny_recipe(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("interrupt-export")
    texts = [line for name in ("evaluation", "calibration") for line in read_texts(TEXTS / f"{name}.txt")]
    source = sentence_embedding_model(root / "embedder", texts)
    fields = recipe_fields(source, "sentence-embedding", variants=["fp32", "int8_dynamic", "distilled"])
    fields["distillation"] = {"text_file": str(TEXTS / "distillation.txt"), "steps": 400}
    path = root / "tiny.yaml"
    path.write_text(yaml.safe_dump(fields))
    return path


@pytest.mark.parametrize(
    "marker",
    [None, "resolving", "exporting fp32 ONNX", "[2/3]", "[3/3]"],
    ids=["during imports", "resolving the source", "exporting fp32", "second variant", "distilling"],
)
def test_export_interrupted(tmp_path: Path, tiny_recipe: Path, marker: str | None) -> None:
    repository = tmp_path / "repo"
    command = Command(tmp_path, "export", tiny_recipe, "--model-repository", repository)
    if marker is None:
        time.sleep(1.0)  # torch and transformers are still being imported
    else:
        command.wait_for(marker)
    command.interrupt()
    assert_only_whole_models(repository)


@pytest.mark.parametrize("after_s", [0.05, 0.1, 0.15, 0.2, 0.25, 0.3, 0.4, 0.5])
def test_add_model_interrupted(tmp_path: Path, after_s: float) -> None:
    """A quick command: the interrupt may come after it finished, but never leaves half a model."""
    onnx = onnx_builders.mlp(tmp_path / "mlp.onnx")
    command = Command(tmp_path, "add-model", onnx, "--name", "mlp", "--model-repository", tmp_path / "repo")
    time.sleep(after_s)
    if command.interrupt(may_finish=True) == 130:
        assert not (tmp_path / "repo" / "mlp").exists()
    assert_only_whole_models(tmp_path / "repo")


@pytest.fixture
def targets(tmp_path: Path) -> Path:
    onnx = onnx_builders.mlp(tmp_path / "mlp.onnx")
    knobs = ServingKnobs(max_batch_size=8, dynamic_batching=DynamicBatchingKnobs())
    write_model(tmp_path / "repo", model_config.build_config("mlp", read_signature(onnx), knobs), onnx)
    load = {"mode": "closed", "concurrency": 2, "warmup_s": 0.5, "window_s": 1.0, "duration_s": 60.0}
    target = {"name": "t", "model": "mlp", "load": load, "payload": {"kind": "random"}, "slo": {"p99_ms": 1000}}
    path = tmp_path / "targets.yaml"
    path.write_text(yaml.safe_dump({"targets": [target]}))
    return path


@pytest.mark.parametrize(
    ("marker", "sent"),
    [("loading mlp", signal.SIGINT), ("measuring t", signal.SIGINT), ("measuring t", signal.SIGTERM)],
)
def test_check_interrupted(tmp_path: Path, targets: Path, marker: str, sent: int) -> None:
    report = tmp_path / "report"
    command = Command(tmp_path, "check", targets, "--model-repository", tmp_path / "repo", "--report-dir", report)
    command.wait_for(marker)
    command.interrupt(sent)
    assert not report.exists(), "no report from an interrupted check"


def test_sweep_interrupted(tmp_path: Path, targets: Path) -> None:
    report = tmp_path / "report"
    command = Command(
        tmp_path, "sweep", targets, "--target", "t", "--levels", "1,2", "--model-repository", tmp_path / "repo",
        "--report-dir", report,
    )  # fmt: skip
    command.wait_for("sweep step 1")
    command.interrupt()
    assert not report.exists()
