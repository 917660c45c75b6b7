"""The trial log: JSON lines, a header naming what was tuned, then each profile and trial as it is
measured (flushed at once). It makes a tune resumable — `--resume` replays the logged trials
instead of measuring them again — and replayable without a server. A log from another space,
model family or targets is refused, not mixed in."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError

from tritonkit.errors import InputError
from tritonkit.inputs import excerpt, listed, read_text, validation_problems
from tritonkit.tune.predict import ComputeProfile
from tritonkit.tune.trials import Fidelity, Trial

TRIAL_LOG = "trials.jsonl"  # in the tune's report directory
MAX_LOG_BYTES = 256 << 20  # a trial is < 2 KB: a log this large is not a trial log


class LogHeader(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")
    kind: Literal["header"] = "header"
    family: str
    variants: tuple[str, ...]
    space: str  # the space's digest
    targets: dict[str, str]  # target name -> digest of what it measures (load, payload, SLO)
    cores: int
    machine: str  # the CPU, for reading a replay table later

    def mismatch(self, other: LogHeader) -> list[str]:
        """How `other` (a log's header) differs in what makes trials comparable."""
        fields = ("family", "variants", "space", "cores")
        found = [f"{f}: the log has {getattr(other, f)!r}, this tune {getattr(self, f)!r}" for f in fields
                 if getattr(self, f) != getattr(other, f)]  # fmt: skip
        changed = [n for n in self.targets if n in other.targets and other.targets[n] != self.targets[n]]
        found += [f"target '{n}' was changed since the log was written" for n in changed]
        return found


class ProfileLine(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")
    kind: Literal["profile"] = "profile"
    workload: str  # the payload profiled (its digest): one profile per variant, threads and payload
    profile: ComputeProfile


Line = Annotated[LogHeader | ProfileLine | Trial, Field(discriminator="kind")]
_LINE = TypeAdapter(Line)


class TrialLog:
    """Appends to `path`; on resume, what it already holds answers before anything is measured."""

    def __init__(self, path: Path, header: LogHeader, *, resume: bool) -> None:
        self.path = path
        self.profiles: dict[tuple[str, str, int], ComputeProfile] = {}
        self.trials: dict[tuple[str, str, Fidelity], Trial] = {}
        self.resumed = 0
        # A fresh log is started by its first record, so a tune that fails before measuring
        # anything (a bad flag, no server) leaves no log behind.
        self._header: LogHeader | None = header
        if resume:
            self._read(header)
            self._header = None

    def _read(self, header: LogHeader) -> None:
        text = read_text(self.path, "a trial log (trials.jsonl) to resume", MAX_LOG_BYTES)
        lines = text.split("\n")
        if lines and lines[-1]:  # a line cut short by an interrupt: measured again
            lines = lines[:-1]
        problems, records = [], []
        for number, line in enumerate(lines, 1):
            if not line:
                continue
            try:
                records.append(_LINE.validate_json(line))
            except ValidationError as exc:
                problems += [f"line {number}: {p}" for p in validation_problems(exc)]
        if problems:
            raise InputError(f"{self.path}: not a trial log tritonkit wrote:\n" + listed(problems))
        if not records or not isinstance(records[0], LogHeader):
            raise InputError(f"{self.path}: not a trial log (its first line is no header)")
        mismatch = header.mismatch(records[0])
        if mismatch:
            raise InputError(f"{self.path}: written by another tune, not resumed:\n" + listed(mismatch))
        for record in records[1:]:
            if isinstance(record, ProfileLine):
                self.profiles[(record.workload, record.profile.variant, record.profile.threads)] = record.profile
            elif isinstance(record, Trial):
                self.trials[(record.workload, record.key, record.fidelity)] = record
        self._keep_whole_lines(lines)

    def _keep_whole_lines(self, lines: list[str]) -> None:
        """Rewrite the log without a torn last line, so the next append starts a line of its own."""
        text = "".join(line + "\n" for line in lines if line)
        if text != self.path.read_text():
            temporary = self.path.with_suffix(".tmp")
            temporary.write_text(text)
            os.replace(temporary, self.path)

    def _append(self, record: BaseModel) -> None:
        line = record.model_dump_json() + "\n"
        if self._header is not None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            line = self._header.model_dump_json() + "\n" + line
            self.path.write_text("")
            self._header = None
        with self.path.open("a") as file:
            file.write(line)
            file.flush()
            os.fsync(file.fileno())

    def profile(self, workload: str, variant: str, threads: int) -> ComputeProfile | None:
        return self.profiles.get((workload, variant, threads))

    def add_profile(self, workload: str, profile: ComputeProfile) -> None:
        self.profiles[(workload, profile.variant, profile.threads)] = profile
        self._append(ProfileLine(workload=workload, profile=profile))

    def trial(self, workload: str, key: str, fidelity: Fidelity) -> Trial | None:
        """The trial logged for this workload (a target's digest), candidate and fidelity, if any:
        targets that measure the same thing share their trials."""
        found = self.trials.get((workload, key, fidelity))
        if found is not None:
            self.resumed += 1
        return found

    def add_trial(self, trial: Trial) -> None:
        self.trials[(trial.workload, trial.key, trial.fidelity)] = trial
        self._append(trial)


def read_trials(path: Path) -> tuple[LogHeader, list[ProfileLine], list[Trial]]:
    """Every record of a log, for the replay harness and reports."""
    text = read_text(path, "a trial log (trials.jsonl)", MAX_LOG_BYTES)
    records = []
    for number, line in enumerate(text.splitlines(), 1):
        try:
            records.append(_LINE.validate_json(line))
        except ValidationError as exc:
            raise InputError(f"{path}: line {number}: {excerpt(line)} is not a trial log record: "
                             + "; ".join(validation_problems(exc)[:3])) from None  # fmt: skip
    if not records or not isinstance(records[0], LogHeader):
        raise InputError(f"{path}: not a trial log (its first line is no header)")
    return records[0], [r for r in records if isinstance(r, ProfileLine)], [r for r in records if isinstance(r, Trial)]


def digest(value: object) -> str:
    """A short digest of JSON-able data (a target's load, payload and SLO)."""
    return hashlib.sha256(json.dumps(value, sort_keys=True, default=str).encode()).hexdigest()[:16]
