"""A report's results.json as `check`/`sweep` write it, for the tests of what reads it back:
target 'ok' passed at 45 inf/s, 'bad' missed its SLO, sweep 'm_sweep' met p99 up to 123 inf/s and
sweep 'swept' never did."""

from __future__ import annotations

import json
from typing import Any

from tests.unit.test_report import measurement
from tritonkit.measure import sweep as sweeps
from tritonkit.report import results_json
from tritonkit.slo import Verdict, judged


def results_document() -> dict[str, Any]:
    # measurement() serves 4 inferences per request at the offered rate (below 250 requests/s).
    ok, bad = measurement("ok", level=11.25, median_us=9000.0), measurement("bad", level=2.25, seed=3)
    verdicts = (
        Verdict("ok", "minilm", (judged("p99", 1000.0, 9.0, "ms", True),), ()),
        Verdict("bad", "minilm", (judged("p99", 1.0, 9.0, "ms", True),), ()),
    )
    met = sweeps.analyze("m_sweep", [measurement("m", level=rate, seed=4) for rate in (10.0, 30.75)], 100.0)
    never = sweeps.analyze("swept", [measurement("s", level=20.0, seed=5)], 0.001)
    return json.loads(results_json("nightly", [ok, bad], verdicts, [met, never], []))
