"""What the validator reports, and the parsed model directory its checks look at.

Shared by the validate* modules so that each concern's checks can live in its own module.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from tritonclient.grpc.model_config_pb2 import ModelConfig

CONFIG_FILE = "config.pbtxt"


@dataclass(frozen=True)
class Problem:
    """One finding, precise enough to fix without reading the validator: where, what, and what it should be."""

    file: Path
    field: str  # a config field path such as input[0].dims, or <pseudo-field> for things outside the config
    value: str
    expected: str

    def __str__(self) -> str:
        return f"{self.file}: {self.field} = {self.value}: expected {self.expected}"


@dataclass(frozen=True)
class Model:
    """A model directory whose config.pbtxt parsed."""

    dir: Path
    config: ModelConfig
    # The model file of every version directory the version policy serves (none for ensembles
    # and backends whose file name we do not know); they may be missing on disk.
    model_files: tuple[Path, ...]

    @property
    def config_file(self) -> Path:
        return self.dir / CONFIG_FILE

    def problem(self, field: str, value: str, expected: str) -> Problem:
        return Problem(self.config_file, field, value, expected)
