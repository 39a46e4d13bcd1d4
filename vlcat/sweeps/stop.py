"""SIGINT and SIGTERM stop a sweep: the run in progress stops as a single run does, no new run starts.

Slurm, Kubernetes and systemd stop a job with SIGTERM, a user with Ctrl-C. Inside a run's training loop the
trainer's own handler (``vlcat.train.run.stop_on_signals``) turns the signal into a checkpoint and
``RunInterrupted``; everywhere else in a sweep (loading data, building the model, evaluating, between runs)
the handler installed here raises :class:`SignalStop` at once. Either way the sweep ends with
:class:`SweepInterrupted` (exit status 130) whose one line says how to resume: run the same command again,
which skips the finished runs and resumes the stopped one from its checkpoint.
"""

from __future__ import annotations

import shlex
import signal
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from vlcat import stopping
from vlcat.errors import VlcatError

SIGNALS = (signal.SIGINT, signal.SIGTERM)


class SignalStop(KeyboardInterrupt):
    """A stop signal arrived outside a training loop (a KeyboardInterrupt, so cleanup code treats it as one)."""

    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


class SweepInterrupted(VlcatError):
    """The sweep stopped on a signal; what finished stays finished and rerunning the command resumes it."""

    exit_code = 130


class Received:
    """The stop signal the sweep's handler saw (libraries such as Ray may re-raise a plain KeyboardInterrupt)."""

    signum: int | None = None

    @property
    def name(self) -> str:
        return signal.Signals(self.signum).name if self.signum else ""


@contextmanager
def signals_stop_the_sweep() -> Iterator[Received]:
    """Make SIGINT and SIGTERM raise :class:`SignalStop` while the sweep runs (main thread only: signal
    handlers can only be set there; a sweep started from another thread keeps the handlers it has).

    A second signal still raises while the sweep waits for its runs to stop (it ends a Ray sweep's wait for
    its tasks' checkpoints); once the sweep shields itself to write its last line it is ignored."""
    received = Received()
    if threading.current_thread() is not threading.main_thread():
        yield received
        return

    def handler(signum: int, frame: object) -> None:
        if stopping.exiting():  # the sweep is composing its last line: nothing may cut that short
            stopping.ignore_further(signum, frame)
            return
        received.signum = signum
        raise SignalStop(signum)

    old = {s: signal.getsignal(s) for s in SIGNALS}
    for s in SIGNALS:
        signal.signal(s, handler)
    try:
        yield received
    finally:
        # Stopped by a signal: stay shielded on the way out (see vlcat.stopping); the old handler would raise.
        if received.signum is not None or stopping.exiting():
            stopping.shield()
        else:
            for s, h in old.items():
                signal.signal(s, h)


@contextmanager
def keep_signal_handlers() -> Iterator[None]:
    """Whatever the block does to SIGINT and SIGTERM, the handlers in place before it are in place after it.

    ``ray.init`` sets a Python SIGTERM handler that exits the driver at once, and its C++ core installs
    handlers with ``sigaction`` that Python does not see; setting the saved handlers again (even when
    ``signal.getsignal`` says they are unchanged) puts the sweep's back in front of both.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    saved = {s: signal.getsignal(s) for s in SIGNALS}
    try:
        yield
    finally:
        for s, handler in saved.items():
            if handler is not None:
                signal.signal(s, handler)


def resume_command(argv: list[str] | None = None) -> str:
    """The command line that started this process, as a user would retype it (``python tools/x.py ...`` or
    ``vlcat-fewshot ...``); empty when the process is not a command line of vlcat's (e.g. a test runner)."""
    argv = list(sys.argv if argv is None else argv)
    if not argv or not argv[0]:
        return ""
    prog = Path(argv[0])
    if prog.suffix == ".py" and prog.parent.name == "tools":
        try:
            shown = str(prog.resolve().relative_to(Path.cwd()))
        except ValueError:
            shown = str(prog)
        return shlex.join(["python", shown, *argv[1:]])
    if prog.name.startswith("vlcat-"):
        return shlex.join([prog.name, *argv[1:]])
    return ""


def interrupted_message(signame: str, finished: int, total: int, current: str | None, checkpointed: bool) -> str:
    """The one line a stopped sweep prints: what happened to the run in progress and how to resume."""
    if current is None:
        where = "the runs in progress stopped at their last checkpoint"
    elif checkpointed:
        where = f"{current} saved a checkpoint"
    else:
        where = f"{current} stopped outside training and resumes from its last checkpoint, if any"
    cmd = resume_command()
    how = f"run the same command again: {cmd}" if cmd else "run the same sweep again"
    by = f" by {signame}" if signame else ""
    return (f"sweep interrupted{by}: {finished} of {total} runs finished, {where}, no new run started; "
            f"to resume (finished runs are skipped, the stopped one continues), {how}")
