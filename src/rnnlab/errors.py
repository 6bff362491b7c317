"""User-facing errors.

A `UserError` is a mistake the user can fix (a missing file, a bad value, a corrupt checkpoint).
The command line prints its message as one line, `error: ...`, and exits with status 2 — never a
traceback. Messages are whole sentences that say what was wrong and what to do.
"""


class UserError(Exception):
    """A problem with the user's input, reported as one line without a traceback."""


def check(condition: bool, message: str) -> None:
    """Raise `UserError(message)` unless `condition` holds."""
    if not condition:
        raise UserError(message)
