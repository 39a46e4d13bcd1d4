"""The catalyst against the REAL vLLM server (SmolLM2-135M on the CPU): two look-ahead stages in a tiny run.

Stage 1 asks the real model (the ``variations`` meta-prompt, two samples) and races the current context
against the best texts; the log must show the request, the replies, the usable share and the race
(starters, steps, validation scores, winner), and the learner must sit at the winner's state. Whether
SmolLM2 proposes anything usable is not asserted. Before stage 2 the client is pointed at a closed port
(a real connection fault, without killing the shared server): the stage records the failure and still
races the texts it has (snapshots, template), so training goes on and ends normally.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from vlcat.catalyst import build_catalyst
from vlcat.config import load_config
from vlcat.testing import tiny_overrides
from vlcat.train.run import prepare_data, run_training
from vlcat.train.trainer import TrainerCallback

pytestmark = [pytest.mark.llm, pytest.mark.slow]

STAGE_KEYS = {"stage", "epoch", "global_step", "status", "error", "endpoint", "current", "trajectory", "reference",
              "meta_prompt", "llm", "replies", "candidates", "rejected", "decision", "timings"}


def _url_and_model(server: Any) -> tuple[str, str]:
    """The session fixture's server, whatever its shape (a ServerHandle, or an object/dict with base_url)."""
    if isinstance(server, dict):
        return server.get("base_url") or server["url"], server.get("model") or server["served_name"]
    url = getattr(server, "base_url", None) or server.url
    model = getattr(server, "served_name", None) or server.model
    return url, model


class AfterStageOne(TrainerCallback):
    def __init__(self, catalyst, closed_url: str) -> None:
        self.catalyst, self.closed_url, self.ctx = catalyst, closed_url, None

    def on_epoch_end(self, trainer, epoch: int, summary: dict[str, Any]) -> None:
        if epoch == 1:
            self.ctx = trainer.learner.ctx.detach().clone()
            self.catalyst.endpoint.redirect(self.closed_url)


def test_two_stages_against_the_real_server(llm_server, tiny_data, tiny_model_file, tmp_path, closed_url):
    url, model = _url_and_model(llm_server)
    root, card = tiny_data
    cfg = load_config(overrides=tiny_overrides(root, card, tiny_model_file, tmp_path / "cache", tmp_path / "run", **{
        "catalyst.enabled": True, "catalyst.epochs": "[1,2]", "catalyst.snapshots_per_stage": 2,
        "catalyst.num_candidates": 4, "catalyst.num_requests": 2, "llm.base_url": url, "llm.model": model,
        "catalyst.policy": "lookahead", "catalyst.meta_prompt": "variations",
        "llm.max_tokens": 200, "llm.temperature": 0.7, "llm.max_retries": 0, "llm.timeout": 90,
        "train.log_every": 1}))
    catalyst = build_catalyst(cfg, Path(cfg.output_dir), prepare_data(cfg))
    probe = AfterStageOne(catalyst, closed_url)
    record = run_training(cfg, callbacks=[catalyst, probe])

    run = tmp_path / "run"
    s1 = json.loads((run / "llm_stages" / "stage_1.json").read_text())
    s2 = json.loads((run / "llm_stages" / "stage_2.json").read_text())
    assert set(s1) >= STAGE_KEYS and set(s2) >= STAGE_KEYS
    # stage 1: the real model answered, its replies were parsed, and the race ran and was logged
    assert s1["proposer"] == "llm" and s1["meta_prompt"]["style"] == "variations"
    assert len(s1["replies"]) == 2 and s1["llm"]["model"] == model and s1["meta_prompt"]["constrained"]
    assert "exactly 4 words" in s1["meta_prompt"]["messages"][1]["content"]
    assert s1["usable"]["requested"] == 8 and s1["usable"]["accepted"] == len(s1["candidates"])
    assert s1["trajectory"] and all(t["fitness"] and t["similarities"] for t in s1["trajectory"])
    assert all({"loss", "val_acc", "val_loss"} <= set(c) for c in s1["candidates"])
    race = s1["decision"]["race"]
    assert race["steps"] == 4 and race["starters"][0]["source"] == "current"
    assert 2 <= len(race["starters"]) <= 4  # current + the best texts (snapshots, template, proposals)
    assert all(st["rungs"] and st["rungs"][0]["val_acc"] is not None for st in race["starters"])
    win = race["winner"]
    assert win["steps"] == 4 and s1["decision"]["restart"] == (win["source"] != "current")
    def key(r):
        return (-r["val_acc"], r["val_loss"])

    for st in race["starters"]:  # whoever was dropped at a rung was behind a survivor at that rung
        if st["eliminated_at"] is not None:
            mine = st["rungs"][-1]
            rivals = [r for o in race["starters"] if o is not st and o["eliminated_at"] != mine["steps"]
                      for r in o["rungs"] if r["steps"] == mine["steps"]]
            assert any(key(r) <= key(mine) for r in rivals)
    assert catalyst._runner.decoder.decode(probe.ctx).text == s1["decision"]["decoded_after"]
    # stage 2: the server is unreachable -> recorded failure, the race still ran on the other texts
    assert s2["status"] == "failed" and s2["error"]["type"] == "LLMConnectionError"
    assert s2["decision"]["race"]["starters"][0]["source"] == "current"
    summary = record["catalyst"]
    assert (s1["status"] == "ok") == bool(s1["candidates"])  # "failed" = no usable proposal, nothing else
    assert (summary["stages"], summary["failed"]) == (2, 1 + (s1["status"] != "ok"))
    assert record["status"] == "finished" and record["final_train"]["epoch"] == 3
    assert record["final_train"]["global_step"] == 12  # the races took steps of the run, none extra
    assert (run / "loss_curve.png").is_file()
    lines = [json.loads(x) for x in (run / "metrics.jsonl").read_text().splitlines()]
    assert [x["status"] for x in lines if x["type"] == "llm_stage"] == [s1["status"], "failed"]
    assert all("race" in x for x in lines if x["type"] == "llm_stage")
