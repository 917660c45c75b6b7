"""The tune report from a hand-built outcome (real trials, search result and target, no server):
tune.md and tune.html say the same, the HTML stands alone, and text from the data stays text."""

from __future__ import annotations

import base64
import html
import re
from dataclasses import replace
from pathlib import Path

import pytest

from tests.unit.test_report import PNG_SIGNATURE, SWEEP
from tests.unit.tune_tables import candidate, figures, trial
from tritonkit.report.markdown import escape
from tritonkit.specs import TargetSpec
from tritonkit.tune.driver import TargetTune
from tritonkit.tune.family import Family
from tritonkit.tune.objective import Objective
from tritonkit.tune.predict import Prediction
from tritonkit.tune.report import render, write_tune_report
from tritonkit.tune.run import TuneOutcome
from tritonkit.tune.search import SearchResult

FAILURE = 'crashed | exit 1\n<script>alert("x")</script> & more'
TARGET = TargetSpec.model_validate({
    "name": "pipeline", "model": "tiny_fp32", "load": {"mode": "closed", "concurrency": 4},
    "payload": {"kind": "random", "count": 16}, "slo": {"p99_ms": 20},
})  # fmt: skip
SCREENED = trial(candidate("fp32", 8), figures(10.0, 500.0, spread=0.1, cpu=1.5))
TOO_SLOW = trial(candidate("int8_dynamic", 4), figures(30.0, 900.0))  # misses the p99 limit
FAILED = trial(candidate("fp32", 16), None).model_copy(update={"failure": FAILURE})
WINNER = trial(candidate("fp32", 8), figures(9.0, 520.0, spread=0.05), "confirm")
TRIALS = (SCREENED, TOO_SLOW, FAILED, WINNER)
GUESS = Prediction(
    inferences_per_s=480.0, p50_ms=5.0, p99_ms=11.0, rejected_fraction=0.0, utilization=0.5,
    batch_size=4.0, capacity_inferences_per_s=900.0, service_ms=5.0, batching_delay_ms=0.0, slowdown=1.0,
)  # fmt: skip
TUNE = TargetTune(
    target=TARGET, workload="w", objective=Objective.of(TARGET), candidates=24,
    result=SearchResult(best=WINNER, trials=TRIALS, note="1 finalist confirmed"),
    predictions={SCREENED.key: GUESS},
)  # fmt: skip
OUTCOME = TuneOutcome(
    family=Family("tiny", ("fp32", "int8_dynamic")), tunes=(TUNE,), tuned={"pipeline": "tiny_tuned_pipeline"},
    curves={"pipeline": {"tuned": SWEEP, "minimal": SWEEP}}, log_path=Path("unused"), resumed=2,
)  # fmt: skip
WINNER_LINE = (
    f"Winner (1 finalist confirmed): {WINNER.candidate.describe()}: p50 4.5 ms, p99 9.0 ms, 520 inf/s; "
    "written as tiny_tuned_pipeline."
)


@pytest.fixture(scope="module")
def files() -> dict[str, bytes]:
    return render("tritonkit tune: targets.yaml", OUTCOME, b"log\n")


def _trials_table(md: str) -> list[str]:
    (table,) = (block for block in md.split("\n\n") if block.startswith("| fidelity |"))
    return table.splitlines()


