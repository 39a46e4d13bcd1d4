"""Whether an open_clip ``pretrained`` tag's weights can be had now: in the local cache, or over the network.

Without this check an offline machine spends ~45 s in the Hub client's retries (with a screen of repeated
warnings) before open_clip gives up. Here the answer takes milliseconds: weights already in the Hugging
Face cache (``~/.cache/huggingface/hub``, or ``HF_HUB_CACHE``) or in open_clip's URL cache
(``~/.cache/clip``) are used as they are; otherwise ``HF_HUB_OFFLINE=1`` says at once that nothing may be
downloaded, and without it one short TCP connect to the download host (3 s at most) says whether a
download can start.
"""

from __future__ import annotations

import os
import socket
import threading
from pathlib import Path
from urllib.parse import urlparse

import open_clip

HF_HOST = "huggingface.co"
PROBE_TIMEOUT_S = 3.0


def _hf_cached(repo_file: str) -> bool:
    try:
        from huggingface_hub import try_to_load_from_cache
    except ImportError:  # pragma: no cover - open_clip installs huggingface_hub
        return False
    repo, filename = os.path.split(repo_file)
    names = [filename or "open_clip_pytorch_model.bin"]
    names += [n.replace(".bin", ".safetensors").replace(".pth", ".safetensors") for n in names]
    names += ["open_clip_model.safetensors"]
    return any(isinstance(try_to_load_from_cache(repo, n), str) for n in names)


def _reachable(host: str, timeout: float = PROBE_TIMEOUT_S) -> bool:
    """One TCP connect to ``host:443``, name lookup included, bounded by ``timeout`` seconds in all."""
    result: list[bool] = []

    def probe() -> None:
        try:
            with socket.create_connection((host, 443), timeout=timeout):
                result.append(True)
        except OSError:
            result.append(False)

    worker = threading.Thread(target=probe, daemon=True)
    worker.start()
    worker.join(timeout)
    return bool(result and result[0])


def _offline_env() -> bool:
    return os.environ.get("HF_HUB_OFFLINE", "").strip().lower() in ("1", "true", "yes", "on")


def weights_unreachable(model: str, tag: str) -> str | None:
    """Why the weights of ``model``/``tag`` cannot be had now (a one-line message), or None when they can."""
    cfg = open_clip.get_pretrained_cfg(model, tag)
    if not cfg:
        known = open_clip.list_pretrained_tags_by_model(model)
        tags = ", ".join(known[:8]) + (", ..." if len(known) > 8 else "") if known else "none"
        return f"unknown pretrained tag '{tag}' for '{model}' (open_clip knows: {tags})"
    if "file" in cfg:
        return None
    hub, url = cfg.get("hf_hub", ""), cfg.get("url", "")
    if hub and _hf_cached(hub):
        return None
    if url and (Path.home() / ".cache" / "clip" / os.path.basename(url)).is_file():
        return None
    host = HF_HOST if hub else urlparse(url).hostname or HF_HOST
    fix = ("download them once on a machine with internet (they land in ~/.cache/huggingface/hub), or pass a "
           "local weights file via model.checkpoint=/path/to/open_clip_pytorch_model.bin")
    if _offline_env():
        return f"weights '{tag}' of '{model}' are not in the local cache and HF_HUB_OFFLINE is set: {fix}"
    if not _reachable(host):
        return f"weights '{tag}' of '{model}' are not in the local cache and {host} cannot be reached: {fix}"
    return None


def tokenizer_unreachable(repo: str) -> str | None:
    """Why the Hub tokenizer ``repo`` cannot be had now (one line), or None when it is cached or reachable."""
    if Path(repo).is_dir():
        return None
    try:
        from huggingface_hub import try_to_load_from_cache
    except ImportError:  # pragma: no cover - open_clip installs huggingface_hub
        return None
    if isinstance(try_to_load_from_cache(repo, "tokenizer_config.json"), str):
        return None
    fix = "on an offline machine give a saved tokenizer folder via model.tokenizer=/path/to/folder"
    if _offline_env():
        return f"the tokenizer '{repo}' is not in the local Hugging Face cache and HF_HUB_OFFLINE is set; {fix}"
    if not _reachable(HF_HOST):
        return f"the tokenizer '{repo}' is not in the local Hugging Face cache and {HF_HOST} cannot be reached; {fix}"
    return None
