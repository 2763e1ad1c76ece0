"""Plain-text helpers of the command line: the error type and a progress bar on stderr."""

from __future__ import annotations

import sys
import time
from typing import Optional, TextIO

__all__ = ["CliError", "Progress"]


class CliError(Exception):
    """A bad argument or input file; the command line prints the message as one line."""


class Progress:
    """A dependency-free progress bar on ``stream`` (stderr), one call per step.

    On a terminal the bar redraws in place (``\\r``); elsewhere (a log file, CI) each step is
    one line, so the log stays readable. ``Progress(0)`` says nothing.

    >>> bar = Progress(total=3)        # doctest: +SKIP
    >>> bar("load the scan")           # [#######.................] 1/3   0.0 s  load the scan
    """

    WIDTH = 24

    def __init__(self, total: int, stream: Optional[TextIO] = None) -> None:
        self.total, self.done = total, 0
        self.stream = sys.stderr if stream is None else stream
        self.started = time.perf_counter()
        self.redraw = bool(getattr(self.stream, "isatty", lambda: False)())

    def __call__(self, step: str) -> None:
        if self.total <= 0:
            return
        self.done = min(self.done + 1, self.total)
        filled = round(self.WIDTH * self.done / self.total)
        bar = "#" * filled + "." * (self.WIDTH - filled)
        line = f"[{bar}] {self.done}/{self.total} {time.perf_counter() - self.started:6.1f} s  {step}"
        if self.redraw:
            self.stream.write("\r\033[K" + line)
        else:
            self.stream.write(line + "\n")
        self.stream.flush()

    def close(self) -> None:
        """End the bar's line on a terminal (call once the work is done)."""
        if self.redraw and self.total > 0 and self.done > 0:
            self.stream.write("\n")
            self.stream.flush()
        self.total = 0

    def abort(self) -> None:
        """Erase the bar on a terminal (an error message follows: it is then the one line left)."""
        if self.redraw and self.total > 0 and self.done > 0:
            self.stream.write("\r\033[K")
            self.stream.flush()
        self.total = 0
