"""The trial log: resumable, refusing another tune's log and records out of range, surviving a torn
last line, never written through a link nor before the first record; and the Pareto front of the
trials."""

from __future__ import annotations

import json
import os
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from tests.unit.tune_tables import candidate, figures, trial
from tritonkit.errors import InputError
from tritonkit.tune.candidate import Candidate, QueuePolicy
from tritonkit.tune.log import LogHeader, TrialLog, read_trials
from tritonkit.tune.pareto import front, fronts
from tritonkit.tune.predict import ComputeProfile

HEADER = LogHeader(family="mini", variants=("fp32",), space="s1", targets={"chat": "d1"}, cores=2, machine="cpu")


def test_a_resumed_log_answers_with_what_it_holds(tmp_path: Path) -> None:
    path = tmp_path / "trials.jsonl"
    log = TrialLog(path, HEADER, resume=False)
    first = trial(candidate(), figures(10.0, 100.0))
    log.add_trial(first)
    log.add_profile("w", ComputeProfile(variant="fp32", threads=1, batch_seconds=((1, 0.004), (8, 0.012))))
    again = TrialLog(path, HEADER, resume=True)
    assert again.trial("w", first.key, "screen") == first
    assert again.trial("w", first.key, "confirm") is None
    assert again.resumed == 1
    profile = again.profile("w", "fp32", 1)
    assert profile is not None and profile.batch_seconds == ((1, 0.004), (8, 0.012))


def started(path: Path) -> None:
    TrialLog(path, HEADER, resume=False).add_trial(trial(candidate(), figures(10.0, 100.0)))


def test_a_log_starts_with_its_first_record(tmp_path: Path) -> None:
    log = TrialLog(tmp_path / "tune" / "trials.jsonl", HEADER, resume=False)
    assert not (tmp_path / "tune").exists()  # a tune that measured nothing leaves nothing
    log.add_trial(trial(candidate(), figures(10.0, 100.0)))
    header, _, trials = read_trials(tmp_path / "tune" / "trials.jsonl")
    assert header == HEADER and len(trials) == 1


def test_a_new_target_may_join_a_resumed_log(tmp_path: Path) -> None:
    started(tmp_path / "trials.jsonl")
    more = HEADER.model_copy(update={"targets": {"chat": "d1", "pipeline": "d2"}})
    TrialLog(tmp_path / "trials.jsonl", more, resume=True)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"space": "s2"}, "space"),
        ({"family": "other"}, "family"),
        ({"variants": ("fp32", "int8_dynamic")}, "variants"),
        ({"cores": 4}, "cores"),
        ({"targets": {"chat": "changed"}}, "target 'chat' was changed"),
    ],
)
def test_a_log_of_another_tune_is_refused(tmp_path: Path, change: dict[str, object], message: str) -> None:
    started(tmp_path / "trials.jsonl")
    with pytest.raises(InputError, match=f"written by another tune(.|\\n)*{message}"):
        TrialLog(tmp_path / "trials.jsonl", HEADER.model_copy(update=change), resume=True)


def test_a_torn_last_line_is_dropped_and_measured_again(tmp_path: Path) -> None:
    path = tmp_path / "trials.jsonl"
    log = TrialLog(path, HEADER, resume=False)
    kept = trial(candidate(batch=8), figures(10.0, 100.0))
    log.add_trial(kept)
    torn = trial(candidate(batch=16), figures(12.0, 150.0)).model_dump_json()
    with path.open("a") as file:
        file.write(torn[: len(torn) // 2])  # interrupted mid-write
    resumed = TrialLog(path, HEADER, resume=True)
    assert resumed.trial("w", kept.key, "screen") == kept
    assert resumed.trial("w", candidate(batch=16).key(), "screen") is None
    resumed.add_trial(trial(candidate(batch=32), figures(14.0, 180.0)))
    _, _, trials = read_trials(path)  # every line whole again
    assert [t.candidate.max_batch_size for t in trials] == [8, 32]


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("", "no header"),
        ('{"kind": "trial"}\n', "not a trial log tritonkit wrote"),
        ("not json\n", "not a trial log tritonkit wrote"),
        (HEADER.model_dump_json().replace('"cores":2', '"cores":"two"') + "\n", "cores"),
    ],
)
def test_a_file_that_is_no_trial_log_is_refused(tmp_path: Path, content: str, message: str) -> None:
    path = tmp_path / "trials.jsonl"
    path.write_text(content)
    with pytest.raises(InputError, match=message):
        TrialLog(path, HEADER, resume=True)


