"""The operating-system side of a local tritonserver: its ports, its process group, its shared memory.

tritonserver runs in a session (and process group) of its own, so that a terminal's Ctrl-C reaches
only tritonkit, which then stops the server and every Python-backend stub it forked: stubs ignore
SIGTERM once orphaned, so the whole group is killed after the server exits. Each server gets its own
shared-memory prefix, so its regions can be removed without touching another server's. SIGTERM to the
process that owns servers unwinds it as Ctrl-C does, so that each server is stopped (hold_sigterm).
"""

from __future__ import annotations

import contextlib
import errno
import os
import signal
import socket
import threading
import time
import uuid
from collections.abc import Mapping
from pathlib import Path
from types import FrameType

import psutil

from tritonkit.errors import InputError

LOOPBACK = "127.0.0.1"
SHM_DIR = Path("/dev/shm")
PORT_RANGE = range(1, 65536)
_GROUP_EXIT_TIMEOUT_S = 10.0


def check_ports(ports: Mapping[str, int]) -> None:
    """Refuse ports out of range or already bound on the loopback address, naming each of them."""
    problems = []
    flags_by_port: dict[int, list[str]] = {}
    for flag, port in ports.items():
        flags_by_port.setdefault(port, []).append(flag)
    problems += [
        f"{' and '.join(flags)} are both {port}: expected one port each"
        for port, flags in flags_by_port.items()
        if len(flags) > 1
    ]
    for flag, port in ports.items():
        if port not in PORT_RANGE:
            problems.append(f"{flag} {port}: expected a port within 1..65535")
        elif not _bindable(port):
            problems.append(f"{flag} {port}: already in use on {LOOPBACK}{_holder(port)}")
    if problems:
        raise InputError("; ".join(problems))


def _bindable(port: int) -> bool:
    with socket.socket() as probe:
        # As tritonserver binds: SO_REUSEADDR, so a port in TIME_WAIT is not "in use".
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((LOOPBACK, port))
        except OSError as exc:
            if exc.errno in (errno.EADDRINUSE, errno.EACCES):
                return False
            raise
    return True


def _holder(port: int) -> str:
    """' (by pid N, name)' when the listener can be seen, else ''."""
    with contextlib.suppress(psutil.Error, OSError):
        for connection in psutil.net_connections(kind="tcp"):
            if connection.status == psutil.CONN_LISTEN and connection.laddr.port == port and connection.pid:
                return f" (by pid {connection.pid}, {psutil.Process(connection.pid).name()})"
    return ""


def listens_on(pid: int, port: int) -> bool:
    """Whether process `pid` itself holds the listening socket on `port`: readiness is only believed
    from our own server, never from whatever else answers on the port."""
    try:
        connections = psutil.Process(pid).net_connections(kind="tcp")
    except psutil.Error:
        return False
    return any(c.status == psutil.CONN_LISTEN and c.laddr.port == port for c in connections)


def new_shm_prefix() -> str:
    return f"tritonkit_{os.getpid()}_{uuid.uuid4().hex[:12]}_"


def shm_regions(prefix: str) -> list[Path]:
    return sorted(SHM_DIR.glob(f"{prefix}*")) if SHM_DIR.is_dir() else []


def remove_shm_regions(prefix: str) -> None:
    for region in shm_regions(prefix):
        region.unlink(missing_ok=True)


def group_members(pgid: int) -> list[psutil.Process]:
    members = []
    for process in psutil.process_iter():
        with contextlib.suppress(psutil.Error, ProcessLookupError):
            if os.getpgid(process.pid) == pgid and process.status() != psutil.STATUS_ZOMBIE:
                members.append(process)
    return members


def kill_group(pgid: int) -> None:
    """SIGKILL every process left in the group, and wait (bounded) until none is left."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pgid, signal.SIGKILL)
    deadline = time.monotonic() + _GROUP_EXIT_TIMEOUT_S
    while group_members(pgid) and time.monotonic() < deadline:
        time.sleep(0.05)


# -- SIGTERM while servers run ---------------------------------------------------------------------

# SIGTERM's default action ends a process at once: no `finally` runs, no server is stopped, and its
# work dir, shared memory and backend stubs stay behind. While servers run in a process that left
# SIGTERM at that default (a script, a test run), SIGTERM unwinds it as Ctrl-C does, so that every
# `with LocalServer(...)` stops its server. A process with a handler of its own keeps it (tritonkit's
# CLI turns SIGTERM into Ctrl-C itself). The default comes back when the last server stops.
_sigterm_holders: set[object] = set()  # the servers running now (only while SIGTERM is ours)
_sigterm_lock = threading.Lock()
_sigterm_owner = 0  # the pid that set the handler: a forked child inherits it, not the servers


def hold_sigterm(server: object) -> None:
    """While `server` runs (until release_sigterm), SIGTERM unwinds as Ctrl-C does, where the
    process had left it at its default."""
    global _sigterm_owner
    if threading.current_thread() is not threading.main_thread():
        return  # only the main thread may set handlers: a process that starts servers elsewhere decides
    with _sigterm_lock:
        if not _sigterm_holders:
            if signal.getsignal(signal.SIGTERM) != signal.SIG_DFL:
                return
            signal.signal(signal.SIGTERM, _unwind_on_sigterm)
            _sigterm_owner = os.getpid()
        _sigterm_holders.add(server)


def release_sigterm(server: object) -> None:
    """`server` stopped; the last one gives SIGTERM its default back (from the main thread; from
    another, the handler stays and acts as the default would)."""
    with _sigterm_lock:
        if server not in _sigterm_holders:
            return
        _sigterm_holders.discard(server)
        mine = signal.getsignal(signal.SIGTERM) == _unwind_on_sigterm
        if not _sigterm_holders and mine and threading.current_thread() is threading.main_thread():
            signal.signal(signal.SIGTERM, signal.SIG_DFL)


def _unwind_on_sigterm(signum: int, frame: FrameType | None) -> None:
    if not _sigterm_holders or os.getpid() != _sigterm_owner:  # no server to stop: end as the default would
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        signal.raise_signal(signal.SIGTERM)
    elif callable(signal.getsignal(signal.SIGINT)):
        signal.raise_signal(signal.SIGINT)  # whoever handles Ctrl-C now: asyncio's runner cancels its task
    else:
        raise KeyboardInterrupt  # Ctrl-C is ignored (a shell's background job): SIGTERM must still stop it
