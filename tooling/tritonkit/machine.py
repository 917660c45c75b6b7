"""Facts about this host that records carry: its CPU, its cores, the time."""

from __future__ import annotations

import os
import platform
from datetime import UTC, datetime
from pathlib import Path

# CPU features that decide int8 and bf16 speed: VNNI/AMX run int8 dot products natively.
_CPU_FLAGS = ("avx2", "avx512f", "avx512_vnni", "avx_vnni", "avx512_bf16", "amx_tile", "amx_int8", "amx_bf16")


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


def usable_cores() -> int:
    """The cores this process may run on (its affinity, e.g. a container's cpuset)."""
    return len(os.sched_getaffinity(0))
