"""ExportRecord: what was exported, from what, with which tools, on which CPU, and how it gated.
Written as JSON beside each model in the repository."""

from __future__ import annotations

from importlib import metadata
from pathlib import Path

from pydantic import BaseModel, ConfigDict

from tritonkit.export.gates import GateResult

RECORD_FILE = "export_record.json"
_TOOLS = ("tritonkit", "torch", "transformers", "optimum", "optimum-onnx", "sentence-transformers", "onnx",
          "onnxruntime", "onnxruntime-gpu", "tensorrt")  # fmt: skip


class ExportRecord(BaseModel):
    model_config = ConfigDict(frozen=True)

    model: str  # the Triton model name
    variant: str
    task: str
    source: str
    source_sha256: str
    opset: int
    tools: dict[str, str]
    cpu: str
    cpu_features: list[str]
    gates: list[GateResult]
    passed: bool
    file_bytes: int
    export_seconds: float
    details: dict[str, object]  # variant specifics: fusion counts, layers kept in float, …
    created_at: str

    def write(self, path: Path) -> Path:
        path.write_text(self.model_dump_json(indent=2) + "\n")
        return path


def tool_versions() -> dict[str, str]:
    versions = {}
    for tool in _TOOLS:
        try:
            versions[tool] = metadata.version(tool)
        except metadata.PackageNotFoundError:
            continue
    return versions
