"""One run from config to record: data, model, learner, training, evaluation, the run record JSON.

The run folder is the unit of work and of resumption. It holds ``config.yaml`` (written before any
training), ``metrics.jsonl``, ``checkpoint.pt`` and, once everything finished, ``record.json``; a folder
with a record is finished and is never silently overwritten. A folder that never completed a step (a
run that failed on its data before training) holds no work, so a rerun replaces it, saying so.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import random
import signal
import time
import warnings
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import torch

import vlcat
from vlcat import rundir
from vlcat.clip import ClipBundle, coop_train_transform, load_clip
from vlcat.config import RunConfig, load_config, to_dict, to_yaml
from vlcat.data import DatasetSplits, load_dataset, sample_fewshot, subsample_classes
from vlcat.data.classes import classes_without_images
from vlcat.data.images import find_undecodable
from vlcat.environment import run_environment
from vlcat.errors import ConfigError, DataError, RunError
from vlcat.learners import TaskSpec, build_learner
from vlcat.learners.base import LearnerStateError, PromptLearner
from vlcat.precision import apply_precision, cast_learner, check_run_device
from vlcat.rundir import atomic_write_text
from vlcat.splits import SPLITS, require_split
from vlcat.train.checkpoint import load_checkpoint, save_checkpoint
from vlcat.train.evaluate import classification_metrics, predict_logits
from vlcat.train.features import FeatureCache, SeededImages
from vlcat.train.progress import say
from vlcat.train.trainer import Trainer, TrainerCallback

RECORD = rundir.RECORD
CONFIG = rundir.CONFIG


def default_cache_dir() -> Path:
    return Path(os.environ.get("VLCAT_CACHE") or Path.home() / ".cache" / "vlcat")


def cache_dir_of(cfg: RunConfig) -> Path:
    return Path(cfg.data.cache_dir) if cfg.data.cache_dir else default_cache_dir()


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise ConfigError(f"model.device={name} but no CUDA device is available; use model.device=cpu")
    return torch.device(name)


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def check_run_dir(run_dir: Path, *, resume: bool, overwrite: bool) -> str:
    """Decide what to do with the output folder before any work; raise if the user must choose.

    Returns the folder's state (see ``vlcat.rundir``); 'broken' (an unreadable record) is resumable.
    An unfinished folder that never completed a step is 'stepless' (unless ``overwrite``): it is started
    afresh whatever the flags and the config, since nothing in it could be continued or lost, and a run
    that failed before its first step (a corrupt image, a bad value found in the data) is then fixed and
    rerun without ``--overwrite``.
    """
    state = rundir.folder_state(run_dir)
    if state == "unfinished" and not overwrite and not rundir.completed_a_step(run_dir):
        return "stepless"
    if state == "foreign":
        raise RunError(f"{run_dir} is not empty and is not a vlcat run folder (no {rundir.CONFIG}); refusing to "
                       "write into it; choose another output_dir")
    if state == "finished" and not (overwrite or resume):
        raise RunError(f"{run_dir} already holds a finished run; pass --overwrite to retrain "
                       "or choose another output_dir")
    if state in ("unfinished", "broken") and not (overwrite or resume):
        raise RunError(f"{run_dir} holds an unfinished run; pass --resume to continue it or --overwrite "
                       "to start over")
    return state


def saved_config(run_dir: Path) -> RunConfig:
    """The config a run folder was made with, read through today's schema; one line if it is unreadable."""
    try:
        return load_config(run_dir / rundir.CONFIG, [f"output_dir={run_dir}"])
    except ConfigError as exc:
        raise RunError(f"{run_dir / rundir.CONFIG} cannot be used ({exc}); fix the file, or start the run over "
                       "with --overwrite") from None


def check_resume_config(run_dir: Path, cfg: RunConfig) -> None:
    """``--resume`` continues the run the folder holds; a different config would mix two experiments."""
    changes = rundir.config_differences(saved_config(run_dir), cfg)
    if changes:
        more = f" (and {len(changes) - 3} more)" if len(changes) > 3 else ""
        raise RunError(f"the config differs from the one saved in {run_dir / rundir.CONFIG} "
                       f"({'; '.join(changes[:3])}{more}); resume with just `--resume -o {run_dir}` "
                       "(the folder's config) or use --overwrite")


