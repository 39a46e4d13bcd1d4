"""Endpoint resolution and the catalyst's config files."""

from __future__ import annotations

import pytest

from vlcat.catalyst.endpoint import connect, require_healthy
from vlcat.config import CONFIG_DIR, LLMConfig, load_config
from vlcat.errors import ConfigError, VlcatError


def test_configured_url_without_model_takes_the_served_model(fake_llm, tmp_path):
    ep = connect(LLMConfig(base_url=fake_llm.url), tmp_path)
    assert (ep.source, ep.model, ep.error) == ("config", "fake-llm", None)
    require_healthy(ep)


def test_unreachable_configured_url_is_recorded_not_raised(closed_url, tmp_path):
    ep = connect(LLMConfig(base_url=closed_url, timeout=5), tmp_path)
    assert ep.client is None and "cannot list models" in ep.error
    with pytest.raises(VlcatError, match="llm.required=true"):
        require_healthy(ep)


def test_no_url_no_running_server_and_no_start_is_unavailable(tmp_path, monkeypatch):
    monkeypatch.setenv("VLCAT_CACHE", str(tmp_path))  # an empty state file location
    ep = connect(LLMConfig(start_server=False), None)
    assert ep.source == "unavailable" and "start_server=false" in ep.error


def test_a_running_server_from_the_state_file_is_reused(tmp_path, monkeypatch, fake_llm):
    import json
    import os

    monkeypatch.setenv("VLCAT_CACHE", str(tmp_path))
    state = tmp_path / "llm" / "server.json"
    state.parent.mkdir(parents=True)
    state.write_text(json.dumps({"url": fake_llm.url, "pid": os.getpid(), "model": "/models/fake",
                                 "served_name": fake_llm.model}))
    ep = connect(LLMConfig(start_server=False), None)
    assert (ep.source, ep.url, ep.model) == ("reused", fake_llm.url, fake_llm.model)
    ep.close()  # a reused server is not ours to stop
    assert fake_llm.thread.is_alive()


def test_catalyst_configs_load():
    cfg = load_config([CONFIG_DIR / "catalyst" / "coop_catalyst.yaml"])
    assert cfg.catalyst.enabled and cfg.catalyst.policy == "best" and cfg.learner.n_ctx == 16
    assert load_config([CONFIG_DIR / "catalyst" / "coop_catalyst_if_better.yaml"]).catalyst.policy == "if_better"
    learner = load_config([CONFIG_DIR / "learners" / "coop.yaml"])
    assert learner.learner.name == "coop" and not learner.catalyst.enabled


@pytest.mark.parametrize("override, message", [
    ("catalyst.length_rule=stretch", "catalyst.length_rule"),
    ("catalyst.snapshots_per_stage=0", "snapshots_per_stage"),
    ("catalyst.policy=worst", "catalyst.policy"),
    ("llm.max_tokens=4", "llm.max_tokens"),
])
def test_bad_catalyst_settings_fail_before_any_work(override, message):
    with pytest.raises(ConfigError, match=message):
        load_config(overrides=[override])


def test_a_server_started_for_the_run_is_stopped_at_its_end(tiny_data, tiny_model_file, tmp_path, monkeypatch,
                                                             fake_llm):
    """No url and no running server: the run starts one (here a stand-in for vLLM) and stops it at the end."""
    from types import SimpleNamespace

    import vlcat.llm.model as model_mod
    import vlcat.llm.serve as serve_mod
    from vlcat.testing import tiny_overrides
    from vlcat.train.run import run_training

    monkeypatch.setenv("VLCAT_CACHE", str(tmp_path / "vc"))
    stopped: list[bool] = []
    handle = serve_mod.ServerHandle(url=fake_llm.url, model="/m", served_name=fake_llm.model, pid=None,
                                    log_path=None, owned=True)
    monkeypatch.setattr(handle.__class__, "stop", lambda self, timeout=30.0: stopped.append(True))
    monkeypatch.setattr(model_mod, "resolve_model", lambda model=None, **kw: SimpleNamespace(
        model="/m", served_name=fake_llm.model, dtype="bfloat16"))
    monkeypatch.setattr(serve_mod, "start_server", lambda config: handle)
    root, card = tiny_data
    cfg = load_config(overrides=tiny_overrides(root, card, tiny_model_file, tmp_path / "cache", tmp_path / "run", **{
        "catalyst.enabled": True, "catalyst.epochs": "[1]", "optim.max_epoch": 2}))
    record = run_training(cfg)
    assert record["catalyst"]["endpoint"]["source"] == "started"
    assert record["catalyst"]["succeeded"] == 1 and stopped == [True]
