"""Constructing a learner class gives its paper's released learner, as its YAML states it.

A library user who writes ``CoCoOp(clip, names)`` must get the authors' 4 vectors from "a photo of a",
not CoOp's 16 random ones; the YAMLs keep stating the same settings for the CLI. Every key the YAML sets
on the learner node (shared context options and the learner's own options) is compared with the default
of the constructor parameter of the same name, searched from the class up its bases as Python resolves
keyword arguments passed through ``**kwargs``.
"""

from __future__ import annotations

import dataclasses
import inspect

import pytest
from omegaconf import OmegaConf

from vlcat.config import CONFIG_DIR, ContextOptions
from vlcat.learners import list_learners
from vlcat.learners.registry import get_learner

#: Config keys that choose *what* from_config hands the class rather than mirroring a parameter: which
#: template table to read (the class takes the template string itself; its default is checked below).
CONFIG_ONLY = {"templates"}


def constructor_defaults(cls: type) -> dict[str, object]:
    """Keyword defaults of ``cls(...)``: a subclass's own parameter wins over its bases' (``**kwargs``)."""
    out: dict[str, object] = {}
    for klass in cls.__mro__:
        init = klass.__dict__.get("__init__")
        if init is None:
            continue
        for p in inspect.signature(init).parameters.values():
            if p.default is not inspect.Parameter.empty:
                out.setdefault(p.name, p.default)
    return out


@pytest.mark.parametrize("name", list_learners())
def test_class_defaults_equal_the_released_yaml(name):
    entry = get_learner(name)
    yaml = OmegaConf.load(CONFIG_DIR / "learners" / f"{name}.yaml")
    node = OmegaConf.to_container(yaml.learner)
    defaults = constructor_defaults(entry.cls)
    shared = {f.name for f in dataclasses.fields(ContextOptions)} - {"name"}
    checked = []
    for key, value in node.items():
        if key == "name":
            continue
        if key == name:  # the learner's own options
            for opt, opt_value in value.items():
                if opt in CONFIG_ONLY:
                    continue
                assert opt in defaults, f"{name}: option {opt} has no constructor parameter"
                assert defaults[opt] == opt_value, f"{name}.{opt}: class {defaults[opt]!r}, YAML {opt_value!r}"
                checked.append(opt)
            continue
        assert key in shared, f"{name}.yaml sets unknown learner key {key}"
        if not entry.cls.has_context and key not in defaults:  # a learner without a context ignores them
            continue
        assert defaults[key] == value, f"{name}: class default {key}={defaults[key]!r}, YAML {value!r}"
        checked.append(key)
    if entry.cls.has_context or {"n_ctx", "ctx_init"} <= set(defaults):  # deep prompt learners have a context too
        assert {"n_ctx", "ctx_init"} <= set(checked), f"{name}.yaml must state n_ctx and ctx_init"
    if "template" in defaults:  # the papers' prompt for datasets outside their tables
        assert defaults["template"] == "a photo of a {}."


def test_cocoop_kgcoop_prograd_classes_build_their_papers_learners(tiny_clip):
    from vlcat.learners.cocoop import CoCoOp
    from vlcat.learners.kgcoop import KgCoOp
    from vlcat.learners.prograd import ProGrad

    names = ["red circle", "blue square"]
    for cls in (CoCoOp, KgCoOp):
        learner = cls(tiny_clip, names)
        assert learner.n_ctx == 4 and learner.prompt_text() == "a photo of a {}."
    prograd = ProGrad(tiny_clip, names)
    assert prograd.n_ctx == 16 and float(prograd.ctx.detach()[:12].abs().sum()) == 0.0
    assert prograd.prompt_text().endswith("a photo of a {}.")