def stepless_notice(run_dir: Path, cfg: RunConfig) -> str:
    """The one line a rerun prints when it replaces a run that never completed a step, naming what changed
    in the config, so the user sees why no ``--overwrite`` or ``--resume`` was needed."""
    line = (f"note: {run_dir} holds a run that never completed a step (no checkpoint, metrics or stage files); "
            "starting it afresh")
    try:
        changes = rundir.config_differences(saved_config(run_dir), cfg)
    except RunError:
        return f"{line}; its unreadable {rundir.CONFIG} is replaced"
    if not changes:
        return line
    more = f" (and {len(changes) - 3} more)" if len(changes) > 3 else ""
    return f"{line}; its {rundir.CONFIG} is replaced ({'; '.join(changes[:3])}{more})"


def prepare_data(cfg: RunConfig, *, min_classes: int = 2) -> DatasetSplits:
    """The run's images; fewer than ``min_classes`` classes is refused (one class "trains" to 100 %)."""
    d = cfg.data
    splits = load_dataset(d.dataset, d.root, strict=d.strict)
    splits = sample_fewshot(splits, d.num_shots, cfg.train.seed, cache_dir_of(cfg) / "fewshot",
                            repeat=d.repeat, on_too_few=d.on_too_few)
    splits = subsample_classes(splits, d.subsample_classes)
    if not d.strict:
        splits = drop_undecodable(splits)
    if splits.num_classes < min_classes:
        raise DataError(f"dataset {splits.name} ({d.subsample_classes} classes) has {splits.num_classes} "
                        f"class(es); classification needs at least {min_classes}")
    warn_classes_without_images(splits)
    return splits


def warn_classes_without_images(splits: DatasetSplits) -> None:
    """One warning naming the classes that have no validation or test image: their accuracy is missing
    from those scores (the record lists them too, under ``classes_without_images``)."""
    missing = {split: names for split, names in classes_without_images(splits).items() if names}
    if missing:
        parts = "; ".join(f"{split}: {', '.join(map(repr, names))}" for split, names in missing.items())
        warnings.warn(f"{splits.name}: class(es) with no image in a split, so left out of its score ({parts}); "
                      "add images of those classes (split by ratio, a class of few images gets none there)",
                      stacklevel=2)


def drop_undecodable(splits: DatasetSplits) -> DatasetSplits:
    """``data.strict=false``: leave out images that exist but do not decode, and count them as skipped.

    Only the images the run uses are decoded (the few-shot sample, val, test), once, before any work, so
    a bad file costs a warning instead of a crash in the middle of feature encoding.
    """
    bad = set(find_undecodable([*splits.train, *splits.val, *splits.test]))
    if not bad:
        return splits
    warnings.warn(f"{splits.name}: {len(bad)} image(s) cannot be decoded and are left out, e.g. {sorted(bad)[0]}",
                  stacklevel=2)
    keep = {s: [d for d in getattr(splits, s) if d.path not in bad] for s in SPLITS}
    return dataclasses.replace(splits, **keep, skipped=[*splits.skipped, *sorted(bad)])


def load_model(cfg: RunConfig) -> ClipBundle:
    """The run's frozen CLIP on its device, at its resolved precision (fp16 casts the weights to half)."""
    m = cfg.model
    device = resolve_device(m.device)
    check_run_device(m.precision, device)
    clip = load_clip(m.name, m.pretrained, model_config=m.config, checkpoint=m.checkpoint, device=device,
                     tokenizer=m.tokenizer)
    apply_precision(clip, m.precision)
    if cfg.train.crop_scale_min != 0.08:
        pp = clip.preprocess
        clip.train_transform = coop_train_transform(pp["size"], tuple(pp["mean"]), tuple(pp["std"]),
                                                    pp["interpolation"], cfg.train.crop_scale_min)
    return clip


def make_learner(cfg: RunConfig, clip: ClipBundle, splits: DatasetSplits) -> PromptLearner:
    task = TaskSpec(splits.classnames, splits.template, list(splits.templates or []), splits.name,
                    dict(splits.method_templates))
    learner = cast_learner(build_learner(cfg.learner, clip, task))  # half under fp16, as the authors'
    # A word init decides how many vectors train (as in CoOp); the saved config must say the same number. Every
    # learner with a text context (n_ctx), the deep prompt learners too, whether the catalyst serves it or not.
    n_ctx = getattr(learner, "n_ctx", None)
    if n_ctx is not None and cfg.learner.ctx_init.strip() and n_ctx != cfg.learner.n_ctx:
        raise ConfigError(f"learner.ctx_init={cfg.learner.ctx_init!r} gives {n_ctx} context vector(s) but "
                          f"learner.n_ctx={cfg.learner.n_ctx}; set learner.n_ctx={n_ctx} "
                          "(or leave ctx_init empty for random init)")
    return learner


