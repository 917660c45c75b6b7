"""The one exception type users see: the CLI prints its message and exits non-zero, no traceback."""


class UserError(Exception):
    """Bad input or an unmet precondition, described so the user can fix it."""