def logged(path: Path, *records: str, end: str = "\n") -> bytes:
    """A log of this tune's header and `records` (JSON lines), the last one ending in `end`."""
    data = (HEADER.model_dump_json() + "\n" + "".join(r + "\n" for r in records)).removesuffix("\n") + end
    path.write_text(data)
    return path.read_bytes()


def unchanged(path: Path, before: bytes, mtime_ns: int) -> bool:
    return path.read_bytes() == before and path.stat().st_mtime_ns == mtime_ns


KEPT = trial(candidate(batch=8), figures(10.0, 100.0))
MORE = trial(candidate(batch=32), figures(14.0, 180.0))


def test_a_whole_last_line_without_its_newline_is_kept(tmp_path: Path) -> None:
    path = tmp_path / "trials.jsonl"
    before = logged(path, KEPT.model_dump_json(), end="")
    mtime = path.stat().st_mtime_ns
    resumed = TrialLog(path, HEADER, resume=True)
    assert resumed.trial("w", KEPT.key, "screen") == KEPT
    assert unchanged(path, before, mtime)  # reading writes nothing
    resumed.add_trial(MORE)  # the first append gives the last line its newline
    assert path.read_bytes() == before + b"\n" + MORE.model_dump_json().encode() + b"\n"
    _, _, trials = read_trials(path)
    assert trials == [KEPT, MORE]


@pytest.mark.parametrize(
    "tail",
    [
        pytest.param(MORE.model_dump_json()[:40], id="mid-record"),
        pytest.param('{"kind":"trial","target":"\u00e9', id="mid-escape"),
        pytest.param("   ", id="blank"),
    ],
)
def test_a_torn_last_line_is_left_alone_until_the_first_append(tmp_path: Path, tail: str) -> None:
    path = tmp_path / "trials.jsonl"
    before = logged(path, KEPT.model_dump_json(), tail, end="")
    mtime = path.stat().st_mtime_ns
    resumed = TrialLog(path, HEADER, resume=True)
    assert list(resumed.trials.values()) == [KEPT]
    assert unchanged(path, before, mtime)
    resumed.add_trial(MORE)
    assert (
        path.read_text()
        == HEADER.model_dump_json() + "\n" + KEPT.model_dump_json() + "\n" + MORE.model_dump_json() + "\n"
    )


def test_a_line_torn_within_a_character_is_ignored(tmp_path: Path) -> None:
    path = tmp_path / "trials.jsonl"
    logged(path, KEPT.model_dump_json())
    with path.open("ab") as file:
        file.write('{"kind":"trial","target":"é'.encode()[:-1])  # half of the é
    resumed = TrialLog(path, HEADER, resume=True)
    resumed.add_trial(MORE)
    assert read_trials(path)[2] == [KEPT, MORE]


def test_a_bom_and_crlf_line_ends_are_accepted_and_nothing_is_rewritten(tmp_path: Path) -> None:
    path = tmp_path / "trials.jsonl"
    path.write_bytes(b"\xef\xbb\xbf" + (HEADER.model_dump_json() + "\r\n" + KEPT.model_dump_json() + "\r\n").encode())
    before, mtime = path.read_bytes(), path.stat().st_mtime_ns
    resumed = TrialLog(path, HEADER, resume=True)
    assert list(resumed.trials.values()) == [KEPT]
    assert unchanged(path, before, mtime)
    resumed.add_trial(MORE)
    assert path.read_bytes() == before + MORE.model_dump_json().encode() + b"\n"
    assert read_trials(path)[2] == [KEPT, MORE]


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"\xff\xfe\x00", "line 1: not UTF-8 text (byte 0xff at column 1)"),
        (HEADER.model_dump_json().encode() + b'\n{"kind": "trial"\xff}\n', "line 2: not UTF-8 text"),
        (
            HEADER.model_dump_json().encode() + b"\nnot json",
            "line 2: Invalid JSON: expected ident",
        ),  # no newline, yet no record
        (HEADER.model_dump_json().encode() + b'\n{"kind": "trial"}', "line 2: trial.target: Field required"),
    ],
)
def test_a_bad_line_is_refused_even_last(tmp_path: Path, content: bytes, message: str) -> None:
    path = tmp_path / "trials.jsonl"
    path.write_bytes(content)
    with pytest.raises(InputError, match="not a trial log tritonkit wrote") as raised:
        TrialLog(path, HEADER, resume=True)
    assert message in str(raised.value)
    assert path.read_bytes() == content