def evaluate_split(cfg: RunConfig, clip: ClipBundle, learner: PromptLearner, splits: DatasetSplits,
                   split: str, cache: FeatureCache) -> dict[str, Any]:
    items = getattr(splits, split)
    if not items:
        return {"accuracy": float("nan"), "macro_f1": float("nan"), "per_class_accuracy": {}, "n": 0}
    labels = torch.tensor([it.label for it in items])
    if learner.inputs == "pixels":  # the learner runs the image side (its own precision): feed it images
        loader = torch.utils.data.DataLoader(SeededImages(items, clip.test_transform),
                                             batch_size=cfg.train.eval_batch_size,
                                             num_workers=cfg.data.num_workers)
        logits = torch.cat([learner.predict(images) for images, _ in loader])
        return classification_metrics(logits, labels, splits.classnames)
    feats = cache.features(clip, items, clip.test_transform, batch_size=cfg.train.eval_batch_size,
                           num_workers=cfg.data.num_workers, desc=f"encode {split}" if cfg.train.progress else None)
    return classification_metrics(predict_logits(learner, feats), labels, splits.classnames)


#: Builders of trainer callbacks from the config, registered by the layers above ``train`` (the LLM
#: catalyst registers itself as "catalyst" when ``vlcat.catalyst`` is imported; the CLIs and sweeps import
#: it), so that ``train`` never imports them.
CALLBACK_BUILDERS: dict[str, Any] = {}


def build_callbacks(cfg: RunConfig, run_dir: Path, splits: DatasetSplits) -> list[TrainerCallback]:
    """The catalyst (when enabled), then the TensorBoard logger (when asked), which must see the state a
    stage left."""
    cbs: list[TrainerCallback] = []
    if cfg.catalyst.enabled:
        builder = CALLBACK_BUILDERS.get("catalyst")
        if builder is None:
            raise ConfigError("catalyst.enabled=true but the catalyst is not loaded; import vlcat.catalyst "
                              "before run_training (the vlcat CLIs do)")
        cbs.append(builder(cfg, run_dir, splits))
    if cfg.train.tensorboard:
        from vlcat.train.tensorboard import TensorBoardLogger

        cbs.append(TensorBoardLogger(run_dir, cfg.train.log_every))
    return cbs


@contextmanager
def stop_on_signals(trainer: Trainer):
    """SIGINT/SIGTERM ask the trainer to checkpoint and stop at the next step. A second one stops at once
    where the wait may be long (``trainer.interruptible``: an LLM stage, encoding an epoch's inputs); in the
    step loop (the checkpoint is at most a step away), while a checkpoint is written and once the trainer is
    exiting it is ignored, so that no finished step is thrown away (see vlcat.stopping).

    A second signal that raised anywhere would be a traceback waiting to happen (inside the checkpoint
    write, the unwinding, the CLI's last line or an ``atexit`` handler), so after a signal the process is
    shielded on its way out instead of getting the old handlers back.
    """
    import threading

    from vlcat import stopping

    if threading.current_thread() is not threading.main_thread():
        yield
        return
    old = {s: signal.getsignal(s) for s in stopping.SIGNALS}
    received = False

    def again(signum, frame):  # noqa: ARG001
        if not trainer.interruptible or trainer.saving or trainer.exiting or stopping.exiting():
            stopping.ignore_further(signum, frame)
            return
        stopping.shield()  # whatever comes after this one is ignored
        raise KeyboardInterrupt

    def handler(signum, frame):  # noqa: ARG001
        nonlocal received
        received = True
        trainer.stop_requested = True
        for s in old:
            signal.signal(s, again)
        # os.write, not print: a handler may run in the middle of another write to the same stream
        os.write(2, b"\nstopping: the run saves a checkpoint after the current step (an LLM stage in progress "
                    b"finishes its request first; signal again to stop it at once, and --resume continues from "
                    b"the last checkpoint)\n")

    for s in old:
        signal.signal(s, handler)
    try:
        yield
    finally:
        if received or stopping.exiting():
            stopping.shield()
        else:
            for s, h in old.items():
                signal.signal(s, h)


