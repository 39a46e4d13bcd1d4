"""Which LLM endpoint: the one decision every caller makes the same way (a run's catalyst, the quickstart,
``vlcat-serve-llm --check``, a sweep on Ray).

Order: an explicit URL (``llm.base_url``, ``--llm-url``, ``--url``); the endpoint a sweep gives its runs
(:data:`ENV_URL`, set by the Ray backend in every task, so runs on other nodes use the sweep's one server
without a change to their configs); a healthy local vLLM server recorded in the state file (reuse saves the
~100 s start); a server started by the caller's ``start`` (when it may start one); else none.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

ENV_URL = "VLCAT_LLM_URL"
"""The sweep's endpoint (``…/v1``), set in each Ray task; never in a user's config."""
ENV_MODEL = "VLCAT_LLM_MODEL"
"""The model name the sweep's endpoint serves."""
ENV_API_KEY = "VLCAT_LLM_API_KEY"
"""The user's LLM API key (a served endpoint requires it, a client sends it; ``llm.api_key`` wins): the
documented way to give it, since a config is saved with the run and an argument shows in ``ps``."""


@dataclass
class Decision:
    url: str | None
    model: str | None
    """Served model name; None when an explicit URL came without one (the caller asks the server)."""
    source: str
    """config | sweep | reused | started | none."""
    handle: Any = None
    """The ``ServerHandle`` of a reused or started server (``owned`` when started here)."""


def decide_endpoint(url: str | None, model: str | None, *, api_key: str | None = None,
                    state_path: str | os.PathLike[str] | None = None,
                    start: Callable[[], Any] | None = None) -> Decision:
    """The endpoint to use, in the order of the module docstring; ``start`` returns a started ``ServerHandle``."""
    if url:
        return Decision(url, model, "config")
    env_url = os.environ.get(ENV_URL)
    if env_url:
        return Decision(env_url, model or os.environ.get(ENV_MODEL) or None, "sweep")
    from vlcat.llm.serve import find_running

    handle = find_running(model=model, api_key=api_key, state_path=state_path)
    if handle is not None:
        return Decision(handle.url, handle.served_name, "reused", handle)
    if start is not None:
        handle = start()
        return Decision(handle.url, handle.served_name, "started", handle)
    return Decision(None, model, "none")
