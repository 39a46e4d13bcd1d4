"""Fixtures for catalyst tests: the tiny model and dataset, and a fake OpenAI-compatible server.

Tests of the LLM path talk to the real vLLM server with the real SmolLM2 (``llm_server`` in
tests/conftest.py, tests marked ``llm``), connection faults included (a closed loopback port). The fake
server (``fake_llm``) speaks the same HTTP API as vLLM (``/health``, ``/v1/models``,
``/v1/chat/completions``) and exists ONLY for faults a real vLLM cannot produce on demand: HTTP 500
(also on schema-constrained requests only), a server without structured outputs, garbled or useless
replies. A test that uses it says ``fake_server`` in its name and why in its docstring.
"""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
import torch


@pytest.fixture(autouse=True)
def _one_thread():
    """Tiny models gain nothing from threads, and on small shared CI machines oversubscription costs a lot;
    restored afterwards so tests in other folders keep their settings."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


class FakeLLM:
    """A minimal OpenAI-compatible chat server; ``reply(request_json) -> list[str]`` gives the choices."""

    def __init__(self, model: str = "fake-llm") -> None:
        self.model = model
        self.requests: list[dict[str, Any]] = []
        self.status = 200
        self.reject_schema = False
        self.fail_constrained = 0  # answer this many schema-constrained requests with HTTP 500
        self.reply: Callable[[dict[str, Any]], list[str]] = lambda req: [
            json.dumps({"prompts": ["a photo of a", "a bright picture of the", "1. \"a colour\""]})
        ] * int(req.get("n", 1))
        handler = self._handler()
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/v1"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def _handler(self):
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):  # keep test output clean
                pass

            def _send(self, code: int, body: dict[str, Any]) -> None:
                data = json.dumps(body).encode()
                self.send_response(code)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self):  # noqa: N802
                if self.path.endswith("/health"):
                    self._send(200, {})
                elif self.path.endswith("/models"):
                    self._send(200, {"object": "list", "data": [{"id": fake.model, "object": "model",
                                                                 "created": 0, "owned_by": "test"}]})
                else:
                    self._send(404, {"error": {"message": "not found"}})

            def do_POST(self):  # noqa: N802
                length = int(self.headers.get("Content-Length", 0))
                req = json.loads(self.rfile.read(length) or b"{}")
                fake.requests.append(req)
                if fake.status != 200:
                    self._send(fake.status, {"error": {"message": f"fake status {fake.status}"}})
                    return
                if fake.fail_constrained and "response_format" in req:
                    fake.fail_constrained -= 1
                    self._send(500, {"error": {"message": "grammar compiler crashed"}})
                    return
                if fake.reject_schema and "response_format" in req:
                    self._send(400, {"error": {"message": "structured outputs are not supported"}})
                    return
                texts = fake.reply(req)
                self._send(200, {
                    "id": "cmpl-1", "object": "chat.completion", "created": int(time.time()), "model": fake.model,
                    "choices": [{"index": i, "message": {"role": "assistant", "content": t},
                                 "finish_reason": "stop"} for i, t in enumerate(texts)],
                    "usage": {"prompt_tokens": 10, "completion_tokens": 10, "total_tokens": 20},
                })

        return Handler


@pytest.fixture
def fake_llm():
    server = FakeLLM()
    yield server
    server.close()


@pytest.fixture
def closed_url() -> str:
    """A loopback URL whose port refuses connections (bound, then released)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}/v1"
