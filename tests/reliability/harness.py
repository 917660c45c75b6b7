"""The bad-input catalogue's harness: one Case per bad input, run through the real CLI entry point.

Every case checks what the README promises for bad input: the exit code, a message that starts
with `error:` and names what is wrong (fragments), no traceback, a bounded message, nothing written
or changed under the case's directory, and no tritonserver, stub process or shared memory left.
Cases are data, so the README's table of bad inputs is generated from them (table.py).
"""

from __future__ import annotations

import contextlib
import io
import os
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import psutil
import pytest
from _pytest.mark import ParameterSet

from tritonkit.cli import main

Setup = Callable[[Path], object]
MAX_MESSAGE_CHARS = 4000  # an error never echoes unbounded input
_SERVER_PROCESSES = ("tritonserver", "triton_python_backend_stub")


@dataclass(frozen=True)
class Case:
    """`argv` may use {tmp} for the case's own directory (also the working directory)."""

    id: str
    argv: tuple[str, ...]
    fragments: tuple[str, ...]  # each must appear in `stream`
    exit_code: int = 2
    setup: Setup | None = None  # writes the case's input files into its directory
    # Paths (relative to the case directory) the command may create or change, e.g. a report.
    may_write: tuple[str, ...] = field(default_factory=tuple)
    # Where the fragments appear: stderr, or stdout for `validate`'s one-line-per-problem listing
    # (stderr still starts with `error:`).
    stream: Literal["stderr", "stdout"] = "stderr"
    readme: str = ""  # the bad input in a few words: the case is a row of the README's table


def params(cases: Iterable[Case | ParameterSet]) -> list[ParameterSet]:
    """The cases as pytest parameters named by their ids; every id unique."""
    found = [case if isinstance(case, ParameterSet) else pytest.param(case, id=case.id) for case in cases]
    ids = [str(p.id) for p in found]
    assert len(ids) == len(set(ids)), f"repeated case ids: {sorted({i for i in ids if ids.count(i) > 1})}"
    return found


def expected_to_pass(cases: Iterable[Case | ParameterSet]) -> list[Case]:
    """The cases without an expected-failure mark."""
    found = []
    for case in cases:
        if isinstance(case, Case):
            found.append(case)
        elif not any(mark.name == "xfail" for mark in case.marks) and isinstance(case.values[0], Case):
            found.append(case.values[0])
    return found


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


def server_leftovers(root: Path) -> set[tuple[int, str]]:
    """Triton processes and shared-memory regions that exist now and are this case's: started by
    this process (children, or stubs named after its shared-memory prefix) or serving from `root`.
    Other people's servers on a shared machine are not the case's doing."""
    own_prefix = f"tritonkit_{os.getpid()}_"
    children = {p.pid for p in psutil.Process().children(recursive=True)}
    processes = set()
    for process in psutil.process_iter(["name", "cmdline"]):
        if process.info["name"] not in _SERVER_PROCESSES:
            continue
        command = " ".join(process.info["cmdline"] or ())
        if process.pid in children or own_prefix in command or str(root) in command:
            processes.add((process.pid, process.info["name"]))
    regions = os.listdir("/dev/shm") if os.path.isdir("/dev/shm") else []
    return processes | {(0, name) for name in regions if name.startswith(own_prefix)}


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
    before_files, before_server = snapshot(root), server_leftovers(root)
    argv = [part.replace("{tmp}", str(root)) for part in case.argv]
    outcome = run_cli(argv, root)
    where = f"{case.id}: tritonkit {' '.join(argv)}\nstdout: {outcome.stdout[-2000:]}\nstderr: {outcome.stderr[-2000:]}"
    assert outcome.code == case.exit_code, where
    after = snapshot(root)
    allowed = tuple(case.may_write)
    changed = {
        path
        for path in before_files.keys() | after.keys()
        if before_files.get(path) != after.get(path) and not path.startswith(allowed or ("\0",))
    }
    assert not changed, f"{case.id}: wrote or changed {sorted(changed)}"
    left = server_leftovers(root) - before_server
    assert not left, f"{case.id}: left behind {sorted(left)}"
    assert "Traceback" not in outcome.stderr + outcome.stdout, where
    assert outcome.stderr.startswith("error: "), where
    assert len(outcome.stderr) <= MAX_MESSAGE_CHARS, f"{case.id}: {len(outcome.stderr)} characters of error"
    assert len(outcome.stdout) <= MAX_MESSAGE_CHARS, f"{case.id}: {len(outcome.stdout)} characters of output"
    shown = outcome.stderr if case.stream == "stderr" else outcome.stdout
    for fragment in case.fragments:
        assert fragment.replace("{tmp}", str(root)) in shown, f"missing {fragment!r} in {case.stream}\n{where}"
    return outcome