def test_a_second_header_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "trials.jsonl"
    logged(path, KEPT.model_dump_json(), HEADER.model_dump_json(), MORE.model_dump_json())
    with pytest.raises(InputError, match="line 3: a second header"):
        TrialLog(path, HEADER, resume=True)
    with pytest.raises(InputError, match="line 3: a second header"):
        read_trials(path)


NAN, INF = float("nan"), float("inf")
AT_LEAST = "Input should be greater than or equal to"
AT_MOST = "Input should be less than or equal to"
FINITE = "Input should be a finite number"
OUT_OF_RANGE = [
    (
        {"figures": {"p99_ms": NAN, "error_rate": -7, "inferences_per_s": -1e308, "rss_bytes": -5}},
        (f"figures.p99_ms: {FINITE}", f"figures.error_rate: {AT_LEAST} 0", f"figures.inferences_per_s: {AT_LEAST} 0",
         f"figures.rss_bytes: {AT_LEAST} 0"),
    ),
    ({"figures": {"rejected_rate": 1.5}}, (f"figures.rejected_rate: {AT_MOST} 1",)),
    ({"figures": {"cpu_cores": INF}}, (f"figures.cpu_cores: {FINITE}",)),
    ({"figures": {"rss_bytes": 1.5}}, ("figures.rss_bytes",)),
    ({"figures": {"p99_interval_ms": {"low": 5.0, "high": 1.0}}}, ("figures.p99_interval_ms: Value error, expected",)),
    ({"figures": {"inferences_interval": {"low": -1.0, "high": 1.0}}}, ("figures.inferences_interval: Value error",)),
    ({"figures": {"p50_interval_ms": {"low": NAN, "high": 1.0}}}, (f"figures.p50_interval_ms.low: {FINITE}",)),
    ({"seconds": -1}, (f"seconds: {AT_LEAST} 0",)),
    (
        {"candidate": {"max_batch_size": -99999999999999999999, "variant": "\u0000evil", "instance_count": 0,
                       "intra_op_threads": -3}},
        (f"candidate.max_batch_size: {AT_LEAST} 1", "candidate.variant: String should match pattern",
         f"candidate.instance_count: {AT_LEAST} 1", f"candidate.intra_op_threads: {AT_LEAST} 0"),
    ),
    ({"candidate": {"max_batch_size": 65_537}}, (f"candidate.max_batch_size: {AT_MOST} 65536",)),
    ({"candidate": {"instance_count": 257, "intra_op_threads": 1025}},
     (f"candidate.instance_count: {AT_MOST} 256", f"candidate.intra_op_threads: {AT_MOST} 1024")),
    ({"candidate": {"instance_count": True}}, ("candidate.instance_count: Input should be a valid integer",)),
    ({"candidate": {"max_queue_delay_us": 2**63}}, (f"candidate.max_queue_delay_us: {AT_MOST}",)),
    ({"candidate": {"client_batch_size": 16}},
     ("candidate: Value error, client_batch_size 16 above its max_batch_size 8",)),
    ({"candidate": {"preferred_batch_sizes": [4, 16]}},
     ("candidate: Value error, preferred_batch_sizes [4, 16] above its max_batch_size 8",)),
    ({"candidate": {"preferred_batch_sizes": [0]}}, (f"candidate.preferred_batch_sizes.0: {AT_LEAST} 1",)),
    ({"candidate": {"queue": {"max_queue_size": 2**32, "timeout_us": -1}}},
     (f"candidate.queue.max_queue_size: {AT_MOST} 4294967295", f"candidate.queue.timeout_us: {AT_LEAST} 0")),
    ({"candidate": {"fields": [["a" * 201, 1]]}}, ("candidate.fields.0.0: String should have at most 200 characters",)),
    ({"candidate": {"fields": [["a", "x" * 257]]}},
     ("candidate.fields.0.1.constrained-str: String should have at most 256",)),
    ({"candidate": {"fields": [["a", INF]]}}, (f"candidate.fields.0.1.float: {FINITE}",)),
    ({"candidate": {"fields": [["a", 1]] * 17}}, ("candidate.fields: Tuple should have at most 16 items",)),
    ({"candidate": {"extra": 1}}, ("candidate.extra: Unexpected keyword argument",)),
]  # fmt: skip


