"""Writes `<repo>/<model>/config.pbtxt` and `<repo>/<model>/<version>/<model file>` atomically.

The model is assembled in a hidden staging directory inside the repository (same filesystem) and
renamed into place, so a reader (or Triton) never sees a half-written model; replacing an existing
model needs `force` and swaps directories the same way.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Mapping
from pathlib import Path

from tritonkit.errors import InputError
from tritonkit.triton import model_config
from tritonkit.triton.model_config import ModelConfig

STAGING_PREFIX = ".tritonkit-staging-"


def write_model(
    repository: Path,
    config: ModelConfig,
    model_file: Path,
    *,
    version: int = 1,
    extra_files: Mapping[str, Path] = {},
    force: bool = False,
) -> Path:
    """Create (or with `force`, replace) the model directory named by `config.name`.

    `extra_files` maps names relative to the model directory (e.g. "tokenizer/vocab.txt") to
    sources copied beside the config.
    """
    name = config.name
    if not name or "/" in name or name.startswith("."):
        raise InputError(f"model name {name!r} is not a valid directory name")
    if not model_file.is_file():
        raise InputError(f"{model_file}: model file not found")
    target = repository / name
    if target.exists() and not force:
        raise InputError(f"{target} already exists; pass --force to replace it")
    repository.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=STAGING_PREFIX, dir=repository))
    try:
        staged = staging / name
        version_dir = staged / str(version)
        version_dir.mkdir(parents=True)
        shutil.copy2(model_file, version_dir / (config.default_model_filename or "model.onnx"))
        for relative, source in extra_files.items():
            destination = staged / relative
            destination.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, destination)
        (staged / "config.pbtxt").write_text(model_config.render(config))
        _swap_into_place(staged, target, staging)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return target


def _swap_into_place(staged: Path, target: Path, staging: Path) -> None:
    if not target.exists():
        staged.rename(target)
        return
    previous = staging / "previous"
    target.rename(previous)
    try:
        staged.rename(target)
    except OSError:
        previous.rename(target)  # put the old model back rather than leave none
        raise
