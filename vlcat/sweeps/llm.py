"""One LLM endpoint for all catalyst runs of a Ray sweep.

Sequentially, each catalyst run decides its endpoint itself (see :mod:`vlcat.llm.endpoint`). On Ray, runs
execute at once and possibly on other nodes, where the local server state file means nothing; so the sweep
decides once, before the first task: the runs' ``llm.base_url`` when they set one (then nothing changes), else
a running local server (local Ray instance only), else one vLLM server it starts and stops at its end. The
tasks get its URL through :data:`vlcat.llm.endpoint.ENV_URL`, not through their configs, so records and
resumption are the same as in a sequential sweep. A dead endpoint behaves as in any run: its LLM stages fail
and are counted, training goes on.

On a cluster the sweep's server must be reachable from every node: it listens on this node's address and
needs an API key (``VLCAT_LLM_API_KEY``, which the nodes' environment must hold too), or the user gives
``llm.base_url``.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from vlcat.errors import ConfigError
from vlcat.sweeps.plan import PlannedRun


@contextmanager
def shared_endpoint(runs: list[PlannedRun], backend: Any) -> Iterator[dict[str, str]]:
    """Environment variables for the sweep's tasks (empty when no run needs the sweep's endpoint)."""
    needs = [r.config.llm for r in runs if r.config.catalyst.enabled and not r.config.llm.base_url]
    if not needs or getattr(backend, "name", "") != "ray":
        yield {}
        return
    from vlcat.catalyst.endpoint import start_for
    from vlcat.llm.endpoint import ENV_API_KEY, ENV_MODEL, ENV_URL, decide_endpoint

    llm = needs[0]
    api_key = llm.api_key or os.environ.get(ENV_API_KEY)
    cluster = backend.address is not None
    if cluster:
        if not api_key:
            raise ConfigError("catalyst runs on a Ray cluster need an LLM endpoint every node reaches: set "
                              f"--set llm.base_url=http://HOST:PORT/v1, or {ENV_API_KEY} so the sweep can "
                              "serve one on this node's address")
        import ray

        host = ray.util.get_node_ip_address()
        decided = decide_endpoint(None, llm.model, api_key=api_key, state_path=os.devnull,
                                  start=(lambda: start_for(llm, api_key, host)) if llm.start_server else None)
    else:
        decided = decide_endpoint(None, llm.model, api_key=api_key,
                                  start=(lambda: start_for(llm, api_key)) if llm.start_server else None)
    try:
        yield {} if decided.url is None else {ENV_URL: decided.url, ENV_MODEL: decided.model or ""}
    finally:
        if decided.handle is not None and getattr(decided.handle, "owned", False):
            decided.handle.stop()
