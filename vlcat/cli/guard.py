"""The one guard every command runs under: a ``VlcatError`` is one ``error: ...`` line and its exit status
(2 unless the error says otherwise), Ctrl-C is ``error: interrupted`` and 130, never a traceback.

Public (``run_guarded``) because every command family in :mod:`vlcat.cli` uses it; nothing outside the
command-line layer should need it (library code raises ``VlcatError`` and lets the command decide).
"""

from __future__ import annotations

import sys
from collections.abc import Callable

from vlcat import stopping
from vlcat.errors import VlcatError

_guard_depth = 0


def _interrupt(signum: int, frame: object) -> None:  # noqa: ARG001
    """SIGINT outside the trainer's and the sweep's own handlers: the command stops here, and the process is
    shielded first, so that a second Ctrl-C cannot land in the message below or in an ``atexit`` handler."""
    if stopping.exiting():
        stopping.ignore_further(signum, frame)
        return
    stopping.shield()
    raise KeyboardInterrupt


def run_guarded(fn: Callable[[], int | None]) -> int:
    """Run a command: one line and an exit status for every error, and for Ctrl-C however often it comes.

    While it runs, SIGINT goes to :func:`_interrupt` (the trainer and the sweep put their own handlers in
    front of it). A process stopped by a signal stays shielded (vlcat.stopping) through its last line, its
    exit and its ``atexit`` handlers (the LLM server's stop); otherwise the handler it found is put back.
    A stop requested in code (``RunInterrupted`` without a signal) shields nothing.
    """
    import signal
    import threading

    global _guard_depth
    main = threading.current_thread() is threading.main_thread()
    previous = signal.getsignal(signal.SIGINT) if main else None
    if main:
        if _guard_depth == 0:
            stopping.reset()
        signal.signal(signal.SIGINT, _interrupt)
    _guard_depth += 1
    try:
        try:
            return fn() or 0
        except VlcatError as exc:  # RunInterrupted/SweepInterrupted after a signal: already shielded
            print(f"error: {exc}", file=sys.stderr)
            if stopping.exiting():
                stopping.last_line_said()
            return exc.exit_code
        except KeyboardInterrupt:
            stopping.shield()
            print("error: interrupted", file=sys.stderr)
            stopping.last_line_said()
            return 130
        except BrokenPipeError:  # `vlcat-fewshot --dry-run | head`: the reader left, nothing is wrong
            import os

            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            return 0
    finally:
        _guard_depth -= 1
        if main and not stopping.exiting() and previous is not None:
            signal.signal(signal.SIGINT, previous)
