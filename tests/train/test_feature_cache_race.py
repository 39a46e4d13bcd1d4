"""Two processes racing on one feature-cache key (as parallel sweep runs do): one intact file, computed once."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from vlcat.data.types import Datum
from vlcat.train.features import FeatureCache

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[2]

# Each process loads the same tiny model, says it is ready, waits for "go", then asks for the same features.
WORKER = """
import json, sys, time
from pathlib import Path
import torch
from vlcat.clip import load_clip
from vlcat.data.types import Datum
from vlcat.testing import TINY_CFG
from vlcat.train.features import FeatureCache

tmp, name = Path(sys.argv[1]), sys.argv[2]
items = [Datum(**d) for d in json.loads((tmp / "items.json").read_text())]
torch.manual_seed(0)
clip = load_clip("tiny-test", model_config=TINY_CFG)
cache = FeatureCache(tmp / "cache")
(tmp / f"ready_{name}").touch()
while not (tmp / "go").exists():
    time.sleep(0.005)
cache.features(clip, items, clip.test_transform, batch_size=2)
print(json.dumps({"hits": cache.hits, "misses": cache.misses}))
"""


def images(root: Path) -> list[Datum]:
    files = sorted(p for p in root.rglob("*") if p.suffix.lower() in (".png", ".jpg", ".jpeg"))
    return [Datum(str(p), i % 2, p.parent.name) for i, p in enumerate(files)]


def test_two_processes_racing_on_one_key_leave_one_intact_file(tiny_data, tiny_clip, tmp_path):
    items = images(tiny_data[0])
    assert len(items) >= 8
    (tmp_path / "items.json").write_text(json.dumps([{"path": d.path, "label": d.label, "classname": d.classname}
                                                     for d in items]))
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    procs = [subprocess.Popen([sys.executable, "-c", WORKER, str(tmp_path), name], stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True, env=env) for name in ("a", "b")]
    try:
        deadline = time.monotonic() + 120
        while not all((tmp_path / f"ready_{n}").exists() for n in ("a", "b")):
            assert time.monotonic() < deadline and all(p.poll() is None for p in procs), "workers did not start"
            time.sleep(0.01)
        (tmp_path / "go").touch()
        outs = [p.communicate(timeout=120) for p in procs]
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait()
    assert [p.returncode for p in procs] == [0, 0], [err for _, err in outs]
    counts = [json.loads(out.strip().splitlines()[-1]) for out, _ in outs]
    assert sorted(c["misses"] for c in counts) == [0, 1]  # the images were encoded once, not twice
    assert sum(c["hits"] for c in counts) == 1
    files = sorted(p.name for p in (tmp_path / "cache" / "features").iterdir() if not p.name.startswith(".")
                   or p.name.endswith(".tmp"))
    assert len(files) == 1 and files[0].endswith(".pt")  # one file, no temporary left behind
    stored = torch.load(tmp_path / "cache" / "features" / files[0], weights_only=True)
    live = FeatureCache(None).features(tiny_clip, items, tiny_clip.test_transform, batch_size=2)
    assert stored.shape == live.shape and torch.allclose(stored, live, atol=1e-6)


def test_disabled_cache_computes_without_a_lock_folder(tiny_data, tiny_clip, tmp_path):
    cache = FeatureCache(tmp_path / "cache", enabled=False)
    cache.features(tiny_clip, images(tiny_data[0])[:2], tiny_clip.test_transform)
    assert (cache.hits, cache.misses) == (0, 1) and not (tmp_path / "cache").exists()
