"""Prompt learners and the factory that builds one from the config."""

from __future__ import annotations

from vlcat.clip import ClipBundle
from vlcat.config import LearnerConfig
from vlcat.errors import ConfigError
from vlcat.learners.base import PromptLearner
from vlcat.learners.coop import CoOp
from vlcat.learners.zeroshot import ZeroShotCLIP

__all__ = ["CoOp", "PromptLearner", "ZeroShotCLIP", "build_learner"]


def build_learner(cfg: LearnerConfig, clip: ClipBundle, classnames: list[str], template: str,
                  templates: list[str]) -> PromptLearner:
    """The learner named by ``cfg.name`` for these classes; ``template(s)`` come from the dataset card."""
    if cfg.name == "zeroshot":
        return ZeroShotCLIP(clip, classnames, templates if cfg.templates == "ensemble" else [template])
    if cfg.name == "coop":
        return CoOp(clip, classnames, n_ctx=cfg.n_ctx, ctx_init=cfg.ctx_init, csc=cfg.csc,
                    class_token_position=cfg.class_token_position, init_std=cfg.init_std,
                    fast_text=cfg.fast_text)
    raise ConfigError(f"unknown learner '{cfg.name}' (known: coop, zeroshot)")
