"""Best-validation selection (``train.select_best_val``) on the tiny model and images."""

from __future__ import annotations

import torch

from vlcat.config import load_config
from vlcat.testing import tiny_overrides
from vlcat.train.run import evaluate_run, run_training


def _cfg(tiny_data, tiny_model_file, tmp_path, name, **extra):
    root, card = tiny_data
    return load_config(overrides=tiny_overrides(root, card, tiny_model_file, tmp_path / "cache", tmp_path / name,
                                                **{"optim.max_epoch": 4, "optim.lr": 0.5, **extra}))


def test_the_best_validation_epoch_is_kept_and_evaluated(tiny_data, tiny_model_file, tmp_path):
    last = run_training(_cfg(tiny_data, tiny_model_file, tmp_path, "last"))
    best = run_training(_cfg(tiny_data, tiny_model_file, tmp_path, "best", **{"train.select_best_val": True}))
    assert "selection" not in last
    sel = best["selection"]
    scores = sel["per_epoch"]
    assert [s["epoch"] for s in scores] == [1, 2, 3, 4]
    want = min(scores, key=lambda s: (-s["val_acc"], s["val_loss"], s["epoch"]))
    assert sel["best"]["epoch"] == want["epoch"] and sel["best"]["val_acc"] == want["val_acc"]
    # the same training either way; only the state evaluated differs (when the best epoch is not the last)
    assert best["final_train"]["loss"] == last["final_train"]["loss"]
    if want["epoch"] == 4:
        assert best["metrics"] == last["metrics"]
    # the checkpoint holds the selected state, so a later evaluation sees what the record reports
    again = evaluate_run(tmp_path / "best")
    assert again["metrics"]["accuracy"] == best["metrics"]["test"]["accuracy"]
    ckpt = torch.load(tmp_path / "best" / "checkpoint.pt", weights_only=True)
    assert torch.equal(ckpt["learner"]["ctx"], ckpt["callbacks"][-1]["best"]["state"]["ctx"])
