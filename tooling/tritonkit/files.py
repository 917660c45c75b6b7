"""Writing generated files all at once: a directory staged in a sibling directory then swapped
in, a file written beside itself then renamed, so a crash never leaves either half-written and
never damages what was there before."""

from __future__ import annotations

import contextlib
import os
import shutil
import uuid
from collections.abc import Mapping, Sequence
from pathlib import Path

from tritonkit.errors import InputError


def replace_directory(directory: Path, files: Mapping[str, bytes], *, markers: Sequence[str], kind: str) -> Path:
    """Write `files` (by relative path) as `directory`. An existing directory is replaced only when
    it is empty or holds one of `markers` (so it is ours to replace); anything else is the user's."""
    check_replaceable(directory, markers=markers, kind=kind)
    directory.parent.mkdir(parents=True, exist_ok=True)
    staging = _sibling(directory, "new")
    try:
        for relative, content in files.items():
            path = staging / relative
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(content)
        _swap(staging, directory)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return directory


def replace_file(path: Path, content: str, *, flag: str, kind: str) -> None:
    """`content` as the file `path` (given by `flag`), whole or not at all."""
    if path.is_dir():
        raise InputError(f"{flag} {path}: a directory; expected a file to write the {kind} to")
    staged = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        staged.write_text(content)
        staged.replace(path)
    except OSError as exc:
        with contextlib.suppress(OSError):
            staged.unlink(missing_ok=True)
        raise InputError(f"{flag} {path}: cannot write ({exc.strerror})") from None


def check_replaceable(directory: Path, *, markers: Sequence[str], kind: str) -> None:
    """Refuse, before any work, a directory `replace_directory` would refuse at the end."""
    if directory.exists() and not _replaceable(directory, markers):
        raise InputError(f"{directory} exists and is not a {kind} directory; refusing to replace it")


def _replaceable(directory: Path, markers: Sequence[str]) -> bool:
    return directory.is_dir() and (not any(directory.iterdir()) or any((directory / m).exists() for m in markers))


def _sibling(directory: Path, kind: str) -> Path:
    """A fresh hidden directory next to `directory` (same file system, so renames are atomic). Not
    tempfile.mkdtemp: its 0700 mode would end up on the result, unreadable to anyone else."""
    path = directory.parent / f".{directory.name}.{uuid.uuid4().hex}.{kind}"
    path.mkdir()
    return path


def _swap(staging: Path, directory: Path) -> None:
    """Move the old directory aside, the new one in, and the old one back if that fails."""
    if not directory.exists():
        staging.rename(directory)
        return
    retired = _sibling(directory, "old")
    try:
        directory.rename(retired / directory.name)
        try:
            staging.rename(directory)
        except BaseException:
            (retired / directory.name).rename(directory)
            raise
    finally:
        shutil.rmtree(retired, ignore_errors=True)
