"""The trial log: JSON lines, a header naming what was tuned, then each profile and trial as it is
measured (flushed at once). It makes a tune resumable — `--resume` replays the logged trials
instead of measuring them again — and replayable without a server. A log from another space,
model family or targets is refused, not mixed in.

The log is a regular file of its own, never followed through a link: something else at its path (a
link, a FIFO, a directory, a device) is refused before a server starts, in both modes. Reading it
writes nothing; a last line an interrupt cut short is ignored (measured again) and cut off only
when the resumed tune appends its first record. A UTF-8 BOM and CRLF line ends are accepted."""

from __future__ import annotations

import codecs
import hashlib
import json
import os
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, BinaryIO, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError

from tritonkit.errors import InputError
from tritonkit.inputs import listed, validation_problems
from tritonkit.tune.predict import ComputeProfile
from tritonkit.tune.trials import Fidelity, Trial

TRIAL_LOG = "trials.jsonl"  # in the tune's report directory
MAX_LOG_BYTES = 256 << 20  # a trial is < 2 KB: a log this large is not a trial log
_FILE_KINDS = ((stat.S_ISLNK, "a symbolic link"), (stat.S_ISDIR, "a directory"), (stat.S_ISFIFO, "a FIFO"),
               (stat.S_ISCHR, "a device"), (stat.S_ISBLK, "a device"), (stat.S_ISSOCK, "a socket"))  # fmt: skip
_NOFOLLOW = os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC  # O_NONBLOCK: a FIFO swapped in never blocks


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
    model_config = ConfigDict(frozen=True, extra="forbid", allow_inf_nan=False)
    kind: Literal["profile"] = "profile"
    workload: str  # the payload profiled (its digest): one profile per variant, threads and payload
    profile: ComputeProfile


Line = Annotated[LogHeader | ProfileLine | Trial, Field(discriminator="kind")]
Record = LogHeader | ProfileLine | Trial
_LINE: TypeAdapter[Record] = TypeAdapter(Line)


class TrialLog:
    """Appends to `path`; on resume, what it already holds answers before anything is measured."""

    def __init__(self, path: Path, header: LogHeader, *, resume: bool) -> None:
        self.path = path
        self.profiles: dict[tuple[str, str, int], ComputeProfile] = {}
        self.trials: dict[tuple[str, str, Fidelity], Trial] = {}
        self.resumed = 0
        # A fresh log is started by its first record, so a tune that fails before measuring
        # anything (a bad flag, no server) leaves no log behind (nor replaces the previous one).
        self._header: LogHeader | None = header
        self._repair: _Contents | None = None  # a resumed log's end, put right at the first append
        if not resume:
            _regular(path, missing_ok=True)
            return
        contents = _read(path, "a trial log (trials.jsonl) to resume")
        mismatch = header.mismatch(contents.header)
        if mismatch:
            raise InputError(f"{path}: written by another tune, not resumed:\n" + listed(mismatch))
        for record in contents.records[1:]:
            if isinstance(record, ProfileLine):
                self.profiles[(record.workload, record.profile.variant, record.profile.threads)] = record.profile
            elif isinstance(record, Trial):
                self.trials[(record.workload, record.key, record.fidelity)] = record
        self._header = None
        if contents.end != contents.size or contents.newline:
            self._repair = contents

    def _append(self, record: BaseModel) -> None:
        line = record.model_dump_json() + "\n"
        if self._header is not None:
            self._create(self._header.model_dump_json() + "\n" + line)
            self._header = None
            return
        try:
            fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | _NOFOLLOW)
        except OSError as exc:
            raise self._unwritable(exc) from None
        with os.fdopen(fd, "wb") as file:
            found = os.fstat(fd)
            if not stat.S_ISREG(found.st_mode):
                raise _not_a_log(self.path, found.st_mode)
            if self._repair is not None:
                if found.st_size != self._repair.size:
                    raise InputError(f"{self.path}: changed while the tune ran ({found.st_size} bytes, "
                                     f"{self._repair.size} when resumed); not appended to")  # fmt: skip
                os.ftruncate(fd, self._repair.end)  # a torn last line goes
                line = ("\n" if self._repair.newline else "") + line  # a whole last line gets its newline
                self._repair = None
            _write(file, line)

    def _create(self, text: str) -> None:
        """Start the log: a previous one (a regular file) is replaced, never written through."""
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            if _regular(self.path, missing_ok=True):
                self.path.unlink()
            fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | _NOFOLLOW, 0o666)
        except FileExistsError:
            raise InputError(f"{self.path}: appeared while the tune ran; not replaced") from None
        except OSError as exc:
            raise self._unwritable(exc) from None
        with os.fdopen(fd, "wb") as file:
            _write(file, text)

    def _unwritable(self, exc: OSError) -> InputError:
        _regular(self.path, missing_ok=True)  # something else there: say what
        return InputError(f"{self.path}: cannot write the trial log ({exc.strerror or exc})")

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
    """Every record of a log, for the replay harness and reports (a torn last line ignored)."""
    contents = _read(path, "a trial log (trials.jsonl)")
    profiles = [r for r in contents.records if isinstance(r, ProfileLine)]
    return contents.header, profiles, [r for r in contents.records if isinstance(r, Trial)]


