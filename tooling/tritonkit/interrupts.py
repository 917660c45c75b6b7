"""Ctrl-C and SIGTERM where they could leave something half-done: both unwind as KeyboardInterrupt
(tritonkit.cli), except inside a block that must finish once started."""

from __future__ import annotations

import asyncio
import contextlib
import signal
from collections.abc import Coroutine, Iterator
from typing import Any, TypeVar

T = TypeVar("T")
_HELD = {signal.SIGINT, signal.SIGTERM}


@contextlib.contextmanager
def signals_deferred() -> Iterator[None]:
    """Hold SIGINT and SIGTERM until the block ends: a second Ctrl-C cannot cut a cleanup short, and
    it is still honoured once the block is done."""
    previous = signal.pthread_sigmask(signal.SIG_BLOCK, _HELD)
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, previous)


def _new_event_loop() -> asyncio.AbstractEventLoop:
    # An interrupt inside the loop's constructor leaves a half-built loop whose finalizer fails.
    with signals_deferred():
        return asyncio.new_event_loop()


def run_async(coroutine: Coroutine[Any, Any, T]) -> T:
    """asyncio.run, with an event loop that an interrupt cannot leave half-built."""
    with asyncio.Runner(loop_factory=_new_event_loop) as runner:
        return runner.run(coroutine)
