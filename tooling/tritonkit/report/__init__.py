"""Reports of measurements, verdicts and sweeps: Markdown, self-contained HTML, PNG plots, JSON and CSV.

Rendering is pure (data in, text or bytes out); `write_report` is the one function with an effect,
and it replaces the report directory atomically.
"""

from tritonkit.report.data import latencies_csv, results_json, summary_csv
from tritonkit.report.files import render_report, write_files, write_report
from tritonkit.report.plots import Plot, latency_cdf, latency_throughput, percentile_bars, sweep_curve

__all__ = [
    "Plot",
    "latencies_csv",
    "latency_cdf",
    "latency_throughput",
    "percentile_bars",
    "render_report",
    "results_json",
    "summary_csv",
    "sweep_curve",
    "write_files",
    "write_report",
]
