"""The `tritonkit` executable. Ctrl-C or SIGTERM while the command is still importing (torch alone
takes seconds) leaves at once with one line: nothing has been done yet, so there is nothing to
clean up. From then on the command unwinds as KeyboardInterrupt (tritonkit.cli.main)."""

from __future__ import annotations

import os
import signal
from types import FrameType

_INTERRUPTED_EXIT_CODE = 130  # tritonkit.errors is not imported yet: this module loads first


def _leave_at_once(signum: int, frame: FrameType | None) -> None:
    os.write(2, b"interrupted: stopped\n")
    os._exit(_INTERRUPTED_EXIT_CODE)


def main() -> int:
    signal.signal(signal.SIGINT, _leave_at_once)
    signal.signal(signal.SIGTERM, _leave_at_once)
    # Interrupted while they initialise, some libraries print a traceback of their own and go on
    # (pydantic building its validators) or turn the interrupt into an ImportError (numpy's C
    # extensions). Every command needs these: import them while an interrupt still leaves at once.
    import ml_dtypes  # noqa: F401
    import numpy  # noqa: F401

    import tritonkit.specs  # noqa: F401  (pydantic models, built at import)
    from tritonkit.cli import main as run_command

    code = run_command()
    # The command is done: a late interrupt cannot undo it, and must not turn its exit code into -2.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    return code
