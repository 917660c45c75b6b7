"""The exceptions users see. The CLI prints one `error:` line (plus any detail) and exits with the
error's code, never a traceback:

- InputError (2): bad input or an unmet precondition, described so the user can fix it;
- CheckFailed (1): the input was fine, but what it asked for does not hold (an SLO, a gate);
- ServerError (1): a server or a model failed; names the model and quotes the server's log.

Ctrl-C is not an error class: the CLI turns KeyboardInterrupt into exit 130.
"""

from __future__ import annotations

from typing import ClassVar

INTERRUPTED_EXIT_CODE = 130  # 128 + SIGINT, as shells report it


class TritonkitError(Exception):
    """The root of tritonkit's errors; the CLI exits with `exit_code`."""

    exit_code: ClassVar[int] = 1


class InputError(TritonkitError):
    """Bad input or an unmet precondition: a flag, a file, a field or a value, and what is expected."""

    exit_code = 2


class CheckFailed(TritonkitError):
    """The input was valid but the check it asked for failed."""

    exit_code = 1


class ServerError(TritonkitError):
    """tritonserver or one of its models failed. `model` names it where one model is at fault;
    `log` is the tail of the server's log, printed after the message."""

    exit_code = 1

    def __init__(self, message: str, *, model: str | None = None, log: str = "") -> None:
        self.model = model
        self.log = log
        super().__init__(message)

    def __str__(self) -> str:
        message = super().__str__()
        return f"{message}\n--- server log (last lines) ---\n{self.log}" if self.log else message