def _decide(run_dir: Path, cfg: RunConfig, resume: bool, overwrite: bool) -> str:
    state = check_run_dir(run_dir, resume=resume, overwrite=overwrite)
    if resume and not overwrite and state in ("unfinished", "finished", "broken"):
        check_resume_config(run_dir, cfg)
    return state


def run_training(cfg: RunConfig, *, resume: bool = False, overwrite: bool = False,
                 callbacks: list[TrainerCallback] | None = None) -> dict[str, Any]:
    """Train and evaluate one run; returns its record (also written to ``<output_dir>/record.json``).

    The folder is checked before any work (so a mistake costs nothing), then locked and checked again
    just before the first write: a second process on the same folder stops with the holder's pid.
    """
    run_dir = Path(cfg.output_dir)
    state = _decide(run_dir, cfg, resume, overwrite)
    if state == "finished" and resume and not overwrite:
        return rundir.read_record(run_dir)  # same config: the finished result is the answer
    for split in cfg.train.eval_splits:  # also checked by config validation; kept here for configs built in code
        require_split(split, "train.eval_splits")
    check_run_device(cfg.model.precision, resolve_device(cfg.model.device))  # before the data is read
    t_start = time.perf_counter()
    timings: dict[str, float] = {}
    seed_everything(cfg.train.seed)
    t = time.perf_counter()
    splits = prepare_data(cfg)
    timings["data_s"] = time.perf_counter() - t
    t = time.perf_counter()
    clip = load_model(cfg)
    learner = make_learner(cfg, clip, splits).to(clip.device)
    timings["model_s"] = time.perf_counter() - t
    cbs = build_callbacks(cfg, run_dir, splits) if callbacks is None else callbacks
    if cfg.train.select_best_val:  # last, so that it sees the state any other callback left
        from vlcat.train.select import BestValidation

        cbs = [*cbs, BestValidation()]
    # Nothing is written before this point, so a bad dataset or model leaves no folder behind.
    with rundir.RunLock(run_dir):
        state = _decide(run_dir, cfg, resume, overwrite)  # again: another process may have written meanwhile
        if state == "finished" and resume and not overwrite:
            return rundir.read_record(run_dir)
        return _train_locked(cfg, run_dir, state, resume, overwrite, splits, clip, learner, cbs, timings, t_start)


def _train_locked(cfg: RunConfig, run_dir: Path, state: str, resume: bool, overwrite: bool, splits: DatasetSplits,
                  clip: ClipBundle, learner: PromptLearner, cbs: list[TrainerCallback], timings: dict[str, float],
                  t_start: float) -> dict[str, Any]:
    if overwrite and state != "new":
        rundir.clear(run_dir)
    if state == "stepless":
        say(stepless_notice(run_dir, cfg))
        resume = False  # nothing to continue: the trainer starts at step 0 and empties metrics.jsonl
    if state == "broken":
        (run_dir / RECORD).replace(run_dir / (RECORD + ".broken"))  # kept for the user, no longer "finished"
    atomic_write_text(run_dir / CONFIG, to_yaml(cfg))

    cache = FeatureCache(cache_dir_of(cfg), enabled=cfg.train.feature_cache)
    history: list[dict[str, Any]] = []
    trainer = None
    if learner.trained_by == "fit":
        history = [fit_learner(cfg, clip, learner, splits, cache)]
    elif learner.trained_by == "gradient":
        trainer = Trainer(cfg, clip, learner, splits.train, run_dir, cache, cbs, val_items=splits.val)
        with stop_on_signals(trainer):
            history = trainer.fit(resume=resume)
        timings.update({f"train_{k}": v for k, v in trainer.timings.items()})

    t = time.perf_counter()
    metrics = {split: evaluate_split(cfg, clip, learner, splits, split, cache) for split in cfg.train.eval_splits}
    timings["eval_s"] = time.perf_counter() - t
    timings["total_s"] = time.perf_counter() - t_start
    record = run_record(cfg, clip, learner, splits, metrics, cache, method=method_name(cfg),
                        final_train=history[-1] if history else None, timings=timings)
    for cb in cbs:
        summary = getattr(cb, "summary", None)
        if summary is not None:
            record.update(summary())
    rundir.write_json(run_dir / RECORD, record)
    return rundir.finite(record)


