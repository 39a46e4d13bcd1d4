"""The catalyst against the REAL vLLM server (SmolLM2-135M on the CPU): two LLM stages in a tiny run.

Stage 1 must produce a scored restart that really lands in the context vectors; before stage 2 the
client is pointed at a closed port (a real connection fault, without killing the shared server), so the
run must finish with exactly one recorded failure.
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
        "catalyst.num_candidates": 6, "catalyst.num_requests": 1, "llm.base_url": url, "llm.model": model,
        "llm.max_tokens": 200, "llm.temperature": 0.7, "llm.max_retries": 0, "llm.timeout": 90,
        "train.log_every": 1}))
    catalyst = build_catalyst(cfg, Path(cfg.output_dir), prepare_data(cfg))
    probe = AfterStageOne(catalyst, closed_url)
    record = run_training(cfg, callbacks=[catalyst, probe])

    run = tmp_path / "run"
    s1 = json.loads((run / "llm_stages" / "stage_1.json").read_text())
    s2 = json.loads((run / "llm_stages" / "stage_2.json").read_text())
    assert set(s1) >= STAGE_KEYS and set(s2) >= STAGE_KEYS
    # stage 1: the real model answered, its proposals were parsed and scored, and training restarted
    assert s1["status"] == "ok", s1["error"]
    assert s1["replies"] and s1["llm"]["model"] == model and s1["meta_prompt"]["constrained"]
    assert s1["trajectory"] and all(t["fitness"] and t["similarities"] for t in s1["trajectory"])
    assert s1["candidates"] and all("loss" in c and "acc" in c for c in s1["candidates"])
    dec = s1["decision"]
    assert dec["restart"] and dec["verified"]
    ids = catalyst._runner.decoder.decode(probe.ctx).token_ids  # decode the context right after the restart
    assert [ids[i] for i in dec["placement"]["slots"]] == dec["placement"]["token_ids"]
    assert ids != s1["current"]["token_ids"] or dec["chosen"]["source"] == "trajectory"
    # stage 2: the server is unreachable -> recorded failure, no restart, training finished
    assert s2["status"] == "failed" and s2["error"]["type"] == "LLMConnectionError"
    assert not s2["decision"]["restart"]
    summary = record["catalyst"]
    assert (summary["stages"], summary["succeeded"], summary["failed"], summary["restarts"]) == (2, 1, 1, 1)
    assert record["status"] == "finished" and record["final_train"]["epoch"] == 3
    assert (run / "loss_curve.png").is_file()
    lines = [json.loads(x) for x in (run / "metrics.jsonl").read_text().splitlines()]
    assert [x["status"] for x in lines if x["type"] == "llm_stage"] == ["ok", "failed"]
