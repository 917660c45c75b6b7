"""Ctrl-C and SIGTERM where they could leave something half-done: both unwind as KeyboardInterrupt
(tritonkit.cli), except inside a block that must finish once started."""

from __future__ import annotations

import asyncio
import builtins
import contextlib
import signal
import sys
import threading
from collections.abc import Callable, Coroutine, Iterator, Mapping
from types import FrameType
from typing import Any, TypeVar

T = TypeVar("T")
Handler = Callable[[int, FrameType | None], Any] | int | None  # what signal.getsignal returns
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
        _restore(previous)
        if caught:
            signal.raise_signal(caught[0])  # now, to the handler that was in force before


@contextlib.contextmanager
def threads_born_deaf() -> Iterator[None]:
    """Threads started in the block (gRPC's timer and event-engine threads start with its first
    channel) block SIGINT and SIGTERM, so the kernel hands both to the main thread. A signal another
    thread takes waits until the main thread next runs Python code: one asleep in a long call
    (`time.sleep`, a blocking read) would not hear Ctrl-C at all. A signal that arrives in the block
    is held, and delivered as it ends."""
    previous = signal.pthread_sigmask(signal.SIG_BLOCK, _HELD)
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, previous)


@contextlib.contextmanager
def interrupts_unwind() -> Iterator[None]:
    """Within the block Ctrl-C and SIGTERM both raise KeyboardInterrupt, so every `finally` and
    context manager cleans up; the handlers in force before are restored after it."""
    previous = {held: signal.getsignal(held) for held in _HELD}
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, _as_ctrl_c)
    try:
        yield
    finally:
        _restore(previous)


@contextlib.contextmanager
def imports_uninterrupted() -> Iterator[None]:
    """While a module initialises, an interrupt waits for it to finish: C extensions interrupted
    mid-initialisation crash (gRPC: signal 11) or print a traceback of their own (numpy, pydantic)."""
    original = builtins.__import__

    def guarded(name: str, *args: Any, **kwargs: Any) -> Any:
        if name in sys.modules or threading.current_thread() is not threading.main_thread():
            return original(name, *args, **kwargs)
        with signals_deferred():
            return original(name, *args, **kwargs)

    builtins.__import__ = guarded
    try:
        yield
    finally:
        builtins.__import__ = original


def _as_ctrl_c(signum: int, frame: FrameType | None) -> None:
    """SIGTERM becomes SIGINT, so whoever handles Ctrl-C at the moment handles it: asyncio's runner
    cancels its task cleanly (a KeyboardInterrupt raised inside the event loop would not)."""
    signal.raise_signal(signal.SIGINT)


def _restore(handlers: Mapping[signal.Signals, Handler]) -> None:
    for held, handler in handlers.items():
        signal.signal(held, handler if handler is not None else signal.SIG_DFL)


def caused_by_interrupt(exc: BaseException) -> bool:
    """A KeyboardInterrupt, or an error some library made of one (numpy interrupted while
    importing raises ImportError): still an interrupt."""
    seen: set[int] = set()
    cause: BaseException | None = exc
    while cause is not None and id(cause) not in seen:
        if isinstance(cause, KeyboardInterrupt):
            return True
        seen.add(id(cause))
        cause = cause.__cause__ or cause.__context__
    return False


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
