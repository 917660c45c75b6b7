from __future__ import annotations

from pathlib import Path

import pytest

from tritonkit.errors import InputError
from tritonkit.triton import model_config, profiles
from tritonkit.triton.onnx_signature import read_signature
from tritonkit.triton.repository import STAGING_PREFIX, write_model


def _config(onnx: Path, name: str = "mlp", profile: str = "latency") -> model_config.ModelConfig:
    return model_config.build_config(name, read_signature(onnx), profiles.profile(profile))


def test_writes_config_and_versioned_model(tmp_path: Path, mlp_onnx: Path) -> None:
    config = _config(mlp_onnx)
    target = write_model(tmp_path / "repo", config, mlp_onnx, version=3, extra_files={"tokenizer/vocab.txt": mlp_onnx})
    assert target == tmp_path / "repo" / "mlp"
    assert (target / "3" / "model.onnx").read_bytes() == mlp_onnx.read_bytes()
    assert (target / "tokenizer" / "vocab.txt").is_file()
    assert model_config.read_config(target / "config.pbtxt") == config
    assert [p.name for p in (tmp_path / "repo").iterdir()] == ["mlp"], "no staging left behind"


def test_refuses_to_overwrite_without_force(tmp_path: Path, mlp_onnx: Path) -> None:
    write_model(tmp_path, _config(mlp_onnx), mlp_onnx)
    before = (tmp_path / "mlp" / "config.pbtxt").read_text()
    with pytest.raises(InputError, match="already exists; pass --force"):
        write_model(tmp_path, _config(mlp_onnx, profile="throughput"), mlp_onnx)
    assert (tmp_path / "mlp" / "config.pbtxt").read_text() == before


def test_force_replaces_the_whole_model(tmp_path: Path, mlp_onnx: Path) -> None:
    write_model(tmp_path, _config(mlp_onnx), mlp_onnx, version=1)
    write_model(tmp_path, _config(mlp_onnx, profile="throughput"), mlp_onnx, version=2, force=True)
    assert sorted(p.name for p in (tmp_path / "mlp").iterdir()) == ["2", "config.pbtxt"]
    assert model_config.read_config(tmp_path / "mlp" / "config.pbtxt").max_batch_size == 64


def test_a_failed_write_leaves_the_old_model_and_no_staging(tmp_path: Path, mlp_onnx: Path) -> None:
    write_model(tmp_path, _config(mlp_onnx), mlp_onnx)
    before = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*"))
    with pytest.raises(FileNotFoundError):
        write_model(tmp_path, _config(mlp_onnx), mlp_onnx, extra_files={"x": tmp_path / "missing"}, force=True)
    assert sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*")) == before
    assert not any(p.name.startswith(STAGING_PREFIX) for p in tmp_path.iterdir())


def test_a_failed_first_write_creates_no_model(tmp_path: Path, mlp_onnx: Path) -> None:
    with pytest.raises(FileNotFoundError):
        write_model(tmp_path, _config(mlp_onnx), mlp_onnx, extra_files={"x": tmp_path / "missing"})
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("name", ["", "../escape", ".hidden"])
def test_rejects_names_that_are_not_directories(tmp_path: Path, mlp_onnx: Path, name: str) -> None:
    config = _config(mlp_onnx)
    config.name = name
    with pytest.raises(InputError, match="not a valid directory name"):
        write_model(tmp_path, config, mlp_onnx)


def test_missing_model_file_is_a_user_error(tmp_path: Path, mlp_onnx: Path) -> None:
    with pytest.raises(InputError, match="model file not found"):
        write_model(tmp_path, _config(mlp_onnx), tmp_path / "nope.onnx")
