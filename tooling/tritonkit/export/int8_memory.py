"""What an earlier export learnt about a graph's int8 sensitivity: the smoothing it chose and the
MatMuls it kept in float to pass its gate, remembered by everything that decided them (the
prepared graph's bytes, the variant, the gate, the calibration inputs, the smoothings tried, the
quantizer's version), so that exporting the same model again quantizes once, not once per trial.
A remembered answer is still checked against the gate before it is used; a missing, stale or
unreadable one only means a search.

Kept in $TRITONKIT_CACHE_DIR, else $XDG_CACHE_HOME/tritonkit, else ~/.cache/tritonkit.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
from pathlib import Path

import onnxruntime

from tritonkit.export.mixed_precision import Answer
from tritonkit.export.smoothing import ALPHAS
from tritonkit.specs import GateSpec

CACHE_ENV = "TRITONKIT_CACHE_DIR"
_CHUNK = 1 << 20


def cache_dir() -> Path:
    if configured := os.environ.get(CACHE_ENV):
        return Path(configured)
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "tritonkit"


def key(prepared: Path, variant: str, gate: GateSpec, calibration: bytes) -> str:
    """A digest of everything the float nodes depend on (external weight files included)."""
    digest = hashlib.sha256()
    for path in sorted(prepared.parent.glob(f"{prepared.name}*")):  # the graph and its .data file
        with path.open("rb") as file:
            while chunk := file.read(_CHUNK):
                digest.update(chunk)
    # The alphas tried are part of the search: a new set may find another answer.
    digest.update(json.dumps([variant, gate.model_dump(mode="json"), onnxruntime.__version__, ALPHAS]).encode())
    digest.update(calibration)
    return digest.hexdigest()


def recall(digest: str) -> Answer | None:
    try:
        stored = json.loads((cache_dir() / "int8" / f"{digest}.json").read_text())
        nodes, smoothing = stored["float_nodes"], stored["smoothing"]
    except (OSError, ValueError, KeyError, TypeError):
        return None
    if not isinstance(nodes, list) or not all(isinstance(n, str) for n in nodes):
        return None
    if smoothing is not None and (isinstance(smoothing, bool) or not isinstance(smoothing, float | int)):
        return None
    return Answer(None if smoothing is None else float(smoothing), tuple(nodes))


def remember(digest: str, answer: Answer) -> None:
    """Best effort: a cache that cannot be written costs the next export time, nothing else."""
    folder = cache_dir() / "int8"
    staged = folder / f".{digest}.{os.getpid()}.tmp"
    with contextlib.suppress(OSError):
        folder.mkdir(parents=True, exist_ok=True)
        staged.write_text(json.dumps({"smoothing": answer.smoothing, "float_nodes": list(answer.float_nodes)}))
        staged.replace(folder / f"{digest}.json")
    with contextlib.suppress(OSError):
        staged.unlink(missing_ok=True)
