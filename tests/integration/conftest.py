"""One real tritonserver shared by the integration tests that can share it (starting one costs seconds)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tritonkit import onnx_builders
from tritonkit.specs import (
    DynamicBatchingKnobs,
    InstanceGroupKnobs,
    OnnxRuntimeKnobs,
    ServingKnobs,
    WarmupKnobs,
)
from tritonkit.triton import model_config
from tritonkit.triton.onnx_signature import read_signature
from tritonkit.triton.repository import write_model
from tritonkit.triton.server import LocalServer

BATCH_WINDOW_US = 200_000  # long enough that concurrent requests always meet in one batch

MODELS = {
    # Dynamic batching with a wide window: concurrent requests must be executed together.
    "mlp_batching": ServingKnobs(
        max_batch_size=16,
        dynamic_batching=DynamicBatchingKnobs(
            preferred_batch_sizes=(16,), max_queue_delay_microseconds=BATCH_WINDOW_US
        ),
        onnxruntime=OnnxRuntimeKnobs(intra_op_thread_count=1, graph_optimization_level="basic"),
        warmup=WarmupKnobs(batch_sizes=(1, 16)),
    ),
    "mlp_two_instances": ServingKnobs(
        max_batch_size=8,
        instance_groups=(InstanceGroupKnobs(count=2),),
        onnxruntime=OnnxRuntimeKnobs(intra_op_thread_count=2, graph_optimization_level="disabled"),
    ),
    # Reloaded with overrides by the model-control tests; nobody else relies on its config.
    "mlp_reload": ServingKnobs(max_batch_size=4),
}


def build_repository(root: Path) -> Path:
    onnx = onnx_builders.mlp(root / "onnx" / "mlp.onnx")
    fixed = onnx_builders.mlp(root / "onnx" / "fixed.onnx", batch_dynamic=False)
    repository = root / "repository"
    for name, knobs in MODELS.items():
        write_model(repository, model_config.build_config(name, read_signature(onnx), knobs), onnx)
    write_model(repository, model_config.build_config("mlp_fixed", read_signature(fixed), ServingKnobs()), fixed)
    # A config naming an input the graph does not have: must fail alone, clearly. Written over a
    # valid model, since the repository writer refuses to write what Triton would refuse.
    broken = model_config.build_config("broken", read_signature(onnx), ServingKnobs(max_batch_size=4))
    write_model(repository, broken, onnx)
    broken.input[0].name = "nope"
    (repository / "broken" / "config.pbtxt").write_text(model_config.render(broken))
    return repository


@pytest.fixture(scope="session")
def repository(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_repository(tmp_path_factory.mktemp("integration"))


@pytest.fixture(scope="session")
def server(repository: Path) -> Iterator[LocalServer]:
    with LocalServer(repository) as running:
        yield running


@pytest.fixture(scope="session")
def onnx_path(repository: Path) -> Path:
    return repository.parent / "onnx" / "mlp.onnx"


def stub_processes(server: LocalServer, model: str) -> list[tuple[int, int]]:
    """(pid, thread count) of each Python-stub process serving `model`: one per model instance."""
    found = []
    for proc in Path("/proc").iterdir():
        try:
            args = (proc / "cmdline").read_bytes().decode().split("\0")
            status = dict(line.split(":\t", 1) for line in (proc / "status").read_text().splitlines() if ":\t" in line)
        except (OSError, ValueError):
            continue  # not a process, or it exited while we looked
        if (
            int(status.get("PPid", "0")) == server.pid
            and args[0].endswith("triton_python_backend_stub")
            and any(a.startswith(f"{model}_0_") for a in args)
        ):
            found.append((int(proc.name), int(status["Threads"])))
    return found
