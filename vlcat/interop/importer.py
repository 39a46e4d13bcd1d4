"""A Dassl prompt-learner checkpoint turned into a finished vlcat run folder.

The folder is a first-class run: ``config.yaml`` (the learner, data and backbone the user configured),
``checkpoint.pt`` (the learner state, vlcat's names), ``metrics.jsonl`` (one ``import`` line instead of
training steps), ``record.json`` (the evaluation of ``train.eval_splits``, as a trained run has, plus
``imported``: where the weights came from). So ``vlcat-eval`` scores it on other classes or datasets and
``vlcat-report`` puts it next to vlcat's own runs, under its own method label (``<learner>-dassl`` by
default, so it never counts as a seed of vlcat's run of the same learner).

Everything is checked and evaluated before anything is written, then the files go into a hidden sibling
folder that is renamed into place: a bad checkpoint or an interruption leaves no folder behind.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from vlcat import rundir
from vlcat.config import RunConfig, to_yaml
from vlcat.errors import RunError
from vlcat.interop.dassl import DASSL_LEARNERS, CheckpointError, find_checkpoint, learner_state, load_dassl
from vlcat.learners.base import LearnerStateError
from vlcat.train.checkpoint import save_checkpoint
from vlcat.train.features import FeatureCache

METHOD_SUFFIX = "-dassl"


def check_output(run_dir: Path, overwrite: bool) -> None:
    """Refuse, before any work, an output folder that holds something (a vlcat run only with ``overwrite``)."""
    state = rundir.folder_state(run_dir)
    if state == "foreign":
        raise RunError(f"{run_dir} is not empty and is not a vlcat run folder; choose another output_dir")
    if state != "new" and not overwrite:
        raise RunError(f"{run_dir} already holds a run; pass --overwrite to replace it or choose another output_dir")


def import_checkpoint(cfg: RunConfig, source: str | Path, *, epoch: int | None = None, method: str | None = None,
                      overwrite: bool = False) -> dict[str, Any]:
    """Import ``source`` (a Dassl checkpoint file or output folder) as the run ``cfg.output_dir``; returns the
    record. ``cfg`` says which learner, classes and backbone the checkpoint belongs to; every mismatch is
    one line (:class:`~vlcat.interop.dassl.CheckpointError`) and nothing is written."""
    from vlcat.train.run import (
        cache_dir_of,
        evaluate_split,
        load_model,
        make_learner,
        prepare_data,
        run_record,
        seed_everything,
    )

    t_start = time.perf_counter()
    run_dir = Path(cfg.output_dir)
    check_output(run_dir, overwrite)
    if cfg.learner.name not in DASSL_LEARNERS:
        raise CheckpointError(f"learner.name={cfg.learner.name} has no Dassl checkpoints to import; use one of "
                              f"{', '.join(DASSL_LEARNERS)}")
    if cfg.catalyst.enabled:
        raise CheckpointError("an imported checkpoint is not trained, so the catalyst has nothing to act on; "
                              "set catalyst.enabled=false")
    ckpt = load_dassl(find_checkpoint(source, epoch))

    seed_everything(cfg.train.seed)
    splits = prepare_data(cfg)
    clip = load_model(cfg)
    learner = make_learner(cfg, clip, splits).to(clip.device)
    state = learner_state(ckpt, learner)
    try:
        learner.load_trainable_state(state)
    except LearnerStateError as exc:
        raise CheckpointError(f"{ckpt.path}: {exc}") from None
    state = learner.trainable_state()

    cache = FeatureCache(cache_dir_of(cfg), enabled=cfg.train.feature_cache)
    t = time.perf_counter()
    metrics = {split: evaluate_split(cfg, clip, learner, splits, split, cache) for split in cfg.train.eval_splits}
    timings = {"eval_s": time.perf_counter() - t, "total_s": time.perf_counter() - t_start}
    imported = {"format": "dassl", "from": str(ckpt.path.resolve()), "epoch": ckpt.epoch}
    record = run_record(cfg, clip, learner, splits, metrics, cache,
                        method=method or f"{cfg.learner.name}{METHOD_SUFFIX}", final_train=None, timings=timings)
    record["imported"] = imported

    def write(folder: Path) -> None:
        rundir.atomic_write_text(folder / rundir.CONFIG, to_yaml(cfg))
        save_checkpoint(folder / rundir.CHECKPOINT,
                        {"format": 1, "epoch": ckpt.epoch or 0, "step": 0, "learner": state, "imported": imported})
        rundir.atomic_write_text(folder / rundir.METRICS,
                                 rundir.dumps({"type": "import", "global_step": 0, **imported}) + "\n")
        rundir.write_json(folder / rundir.RECORD, record)

    write_folder(run_dir, write, overwrite)
    return rundir.finite(record)


def write_folder(run_dir: Path, write: Callable[[Path], None], overwrite: bool) -> None:
    """Fill a hidden sibling folder with ``write(folder)`` and rename it to ``run_dir``, replacing a previous
    run only when ``overwrite``; on any failure the hidden folder is removed and ``run_dir`` is untouched."""
    check_output(run_dir, overwrite)  # again: another process may have written meanwhile
    try:
        run_dir.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(dir=run_dir.parent, prefix=f".{run_dir.name}.import-"))
    except OSError as exc:
        raise RunError(f"cannot write next to {run_dir}: {exc.strerror}") from None
    old: Path | None = None
    try:
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o777 & ~umask)  # mkdtemp makes 0700; a run folder gets what mkdir would give
        write(tmp)
        if run_dir.is_dir() and any(run_dir.iterdir()):
            old = run_dir.with_name(f".{run_dir.name}.replaced-{os.getpid()}")
            run_dir.rename(old)
        os.replace(tmp, run_dir)  # onto a missing or empty folder: atomic
    except OSError as exc:
        if old is not None and not run_dir.exists():
            old.rename(run_dir)
            old = None
        raise RunError(f"cannot write {run_dir}: {exc.strerror or exc}") from None
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
