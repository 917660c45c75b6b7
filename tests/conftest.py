"""Shared fixtures: tiny ONNX models are built by tritonkit.onnx_builders, never downloaded."""

from __future__ import annotations

from pathlib import Path

import pytest

from tritonkit import onnx_builders


@pytest.fixture(scope="session")
def mlp_onnx(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return onnx_builders.mlp(tmp_path_factory.mktemp("onnx") / "mlp.onnx")
