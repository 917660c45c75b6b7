"""Writes one version of a model, `<repo>/<model>/<version>/<model file>` and `<repo>/<model>/config.pbtxt`,
atomically, and never anything Triton or `tritonkit validate` would refuse.

The whole model directory is assembled in a hidden staging directory inside the repository (same
filesystem): the versions already there are hard-linked in (copied where links are impossible),
the new version and the model-level files (config.pbtxt, extra files) are written beside them, the
validator runs on the staged directory, and only a model without problems is renamed into place.
A reader (or Triton) never sees a half-written model, and an error or Ctrl-C leaves the old one.

One config.pbtxt serves every version of a model, so adding a version to an existing model:
- without `force`: the version must be new, and config.pbtxt (and every extra file) must be the one
  already there: the new version is checked against the config that will serve it;
- with `force`: the version named is replaced if it exists, config.pbtxt and the extra files are
  rewritten, and every other version is kept; the rewritten config is validated against every
  version it serves.
In both cases the version policy must serve the version written.
"""

from __future__ import annotations

import contextlib
import dataclasses
import difflib
import os
import re
import shutil
import tempfile
from collections.abc import Mapping
from pathlib import Path, PurePosixPath

from tritonkit.errors import InputError
from tritonkit.inputs import listed
from tritonkit.specs import MODEL_NAME
from tritonkit.triton import model_config
from tritonkit.triton.model_config import ONNX_PLATFORM, ModelConfig
from tritonkit.triton.onnx_signature import external_data_files
from tritonkit.triton.validate import validate_model
from tritonkit.triton.validate.layout import served_versions, version_folders

STAGING_PREFIX = ".tritonkit-staging-"
CONFIG_FILE = "config.pbtxt"
MAX_VERSION = 2**63 - 1  # Triton parses version directory names as int64 (beyond, it aborts)
MAX_NAME_BYTES = 255  # a directory name's limit on Linux file systems
# Triton cannot serve a name with a space or ';' (and blocks the whole repository's startup on it);
# the name is also a directory and a URL path segment: only a safe set, the one targets files accept.
ALLOWED_NAME = "letters, digits, '_', '-' and '.', starting with a letter, a digit or '_', without '..'"
_VERSION_NAME = re.compile(r"[0-9]+")  # a top-level name Triton would take for a version folder


def check_model_name(name: str) -> None:
    if not re.fullmatch(MODEL_NAME, name) or ".." in name or len(name.encode()) > MAX_NAME_BYTES:
        raise InputError(
            f"model name {name[:300]!r} is not allowed: use {ALLOWED_NAME}, at most {MAX_NAME_BYTES} bytes "
            "(Triton cannot serve other names, and some block the whole repository's startup)"
        )


def check_version(version: int) -> None:
    if not 1 <= version <= MAX_VERSION:
        raise InputError(f"version {version} is outside 1..{MAX_VERSION}, the version numbers Triton reads")


def write_model(
    repository: Path,
    config: ModelConfig,
    model_file: Path | None,
    *,
    version: int = 1,
    extra_files: Mapping[str, Path] = {},
    force: bool = False,
) -> Path:
    """Write version `version` of the model named by `config.name` (see the module docstring for
    what `force` replaces); returns the model directory.

    `extra_files` maps names relative to the model directory (e.g. "tokenizer/vocab.txt") to
    sources copied beside the config. An ONNX model's external data files are copied into the
    version directory, at the locations the graph names.
    """
    name = config.name
    check_model_name(name)
    check_version(version)
    _check_extra_names(extra_files)
    if model_file is None:  # an ensemble: its version folder stays empty
        if config.platform != "ensemble":
            raise InputError(f"model {name}: no model file given, and only an ensemble has none")
        model_files: dict[str, Path] = {}
    else:
        model_files = _model_files(config, model_file, version)
    if repository.exists() and not repository.is_dir():
        raise InputError(f"{repository} is not a directory; expected a model repository")
    target = repository / name
    existing = _existing_model(target, repository)
    if existing and not force:
        if (target / str(version)).exists():
            raise InputError(f"{target / str(version)} already exists; pass --force to replace that version")
        _require_same_model_files(target, config, extra_files)
    files = {**model_files, **extra_files}
    created = [d for d in (repository, *repository.parents) if not d.exists()]
    repository.mkdir(parents=True, exist_ok=True)
    before = repository.stat()
    staging = Path(tempfile.mkdtemp(prefix=STAGING_PREFIX, dir=repository))
    try:
        staged = _stage(staging / name, target if existing else None, version, config, files)
        _check_staged(staged, target, version)
        _swap_into_place(staged, target, staging)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        # A refused write leaves no trace: no repository it created, not even a changed timestamp
        # on one that was there (sync tools compare them).
        os.utime(repository, ns=(before.st_atime_ns, before.st_mtime_ns))
        for directory in created:  # innermost first
            with contextlib.suppress(OSError):
                directory.rmdir()
        raise
    shutil.rmtree(staging, ignore_errors=True)
    return target


def _model_files(config: ModelConfig, model_file: Path, version: int) -> dict[str, Path]:
    """The version folder's files: the model file, and an ONNX graph's external data beside it."""
    if not model_file.is_file():
        raise InputError(f"{model_file}: model file not found (or not a regular file)")
    external = external_data_files(model_file) if _is_onnx(config) else {}
    filename = config.default_model_filename or "model.onnx"
    if filename in external:
        raise InputError(f"{model_file}: its external data is named {filename!r}, the name the model file gets")
    return {f"{version}/{filename}": model_file, **{f"{version}/{r}": s for r, s in external.items()}}


