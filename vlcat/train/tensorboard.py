"""TensorBoard event files for a run (``train.tensorboard=true``): the curves researchers in this field
watch (Dassl writes them for CoOp and its descendants), written into ``<run>/tensorboard``.

Scalars, all against the global step so that they line up: ``train/loss``, ``train/acc``, ``train/lr`` and
the learner's named loss terms (every ``train.log_every`` steps); per epoch ``epoch/loss``, ``epoch/acc``,
``epoch/lr``, the terms' epoch means (ProGrad's ``epoch/projected``), and ``val/acc``/``val/loss`` on the
un-augmented few-shot validation images when the dataset has them (scored after any catalyst stage of
that epoch, read-only: training numbers do not change). Each LLM stage of the catalyst becomes a text
entry ``catalyst/stage_<k>`` (its one-line summary) and the scalar ``catalyst/restarted``, read from the
stage file the catalyst wrote, so this module needs nothing from the catalyst.

TensorBoard is an optional extra (``pip install -e '.[tensorboard]'``); asking for it without the package
is a one-line error before any work. A resumed run purges the events past its checkpoint, so the curves
never hold an abandoned stretch twice.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from vlcat.errors import ConfigError
from vlcat.rundir import STAGE_DIR
from vlcat.train.trainer import Trainer, TrainerCallback

EVENTS_DIR = "tensorboard"


def require_tensorboard() -> None:
    """One line naming the extra when TensorBoard is not installed."""
    try:
        import tensorboard  # noqa: F401
        from torch.utils.tensorboard import SummaryWriter  # noqa: F401
    except ImportError:
        raise ConfigError("train.tensorboard=true needs the tensorboard package; install it with "
                          "pip install -e '.[tensorboard]' (or set train.tensorboard=false)") from None


class TensorBoardLogger(TrainerCallback):
    """See the module docstring; registered after the catalyst so that it sees each epoch's final state."""

    def __init__(self, run_dir: Path, log_every: int) -> None:
        require_tensorboard()
        self.run_dir = Path(run_dir)
        self.log_every = max(1, log_every)
        self.writer: Any = None

    def on_train_start(self, trainer: Trainer) -> None:
        from torch.utils.tensorboard import SummaryWriter

        self.writer = SummaryWriter(str(self.run_dir / EVENTS_DIR), purge_step=trainer.global_step or None)
        self._stages_logged = len(list((self.run_dir / STAGE_DIR).glob("stage_*.json")))

    def on_step_end(self, trainer: Trainer, info: dict[str, Any]) -> None:
        step = info["global_step"]
        if step % self.log_every:
            return
        for key in ("loss", "acc", "lr", *trainer.last_terms):
            self.writer.add_scalar(f"train/{key}", float(info[key]), step)

    def on_epoch_end(self, trainer: Trainer, epoch: int, summary: dict[str, Any]) -> None:
        step = trainer.global_step
        for key in ("loss", "acc", "lr", *sorted(set(summary) & set(trainer.last_terms))):
            self.writer.add_scalar(f"epoch/{key}", float(summary[key]), step)
        if trainer.val_items:
            from vlcat.train.select import validation_score

            acc, loss = validation_score(trainer.learner, trainer.plain_features("val"))
            self.writer.add_scalar("val/acc", acc, step)
            self.writer.add_scalar("val/loss", loss, step)
        self._log_new_stages(step)
        self.writer.flush()

    def _log_new_stages(self, step: int) -> None:
        files = sorted((self.run_dir / STAGE_DIR).glob("stage_*.json"), key=lambda p: int(p.stem.split("_")[1]))
        for path in files[self._stages_logged:]:
            record = json.loads(path.read_text())
            # the catalyst's own one-line summary of the stage (vlcat/catalyst/console.py)
            self.writer.add_text(f"catalyst/{path.stem}", str(record.get("summary") or ""), step)
            self.writer.add_scalar("catalyst/restarted", float(bool((record.get("decision") or {}).get("restart"))),
                                   step)
        self._stages_logged = len(files)

    def on_train_end(self, trainer: Trainer) -> None:
        if self.writer is not None:
            self.writer.close()
