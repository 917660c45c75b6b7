"""A tritonkit process run as users run it (the installed executable), its output read line by
line, interrupted and checked for what an interrupt must not leave behind."""

from __future__ import annotations

import os
import queue
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import psutil

from tritonkit.triton import processes

TRITONKIT = [str(Path(sys.executable).with_name("tritonkit"))]  # the executable users run


class Command:
    """A tritonkit process whose output is read line by line, with its own TMPDIR to check for scratch."""

    def __init__(self, root: Path, *args: str | Path) -> None:
        self.scratch = root / "scratch"
        self.scratch.mkdir()
        env = {**os.environ, "TMPDIR": str(self.scratch), "PYTHONUNBUFFERED": "1"}
        self.process = subprocess.Popen(
            [*TRITONKIT, *map(str, args)], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env
        )
        self.lines: queue.Queue[str] = queue.Queue()
        self.output: list[str] = []
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.put(line)

    def wait_for(self, marker: str, timeout_s: float = 300) -> None:
        deadline = time.monotonic() + timeout_s
        while not any(marker in line for line in self.output):
            if time.monotonic() > deadline or (self.process.poll() is not None and self.lines.empty()):
                raise AssertionError(f"no {marker!r} in the output: {''.join(self.output)[-2000:]}")
            try:
                self.output.append(self.lines.get(timeout=0.1))
            except queue.Empty:
                continue

    def interrupt(self, sent: int = signal.SIGINT, *, may_finish: bool = False) -> int:
        """Send `sent`, wait for the exit, check code 130 and the one line (or, with `may_finish`, a
        command that completed first); the exit code."""
        self.process.send_signal(sent)
        try:
            code = self.process.wait(timeout=120)
        finally:
            self.process.kill()
        time.sleep(0.2)  # the reader drains the pipe
        while not self.lines.empty():
            self.output.append(self.lines.get())
        text = "".join(self.output)
        assert "Traceback" not in text, text[-3000:]
        if not (may_finish and code == 0):
            assert code == 130, text[-3000:]
            assert text.strip().splitlines()[-1] == "interrupted: stopped", text[-3000:]
        ours = [p.name for p in self.scratch.iterdir() if p.name.startswith("tritonkit")]  # not libraries' own
        assert not ours, f"scratch left behind: {ours}"
        prefix = f"tritonkit_{self.process.pid}_"
        servers = [p.pid for p in psutil.process_iter(["cmdline"]) if prefix in " ".join(p.info["cmdline"] or ())]
        assert not servers, f"server processes left behind: {servers}"
        assert not processes.shm_regions(prefix)
        return code
