"""The light list of learners (the config schema's) and the registry (the torch classes) agree."""

from __future__ import annotations

import dataclasses

import pytest

from vlcat.config import LearnerConfig
from vlcat.learners.options import LEARNER_OPTIONS
from vlcat.learners.registry import get_learner, list_learners, register_learner


def test_every_listed_learner_is_registered_with_its_options():
    assert list_learners() == sorted(LEARNER_OPTIONS)
    for name, options in LEARNER_OPTIONS.items():
        assert get_learner(name).options is options


def test_schema_has_one_node_per_learner_with_options():
    nodes = {f.name for f in dataclasses.fields(LearnerConfig)}
    assert {n for n, o in LEARNER_OPTIONS.items() if o is not None} <= nodes
    assert "coop" not in nodes  # CoOp's options are the shared context options


def test_registry_refuses_a_learner_the_schema_lacks():
    with pytest.raises(ValueError, match="not in vlcat.learners.options.LEARNER_OPTIONS"):
        register_learner("not_a_listed_learner")


def test_registry_refuses_options_other_than_the_listed_ones():
    @dataclasses.dataclass
    class Other:
        weight: float = 1.0

    with pytest.raises(ValueError, match="registers options Other, but .* lists KgCoOpOptions"):
        register_learner("kgcoop", options=Other)