def _stage(staged: Path, existing: Path | None, version: int, config: ModelConfig, files: Mapping[str, Path]) -> Path:
    """The whole model directory as it will be: the existing one's files (hard links), without the
    version being replaced, plus `files` (relative path -> source) and the config."""
    if existing is not None:  # its symbolic links all resolve inside the repository: the copy holds their files
        shutil.copytree(existing, staged, copy_function=_link_or_copy, ignore_dangling_symlinks=True)
        shutil.rmtree(staged / str(version), ignore_errors=True)
    (staged / str(version)).mkdir(parents=True)
    for relative, source in files.items():
        _copy_new(source, staged / relative)
    (staged / CONFIG_FILE).unlink(missing_ok=True)  # a hard link to the live config: never write through it
    (staged / CONFIG_FILE).write_text(model_config.render(config))
    return staged


def _is_onnx(config: ModelConfig) -> bool:
    return config.platform == ONNX_PLATFORM or config.backend == "onnxruntime"


def _check_extra_names(extra_files: Mapping[str, Path]) -> None:
    for relative in extra_files:
        path = PurePosixPath(relative)
        if path.is_absolute() or not path.parts or ".." in path.parts:
            raise InputError(f"extra file {relative!r}: expected a path inside the model directory, without '..'")
        if path.parts[0] == CONFIG_FILE or _VERSION_NAME.fullmatch(path.parts[0]):
            raise InputError(f"extra file {relative!r} would replace the config or a version directory")


def _existing_model(target: Path, repository: Path) -> bool:
    """True for a model directory to add to; False where there is nothing (or an empty directory).
    Anything else at `target` is not ours, and is refused even with --force."""
    if target.is_symlink():
        raise InputError(f"{target} is a symbolic link; tritonkit writes only real model directories")
    if not target.exists() or (target.is_dir() and not any(target.iterdir())):
        return False
    if not (target / CONFIG_FILE).is_file():
        raise InputError(f"{target} exists and is not a model directory (no {CONFIG_FILE}); refusing to replace it")
    root = repository.resolve()
    for directory, subdirectories, files in os.walk(target):
        for entry in (Path(directory) / n for n in (*subdirectories, *files)):
            if entry.is_symlink() and not entry.resolve().is_relative_to(root):
                raise InputError(f"{entry} is a symbolic link to {entry.resolve()}, outside the repository {root}")
    return True


def _require_same_model_files(target: Path, config: ModelConfig, extra_files: Mapping[str, Path]) -> None:
    """Adding a version without --force keeps config.pbtxt and the extra files: they must not change."""
    try:
        current = model_config.render(model_config.read_config(target / CONFIG_FILE))
    except InputError as exc:
        raise InputError(f"{exc}\npass --force to rewrite {CONFIG_FILE}") from None
    lines = difflib.unified_diff(current.splitlines(), model_config.render(config).splitlines(), lineterm="", n=0)
    found = [line for line in lines if line[:1] in "+-" and line[:3] not in ("---", "+++")]
    found += [
        f"{relative} differs from {source}"
        for relative, source in extra_files.items()
        if (target / relative).is_file() and (target / relative).read_bytes() != source.read_bytes()
    ]
    if found:
        raise InputError(
            f"{target / CONFIG_FILE} serves every version of the model; this version's would differ "
            "(-: config.pbtxt, +: this version's):\n"
            + listed([f"  {line}" for line in found])
            + "\nadd the version with the knobs the model was written with, or pass --force to rewrite "
            f"{CONFIG_FILE} (checked against every version kept)"
        )


def _copy_new(source: Path, destination: Path) -> None:
    """Copy to a new file, never through an existing name: in the staged model that name may be a
    hard link to the live model's file, which must stay as it is until the swap."""
    destination.parent.mkdir(parents=True, exist_ok=True)
    destination.unlink(missing_ok=True)
    shutil.copy2(source, destination)


def _link_or_copy(source: str, destination: str) -> None:
    """Kept versions are hard links: no copy of a large model, and the old directory's removal
    leaves their data in place. File systems without links get a copy."""
    try:
        os.link(os.path.realpath(source), destination)  # os.link keeps a symlink a symlink on Linux
    except OSError:
        shutil.copy2(source, destination)


def _check_staged(staged: Path, target: Path, version: int) -> None:
    """Every problem the validator finds in the staged model, named by where it will be, and a
    version policy that would not serve the version written."""
    problems = [
        str(dataclasses.replace(p, file=target / p.file.relative_to(staged)) if p.file.is_relative_to(staged) else p)
        for p in validate_model(staged, repository=target.parent)  # ensemble steps: the real repository
    ]
    config = model_config.read_config(staged / CONFIG_FILE)
    versions = list(version_folders(staged)[0])  # as Triton reads them; misnamed folders are problems above
    served = list(served_versions(config, versions))
    if version not in served:
        problems.append(
            f"{target / CONFIG_FILE}: version_policy serves versions {served} of {versions}, not version "
            f"{version}, the one written: widen the policy (latest num_versions, all, or specific versions)"
        )
    if problems:
        raise InputError(
            f"refusing to write {target} version {version}: Triton would refuse it\n"
            + listed([f"  {problem}" for problem in problems])
        )


def _swap_into_place(staged: Path, target: Path, staging: Path) -> None:
    if not target.exists():
        staged.rename(target)
        return
    previous = staging / ".previous"  # no model name starts with '.'
    try:
        target.rename(previous)
        staged.rename(target)
    except BaseException:  # Ctrl-C included, between the renames too: put the old model back
        if previous.exists() and not target.exists():
            previous.rename(target)
        raise