def test_both_formats_have_the_winner_and_every_trial(files: dict[str, bytes]) -> None:
    md, page = files["tune.md"].decode(), files["tune.html"].decode()
    assert sorted(files) == [
        "plots/load_pipeline.png", "plots/pareto_pipeline.png", "trials.jsonl", "tune.html", "tune.json", "tune.md",
    ]  # fmt: skip
    assert md.startswith("# tritonkit tune: targets.yaml\n")
    assert WINNER_LINE in md and f"<p>{html.escape(WINNER_LINE)}</p>" in page
    assert "2 trial results reused from the trial log" in md
    rows = _trials_table(md)[2:]
    assert len(rows) == len(TRIALS)
    for row, t in zip(rows, TRIALS, strict=True):
        assert row.startswith(f"| {t.fidelity} | {escape(t.candidate.describe())}")
        assert f"<td>{t.fidelity}</td><td>{html.escape(t.candidate.describe())}" in page
    verdicts = ("meets SLO |", "misses: p99 30.0 ms &gt; 20 ms |", "failed: crashed", "meets SLO |")
    assert all(f" | {verdict}" in row for row, verdict in zip(rows, verdicts, strict=True))
    # ★ on the front (the screened candidate was confirmed), p99 with its interval, the prediction last
    assert rows[0] == (
        f"| screen | {escape(SCREENED.candidate.describe())} ★ | meets SLO | 5.0 | 10.0 (9.0 to 11.0) | 500 | 1.00 "
        "| 1.50 | — | 11.0 / 480 |"
    )
    assert '<td class="pass">meets SLO</td>' in page and '<td class="fail">misses: p99 30.0 ms &gt; 20 ms</td>' in page
    assert "### Latency against load: the winner, the minimal config and the profiles" in md
    assert "| tuned | " in md and "<td>minimal</td>" in page
    assert (
        "- Pareto front (all): 520 inf/s at p99 9.0 ms" in md and "<li>Pareto front (int8_dynamic): 900 inf/s" in page
    )


def test_the_html_is_self_contained_with_every_plot_embedded(files: dict[str, bytes]) -> None:
    page = files["tune.html"].decode()
    assert "<script" not in page and "<link" not in page and not re.search(r"https?://", page)
    embedded = [base64.b64decode(data) for data in re.findall(r'<img src="data:image/png;base64,([^"]+)"', page)]
    plots = [files[path] for path in ("plots/pareto_pipeline.png", "plots/load_pipeline.png")]
    assert embedded == plots and all(png.startswith(PNG_SIGNATURE) for png in plots)
    assert "![throughput against p99 of every trial](plots/pareto_pipeline.png)" in files["tune.md"].decode()


def test_a_failure_message_stays_text(files: dict[str, bytes]) -> None:
    md, page = files["tune.md"].decode(), files["tune.html"].decode()
    table = _trials_table(md)
    assert len(table) == 2 + len(TRIALS)  # the newline did not start a row
    assert {len(re.findall(r"(?<!\\)\|", line)) for line in table} == {11}  # nor did '|' split a cell
    assert "<script>" not in md and r"crashed \| exit 1 &lt;script&gt;" in md
    assert "<script" not in page and "crashed | exit 1\n&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp;" in page


def test_a_target_without_a_winner_says_so() -> None:
    failed = replace(TUNE, result=SearchResult(best=None, trials=(FAILED,), note="every candidate failed"))
    outcome = replace(OUTCOME, tunes=(failed,), tuned={}, curves={})
    files = render("t", outcome, b"")
    md, page = files["tune.md"].decode(), files["tune.html"].decode()
    assert "No configuration met the SLO (every candidate failed)." in md
    assert "<p>No configuration met the SLO (every candidate failed).</p>" in page
    assert "- Pareto front (all): none" in md and not any(path.startswith("plots/") for path in files)
    assert "<img" not in page and "Latency against load" not in md


def test_rendering_is_deterministic(files: dict[str, bytes]) -> None:
    assert render("tritonkit tune: targets.yaml", OUTCOME, b"log\n") == files


def test_writing_puts_tune_html_beside_tune_md(tmp_path: Path) -> None:
    log = tmp_path / "trials.jsonl"
    log.write_bytes(b"log\n")
    directory = write_tune_report(tmp_path / "report", "t", replace(OUTCOME, log_path=log))
    assert (directory / "tune.html").read_text().startswith("<!DOCTYPE html>")
    assert (directory / "tune.md").is_file() and (directory / "trials.jsonl").read_bytes() == b"log\n"
