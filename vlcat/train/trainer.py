"""The gradient loop: CoOp's protocol, checkpoints at epoch ends and on interruption, exact resume.

Everything random in an epoch (batch order, augmentation crops) is a pure function of (seed, epoch), so
a run resumed from a checkpoint at any step ends with the same numbers as an uninterrupted one.
Callbacks (the LLM catalyst) hook into step and epoch ends and may replace the context vectors; they see
the trainer through :class:`vlcat.train.port.TrainingPort`, which it implements. The learner itself hears
of every epoch end (``learner.end_epoch``, before the callbacks and the checkpoint: PromptSRC aggregates its
prompts there).
"""

from __future__ import annotations

import contextlib
import copy
import json
import math
import os
import signal
import time
import warnings
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader, Subset

from vlcat.clip import ClipBundle
from vlcat.config import RunConfig
from vlcat.data import Datum
from vlcat.errors import RunError, VlcatError
from vlcat.learners.base import PromptLearner
from vlcat.precision import image_autocast, image_input
from vlcat.rundir import CHECKPOINT, append_metrics, truncate_metrics
from vlcat.train.checkpoint import load_checkpoint, rng_state, save_checkpoint, set_rng_state
from vlcat.train.features import (
    FeatureCache,
    SeededImages,
    batches,
    items_fingerprint,
    steps_per_epoch,
)
from vlcat.train.port import EpochSlice, Evaluation, StepOutcome
from vlcat.train.progress import TrainProgress, say
from vlcat.train.schedule import STEP_SCHEDULERS, lr_at_epoch, lr_at_step


class RunInterrupted(VlcatError):
    """Training stopped on a signal after saving a checkpoint; ``--resume`` continues it."""

    exit_code = 130


class TrainingDiverged(VlcatError):
    """The loss became NaN or infinite; the run stops and keeps its last good checkpoint."""


class TrainerCallback:
    """Hooks for code that acts between gradient steps (the LLM catalyst)."""

    def on_train_start(self, trainer: Trainer) -> None: ...

    def on_step_end(self, trainer: Trainer, info: dict[str, Any]) -> None: ...

    def on_epoch_end(self, trainer: Trainer, epoch: int, summary: dict[str, Any]) -> None: ...

    def on_train_end(self, trainer: Trainer) -> None: ...

    def state_dict(self) -> dict[str, Any]:
        return {}

    def load_state_dict(self, state: dict[str, Any]) -> None: ...


