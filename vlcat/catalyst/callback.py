"""The catalyst as a trainer callback: records the trajectory during gradient epochs and runs the LLM
stages the schedule asks for at epoch ends.

All of its state (stage counter, the trajectory so far with its running loss, texts already scored,
per-stage summaries) is plain JSON-able data returned by ``state_dict``, so the trainer's checkpoint
carries it and a resumed run continues exactly; LLM replies come back from the client's response cache
for the same request, so a replayed stage decides the same way.

It sees training only through the trainer port (:class:`vlcat.train.port.TrainingPort`) and the learner
only through its context protocol; the stage runner is built in :mod:`vlcat.catalyst.assemble`.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from vlcat import rundir
from vlcat.catalyst.assemble import build_stage_runner
from vlcat.catalyst.console import closing_line, llm_unreached, stage_line, unreached_warning
from vlcat.catalyst.endpoint import Endpoint, connect, require_healthy
from vlcat.catalyst.fitness import Fitness
from vlcat.catalyst.learner_fit import refuse_own_reason, require_feature_learner
from vlcat.catalyst.result import StageResult
from vlcat.catalyst.schedule import snapshot_steps, stage_bounds, stage_epochs
from vlcat.catalyst.stage import StageRunner, template_words
from vlcat.catalyst.trajectory import RunningMean, Snapshot, Trajectory, normalize
from vlcat.config import RunConfig, validate_learner
from vlcat.data import DatasetSplits
from vlcat.errors import ConfigError, RunError
from vlcat.rundir import atomic_write_text, finite
from vlcat.train.port import TrainingPort
from vlcat.train.progress import say
from vlcat.train.trainer import TrainerCallback

STAGE_DIR = rundir.STAGE_DIR


class CatalystCallback(TrainerCallback):
    def __init__(self, cfg: RunConfig, run_dir: Path, splits: DatasetSplits, endpoint: Endpoint | None = None,
                 reply_cache_dir: Path | None = None) -> None:
        self.cfg = cfg
        self.c = cfg.catalyst
        self.run_dir = Path(run_dir)
        self.domain = splits.domain or splits.name
        self.classnames = list(splits.classnames)
        self.template = splits.template
        self.domain_prompts = list(splits.domain_prompts)
        self.has_val = bool(splits.val)
        self.endpoint = endpoint
        self.reply_cache_dir = reply_cache_dir
        self.connect_s = 0.0
        self.schedule: list[int] = stage_epochs(cfg.optim.max_epoch, epochs=self.c.epochs, rounds=self.c.rounds,
                                                span=self.c.span)
        # --- state that checkpoints carry ---
        self.stage = 0  # LLM stages done
        self.trajectory = Trajectory(self.c.max_trajectory)
        self.running = RunningMean()
        self.history: list[str] = []  # the best LLM texts of earlier stages, shown again
        self.seen: list[str] = []  # every text scored so far (deduplication of proposals)
        self.stages: list[dict[str, Any]] = []  # short per-stage summaries
        # --- built on train start ---
        self._runner: StageRunner | None = None
        self._snap_steps: set[int] = set()

    # ----- state ---------------------------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        return {"format": 1, "json": json.dumps({
            "stage": self.stage, "trajectory": self.trajectory.state_dict(),
            "running": [self.running.loss_sum, self.running.acc_sum, self.running.count],
            "history": self.history, "seen": self.seen, "stages": self.stages, "schedule": self.schedule,
        })}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if not state:
            return
        data = json.loads(state["json"])
        self.stage = int(data["stage"])
        self.trajectory.load_state_dict(data["trajectory"])
        self.running = RunningMean(*data["running"])
        self.history = list(data["history"])
        self.seen = list(data["seen"])
        self.stages = list(data["stages"])

    # ----- set-up --------------------------------------------------------------------------------
    def _remaining(self) -> bool:
        return self.stage < len(self.schedule)

    def on_train_start(self, trainer: TrainingPort) -> None:
        learner = trainer.learner
        refuse_own_reason(learner.name, learner)
        if not learner.has_context:
            raise ConfigError(f"the LLM catalyst needs a learner with context vectors; '{learner.name}' has none")
        require_feature_learner(learner.name, learner)
        if self.c.policy == "lookahead" and not self.has_val:
            raise ConfigError("catalyst.policy=lookahead selects on the few-shot validation split, and this "
                              "dataset has none")
        if self.endpoint is None and self._remaining() and self.c.proposer == "llm":
            t = time.perf_counter()
            self.endpoint = connect(self.cfg.llm, self.reply_cache_dir)
            self.connect_s = time.perf_counter() - t
        self._plan_snapshots(trainer)

    def _plan_snapshots(self, trainer: TrainingPort) -> None:
        self._snap_steps = set()
        if self._remaining():
            first, last = stage_bounds(self.schedule, self.stage)
            spe = trainer.steps_per_epoch
            self._snap_steps = set(snapshot_steps(first * spe, last * spe, self.c.snapshots_per_stage))

    def runner(self, trainer: TrainingPort) -> StageRunner:
        """Built on first use: the un-augmented features are only encoded when a snapshot or stage needs them."""
        if self._runner is None:
            self._runner = build_stage_runner(self.cfg, trainer, domain=self.domain, classnames=self.classnames,
                                              template=self.template, has_val=self.has_val, endpoint=self.endpoint,
                                              domain_prompts=self.domain_prompts)
        return self._runner

    # ----- trajectory ----------------------------------------------------------------------------
    def on_step_end(self, trainer: TrainingPort, info: dict[str, Any]) -> None:
        if not self._remaining():
            return
        self.running.add(info["loss"], info["acc"])
        if trainer.global_step in self._snap_steps:
            self.take_snapshot(trainer, info["epoch"])

    def take_snapshot(self, trainer: TrainingPort, epoch: int) -> Fitness | None:
        """Record the current point; returns the current context's fitness when it was scored (with a val
        split), so that a stage starting here need not score it again."""
        runner = self.runner(trainer)
        loss, acc = self.running.means()
        self.running.reset()
        fit = runner.scorer.score_current() if runner.scorer.val is not None else None
        dec = runner.decoder.decode(runner.display_context())
        self.trajectory.add(Snapshot(trainer.global_step, int(epoch), loss, acc, fit.val_acc if fit else None,
                                     dec.text, dec.token_ids, dec.similarities))
        return fit

    # ----- stages --------------------------------------------------------------------------------
    def on_epoch_end(self, trainer: TrainingPort, epoch: int, summary: dict[str, Any]) -> None:
        while self._remaining() and self.schedule[self.stage] <= epoch:
            if self.schedule[self.stage] == epoch:
                self.run_stage(trainer, epoch)
            else:  # cannot happen in a normal run; never let a missed stage block the later ones
                self.stage += 1
            self._plan_snapshots(trainer)

    def run_stage(self, trainer: TrainingPort, epoch: int) -> StageResult:
        runner = self.runner(trainer)
        current = None
        if self.running.count or not self.trajectory.snapshots or \
                self.trajectory.snapshots[-1].global_step != trainer.global_step:
            # the stage always sees the point it restarts from; nothing moves the context until the stage
            # scores it, so the snapshot's score is the stage's (the same call on the same inputs)
            current = self.take_snapshot(trainer, epoch)
        if self.endpoint is not None:
            runner.use_endpoint(self.endpoint)
        position = trainer.learner.class_token_position
        template = template_words(self.template, position) if self.c.include_template else None
        result = runner.run(trainer, stage=self.stage + 1, epoch=epoch, snapshots=list(self.trajectory.snapshots),
                            template=template, history=self.history, seen=self.seen,
                            seed=self.cfg.train.seed * 1000 + self.stage, current=current)
        record = result.to_record()
        record["schedule"] = self.schedule
        record["summary"] = stage_line(record, len(self.schedule))
        atomic_write_text(self.run_dir / STAGE_DIR / f"stage_{self.stage + 1}.json",
                          json.dumps(finite(record), indent=1, ensure_ascii=False, allow_nan=False))
        unreached = llm_unreached(record)
        say(record["summary"])
        if unreached:
            if self.cfg.llm.required:
                raise RunError(f"LLM stage {self.stage + 1} could not reach its LLM "
                               f"({(result.error or {}).get('message', '')[:200]}); llm.required=true stops "
                               f"the run; its last checkpoint is kept: make the endpoint answer and rerun with "
                               f"--resume -o {self.run_dir}")
            say(unreached_warning(record))
        line = result.metrics_line(trainer.global_step, unreached)
        trainer.log(line)
        self._remember(result)
        self.stages.append({k: v for k, v in line.items() if k != "type"})
        self.stage += 1
        self.trajectory.clear()
        self.running.reset()
        return result

    def _remember(self, result: StageResult) -> None:
        keep = max(1, self.c.max_trajectory // 2)
        best, keys = [], set()
        for text in result.ranked_texts():
            if normalize(text) not in keys:
                keys.add(normalize(text))
                best.append(text)
        self.history = best[:keep]
        known = {normalize(t) for t in self.seen}
        for text in result.texts():
            if normalize(text) not in known:
                known.add(normalize(text))
                self.seen.append(text)

    # ----- end -----------------------------------------------------------------------------------
    def on_train_end(self, trainer: TrainingPort) -> None:
        closing = closing_line(self.summary()["catalyst"])
        if closing:
            say(closing)
        try:
            if self.c.plot:
                from vlcat.catalyst.plot import plot_loss_curve

                plot_loss_curve(self.run_dir)
        finally:
            if self.endpoint is not None:
                self.endpoint.close()

    def summary(self) -> dict[str, Any]:
        ok = [s for s in self.stages if s["status"] == "ok"]
        return {"catalyst": {
            "schedule": self.schedule,
            "stages": len(self.stages),
            "succeeded": len(ok),
            "failed": len(self.stages) - len(ok),
            # stages whose LLM request failed (dead server, timeout); all of them: the run is not the catalyst
            "llm_unreached": sum(1 for s in self.stages if s.get("llm_unreached")),
            "all_llm_failed": (self.c.proposer == "llm" and bool(self.stages)
                               and all(s.get("llm_unreached") for s in self.stages)),
            "restarts": sum(1 for s in self.stages if s["restarted"]),
            "llm_s": sum(s["llm_s"] for s in self.stages),
            "stage_s": sum(s["total_s"] for s in self.stages),
            "race_s": sum(s.get("race_s", 0.0) for s in self.stages),
            # the winner's look-ahead steps are steps training makes anyway (it skips them afterwards), so
            # what a stage costs beyond plain training is its time less theirs
            "overhead_s": sum(s["total_s"] - s.get("committed_s", 0.0) for s in self.stages),
            "proposer": self.c.proposer,
            "policy": self.c.policy,
            "connect_s": self.connect_s,
            "endpoint": self.endpoint.describe() if self.endpoint is not None else None,
            "per_stage": self.stages,
        }}


def build_catalyst(cfg: RunConfig, run_dir: Path, splits: DatasetSplits) -> CatalystCallback:
    """The catalyst callback for a run. With ``llm.required`` the endpoint is connected and checked here,
    before the run folder is touched, and an unusable one fails the run in one line."""
    validate_learner(cfg)  # a learner without a context is a one-line error before anything is touched
    require_domain_prompts(cfg, splits)
    cache = reply_cache_dir(cfg)
    endpoint = None
    if cfg.llm.required and cfg.catalyst.proposer == "llm":
        endpoint = connect(cfg.llm, cache)
        try:
            require_healthy(endpoint)
        except Exception:
            endpoint.close()
            raise
    return CatalystCallback(cfg, Path(run_dir), splits, endpoint=endpoint, reply_cache_dir=cache)


def require_domain_prompts(cfg: RunConfig, splits: DatasetSplits) -> None:
    """The oracle proposes the card's ``domain_prompts``; without them it would silently be the ``none``
    control under another name, so the run is refused in one line before anything is touched."""
    if cfg.catalyst.proposer == "oracle" and not splits.domain_prompts:
        raise ConfigError(f"catalyst.proposer=oracle proposes the dataset card's domain_prompts, and dataset "
                          f"'{splits.name}' has none; add them to its card (see datasets/README.md) or pick "
                          "another proposer (llm, random, none)")


def reply_cache_dir(cfg: RunConfig) -> Path | None:
    """Where LLM replies are cached (``llm.cache_dir`` or ``<cache>/llm_replies``); None when disabled."""
    if not cfg.llm.use_cache:
        return None
    if cfg.llm.cache_dir:
        return Path(cfg.llm.cache_dir)
    from vlcat.train.run import cache_dir_of

    return cache_dir_of(cfg) / "llm_replies"
