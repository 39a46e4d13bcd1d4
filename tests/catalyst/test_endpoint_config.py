"""Endpoint resolution and the catalyst's config files.

A healthy endpoint is the real vLLM server of the session (``llm_server``, tests marked ``llm``); an
unreachable one is a real closed loopback port.
"""

from __future__ import annotations

import json

import pytest

from vlcat.catalyst.endpoint import connect, require_healthy
from vlcat.config import CONFIG_DIR, LLMConfig, load_config
from vlcat.errors import ConfigError, VlcatError


@pytest.mark.llm
def test_configured_url_without_model_takes_the_served_model(llm_server, tmp_path):
    ep = connect(LLMConfig(base_url=llm_server.url), tmp_path)  # the API key comes from VLCAT_LLM_API_KEY
    assert (ep.source, ep.model, ep.error) == ("config", llm_server.served_name, None)
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


@pytest.mark.llm
def test_a_running_server_from_the_state_file_is_reused(llm_server, tmp_path, monkeypatch):
    monkeypatch.setenv("VLCAT_CACHE", str(tmp_path))
    state = tmp_path / "llm" / "server.json"
    state.parent.mkdir(parents=True)
    state.write_text(json.dumps({"url": llm_server.url, "pid": llm_server.pid, "model": llm_server.model,
                                 "served_name": llm_server.served_name, "auth": True}))
    ep = connect(LLMConfig(start_server=False), None)
    assert (ep.source, ep.url, ep.model) == ("reused", llm_server.url, llm_server.served_name)
    require_healthy(ep)
    ep.close()  # a reused server is not ours to stop
    assert llm_server.healthy()


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


@pytest.mark.llm
@pytest.mark.slow
def test_a_server_started_for_the_run_is_stopped_at_its_end(llm_server, tiny_data, tiny_model_file, tmp_path,
                                                             monkeypatch):
    """No url and no running server: the run starts its own real vLLM (a second one, ~1 min) and stops it
    at the end. The session server is only there for the API key the started one enforces."""
    from vlcat.llm.client import LLMClient
    from vlcat.llm.model import resolve_model
    from vlcat.llm.serve import find_running
    from vlcat.testing import tiny_overrides
    from vlcat.train.run import run_training

    model = resolve_model().model  # the embedded SmolLM2, prepared under the real cache
    monkeypatch.setenv("VLCAT_CACHE", str(tmp_path / "vc"))  # an empty state file: nothing to reuse
    root, card = tiny_data
    cfg = load_config(overrides=tiny_overrides(root, card, tiny_model_file, tmp_path / "cache", tmp_path / "run", **{
        "catalyst.enabled": True, "catalyst.epochs": "[1]", "optim.max_epoch": 2, "catalyst.num_candidates": 4,
        "llm.model": model, "llm.startup_timeout": 900, "llm.max_tokens": 128, "llm.temperature": 0.7,
        "llm.max_retries": 0, "llm.timeout": 120}))
    record = run_training(cfg)
    endpoint = record["catalyst"]["endpoint"]
    assert endpoint["source"] == "started" and endpoint["url"] != llm_server.url
    stage = json.loads((tmp_path / "run" / "llm_stages" / "stage_1.json").read_text())
    assert stage["llm"] and stage["llm"]["cached"] is False  # the started server really answered
    # stopped at the end: nothing answers on its port and the state file names no live server
    probe = LLMClient(endpoint["url"], endpoint["model"], api_key=llm_server.api_key).health(timeout=5)
    assert not probe.models
    assert find_running() is None
    assert llm_server.healthy()


def test_the_sweeps_endpoint_is_used_unless_the_run_sets_base_url(closed_url, tmp_path, monkeypatch):
    """A Ray sweep gives its tasks one endpoint through the environment (vlcat.llm.endpoint decides for all)."""
    from vlcat.llm.endpoint import ENV_MODEL, ENV_URL, decide_endpoint

    monkeypatch.setenv("VLCAT_CACHE", str(tmp_path))
    monkeypatch.setenv(ENV_URL, "http://127.0.0.1:9/v1")
    monkeypatch.setenv(ENV_MODEL, "served")
    ep = connect(LLMConfig(start_server=False), None)
    assert (ep.source, ep.url, ep.model) == ("sweep", "http://127.0.0.1:9/v1", "served")
    ep = connect(LLMConfig(base_url=closed_url, model="mine"), None)
    assert (ep.source, ep.url, ep.model) == ("config", closed_url, "mine")
    monkeypatch.delenv(ENV_URL)
    assert decide_endpoint(None, None).source == "none"  # nothing recorded in the empty state folder
