"""Convert a GGUF chat model into a Hugging Face folder that vLLM can serve.

Runs as a script inside the LLM venv (``VENV_LLM/bin/python convert_gguf.py GGUF OUT``), never imported
by vlcat: that venv has transformers + gguf but not vlcat, and the project venv has neither. So this file
imports nothing from vlcat.

Why the detour through a fresh model: transformers dequantizes a GGUF on load but refuses to
``save_pretrained`` a model that still carries the GGUF quantization config; rebuilding the model from
its config without that entry and copying the weights over gives a plain checkpoint.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def convert(gguf_path: Path, out_dir: Path, dtype: str = "bfloat16") -> None:
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    torch_dtype = getattr(torch, dtype)
    folder, name = str(gguf_path.parent), gguf_path.name
    tokenizer = AutoTokenizer.from_pretrained(folder, gguf_file=name)
    loaded = AutoModelForCausalLM.from_pretrained(folder, gguf_file=name, dtype=torch.float32)
    config = loaded.config
    if hasattr(config, "quantization_config"):
        delattr(config, "quantization_config")
    config.dtype = torch_dtype
    model = AutoModelForCausalLM.from_config(config, dtype=torch_dtype)
    missing, unexpected = model.load_state_dict(loaded.state_dict(), strict=False)
    # Tied output embeddings may be absent from one side; anything else means a wrong architecture.
    missing = [k for k in missing if k != "lm_head.weight"]
    if missing or unexpected:
        raise RuntimeError(f"weights do not match the config: missing={missing} unexpected={unexpected}")
    model.generation_config = loaded.generation_config
    if not getattr(tokenizer, "chat_template", None):
        raise RuntimeError("the GGUF carries no chat template; vLLM's chat endpoint needs one")
    out_dir.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out_dir, safe_serialization=True)
    tokenizer.save_pretrained(out_dir)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("gguf", type=Path)
    parser.add_argument("out", type=Path)
    parser.add_argument("--dtype", default="bfloat16", choices=["bfloat16", "float16", "float32"])
    args = parser.parse_args(argv)
    try:
        convert(args.gguf, args.out, args.dtype)
    except Exception as exc:  # the parent shows this line; a traceback would be noise there
        print(f"conversion failed: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
