"""Load shapes as pure functions of time (loadtests/shapes.py imports no Locust, hence no gevent)."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "loadtests"))

from shapes import ShapeSettings, diurnal, spike, step

SETTINGS = ShapeSettings(peak_users=6, base_users=1, step_users=2, step_s=10, duration_s=60)


def users(profile, times: list[float]) -> list[int | None]:  # type: ignore[no-untyped-def]
    ticks = [profile(t, SETTINGS) for t in times]
    return [tick[0] if tick else None for tick in ticks]


def test_step_adds_users_each_step_then_holds_then_stops() -> None:
    assert users(step, [0, 9.9, 10, 25, 35, 59.9, 60]) == [2, 2, 4, 6, 6, 6, None]


def test_spike_jumps_for_the_middle_third_and_returns() -> None:
    assert users(spike, [0, 19.9, 20, 39.9, 40, 60]) == [1, 1, 6, 6, 1, None]
    tick = spike(20, SETTINGS)
    assert tick is not None and tick[1] >= SETTINGS.peak_users  # all at once


def test_diurnal_rises_to_the_peak_at_midday_and_falls_back() -> None:
    day = users(diurnal, [0, 15, 30, 45, 59])
    assert day[0] == 1 and day[2] == 6 and abs(day[1] - day[3]) <= 1  # symmetric, up to rounding
    assert day[0] <= day[1] <= day[2] and day[2] >= day[3] >= day[4]
    assert diurnal(60, SETTINGS) is None


def test_importing_the_shapes_does_not_bring_in_locust_or_patch_anything() -> None:
    assert "locust" not in sys.modules
    monkey = sys.modules.get("gevent.monkey")  # tritonclient.http imports it, without patching
    assert monkey is None or not monkey.is_anything_patched()
