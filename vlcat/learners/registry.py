"""The learner registry: ``@register_learner("coop")`` on a learner class, as timm registers models.

A learner is found by the name in ``learner.name``; its own options (if any) are a dataclass that becomes
the config node ``learner.<name>``. Importing :mod:`vlcat.learners` imports every learner module in the
package, so the registry (and with it the config schema) is complete before any config is read.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from vlcat.errors import ConfigError

T = TypeVar("T")


@dataclass(frozen=True)
class LearnerEntry:
    name: str
    cls: Any
    """The learner class (a :class:`vlcat.learners.base.PromptLearner` subclass)."""
    options: type | None
    """Dataclass of the learner's own config node ``learner.<name>``; None when it has no own options."""


_REGISTRY: dict[str, LearnerEntry] = {}


def register_learner(name: str, options: type | None = None) -> Callable[[T], T]:
    """Class decorator: make a learner buildable as ``learner.name=<name>``.

    ``options`` is a dataclass of the learner's own settings (``learner.<name>.<key>``); the context
    settings every context learner shares (``learner.n_ctx``, ``learner.ctx_init``, ...) live on the
    ``learner`` node itself.
    """
    if not name.isidentifier():
        raise ValueError(f"learner name must be an identifier (it names a config node), got {name!r}")

    def deco(cls: T) -> T:
        old = _REGISTRY.get(name)
        if old is not None and old.cls.__qualname__ != cls.__qualname__:
            raise ValueError(f"learner '{name}' is registered twice ({old.cls.__qualname__}, {cls.__qualname__})")
        cls.name = name  # type: ignore[attr-defined]
        _REGISTRY[name] = LearnerEntry(name, cls, options)
        return cls

    return deco


def list_learners() -> list[str]:
    """Names of all registered learners, sorted."""
    return sorted(_REGISTRY)


def learner_entries() -> list[LearnerEntry]:
    return [_REGISTRY[n] for n in list_learners()]


def get_learner(name: str) -> LearnerEntry:
    """The registry entry for ``name``; an unknown name is a one-line error naming the known ones."""
    entry = _REGISTRY.get(name)
    if entry is None:
        raise ConfigError(f"unknown learner '{name}' (known: {', '.join(list_learners())})")
    return entry
