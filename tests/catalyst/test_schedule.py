"""When LLM stages run and where the trajectory is sampled."""

from __future__ import annotations

from vlcat.catalyst.schedule import snapshot_steps, stage_bounds, stage_epochs


def test_explicit_epochs_are_sorted_unique_and_honoured():
    assert stage_epochs(10, epochs=[5, 2, 5, 10]) == [2, 5, 10]


def test_rounds_spread_evenly_over_the_leading_span():
    assert stage_epochs(200, rounds=2, span=0.5) == [50, 100]
    assert stage_epochs(10, rounds=3, span=1.0) == [3, 7, 9]  # 3.33, 6.67, 10 -> never the last epoch
    assert stage_epochs(4, rounds=4, span=0.5) == [1, 2]  # colliding stages merge
    assert stage_epochs(5, rounds=1, span=0.5) == [3]  # 2.5 rounds half up, not to even


def test_no_stage_when_none_fits():
    assert stage_epochs(1, rounds=3, span=1.0) == []
    assert stage_epochs(10, rounds=0, span=1.0) == []
    assert all(e < 7 for e in stage_epochs(7, rounds=50, span=1.0))


def test_stage_bounds_cover_the_epochs_since_the_previous_stage():
    schedule = [2, 5]
    assert stage_bounds(schedule, 0) == (0, 2)
    assert stage_bounds(schedule, 1) == (2, 5)


def test_snapshots_are_evenly_spaced_and_end_at_the_stage_end():
    assert snapshot_steps(0, 8, 4) == [2, 4, 6, 8]
    assert snapshot_steps(10, 20, 3) == [14, 17, 20]
    assert snapshot_steps(0, 3, 8) == [1, 2, 3]  # fewer steps than snapshots: each step once
    assert snapshot_steps(5, 5, 4) == []
