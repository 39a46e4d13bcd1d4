"""The catalyst inside real training runs (tiny model, tiny PNG dataset).

Normal behaviour runs against the REAL vLLM server (SmolLM2 on 127.0.0.1, the session fixture
``llm_server``; tests marked ``llm``). Its replies are weak and unpredictable, so these tests assert the
mechanics (stage logs, scoring, the recorded decision, the restart landing in the context, exact resume
and replay through the client's on-disk reply cache), never particular prompt texts. Connection faults
are real too (a closed loopback port). Only faults a real vLLM cannot produce on demand (HTTP 500, a
rejected schema, garbled replies) use the fake OpenAI-compatible server, and those tests say
``fake_server`` in their names. The two-stage run with a dead server before stage 2 is in
test_catalyst_llm.py.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import torch

from vlcat.catalyst import build_catalyst
from vlcat.config import load_config
from vlcat.errors import VlcatError
from vlcat.testing import StopAtStep, tiny_overrides
from vlcat.train.checkpoint import load_checkpoint
from vlcat.train.run import prepare_data, run_training
from vlcat.train.trainer import RunInterrupted, TrainerCallback

STAGE_KEYS = {"type", "stage", "epoch", "global_step", "status", "error", "endpoint", "policy", "current",
              "trajectory", "reference", "unscorable", "meta_prompt", "llm", "replies", "candidates", "rejected",
              "decision", "timings", "schedule"}


def _cfg(tiny_data, tiny_model_file, tmp_path, name, **extra):
    root, card = tiny_data
    extra.setdefault("train.log_every", 1)
    return load_config(overrides=tiny_overrides(root, card, tiny_model_file, tmp_path / "cache", tmp_path / name,
                                                **extra))


def _catalyst(url, **extra):
    return {"catalyst.enabled": True, "catalyst.epochs": "[1,2]", "catalyst.snapshots_per_stage": 3,
            "catalyst.num_candidates": 4, "llm.base_url": url, "llm.max_retries": 0, **extra}


def _real(server, **extra):
    """Catalyst settings for the real server: one short sample per stage keeps a stage to a few seconds."""
    return _catalyst(server.url, **{"llm.model": server.served_name, "catalyst.num_requests": 1,
                                    "llm.max_tokens": 128, "llm.temperature": 0.7, "llm.timeout": 120, **extra})


class AtEpochEnd(TrainerCallback):
    """Runs ``fn(trainer)`` after the catalyst's own on_epoch_end of epoch ``epoch``."""

    def __init__(self, epoch: int, fn) -> None:
        self.epoch, self.fn = epoch, fn

    def on_epoch_end(self, trainer, epoch: int, summary: dict[str, Any]) -> None:
        if epoch == self.epoch:
            self.fn(trainer)


def _run_with(cfg, *extra_callbacks, resume=False):
    cat = build_catalyst(cfg, Path(cfg.output_dir), prepare_data(cfg))
    return cat, run_training(cfg, resume=resume, callbacks=[cat, *extra_callbacks])


def _lines(run: Path, kind: str) -> list[dict]:
    return [r for r in map(json.loads, (run / "metrics.jsonl").read_text().splitlines()) if r["type"] == kind]


def test_disabled_catalyst_is_plain_coop_bitwise(tiny_data, tiny_model_file, tmp_path):
    plain = run_training(_cfg(tiny_data, tiny_model_file, tmp_path, "plain"))
    off = run_training(_cfg(tiny_data, tiny_model_file, tmp_path, "off", **{
        "catalyst.enabled": False, "catalyst.epochs": "[1,2]", "llm.base_url": "http://127.0.0.1:9/v1"}))
    a = load_checkpoint(tmp_path / "plain" / "checkpoint.pt")["learner"]["ctx"]
    b = load_checkpoint(tmp_path / "off" / "checkpoint.pt")["learner"]["ctx"]
    assert torch.equal(a, b)
    assert plain["metrics"] == off["metrics"]
    losses = [[(r["global_step"], r["loss"]) for r in _lines(tmp_path / d, "step")] for d in ("plain", "off")]
    assert losses[0] == losses[1]
    assert "catalyst" not in off and not (tmp_path / "off" / "llm_stages").exists()


