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
