"""The README's commands are tests: every shell command in its code blocks runs, so none can rot.

The commands are read from README.md's fenced ``bash``/``sh``/``shell``/``console`` blocks (continuation
lines joined, ``#`` comments dropped) and run in order, as a user would type them, with these changes only:

- the data root is the offline world (``synth_shapes``, generated into a temporary folder) and the model the
  embedded toy CLIP, because the README's examples name real datasets and weights this machine cannot have;
- long jobs are shortened by ``key=value`` overrides appended to the command (``SHORTEN`` below, by tool);
- ``runs/...`` output folders go to a temporary folder instead of the checkout;
- commands that need an LLM endpoint get the shared test server (the ``llm_server`` fixture, which also
  exports ``VLCAT_LLM_API_KEY``) via ``LLM`` below;
- ``python`` is this interpreter (the project venv), so ``. .venv/bin/activate`` is not run.

Left out on purpose, by exact command (``EXCLUDED``): ``make quickstart`` and ``make test``, which are what
CI itself runs (the quickstart also has its own shortened test in tests/quickstart/). A command that is
neither run nor excluded fails the test, so a new README command must be made runnable here.
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
README = REPO / "README.md"

EXCLUDED = {
    "make quickstart": "CI runs it as its own job",
    "make test": "CI runs it: it is this test suite",
    ". .venv/bin/activate": "the test already runs in the project venv",
    "python tools/base2novel.py --backend ray --address auto --gpus-per-run 0.25 --set data.root=/shared/data -o "
    "/shared/runs/b2n": "needs a Ray cluster with GPUs; tests/reports/test_sweep_ray.py runs sweeps on a local Ray "
                        "instance and on a two-node cluster on this machine",
    "python tools/import_checkpoint.py output/base2new/train_base/dtd/shots_16/CoCoOp/vit_b16_c4_ep10_batch1_ctxv1/"
    "seed1 -c configs/learners/cocoop.yaml data.dataset=dtd data.root=/data data.subsample_classes=base "
    "model.name=ViT-B-16 model.pretrained=openai train.seed=1 -o runs/dtd_cocoop_authors":
        "needs the authors' released checkpoint (a download); tests/interop/test_dassl_import.py imports checkpoints "
        "written in that format",
    "python tools/check_data.py --root /data oxford_pets imagenet": "needs the prepared CoOp datasets; "
                        "tests/data/test_doctor.py runs the doctor on real, partly broken data roots",
}

# Appended to every command of the tool (later overrides win), so the README's long jobs take seconds.
SHORTEN = {
    "tools/train.py": ["data.dataset=synth_shapes", "data.root={world}", "model.name=vlcat-toy",
                       "model.pretrained=null", "data.num_shots=2", "optim.max_epoch=2", "train.progress=false",
                       "data.cache_dir={cache}"],
}
# Appended when the command needs an LLM endpoint: the shared test server.
LLM = {
    "configs/catalyst/": ["llm.base_url={llm_url}", "llm.model={llm_model}", "llm.max_tokens=96",
                          "catalyst.rounds=1"],
    "tools/serve_llm.py --check": ["--url", "{llm_url}"],
}


def readme_commands(text: str) -> list[str]:
    """Shell commands of the README's shell code blocks, continuation lines joined, comments dropped."""
    commands: list[str] = []
    for block in re.findall(r"^```(?:bash|sh|shell|console)\n(.*?)^```", text, flags=re.S | re.M):
        joined = re.sub(r"\\\n\s*", " ", block)
        for line in joined.splitlines():
            words = shlex.split(line, comments=True)
            if words:
                commands.append(shlex.join(words))
    return commands


def test_the_readme_has_commands_and_each_is_run_or_excluded_by_name():
    commands = readme_commands(README.read_text())
    assert any(c.startswith("python tools/train.py") for c in commands)
    assert set(EXCLUDED) <= set(commands), "an exclusion names a command the README no longer has"


def _argv(command: str, fill: dict[str, str], tmp: Path) -> list[str]:
    words = shlex.split(command)
    extra: list[str] = []
    for tool, over in SHORTEN.items():
        if tool in words:
            extra += over
    for pattern, over in LLM.items():
        if pattern in command:
            extra += over
    words = [str(tmp / w) if w.startswith("runs/") else w for w in words]
    words = [w.replace("runs/", f"{tmp}/runs/") if "=runs/" in w else w for w in words]
    if words[0] == "python":
        words[0] = sys.executable
    return words + [e.format(**fill) for e in extra]


@pytest.mark.slow
@pytest.mark.llm
def test_every_readme_command_runs(llm_server, tmp_path):
    from vlcat.synth.dataset import build_synth_dataset

    world = tmp_path / "data"
    build_synth_dataset(world)
    fill = {"world": str(world), "cache": str(tmp_path / "cache"), "llm_url": llm_server.url,
            "llm_model": llm_server.served_name}
    env = dict(os.environ, VLCAT_CACHE=str(tmp_path / "cache"))
    ran = []
    for command in readme_commands(README.read_text()):
        if command in EXCLUDED:
            continue
        argv = _argv(command, fill, tmp_path)
        res = subprocess.run(argv, cwd=REPO, env=env, capture_output=True, text=True, timeout=900)
        assert res.returncode == 0, f"README command failed: {command}\n{shlex.join(argv)}\n{res.stderr[-3000:]}"
        ran.append(command)
    assert len(ran) >= 5
    assert (tmp_path / "runs" / "pets_coop" / "record.json").is_file()
    assert list((tmp_path / "runs" / "pets_coop" / "eval").glob("*novel*.json"))
    assert (tmp_path / "runs" / "pets_catalyst" / "llm_stages").is_dir()
