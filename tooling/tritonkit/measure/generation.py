"""Streamed generation's figures from a run's per-request token arrival times: time to first token,
inter-token latency, output tokens per second and tokens per request, with their 95% intervals
from the same machinery as latency's (stats.py). Pure."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from tritonkit.measure.measurement import Generation
from tritonkit.measure.stats import PercentileIntervals, percentile_intervals, summarize, throughput_interval


def summarize_generation(
    scheduled_ns: np.ndarray,
    token_ns: Sequence[tuple[int, ...] | None],
    due: np.ndarray,
    succeeded: np.ndarray,
    edges: Sequence[int],
) -> Generation:
    """`scheduled_ns`: each request's due time; `token_ns`: each one's token arrivals (None: none
    recorded); `due`: the requests due in the measured windows; `succeeded`: the successful ones;
    `edges`: the measured windows' boundaries, first start to last end (all times ns, one clock)."""
    recorded = token_ns or (None,) * scheduled_ns.size
    tokens = [np.asarray(t or (), dtype=np.int64) for t in recorded]
    # In the order they were due: the bootstrap keeps neighbouring requests together.
    measured = [int(i) for i in np.argsort(scheduled_ns, kind="stable") if due[i] and succeeded[i]]
    ttft_us = np.asarray([(tokens[i][0] - scheduled_ns[i]) / 1e3 for i in measured if tokens[i].size], dtype=float)
    # Gaps in the order their later token arrived, so that a slow episode's gaps stay together.
    streamed = [tokens[i] for i in measured if tokens[i].size > 1]
    arrivals = np.concatenate([t[1:] for t in streamed]) if streamed else np.zeros(0, np.int64)
    gaps_us = np.concatenate([np.diff(t) / 1e3 for t in streamed]) if streamed else np.zeros(0)
    itl_us = gaps_us[np.argsort(arrivals, kind="stable")]

    # Every successful stream's tokens that arrived in each measured window [start, end).
    answered = np.sort(np.concatenate([tokens[i] for i in np.flatnonzero(succeeded)] or [np.zeros(0, np.int64)]))
    counts = np.diff(np.searchsorted(answered, np.asarray(edges, dtype=np.int64), side="left"))
    lengths_s = np.diff(np.asarray(edges, dtype=float)) / 1e9
    period_s = float(lengths_s.sum())
    rate = float(counts.sum()) / period_s if period_s > 0 else 0.0
    return Generation(
        streams=len(measured),
        tokens_per_request=float(np.mean([tokens[i].size for i in measured])) if measured else None,
        output_tokens=int(counts.sum()),
        output_tokens_per_s=rate,
        output_tokens_per_s_interval=throughput_interval(rate, list(counts / lengths_s)) if period_s > 0 else None,
        ttft=summarize(ttft_us),
        ttft_intervals=PercentileIntervals(*percentile_intervals(ttft_us, (50, 99))),
        itl=summarize(itl_us),
        itl_intervals=PercentileIntervals(*percentile_intervals(itl_us, (50, 99))),
    )
