"""Which learners the catalyst can serve, beyond having context vectors: those trained on image features.

A learner may also say itself why the catalyst cannot serve it (``catalyst_refusal``: the deep prompt learners,
whose per-layer text and vision prompts no restart from words could set); that reason comes first, before
the general checks, from the config check and again when training starts.

The catalyst scores candidate prompts and races restarts on the frozen image tower's features (cached,
un-augmented; see :mod:`vlcat.catalyst.fitness` and the port's ``evaluate``). A learner that declares
``inputs = "pixels"`` runs the image side itself, so it would be handed features where it expects images
and score nonsense without an error; it is refused in one line instead, from the config check
(:func:`vlcat.config.validate_learner`) and again when training starts (a learner built directly).
"""

from __future__ import annotations

from vlcat.errors import ConfigError


def require_feature_learner(name: str, learner: object) -> None:
    """Raise a ``ConfigError`` unless ``learner`` (a learner class or instance) takes cached features."""
    inputs = getattr(learner, "inputs", "features")
    if inputs != "features":
        raise ConfigError(f"catalyst.enabled=true needs a learner trained on cached image features (the catalyst "
                          f"scores prompts and races restarts on them); learner '{name}' takes {inputs}")


def refuse_own_reason(name: str, learner: object) -> None:
    """Raise a ``ConfigError`` when ``learner`` (class or instance) states why the catalyst cannot serve it."""
    why = getattr(learner, "catalyst_refusal", "")
    if why:
        raise ConfigError(f"catalyst.enabled=true cannot serve learner '{name}': {why}; set catalyst.enabled=false")
