"""The style probe that calibrated the task: it runs on the committed model and refuses bad overrides."""

from __future__ import annotations

import pytest

from vlcat.cli import toy_probe as probe_toy_world
from vlcat.errors import DataError
from vlcat.synth.probe import probe, styled_task
from vlcat.synth.tasks import DEFAULT_TASK, TASKS


def test_styled_task_replaces_only_the_named_fields() -> None:
    task = styled_task(outline_width=0.0)
    assert task.style.outline_width == 0.0
    assert task.style.backgrounds == TASKS[DEFAULT_TASK].style.backgrounds
    assert TASKS[DEFAULT_TASK].style.outline_width > 0  # the shipped task is untouched


def test_unknown_style_field_is_a_clear_error() -> None:
    with pytest.raises(DataError, match="unknown Style field.*outline_widht"):
        styled_task(outline_widht=0.01)
    with pytest.raises(DataError, match="unknown synth task 'no_such_task'"):
        styled_task("no_such_task")


def test_probe_reports_accuracies_on_the_committed_model() -> None:
    r = probe(styled_task(), shots=2, test_per_class=1)
    assert set(r) >= {"base_zero_shot", "base_linear_probe", "novel_zero_shot"}
    assert all(0.0 <= r[k] <= 1.0 for k in ("base_zero_shot", "base_linear_probe", "novel_zero_shot"))


def test_tool_rejects_a_spec_that_is_not_a_mapping(capsys) -> None:
    assert probe_toy_world.main(["[0.1]"]) == 2
    assert "not a mapping" in capsys.readouterr().err
    assert probe_toy_world.main(["{no_such_field: 1}"]) == 2
    assert "unknown Style field" in capsys.readouterr().err
    assert probe_toy_world.main(["--task", "no_such_task", "{}"]) == 2
    assert "unknown synth task" in capsys.readouterr().err
    assert probe_toy_world.main(["{p_blur: [unclosed"]) == 2
    assert "not a mapping" in capsys.readouterr().err


def test_tool_probes_another_task(capsys) -> None:
    assert probe_toy_world.main(["--task", "photo_condition", "--shots", "2", "--test-per-class", "1",
                                 "{p_blur: 0.0}"]) == 0
    assert "photo_condition" in capsys.readouterr().out


def test_probe_scores_every_domain_prompt_of_the_card() -> None:
    from vlcat.data.cards import resolve_card

    task = TASKS["photo_condition"]
    r = probe(task, shots=2, test_per_class=2)
    assert list(r["base_domain"]) == resolve_card(task.card).domain_prompts
    assert all(0.0 <= v <= 1.0 for v in r["base_domain"].values())


def test_coop_column_is_the_base_to_novel_suites_coop_on_base_classes() -> None:
    out = probe_toy_world.coop_base_accuracy(probe_toy_world.ASSETS_DIR, [1], cards=["synth_photo_condition"])
    assert list(out) == ["synth_photo_condition"] and len(out["synth_photo_condition"]) == 1
    assert 1 / 3 < out["synth_photo_condition"][0] <= 1.0  # 3 base classes, 16 shots: well above chance
