"""Fixtures shared across test folders.

``llm_server``: the real vLLM server with the embedded SmolLM2 on a free loopback port, one per test
session (start ~1 min on the CPU). A healthy server recorded in the state file is reused when it serves
the same model and enforces the test API key (start one by hand with
``tools/serve_llm.py --api-key vlcat-test-key`` to skip the start while iterating). A server that cannot
be started is a test error, never a skip: CI must notice. The key is also exported as
``VLCAT_LLM_API_KEY`` for the session, the documented way for configs to find it.

The tiny open_clip model and tiny PNG dataset fixtures (no download) are shared by every test folder.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

LLM_TEST_API_KEY = "vlcat-test-key"


@pytest.fixture(scope="session")
def llm_server() -> Iterator[object]:
    from vlcat.llm.model import resolve_model
    from vlcat.llm.serve import ServerConfig, find_running, start_server

    resolved = resolve_model()
    handle = find_running(model=resolved.served_name, api_key=LLM_TEST_API_KEY, require_auth=True)
    if handle is None:
        # state_path="": the session's server is private to it and dies with it.
        config = ServerConfig(model=resolved.model, served_name=resolved.served_name, dtype=resolved.dtype,
                              api_key=LLM_TEST_API_KEY, state_path="", startup_timeout=900)
        handle = start_server(config)
    with pytest.MonkeyPatch.context() as mp, handle:
        mp.setenv("VLCAT_LLM_API_KEY", LLM_TEST_API_KEY)
        yield handle


@pytest.fixture(scope="session")
def tiny_clip():
    import torch

    from vlcat.clip import load_clip
    from vlcat.testing import TINY_CFG

    torch.manual_seed(0)
    return load_clip("tiny-test", model_config=TINY_CFG)


@pytest.fixture(scope="session")
def tiny_data(tmp_path_factory):
    from vlcat.testing import write_tiny_dataset

    root = tmp_path_factory.mktemp("data")
    return root, write_tiny_dataset(root)


@pytest.fixture(scope="session")
def tiny_model_file(tmp_path_factory):
    """The tiny config as a JSON file, as a user would pass it via model.config."""
    import json

    from vlcat.testing import TINY_CFG

    path = tmp_path_factory.mktemp("model") / "tiny.json"
    path.write_text(json.dumps(TINY_CFG))
    return path