def digest(value: object) -> str:
    """A short digest of JSON-able data (a target's load, payload and SLO)."""
    return hashlib.sha256(json.dumps(value, sort_keys=True, default=str).encode()).hexdigest()[:16]


@dataclass(frozen=True)
class _Contents:
    header: LogHeader
    records: list[Record]  # the header first
    size: int  # bytes read
    end: int  # where the whole lines end: a torn last line after it is cut off at the first append
    newline: bool  # the last line is whole but lacks its newline: the first append adds it


def _write(file: BinaryIO, text: str) -> None:
    file.write(text.encode())
    file.flush()
    os.fsync(file.fileno())


def _not_a_log(path: Path, mode: int) -> InputError:
    kind = next((name for test, name in _FILE_KINDS if test(mode)), "not a regular file")
    return InputError(f"{path}: {kind}, expected the trial log (a regular file)")


def _regular(path: Path, *, missing_ok: bool) -> bool:
    """Whether `path` is there (a regular file, not a link to one); anything else is refused."""
    try:
        mode = os.lstat(path).st_mode
    except FileNotFoundError:
        if missing_ok:
            return False
        raise InputError(f"{path}: not found (expected the trial log, a regular file)") from None
    except OSError as exc:
        raise InputError(f"{path}: cannot be looked at ({exc.strerror or exc})") from None
    if not stat.S_ISREG(mode):
        raise _not_a_log(path, mode)
    return True


def _read(path: Path, what: str) -> _Contents:
    _regular(path, missing_ok=False)
    try:
        fd = os.open(path, os.O_RDONLY | _NOFOLLOW)
    except OSError as exc:
        _regular(path, missing_ok=False)  # replaced meanwhile: say by what
        raise InputError(f"{path}: cannot read ({exc.strerror or exc})") from None
    with os.fdopen(fd, "rb") as file:
        mode = os.fstat(fd).st_mode
        if not stat.S_ISREG(mode):
            raise _not_a_log(path, mode)
        data = file.read(MAX_LOG_BYTES + 1)
    if len(data) > MAX_LOG_BYTES:
        raise InputError(f"{path}: larger than {MAX_LOG_BYTES} bytes (expected {what})")
    return _parse(path, data)


def _parse(path: Path, data: bytes) -> _Contents:
    """The records of a log's bytes: every line must be one, but for a last line without its newline
    that an interrupt cut short (ignored: it is measured again)."""
    problems: list[str] = []
    records: list[Record] = []
    end, newline = len(data), False
    start = len(codecs.BOM_UTF8) if data.startswith(codecs.BOM_UTF8) else 0
    number = 0
    while start < len(data):
        number += 1
        cut = data.find(b"\n", start)
        last = cut < 0
        raw = data[start:] if last else data[start:cut]
        record, found = _record(raw, torn_ok=last)
        if last and record is None:  # torn, or blank: cut off at the first append
            end = start
        elif last:
            newline = True
        if found:
            problems += [f"line {number}: {problem}" for problem in found]
        elif isinstance(record, LogHeader) and records:
            problems.append(f"line {number}: a second header (a log holds one, on its first line)")
        elif record is not None:
            records.append(record)
        start = len(data) if last else cut + 1
    if problems:
        raise InputError(f"{path}: not a trial log tritonkit wrote:\n" + listed(problems))
    if not records or not isinstance(records[0], LogHeader):
        raise InputError(f"{path}: not a trial log (its first line is no header)")
    return _Contents(records[0], records, len(data), end, newline)


def _record(raw: bytes, *, torn_ok: bool) -> tuple[Record | None, list[str]]:
    """One line's record (None: blank, or torn where `torn_ok`), or what is wrong with it."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        if torn_ok and exc.end == len(raw) and exc.reason == "unexpected end of data":
            return None, []  # cut within a character
        return None, [f"not UTF-8 text (byte 0x{raw[exc.start]:02x} at column {exc.start + 1})"]
    text = text.removesuffix("\r")
    if not text.strip():
        return None, []
    try:
        return _LINE.validate_json(text), []
    except ValidationError as exc:
        # A line cut short is incomplete JSON, and what tritonkit writes starts with `{`.
        if torn_ok and text.lstrip().startswith("{") and all(e["type"] == "json_invalid" for e in exc.errors()):
            return None, []
        return None, [problem.strip().removeprefix("(top level): ") for problem in validation_problems(exc)]