def trial_json(changes: dict[str, Any]) -> str:
    """KEPT as JSON, with its figures, candidate or own fields changed (NaN written as JSON's NaN)."""
    data = json.loads(KEPT.model_dump_json())
    for key, value in changes.items():
        data[key] = data[key] | value if isinstance(value, dict) else value
    return json.dumps(data)


@pytest.mark.parametrize(("changes", "problems"), OUT_OF_RANGE)
def test_a_record_out_of_range_is_refused_naming_its_line_and_field(
    tmp_path: Path, changes: dict[str, Any], problems: tuple[str, ...]
) -> None:
    path = tmp_path / "trials.jsonl"
    logged(path, KEPT.model_dump_json(), trial_json(changes))
    with pytest.raises(InputError, match="not a trial log tritonkit wrote") as raised:
        TrialLog(path, HEADER, resume=True)
    for problem in problems:
        assert f"line 3: trial.{problem}" in str(raised.value)


def test_a_profile_out_of_range_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "trials.jsonl"
    profile = (
        '{"kind":"profile","workload":"w","profile":{"variant":"fp32","threads":1,"batch_seconds":[[1,Infinity]]}}'
    )
    logged(path, profile)
    with pytest.raises(InputError, match=r"line 2: profile.profile.batch_seconds.0.1: Input should be a finite number"):
        TrialLog(path, HEADER, resume=True)


def test_a_candidate_in_range_reads_back_equal_and_python_builds_any() -> None:
    full = Candidate("int8_dynamic", 64, True, 2_000, (8, 16), 2, 0, QueuePolicy(8, 30_000), 32,
                     (("optimization.graph.level", 1), ("parameters[x]", "y"), ("a.b", 0.5), ("c", True)))  # fmt: skip
    logged_trial = trial(full, figures(10.0, 100.0))
    assert type(logged_trial).model_validate_json(logged_trial.model_dump_json()) == logged_trial
    assert Candidate("anything", -1, True, -5, (0,), 0, -3, None).max_batch_size == -1  # Python checks nothing
    with pytest.raises(ValidationError, match="client_batch_size 16 above its max_batch_size 8"):
        trial(replace(candidate(), client_batch_size=16), None)


@pytest.mark.parametrize("resume", [False, True])
def test_a_symlinked_log_is_refused_and_its_target_untouched(tmp_path: Path, resume: bool) -> None:
    victim = tmp_path / "victim.txt"
    before = logged(victim, KEPT.model_dump_json())  # even a valid log
    (tmp_path / "tune").mkdir()
    (tmp_path / "tune" / "trials.jsonl").symlink_to(victim)
    with pytest.raises(
        InputError, match=r"tune/trials.jsonl: a symbolic link, expected the trial log \(a regular file\)"
    ):
        TrialLog(tmp_path / "tune" / "trials.jsonl", HEADER, resume=resume)
    assert victim.read_bytes() == before


@pytest.mark.timeout(10)
@pytest.mark.parametrize("resume", [False, True])
def test_a_fifo_is_refused_without_blocking(tmp_path: Path, resume: bool) -> None:
    os.mkfifo(tmp_path / "trials.jsonl")
    with pytest.raises(InputError, match=r"trials.jsonl: a FIFO, expected the trial log"):
        TrialLog(tmp_path / "trials.jsonl", HEADER, resume=resume)


@pytest.mark.parametrize("resume", [False, True])
def test_a_directory_is_refused(tmp_path: Path, resume: bool) -> None:
    (tmp_path / "trials.jsonl").mkdir()
    with pytest.raises(InputError, match=r"trials.jsonl: a directory, expected the trial log"):
        TrialLog(tmp_path / "trials.jsonl", HEADER, resume=resume)


@pytest.mark.parametrize("resume", [False, True])
def test_a_device_is_refused(resume: bool) -> None:
    with pytest.raises(InputError, match=r"/dev/null: a device, expected the trial log"):
        TrialLog(Path("/dev/null"), HEADER, resume=resume)


