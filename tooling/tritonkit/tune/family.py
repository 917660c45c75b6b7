"""A target's model family: the variants `export` wrote as `<name>_<variant>` in the repository."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from tritonkit.errors import InputError
from tritonkit.specs import CPU_VARIANTS


@dataclass(frozen=True)
class Family:
    name: str
    variants: tuple[str, ...]  # CPU variants exported, in export order

    def model(self, variant: str) -> str:
        return f"{self.name}_{variant}"

    def tuned(self, target: str) -> str:
        return f"{self.name}_tuned_{target}"


def _exported(repository: Path, model: str) -> bool:
    directory = repository / model
    versions = [p for p in directory.glob("[1-9]*/model.onnx") if p.parent.name.isdigit() and p.is_file()]
    return (directory / "config.pbtxt").is_file() and bool(versions)


def family_of(model: str, repository: Path, only: Sequence[str] = ()) -> Family:
    """The family a target's model belongs to: `minilm` for `minilm_fp32` or `minilm_fp32_latency`
    (the longest prefix with exported variants), or `model` itself when it names the family."""
    parts = model.split("_")
    for cut in range(len(parts), 0, -1):
        name = "_".join(parts[:cut])
        exported = tuple(v for v in CPU_VARIANTS if _exported(repository, f"{name}_{v}"))
        if not exported:
            continue
        missing = [v for v in only if v not in exported]
        if missing:
            raise InputError(
                f"--variants {','.join(missing)}: not exported for '{name}' in {repository}; "
                f"exported: {', '.join(exported)}"
            )
        return Family(name, tuple(v for v in exported if not only or v in only))
    raise InputError(
        f"model '{model}': no exported variants (<name>_<variant> with a model.onnx) in {repository}; "
        "run `tritonkit export` first"
    )
