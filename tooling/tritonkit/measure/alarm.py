"""Wake-ups to the microsecond for the open loop's sends, without spinning. asyncio's timers wait
in epoll, whose timeout is rounded up to whole milliseconds: a send due 0.75 ms ahead left at least
0.25 ms late, and spinning the event loop up to each send takes the CPU the measured server needs.
A Linux timerfd armed at the due time (the monotonic clock, to the ns) is a file the event loop
watches like a socket: it wakes the loop when the send is due. Where there is no timerfd (not
Linux), asyncio's own timer is used, to the millisecond."""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import os
import time

_CLOCK_MONOTONIC = 1  # time.monotonic_ns()'s clock on Linux
_TFD_TIMER_ABSTIME = 1


class _Timespec(ctypes.Structure):
    _fields_ = [("tv_sec", ctypes.c_long), ("tv_nsec", ctypes.c_long)]


class _Itimerspec(ctypes.Structure):
    _fields_ = [("it_interval", _Timespec), ("it_value", _Timespec)]


_libc = ctypes.CDLL(None, use_errno=True)


class Alarm:
    """Inside a running event loop, as a context manager; `until` one deadline at a time."""

    def __init__(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._rung: asyncio.Future[None] | None = None
        self._fd: int | None = None

    def __enter__(self) -> Alarm:
        create = getattr(_libc, "timerfd_create", None)
        fd = create(_CLOCK_MONOTONIC, os.O_NONBLOCK | os.O_CLOEXEC) if create else -1
        self._fd = fd if fd >= 0 else None  # refused (a seccomp sandbox, say): the millisecond timer works
        if self._fd is not None:
            self._loop.add_reader(self._fd, self._ring)
        return self

    def __exit__(self, *_: object) -> None:
        if self._fd is not None:
            self._loop.remove_reader(self._fd)
            os.close(self._fd)

    async def until(self, deadline_ns: int) -> None:
        delay = deadline_ns - time.monotonic_ns()
        if delay <= 0:
            return
        if self._fd is None:
            await asyncio.sleep(delay / 1e9)
            return
        seconds, nanoseconds = divmod(deadline_ns, 1_000_000_000)
        armed = _Itimerspec(_Timespec(0, 0), _Timespec(seconds, nanoseconds))
        if _libc.timerfd_settime(self._fd, _TFD_TIMER_ABSTIME, ctypes.byref(armed), None) != 0:
            raise OSError(ctypes.get_errno(), "timerfd_settime")
        self._rung = self._loop.create_future()
        await self._rung

    def _ring(self) -> None:
        assert self._fd is not None, "only watched while open"
        with contextlib.suppress(BlockingIOError):  # nothing to read: a wake-up already taken
            os.read(self._fd, 8)
            if self._rung is not None and not self._rung.done():
                self._rung.set_result(None)