def run_record(cfg: RunConfig, clip: ClipBundle, learner: PromptLearner, splits: DatasetSplits,
               metrics: dict[str, Any], cache: FeatureCache, *, method: str, final_train: dict[str, Any] | None,
               timings: dict[str, float]) -> dict[str, Any]:
    """The fields of every finished run's ``record.json``, whether it trained here or was imported, so that
    reports, resume and the environment checks read both the same way."""
    return {
        "vlcat_version": vlcat.__version__,
        "status": "finished",
        "learner": cfg.learner.name,
        "method": method,
        "dataset": splits.name,
        "subsample": splits.subset,
        "num_shots": cfg.data.num_shots,
        "seed": cfg.train.seed,
        "model": clip.model_id,
        "precision": clip.precision,
        "num_classes": splits.num_classes,
        "classnames": splits.classnames,
        "split_sizes": splits.sizes(),
        "skipped_images": len(splits.skipped),
        "classes_without_images": classes_without_images(splits),  # left out of the val/test scores
        "metrics": metrics,
        "prompt": learner.prompt_text(),
        "final_train": final_train,
        "timings": timings,
        "feature_cache": {"hits": cache.hits, "misses": cache.misses},
        "config": to_dict(cfg),
        "environment": run_environment(clip.device, splits, clip.precision),  # versions, hardware, data digests
    }


def fit_learner(cfg: RunConfig, clip: ClipBundle, learner: PromptLearner, splits: DatasetSplits,
                cache: FeatureCache) -> dict[str, Any]:
    """Learners fitted in one go (``trained_by = "fit"``) on the un-augmented few-shot features."""
    def feats(items: list) -> tuple[torch.Tensor, torch.Tensor]:
        x = cache.features(clip, items, clip.test_transform, batch_size=cfg.train.eval_batch_size,
                           num_workers=cfg.data.num_workers)
        return x, torch.tensor([it.label for it in items], dtype=torch.long)

    train_x, train_y = feats(splits.train)
    views = learner.training_views()
    if views:  # a cache of augmented views (Tip-Adapter): the trainer's crops of epochs 0..views-1
        learner.start_training(torch.stack([cache.features(
            clip, splits.train, clip.train_transform, seed=cfg.train.seed, view=v,
            batch_size=cfg.train.eval_batch_size, num_workers=cfg.data.num_workers) for v in range(views)]), train_y)
    summary = learner.fit(train_x, train_y, feats(splits.val) if splits.val else None)
    save_checkpoint(Path(cfg.output_dir) / rundir.CHECKPOINT,
                    {"format": 1, "epoch": 0, "step": 0, "learner": learner.trainable_state()})
    return {"type": "fit", **summary}


def method_name(cfg: RunConfig) -> str:
    """The row label of tables: ``train.method`` when given, else the learner plus the catalyst when it ran."""
    if cfg.train.method.strip():
        return cfg.train.method.strip()
    return f"{cfg.learner.name}+catalyst" if cfg.catalyst.enabled else cfg.learner.name


def load_run(run_dir: str | Path) -> tuple[RunConfig, dict[str, Any] | None]:
    run_dir = Path(run_dir)
    if not (run_dir / CONFIG).is_file():
        raise RunError(f"{run_dir} is not a vlcat run folder (no {CONFIG}); give the output_dir of a run")
    cfg = saved_config(run_dir)
    if not (run_dir / RECORD).exists():
        return cfg, None
    record = rundir.read_record(run_dir)
    if record is None:
        raise RunError(f"{run_dir / RECORD} is unreadable or incomplete; finish the run again with "
                       f"`vlcat-train -o {run_dir} --resume`")
    return cfg, record


# What a learned prompt is made of: evaluation may change the data, never these.
_TRAINED_WITH = ("learner.name", "learner.n_ctx", "learner.ctx_init", "learner.csc", "learner.class_token_position",
                 "model.name", "model.pretrained", "model.config", "model.checkpoint")


def _get(cfg: RunConfig, dotted: str) -> Any:
    section, key = dotted.split(".")
    return getattr(getattr(cfg, section), key)


