"""Report rendering is pure, so synthetic measurements are enough: what matters here is that every
figure lands in every format, that nothing is invented, and that writing is atomic."""

from __future__ import annotations

import base64
import csv
import io
import json
import re
from dataclasses import replace
from pathlib import Path

import matplotlib.image
import numpy as np
import pytest

from tritonkit.errors import InputError
from tritonkit.measure import sweep as sweeps
from tritonkit.measure.measurement import (
    REJECTED_QUEUE_FULL,
    REJECTED_QUEUE_TIMEOUT,
    Energy,
    Measurement,
    RequestLog,
    ServerBreakdown,
    WindowStats,
)
from tritonkit.measure.stats import Interval, confidence_intervals, summarize
from tritonkit.report import plots, render_report, write_report
from tritonkit.slo import RANGE_DASH as DASH
from tritonkit.slo import Check, Verdict, judged

HOSTILE = '<script>alert("x")</script>&../x|y'
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def measurement(
    target: str = "fast",
    *,
    model: str = "minilm",
    level: float = 100.0,
    median_us: float = 4000.0,
    requests: int = 300,
    failed: int = 0,
    energy: Energy | None = None,
    cost: float | None = 0.25,
    seed: int = 0,
) -> Measurement:
    """A run of `requests` (the first 30 are warmup, window -1), the last `failed` of them errors."""
    rng = np.random.default_rng(seed)
    scheduled = np.arange(requests, dtype=float) * 1e6 / level
    window = np.where(np.arange(requests) < 30, -1, (np.arange(requests) - 30) * 3 // max(requests - 30, 1))
    error = ("",) * (requests - failed) + ("timeout",) * failed
    latency = rng.lognormal(np.log(median_us), 0.35, requests)
    latency[requests - failed :] = np.nan  # a failed request has no latency
    ok = (np.array(error) == "") & (window >= 0)
    summary = summarize(latency[ok])
    measured = int((window >= 0).sum())
    rate = min(level, 250.0) * (1 - failed / requests)  # the server saturates at 250 requests/s
    within_10_ms = float((latency[ok] <= 10_000).mean()) if summary else 0.0
    return Measurement(
        target=target,
        model=model,
        protocol="grpc",
        mode="open",
        level=level,
        inferences_per_request=4,
        measured_windows=(0, 2),
        stable=failed == 0,
        duration_s=3.0,
        sent=measured,
        latency=summary,
        intervals=confidence_intervals(latency[ok], rate, [rate * 0.9, rate, rate * 1.1], 4),
        requests_per_s=rate,
        goodput_per_s=rate * within_10_ms,
        errors={"timeout": min(failed, measured)} if failed else {},
        error_examples={"timeout": "deadline exceeded after 30 s"} if failed else {},
        windows=tuple(WindowStats(i, measured // 3, 0, rate, summary.p99_us if summary else None) for i in range(3)),
        late_sends=2,
        send_lag_p99_us=900.0,
        max_send_lag_us=1500.0,
        server=ServerBreakdown(measured, 3000.0, 400.0, 50.0, 2400.0, 30.0, measured * 4, measured // 2),
        client_overhead_us=float("nan") if summary is None else 800.0,
        client_cpu_percent=12.5,
        cost_per_million=cost,
        energy=energy or Energy(0.0123, "estimate: 300 W host x time per inference"),
        warnings=("client CPU above 80 %",) if seed == 1 else (),
        raw=RequestLog(scheduled, scheduled + 10.0, latency, window, error),
    )


def check(
    metric: str, limit: float, actual: float | None, unit: str = "ms", upper: bool = True, ci: Interval | None = None
) -> Check:
    return judged(metric, limit, actual, unit, upper, ci)


FAST = measurement("fast", seed=1)
SLOW = measurement("slow", model="bert", median_us=9000.0, seed=2)
VERDICTS = (
    Verdict(
        "fast",
        "minilm",
        (check("p99", 20.0, 10.0, ci=Interval(9.0, 11.5)), check("throughput", 100.0, 360.0, "inf/s", False)),
        (),
    ),
    # p50's interval spans its limit (inconclusive), p99 fails outright: the verdict is FAIL.
    Verdict(
        "slow", "bert", (check("p50", 10.0, 9.0, ci=Interval(8.5, 10.5)), check("p99", 8.0, 10.0)), ("not stable",)
    ),
)
SWEEP = sweeps.analyze(
    "minilm", [measurement("fast", level=r, median_us=2000 + r * 10, seed=int(r)) for r in (50, 100, 200, 400)], 10.0
)


@pytest.fixture(scope="module")
def files() -> dict[str, bytes]:
    return render_report("Nightly <run>", [FAST, SLOW], VERDICTS, [SWEEP])


def embedded_pngs(html: str) -> list[bytes]:
    return [base64.b64decode(data) for data in re.findall(r'<img src="data:image/png;base64,([^"]+)"', html)]


def test_markdown_has_the_verdict_table_with_margins(files: dict[str, bytes]) -> None:
    md = files["report.md"].decode()
    assert md.startswith("# Nightly &lt;run&gt;\n")
    assert "| fast | minilm | PASS | — | — |" in md
    reasons = f"p50 9 ms (95% CI 8.50{DASH}10.50), target ≤ 10 ms: inconclusive; p99 10 ms, target ≤ 8 ms"
    assert f"| slow | bert | FAIL | {reasons} | not stable |" in md
    assert f"| fast | p99 | 10 ms | 9{DASH}11.5 ms | ≤ 20 ms | +50.0 % | PASS |" in md
    assert f"| slow | p50 | 9 ms | 8.5{DASH}10.5 ms | ≤ 10 ms | +10.0 % | INCONCLUSIVE |" in md
    assert "| slow | p99 | 10 ms | — | ≤ 8 ms | -25.0 % | FAIL |" in md
    assert "How to read this report" in md and "estimate: 300 W host x time per inference" in md
    assert "![Latency percentiles per target, with SLO limits](plots/percentiles.png)" in md
    sweep = "| minilm | open | 4 | 10 ms | 200 req/s: 800 inf/s | 800 inf/s at 200 req/s |"
    assert sweep in md and "| fast @ 200 req/s | minilm | grpc |" in md


def test_html_is_self_contained_with_every_plot_embedded(files: dict[str, bytes]) -> None:
    html = files["report.html"].decode()
    assert not re.search(r"https?://", html) and "<script" not in html and "<link" not in html
    images = embedded_pngs(html)
    plot_files = sorted(path for path in files if path.startswith("plots/"))
    assert plot_files == [
        "plots/latency_cdf.png",
        "plots/latency_throughput.png",
        "plots/percentiles.png",
        "plots/sweep_minilm_open.png",
    ]
    assert sorted(images) == sorted(files[path] for path in plot_files)
    for png in images:
        assert png.startswith(PNG_SIGNATURE)
        height, width, _ = matplotlib.image.imread(io.BytesIO(png)).shape
        assert (width, height) == (1000, 560)
    assert '<td class="pass">PASS</td>' in html and '<td class="fail">FAIL</td>' in html
    assert '<td class="inconclusive">INCONCLUSIVE</td>' in html


def test_text_from_the_data_is_escaped() -> None:
    hostile = measurement(HOSTILE)
    verdict = Verdict(HOSTILE, "minilm", (check("p99", 1.0, 5.0),), ("<b>note</b>",))
    files = render_report("t", [hostile], [verdict])
    html = files["report.html"].decode()
    assert "<script>" not in html and "<b>note</b>" not in html
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;&amp;../x|y" in html
    assert '&lt;script&gt;alert("x")&lt;/script&gt;&amp;../x\\|y' in files["report.md"].decode()
    (latencies,) = (path for path in files if path.startswith("latencies/"))
    assert re.fullmatch(r"latencies/[A-Za-z0-9_.-]+\.csv", latencies) and "/.." not in latencies


def test_results_json_is_strict_and_carries_the_checks(files: dict[str, bytes]) -> None:
    def no_nan(constant: str) -> None:
        raise AssertionError(f"{constant} in results.json")

    results = json.loads(files["results.json"], parse_constant=no_nan)
    assert [v["passed"] for v in results["verdicts"]] == [True, False]
    p99 = results["verdicts"][1]["checks"][1]
    assert p99 | {"margin": round(p99["margin"], 6)} == {
        "metric": "p99", "limit": 8.0, "actual": 10.0, "unit": "ms", "upper_bound": True, "passed": False,
        "margin": -0.25, "detail": "", "state": "fail", "interval": None,
    }  # fmt: skip
    assert results["verdicts"][1]["status"] == "FAIL"
    assert results["verdicts"][1]["checks"][0]["interval"] == {"low": 8.5, "high": 10.5}
    fast = results["measurements"][0]
    assert "raw" not in fast and fast["latency"]["p99_us"] == FAST.latency.p99_us  # type: ignore[union-attr]
    assert fast["inferences_per_s"] == FAST.inferences_per_s and fast["server"]["average_batch_size"] == 8.0
    assert fast["energy"]["method"].startswith("estimate") and fast["latencies_csv"] == "latencies/fast.csv"
    assert results["sweeps"][0]["knee"] == SWEEP.knee and results["sweeps"][0]["best"] == SWEEP.best
    assert len(results["plots"]) == 4


def test_csvs_have_a_row_per_measurement_and_per_request(files: dict[str, bytes]) -> None:
    summary = list(csv.DictReader(io.StringIO(files["summary.csv"].decode())))
    assert [row["target"] for row in summary] == ["fast", "slow"] + ["fast"] * len(SWEEP.points)
    assert [row["sweep"] for row in summary][:3] == ["", "", "minilm (open)"]
    assert float(summary[1]["p99_ms"]) == SLOW.latency.p99_us / 1000  # type: ignore[union-attr]
    assert summary[0]["cost_per_million_usd"] == "0.25"
    assert float(summary[0]["goodput_inferences_per_s"]) == FAST.goodput_inferences_per_s
    p50 = FAST.intervals.p50_us
    assert p50 is not None and float(summary[0]["p50_ci_low_ms"]) == p50.low / 1000
    assert summary[0]["p99_ci_high_ms"] == ""  # 270 requests are too few for a p99 interval
    raw = list(csv.DictReader(io.StringIO(files["latencies/slow.csv"].decode())))
    assert len(raw) == len(SLOW.raw) and set(raw[0]) == {"scheduled_us", "sent_us", "latency_us", "window", "error"}
    assert raw[0]["window"] == "-1" and float(raw[-1]["latency_us"]) == SLOW.raw.latency_us[-1]


def test_a_run_without_any_success_renders_what_is_known() -> None:
    failed = measurement(
        "down", requests=50, failed=50, cost=None, energy=Energy(None, "not available: no power meter on this host")
    )
    assert failed.latency is None
    verdict = Verdict("down", "minilm", (check("p99", 10.0, None),), ())
    files = render_report("outage", [failed], [verdict])
    md, html = files["report.md"].decode(), files["report.html"].decode()
    for text in (md, html):
        assert "not available: no power meter on this host" in text and "nothing measured" in text
    # requests/s, goodput requests/s, inferences/s, goodput inferences/s, then six latencies.
    assert "| down | minilm | grpc | open | 100 req/s | no | 3 | 0 | 0 | 0 | 0 | — | — | — | — | — | — |" in md
    assert "| down | — | — | — | — | 0 | 0 |" in md  # no latency intervals; throughput exactly 0
    assert "| down | 20 | 100 % | timeout: 20 |" in md
    assert not any(path.startswith("plots/") for path in files) and embedded_pngs(html) == []
    results = json.loads(files["results.json"])
    assert results["measurements"][0]["latency"] is None and results["measurements"][0]["client_overhead_us"] is None
    summary = next(csv.DictReader(io.StringIO(files["summary.csv"].decode())))
    assert summary["p99_ms"] == "" and summary["energy_j_per_inference"] == "" and summary["client_overhead_us"] == ""


def test_shed_load_and_a_growing_queue_are_shown_apart() -> None:
    """Rejections are their own error kind and rate; each window's backlog is tabled, and a rising
    one is flagged, in the tables and in results.json."""
    base = measurement("overload")
    growing = tuple(
        replace(w, outstanding=100 * (w.index + 1), server_queue_us=50_000.0 * (w.index + 1)) for w in base.windows
    )
    unbounded = replace(base, target="no policy", errors={"not sent": 6}, windows=growing)
    shed = replace(
        base,
        target="latency policy",
        errors={REJECTED_QUEUE_FULL: 81, REJECTED_QUEUE_TIMEOUT: 9},
        error_examples={REJECTED_QUEUE_FULL: "Exceeds maximum queue size"},
        windows=tuple(replace(w, outstanding=18, server_queue_us=60_000.0) for w in base.windows),
    )
    files = render_report("overload", [unbounded, shed])
    md = files["report.md"].decode()
    assert "| no policy | 270 | 2.22 % | not sent: 6 | 0 % | yes |" in md
    assert (
        "| latency policy | 270 | 33.3 % | rejected: queue full: 81; rejected: queue timeout: 9 | 33.3 % | no |" in md
    )
    assert md.count("| no policy | ") == 4 + 3  # four tables, three windows
    assert re.search(r"\| no policy \| 2 \| yes \| 100 \| [0-9.]+ \| 0 \| 300 \| 150 \|", md)
    assert re.search(r"\| latency policy \| 0 \| yes \| 100 \| [0-9.]+ \| 0 \| 18 \| 60 \|", md)
    assert "latency policy: error rejected: queue full: Exceeds maximum queue size" in md
    results = json.loads(files["results.json"])
    assert [m["queue_growing"] for m in results["measurements"]] == [True, False]
    assert [m["rejected"] for m in results["measurements"]] == [0, 90]
    assert results["measurements"][0]["windows"][2] | {"p99_us": None} == {
        "index": 2, "completed": 90, "errors": 0, "throughput_per_s": 100.0, "p99_us": None,
        "outstanding": 300, "server_queue_us": 150_000.0,
    }  # fmt: skip
    summary = list(csv.DictReader(io.StringIO(files["summary.csv"].decode())))
    assert [(row["rejected_rate"], row["queue_growing"]) for row in summary] == [
        ("0.0", "True"),
        (str(90 / 270), "False"),
    ]


def test_rendering_is_deterministic(files: dict[str, bytes]) -> None:
    assert render_report("Nightly <run>", [FAST, SLOW], VERDICTS, [SWEEP]) == files


def test_writing_replaces_a_previous_report(tmp_path: Path) -> None:
    directory = tmp_path / "report"
    assert write_report(directory, title="one", measurements=[FAST]) == directory
    (directory / "stale.txt").write_text("from an older run")
    write_report(directory, title="two", measurements=[SLOW], verdicts=VERDICTS[1:])
    assert not (directory / "stale.txt").exists() and not (directory / "latencies" / "fast.csv").exists()
    assert (directory / "report.md").read_text().startswith("# two\n")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["report"]  # no staging directory left behind


def test_a_failure_while_rendering_keeps_the_previous_report(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    directory = tmp_path / "report"
    write_report(directory, title="good", measurements=[FAST])
    before = {p: p.read_bytes() for p in directory.rglob("*") if p.is_file()}

    def broken(*_: object) -> bytes:
        raise RuntimeError("plotting failed")

    monkeypatch.setattr(plots, "latency_cdf", broken)
    with pytest.raises(RuntimeError, match="plotting failed"):
        write_report(directory, title="bad", measurements=[SLOW])
    assert {p: p.read_bytes() for p in directory.rglob("*") if p.is_file()} == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["report"]


def test_a_directory_that_is_not_a_report_is_never_replaced(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("mine")
    with pytest.raises(InputError, match="is not a report directory"):
        write_report(tmp_path, title="t", measurements=[FAST])
    assert (tmp_path / "notes.txt").read_text() == "mine"


def test_streamed_generation_has_its_own_tables_and_record() -> None:
    """TTFT, ITL and output tokens/s in report tables (for the measurement that streamed only), in
    summary.csv (blank for the other) and in results.json as a typed record (null for the other)."""
    from tritonkit.measure.measurement import Generation
    from tritonkit.measure.stats import PercentileIntervals

    ttft, itl = summarize(np.array([30_000.0, 50_000.0])), summarize(np.array([20_000.0, 21_000.0, 26_000.0]))
    generation = Generation(
        streams=2, tokens_per_request=2.5, output_tokens=5, output_tokens_per_s=125.0,
        output_tokens_per_s_interval=Interval(100.0, 150.0), ttft=ttft,
        ttft_intervals=PercentileIntervals(Interval(28_000.0, 52_000.0), None), itl=itl,
        itl_intervals=PercentileIntervals(None, None),
    )  # fmt: skip
    chat = replace(measurement("chat"), generation=generation)
    files = render_report("gen", [FAST, chat])
    md = files["report.md"].decode()
    assert "### Streamed generation" in md and "#### TTFT, ITL and output tokens" in md
    assert "| measurement | streams | tokens/request | output tokens/s | TTFT p50 ms |" in md
    assert "| chat | 2 | 2.5 | 125 | 30 | 50 | 50 | 50 | 50 | 21 | 26 | 26 | 26 | 26 |" in md
    assert "| chat | 28 | 52 | — | — | — | — | — | — | 100 | 150 |" in md
    assert md.count("| fast | ") == 4 + 3 and md.count("| chat | ") == 4 + 2 + 3  # (+ windows) fast never streamed
    assert "Streamed generation" not in render_report("plain", [FAST])["report.md"].decode()
    summary = list(csv.DictReader(io.StringIO(files["summary.csv"].decode())))
    assert [row["ttft_p99_ms"] for row in summary] == ["", "50.0"]
    assert [row["output_tokens_per_s_ci_high"] for row in summary] == ["", "150.0"]
    results = json.loads(files["results.json"])
    assert results["measurements"][0]["generation"] is None
    record = results["measurements"][1]["generation"]
    assert record["ttft"]["p50_us"] == 30_000.0 and record["itl"]["max_us"] == 26_000.0
    assert record["ttft_intervals"] == {"p50_us": {"low": 28_000.0, "high": 52_000.0}, "p99_us": None}
    assert record["output_tokens"] == 5 and record["tokens_per_request"] == 2.5
