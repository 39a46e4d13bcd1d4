"""One LLM endpoint for all catalyst runs of a sweep, checked before each run where the sweep can.

Each run could decide its endpoint itself (see :mod:`vlcat.llm.endpoint`), but then a sweep that starts a
server would start one per catalyst run (one to two minutes each on a CPU), and a reused server that died
would go unnoticed until every LLM stage failed. So the sweep decides for its runs:

* **Sequentially**, a :class:`~vlcat.llm.keeper.KeptEndpoint` checks the endpoint before every catalyst run
  that asks an LLM, restarts a server it started, replaces a reused one that died (another healthy local
  server, or one it starts), and fails the run with a one-line reason when neither is possible.
* **On Ray**, runs execute at once and possibly on other nodes, where the local server state file means
  nothing; so the sweep decides once, before the first task: a running local server (local Ray instance
  only), else one vLLM server it starts and stops at its end. A dead endpoint then behaves as in any run:
  its LLM stages fail and are counted (``llm.required`` fails the run), and reports mark the run.

Runs that set ``llm.base_url`` keep it (nothing here applies to them). The runs get the endpoint through
:data:`vlcat.llm.endpoint.ENV_URL`, not through their configs, so records and resumption are the same
whichever server answered.

On a cluster the sweep's server must be reachable from every node: it listens on this node's address and
needs an API key (``VLCAT_LLM_API_KEY``, which the nodes' environment must hold too), or the user gives
``llm.base_url``.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from vlcat.config import RunConfig
from vlcat.errors import ConfigError
from vlcat.sweeps.plan import PlannedRun


def asks_sweep_llm(cfg: RunConfig) -> bool:
    """The run's catalyst asks an LLM and leaves the choice of endpoint to its sweep."""
    return cfg.catalyst.enabled and cfg.catalyst.proposer == "llm" and not cfg.llm.base_url


@contextmanager
def shared_endpoint(runs: list[PlannedRun], backend: Any) -> Iterator[dict[str, str]]:
    """Set the sweep's endpoint up for ``backend``: a pre-run check on the sequential backend, environment
    variables for the tasks on Ray (yielded; empty when no run needs the sweep's endpoint)."""
    needs = [r.config.llm for r in runs if asks_sweep_llm(r.config)]
    if not needs:
        yield {}
        return
    from vlcat.catalyst.endpoint import start_for
    from vlcat.llm.endpoint import ENV_API_KEY

    llm = needs[0]
    api_key = llm.api_key or os.environ.get(ENV_API_KEY)
    if getattr(backend, "name", "") != "ray":
        from vlcat.llm.keeper import KeptEndpoint

        start = (lambda: start_for(llm, api_key)) if llm.start_server else None
        with KeptEndpoint(llm.model, api_key=api_key, start=start) as keeper:
            backend.before_run = lambda run: keeper.ensure() if asks_sweep_llm(run.config) else None
            try:
                yield {}
            finally:
                backend.before_run = None
        return
    yield from _ray_endpoint(llm, api_key, backend)


def _ray_endpoint(llm: Any, api_key: str | None, backend: Any) -> Iterator[dict[str, str]]:
    from vlcat.catalyst.endpoint import start_for
    from vlcat.llm.endpoint import ENV_API_KEY, ENV_MODEL, ENV_URL, decide_endpoint

    if backend.address is not None:
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
