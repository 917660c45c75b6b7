"""argparse types for tritonkit's flags: each value checked where it enters, so a bad flag is a
usage error naming it (exit 2) before any work starts, never a bind to a wrapped port or a hang."""

from __future__ import annotations

import math
from argparse import ArgumentTypeError
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar, get_args

from tritonkit.inputs import EXCERPT_CHARS, excerpt, path_problem

MAX_PORT = 65_535


def port(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise ArgumentTypeError(f"expected a port number 1-{MAX_PORT}, got {excerpt(text)}") from None
    if not 1 <= value <= MAX_PORT:
        raise ArgumentTypeError(f"expected a port number 1-{MAX_PORT}, got {value}")
    return value


def host_port(text: str) -> str:
    """`host:port` as tritonclient takes it (no scheme)."""
    host, _, number = text.rpartition(":")
    if "://" in text or not host or "/" in host or any(c.isspace() for c in host):
        raise ArgumentTypeError(f"expected HOST:PORT (e.g. 127.0.0.1:8001, no scheme), got {excerpt(text)}")
    port(number)
    return text


def path(text: str) -> Path:
    problem = path_problem(text)
    if problem:
        raise ArgumentTypeError(f"path {excerpt(text)} {problem}")
    return Path(text)


def output_dir(text: str) -> Path:
    """A directory to write into: absent (it is created) or a directory."""
    directory = path(text)
    if directory.exists() and not directory.is_dir():
        raise ArgumentTypeError(f"{directory} exists and is not a directory")
    return directory


def output_file(text: str) -> Path:
    file = path(text)
    if file.is_dir():
        raise ArgumentTypeError(f"{file} is a directory; expected a file to write")
    return file


def bounded_int(low: int, high: int) -> Callable[[str], int]:
    return _bounded(int, "a whole number", low, high)


def bounded_float(low: float, high: float) -> Callable[[str], float]:
    return _bounded(float, "a number", low, high)


Number = TypeVar("Number", int, float)


def _bounded(kind: Callable[[str], Number], what: str, low: Number, high: Number) -> Callable[[str], Number]:
    expected = f"expected {what} {low:g}-{high:g}"

    def parse(text: str) -> Number:
        try:
            value = kind(text)
        except ValueError:
            raise ArgumentTypeError(f"{expected}, got {excerpt(text)}") from None
        if not (math.isfinite(value) and low <= value <= high):
            raise ArgumentTypeError(f"{expected}, got {value:g}")
        return value

    return parse


def _positive(text: str, high: float) -> float:
    try:
        value = float(text)
    except ValueError:
        raise ArgumentTypeError(f"expected a number, got {excerpt(text)}") from None
    if not (math.isfinite(value) and 0 < value <= high):
        raise ArgumentTypeError(f"expected a number above 0 and at most {high:g}, got {excerpt(text)}")
    return value


def number_list(high: float) -> Callable[[str], list[float]]:
    """Comma-separated positive numbers, sorted."""

    def parse(text: str) -> list[float]:
        parts = [part.strip() for part in text.split(",") if part.strip()]
        if not parts:
            raise ArgumentTypeError(f"expected comma-separated numbers, got {excerpt(text)}")
        return sorted(_positive(part, high) for part in parts)

    return parse


def length_list(high: int, most: int | None = None) -> Callable[[str], list[int]]:
    """Comma-separated lengths (whole numbers 1..high, at most `most` of them), sorted; a length
    given twice is refused (a typo, more likely than a wish)."""
    length = bounded_int(1, high)

    def parse(text: str) -> list[int]:
        parts = [part.strip() for part in text.split(",") if part.strip()]
        if not parts:
            raise ArgumentTypeError(f"expected comma-separated lengths, got {excerpt(text)}")
        if most is not None and len(parts) > most:
            raise ArgumentTypeError(f"expected at most {most} lengths, got {len(parts)}")
        lengths = [length(part) for part in parts]
        repeated = sorted(n for n, times in Counter(lengths).items() if times > 1)
        if repeated:
            raise ArgumentTypeError(f"length(s) given twice: {', '.join(map(str, repeated))}; give each once")
        return sorted(lengths)

    return parse


def variant_list(text: str) -> tuple[str, ...]:
    from tritonkit.specs import VariantName

    known = get_args(VariantName)
    names = tuple(part.strip() for part in text.split(",") if part.strip())
    if not names:
        raise ArgumentTypeError(f"expected comma-separated variants, got {excerpt(text)}; some of {', '.join(known)}")
    unknown = [name[:EXCERPT_CHARS] for name in names if name not in known]
    if unknown:
        raise ArgumentTypeError(f"unknown variant(s) {unknown}; expected some of {', '.join(known)}")
    repeated = sorted({n for n in names if names.count(n) > 1})
    if repeated:
        raise ArgumentTypeError(f"variant(s) named twice: {', '.join(repeated)}")
    return names
