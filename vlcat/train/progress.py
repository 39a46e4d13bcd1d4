"""What a training run prints while it trains: a live bar on a terminal, plain lines everywhere else.

A cluster job's log is a file. tqdm writes every update there with ``\\r`` (a 200-epoch run became 130 KB
on three lines), so off a terminal, or with ``train.progress=false``, a run prints one summary line per
epoch instead, plus a line every ``train.progress_every_s`` seconds inside a long epoch. Sweeps that draw
their own bar over runs turn the epoch lines off (``train.epoch_lines=false``). Messages go through
``tqdm.write``, so an outer bar (a sweep's) is redrawn below them instead of being torn.
"""

from __future__ import annotations

import sys
import time
from typing import Any, TextIO

from tqdm import tqdm


def say(message: str, stream: TextIO | None = None) -> None:
    """One line on stderr that leaves any live progress bar intact."""
    tqdm.write(message, file=stream or sys.stderr)


def is_terminal(stream: TextIO) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):  # a closed or replaced stream
        return False


class TrainProgress:
    """A tqdm bar over steps (terminal and ``progress`` on) or epoch/heartbeat lines (everything else)."""

    def __init__(self, *, total: int, initial: int, max_epoch: int, bar: bool, epoch_lines: bool,
                 every_s: float, stream: TextIO | None = None) -> None:
        self.stream = stream or sys.stderr
        self.total = total
        self.max_epoch = max_epoch
        self.every_s = every_s
        self.epoch_lines = epoch_lines
        self._bar = (tqdm(total=total, initial=initial, desc="train", dynamic_ncols=True, file=self.stream)
                     if bar and is_terminal(self.stream) else None)
        self._last = time.monotonic()

    @property
    def has_bar(self) -> bool:
        return self._bar is not None

    def step(self, info: dict[str, Any], count: int = 1) -> None:
        if self._bar is not None:
            self._bar.update(count)
            self._bar.set_postfix(epoch=info["epoch"], loss=f"{info['loss']:.3f}", acc=f"{info['acc']:.1f}")
            return
        if self.epoch_lines and self.every_s > 0 and time.monotonic() - self._last >= self.every_s:
            self._last = time.monotonic()
            say(f"  epoch {info['epoch']}/{self.max_epoch} step {info['step']} (global {info['global_step']}/"
                f"{self.total}) loss {info['loss']:.4f} acc {info['acc']:.1f}", self.stream)

    def skip(self, count: int) -> None:
        """Steps done elsewhere (the catalyst's look-ahead) that the bar must count."""
        if self._bar is not None:
            self._bar.update(count)

    def epoch(self, summary: dict[str, Any]) -> None:
        if self._bar is None and self.epoch_lines:
            self._last = time.monotonic()
            say(f"epoch {summary['epoch']}/{self.max_epoch} lr {summary['lr']:.3g} loss {summary['loss']:.4f} "
                f"acc {summary['acc']:.1f} ({summary['time_s']:.1f} s)", self.stream)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
