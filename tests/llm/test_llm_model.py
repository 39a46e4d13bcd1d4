"""Model resolution and the one-time GGUF conversion (atomic, idempotent)."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from vlcat.llm.errors import LLMSetupError
from vlcat.llm.model import (
    DEFAULT_CUDA_MODEL,
    MARKER,
    build_atomically,
    cache_root,
    convert_gguf,
    default_model_dir,
    find_embedded_gguf,
    is_complete,
    prepare_default_model,
    resolve_model,
    resolve_python,
)


def test_cache_root_follows_vlcat_cache(monkeypatch, tmp_path):
    monkeypatch.setenv("VLCAT_CACHE", str(tmp_path))
    assert cache_root() == tmp_path
    assert default_model_dir() == tmp_path / "llm" / "smollm2-135m-instruct"
    monkeypatch.delenv("VLCAT_CACHE")
    assert cache_root() == Path.home() / ".cache" / "vlcat"


def test_explicit_model_wins_and_cuda_default_is_documented(tmp_path):
    explicit = resolve_model("org/Some-Model", cuda=False)
    assert (explicit.model, explicit.served_name, explicit.source) == ("org/Some-Model", "org/Some-Model", "explicit")
    local = resolve_model(str(tmp_path), served_name="mine", cuda=True)
    assert (local.model, local.served_name, local.dtype) == (str(tmp_path), "mine", "auto")
    cuda = resolve_model(cuda=True)
    assert (cuda.model, cuda.source) == (DEFAULT_CUDA_MODEL, "cuda-default")


def test_missing_llm_interpreter_is_a_setup_error(tmp_path):
    with pytest.raises(LLMSetupError, match="make venv-llm"):
        resolve_python(tmp_path / "nope" / "python")


def test_atomic_build_is_idempotent_and_never_leaves_half_a_folder(tmp_path):
    target = tmp_path / "model"
    calls = []

    def broken(tmp: Path) -> dict:
        (tmp / "config.json").write_text("{}")
        raise RuntimeError("disk full halfway")

    with pytest.raises(RuntimeError, match="halfway"):
        build_atomically(target, broken)
    assert not target.exists() and [p.name for p in tmp_path.iterdir()] == [".model.lock"]

    target.mkdir()  # a leftover of some older crash: present but unmarked, so it must not be used
    (target / "stale").write_text("x")

    def good(tmp: Path) -> dict:
        calls.append(tmp)
        (tmp / "config.json").write_text("{}")
        return {"source": "test"}

    assert build_atomically(target, good) == target
    assert is_complete(target) and not (target / "stale").exists()
    assert json.loads((target / MARKER).read_text())["source"] == "test"
    build_atomically(target, good)
    assert len(calls) == 1


def test_embedded_gguf_is_found_without_importing_the_package():
    gguf = find_embedded_gguf()
    assert gguf.name == "SmolLM2-135M-Instruct.Q4_1.gguf" and gguf.stat().st_size > 50_000_000


def test_real_conversion_is_complete_and_prepare_is_a_noop_afterwards():
    """The default folder is converted once from the real GGUF (by `make llm-model` or here)."""
    folder = prepare_default_model()
    marker = json.loads((folder / MARKER).read_text())
    assert marker["source"].endswith(".gguf")
    assert (folder / "model.safetensors").stat().st_size > 100_000_000
    assert json.loads((folder / "config.json").read_text())["architectures"] == ["LlamaForCausalLM"]
    assert "quantization_config" not in json.loads((folder / "config.json").read_text())
    mtime = (folder / "model.safetensors").stat().st_mtime
    start = time.monotonic()
    assert prepare_default_model() == folder
    assert time.monotonic() - start < 5 and (folder / "model.safetensors").stat().st_mtime == mtime


@pytest.mark.slow
def test_failed_real_conversion_leaves_nothing(tmp_path):
    """A truncated GGUF makes the real converter fail in the LLM venv; no target, no temp folder."""
    gguf = find_embedded_gguf()
    broken = tmp_path / "broken.gguf"
    with open(gguf, "rb") as src:
        broken.write_bytes(src.read(2_000_000))
    target = tmp_path / "out" / "model"
    with pytest.raises(LLMSetupError, match="conversion failed|converting"):
        convert_gguf(broken, target)
    assert not target.exists()
    assert [p.name for p in target.parent.iterdir()] == [".model.lock"]