def evaluate_run(run_dir: str | Path, *, split: str = "test", subsample: str | None = None,
                 dataset: str | None = None, root: str | None = None, name: str | None = None,
                 overrides: list[str] | None = None, out_dir: str | Path | None = None) -> dict[str, Any]:
    """Evaluate a finished run's learner on another split, class subset or dataset (cross-dataset).

    The result goes to ``<run>/eval/<name>.json`` (where ``tools/report.py`` finds it) or into ``out_dir``
    (for a run folder this process cannot write); the target is checked before the evaluation starts."""
    run_dir = Path(run_dir)
    cfg, record = load_run(run_dir)
    if record is None:
        raise RunError(f"{run_dir} has not finished (no {RECORD}); finish it with --resume first")
    extra = list(overrides or [])
    if subsample:
        extra.append(f"data.subsample_classes={subsample}")
    if dataset:
        extra.append(f"data.dataset={dataset}")
    if root:
        extra.append(f"data.root={root}")
    if split == "test":
        extra.append("data.num_shots=-1")  # the test split is never sampled; evaluation-only sets have no train
    if extra:
        saved = cfg
        cfg = load_config(run_dir / CONFIG, extra)
        fixed = [k for k in _TRAINED_WITH if _get(saved, k) != _get(cfg, k)]
        if fixed:
            raise ConfigError(f"{fixed[0]} cannot change at evaluation: the run's prompt was trained with "
                              f"{fixed[0]}={_get(saved, fixed[0])!r}")
    require_split(split, "split")
    if name is not None and not rundir.safe_name(name):
        raise ConfigError(f"--name {name!r} must be a plain file name (letters, digits, _ . + -); the result "
                          f"goes to {run_dir / rundir.EVAL_DIR}/<name>.json")
    wanted = Path(out_dir) if out_dir else run_dir / rundir.EVAL_DIR
    created = not wanted.exists()
    target = rundir.probe_writable(wanted, "give eval a folder you can write with -o DIR")
    try:
        metrics, splits, learner, clip = _evaluate_loaded(cfg, record, run_dir, split)
    except BaseException:
        if created:  # a refused evaluation leaves nothing behind, not even the folder its result was for
            with contextlib.suppress(OSError):
                target.rmdir()
        raise
    name = name or f"{splits.name}_{splits.subset}_{split}"
    result = {"run": str(run_dir), "dataset": splits.name, "subsample": splits.subset, "split": split,
              "num_classes": splits.num_classes, "precision": clip.precision, "metrics": metrics,
              "prompt": learner.prompt_text(),
              "method": record.get("method"), "seed": cfg.train.seed, "num_shots": record.get("num_shots")}
    path = target / f"{name}.json"
    try:
        rundir.write_json(path, result)
    except OSError as exc:  # the folder changed under us since the probe
        raise RunError(f"cannot write {path} ({exc.strerror or type(exc).__name__}); the accuracy was "
                       f"{metrics['accuracy']:.2f}; give eval a folder you can write with -o DIR") from None
    result["path"] = str(path)
    return result


def _evaluate_loaded(cfg: RunConfig, record: dict[str, Any], run_dir: Path, split: str) -> tuple[Any, ...]:
    """(metrics, splits, learner, clip) of a finished run's learner on ``split``: the part of
    :func:`evaluate_run` that can still refuse (classes the learner has no state for, a missing checkpoint)."""
    seed_everything(cfg.train.seed)
    splits = prepare_data(cfg, min_classes=1)
    clip = load_model(cfg)
    learner = make_learner(cfg, clip, splits).to(clip.device)
    ckpt = run_dir / rundir.CHECKPOINT
    if learner.trained_by != "none":
        if not ckpt.is_file():
            raise RunError(f"{ckpt} is missing; the learned prompt cannot be evaluated")
        state = load_checkpoint(ckpt)["learner"]
        trained = list(record.get("classnames") or splits.classnames)
        try:
            learner.load_trainable_state(learner.state_for_classes(state, trained))
        except LearnerStateError as exc:
            raise RunError(str(exc)) from None
        except (RuntimeError, KeyError) as exc:
            raise RunError(f"{ckpt} does not fit this run's learner ({str(exc).splitlines()[0][:160]})") from None
    cache = FeatureCache(cache_dir_of(cfg), enabled=cfg.train.feature_cache)
    metrics = evaluate_split(cfg, clip, learner, splits, split, cache)
    return metrics, splits, learner, clip