class Trainer:
    """Trains a prompt learner on few-shot images with SGD and Dassl's schedule (vlcat/train/schedule.py).

    The learner decides what a step sees (``learner.inputs``: image features, cached per augmentation
    view, or preprocessed pixels) and what it minimises (``learner.training_loss`` / ``learner.backward``).
    """

    def __init__(
        self,
        cfg: RunConfig,
        clip: ClipBundle,
        learner: PromptLearner,
        train_items: Sequence[Datum],
        run_dir: Path,
        cache: FeatureCache,
        callbacks: Sequence[TrainerCallback] = (),
        val_items: Sequence[Datum] = (),
    ) -> None:
        self.cfg = cfg
        self.clip = clip
        self.learner = learner
        self.train_items = list(train_items)
        self.val_items = list(val_items)
        self.run_dir = run_dir
        self.cache = cache
        self.callbacks = list(callbacks)
        self.device = clip.device
        self.labels = torch.tensor([it.label for it in self.train_items], dtype=torch.long)
        self.params = [p for p in learner.parameters() if p.requires_grad]
        o = cfg.optim
        self.optimizer = make_optimizer(self.params, o)
        self.items_hash = items_fingerprint(self.train_items)
        self.steps_per_epoch = steps_per_epoch(len(self.train_items), o.batch_size)
        self.global_step = 0
        self.epoch = 0
        self.stop_requested = False
        self.saving = False
        """True while a checkpoint is written: a second stop signal then waits instead of cutting it short."""
        self.exiting = False
        """True once the trainer writes its stop checkpoint: from then on it only leaves."""
        self.interruptible = False
        """True only where a stop may wait long (encoding an epoch's inputs, the epoch-end callbacks such as an
        LLM stage): a second stop signal stops at once there. Everywhere else the checkpoint is at most a step
        away, and a second signal waits for it rather than throwing finished steps away."""
        self.last_terms: dict[str, float] = {}
        """The named terms of the last step's loss (KgCoOp's ``kg``, ProGrad's ``ce``/``kd``), logged with it."""
        self.history: list[dict[str, Any]] = []
        self.timings = {"features_s": 0.0, "steps_s": 0.0, "callbacks_s": 0.0}
        self._plain: dict[str, torch.Tensor] = {}
        self._partial: dict[str, list[float]] = {}
        self._ahead: dict[str, Any] | None = None
        self.pixels = learner.inputs == "pixels"
        self._live_data = None if cfg.train.feature_cache and not self.pixels else SeededImages(
            self.train_items, clip.train_transform, cfg.train.seed)
        self._fault = _fault_from_env()

    # ----- data ----------------------------------------------------------------------------------
    @property
    def checkpoint_path(self) -> Path:
        return self.run_dir / CHECKPOINT

    def view_of(self, epoch: int) -> int:
        views = self.cfg.train.aug_views
        return epoch if views == 0 else epoch % views

    def epoch_features(self, epoch: int) -> torch.Tensor:
        """Augmented training features of this epoch's view (cached, or computed now)."""
        t = time.perf_counter()
        feats = self.cache.features(
            self.clip, self.train_items, self.clip.train_transform, seed=self.cfg.train.seed,
            view=self.view_of(epoch), batch_size=self.cfg.train.eval_batch_size,
            num_workers=self.cfg.data.num_workers, items_hash=self.items_hash,
        )
        self.timings["features_s"] += time.perf_counter() - t
        return feats

    def plain_features(self, split: str = "train") -> tuple[torch.Tensor, torch.Tensor]:
        """Un-augmented inputs and labels of the few-shot train (or val) images, for scoring prompts: the frozen
        tower's features, or the preprocessed images for a learner that takes pixels (validation selection and
        the TensorBoard logger score any learner through its ``predict``)."""
        items = self.train_items if split == "train" else self.val_items
        if split not in self._plain and self.pixels:
            loader = DataLoader(SeededImages(items, self.clip.test_transform), batch_size=len(items) or 1,
                                num_workers=self.cfg.data.num_workers)
            self._plain[split] = torch.cat([images for images, _ in loader]) if items else torch.empty(0)
        if split not in self._plain:
            self._plain[split] = self.cache.features(
                self.clip, items, self.clip.test_transform, batch_size=self.cfg.train.eval_batch_size,
                num_workers=self.cfg.data.num_workers,
            )
        labels = torch.tensor([it.label for it in items], dtype=torch.long)
        return self._plain[split], labels

    def epoch_batches(self, epoch: int) -> list[torch.Tensor]:
        """Index batches of 0-based ``epoch``: a pure function of (seed, epoch), as the loop draws them."""
        return list(batches(len(self.train_items), self.cfg.optim.batch_size, self.cfg.train.seed, epoch))

    def epoch_inputs(self, epoch: int) -> torch.Tensor | None:
        """This epoch's cached augmented features, or None when batches are computed live (or are pixels)."""
        return self.epoch_features(epoch) if self.cfg.train.feature_cache and not self.pixels else None

    def batch_inputs(self, epoch: int, idx: torch.Tensor, feats: torch.Tensor | None) -> torch.Tensor:
        """Inputs of batch ``idx`` in ``epoch``; ``feats`` is :meth:`epoch_inputs` of that epoch."""
        return feats[idx] if feats is not None else self._live_batch(epoch, idx)

    def steps_done_ahead(self, epoch: int, steps: int, losses: list[float], accs: list[float],
                         terms: Sequence[dict[str, float]] | None = None) -> None:
        """A callback at the end of epoch ``epoch - 1`` already ran the first ``steps`` steps of 0-based
        ``epoch`` (the catalyst's look-ahead race keeps the winner's steps): the loop continues after them,
        and the checkpoint written now says so, exactly as after an interruption at that step."""
        if epoch >= self.cfg.optim.max_epoch or not 0 < steps <= self.steps_per_epoch:
            raise ValueError(f"cannot skip {steps} steps of epoch {epoch}")
        self.global_step += steps
        self._ahead = {"epoch": epoch, "steps": steps, "losses": list(losses), "accs": list(accs),
                       "terms": list(terms or [])}

    def _live_batch(self, epoch: int, idx: torch.Tensor) -> torch.Tensor:
        data = self._live_data
        data.view = self.view_of(epoch)
        loader = DataLoader(Subset(data, idx.tolist()), batch_size=len(idx), shuffle=False,
                            num_workers=self.cfg.data.num_workers)
        images, _ = next(iter(loader))
        if self.pixels:  # the learner runs the image side itself
            return images
        with torch.no_grad(), image_autocast(self.clip):  # the frozen image tower: see vlcat.precision
            return self.clip.model.encode_image(image_input(self.clip, images)).float()

    # ----- optimisation --------------------------------------------------------------------------
    def set_lr(self, epoch: int) -> float:
        o = self.cfg.optim
        if o.scheduler in STEP_SCHEDULERS:  # the LR of the epoch's first step; each step sets its own
            return self.set_step_lr(epoch, 0)
        lr = lr_at_epoch(epoch, lr=o.lr, max_epoch=o.max_epoch, warmup_epoch=o.warmup_epoch,
                         warmup_lr=o.warmup_lr, scheduler=o.scheduler, warmup_type=o.warmup_type,
                         warmup_recount=o.warmup_recount)
        for group in self.optimizer.param_groups:
            group["lr"] = lr
        return lr

    def set_step_lr(self, epoch: int, step: int) -> float:
        """Under a per-step scheduler (``cosine_step``), the LR of step ``step`` of 0-based ``epoch``: a pure
        function of the global step (every epoch has ``steps_per_epoch`` steps), so resume stays exact."""
        o = self.cfg.optim
        lr = lr_at_step(epoch * self.steps_per_epoch + step, lr=o.lr, total_steps=o.max_epoch * self.steps_per_epoch)
        for group in self.optimizer.param_groups:
            group["lr"] = lr
        return lr

    def reset_momentum(self) -> None:
        """Forget SGD momentum, e.g. after the catalyst moved the context to a new point."""
        self.optimizer.state.clear()

    # ----- the port's look-ahead operations (vlcat/train/port.py) -------------------------------
    @property
    def max_epoch(self) -> int:
        return self.cfg.optim.max_epoch

    def trainable_state(self) -> dict[str, torch.Tensor]:
        return self.learner.trainable_state()

    def load_trainable_state(self, state: dict[str, torch.Tensor]) -> None:
        self.learner.load_trainable_state(state)

    def optimizer_state(self) -> dict[str, Any]:
        """A copy of the optimizer's state (momentum, and the LR it holds), safe to keep while training goes on."""
        return copy.deepcopy(self.optimizer.state_dict())

    def load_optimizer_state(self, state: dict[str, Any], lr: float | None = None) -> None:
        """Restore :meth:`optimizer_state`; ``lr`` overrides the LR the state was saved with."""
        self.optimizer.load_state_dict(state)
        if lr is not None:
            for group in self.optimizer.param_groups:
                group["lr"] = lr

    def epoch_slice(self, epoch: int, steps: int) -> EpochSlice:
        """The first ``steps`` steps of 0-based ``epoch`` as the loop runs them; sets that epoch's LR."""
        lr = self.set_lr(epoch)
        batch_list = self.epoch_batches(epoch)[:steps]
        return EpochSlice(epoch, lr, batch_list, self.epoch_inputs(epoch))

    def run_steps(self, part: EpochSlice, start: int, stop: int) -> list[StepOutcome]:
        """Steps ``start``..``stop - 1`` of ``part`` from the current state, as the loop would make them
        (the step counter does not move: :meth:`steps_done_ahead` commits kept steps)."""
        out = []
        for step in range(start, stop):
            idx = part.batches[step]
            if self.cfg.optim.scheduler in STEP_SCHEDULERS:
                self.set_step_lr(part.epoch, step)
            loss, acc = self.train_step(self.batch_inputs(part.epoch, idx, part.inputs), self.labels[idx])
            out.append(StepOutcome(loss, acc, dict(self.last_terms)))
        return out

    @torch.no_grad()
    def evaluate(self, inputs: torch.Tensor, labels: torch.Tensor) -> Evaluation:
        """Accuracy and loss of the current trainable state on ``inputs`` (e.g. the validation features)."""
        logits = self.learner.predict(inputs).float()
        labels = labels.to(logits.device)
        correct = (logits.argmax(-1) == labels).cpu()
        return Evaluation(correct, float(correct.float().mean().item() * 100.0),
                          float(F.cross_entropy(logits, labels).item()))

    def train_step(self, inputs: torch.Tensor, labels: torch.Tensor) -> tuple[float, float]:
        """One SGD step on the learner's own loss; ``inputs`` are features or pixels, as it declared.

        No autocast here: the loss runs through the learned context, which stays in the dtype of the
        learner's parameters (float32, or half under fp16); see :mod:`vlcat.precision`.
        """
        out = self.learner.training_loss(inputs.to(self.device), labels.to(self.device))
        self.optimizer.zero_grad(set_to_none=True)
        self.learner.backward(out)
        self.optimizer.step()
        self.last_terms = {k: float(v.detach().item()) for k, v in out.terms.items()}
        acc = (out.logits.detach().argmax(-1).cpu() == labels).float().mean().item() * 100.0
        return float(out.loss.item()), acc

    # ----- checkpoints ---------------------------------------------------------------------------
    def save(self, epoch: int, step: int, partial: dict[str, list[Any]] | None = None) -> None:
        """Checkpoint meaning "continue at (epoch, step)"; ``partial`` holds the epoch's losses so far."""
        self.saving = True
        try:
            self._save(epoch, step, partial)
        finally:
            self.saving = False

    def _save(self, epoch: int, step: int, partial: dict[str, list[Any]] | None) -> None:
        save_checkpoint(self.checkpoint_path, {
            "format": 1,
            "epoch": epoch,
            "step": step,
            "global_step": self.global_step,
            "learner": self.learner.trainable_state(),
            "optimizer": self.optimizer.state_dict(),
            "scheduler": {"epoch": epoch, "lr": self.optimizer.param_groups[0]["lr"]},
            "rng": rng_state(),
            "callbacks": [cb.state_dict() for cb in self.callbacks],
            "history": json.dumps(self.history),
            "partial_epoch": json.dumps(partial or {"losses": [], "accs": [], "terms": []}),
            "precision": self.clip.precision,
        })

    def restore(self) -> tuple[int, int]:
        ckpt = load_checkpoint(self.checkpoint_path)
        try:
            self.learner.load_trainable_state(ckpt["learner"])
            self.optimizer.load_state_dict(ckpt["optimizer"])
            set_rng_state(ckpt["rng"])
            for cb, state in zip(self.callbacks, ckpt["callbacks"], strict=False):
                cb.load_state_dict(state)
            self.global_step = int(ckpt["global_step"])
            self.history = json.loads(ckpt["history"])
            self._partial = json.loads(ckpt.get("partial_epoch", "{}")) or {}
            epoch, step = int(ckpt["epoch"]), int(ckpt["step"])
            self._check_precision(ckpt.get("precision"))
        except (KeyError, TypeError, ValueError, RuntimeError) as exc:
            first = (str(exc).splitlines() or [type(exc).__name__])[0][:200]
            raise RunError(f"{self.checkpoint_path} does not fit this run ({first}); delete it to start the "
                           "run over (or use --overwrite)") from None
        truncate_metrics(self.run_dir, self.global_step)
        return epoch, step

    def _check_precision(self, saved: str | None) -> None:
        """A resume at another resolved precision (``auto`` on another kind of device) continues, with a
        warning: the config cannot change on resume, so refusing would strand the run. Checkpoints written
        before precision was recorded say nothing and are not checked."""
        if saved is not None and saved != self.clip.precision:
            warnings.warn(f"{self.checkpoint_path} was trained at precision {saved}; the run continues at "
                          f"{self.clip.precision} (model.precision={self.cfg.model.precision} on "
                          f"{self.device.type}), so its numbers mix both", stacklevel=3)

    def log(self, record: dict[str, Any]) -> None:
        append_metrics(self.run_dir, record)

    @contextlib.contextmanager
    def _interruptible(self) -> Iterator[None]:
        self.interruptible = True
        try:
            yield
        finally:
            self.interruptible = False

    # ----- the loop ------------------------------------------------------------------------------
    def fit(self, resume: bool = False) -> list[dict[str, Any]]:
        start_epoch, start_step = (0, 0)
        if resume and self.checkpoint_path.exists():
            start_epoch, start_step = self.restore()
            where = (f"epoch {start_epoch + 1} step {start_step + 1}" if start_epoch < self.cfg.optim.max_epoch
                     else "the end of training")
            say(f"resuming {self.run_dir} at {where} (global step {self.global_step} of "
                f"{self.cfg.optim.max_epoch * self.steps_per_epoch}) from {self.checkpoint_path.name}")
        else:
            truncate_metrics(self.run_dir, 0)  # lines of an attempt that never checkpointed are stale
            self._start_learner()
        cfg = self.cfg
        max_epoch = cfg.optim.max_epoch
        total = max_epoch * self.steps_per_epoch
        for cb in self.callbacks:
            cb.on_train_start(self)
        bar = TrainProgress(total=total, initial=self.global_step, max_epoch=max_epoch, bar=cfg.train.progress,
                            epoch_lines=cfg.train.epoch_lines, every_s=cfg.train.progress_every_s)
        try:
            for epoch in range(start_epoch, max_epoch):
                self.epoch = epoch
                lr = self.set_lr(epoch)
                with self._interruptible():
                    feats = self.epoch_inputs(epoch)
                losses, accs, terms = [], [], []
                if epoch == start_epoch and start_step:
                    losses, accs = list(self._partial.get("losses", [])), list(self._partial.get("accs", []))
                    terms = list(self._partial.get("terms", []))
                t0 = time.perf_counter()
                for step, idx in enumerate(self.epoch_batches(epoch)):
                    if epoch == start_epoch and step < start_step:
                        continue
                    x = self.batch_inputs(epoch, idx, feats)
                    if cfg.optim.scheduler in STEP_SCHEDULERS:
                        lr = self.set_step_lr(epoch, step)
                    loss, acc = self.train_step(x, self.labels[idx])
                    if not math.isfinite(loss):
                        kept = ("kept its last good checkpoint" if self.checkpoint_path.exists()
                                else "wrote no checkpoint")
                        raise TrainingDiverged(
                            f"the loss became {loss} at epoch {epoch + 1} step {step + 1}; the run stopped and "
                            f"{kept}; lower optim.lr (now {cfg.optim.lr:g}) and start over with --overwrite")
                    self.global_step += 1
                    losses.append(loss)
                    accs.append(acc)
                    terms.append(dict(self.last_terms))
                    info = {"type": "step", "epoch": epoch + 1, "step": step + 1, "global_step": self.global_step,
                            "lr": lr, "loss": loss, "acc": acc, **self.last_terms}
                    bar.step(info)
                    if self.global_step % max(1, cfg.train.log_every) == 0:
                        self.log(info)
                    for cb in self.callbacks:
                        cb.on_step_end(self, info)
                    if self._fault is not None and self._fault[0] == self.global_step:
                        os.kill(os.getpid(), self._fault[1])
                    if self.stop_requested:
                        self.exiting = True
                        self.save(epoch, step + 1, {"losses": losses, "accs": accs, "terms": terms})
                        raise RunInterrupted(
                            f"interrupted at epoch {epoch + 1} step {step + 1}; checkpoint saved in "
                            f"{self.run_dir}; rerun with --resume to continue")
                self.learner.end_epoch(epoch + 1, max_epoch)  # before the checkpoint, which then holds its work
                self.timings["steps_s"] += time.perf_counter() - t0
                summary = {**_term_means(terms), "type": "epoch", "epoch": epoch + 1, "global_step": self.global_step,
                           "lr": lr, "loss": _mean(losses), "acc": _mean(accs), "time_s": time.perf_counter() - t0}
                self.history.append(summary)
                self.log(summary)
                bar.epoch(summary)
                t1 = time.perf_counter()
                with self._interruptible():
                    for cb in self.callbacks:
                        cb.on_epoch_end(self, epoch + 1, summary)
                self.timings["callbacks_s"] += time.perf_counter() - t1
                ahead, self._ahead = self._ahead, None
                if ahead is not None:  # the next epoch's first steps are done: continue as after a resume
                    start_epoch, start_step = ahead["epoch"], ahead["steps"]
                    self._partial = {"losses": ahead["losses"], "accs": ahead["accs"], "terms": ahead["terms"]}
                    bar.skip(start_step)
                    self.save(start_epoch, start_step, self._partial)
                else:
                    self.save(epoch + 1, 0)
                if self.stop_requested:
                    self.exiting = True
                    raise RunInterrupted(
                        f"interrupted after epoch {epoch + 1}; checkpoint saved in {self.run_dir}; "
                        "rerun with --resume to continue")
        finally:
            bar.close()
        for cb in self.callbacks:
            cb.on_train_end(self)
        self._finish_learner()
        return self.history

    # ----- the learner's own work before the first step and after the last ---------------------
    def _start_learner(self) -> None:
        """A learner built from augmented views of the training images (Tip-Adapter-F's cache) gets them
        before the first step of a fresh run; a resumed run has that state in its checkpoint."""
        views = self.learner.training_views()
        if views:
            with self._interruptible():
                feats = torch.stack([self.cache.features(
                    self.clip, self.train_items, self.clip.train_transform, seed=self.cfg.train.seed, view=v,
                    batch_size=self.cfg.train.eval_batch_size, num_workers=self.cfg.data.num_workers,
                    items_hash=self.items_hash) for v in range(views)])
            self.learner.start_training(feats, self.labels)

    def _finish_learner(self) -> None:
        """What the learner does once training has ended (Tip-Adapter-F searches alpha and beta on the
        validation features); a learner that changed its state this way gets the final checkpoint rewritten,
        and its summary joins the last epoch's entry of the history (the record's ``final_train``)."""
        if type(self.learner).finish_training is PromptLearner.finish_training:
            return  # nothing to do: no validation features encoded for it
        val = self.plain_features("val") if self.val_items else None
        summary = self.learner.finish_training(val)
        if summary:
            if self.history:
                self.history[-1] = {**self.history[-1], **summary}
            self.save(self.cfg.optim.max_epoch, 0)


