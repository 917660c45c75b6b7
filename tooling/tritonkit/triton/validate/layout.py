"""The files of a model directory: its name, its version folders, its model files, and links out of the repository."""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from pathlib import Path

from tritonclient.grpc.model_config_pb2 import ModelConfig

from tritonkit.triton.validate.problem import Model, Problem

# Folders Triton skips when it looks for versions.
_NOT_VERSIONS = frozenset({"warmup", "initial_state", "configs"})
# What Triton's std::stoll reads from a folder name: blanks, a sign, digits; the rest is ignored.
_NUMBER_PREFIX = re.compile(r"[ \t\n\v\f\r]*([+-]?[0-9]+)")
_VERSION = re.compile(r"0|[1-9][0-9]*")
_INT64_MAX = 2**63 - 1
_NAME_MAX_BYTES = 255  # the longest file name Linux file systems store
# A blank or ';' in a model name blocks tritonserver 2.51's startup (seen here); the other shell
# characters are refused with them because the Python backend starts its stub through a shell.
_SHELL_SPECIAL = frozenset(";&|$`'\"\\()<>*?!{}[]#~")
_NAME_EXPECTED = "a model name of letters, digits, '-', '_' or '.', at most 255 bytes"


def bad_name(name: str) -> str | None:
    """Why Triton cannot serve a model of this name, or None."""
    if name in ("", ".", ".."):
        return "not a directory name"
    if "/" in name or "\0" in name:
        return "a '/' or NUL in the name"
    if len(name.encode()) > _NAME_MAX_BYTES:
        return f"{len(name.encode())} bytes, over the file system's {_NAME_MAX_BYTES}"
    if any(c.isspace() or not c.isprintable() for c in name):
        return "blanks or control characters (a blank blocks tritonserver 2.51's startup)"
    special = sorted(set(name) & _SHELL_SPECIAL)
    if special:
        return f"shell characters {''.join(special)!r} (a ';' blocks tritonserver 2.51's startup)"
    return None


def name_problems(model: Model) -> list[Problem]:
    return _name_problems(model.dir)


def _name_problems(directory: Path) -> list[Problem]:
    reason = bad_name(directory.name)
    return (
        [] if reason is None else [Problem(directory, "<model name>", f"{directory.name!r}: {reason}", _NAME_EXPECTED)]
    )


def version_folders(directory: Path) -> tuple[dict[int, Path], list[Problem]]:
    """The version folders Triton loads from, by number, and the folders it would misread or die on."""
    versions: dict[int, Path] = {}
    problems = []
    subdirs = sorted(p for p in directory.iterdir() if p.is_dir() and p.name not in _NOT_VERSIONS)
    for folder in subdirs:
        name = folder.name
        match = _NUMBER_PREFIX.match(name)
        if match is None:
            continue  # not meant as a version (tokenizer/, …): Triton ignores it too
        number = int(match[1])
        if len(name) > 1 and name.startswith("0"):
            problems.append(Problem(folder, "<version folder>", repr(name), "no leading 0: Triton ignores this folder"))
        elif abs(number) > _INT64_MAX:
            expected = "a version within int64: tritonserver 2.51 aborts on this name"
            problems.append(Problem(folder, "<version folder>", repr(name), expected))
        elif not _VERSION.fullmatch(name):
            expected = f"a plain non-negative integer: Triton reads {name!r} as version {number}"
            problems.append(Problem(folder, "<version folder>", repr(name), expected))
        else:
            versions[number] = folder
    return dict(sorted(versions.items())), problems


def startup_blockers(repository: Path) -> list[Problem]:
    """What takes the whole server down rather than one model: names that block tritonserver's
    startup and version folders it aborts on. Cheap (names only), so every server start checks it."""
    problems = []
    for directory in sorted(p for p in repository.iterdir() if p.is_dir() and not p.name.startswith(".")):
        problems += _name_problems(directory)
        problems += [
            problem
            for problem in version_folders(directory)[1]
            if (match := _NUMBER_PREFIX.match(problem.file.name)) and abs(int(match[1])) > _INT64_MAX
        ]
    return problems


def served_versions(config: ModelConfig, versions: Sequence[int]) -> tuple[int, ...]:
    """The versions Triton loads of `versions` (ascending) under the config's version policy (default: the latest)."""
    policy = config.version_policy
    choice = policy.WhichOneof("policy_choice")
    if choice == "all":
        return tuple(versions)
    if choice == "specific":
        return tuple(version for version in versions if version in policy.specific.versions)
    count = policy.latest.num_versions if choice == "latest" else 1
    return tuple(versions[max(len(versions) - count, 0) :]) if count else ()


def version_problems(model: Model) -> list[Problem]:
    if not model.versions:
        expected = f"a numeric version directory such as {model.dir / '1'}"
        return [Problem(model.dir, "<versions>", "none", expected)]
    policy = model.config.version_policy
    problems = [
        model.problem(
            f"version_policy.specific.versions[{index}]", str(number), f"an existing version ({list(model.versions)})"
        )
        for index, number in enumerate(policy.specific.versions)
        if number not in model.versions
    ]
    if policy.WhichOneof("policy_choice") == "latest" and policy.latest.num_versions == 0:
        problems.append(model.problem("version_policy.latest.num_versions", "0", ">= 1: 0 serves no version"))
    return problems


def model_file_problems(model: Model) -> list[Problem]:
    """Each served version's model file: present, of the right kind, not empty."""
    field = "default_model_filename" if model.config.default_model_filename else "<model file>"
    problems = []
    for file in model.model_files:
        wants_folder = file.suffix == ".savedmodel"
        if not file.exists():
            state, expected = "missing", f"{file.name} in every version directory the version policy serves"
        elif file.is_dir() != wants_folder:
            state = "a directory" if file.is_dir() else "a file"
            expected = f"{file.name} as a {'directory' if wants_folder else 'file'}"
        elif not wants_folder and file.stat().st_size == 0:
            state, expected = "0 bytes", f"the model in {file.name}"
        else:
            continue
        problems.append(Problem(file, field, state, expected))
    return problems


def links_out(model: Model) -> list[Problem]:
    """Symlinks (the model directory's own included) that resolve outside the repository."""
    root = model.repository.resolve()
    links = [model.dir] if model.dir.is_symlink() else []
    for folder, subdirs, files in os.walk(model.dir):
        links += [Path(folder, name) for name in (*subdirs, *files) if Path(folder, name).is_symlink()]
    return [
        Problem(link, "<symlink>", str(link.resolve()), f"a target inside the repository {root}")
        for link in links
        if not link.resolve().is_relative_to(root)
    ]
