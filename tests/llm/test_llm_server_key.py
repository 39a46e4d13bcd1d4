"""The API key of a server vlcat starts is enforced, and it is never on a command line (``ps`` shows those)."""

from __future__ import annotations

from pathlib import Path

import pytest

from vlcat.llm.client import LLMClient
from vlcat.llm.model import resolve_model
from vlcat.llm.serve import ServerConfig, start_server

KEY = "vlcat-key-not-in-argv"


def _cmdlines_of_group(pid: int) -> list[str]:
    """Command lines of the server and every process it forked (vLLM runs an engine process)."""
    out = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            stat = (proc / "stat").read_text()
            pgid = int(stat.rsplit(")", 1)[1].split()[2])
            if pgid == pid:
                out.append((proc / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace"))
        except (OSError, ValueError, IndexError):
            continue
    return out


@pytest.mark.llm
@pytest.mark.slow
def test_a_started_server_enforces_its_key_without_putting_it_in_argv(tmp_path):
    resolved = resolve_model()
    config = ServerConfig(model=resolved.model, served_name=resolved.served_name, dtype=resolved.dtype,
                          api_key=KEY, state_path="", log_path=str(tmp_path / "vllm.log"), startup_timeout=900)
    with start_server(config) as handle:
        lines = _cmdlines_of_group(handle.pid)
        assert lines and not any(KEY in line for line in lines)
        assert KEY not in (tmp_path / "vllm.log").read_text()
        assert LLMClient(handle.url, handle.served_name, api_key=KEY).health(timeout=30).ok
        denied = LLMClient(handle.url, handle.served_name, api_key="wrong").health(timeout=30)
        assert not denied.ok and "API key" in denied.error