@pytest.mark.llm
@pytest.mark.slow
def test_stages_log_score_and_restart(llm_server, tiny_data, tiny_model_file, tmp_path):
    cfg = _cfg(tiny_data, tiny_model_file, tmp_path, "run", **_real(llm_server))
    seen: dict[str, Any] = {}

    def grab(trainer):
        seen["ctx"] = trainer.learner.ctx.detach().clone()
        seen["momentum"] = dict(trainer.optimizer.state)

    cat, record = _run_with(cfg, AtEpochEnd(1, grab))
    run = tmp_path / "run"
    summary = record["catalyst"]
    assert summary["schedule"] == [1, 2] and summary["stages"] == 2
    files = [json.loads(p.read_text()) for p in sorted((tmp_path / "run" / "llm_stages").glob("stage_*.json"))]
    # the summary counts what the stage files on disk say (not the other way round)
    assert len(files) == 2 and summary["failed"] == sum(f["error"] is not None for f in files)
    assert summary["restarts"] == sum(bool(f["decision"]["restart"]) for f in files)
    stage1 = json.loads((run / "llm_stages" / "stage_1.json").read_text())
    assert set(stage1) >= STAGE_KEYS
    assert stage1["global_step"] == 4
    assert stage1["llm"]["model"] == llm_server.served_name and stage1["llm"]["cached"] is False
    assert stage1["meta_prompt"]["constrained"]
    assert 1 <= len(stage1["trajectory"]) <= 3
    assert all(t["fitness"] is not None and t["similarities"] for t in stage1["trajectory"])
    assert stage1["meta_prompt"]["messages"][1]["content"].count("% correct on held-out images") >= 2
    assert stage1["replies"]
    assert all({"loss", "acc", "val_acc", "val_loss", "placement"} <= set(c) for c in stage1["candidates"])
    # SmolLM2 may propose nothing usable: then the stage failed and did not restart (and that is all)
    assert (stage1["status"] == "ok") == bool(stage1["candidates"])
    dec = stage1["decision"]
    if stage1["status"] != "ok":
        assert not dec["restart"] and stage1["error"]["type"] == "NoValidCandidate"
        return
    assert dec["restart"] and dec["verified"] and dec["momentum_reset"]
    # the context right after the stage is the re-embedded chosen text
    plc = dec["placement"]
    ids = cat._runner.decoder.decode(seen["ctx"]).token_ids
    assert [ids[i] for i in plc["slots"]] == plc["token_ids"]
    assert seen["momentum"] == {}
    # the chosen text's fitness was measured on exactly that context
    best = min(stage1["candidates"] + [t["fitness"] | {"text": t["text"]} for t in stage1["trajectory"]],
               key=lambda c: (-c["val_acc"], c["val_loss"]))
    assert dec["chosen"]["text"] == best["text"]
    stage2 = json.loads((run / "llm_stages" / "stage_2.json").read_text())
    assert set(stage2) >= STAGE_KEYS and stage2["decision"]["restart"] == (stage2["status"] == "ok")
    lines = _lines(run, "llm_stage")
    assert [ln["stage"] for ln in lines] == [1, 2] and lines[0]["restarted"]
    assert [ln["status"] for ln in lines] == [stage1["status"], stage2["status"]]
    assert record["status"] == "finished" and record["final_train"]["epoch"] == 3
    assert (run / "loss_curve.png").stat().st_size > 1000


def test_required_llm_fails_before_training(tiny_data, tiny_model_file, tmp_path, closed_url):
    cfg = _cfg(tiny_data, tiny_model_file, tmp_path, "req", **_catalyst(closed_url, **{
        "llm.required": True, "llm.model": "m"}))
    with pytest.raises(VlcatError, match="llm.required=true") as info:
        run_training(cfg)
    assert "\n" not in str(info.value)
    assert not (tmp_path / "req").exists()


def test_unreachable_llm_without_required_trains_on(tiny_data, tiny_model_file, tmp_path, closed_url):
    cfg = _cfg(tiny_data, tiny_model_file, tmp_path, "noreq", **_catalyst(closed_url, **{
        "catalyst.epochs": "[1]", "optim.max_epoch": 2}))
    record = run_training(cfg)
    assert (record["catalyst"]["stages"], record["catalyst"]["failed"]) == (1, 1)
    stage = json.loads((tmp_path / "noreq" / "llm_stages" / "stage_1.json").read_text())
    assert stage["error"]["type"] in ("LLMUnavailable", "LLMConnectionError")


