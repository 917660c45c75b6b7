"""ExportRecord: what was exported, from what, with which tools, on which CPU, and how it gated.
Written as JSON beside each model in the repository."""

from __future__ import annotations

import platform
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path

from pydantic import BaseModel, ConfigDict

from tritonkit.export.gates import GateResult

RECORD_FILE = "export_record.json"
_TOOLS = ("tritonkit", "torch", "transformers", "optimum", "optimum-onnx", "sentence-transformers", "onnx",
          "onnxruntime", "onnxruntime-gpu", "tensorrt")  # fmt: skip
# CPU features that decide int8 and bf16 speed: VNNI/AMX run int8 dot products natively.
_CPU_FLAGS = ("avx2", "avx512f", "avx512_vnni", "avx_vnni", "avx512_bf16", "amx_tile", "amx_int8", "amx_bf16")


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


def cpu_description() -> tuple[str, list[str]]:
    """The CPU's model name and the int8/bf16-relevant feature flags it has (Linux /proc/cpuinfo)."""
    try:
        lines = Path("/proc/cpuinfo").read_text().splitlines()
    except OSError:
        return platform.processor() or platform.machine(), []
    fields = dict(line.split(":", 1) for line in lines if ":" in line)
    fields = {k.strip(): v.strip() for k, v in fields.items()}
    flags = set(fields.get("flags", "").split())
    return fields.get("model name", platform.machine()), [f for f in _CPU_FLAGS if f in flags]


def now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")
