"""Against the REAL vLLM server (SmolLM2-135M on the CPU, session fixture ``llm_server``).

The model is tiny and often off-topic; these tests check mechanics (constraints, n, errors, cache),
never the quality of what it says.
"""

from __future__ import annotations

import json
import os

import pytest

from vlcat.cli.llm import main as serve_llm_main
from vlcat.llm.client import ChatRequest, LLMClient
from vlcat.llm.errors import (
    LLMAuthError,
    LLMConnectionError,
    LLMInvalidContentError,
    LLMModelNotFoundError,
    LLMServerStartError,
)
from vlcat.llm.serve import ServerConfig, ServerHandle, check_endpoint, find_running, start_server

pytestmark = pytest.mark.llm


def test_structured_request_with_n_returns_schema_valid_json(client, pet_messages, pet_schema):
    result = client.complete(pet_messages, n=2, seed=1, temperature=0.8, max_tokens=120, schema=pet_schema)
    assert not result.cached and result.attempts == 1 and result.elapsed_s > 0
    assert len(result.choices) == 2 and [c.index for c in result.choices] == [0, 1]
    assert result.usage["completion_tokens"] > 0 and result.usage["prompt_tokens"] > 0
    valid = result.require_valid()
    for obj in valid:
        assert 2 <= len(obj["prompts"]) <= 3
    for choice in result.choices:  # server-side constraint + our validation agree, or the reason is given
        assert choice.ok or "max_tokens" in choice.error


def test_cache_replays_identically_without_a_server(client, pet_messages, pet_schema, unused_url):
    first = client.complete(pet_messages, n=2, seed=7, max_tokens=80, schema=pet_schema)
    offline = LLMClient(unused_url, client.model, cache_dir=client.cache_dir, max_retries=0)
    replay = offline.complete(pet_messages, n=2, seed=7, max_tokens=80, schema=pet_schema)
    assert replay.cached and replay.attempts == 0
    assert replay.texts == first.texts and replay.parsed == first.parsed and replay.usage == first.usage
    with pytest.raises(LLMConnectionError):  # proof that nothing answers there
        offline.complete(pet_messages, n=2, seed=7, max_tokens=80, schema=pet_schema, use_cache=False)
    with pytest.raises(LLMConnectionError):  # a different request is a cache miss
        offline.complete(pet_messages, n=2, seed=8, max_tokens=80, schema=pet_schema)


def test_reply_cut_by_max_tokens_is_reported_per_choice(client, pet_messages, pet_schema):
    result = client.complete(pet_messages, n=2, seed=3, max_tokens=4, schema=pet_schema)
    assert len(result.choices) == 2 and result.parsed == []
    assert all(c.finish_reason == "length" and "not valid JSON" in c.error for c in result.choices)
    with pytest.raises(LLMInvalidContentError, match="0 of 2 replies"):
        result.require_valid()


def test_unconstrained_reply_fails_client_side_validation(client):
    """Without the server-side constraint, free text cannot satisfy a schema it was never shown."""
    schema = {"type": "object", "properties": {"token": {"const": "zq-7731"}}, "required": ["token"]}
    result = client.complete([{"role": "user", "content": "Say hello to a cat."}], max_tokens=24, seed=0,
                             schema=schema, constrain=False)
    assert result.parsed == [] and result.choices[0].error
    with pytest.raises(LLMInvalidContentError):
        result.require_valid()


def test_complete_many_keeps_order_and_returns_errors_in_place(llm_server, tmp_path, pet_schema):
    client = llm_server.client(cache_dir=None, max_concurrency=2, max_retries=0)
    requests = [ChatRequest.build([{"role": "user", "content": f"Name {k} animals as JSON."}], n=1, seed=k,
                                  max_tokens=60, schema=pet_schema) for k in (2, 3)]
    results = client.complete_many(requests)
    assert [r.request for r in results] == requests
    wrong = llm_server.client(cache_dir=None, max_retries=0)
    wrong.model = "no-such-model"
    out = wrong.complete_many(requests[:1], return_exceptions=True)
    assert isinstance(out[0], LLMModelNotFoundError)


def test_wrong_model_name_and_wrong_api_key(llm_server, pet_messages):
    with pytest.raises(LLMModelNotFoundError, match="no model 'gpt-nope'.*HTTP 404") as info:
        LLMClient(llm_server.url, "gpt-nope", api_key=llm_server.api_key, max_retries=2).complete(pet_messages)
    assert info.value.status_code == 404
    with pytest.raises(LLMAuthError, match="API key.*HTTP 401"):
        LLMClient(llm_server.url, llm_server.served_name, api_key="wrong", max_retries=2).complete(pet_messages)
    with pytest.raises(LLMAuthError):
        LLMClient(llm_server.url, llm_server.served_name, api_key=None, max_retries=0).complete(pet_messages)
    assert not LLMClient(llm_server.url, llm_server.served_name, api_key="wrong").health()


def test_health_and_find_running_through_a_state_file(llm_server, tmp_path):
    assert llm_server.client().health().ok
    state = tmp_path / "server.json"
    record = {**llm_server.state(), "auth": True}
    state.write_text(json.dumps(record))
    found = find_running(model=llm_server.served_name, api_key=llm_server.api_key, state_path=state,
                         require_auth=True)
    assert isinstance(found, ServerHandle) and found.url == llm_server.url and not found.owned
    assert find_running(model="another-model", api_key=llm_server.api_key, state_path=state) is None
    assert find_running(model=llm_server.served_name, api_key="wrong", state_path=state) is None
    state.write_text(json.dumps({**record, "pid": 2**22 + 12345}))  # a server that died long ago
    assert find_running(api_key=llm_server.api_key, state_path=state) is None
    assert find_running(state_path=tmp_path / "missing.json") is None


def test_check_command_reports_schema_valid_json(llm_server, capsys):
    line = check_endpoint(llm_server.url, llm_server.served_name, api_key=llm_server.api_key)
    assert line.startswith(f"ok: {llm_server.url} serves {llm_server.served_name}")
    assert os.environ["VLCAT_LLM_API_KEY"] == llm_server.api_key  # exported by the session fixture
    assert serve_llm_main(["--check", "--url", llm_server.url, "--model", llm_server.served_name,
                           "--api-key", "wrong"]) == 2
    assert "error: " in capsys.readouterr().err


@pytest.mark.slow
def test_start_failure_is_one_line_with_the_log_tail(tmp_path):
    """A model folder vLLM cannot load: the start must fail fast (not wait for the timeout)."""
    bad = tmp_path / "not-a-model"
    bad.mkdir()
    (bad / "config.json").write_text('{"architectures": ["NoSuchArch"], "model_type": "nosuch"}')
    log = tmp_path / "vllm.log"
    with pytest.raises(LLMServerStartError, match="exited with code") as info:
        start_server(ServerConfig(model=str(bad), state_path="", log_path=str(log), startup_timeout=300))
    message = str(info.value)
    assert "\n" not in message and str(log) in message and len(message) < 1200
    assert log.read_text().startswith("# vlcat: ")
