"""Messages to the person at the terminal: one place for printing beside a progress bar."""

from __future__ import annotations

import sys

from tqdm import tqdm


def say(message: str) -> None:
    """Print a line to stderr without breaking an active progress bar."""
    tqdm.write(message, file=sys.stderr)


def warn(message: str) -> None:
    """`warning: …` on stderr."""
    say(f"warning: {message}")
