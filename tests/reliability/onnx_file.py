"""A real ONNX model beside a case's inputs, for commands that read one (add-model)."""

from __future__ import annotations

from pathlib import Path

from tests.reliability.harness import Setup, chain
from tritonkit import onnx_builders


def _model(root: Path) -> None:
    onnx_builders.mlp(root / "model.onnx")


def with_onnx(setup: Setup) -> Setup:
    return chain(_model, setup)
