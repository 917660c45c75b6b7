"""CPU and resident memory of one model's instances on a local tritonserver, read from the processes.

With the Python-based ONNX Runtime backend every model instance is a `triton_python_backend_stub`
child of the server, so a model's cost is the sum over its stubs; the server process itself (HTTP
and gRPC front-ends, schedulers, batcher) is reported apart, excluding the stubs. Read at start and
stop only, no sampling thread: CPU is exact over the period from the kernel's counters, RSS is the
value at the end.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass

import psutil

from tritonkit.triton.processes import group_members

STUB_BINARY = "triton_python_backend_stub"


@dataclass(frozen=True)
class ResourceUsage:
    cpu_cores: float  # CPU seconds used by the model's instance processes per wall second (1.0 = one core busy)
    rss_bytes: int  # their resident memory at the end of the period (sum)
    processes: int
    server_cpu_cores: float  # the tritonserver process alone, stubs excluded, same unit


@dataclass(frozen=True)
class Snapshot:
    """What one read saw. Processes are keyed by (pid, create time): a reused pid is another process."""

    taken_at: float  # time.monotonic()
    server: tuple[int, float]
    server_cpu_s: float
    cpu_s: dict[tuple[int, float], float]
    rss_bytes: dict[tuple[int, float], int]


def _instance_name(model: str) -> re.Pattern[str]:
    # Instances are named <model>_<group>_<index>: digits only after the model's name, so `mlp`
    # never matches `mlp_two_instances_0_0` (nor `m` the instances `m_0_0_0` of a model `m_0`).
    return re.compile(rf"{re.escape(model)}_\d+_\d+")


def is_stub_of(cmdline: list[str], model: str) -> bool:
    """Whether a stub's argv serves `model`. The Python backend starts each stub as
    `stub <model-dir>/<version>/<file> <shm-region> <shm-size> <shm-growth> <server-pid>
    <backend-dir> <ipc-handle> <instance-name> <runtime-dir>`; the instance name is matched
    wherever it is, not by position. A custom instance_group name (tritonkit writes none) is not
    recognised."""
    if not cmdline or not cmdline[0].endswith(STUB_BINARY):
        return False
    name = _instance_name(model)
    return any(name.fullmatch(argument) for argument in cmdline[1:])


def model_processes(server_pid: int, model: str) -> list[psutil.Process]:
    """The stub processes serving `model`'s instances: children of the server (stubs stay in its
    process group) whose argv names one of the model's instances. A process that exits while it is
    looked at is left out."""
    found = []
    for process in group_members(server_pid):  # the server leads its own group
        try:
            if process.ppid() == server_pid and is_stub_of(process.cmdline(), model):
                found.append(process)
        except psutil.Error:
            continue
    return sorted(found, key=lambda p: p.pid)


def _cpu_s(process: psutil.Process) -> float:
    times = process.cpu_times()  # the process's own threads; its children are not ours to count
    return float(times.user + times.system)


def snapshot(server_pid: int, model: str) -> Snapshot | None:
    """CPU time and RSS of the server and of `model`'s stubs now; None if a process vanished or
    could not be read."""
    try:
        server = psutil.Process(server_pid)
        server_key = (server.pid, server.create_time())
        server_cpu = _cpu_s(server)
        cpu: dict[tuple[int, float], float] = {}
        rss: dict[tuple[int, float], int] = {}
        for process in model_processes(server_pid, model):
            with process.oneshot():
                key = (process.pid, process.create_time())
                cpu[key] = _cpu_s(process)
                rss[key] = process.memory_info().rss
    except psutil.Error:  # NoSuchProcess (exited mid-read, zombies included), AccessDenied
        return None
    return Snapshot(time.monotonic(), server_key, server_cpu, cpu, rss)


def usage_between(before: Snapshot, after: Snapshot) -> ResourceUsage | None:
    """Usage over the period between two snapshots; None unless the same processes are in both
    (a reload or a restart in between makes the CPU deltas meaningless) or the period is empty."""
    wall_s = after.taken_at - before.taken_at
    if not before.cpu_s or before.cpu_s.keys() != after.cpu_s.keys() or before.server != after.server or wall_s <= 0:
        return None
    used_s = sum(after.cpu_s[key] - before.cpu_s[key] for key in before.cpu_s)
    return ResourceUsage(
        cpu_cores=used_s / wall_s,
        rss_bytes=sum(after.rss_bytes.values()),
        processes=len(after.cpu_s),
        server_cpu_cores=(after.server_cpu_s - before.server_cpu_s) / wall_s,
    )


class ResourceMeter:
    """start() ... stop(): the resources `model`'s instances used in between, or None when they
    were not there at start or were not the same processes at stop. Never raises on a process that
    exited."""

    def __init__(self, server_pid: int, model: str) -> None:
        self.server_pid = server_pid
        self.model = model
        self._start: Snapshot | None = None
        self._started = False

    def start(self) -> None:
        self._start = snapshot(self.server_pid, self.model)
        self._started = True

    def stop(self) -> ResourceUsage | None:
        if not self._started:
            raise RuntimeError("ResourceMeter.stop() before start()")
        before, self._start, self._started = self._start, None, False
        if before is None:
            return None
        after = snapshot(self.server_pid, self.model)
        return usage_between(before, after) if after is not None else None
