"""Load shapes for the Locust tests, as pure functions of the run time: users and spawn rate now,
or None when the run is over. The locustfile's `SelectedShape` picks one by `--shape`.

Nothing here imports Locust (importing Locust monkey-patches with gevent), so the shapes are
tested in the ordinary test process.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

ShapeName = Literal["none", "step", "spike", "diurnal"]
SHAPES: tuple[ShapeName, ...] = ("none", "step", "spike", "diurnal")
Tick = tuple[int, float] | None  # (users, spawn rate per second), or None: stop


@dataclass(frozen=True)
class ShapeSettings:
    """What the shape arguments say (see the locustfile's --shape-* options)."""

    peak_users: int = 8  # the most users any shape runs
    base_users: int = 1  # the users a spike starts from and returns to, and the diurnal night
    step_users: int = 2  # users added at each step
    step_s: float = 10.0  # length of a step
    duration_s: float = 60.0  # the whole run


def step(t: float, s: ShapeSettings) -> Tick:
    """Add `step_users` every `step_s` until `peak_users`, then hold until `duration_s`: finds where
    latency starts to climb, one plateau at a time."""
    if t >= s.duration_s:
        return None
    users = min(s.peak_users, s.step_users * (int(t // s.step_s) + 1))
    return users, float(s.step_users)  # a step's users start within a second


def spike(t: float, s: ShapeSettings) -> Tick:
    """`base_users`, then `peak_users` all at once for the middle third of the run, then back:
    how fast queues build and drain (a traffic burst, a retry storm)."""
    if t >= s.duration_s:
        return None
    third = s.duration_s / 3
    in_spike = third <= t < 2 * third
    users = s.peak_users if in_spike else s.base_users
    return users, float(max(s.peak_users, 1))  # as fast as Locust spawns: a spike is sudden


def diurnal(t: float, s: ShapeSettings) -> Tick:
    """A day compressed into `duration_s`: users follow a cosine from `base_users` (night) up to
    `peak_users` (midday) and back, ramping smoothly as real traffic does."""
    if t >= s.duration_s:
        return None
    phase = (1 - math.cos(2 * math.pi * t / s.duration_s)) / 2
    users = round(s.base_users + (s.peak_users - s.base_users) * phase)
    return max(users, 1), float(max(s.peak_users - s.base_users, 1))


PROFILES = {"step": step, "spike": spike, "diurnal": diurnal}
