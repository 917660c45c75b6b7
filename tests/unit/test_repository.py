from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest

from tritonkit import onnx_builders
from tritonkit.cli import main
from tritonkit.errors import InputError
from tritonkit.specs import ServingKnobs, VersionPolicyKnobs
from tritonkit.triton import model_config, profiles, repository
from tritonkit.triton.onnx_signature import read_signature
from tritonkit.triton.repository import STAGING_PREFIX, write_model
from tritonkit.triton.validate import validate_path


def _config(onnx_file: Path, name: str = "mlp", profile: str = "latency") -> model_config.ModelConfig:
    return model_config.build_config(name, read_signature(onnx_file), profiles.profile(profile))


def _files(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def _no_staging(root: Path) -> bool:
    return not any(p.name.startswith(STAGING_PREFIX) for p in root.rglob("*"))


def test_writes_config_and_versioned_model(tmp_path: Path, mlp_onnx: Path) -> None:
    config = _config(mlp_onnx)
    target = write_model(tmp_path / "repo", config, mlp_onnx, version=3, extra_files={"tokenizer/vocab.txt": mlp_onnx})
    assert target == tmp_path / "repo" / "mlp"
    assert (target / "3" / "model.onnx").read_bytes() == mlp_onnx.read_bytes()
    assert (target / "tokenizer" / "vocab.txt").is_file()
    assert model_config.read_config(target / "config.pbtxt") == config
    assert [p.name for p in (tmp_path / "repo").iterdir()] == ["mlp"], "no staging left behind"


def test_refuses_to_overwrite_a_version_without_force(tmp_path: Path, mlp_onnx: Path) -> None:
    write_model(tmp_path, _config(mlp_onnx), mlp_onnx)
    before = _files(tmp_path)
    with pytest.raises(InputError, match="1 already exists; pass --force"):
        write_model(tmp_path, _config(mlp_onnx, profile="throughput"), mlp_onnx)
    assert _files(tmp_path) == before


def test_a_second_version_keeps_the_first(tmp_path: Path, mlp_onnx: Path) -> None:
    other = onnx_builders.mlp(tmp_path / "src" / "other.onnx", seed=1)
    write_model(tmp_path / "repo", _config(mlp_onnx), mlp_onnx)
    write_model(tmp_path / "repo", _config(other), other, version=2)
    model = tmp_path / "repo" / "mlp"
    assert (model / "1" / "model.onnx").read_bytes() == mlp_onnx.read_bytes()
    assert (model / "2" / "model.onnx").read_bytes() == other.read_bytes()
    assert validate_path(model) == []


def test_force_replaces_only_the_version_named(tmp_path: Path, mlp_onnx: Path) -> None:
    other = onnx_builders.mlp(tmp_path / "src" / "other.onnx", seed=1)
    repo = tmp_path / "repo"
    write_model(repo, _config(mlp_onnx), mlp_onnx, version=1)
    write_model(repo, _config(mlp_onnx), mlp_onnx, version=2)
    write_model(repo, _config(other, profile="throughput"), other, version=2, force=True)
    model = repo / "mlp"
    assert sorted(p.name for p in model.iterdir()) == ["1", "2", "config.pbtxt"]
    assert (model / "1" / "model.onnx").read_bytes() == mlp_onnx.read_bytes()
    assert (model / "2" / "model.onnx").read_bytes() == other.read_bytes()
    assert model_config.read_config(model / "config.pbtxt").max_batch_size == 64, "--force rewrites the config"
    assert _no_staging(repo)


def test_a_new_version_must_fit_the_config_that_serves_it(tmp_path: Path, mlp_onnx: Path) -> None:
    narrow = onnx_builders.mlp(tmp_path / "src" / "narrow.onnx", features=8)
    repo = tmp_path / "repo"
    write_model(repo, _config(mlp_onnx), mlp_onnx)
    before = _files(repo)
    with pytest.raises(InputError, match=r"serves every version(.|\n)*-\s+dims: 16\n\s+\+\s+dims: 8"):
        write_model(repo, _config(narrow), narrow, version=2)
    assert _files(repo) == before


def test_force_rewrites_the_config_only_when_every_served_version_fits(tmp_path: Path, mlp_onnx: Path) -> None:
    narrow = onnx_builders.mlp(tmp_path / "src" / "narrow.onnx", features=8)
    repo = tmp_path / "repo"
    serve_all = ServingKnobs(max_batch_size=4, version_policy=VersionPolicyKnobs(policy="all"))
    write_model(repo, model_config.build_config("mlp", read_signature(mlp_onnx), serve_all), mlp_onnx)
    before = _files(repo)
    narrow_config = model_config.build_config("mlp", read_signature(narrow), serve_all)
    with pytest.raises(InputError, match=r"dims\[0\] = 8: expected 16, the graph's dim"):
        write_model(repo, narrow_config, narrow, version=2, force=True)
    assert _files(repo) == before, "the live config.pbtxt (hard-linked into staging) is untouched"
    assert _no_staging(repo)


def test_the_version_policy_must_serve_the_version_written(tmp_path: Path, mlp_onnx: Path) -> None:
    repo = tmp_path / "repo"
    write_model(repo, _config(mlp_onnx), mlp_onnx, version=3)
    with pytest.raises(InputError, match=r"serves versions \[3\] of \[2, 3\], not version 2"):
        write_model(repo, _config(mlp_onnx), mlp_onnx, version=2)
    assert sorted(p.name for p in (repo / "mlp").iterdir()) == ["3", "config.pbtxt"]


def test_symlinks_inside_the_repository_are_kept_as_files(tmp_path: Path, mlp_onnx: Path) -> None:
    repo = tmp_path / "repo"
    write_model(repo, _config(mlp_onnx, name="shared"), mlp_onnx)
    write_model(repo, _config(mlp_onnx), mlp_onnx)
    linked = repo / "mlp" / "notes.txt"
    linked.symlink_to(repo / "shared" / "config.pbtxt")
    write_model(repo, _config(mlp_onnx), mlp_onnx, version=2)
    copied = repo / "mlp" / "notes.txt"
    assert not copied.is_symlink() and copied.read_bytes() == (repo / "shared" / "config.pbtxt").read_bytes()


def test_external_data_travels_with_the_model_and_runs(tmp_path: Path, mlp_onnx: Path) -> None:
    source = tmp_path / "src" / "mlp.onnx"
    (source.parent / "w").mkdir(parents=True)
    onnx.save_model(onnx.load(str(mlp_onnx)), str(source), save_as_external_data=True, location="w/weights.bin")
    assert (source.parent / "w" / "weights.bin").is_file()
    target = write_model(tmp_path / "repo", _config(source), source)
    assert (target / "1" / "w" / "weights.bin").read_bytes() == (source.parent / "w" / "weights.bin").read_bytes()
    x = np.ones((2, 16), np.float32)
    served = ort.InferenceSession(str(target / "1" / "model.onnx")).run(None, {"x": x})
    expected = ort.InferenceSession(str(mlp_onnx)).run(None, {"x": x})
    np.testing.assert_allclose(served[0], expected[0])


def test_an_interrupted_copy_leaves_the_old_model_and_no_staging(
    tmp_path: Path, mlp_onnx: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_model(tmp_path, _config(mlp_onnx), mlp_onnx)
    before = _files(tmp_path)

    def interrupted(source: Path, destination: Path) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(repository, "_copy_new", interrupted)
    with pytest.raises(KeyboardInterrupt):
        write_model(tmp_path, _config(mlp_onnx), mlp_onnx, version=2)
    assert _files(tmp_path) == before
    assert _no_staging(tmp_path)


def test_an_interrupted_swap_puts_the_old_model_back(
    tmp_path: Path, mlp_onnx: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_model(tmp_path, _config(mlp_onnx), mlp_onnx)
    before = _files(tmp_path)
    rename = Path.rename

    def interrupted_after_moving_the_old_model_aside(self: Path, target: Path) -> Path:
        if self.parent.name.startswith(STAGING_PREFIX) and self.name == "mlp":  # the staged model moving in
            raise KeyboardInterrupt
        return rename(self, target)

    monkeypatch.setattr(Path, "rename", interrupted_after_moving_the_old_model_aside)
    with pytest.raises(KeyboardInterrupt):
        write_model(tmp_path, _config(mlp_onnx), mlp_onnx, version=2)
    monkeypatch.undo()
    assert _files(tmp_path) == before
    assert _no_staging(tmp_path)


def test_a_failed_write_leaves_the_old_model_and_no_staging(tmp_path: Path, mlp_onnx: Path) -> None:
    write_model(tmp_path, _config(mlp_onnx), mlp_onnx)
    before = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*"))
    with pytest.raises(FileNotFoundError):
        write_model(tmp_path, _config(mlp_onnx), mlp_onnx, extra_files={"x": tmp_path / "missing"}, force=True)
    assert sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*")) == before
    assert _no_staging(tmp_path)


def test_a_failed_first_write_creates_no_repository(tmp_path: Path, mlp_onnx: Path) -> None:
    with pytest.raises(FileNotFoundError):
        write_model(tmp_path / "a" / "repo", _config(mlp_onnx), mlp_onnx, extra_files={"x": tmp_path / "missing"})
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("name", ["", "../escape", ".hidden", "a b", "a;b", "a..b", "x" * 256, "modèle"])
def test_rejects_names_outside_the_safe_set(tmp_path: Path, mlp_onnx: Path, name: str) -> None:
    config = _config(mlp_onnx)
    config.name = name
    with pytest.raises(InputError, match="is not allowed: use letters, digits"):
        write_model(tmp_path, config, mlp_onnx)
    assert list(tmp_path.iterdir()) == []


def test_accepts_the_longest_safe_name(tmp_path: Path, mlp_onnx: Path) -> None:
    assert write_model(tmp_path, _config(mlp_onnx, name="m" * 255), mlp_onnx).name == "m" * 255


@pytest.mark.parametrize("version", [0, -1, 2**63])
def test_rejects_versions_triton_cannot_read(tmp_path: Path, mlp_onnx: Path, version: int) -> None:
    with pytest.raises(InputError, match=r"outside 1\.\.9223372036854775807"):
        write_model(tmp_path, _config(mlp_onnx), mlp_onnx, version=version)


@pytest.mark.parametrize("relative", ["../x", "/etc/x", "config.pbtxt", "2/model.onnx"])
def test_rejects_extra_files_outside_their_place(tmp_path: Path, mlp_onnx: Path, relative: str) -> None:
    with pytest.raises(InputError, match="extra file"):
        write_model(tmp_path, _config(mlp_onnx), mlp_onnx, extra_files={relative: mlp_onnx})


def test_missing_model_file_is_a_user_error(tmp_path: Path, mlp_onnx: Path) -> None:
    with pytest.raises(InputError, match="model file not found"):
        write_model(tmp_path, _config(mlp_onnx), tmp_path / "nope.onnx")


def test_ctrl_c_during_add_model_exits_130_with_one_line_and_no_staging(
    tmp_path: Path, mlp_onnx: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def interrupted(source: Path, destination: Path) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(repository, "_copy_new", interrupted)
    code = main(["add-model", str(mlp_onnx), "--name", "mlp", "--model-repository", str(tmp_path / "repo")])
    assert code == 130
    assert capsys.readouterr().err.splitlines() == ["interrupted: stopped"]
    assert list(tmp_path.iterdir()) == [], "no repository, model or staging directory left"