@pytest.mark.slow
def test_server_without_structured_outputs_is_asked_again_and_salvaged_fake_server(tiny_data, tiny_model_file,
                                                                                    tmp_path, fake_llm):
    """Fake server: vLLM always accepts the JSON schema, so a server without structured outputs (another
    OpenAI-compatible server) that answers in free text cannot be produced with the real one."""
    fake_llm.reject_schema = True
    fake_llm.reply = lambda req: ["Sure! Here are prompts:\n1. a photo of a\n2. \"a picture of the\"\n"]
    cfg = _cfg(tiny_data, tiny_model_file, tmp_path, "nostruct", **_catalyst(fake_llm.url, **{
        "catalyst.epochs": "[1]", "optim.max_epoch": 2, "catalyst.include_template": False}))
    record = run_training(cfg)
    stage = json.loads((tmp_path / "nostruct" / "llm_stages" / "stage_1.json").read_text())
    assert stage["status"] == "ok" and not stage["meta_prompt"]["constrained"]
    assert {c["text"] for c in stage["candidates"]} == {"a photo of a", "a picture of the"}
    assert {c["how"] for c in stage["candidates"]} == {"salvaged-lines"}
    assert record["catalyst"]["endpoint"]["structured"] is False
    assert [("response_format" in r) for r in fake_llm.requests] == [True, False]


@pytest.mark.slow
def test_http_errors_and_useless_replies_are_failures_not_crashes_fake_server(tiny_data, tiny_model_file, tmp_path,
                                                                               fake_llm):
    """Fake server: a real vLLM cannot be made to answer HTTP 500 on demand, nor SmolLM2 to reply with
    nothing but unusable prompts."""
    fake_llm.status = 500
    cfg = _cfg(tiny_data, tiny_model_file, tmp_path, "http", **_catalyst(fake_llm.url))
    switch = AtEpochEnd(1, lambda trainer: setattr(fake_llm, "status", 200))
    fake_llm.reply = lambda req: ['{"prompts": ["{}", "1. red", ""]}']
    _, record = _run_with(cfg, switch)
    stages = [json.loads((tmp_path / "http" / "llm_stages" / f"stage_{k}.json").read_text()) for k in (1, 2)]
    assert stages[0]["error"]["type"] == "LLMServerError"
    assert stages[1]["error"]["type"] == "NoValidCandidate" and stages[1]["rejected"]
    assert record["catalyst"]["failed"] == 2 and record["catalyst"]["restarts"] == 0


@pytest.mark.llm
@pytest.mark.slow
def test_resume_after_a_kill_ends_with_the_same_numbers(llm_server, tiny_data, tiny_model_file, tmp_path):
    """Both runs share the reply cache, so the killed and resumed run sees the replies the full run got."""
    over = _real(llm_server, **{"catalyst.snapshots_per_stage": 4, "optim.max_epoch": 4, "catalyst.epochs": "[1,3]"})
    _, full = _run_with(_cfg(tiny_data, tiny_model_file, tmp_path, "full", **over))
    cfg = _cfg(tiny_data, tiny_model_file, tmp_path, "killed", **over)
    with pytest.raises(RunInterrupted):
        _run_with(cfg, StopAtStep(6))  # mid-way through the second stage's trajectory
    _, resumed = _run_with(cfg, resume=True)
    a = load_checkpoint(tmp_path / "full" / "checkpoint.pt")["learner"]["ctx"]
    b = load_checkpoint(tmp_path / "killed" / "checkpoint.pt")["learner"]["ctx"]
    assert torch.equal(a, b)
    assert full["metrics"] == resumed["metrics"]
    strip = [{k: v for k, v in s.items() if not k.endswith("_s")} for s in full["catalyst"]["per_stage"]]
    assert strip == [{k: v for k, v in s.items() if not k.endswith("_s")} for s in resumed["catalyst"]["per_stage"]]
    for k in (1, 2):
        f, r = (json.loads((tmp_path / d / "llm_stages" / f"stage_{k}.json").read_text()) for d in ("full", "killed"))
        assert f["trajectory"] == r["trajectory"] and f["meta_prompt"] == r["meta_prompt"]
        assert f["decision"] == r["decision"] and f["status"] == r["status"]
        assert f["llm"]["cached"] is False and r["llm"]["cached"] is True
    assert len(_lines(tmp_path / "killed", "llm_stage")) == 2


@pytest.mark.llm
@pytest.mark.slow
def test_a_rerun_replays_llm_replies_from_the_cache(llm_server, tiny_data, tiny_model_file, tmp_path, closed_url):
    over = _real(llm_server)
    _, first = _run_with(_cfg(tiny_data, tiny_model_file, tmp_path, "first", **over))
    # same config, but the server is gone (a closed port): every reply comes from the cache
    over.update({"llm.base_url": closed_url})
    _, again = _run_with(_cfg(tiny_data, tiny_model_file, tmp_path, "again", **over))
    assert first["metrics"] == again["metrics"]
    assert again["catalyst"]["failed"] == first["catalyst"]["failed"]
    for k in (1, 2):
        f, a = (json.loads((tmp_path / d / "llm_stages" / f"stage_{k}.json").read_text()) for d in ("first", "again"))
        assert f["llm"]["cached"] is False and a["llm"]["cached"] is True
        assert a["replies"] == f["replies"] and a["decision"] == f["decision"]


