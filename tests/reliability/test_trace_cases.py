"""Arrival traces: a targets file whose load replays a spoiled trace (refused before a server
starts, every problem at once), and `tritonkit trace` given a spoiled profile, texts or flags."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from tests.reliability.harness import Case, check, params, write_files
from tests.reliability.samples import SENTENCES, TARGET, TRAFFIC, changed, dumped, targets_file, targets_setup

CHECK = ("check", "targets.yaml")
TRACE_LOAD = {"mode": "trace", "file": "trace.csv", "warmup_s": 1, "window_s": 1, "duration_s": 3}
GOOD_TRACE = "timestamp\n" + "".join(f"{i * 0.1:.1f}\n" for i in range(40))  # 3.9 s
TRACE = ("trace", "--traffic", "traffic.yaml", "--out", "day.csv")


def trace_case(case_id: str, trace: str | bytes, fragments: tuple[str, ...], readme: str = "", **load: object) -> Case:
    """The sample target replaying `trace` (a random payload: rows may carry no text or length)."""
    target = changed(TARGET, "load", {**TRACE_LOAD, **load})
    setup = targets_setup(targets_file(target), **{"trace.csv": trace})
    return Case(f"trace-{case_id}", CHECK, ("targets.yaml", *fragments), setup=setup, readme=readme)


def flag_case(case_id: str, flags: tuple[str, ...], fragments: tuple[str, ...], readme: str = "", **files: str) -> Case:
    setup = write_files({"traffic.yaml": TRAFFIC, "texts.txt": SENTENCES, **files})
    return Case(f"synthesise-{case_id}", (*TRACE, *flags), fragments, setup=setup, readme=readme)


CASES = [
    trace_case("speed-zero", GOOD_TRACE, ("load.trace.speed: Input should be greater than 0",), speed=0),
    trace_case(
        "speed-huge", GOOD_TRACE, ("load.trace.speed: Input should be less than or equal to 100000",), speed=1e9
    ),
    trace_case("file-missing", GOOD_TRACE, ("load.file", "absent.csv: not found"), file="absent.csv"),
    trace_case(
        "rows",
        "timestamp,length\nsoon,4\n2,0\n1,5\n",
        (
            "line 2: timestamp 'soon' is not a number of seconds",
            "line 3: length 0; expected 1 to 65536 tokens",
            "line 4: timestamp 1 is before the previous one (2); sort the trace",
        ),
        readme="a trace with a word for a timestamp, a zero length and rows out of order",
    ),
    trace_case(
        "header", "time,size\n1,2\n", ("unknown column 'time'", "unknown column 'size'", "no 'timestamp' column")
    ),
    trace_case("empty", "", ("empty (expected a header: timestamp[,text][,length])",)),
    trace_case("binary", b"\x89PNG\r\n\x1a\n\x00\x00", ("not UTF-8 text",), readme="a PNG for a trace"),
    trace_case("milliseconds", "timestamp\n0\n900000000\n", ("timestamps span 9e+08 s; at most 604800",)),
    trace_case(
        "too-short",
        "timestamp\n0\n0.5\n",
        ("lasts 0.25 s at speed 2; at least warmup_s + window_s (2 s) to measure a window",),
        speed=2,
    ),
    trace_case(
        "lengths-on-random",
        "timestamp,length\n0,4\n3,5\n",
        ("its length column needs a tokens or texts payload, not random",),
        readme="a trace whose rows carry lengths, for a random payload",
    ),
    flag_case("duration-zero", ("--duration-s", "0"), ("--duration-s: expected a number 1-86400, got 0",)),
    flag_case("seed-negative", ("--seed", "-1"), ("--seed: expected a whole number",)),
    flag_case(
        "day-too-large",
        ("--duration-s", "86400"),
        ("--duration-s 86400 at the profile's peak of 300/s is ~25920000 requests; at most 1000000",),
        readme="a day at full length, 26 million requests",
    ),
    flag_case(
        "profile-and-texts",
        ("--texts", "absent.txt"),
        ("traffic.yaml", "off_peak_inferences_per_s exceeds peak_inferences_per_s", "absent.txt: not found"),
        readme="an inverted profile and a missing texts file: both reported",
        **{"traffic.yaml": dumped({**yaml.safe_load(TRAFFIC), "off_peak_inferences_per_s": 900})},
    ),
    flag_case(
        "out-directory",
        (),
        ("argument --out: day.csv is a directory; expected a file to write",),
        **{"day.csv/keep": "x"},
    ),
]


@pytest.mark.parametrize("case", params(CASES))
def test_traces_refuse(case: Case, tmp_path: Path) -> None:
    check(case, tmp_path)
