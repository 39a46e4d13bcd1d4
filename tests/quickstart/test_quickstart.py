"""The offline quickstart, shortened, end to end: real toy CLIP, real generated images, real vLLM server."""

from __future__ import annotations

import json

import pytest

from vlcat.cli.quickstart import main
from vlcat.sweeps import load_sweep, plan_sweep


def test_quickstart_config_validates():
    sweep = load_sweep("experiments/quickstart.yaml")
    runs = plan_sweep(sweep)
    assert sweep.protocol == "base2novel" and sweep.datasets == ["synth_shapes"]
    assert {r.method for r in runs} == {"zeroshot", "coop", "coop+catalyst"}


@pytest.mark.llm
@pytest.mark.slow
def test_short_quickstart_runs_end_to_end(llm_server, tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("VLCAT_CACHE", str(tmp_path / "cache"))
    rc = main([
        "-o", str(tmp_path / "qs"), "--data-root", str(tmp_path / "data"),
        "--llm-url", llm_server.url, "--llm-model", llm_server.served_name,
        "--set", "optim.max_epoch=2", "--set", "catalyst.rounds=1", "--set", "train.progress=false",
        "--set", "llm.max_tokens=96",
    ])
    out = capsys.readouterr()
    assert rc == 0, out.err
    assert "Base" in out.out and "HM" in out.out and "coop+catalyst" in out.out
    record = json.loads(next((tmp_path / "qs").rglob("coop+catalyst/**/record.json")).read_text())
    assert record["catalyst"]["stages"] == 1
    (stage,) = [json.loads(p.read_text()) for p in (tmp_path / "qs").rglob("coop+catalyst/**/llm_stages/stage_*.json")]
    assert record["catalyst"]["failed"] == (stage["error"] is not None)
    assert (tmp_path / "qs" / "report" / "report.md").is_file()
    assert llm_server.healthy()  # a server it did not start is left running


def test_the_quickstart_prints_the_setup_steps_this_make_ran(tmp_path, monkeypatch):
    from vlcat.cli.quickstart import setup_lines

    log = tmp_path / "setup-times"
    log.write_text("project-venv 86 1000\nllm-venv 98 1100\nllm-model 20 1130\nproject-venv 300 10\n")
    monkeypatch.setenv("VLCAT_SETUP_LOG", str(log))
    monkeypatch.setenv("VLCAT_MAKE_T0", "900")
    # the entry from an earlier make (ended at 10, before this make began at 900) is not this time's setup
    assert setup_lines(now=1200) == ["setup this time: project-venv 86 s, llm-venv 98 s, llm-model 20 s; "
                                     "make quickstart took 5 min 00 s in all"]
    monkeypatch.setenv("VLCAT_MAKE_T0", "2000")
    assert setup_lines(now=2061) == ["setup: everything was already installed; make quickstart took 1 min 01 s in all"]
    monkeypatch.delenv("VLCAT_MAKE_T0")
    assert setup_lines() == []
