"""The look-ahead stage decision, in-process, with a stub proposer (no LLM): fast and deterministic.

The tiny model is real (open_clip, random weights) and so are the tiny PNG images. To know in advance
which starter *must* win, the validation labels are set to one starter's own predictions: that starter
is then 100 % correct on validation, any starter that predicts differently is not. The learning rate is
tiny so that the few look-ahead steps do not change predictions (checked, not assumed).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from vlcat.catalyst.callback import CatalystCallback
from vlcat.catalyst.parse import Candidate
from vlcat.catalyst.proposers import Proposals
from vlcat.catalyst.race import rung_targets, switch_test
from vlcat.config import load_config
from vlcat.testing import StopAtStep, tiny_overrides
from vlcat.train.features import FeatureCache
from vlcat.train.run import load_model, make_learner, prepare_data, run_training, seed_everything
from vlcat.train.trainer import RunInterrupted, Trainer

TEXTS = ["bright shiny", "a close up", "sharp picture of a"]
"""Texts whose re-embedded contexts predict differently from each other, the template and the start
(checked in ``distinct``), so that labelling validation by one of them makes exactly that one right."""


class StubProposer:
    """Hands the stage fixed texts, as an LLM reply would after parsing."""

    kind = "stub"

    def __init__(self, texts: list[str]) -> None:
        self.texts = texts
        self.calls = 0

    def propose(self, shown, seen, seed, snapshots=()):
        self.calls += 1
        return Proposals(accepted=[Candidate(t, t, 0, "stub") for t in self.texts], requested=len(self.texts))


class Setup:
    def __init__(self, tiny_data, tiny_model_file, tmp_path: Path, **extra) -> None:
        root, card = tiny_data
        over = {"catalyst.enabled": True, "catalyst.policy": "lookahead", "catalyst.proposer": "none",
                "catalyst.epochs": "[1]", "optim.lr": 1e-7, "optim.warmup_epoch": 0, "catalyst.race_size": 4,
                "catalyst.plot": False, **extra}
        self.cfg = load_config(overrides=tiny_overrides(root, card, tiny_model_file, tmp_path / "cache",
                                                        tmp_path / "run", **over))
        seed_everything(self.cfg.train.seed)  # the tiny model's random weights, as in run_training
        self.splits = prepare_data(self.cfg)
        clip = load_model(self.cfg)
        self.learner = make_learner(self.cfg, clip, self.splits).to(clip.device)
        self.requested: list[set[str]] = []
        cache = FeatureCache(tmp_path / "cache")
        original = cache.features

        def spy(clip_, items, *args, **kwargs):
            self.requested.append({str(it.path) for it in items})
            return original(clip_, items, *args, **kwargs)

        cache.features = spy  # records which images were encoded or read: the test split must never be
        run_dir = tmp_path / "run"
        run_dir.mkdir(parents=True, exist_ok=True)
        self.catalyst = CatalystCallback(self.cfg, run_dir, self.splits)
        self.trainer = Trainer(self.cfg, clip, self.learner, self.splits.train, run_dir, cache, [self.catalyst],
                               val_items=self.splits.val)
        self.runner = self.catalyst.runner(self.trainer)

    def predictions(self, ctx: torch.Tensor) -> torch.Tensor:
        feats = self.runner.scorer.val[0]
        with torch.no_grad():
            return self.learner.context_logits(ctx.unsqueeze(0), [feats])[0][0].argmax(-1)

    def text_ctx(self, text: str) -> torch.Tensor:
        return self.runner.reembedder.context(text, self.learner.get_context())

    def label_val_by(self, ctx: torch.Tensor) -> None:
        feats = self.runner.scorer.val[0]
        self.runner.scorer.val = (feats, self.predictions(ctx))

    def distinct(self, text: str) -> None:
        others = [self.learner.get_context()] + [self.text_ctx(t) for t in TEXTS + ["a photo of a"] if t != text]
        mine = self.predictions(self.text_ctx(text))
        assert all(_differs(mine, self.predictions(o)) for o in others)

    def stage(self, proposer: StubProposer) -> dict:
        self.runner.proposer = proposer
        return self.runner.run(self.trainer, stage=1, epoch=1, snapshots=[], template="a photo of a", history=[],
                               seen=[]).to_record()

    def no_test_split_touched(self) -> None:
        test = {str(it.path) for it in self.splits.test}
        assert self.requested, "the spy saw no feature request"
        assert all(not (req & test) for req in self.requested)


def _differs(a: torch.Tensor, b: torch.Tensor) -> bool:
    return bool((a != b).any())


def test_rung_targets_halve_the_field():
    assert rung_targets(1, 12) == []
    assert rung_targets(2, 12) == [6]
    assert rung_targets(4, 12) == [3, 6]
    assert rung_targets(5, 12) == [1, 3, 6]
    assert rung_targets(4, 1) == [1, 1]
    assert rung_targets(4, 0) == [0, 0]


def test_switch_test_is_mcnemars_paired_statistic():
    t = torch.tensor
    # b = 4 images only the text gets right, c = 0: z = 4 / 2 = 2
    assert switch_test(t([1, 1, 1, 1, 1, 0], dtype=torch.bool), t([0, 0, 0, 0, 1, 0], dtype=torch.bool), 1.645) == {
        "b": 4, "c": 0, "z": 2.0, "threshold": 1.645, "switch": True}
    # b = 3, c = 1: z = 1 < 1.645 keeps the incumbent; a zero threshold switches on any gain
    text, inc = t([1, 1, 1, 0, 1], dtype=torch.bool), t([0, 0, 0, 1, 1], dtype=torch.bool)
    assert switch_test(text, inc, 1.645)["switch"] is False
    assert switch_test(text, inc, 0.0)["switch"] is True
    # no discordant image, or a loss: never a switch, whatever the threshold
    assert switch_test(inc, inc, 0.0)["switch"] is False
    assert switch_test(inc, text, 0.0)["switch"] is False


def test_the_incumbent_runs_every_rung_and_an_insignificant_gain_keeps_it(tiny_data, tiny_model_file, tmp_path):
    """The text the validation labels favour is better, but not by enough for an impossible threshold: the
    current context keeps its place, having run the whole look-ahead while it trailed that text."""
    s = Setup(tiny_data, tiny_model_file, tmp_path, **{"catalyst.switch_z": 1e6})
    target = s.text_ctx(TEXTS[1])
    s.distinct(TEXTS[1])
    s.label_val_by(target)
    before = s.trainer.global_step
    rec = s.stage(StubProposer(TEXTS))
    race = rec["decision"]["race"]
    assert rec["decision"]["restart"] is False and race["winner"]["source"] == "current"
    inc = race["starters"][0]
    assert inc["source"] == "current" and inc["eliminated_at"] is None
    assert [r["steps"] for r in inc["rungs"]] == [*race["rungs"], race["steps"]]
    assert race["rungs"] == rung_targets(3, race["steps"])
    test = race["switch_test"]
    assert test["text"] == TEXTS[1] and test["b"] > test["c"] and test["switch"] is False
    assert "not significant" in rec["decision"]["reason"]
    # the finalist ran the whole look-ahead too, the other texts stopped at a rung
    finished = [st for st in race["starters"][1:] if st["eliminated_at"] is None]
    assert len(finished) == 1 and finished[0]["text"] == TEXTS[1]
    assert s.trainer.global_step == before + race["steps"]
    assert rec["timings"]["committed_s"] > 0


def test_the_current_context_wins_when_every_text_is_worse(tiny_data, tiny_model_file, tmp_path):
    s = Setup(tiny_data, tiny_model_file, tmp_path)
    current = s.learner.get_context()
    s.label_val_by(current)
    assert all(_differs(s.predictions(s.text_ctx(t)), s.predictions(current)) for t in TEXTS)
    before = s.trainer.global_step
    rec = s.stage(StubProposer(TEXTS))
    dec = rec["decision"]
    assert dec["restart"] is False and dec["race"]["winner"]["source"] == "current"
    starters = dec["race"]["starters"]
    assert starters[0]["source"] == "current" and len(starters) == 4
    assert {st["source"] for st in starters[1:]} <= {"stub", "template"}
    assert dec["race"]["winner"]["val_acc"] == 100.0
    steps = s.trainer.steps_per_epoch
    assert dec["race"]["steps"] == steps and s.trainer.global_step == before + steps
    # the look-ahead was made of the next epoch's own steps: the winner's state is what training would reach
    s.no_test_split_touched()


def test_a_better_text_wins_and_training_continues_from_its_lookahead(tiny_data, tiny_model_file, tmp_path):
    s = Setup(tiny_data, tiny_model_file, tmp_path)
    current = s.learner.get_context()
    target = s.text_ctx(TEXTS[1])
    s.distinct(TEXTS[1])
    assert _differs(s.predictions(target), s.predictions(current))
    s.label_val_by(target)
    rec = s.stage(StubProposer(TEXTS))
    dec = rec["decision"]
    assert dec["restart"] is True and dec["chosen"]["text"] == TEXTS[1] and dec["chosen"]["source"] == "stub"
    win = dec["race"]["winner"]
    assert win["text"] == TEXTS[1] and win["steps"] == s.trainer.steps_per_epoch
    # the learner sits at the winner's look-ahead state: near the text's embedding (lr is tiny), not at it
    assert torch.allclose(s.learner.get_context(), target, atol=1e-3)
    assert s.trainer._ahead is not None and s.trainer._ahead["steps"] == win["steps"]
    assert len(s.trainer._ahead["losses"]) == win["steps"]
    assert dec["momentum_reset"] is True
    s.no_test_split_touched()


def test_validation_not_training_loss_decides(tiny_data, tiny_model_file, tmp_path):
    """A starter that fits the training images better loses to one that is right on the validation images."""
    s = Setup(tiny_data, tiny_model_file, tmp_path)
    fitter = s.text_ctx(TEXTS[0])
    right = s.text_ctx(TEXTS[2])
    assert _differs(s.predictions(fitter), s.predictions(right))
    s.label_val_by(right)
    fit_f, right_f = s.runner.scorer.score(torch.stack([fitter, right]))
    # make the other text the better one on training loss, if it is not already, by swapping the roles
    if fit_f.loss > right_f.loss:
        s.label_val_by(fitter)
        TEXTS_ = [TEXTS[2], TEXTS[0]]
    else:
        TEXTS_ = [TEXTS[0], TEXTS[2]]
    rec = s.stage(StubProposer(TEXTS_))
    dec = rec["decision"]
    by_text = {c["text"]: c for c in rec["candidates"]}
    assert by_text[TEXTS_[0]]["loss"] <= by_text[TEXTS_[1]]["loss"]  # better on training images ...
    assert dec["chosen"]["text"] == TEXTS_[1]  # ... but the held-out images decide
    s.no_test_split_touched()


def test_paper_rules_select_on_validation_too(tiny_data, tiny_model_file, tmp_path):
    s = Setup(tiny_data, tiny_model_file, tmp_path, **{"catalyst.policy": "best"})
    target = s.text_ctx(TEXTS[2])
    s.distinct(TEXTS[2])
    s.label_val_by(target)
    rec = s.stage(StubProposer(TEXTS))
    assert rec["decision"]["restart"] and rec["decision"]["chosen"]["text"] == TEXTS[2]
    assert rec["decision"]["chosen"]["val_acc"] == 100.0
    s.no_test_split_touched()


def _ctx(run: Path) -> torch.Tensor:
    return torch.load(run / "checkpoint.pt", weights_only=True)["learner"]["ctx"]


def _cfg(tiny_data, tiny_model_file, tmp_path, name, **extra):
    root, card = tiny_data
    return load_config(overrides=tiny_overrides(root, card, tiny_model_file, tmp_path / "cache", tmp_path / name,
                                                **{"train.log_every": 1, "optim.max_epoch": 4, **extra}))


LOOKAHEAD = {"catalyst.enabled": True, "catalyst.policy": "lookahead", "catalyst.epochs": "[1,2]",
             "catalyst.plot": False, "catalyst.snapshots_per_stage": 2}


def test_a_race_the_current_context_always_wins_is_plain_coop_bitwise(tiny_data, tiny_model_file, tmp_path):
    """With the current context as the only starter the look-ahead is the next epoch's first steps, kept:
    the run must be plain CoOp bit for bit (same batches, LR, optimizer state, step count)."""
    plain = run_training(_cfg(tiny_data, tiny_model_file, tmp_path, "plain"))
    raced = run_training(_cfg(tiny_data, tiny_model_file, tmp_path, "raced", **LOOKAHEAD, **{
        "catalyst.proposer": "none", "catalyst.race_size": 1}))
    assert torch.equal(_ctx(tmp_path / "plain"), _ctx(tmp_path / "raced"))
    assert plain["metrics"] == raced["metrics"]
    assert raced["final_train"]["global_step"] == plain["final_train"]["global_step"]
    assert raced["final_train"]["loss"] == plain["final_train"]["loss"]
    stage = json.loads((tmp_path / "raced" / "llm_stages" / "stage_1.json").read_text())
    assert stage["decision"]["race"]["winner"]["source"] == "current"


@pytest.mark.parametrize("stop", [7, 11])
def test_resume_after_a_raced_stage_is_exact(tiny_data, tiny_model_file, tmp_path, stop):
    """The random control (no LLM) restarts deterministically; a run stopped after the first race (in the
    epoch whose first steps the race took, or later) and resumed ends exactly as the uninterrupted one."""
    # 4 steps an epoch; the races take steps 5-6 and 9-10; the stops fall right after each race
    over = {**LOOKAHEAD, "catalyst.proposer": "random", "catalyst.num_candidates": 4, "optim.lr": 0.5,
            "catalyst.lookahead_steps": 2}
    full = run_training(_cfg(tiny_data, tiny_model_file, tmp_path, "full", **over))
    from vlcat.catalyst import build_catalyst

    cfg = _cfg(tiny_data, tiny_model_file, tmp_path, "killed", **over)
    cat = build_catalyst(cfg, Path(cfg.output_dir), prepare_data(cfg))
    with pytest.raises(RunInterrupted):
        run_training(cfg, callbacks=[cat, StopAtStep(stop)])
    resumed = run_training(cfg, resume=True)
    assert torch.equal(_ctx(tmp_path / "full"), _ctx(tmp_path / "killed"))
    assert full["metrics"] == resumed["metrics"]
    for k in (1, 2):
        f, r = (json.loads((tmp_path / d / "llm_stages" / f"stage_{k}.json").read_text()) for d in ("full", "killed"))
        assert f["decision"]["race"] == r["decision"]["race"] and f["decision"]["race"]["steps"] == 2
    steps = full["final_train"]["global_step"]
    assert steps == 4 * (len(prepare_data(cfg).train) // 4)  # the races added no steps
