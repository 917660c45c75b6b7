"""Ctrl-C and SIGTERM where they could leave something half-done: both unwind as KeyboardInterrupt
(tritonkit.cli), except inside a block that must finish once started."""

from __future__ import annotations

import asyncio
import contextlib
import signal
import threading
from collections.abc import Callable, Coroutine, Iterator
from typing import Any, TypeVar

T = TypeVar("T")
_HELD = (signal.SIGINT, signal.SIGTERM)


@contextlib.contextmanager
def signals_deferred() -> Iterator[None]:
    """Hold SIGINT and SIGTERM until the block ends: a second Ctrl-C cannot cut a cleanup short, and
    it is still honoured once the block is done. Python-level handlers, not a signal mask: the
    kernel hands a signal to any thread that does not block it (gRPC's, say), and Python then runs
    the handler in the main thread all the same."""
    if threading.current_thread() is not threading.main_thread():
        yield  # only the main thread may change handlers, and only it receives KeyboardInterrupt
        return
    caught: list[int] = []
    previous = {held: signal.getsignal(held) for held in _HELD}
    for held in _HELD:
        signal.signal(held, lambda signum, frame: caught.append(signum))
    try:
        yield
    finally:
        for held, handler in previous.items():
            signal.signal(held, handler if handler is not None else signal.SIG_DFL)
        if caught:
            signal.raise_signal(caught[0])  # now, to the handler that was in force before


def _new_event_loop() -> asyncio.AbstractEventLoop:
    # An interrupt inside the loop's constructor leaves a half-built loop whose finalizer fails.
    with signals_deferred():
        return asyncio.new_event_loop()


def run_async(make: Callable[[], Coroutine[Any, Any, T]]) -> T:
    """asyncio.run of `make()`, with an event loop that an interrupt cannot leave half-built, made
    before the coroutine is (an interrupt in between would leave it never awaited)."""
    with asyncio.Runner(loop_factory=_new_event_loop) as runner:
        runner.get_loop()
        return runner.run(make())
