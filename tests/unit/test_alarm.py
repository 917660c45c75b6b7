"""The open loop's alarm: a timerfd the event loop watches, or asyncio's timer where there is none."""

from __future__ import annotations

import asyncio
import os
import time

import pytest

from tritonkit.measure import alarm as alarm_module
from tritonkit.measure.alarm import Alarm


async def _wake_ups(count: int, spacing_ns: int) -> tuple[list[int], int | None]:
    """How late each of `count` wake-ups came (never negative if none is early), and the fd used."""
    lateness = []
    with Alarm() as alarm:
        fd = alarm._fd
        start = time.monotonic_ns()
        for k in range(1, count + 1):
            await alarm.until(start + k * spacing_ns)
            lateness.append(time.monotonic_ns() - (start + k * spacing_ns))
    return lateness, fd


def test_the_alarm_never_rings_early_and_closes_its_timer() -> None:
    # 0.7 ms apart: below epoll's whole milliseconds
    lateness, fd = asyncio.run(asyncio.wait_for(_wake_ups(20, 700_000), timeout=10))
    assert min(lateness) >= 0
    assert fd is not None  # this is Linux: the timerfd, not the fallback
    with pytest.raises(OSError):
        os.fstat(fd)  # closed with the block


def test_without_a_timerfd_asyncio_s_timer_stands_in(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(alarm_module, "_libc", object())  # no timerfd_create, as on macOS
    lateness, fd = asyncio.run(asyncio.wait_for(_wake_ups(5, 2_000_000), timeout=10))
    assert fd is None and min(lateness) >= 0


def test_a_cancelled_wait_leaves_the_alarm_usable() -> None:
    async def scenario() -> int:
        with Alarm() as alarm:
            waiting = asyncio.create_task(alarm.until(time.monotonic_ns() + 10_000_000_000))
            await asyncio.sleep(0.01)
            waiting.cancel()
            with pytest.raises(asyncio.CancelledError):
                await waiting
            deadline = time.monotonic_ns() + 1_000_000
            await alarm.until(deadline)  # re-arming replaces the far deadline
            return time.monotonic_ns() - deadline

    assert asyncio.run(asyncio.wait_for(scenario(), timeout=5)) >= 0
