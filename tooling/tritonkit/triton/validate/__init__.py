"""Check a Triton model repository, or one model directory, before a server sees it.

Any config.pbtxt is checked, not only ones tritonkit wrote: ensembles, Python-backend and
sequence-batching models are checked as far as the files on disk allow. Every finding is a
Problem naming the file, the field (with the tensor, step or model by name), its value and what
was expected; nothing raises, so one run lists everything to fix: a missing model file does not
hide the config's problems.
"""

from __future__ import annotations

import os
import re
from functools import cache
from pathlib import Path

from tritonclient.grpc.model_config_pb2 import ModelConfig

from tritonkit.errors import InputError
from tritonkit.triton.model_config import parse
from tritonkit.triton.validate.bls import check_callees
from tritonkit.triton.validate.ensemble import check_ensemble, is_scheduled_ensemble
from tritonkit.triton.validate.ensemble_steps import Composing, Lookup, check_steps
from tritonkit.triton.validate.layout import (
    links_out,
    model_file_problems,
    name_problems,
    served_versions,
    version_folders,
    version_problems,
)
from tritonkit.triton.validate.model_fields import check_fields
from tritonkit.triton.validate.onnx_file import check_onnx
from tritonkit.triton.validate.problem import CONFIG_FILE, ENSEMBLE_PLATFORM, Model, Problem
from tritonkit.triton.validate.scheduling import check_scheduling
from tritonkit.triton.validate.tensors import check_tensors

__all__ = ["Problem", "validate_model", "validate_path"]

# The file Triton loads from a version directory when default_model_filename is not set.
_MODEL_FILE_BY_PLATFORM = {
    "onnxruntime_onnx": "model.onnx",
    "tensorrt_plan": "model.plan",
    "pytorch_libtorch": "model.pt",
    "tensorflow_savedmodel": "model.savedmodel",  # a directory
    "tensorflow_graphdef": "model.graphdef",
}
_MODEL_FILE_BY_BACKEND = {
    "onnxruntime": "model.onnx",
    "tensorrt": "model.plan",
    "pytorch": "model.pt",
    "python": "model.py",
}
# text_format refuses a second member of a oneof; Triton's scheduler is one.
_SCHEDULER_CLASH = re.compile(
    r'Field "(\w+)" is specified along with field "(\w+)", another member of oneof "scheduling_choice"'
)
_NVIDIA_GPUS = Path("/proc/driver/nvidia/gpus")
# Real configs are a few KiB even with hundreds of tensors; beyond this a file is not a config, and
# reading it would list problems by the hundred thousand.
_MAX_CONFIG_BYTES = 1 << 20


def validate_path(path: Path) -> list[Problem]:
    """Every problem in the repository or model directory at `path`; an empty list means valid."""
    if not path.is_dir():
        state = "not a directory" if path.exists() else "missing"
        return [Problem(path, "<path>", state, f"a model repository or a model directory holding {CONFIG_FILE}")]
    if (path / CONFIG_FILE).exists():
        return validate_model(path)
    directories = sorted(p for p in path.iterdir() if p.is_dir() and not p.name.startswith("."))
    if not directories:
        return [Problem(path, "<repository>", "empty", f"at least one model directory <model>/{CONFIG_FILE}")]
    return [problem for directory in directories for problem in validate_model(directory, repository=path)]


def validate_model(
    directory: Path, config: ModelConfig | None = None, *, repository: Path | None = None
) -> list[Problem]:
    """Every problem of the model directory `directory`, validated with `config` instead of its
    config.pbtxt when given (an override before a reload, a model not written yet); ensemble steps
    are looked up in `repository` (default: the directory's parent)."""
    repository = directory.parent if repository is None else repository
    problems: list[Problem] = []
    if config is None:
        config, problems = _load(directory / CONFIG_FILE)
    if not directory.is_dir():
        return [*problems, Problem(directory, "<path>", "missing", "a model directory")]
    versions, folder_problems = version_folders(directory)
    problems += folder_problems
    if config is None:
        return problems
    served = served_versions(config, tuple(versions))
    filename = _model_filename(config)
    files = tuple(versions[number] / filename for number in served) if filename else ()
    model = Model(directory, config, repository, tuple(versions), served, files, _visible_gpus())
    problems += [
        *name_problems(model),
        *version_problems(model),
        *model_file_problems(model),
        *links_out(model),
        *check_fields(model),
        *check_tensors(model),
        *check_onnx(model),
        *check_scheduling(model),
        *check_ensemble(model),
        *check_callees(model),
    ]
    if is_scheduled_ensemble(model) and config.ensemble_scheduling.step:
        problems += check_steps(model, _lookup(repository, model))
    return problems


def _load(file: Path) -> tuple[ModelConfig | None, list[Problem]]:
    if not file.is_file():
        return None, [Problem(file, "<file>", "missing", f"a {CONFIG_FILE} in every model directory")]
    size = file.stat().st_size
    if size > _MAX_CONFIG_BYTES:
        return None, [Problem(file, "<file>", f"{size} bytes", f"a {CONFIG_FILE} under {_MAX_CONFIG_BYTES} bytes")]
    try:
        return parse(file.read_text(encoding="utf-8"), file), []
    except OSError as exc:
        return None, [Problem(file, "<file>", f"unreadable ({exc.strerror})", f"a readable {CONFIG_FILE}")]
    except UnicodeDecodeError as exc:
        value = f"byte {exc.object[exc.start]:#04x} at offset {exc.start}"
        return None, [Problem(file, "<encoding>", value, f"a {CONFIG_FILE} in UTF-8 text")]
    except InputError as exc:
        detail = str(exc).removeprefix(f"{file}:")  # "line:column : what is wrong"
        clash = _SCHEDULER_CLASH.search(detail)
        if clash is None:
            return None, [Problem(file, "<syntax>", detail, "a ModelConfig in protobuf text format")]
        value = f"{clash[2]} and {clash[1]} (at {detail.split(' ', 1)[0]})"
        expected = "one scheduler at most: dynamic_batching, sequence_batching or ensemble_scheduling"
        return None, [Problem(file, "scheduling_choice", value, expected)]


def _model_filename(config: ModelConfig) -> str | None:
    """None where there is no model file (ensembles) or we do not know its name (other backends)."""
    if config.platform == ENSEMBLE_PLATFORM:
        return None
    return (
        config.default_model_filename
        or _MODEL_FILE_BY_PLATFORM.get(config.platform)
        or _MODEL_FILE_BY_BACKEND.get(config.backend)
    )


def _lookup(repository: Path, model: Model) -> Lookup:
    """The composing models of `repository`, read once each; the model under validation as given."""

    @cache
    def composing(name: str) -> Composing:
        if name == model.dir.name:
            return Composing(True, model.config, model.served)
        directory = repository / name
        if not directory.is_dir():
            return Composing(False, None, ())
        config, _ = _load(directory / CONFIG_FILE)
        if config is None:
            return Composing(True, None, (), problems=1)
        served = served_versions(config, tuple(version_folders(directory)[0]))
        # A nested ensemble's steps could lead back here: it is validated on its own.
        own = [] if config.platform == ENSEMBLE_PLATFORM else validate_model(directory, repository=repository)
        return Composing(True, config, served, problems=len(own))

    return composing


def _visible_gpus() -> int | None:
    """The GPUs Triton would see here; None where there are none (GPU ids then stay unchecked)."""
    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    count = len(list(_NVIDIA_GPUS.iterdir())) if _NVIDIA_GPUS.is_dir() else 0
    if visible is not None and count:
        count = min(count, len([device for device in visible.split(",") if device.strip()]))
    return count or None
