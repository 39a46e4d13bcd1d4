"""Fixtures for the LLM tests: a client of the session server and a loopback fault server.

The fault server is a real TCP server on 127.0.0.1 that misbehaves on purpose (drops connections,
never answers, answers 5xx/429/400 or an empty completion). These are faults the real vLLM server
cannot be made to produce on demand without killing the shared session server; the client sees real
sockets and real HTTP, nothing in the client is patched.
"""

from __future__ import annotations

import json
import socket
import socketserver
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from vlcat.llm.client import LLMClient
from vlcat.llm.serve import free_port

PET_SCHEMA = {
    "type": "object",
    "properties": {
        "prompts": {
            "type": "array",
            "items": {"type": "string", "pattern": "^[a-z ]{1,40}$"},
            "minItems": 2,
            "maxItems": 3,
        }
    },
    "required": ["prompts"],
    "additionalProperties": False,
}
PET_MESSAGES = [
    {"role": "system", "content": "You write short photo captions and answer in JSON."},
    {"role": "user", "content": "Give two or three short lowercase captions for photos of pets."},
]


@pytest.fixture
def pet_schema() -> dict:
    return json.loads(json.dumps(PET_SCHEMA))


@pytest.fixture
def pet_messages() -> list[dict[str, str]]:
    return [dict(m) for m in PET_MESSAGES]


@pytest.fixture
def client(llm_server, tmp_path: Path) -> LLMClient:
    return llm_server.client(cache_dir=tmp_path / "llm-cache", timeout=180, max_retries=0)


@pytest.fixture
def unused_url() -> str:
    """A loopback URL where nothing listens (the port was free a moment ago)."""
    return f"http://127.0.0.1:{free_port()}/v1"


class FaultServer:
    """Serves one fault mode; ``connections`` counts accepted connections (to check retry bounds)."""

    def __init__(self) -> None:
        self.mode = "close"
        self.status = 503
        self.connections = 0
        self._release = threading.Event()
        fault = self

        class Handler(socketserver.BaseRequestHandler):
            def handle(self) -> None:
                fault.connections += 1
                sock: socket.socket = self.request
                sock.settimeout(5)
                try:
                    _read_request(sock)
                except OSError:
                    return
                if fault.mode == "close":  # like a server killed mid-request: connection gone, no reply
                    return
                if fault.mode == "hang":
                    fault._release.wait(30)
                    return
                if fault.mode == "status":
                    body = {"error": {"message": f"injected HTTP {fault.status}", "code": fault.status}}
                    sock.sendall(_http(fault.status, body))
                elif fault.mode == "empty":
                    body = {"id": "x", "object": "chat.completion", "created": 0, "model": "m", "choices": [],
                            "usage": {"prompt_tokens": 1, "completion_tokens": 0, "total_tokens": 1}}
                    sock.sendall(_http(200, body))

        socketserver.ThreadingTCPServer.allow_reuse_address = True
        self._server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}/v1"
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.05,), daemon=True)
        self._thread.start()

    def close(self) -> None:
        self._release.set()
        self._server.shutdown()
        self._server.server_close()


def _read_request(sock: socket.socket) -> bytes:
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        if not chunk:
            return data
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n"):
        if line.lower().startswith(b"content-length:"):
            length = int(line.split(b":", 1)[1])
    while len(body) < length:
        chunk = sock.recv(65536)
        if not chunk:
            break
        body += chunk
    return head + body


def _http(status: int, body: dict) -> bytes:
    payload = json.dumps(body).encode()
    head = (f"HTTP/1.1 {status} Injected\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(payload)}\r\nConnection: close\r\n\r\n")
    return head.encode() + payload


@pytest.fixture
def fault_server() -> Iterator[FaultServer]:
    server = FaultServer()
    yield server
    server.close()
