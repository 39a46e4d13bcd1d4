"""The catalyst is visible: a console line per LLM stage, a warning when a stage cannot reach its LLM (a real
closed loopback port, no fake), a closing warning and a record mark when none did, the report's footnote,
and the stage decisions in TensorBoard."""

from __future__ import annotations

import json

from vlcat.catalyst import build_catalyst  # noqa: F401 - registers the catalyst callback builder
from vlcat.catalyst.console import digest
from vlcat.config import load_config
from vlcat.report import make_report
from vlcat.testing import tiny_overrides
from vlcat.train.run import run_training

DEAD = "http://127.0.0.1:9/v1"  # nothing listens on the discard port: connection refused


def test_a_catalyst_run_without_its_llm_says_so(tiny_data, tiny_model_file, tmp_path, capsys):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    root, card = tiny_data
    run = tmp_path / "sweep" / "run"
    cfg = load_config(overrides=tiny_overrides(root, card, tiny_model_file, tmp_path / "cache", run, **{
        "catalyst.enabled": True, "catalyst.epochs": "[1,2]", "catalyst.snapshots_per_stage": 2,
        "catalyst.policy": "lookahead", "llm.base_url": DEAD, "llm.max_retries": 0, "llm.timeout": 5,
        "train.tensorboard": True}))
    record = run_training(cfg)
    err = capsys.readouterr().err
    stage_lines = [ln for ln in err.splitlines() if ln.startswith("[catalyst] stage ")]
    assert [ln.split()[2] for ln in stage_lines] == ["1/2", "2/2"]
    assert all("race on validation after" in ln and ("continue from" in ln or "restart from" in ln)
               for ln in stage_lines), stage_lines
    assert err.count("could not reach its LLM") == 2
    assert "none of this run's 2 LLM stage(s) reached the LLM" in err
    cat = record["catalyst"]
    assert cat["all_llm_failed"] is True and cat["llm_unreached"] == 2
    stage = json.loads((run / "llm_stages" / "stage_1.json").read_text())
    assert stage["summary"] == stage_lines[0]
    assert "could not reach the LLM" in digest([run])[0]

    markdown, _, problems = make_report([str(tmp_path / "sweep")], "")
    assert any(p.startswith("‡ ") and str(run) in p for p in problems)
    assert "no LLM stage reached the LLM" in markdown

    events = EventAccumulator(str(run / "tensorboard"))
    events.Reload()
    texts = {t for t in events.Tags()["tensors"] if t.startswith("catalyst/stage_")}
    assert texts == {"catalyst/stage_1/text_summary", "catalyst/stage_2/text_summary"}
    first = events.Tensors("catalyst/stage_1/text_summary")[0].tensor_proto.string_val[0].decode()
    assert first == stage_lines[0]
    assert len(events.Scalars("catalyst/restarted")) == 2
