"""`tritonkit tune`'s trial log (reports/tune/trials.jsonl): something other than a regular file at
its path, or a log whose records are out of range, is refused before any server starts, and
nothing is written (through a link or otherwise)."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.reliability.harness import Case, chain, check, params, write_files
from tests.reliability.test_tune_cases import REPORT, TUNE, case, files, log_text
from tests.unit.tune_tables import candidate, figures, trial

RESUME = (*TUNE, "--resume")
NOT_A_FILE = "expected the trial log (a regular file)"
VICTIM = {"victim.txt": log_text()}  # a log a link points at: never written through


def at_log(case_id: str, argv: tuple[str, ...], kind: str, make: Callable[[Path], object], readme: str = "") -> Case:
    """A case whose trial-log path is something `make` puts there (given that path)."""

    def put(root: Path) -> None:
        (root / REPORT).parent.mkdir(parents=True, exist_ok=True)
        make(root / REPORT)

    setup = chain(write_files(files(**VICTIM)), put)
    return Case(f"tune-{case_id}", argv, (REPORT, f"{kind}, {NOT_A_FILE}"), setup=setup, readme=readme)


def link_to(target: str) -> Callable[[Path], object]:
    return lambda path: path.symlink_to(target)


def with_line(line: str) -> str:
    """A log (header and one good trial) with `line` after them, as line 3."""
    return log_text() + line + "\n"


def bad_trial(**changes: dict[str, object]) -> str:
    data = json.loads(trial(candidate(), figures(10.0, 100.0)).model_dump_json())
    for part, values in changes.items():
        data[part] |= values
    return json.dumps(data)


HEADER_LINE = log_text().splitlines()[0]
CASES: list[Case] = [
    at_log("log-symlink", TUNE, "a symbolic link", link_to("../../victim.txt"),
           readme="`tune` with reports/tune/trials.jsonl a symbolic link"),
    at_log("log-dev-zero", TUNE, "a symbolic link", link_to("/dev/zero")),
    at_log("log-fifo", TUNE, "a FIFO", os.mkfifo),
    at_log("log-directory", TUNE, "a directory", Path.mkdir),
    at_log("resume-log-symlink", RESUME, "a symbolic link", link_to("../../victim.txt")),
    at_log("resume-log-fifo", RESUME, "a FIFO", os.mkfifo),
    at_log("resume-log-directory", RESUME, "a directory", Path.mkdir),
    case(
        "resume-figures-out-of-range",
        RESUME,
        (REPORT, "line 3: trial.figures.error_rate: Input should be greater than or equal to 0",
         "line 3: trial.figures.p99_ms: Input should be a finite number"),
        files(**{REPORT: with_line(bad_trial(figures={"p99_ms": float("nan"), "error_rate": -7}))}),
        readme="`tune --resume` on a log with a NaN figure",
    ),
    case(
        "resume-candidate-out-of-range",
        RESUME,
        (REPORT, "line 3: trial.candidate.variant: String should match pattern",
         "line 3: trial.candidate.max_batch_size: Input should be greater than or equal to 1"),
        files(**{REPORT: with_line(bad_trial(candidate={"variant": "\0evil", "max_batch_size": -(10**20)}))}),
    ),
    case(
        "resume-batch-above-max",
        RESUME,
        ("line 3: trial.candidate: Value error, client_batch_size 16 above its max_batch_size 8",),
        files(**{REPORT: with_line(bad_trial(candidate={"client_batch_size": 16}))}),
    ),
    case("resume-second-header", RESUME, (REPORT, "line 3: a second header"),
         files(**{REPORT: with_line(HEADER_LINE)})),
    case(
        "resume-garbage-last-line",
        RESUME,
        (REPORT, "line 3: Invalid JSON"),
        files(**{REPORT: log_text() + "not json"}),  # no newline, yet no record cut short
    ),
]  # fmt: skip


@pytest.mark.timeout(60)  # a FIFO opened by mistake would block forever
@pytest.mark.parametrize("case", params(CASES))
def test_tune_refuses_its_trial_log(case: Case, tmp_path: Path) -> None:
    check(case, tmp_path)  # the victim's size and time are checked with every file of the case
    if (tmp_path / "victim.txt").exists():
        assert (tmp_path / "victim.txt").read_text() == VICTIM["victim.txt"]
