"""A process stops once: after a stop signal has been acted on, later ones never cut the exit short.

Ctrl-C is often pressed twice, and a terminal sends SIGINT again within milliseconds. The first one asks the
trainer to checkpoint (``vlcat.train.run.stop_on_signals``) or stops a sweep (``vlcat.sweeps.stop``); a second
one may still stop at once while a step or an LLM request runs. But once the process is *exiting* (writing
the stop checkpoint, unwinding to the CLI, printing its one line, running ``atexit`` handlers such as the LLM
server's stop), a further signal that raised ``KeyboardInterrupt`` would land in an ``except`` block or an
``atexit`` callback and print a traceback, or cut the checkpoint write short. From :func:`shield` on, SIGINT
and SIGTERM are therefore ignored (with a note) for the rest of the process.

Only signals shield a process: a stop requested in code (a test's callback) leaves the handlers as they were.
A library caller whose run was stopped by a signal keeps ignoring SIGINT/SIGTERM afterwards, since it was
asked to stop; the CLI guard (``vlcat.cli.guard.run_guarded``) resets the state when it starts.
"""

from __future__ import annotations

import os
import signal
import threading

SIGNALS = (signal.SIGINT, signal.SIGTERM)

_exiting = False
_quiet = False


def exiting() -> bool:
    """Whether this process has started its exit after a stop signal (further signals are ignored)."""
    return _exiting


def ignore_further(signum: int, frame: object) -> None:  # noqa: ARG001
    """The handler of a process that is exiting: a note, no exception (os.write: it may interrupt a print);
    silent once the process has printed its last line, which must stay the last."""
    if not _quiet:
        os.write(2, b"\nalready stopping: the run is saving and exiting, please wait\n")


def shield() -> None:
    """Mark the process as exiting and ignore SIGINT and SIGTERM from now on (main thread only: handlers can
    only be set there, and a signal is only ever handled there)."""
    global _exiting
    _exiting = True
    if threading.current_thread() is threading.main_thread():
        for s in SIGNALS:
            signal.signal(s, ignore_further)


def last_line_said() -> None:
    """The process has printed its last line: further signals are ignored without a note, by the kernel.

    ``SIG_IGN`` rather than a Python handler: at the very end of its exit the interpreter resets signals
    that have Python handlers to their default action, and a SIGINT then would kill the process (exit
    status -2 instead of 130); an ignored signal stays ignored.
    """
    global _quiet
    _quiet = True
    if threading.current_thread() is threading.main_thread():
        for s in SIGNALS:
            signal.signal(s, signal.SIG_IGN)


def reset() -> None:
    """Forget an earlier stop (the CLI guard of a new command in the same process)."""
    global _exiting, _quiet
    _exiting = _quiet = False
_quiet = False