def test_a_missing_log_is_not_resumed(tmp_path: Path) -> None:
    with pytest.raises(InputError, match=r"trials.jsonl: not found"):
        TrialLog(tmp_path / "trials.jsonl", HEADER, resume=True)


@pytest.mark.parametrize("kind", ["symlink", "directory"])
def test_a_resume_never_uses_a_temporary_file(tmp_path: Path, kind: str) -> None:
    path, temporary, victim = tmp_path / "trials.jsonl", tmp_path / "trials.tmp", tmp_path / "victim.txt"
    victim.write_text("precious")
    if kind == "symlink":
        temporary.symlink_to(victim)
    else:
        temporary.mkdir()
    logged(path, KEPT.model_dump_json(), end="")  # a last line to repair
    resumed = TrialLog(path, HEADER, resume=True)
    resumed.add_trial(MORE)
    assert victim.read_text() == "precious"
    assert temporary.is_symlink() if kind == "symlink" else temporary.is_dir()
    assert not path.is_symlink() and read_trials(path)[2] == [KEPT, MORE]


def test_a_fresh_tune_replaces_the_previous_log_at_its_first_record(tmp_path: Path) -> None:
    path = tmp_path / "trials.jsonl"
    before = logged(path, KEPT.model_dump_json())
    link = tmp_path / "link.jsonl"
    os.link(path, link)  # another name of the old log: it keeps the old content
    log = TrialLog(path, HEADER, resume=False)
    assert path.read_bytes() == before  # nothing replaced before something is measured
    log.add_trial(MORE)
    log.add_trial(KEPT)
    assert read_trials(path)[2] == [MORE, KEPT]
    assert link.read_bytes() == before


@pytest.mark.parametrize("resume", [False, True])
def test_a_link_put_in_place_after_preflight_is_not_written_through(tmp_path: Path, resume: bool) -> None:
    path, victim = tmp_path / "trials.jsonl", tmp_path / "victim.txt"
    logged(path, KEPT.model_dump_json())
    log = TrialLog(path, HEADER, resume=resume)
    victim.write_text("precious")
    path.unlink()
    path.symlink_to(victim)
    with pytest.raises(InputError, match=r"trials.jsonl: a symbolic link"):
        log.add_trial(MORE)
    assert victim.read_text() == "precious"


def test_a_log_changed_under_a_resumed_tune_is_not_cut(tmp_path: Path) -> None:
    path = tmp_path / "trials.jsonl"
    logged(path, KEPT.model_dump_json(), MORE.model_dump_json()[:30], end="")
    log = TrialLog(path, HEADER, resume=True)
    with path.open("a") as file:
        file.write("rest of it\n")
    with pytest.raises(InputError, match="changed while the tune ran"):
        log.add_trial(MORE)
    assert path.read_text().endswith("rest of it\n")


def test_the_pareto_front_keeps_the_undominated_trials() -> None:
    a = trial(candidate(batch=8), figures(5.0, 100.0))
    b = trial(candidate(batch=16), figures(8.0, 200.0))
    dominated = trial(candidate(batch=32), figures(9.0, 150.0))  # slower and later than b
    c = trial(candidate(batch=64), figures(20.0, 260.0))
    failed = trial(candidate(batch=4), None)
    assert [t.candidate.max_batch_size for t in front([c, dominated, failed, b, a])] == [8, 16, 64]


def test_a_confirmed_measurement_replaces_the_screening_one_on_the_front() -> None:
    screened = trial(candidate(batch=8), figures(5.0, 100.0))
    confirmed = trial(candidate(batch=8), figures(6.0, 90.0), fidelity="confirm")
    (only,) = front([screened, confirmed])
    assert only.fidelity == "confirm"


def test_each_variant_has_its_front_and_all_of_them_one() -> None:
    fp32 = trial(candidate("fp32"), figures(10.0, 100.0))
    int8 = trial(candidate("int8_dynamic"), figures(6.0, 180.0))
    by_variant = fronts([fp32, int8])
    assert [t.candidate.variant for t in by_variant["all"]] == ["int8_dynamic"]
    assert [t.candidate.variant for t in by_variant["fp32"]] == ["fp32"]