def make_optimizer(params: list[torch.nn.Parameter], o: Any) -> torch.optim.Optimizer:
    """The ``optim`` node's optimizer: Dassl's SGD (every prompt learner) or torch's AdamW (Tip-Adapter-F)."""
    if o.name == "adamw":
        return torch.optim.AdamW(params, lr=o.lr, eps=o.eps, weight_decay=o.weight_decay)
    return torch.optim.SGD(params, lr=o.lr, momentum=o.momentum, weight_decay=o.weight_decay)


def _fault_from_env() -> tuple[int, int] | None:
    """Fault injection for tests of kill/resume: a real signal to this process at an exact step.

    ``VLCAT_FAULT_AT_STEP=N`` with ``VLCAT_FAULT_SIGNAL=KILL|TERM|INT`` (default KILL). Unset in normal use.
    Read once when the trainer is built, so the step loop only compares two integers.
    """
    at = os.environ.get("VLCAT_FAULT_AT_STEP")
    if not at:
        return None
    return int(at), int(getattr(signal, "SIG" + os.environ.get("VLCAT_FAULT_SIGNAL", "KILL")))


def _term_means(terms: list[dict[str, float]]) -> dict[str, float]:
    """Epoch means of the learner's named loss terms (ProGrad's ``projected``: the share of steps whose
    gradient was projected), over the steps that reported each term."""
    names = sorted({k for t in terms for k in t})
    return {k: _mean([t[k] for t in terms if k in t]) for k in names}


def _mean(values: list[float]) -> float:
    return float(sum(values) / len(values)) if values else math.nan
