"""The LLM endpoint of a run: a client for the endpoint :func:`vlcat.llm.endpoint.decide_endpoint` picks.

That function decides for every caller: ``llm.base_url`` when set (the model is ``llm.model`` or the first
one the server lists); the endpoint of the sweep the run belongs to; a healthy local vLLM server recorded in
the state file; otherwise, if ``llm.start_server``, a server started for this run and stopped at its end.
Any failure here is recorded, not raised: an LLM stage without an endpoint is a failed stage and
training goes on, unless ``llm.required`` asks to fail before training (see ``require_healthy``).
"""

from __future__ import annotations

import atexit
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from vlcat.config import LLMConfig
from vlcat.errors import VlcatError
from vlcat.llm.endpoint import ENV_API_KEY
from vlcat.llm.errors import LLMError


@dataclass
class Endpoint:
    url: str | None
    model: str | None
    source: str
    """config | sweep | reused | started | unavailable."""
    error: str | None = None
    client: Any = None
    handle: Any = field(default=None, repr=False)
    structured: bool = True
    """False once the server rejected a schema-constrained request; later stages ask unconstrained."""

    def healthy(self, timeout: float = 5.0) -> tuple[bool, str | None]:
        if self.client is None:
            return False, self.error or "no LLM endpoint"
        status = self.client.health(timeout=timeout)
        return status.ok, status.error

    def redirect(self, url: str) -> None:
        """Point the client at another URL (keeping model, cache and limits).

        A fault-injection hook: tests aim it at a closed port to make the server unreachable from some
        stage on without killing a shared server.
        """
        from vlcat.llm.client import LLMClient

        old = self.client
        self.url = url
        self.client = LLMClient(url, self.model or "unknown", api_key=old.api_key if old else None,
                                timeout=old.timeout if old else 10.0, max_retries=old.max_retries if old else 0,
                                cache_dir=old.cache_dir if old else None, use_cache=old.use_cache if old else False,
                                max_concurrency=old.max_concurrency if old else 1)

    def close(self) -> None:
        """Stop the server if this run started it; a reused or configured one is left running."""
        if self.handle is not None and getattr(self.handle, "owned", False):
            self.handle.stop()
            self.handle = None

    def describe(self) -> dict[str, Any]:
        return {"url": self.url, "model": self.model, "source": self.source, "error": self.error,
                "structured": self.structured}


def _client(url: str, model: str, llm: LLMConfig, cache_dir: Path | None, api_key: str | None) -> Any:
    from vlcat.llm.client import LLMClient

    return LLMClient(url, model, api_key=api_key, timeout=llm.timeout, max_retries=llm.max_retries,
                     cache_dir=cache_dir if llm.use_cache else None, use_cache=llm.use_cache,
                     max_concurrency=llm.max_concurrency)


def connect(llm: LLMConfig, cache_dir: Path | None) -> Endpoint:
    """Resolve the endpoint as the module docstring says; never raises for LLM trouble."""
    from vlcat.llm.endpoint import decide_endpoint

    api_key = llm.api_key or os.environ.get(ENV_API_KEY)
    try:
        start = (lambda: start_for(llm, api_key)) if llm.start_server else None
        decided = decide_endpoint(llm.base_url, llm.model, api_key=api_key, start=start)
        if decided.source == "none":
            return Endpoint(None, llm.model, "unavailable",
                            "no llm.base_url, no running vLLM server and llm.start_server=false")
        url, model = decided.url, decided.model
        if not model:
            probe = _client(url, "", llm, None, api_key).health(timeout=min(10.0, llm.timeout))
            if not probe.models:
                return Endpoint(url, None, decided.source, f"cannot list models: {probe.error}")
            model = probe.models[0]
        return Endpoint(url, model, decided.source, None, _client(url, model, llm, cache_dir, api_key), decided.handle)
    except (VlcatError, OSError) as exc:
        return Endpoint(llm.base_url, llm.model, "unavailable", f"{type(exc).__name__}: {exc}")


def start_for(llm: LLMConfig, api_key: str | None, host: str = "127.0.0.1") -> Any:
    """Start the vLLM server ``llm`` asks for (a run's own, or a sweep's shared one on ``host``); it is
    stopped at this process's exit at the latest."""
    from vlcat.llm.model import has_cuda, resolve_model
    from vlcat.llm.serve import ServerConfig, start_server

    resolved = resolve_model(llm.model, python=llm.python)
    handle = start_server(ServerConfig(
        model=resolved.model, served_name=resolved.served_name, dtype=resolved.dtype, python=llm.python,
        api_key=api_key, startup_timeout=llm.startup_timeout, host=host,
        gpu_memory_utilization=llm.gpu_memory_utilization if has_cuda() else None,
    ))
    # An interrupted run never reaches on_train_end; the server must not outlive the process anyway.
    atexit.register(lambda: handle.stop() if handle.is_alive() else None)
    return handle


def require_healthy(endpoint: Endpoint) -> None:
    """Raise a one-line error unless the endpoint answers and serves its model (``llm.required``)."""
    ok, why = endpoint.healthy()
    if not ok:
        where = endpoint.url or "no endpoint"
        raise LLMError(f"llm.required=true but the LLM endpoint is not usable ({where}): {why}; start one with "
                       "tools/serve_llm.py, set llm.base_url, or set llm.required=false to train without it")
