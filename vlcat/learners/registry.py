"""The learner registry: ``@register_learner("coop")`` on a learner class, as timm registers models.

A learner is found by the name in ``learner.name``; its own options (if any) are a dataclass of
:mod:`vlcat.learners.options` that becomes the config node ``learner.<name>``. The learner modules import
torch, so they are imported on first use rather than with the package: the first question to the registry
(:func:`get_learner`, :func:`list_learners`, :func:`learner_entries`) imports every module of
:mod:`vlcat.learners`, and each registers its learner. The config schema does not wait for that: it is built
from :data:`vlcat.learners.options.LEARNER_OPTIONS`, and a learner missing from that list is refused here.
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from vlcat.errors import ConfigError
from vlcat.learners.options import LEARNER_OPTIONS

T = TypeVar("T")


@dataclass(frozen=True)
class LearnerEntry:
    name: str
    cls: Any
    """The learner class (a :class:`vlcat.learners.base.PromptLearner` subclass)."""
    options: type | None
    """Dataclass of the learner's own config node ``learner.<name>``; None when it has no own options."""


_REGISTRY: dict[str, LearnerEntry] = {}
_loaded = False


def register_learner(name: str, options: type | None = None) -> Callable[[T], T]:
    """Class decorator: make a learner buildable as ``learner.name=<name>``.

    ``options`` is a dataclass of the learner's own settings (``learner.<name>.<key>``), the one
    :data:`~vlcat.learners.options.LEARNER_OPTIONS` lists for ``name`` (the schema is built from that list,
    so a learner it lacks could never be configured); the context settings every context learner shares
    (``learner.n_ctx``, ``learner.ctx_init``, ...) live on the ``learner`` node itself.
    """
    if not name.isidentifier():
        raise ValueError(f"learner name must be an identifier (it names a config node), got {name!r}")
    if name not in LEARNER_OPTIONS:
        raise ValueError(f"learner '{name}' is not in vlcat.learners.options.LEARNER_OPTIONS, which the config "
                         "schema is built from; add it there")
    if options is not LEARNER_OPTIONS[name]:
        listed = getattr(LEARNER_OPTIONS[name], "__name__", None)
        raise ValueError(f"learner '{name}' registers options {getattr(options, '__name__', None)}, but "
                         f"vlcat.learners.options.LEARNER_OPTIONS lists {listed}")

    def deco(cls: T) -> T:
        old = _REGISTRY.get(name)
        if old is not None and old.cls.__qualname__ != cls.__qualname__:
            raise ValueError(f"learner '{name}' is registered twice ({old.cls.__qualname__}, {cls.__qualname__})")
        cls.name = name  # type: ignore[attr-defined]
        _REGISTRY[name] = LearnerEntry(name, cls, options)
        return cls

    return deco


def _load_learners() -> None:
    """Import every module of :mod:`vlcat.learners` once (each registers its learner); check the list.

    Done on the first question to the registry rather than on import, because the modules import torch.
    """
    global _loaded
    if _loaded:
        return
    _loaded = True  # first: a learner module that asks the registry while loading must not recurse
    try:
        package = importlib.import_module("vlcat.learners")
        for mod in pkgutil.iter_modules(package.__path__):
            importlib.import_module(f"{package.__name__}.{mod.name}")
        missing = sorted(set(LEARNER_OPTIONS) - set(_REGISTRY))
        if missing:
            raise ValueError(f"vlcat.learners.options.LEARNER_OPTIONS lists {', '.join(missing)}, but no module "
                             "of vlcat.learners registers it")
    except BaseException:
        _loaded = False
        raise


def list_learners() -> list[str]:
    """Names of all registered learners, sorted."""
    _load_learners()
    return sorted(_REGISTRY)


def learner_entries() -> list[LearnerEntry]:
    return [_REGISTRY[n] for n in list_learners()]


def get_learner(name: str) -> LearnerEntry:
    """The registry entry for ``name``; an unknown name is a one-line error naming the known ones."""
    _load_learners()
    entry = _REGISTRY.get(name)
    if entry is None:
        raise ConfigError(f"unknown learner '{name}' (known: {', '.join(list_learners())})")
    return entry
