"""The bad-input catalogue's harness: one Case per bad input, run through the real CLI entry point.

Every case checks what the README promises for bad input: the exit code, a message that starts
with `error:` and names what is wrong (fragments), no traceback, a bounded message, nothing written
or changed under the case's directory, and no tritonserver, stub process or shared memory left.
Cases are data, so the README's table of bad inputs can be checked against them.
"""

from __future__ import annotations

import contextlib
import io
import os
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import psutil

from tritonkit.cli import main

Setup = Callable[[Path], object]
MAX_MESSAGE_CHARS = 4000  # an error never echoes unbounded input
_SERVER_PROCESSES = ("tritonserver", "triton_python_backend_stub")


@dataclass(frozen=True)
class Case:
    """`argv` may use {tmp} for the case's own directory (also the working directory)."""

    id: str
    argv: tuple[str, ...]
    fragments: tuple[str, ...]  # each must appear in stderr
    exit_code: int = 2
    setup: Setup | None = None  # writes the case's input files into its directory
    # Paths (relative to the case directory) the command may create or change, e.g. a report.
    may_write: tuple[str, ...] = field(default_factory=tuple)


def write_files(files: Mapping[str, str | bytes]) -> Setup:
    """A setup writing `files` (relative path -> text or bytes) into the case's directory."""

    def setup(root: Path) -> None:
        for relative, content in files.items():
            path = root / relative
            path.parent.mkdir(parents=True, exist_ok=True)
            if isinstance(content, bytes):
                path.write_bytes(content)
            else:
                path.write_text(content.replace("{tmp}", str(root)))

    return setup


def chain(*setups: Setup) -> Setup:
    def setup(root: Path) -> None:
        for step in setups:
            step(root)

    return setup


def snapshot(root: Path) -> dict[str, tuple[int, int]]:
    """Every path under root with its size and modification time (symlinks not followed)."""
    found = {}
    for path in sorted(root.rglob("*")):
        stat = path.lstat()
        found[str(path.relative_to(root))] = (stat.st_size, stat.st_mtime_ns)
    return found


def server_leftovers() -> set[tuple[int, str]]:
    """Triton processes and shared-memory regions that exist now."""
    processes = {
        (p.pid, p.info["name"]) for p in psutil.process_iter(["name"]) if p.info["name"] in _SERVER_PROCESSES
    }
    regions = os.listdir("/dev/shm") if os.path.isdir("/dev/shm") else []
    shm = {(0, name) for name in regions if name.startswith("triton")}
    return processes | shm


@contextlib.contextmanager
def _working_directory(path: Path) -> Iterator[None]:
    previous = Path.cwd()
    os.chdir(path)
    try:
        yield
    finally:
        os.chdir(previous)


@dataclass(frozen=True)
class Outcome:
    code: int
    stdout: str
    stderr: str


def run_cli(argv: list[str], cwd: Path) -> Outcome:
    out, err = io.StringIO(), io.StringIO()
    with _working_directory(cwd), contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = main(argv)
        except SystemExit as exc:  # argparse exits for usage errors
            code = exc.code if isinstance(exc.code, int) else 1
    return Outcome(code, out.getvalue(), err.getvalue())


def check(case: Case, root: Path) -> Outcome:
    """Run `case` in `root` and assert everything the catalogue promises."""
    if case.setup is not None:
        case.setup(root)
    before_files, before_server = snapshot(root), server_leftovers()
    argv = [part.replace("{tmp}", str(root)) for part in case.argv]
    outcome = run_cli(argv, root)
    where = f"{case.id}: tritonkit {' '.join(argv)}\nstdout: {outcome.stdout[-2000:]}\nstderr: {outcome.stderr[-2000:]}"
    assert outcome.code == case.exit_code, where
    assert "Traceback" not in outcome.stderr + outcome.stdout, where
    assert outcome.stderr.startswith("error: "), where
    assert len(outcome.stderr) <= MAX_MESSAGE_CHARS, f"{case.id}: {len(outcome.stderr)} characters of error"
    for fragment in case.fragments:
        assert fragment.replace("{tmp}", str(root)) in outcome.stderr, f"missing {fragment!r}\n{where}"
    after = snapshot(root)
    allowed = tuple(case.may_write)
    changed = {
        path
        for path in before_files.keys() | after.keys()
        if before_files.get(path) != after.get(path) and not path.startswith(allowed or ("\0",))
    }
    assert not changed, f"{case.id}: wrote or changed {sorted(changed)}"
    left = server_leftovers() - before_server
    assert not left, f"{case.id}: left behind {sorted(left)}"
    return outcome
