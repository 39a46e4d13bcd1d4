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


def test_the_closing_and_digest_lines_give_the_median_llm_seconds_a_stage(tmp_path):
    """Stage records as the callback writes them (only the keys these lines read)."""
    import json

    from vlcat.catalyst.console import closing_line
    from vlcat.rundir import STAGE_DIR

    per_stage = [{"llm_s": 1.0}, {"llm_s": 4.0}, {"llm_s": 2.0}]
    line = closing_line({"proposer": "llm", "stages": 3, "restarts": 1, "llm_unreached": 0, "per_stage": per_stage})
    assert line is not None and "3 LLM stage(s), 1 restart(s)" in line and "LLM 2.0 s a stage (median)" in line
    assert closing_line({"proposer": "random", "stages": 3, "per_stage": per_stage}) is None
    (tmp_path / STAGE_DIR).mkdir()
    for k, s in enumerate([1.5, 0.5, 9.0], start=1):
        (tmp_path / STAGE_DIR / f"stage_{k}.json").write_text(json.dumps({
            "proposer": "llm", "usable": {"requested": 8, "accepted": 2}, "timings": {"llm_s": s},
            "decision": {"restart": False, "reason": "the current context won"}}))
    assert digest([tmp_path])[0].endswith("; LLM 1.5 s a stage (median)")
