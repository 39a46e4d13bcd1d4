"""``vlcat-serve-llm`` / ``tools/serve_llm.py``: run the local vLLM server, or check an endpoint.

Argument parsing only; the work is done by ``vlcat.llm.serve`` and ``vlcat.llm.model`` so that tests,
the catalyst and notebooks use the same code. Errors are one ``error: ...`` line and exit status 2. Not under
:func:`vlcat.cli.guard.run_guarded`: the foreground server handles Ctrl-C itself (it stops vLLM and its
children), so only ``VlcatError`` is caught here.
"""

from __future__ import annotations

import argparse
import os
import sys

from vlcat.errors import VlcatError
from vlcat.llm.endpoint import ENV_API_KEY


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="serve_llm",
        description="Start the local vLLM OpenAI-compatible server (foreground; Ctrl-C stops it), "
        "or with --check test whether an endpoint answers with schema-valid JSON.",
    )
    p.add_argument("--model", help="HF id or local folder (default: embedded SmolLM2 on CPU, "
                   "Qwen/Qwen2.5-7B-Instruct on a GPU)")
    p.add_argument("--served-name", help="name clients ask for (default: derived from the model)")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, help="default: a free port")
    p.add_argument("--api-key", default=os.environ.get(ENV_API_KEY),
                   help=f"require this key (default: ${ENV_API_KEY}, which is better: an argument shows "
                   "in `ps`; none = open, allowed on loopback only)")
    p.add_argument("--allow-open", action="store_true",
                   help="serve a non-loopback --host without an API key (anyone on the network may use it)")
    p.add_argument("--max-model-len", type=int, default=2048)
    p.add_argument("--dtype", help="vLLM --dtype (default: bfloat16 on CPU, auto on GPU)")
    p.add_argument("--gpu-memory-utilization", type=float,
                   help="fraction of GPU memory for vLLM, leaving the rest to CLIP training")
    p.add_argument("--python", help="interpreter with vLLM (default: .venv-llm/bin/python)")
    p.add_argument("--log", help="server log file (default: $VLCAT_CACHE/llm/logs/...)")
    p.add_argument("--state-file", help="where to record the running server (default: "
                   "$VLCAT_CACHE/llm/server.json)")
    p.add_argument("--startup-timeout", type=float, default=600.0)
    eager = p.add_mutually_exclusive_group()
    eager.add_argument("--eager", dest="eager", action="store_true", default=None,
                       help="skip torch.compile (default on CPU)")
    eager.add_argument("--compile", dest="eager", action="store_false", help="let vLLM compile (GPU default)")
    p.add_argument("--check", action="store_true",
                   help="do not start anything: check --url (default: the running server) and exit")
    p.add_argument("--url", help="endpoint for --check, e.g. http://127.0.0.1:8000/v1")
    p.add_argument("vllm_args", nargs=argparse.REMAINDER,
                   help="after --: extra arguments passed to vLLM unchanged")
    return p


def _check(args: argparse.Namespace) -> int:
    from vlcat.llm.endpoint import decide_endpoint
    from vlcat.llm.errors import LLMSetupError
    from vlcat.llm.serve import check_endpoint, read_state

    decided = decide_endpoint(args.url, args.served_name or args.model, api_key=args.api_key,
                              state_path=args.state_file)
    url, model = decided.url, decided.model
    if url is None:
        # Check the recorded server anyway: the precise reason (dead, wrong key, ...) helps more.
        recorded = read_state(args.state_file)
        if recorded is None:
            raise LLMSetupError("no running vLLM server recorded; pass --url or start one with "
                                "tools/serve_llm.py")
        url, model = recorded["url"], model or recorded["served_name"]
    if model is None:
        from vlcat.llm.client import LLMClient

        status = LLMClient(url, "", api_key=args.api_key).health()
        if not status.models:
            raise LLMSetupError(f"cannot list the models of {url}: {status.error}")
        model = status.models[0]
    print(check_endpoint(url, model, api_key=args.api_key))
    return 0


def _is_loopback(host: str) -> bool:
    import ipaddress

    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False  # a host name: it may resolve to anything


def _serve(args: argparse.Namespace) -> int:
    from vlcat.llm.errors import LLMSetupError
    from vlcat.llm.model import resolve_model
    from vlcat.llm.serve import ServerConfig, serve_forever

    if not _is_loopback(args.host) and not args.api_key:
        if not args.allow_open:
            raise LLMSetupError(f"--host {args.host} exposes the server to the network without an API key; set "
                                f"{ENV_API_KEY} (or --api-key), or pass --allow-open to serve it open anyway")
        print(f"warning: serving on {args.host} with no API key: anyone who can reach this port can use it",
              file=sys.stderr)
    resolved = resolve_model(args.model, served_name=args.served_name, python=args.python)
    extra = [a for a in args.vllm_args if a != "--"]
    config = ServerConfig(
        model=resolved.model,
        served_name=resolved.served_name,
        host=args.host,
        port=args.port,
        api_key=args.api_key,
        max_model_len=args.max_model_len,
        dtype=args.dtype or resolved.dtype,
        gpu_memory_utilization=args.gpu_memory_utilization,
        python=args.python,
        log_path=args.log,
        state_path=args.state_file,
        startup_timeout=args.startup_timeout,
        enforce_eager=args.eager,
        extra_args=extra,
        tie_to_parent=True,
    )
    print(f"starting vLLM for {resolved.model} ({resolved.source}); this takes about a minute on a CPU",
          flush=True)
    return serve_forever(config)


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return _check(args) if args.check else _serve(args)
    except VlcatError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exc.exit_code
