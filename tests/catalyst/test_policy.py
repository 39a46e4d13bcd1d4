"""Restart policies."""

from __future__ import annotations

import pytest

from vlcat.catalyst.fitness import Fitness
from vlcat.catalyst.metaprompt import ScoredText
from vlcat.catalyst.policy import choose


def st(text, loss, acc=50.0, source="llm"):
    return ScoredText(text, Fitness(loss, acc), source)


def test_best_restarts_from_the_best_text_even_if_worse_than_the_current_context():
    d = choose("best", [st("a", 2.0), st("b", 1.5)], [st("s", 1.8, source="trajectory")], Fitness(1.0, 90))
    assert d.restart and d.chosen.text == "b"


def test_best_may_choose_a_decoded_snapshot():
    d = choose("best", [st("a", 2.0)], [st("s", 1.2, source="trajectory")], Fitness(1.0, 90))
    assert d.restart and d.chosen.source == "trajectory"


def test_if_better_restarts_only_when_the_loss_beats_the_current_context():
    assert not choose("if_better", [st("a", 1.5)], [], Fitness(1.0, 90)).restart
    d = choose("if_better", [st("a", 0.5)], [], Fitness(1.0, 90))
    assert d.restart and d.chosen.text == "a"


def test_ties_break_on_accuracy_then_candidates_first():
    d = choose("best", [st("a", 1.0, 40), st("b", 1.0, 60)], [st("s", 1.0, 60, "trajectory")], Fitness(2, 0))
    assert d.chosen.text == "b"


def test_no_valid_candidate_means_no_restart():
    d = choose("best", [], [st("s", 0.1, source="trajectory")], Fitness(1.0, 90))
    assert not d.restart and d.chosen is None and "no valid" in d.reason
    with pytest.raises(ValueError):
        choose("worst", [st("a", 1)], [], Fitness(1, 1))