def test_class_specific_context_with_the_class_first(tiny_data, tiny_model_file, tmp_path):
    """The restart mechanics for a class-specific context with the class first, with the random-proposal
    control (deterministic, no LLM: the test must not depend on what a small model happens to say)."""
    cfg = _cfg(tiny_data, tiny_model_file, tmp_path, "csc", **_catalyst("http://127.0.0.1:9/v1", **{
        "learner.csc": True, "learner.class_token_position": "front", "catalyst.epochs": "[1]",
        "optim.max_epoch": 2, "catalyst.length_rule": "pad_word", "catalyst.proposer": "random"}))
    seen: dict[str, Any] = {}
    cat, record = _run_with(cfg, AtEpochEnd(1, lambda t: seen.setdefault("ctx", t.learner.ctx.detach().clone())))
    stage = json.loads((tmp_path / "csc" / "llm_stages" / "stage_1.json").read_text())
    assert stage["proposer"] == "random" and stage["random"]["drawn"]
    assert stage["status"] == "ok", stage["error"]
    dec = stage["decision"]
    assert dec["restart"] and dec["verified"]
    decoder = cat._runner.decoder
    x = decoder.tokenizer.encode("X")[0]
    for row in seen["ctx"]:  # every class got the text, left-aligned, and the free slots the pad word
        ids = decoder.decode(row).token_ids
        assert [ids[i] for i in dec["placement"]["slots"]] == dec["placement"]["token_ids"]
        assert all(ids[i] == x for i in range(4) if i not in dec["placement"]["slots"])
    assert record["catalyst"]["restarts"] == 1


def test_the_loss_curve_can_be_redrawn_from_a_run_folder(tmp_path):
    from vlcat.catalyst import plot_loss_curve

    run = tmp_path / "r"
    run.mkdir()
    lines = [{"type": "step", "global_step": i, "loss": 2.0 / i} for i in range(1, 9)]
    lines += [{"type": "epoch", "global_step": 4, "loss": 1.0}, {"type": "epoch", "global_step": 8, "loss": 0.5}]
    lines += [{"type": "llm_stage", "global_step": 4, "status": "ok", "restarted": True, "chosen_loss": 0.9},
              {"type": "llm_stage", "global_step": 8, "status": "failed", "restarted": False}]
    (run / "metrics.jsonl").write_text("".join(json.dumps(x) + "\n" for x in lines) + '{"type": "st')
    out = plot_loss_curve(run, out=tmp_path / "curve.png")
    import numpy as np
    from PIL import Image

    with Image.open(out) as img:
        assert img.format == "PNG" and img.size == (800, 450)  # figsize 8 x 4.5 at 100 dpi
        pixels = np.asarray(img.convert("L"), dtype=float)
    # a drawn curve, not a blank canvas: some dark pixels (lines, text) on a mostly white page
    assert (pixels < 128).mean() > 0.005 and (pixels > 250).mean() > 0.5


@pytest.mark.slow
def test_a_server_error_on_the_constrained_request_falls_back_for_that_stage_fake_server(tiny_data,
                                                                                          tiny_model_file,
                                                                                          tmp_path, fake_llm):
    """Fake server: the grammar compiler crashing (HTTP 500 on schema-constrained requests only) cannot be
    triggered on demand in a real vLLM."""
    fake_llm.fail_constrained = 10  # every constrained request crashes, like xgrammar on a bad pattern
    fake_llm.reply = lambda req: ['{"prompts": ["a photo of a", "a vivid colour of"]}']
    cfg = _cfg(tiny_data, tiny_model_file, tmp_path, "s500", **_catalyst(fake_llm.url, **{
        "catalyst.epochs": "[1]", "optim.max_epoch": 2}))
    record = run_training(cfg)
    stage = json.loads((tmp_path / "s500" / "llm_stages" / "stage_1.json").read_text())
    assert stage["status"] == "ok" and not stage["meta_prompt"]["constrained"]
    assert stage["meta_prompt"]["fallback"].startswith("constrained request failed")
    assert [c["text"] for c in stage["candidates"]] == ["a vivid colour of"]
    assert record["catalyst"]["endpoint"]["structured"] is True  # a 500 does not switch structure off for good
