"""Shared fixtures: tiny ONNX models are built by tritonkit.onnx_builders, never downloaded. The
exporter's remembered int8 answers go to a folder of the test session's own, never the user's
cache."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tritonkit import onnx_builders
from tritonkit.export.int8_memory import CACHE_ENV


@pytest.fixture(scope="session", autouse=True)
def _own_cache() -> Iterator[None]:
    with tempfile.TemporaryDirectory(prefix="tritonkit-cache-") as folder:
        previous = os.environ.get(CACHE_ENV)
        os.environ[CACHE_ENV] = folder  # subprocesses (the CLI under test) inherit it
        yield
        if previous is None:
            os.environ.pop(CACHE_ENV, None)
        else:
            os.environ[CACHE_ENV] = previous


@pytest.fixture(scope="session")
def mlp_onnx(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return onnx_builders.mlp(tmp_path_factory.mktemp("onnx") / "mlp.onnx")
