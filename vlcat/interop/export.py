"""A finished run's classifier for people who only have open_clip: the model, the class names, the weights.

A tuned prompt only changes the text side, so for learners whose class weights do not depend on the image
(CoOp, KgCoOp, ProGrad, zero-shot CLIP) the whole result is one matrix: the L2-normalised class features
``W [C, E]``. With the same open_clip model a user classifies with

    logits = model.logit_scale.exp() * normalize(model.encode_image(x)) @ W.T   (+ model.logit_bias, if any)

which is exactly what ``vlcat-eval`` computes. Two files are written: ``classifier.safetensors`` (``W`` under
``weights``) and ``classifier.json`` (model name, pretrained tag or weights/config files, preprocessing,
class names in row order, logit scale). CoCoOp's weights depend on each image (its meta-net shifts the
context per image) and a linear probe does not score by cosine, so neither has such a matrix: refused; so are
the learners that put prompts into the image tower (their image features are not ``model.encode_image``'s).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F

from vlcat import rundir
from vlcat.errors import RunError, VlcatError
from vlcat.learners.base import LearnerStateError, PromptLearner, TaskSpec

WEIGHTS = "classifier.safetensors"
INFO = "classifier.json"
FORMAT = "vlcat-classifier/1"


class ExportError(VlcatError):
    """The run's learner has no fixed classifier to export."""


def check_exportable(name: str) -> None:
    """Refuse, before any work, a learner without one fixed cosine classifier (it says why in one line)."""
    from vlcat.learners import get_learner

    cls = get_learner(name).cls
    if cls.inputs == "pixels":
        raise ExportError(f"learner {name} runs the image tower with prompts of its own (IVLP, MaPLe, VPT-deep, "
                          "PromptSRC), so no classifier over open_clip's plain encode_image gives its logits; "
                          "evaluate it with vlcat-eval")
    if cls.export_refusal:
        raise ExportError(f"learner {name} {cls.export_refusal}, so no fixed classifier exists to export; evaluate "
                          "it with vlcat-eval")
    if cls.class_features is PromptLearner.class_features:
        raise ExportError(f"learner {name} has no class text weights (it scores image features with a classifier of "
                          "its own), so there is no open_clip classifier to export")
    if cls.logits is not PromptLearner.logits:
        raise ExportError(f"learner {name} computes its class weights per image (CoCoOp's meta-net shifts the context "
                          "for each image), so no fixed classifier exists to export; evaluate it with vlcat-eval")


def export_classifier(run_dir: str | Path, out: str | Path | None = None) -> dict[str, Any]:
    """Write ``classifier.safetensors`` and ``classifier.json`` for the finished run into ``out`` (default
    ``<run>/export``); returns what ``classifier.json`` holds."""
    from safetensors.torch import save_file

    from vlcat.data.cards import resolve_card
    from vlcat.learners import build_learner
    from vlcat.train.checkpoint import load_checkpoint
    from vlcat.train.run import load_model, load_run, seed_everything

    run_dir = Path(run_dir)
    cfg, record = load_run(run_dir)
    if record is None:
        raise RunError(f"{run_dir} has not finished (no {rundir.RECORD}); finish it with --resume first")
    out = Path(out) if out is not None else run_dir / "export"
    if out.exists() and not out.is_dir():
        raise RunError(f"--out {out} is a file; give a folder")
    check_exportable(cfg.learner.name)
    seed_everything(cfg.train.seed)
    card = resolve_card(cfg.data.dataset)
    classnames = list(record.get("classnames") or [])
    if not classnames:
        raise RunError(f"{run_dir / rundir.RECORD} lists no class names; rerun it with this vlcat version")
    clip = load_model(cfg)
    learner = build_learner(cfg.learner, clip, TaskSpec(classnames, card.template, card.all_templates(), card.name,
                                                      dict(card.method_templates)))
    learner = learner.to(clip.device)
    if learner.trained_by != "none":
        try:
            learner.load_trainable_state(load_checkpoint(run_dir / rundir.CHECKPOINT)["learner"])
        except LearnerStateError as exc:
            raise RunError(str(exc)) from None
    with torch.no_grad():
        weights = F.normalize(learner.class_features().float(), dim=-1).cpu().contiguous()
    m = cfg.model
    info = {
        "format": FORMAT,
        "model": m.name,
        "pretrained": m.pretrained,
        "checkpoint": m.checkpoint,
        "model_config": m.config,
        "preprocess": clip.preprocess,
        "logit_scale": float(learner.logit_scale),
        "logit_bias": None if learner.logit_bias is None else float(learner.logit_bias),
        "classnames": classnames,
        "weights": WEIGHTS,
        "shape": list(weights.shape),
        "learner": cfg.learner.name,
        "method": record.get("method"),
        "dataset": record.get("dataset"),
        "prompt": learner.prompt_text(),
        "run": str(run_dir.resolve()),
    }
    rundir.atomic_write_bytes(out / WEIGHTS, lambda tmp: save_file({"weights": weights}, tmp,
                                                                  metadata={"format": FORMAT}))
    rundir.write_json(out / INFO, info)
    return info
