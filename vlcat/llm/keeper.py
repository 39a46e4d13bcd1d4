"""An LLM endpoint that a sweep or a benchmark keeps alive from one catalyst run to the next.

Why: the runs of a sweep share one server (a start costs one to two minutes on a CPU), and that server may
belong to another process that can stop at any time. A benchmark once reused such a server; when its
owner exited, every later LLM stage failed and the runs were still counted as the LLM arm. So the keeper
checks the endpoint before every catalyst run: a healthy one is used; a dead one it started is started
again; a dead one it reused is replaced by another healthy local server or by one it starts; and when it
may not start one (``llm.start_server=false``) or the start fails, the run fails with a one-line reason
instead of training without its LLM. The run learns the endpoint through :data:`ENV_URL` (as Ray tasks
do), never through its config, so a restart on another port changes no run's identity.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from typing import Any

from vlcat.llm.endpoint import ENV_MODEL, ENV_URL
from vlcat.llm.errors import LLMError


def _say(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


class KeptEndpoint:
    """One local vLLM endpoint, checked (and if need be restarted) by :meth:`ensure` before each run.

    ``start`` starts a server this process owns (None: it may not start one); ``model`` and ``api_key``
    select which running server may be reused. ``close`` stops a server it started and restores the
    environment it changed.
    """

    def __init__(self, model: str | None, *, api_key: str | None = None,
                 start: Callable[[], Any] | None = None, say: Callable[[str], None] = _say) -> None:
        self.model = model
        self.api_key = api_key
        self.start = start
        self.say = say
        self.handle: Any = None
        self.starts = 0
        """Servers this keeper started (a restart counts too)."""
        self.replaced = 0
        """Times the endpoint was found dead before a run and replaced."""
        self._saved_env = {k: os.environ.get(k) for k in (ENV_URL, ENV_MODEL)}

    def ensure(self) -> Any:
        """The healthy server to use for the next run (a ``ServerHandle``); raise :class:`LLMError` when
        there is none and none may be started."""
        from vlcat.llm.serve import find_running

        old, whose = self.handle, ""
        if old is not None:
            if old.healthy():
                return old
            self.replaced += 1
            if old.owned:
                old.stop()  # reap what is left of its process group and forget its state entry
            whose = "the server it started" if old.owned else "the reused server"
            self.handle = None
        handle = find_running(model=self.model, api_key=self.api_key)
        if handle is None and self.start is not None:
            if old is not None:
                self.say(f"[llm] {whose} at {old.url} stopped answering; starting a new one before the next run")
            handle = self.start()
            self.starts += 1
        elif handle is not None and old is not None:
            self.say(f"[llm] {whose} at {old.url} stopped answering; using the healthy server at {handle.url}")
        if handle is None:
            why = (f"{whose} at {old.url} stopped answering" if old is not None else "no vLLM server is running")
            raise LLMError(f"{why} and llm.start_server=false, so this catalyst run cannot have its LLM; start one "
                           "with tools/serve_llm.py (or set llm.start_server=true) and rerun")
        if old is None:
            how = "started" if handle.owned else "reused"
            self.say(f"[llm] catalyst runs use the LLM server at {handle.url} ({how}; checked before each run)")
        self.handle = handle
        os.environ[ENV_URL] = handle.url
        os.environ[ENV_MODEL] = handle.served_name
        return handle

    def close(self) -> None:
        """Stop the server this keeper started (a reused one keeps running) and restore the environment."""
        if self.handle is not None and self.handle.owned:
            self.handle.stop()
        self.handle = None
        for key, value in self._saved_env.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value

    def __enter__(self) -> KeptEndpoint:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
