"""How numbers and names are shown: one set of rules, so the Markdown, HTML and plots agree.

Missing values print as an em dash rather than 0 or NaN: a report must never show a number that
was not measured.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Sequence

from tritonkit.measure.measurement import LEVEL_UNITS, Measurement

MISSING = "—"

_UNSAFE = re.compile(r"[^A-Za-z0-9_.-]+")


def sig(value: float | None, digits: int = 3) -> str:
    """At most `digits` significant digits, without exponent notation (1,234 stays 1,234, not
    1.23e+03) or trailing zeros (a limit of 20 ms reads 20, not 20.0)."""
    if value is None or not math.isfinite(value):
        return MISSING
    if value == 0:
        return "0"
    decimals = max(0, digits - 1 - math.floor(math.log10(abs(value))))
    text = f"{value:,.{decimals}f}"
    return text.rstrip("0").rstrip(".") if "." in text else text


def percent(fraction: float | None) -> str:
    return MISSING if fraction is None else f"{sig(fraction * 100)} %"


def margin(fraction: float | None) -> str:
    """Signed, so a failing check reads as a negative headroom at a glance."""
    if fraction is None or not math.isfinite(fraction):
        return MISSING
    return f"{fraction * 100:+.1f} %"


def dollars(value: float | None) -> str:
    return MISSING if value is None else f"${sig(value)}"


def level(measurement: Measurement) -> str:
    """The offered load in the unit its mode means: a rate (open loop), a concurrency (closed) or a
    trace's speed."""
    unit = LEVEL_UNITS.get(measurement.mode, "in flight")
    return f"{sig(measurement.level)} {unit}"


def labels(measurements: Sequence[Measurement]) -> list[str]:
    """A readable, unique name per measurement: the target, plus its load when a target repeats."""
    counts = Counter(m.target for m in measurements)
    named = [m.target if counts[m.target] == 1 else f"{m.target} @ {level(m)}" for m in measurements]
    return unique(named)


def unique(names: Sequence[str]) -> list[str]:
    """Suffix repeats with -2, -3, … so that names can serve as keys and file names."""
    used: set[str] = set()
    result = []
    for name in names:
        candidate, n = name, 1
        while candidate in used:
            n += 1
            candidate = f"{name}-{n}"
        used.add(candidate)
        result.append(candidate)
    return result


def slugs(names: Sequence[str]) -> list[str]:
    """File-name-safe versions of `names`, still unique: target names come from the user's file."""
    return unique([_UNSAFE.sub("_", name).strip("._") or "target" for name in names])
