"""Client behaviour that needs no LLM: validation, cache keys, and real network faults on loopback."""

from __future__ import annotations

import json
import time

import pytest

from vlcat.errors import VlcatError
from vlcat.llm import errors as E
from vlcat.llm.client import ChatRequest, LLMClient, validate_text


def test_every_error_is_one_line_and_one_family():
    classes = [getattr(E, n) for n in dir(E) if n.startswith("LLM") and n.endswith("Error")]
    assert len(classes) >= 10
    for cls in classes:
        assert issubclass(cls, E.LLMError) and issubclass(cls, VlcatError)
        args = ("line one\nline two\n  three", 500) if issubclass(cls, E.LLMHTTPError) else ("line one\nline two",)
        assert "\n" not in str(cls(*args))


def test_validate_text_reports_why(pet_schema):
    assert validate_text('{"prompts": ["a cat", "a dog"]}', pet_schema) == ({"prompts": ["a cat", "a dog"]}, None)
    data, err = validate_text('{"prompts": ["a cat"', pet_schema)
    assert data is None and err.startswith("not valid JSON")
    data, err = validate_text('{"prompts": ["A CAT!", "dog"]}', pet_schema)
    assert data is None and "schema violation at prompts/0" in err


def test_cache_key_covers_the_whole_request(pet_messages, pet_schema):
    base = ChatRequest.build(pet_messages, n=2, seed=1, temperature=0.7, max_tokens=64, schema=pet_schema)
    same = ChatRequest.build([dict(m) for m in pet_messages], n=2, seed=1, temperature=0.7, max_tokens=64,
                             schema=dict(pet_schema))
    assert base.key("m") == same.key("m")
    variants = [
        ChatRequest.build(pet_messages, n=3, seed=1, temperature=0.7, max_tokens=64, schema=pet_schema),
        ChatRequest.build(pet_messages, n=2, seed=2, temperature=0.7, max_tokens=64, schema=pet_schema),
        ChatRequest.build(pet_messages, n=2, seed=1, temperature=0.8, max_tokens=64, schema=pet_schema),
        ChatRequest.build(pet_messages, n=2, seed=1, temperature=0.7, max_tokens=65, schema=pet_schema),
        ChatRequest.build(pet_messages, n=2, seed=1, temperature=0.7, max_tokens=64, schema=None),
        ChatRequest.build(pet_messages[1:], n=2, seed=1, temperature=0.7, max_tokens=64, schema=pet_schema),
    ]
    keys = {base.key("m"), base.key("other-model"), *(v.key("m") for v in variants)}
    assert len(keys) == 2 + len(variants)


def test_unreachable_url_raises_connection_error_after_bounded_retries(unused_url, pet_messages):
    client = LLMClient(unused_url, "m", max_retries=2, retry_backoff_s=0.01, cache_dir=None)
    with pytest.raises(E.LLMConnectionError, match="unreachable.*after 3 attempts"):
        client.complete(pet_messages)
    status = client.health(timeout=2)
    assert not status.ok and "unreachable" in status.error


def test_fault_connection_dropped_mid_request(fault_server, pet_messages):
    """The server accepts the request and closes the socket without replying, as a killed server does."""
    fault_server.mode = "close"
    client = LLMClient(fault_server.url, "m", max_retries=1, retry_backoff_s=0.01)
    with pytest.raises(E.LLMConnectionError):
        client.complete(pet_messages)
    assert fault_server.connections == 2  # one try + one retry, no more


def test_fault_server_never_answers_times_out(fault_server, pet_messages):
    fault_server.mode = "hang"
    client = LLMClient(fault_server.url, "m", timeout=1.0, max_retries=0)
    start = time.monotonic()
    with pytest.raises(E.LLMTimeoutError, match="within 1 s"):
        client.complete(pet_messages)
    assert time.monotonic() - start < 10


@pytest.mark.parametrize(("status", "error", "tries"), [
    (503, E.LLMServerError, 3), (429, E.LLMServerError, 3), (400, E.LLMBadRequestError, 1),
    (401, E.LLMAuthError, 1), (404, E.LLMModelNotFoundError, 1), (418, E.LLMHTTPError, 1),
])
def test_fault_http_status_is_typed_and_only_transient_ones_are_retried(fault_server, pet_messages, status, error,
                                                                              tries):
    fault_server.mode, fault_server.status = "status", status
    client = LLMClient(fault_server.url, "m", max_retries=2, retry_backoff_s=0.01)
    with pytest.raises(error, match=f"HTTP {status}") as info:
        client.complete(pet_messages)
    assert info.value.status_code == status
    assert fault_server.connections == tries


def test_fault_empty_choices(fault_server, pet_messages):
    fault_server.mode = "empty"
    with pytest.raises(E.LLMEmptyResponseError, match="no choices"):
        LLMClient(fault_server.url, "m", max_retries=0).complete(pet_messages)


def test_corrupt_cache_entry_is_a_miss(tmp_path, unused_url, pet_messages):
    client = LLMClient(unused_url, "m", max_retries=0, cache_dir=tmp_path)
    request = ChatRequest.build(pet_messages, seed=0)
    path = tmp_path / request.key("m")[:2] / f"{request.key('m')}.json"
    path.parent.mkdir(parents=True)
    path.write_text('{"format": 1, "choices": [')  # a torn write from some other tool
    with pytest.raises(E.LLMConnectionError):
        client.run(request)
    path.write_text(json.dumps({"format": 1, "choices": [{"index": 0, "text": "hi", "finish_reason": "stop"}]}))
    assert client.run(request).texts == ["hi"]
    with pytest.raises(E.LLMConnectionError):
        client.run(request, use_cache=False)
