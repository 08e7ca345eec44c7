"""Progress of long CLI commands, on a terminal and in logs.

On a terminal this is the shared rich bar (:func:`braintwin.cli.core.progress_bar`, on
stderr, elapsed time ticking). When stderr is not a terminal (a log file, CI, a pipe) the bar
is invisible, so plain lines are printed instead: one per new step or per 10 % of progress,
and a "still working" line whenever nothing was printed for ``heartbeat_s`` seconds — a
calibration whose sampler reports nothing for minutes still shows it is alive.
"""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TextIO

__all__ = ["Update", "step_progress"]

Update = Callable[[str, float], None]


@contextmanager
def step_progress(
    description: str,
    *,
    heartbeat_s: float = 30.0,
    quiet_s: float = 2.0,
    stream: TextIO | None = None,
) -> Iterator[Update]:
    """A ``(message, fraction)`` callback that shows progress on stderr.

    Args:
        description: the command, e.g. ``"calibrate"``; every plain line starts with it.
        heartbeat_s: plain mode: longest silence before a "still working" line (seconds).
        quiet_s: plain mode: print nothing during the first seconds, so a command that ends
            (or fails) quickly prints only its result or its one-line error.
        stream: where plain lines go (default ``sys.stderr``); a terminal gets the rich bar.
    """
    out = stream if stream is not None else sys.stderr
    if stream is None and out.isatty():
        from braintwin.cli.core import progress_bar

        with progress_bar(description) as update:
            yield update
        return
    with _PlainSteps(description, out, heartbeat_s, quiet_s) as update:
        yield update


class _PlainSteps:
    """Plain progress lines with a heartbeat thread (thread-safe)."""

    def __init__(self, description: str, out: TextIO, heartbeat_s: float, quiet_s: float) -> None:
        self.description, self.out, self.heartbeat_s = description, out, heartbeat_s
        self.quiet_s = quiet_s
        self.printed = False
        self.t0 = self.last_print = time.monotonic()
        self.message, self.fraction = "", 0.0
        self.printed_fraction = -1.0
        self.lock = threading.Lock()
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._beat, daemon=True)

    def __enter__(self) -> Update:
        if self.quiet_s <= 0:
            self._emit("started")
        self.thread.start()
        return self.update

    def __exit__(self, exc_type: object, exc: object, tb: object) -> None:
        self.stop.set()
        self.thread.join(timeout=1.0)
        if exc_type is None and self.printed:
            self._emit("done")

    def update(self, message: str, fraction: float) -> None:
        fraction = max(0.0, min(1.0, float(fraction)))
        with self.lock:
            new_step = message != self.message
            self.message, self.fraction = message, fraction
            if time.monotonic() - self.t0 < self.quiet_s:
                return  # quick commands (and quick errors) stay one line: nothing yet
            if new_step or fraction >= self.printed_fraction + 0.1 or not self.printed:
                self.printed_fraction = fraction
                self._emit_locked(f"{message} ({fraction:.0%})")

    def _beat(self) -> None:
        while not self.stop.wait(min(self.heartbeat_s, 5.0)):
            with self.lock:
                if time.monotonic() - self.last_print >= self.heartbeat_s:
                    step = f": {self.message} ({self.fraction:.0%})" if self.message else ""
                    self._emit_locked(f"still working{step}")

    def _emit(self, text: str) -> None:
        with self.lock:
            self._emit_locked(text)

    def _emit_locked(self, text: str) -> None:
        self.printed = True
        self.last_print = time.monotonic()
        elapsed = self.last_print - self.t0
        print(f"{self.description}: {text} [{elapsed:.0f} s]", file=self.out, flush=True)
