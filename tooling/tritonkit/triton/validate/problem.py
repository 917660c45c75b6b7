"""What the validator reports, and the model directory its checks look at.

Field paths name the config field the way a reader finds it: an indexed repeated field carries
the name of the tensor, step or sample it holds, e.g. `input[0] 'INPUT0'.dims[1]` or
`ensemble_scheduling.step[1] 'encoder'.input_map['x']`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from tritonclient.grpc.model_config_pb2 import ModelConfig

CONFIG_FILE = "config.pbtxt"
ENSEMBLE_PLATFORM = "ensemble"


@dataclass(frozen=True)
class Problem:
    """One finding, precise enough to fix without reading the validator: where, what, and what it should be."""

    file: Path
    field: str  # a config field path such as input[0] 'x'.dims, or <pseudo-field> for things outside the config
    value: str
    expected: str

    def __str__(self) -> str:
        return f"{self.file}: {self.field} = {self.value}: expected {self.expected}"


def named(field: str, index: int, name: str) -> str:
    """`field[index] 'name'`, or `field[index]` where the entry has no name."""
    return f"{field}[{index}] {name!r}" if name else f"{field}[{index}]"


@dataclass(frozen=True)
class Model:
    """A model directory and the config it is validated with (its config.pbtxt, or an override)."""

    dir: Path
    config: ModelConfig
    repository: Path  # the directory holding the model: ensemble steps are looked up there
    versions: tuple[int, ...]  # the version directories on disk, ascending
    served: tuple[int, ...]  # those the version policy loads
    model_files: tuple[Path, ...]  # the model file of each served version (none where the name is unknown)
    gpus: int | None  # GPUs of the machine the model is for; None: unknown, ids are not checked

    @property
    def config_file(self) -> Path:
        return self.dir / CONFIG_FILE

    @property
    def is_ensemble(self) -> bool:
        return self.config.platform == ENSEMBLE_PLATFORM

    def problem(self, field: str, value: str, expected: str) -> Problem:
        return Problem(self.config_file, field, value, expected)


def data_source(model: Model, where: str, source: str | None, choices: str, folder: str, file: str) -> list[Problem]:
    """Data a config names for Triton to feed (warmup, initial state): some source, and a file that
    exists in the model's `folder` when the source is a file."""
    if source is None:
        return [model.problem(where, "no data", f"one of {choices}")]
    if source.endswith("data_file") and not (model.dir / folder / file).is_file():
        return [model.problem(f"{where}.{source}", repr(file), f"a file in {model.dir / folder}")]
    return []
