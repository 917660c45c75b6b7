"""Ctrl-C (and SIGTERM) anywhere: during imports, an export, an add-model, a check or a sweep. Each
command exits 130 with one line and no traceback, and leaves no partial model, no staging or scratch
directory, no server process and no shared memory."""

from __future__ import annotations

import os
import queue
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import psutil
import pytest
import yaml

from tests.export.conftest import recipe_fields
from tests.export.tiny_models import sentence_embedding_model
from tritonkit import onnx_builders
from tritonkit.export.recipe import read_texts
from tritonkit.specs import DynamicBatchingKnobs, ServingKnobs
from tritonkit.triton import model_config, processes
from tritonkit.triton.onnx_signature import read_signature
from tritonkit.triton.repository import STAGING_PREFIX, write_model
from tritonkit.triton.validate import validate_path

pytestmark = pytest.mark.integration

TRITONKIT = [str(Path(sys.executable).with_name("tritonkit"))]  # the executable users run
TEXTS = Path(__file__).resolve().parents[2] / "export" / "texts"


class Command:
    """A tritonkit process whose output is read line by line, with its own TMPDIR to check for scratch."""

    def __init__(self, root: Path, *args: str | Path) -> None:
        self.scratch = root / "scratch"
        self.scratch.mkdir()
        env = {**os.environ, "TMPDIR": str(self.scratch), "PYTHONUNBUFFERED": "1"}
        self.process = subprocess.Popen(
            [*TRITONKIT, *map(str, args)], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env
        )
        self.lines: queue.Queue[str] = queue.Queue()
        self.output: list[str] = []
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.put(line)

    def wait_for(self, marker: str, timeout_s: float = 300) -> None:
        deadline = time.monotonic() + timeout_s
        while not any(marker in line for line in self.output):
            if time.monotonic() > deadline or (self.process.poll() is not None and self.lines.empty()):
                raise AssertionError(f"no {marker!r} in the output: {''.join(self.output)[-2000:]}")
            try:
                self.output.append(self.lines.get(timeout=0.1))
            except queue.Empty:
                continue

    def interrupt(self, sent: int = signal.SIGINT, *, may_finish: bool = False) -> int:
        """Send `sent`, wait for the exit, check code 130 and the one line (or, with `may_finish`, a
        command that completed first); the exit code."""
        self.process.send_signal(sent)
        try:
            code = self.process.wait(timeout=120)
        finally:
            self.process.kill()
        time.sleep(0.2)  # the reader drains the pipe
        while not self.lines.empty():
            self.output.append(self.lines.get())
        text = "".join(self.output)
        assert "Traceback" not in text, text[-3000:]
        if not (may_finish and code == 0):
            assert code == 130, text[-3000:]
            assert text.strip().splitlines()[-1] == "interrupted: stopped", text[-3000:]
        ours = [p.name for p in self.scratch.iterdir() if p.name.startswith("tritonkit")]  # not libraries' own
        assert not ours, f"scratch left behind: {ours}"
        prefix = f"tritonkit_{self.process.pid}_"
        servers = [p.pid for p in psutil.process_iter(["cmdline"]) if prefix in " ".join(p.info["cmdline"] or ())]
        assert not servers, f"server processes left behind: {servers}"
        assert not processes.shm_regions(prefix)
        return code


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
