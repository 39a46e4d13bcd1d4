"""Helpers for tests and examples: a tiny open_clip config and a tiny real image dataset on disk.

They live in the package (like ``numpy.testing``) so every test folder and notebook builds the same
fixtures without copies.
"""

from __future__ import annotations

from vlcat.train.trainer import TrainerCallback

TINY_CFG = {
    "embed_dim": 32,
    "vision_cfg": {"image_size": 32, "layers": 2, "width": 64, "patch_size": 8, "head_width": 32},
    "text_cfg": {"context_length": 32, "vocab_size": 49408, "width": 64, "heads": 2, "layers": 3},
    "preprocess_cfg": {"size": 32, "mean": [0.5, 0.5, 0.5], "std": [0.25, 0.25, 0.25]},
}


COLORS = {"red": (220, 30, 30), "green": (30, 200, 40), "blue": (30, 60, 220), "yellow": (230, 220, 30)}


def write_tiny_dataset(root, n_train: int = 6, n_val: int = 4, n_test: int = 4, size: int = 40):
    """Real PNG files in CoOp's split_json layout plus a card file; returns the card path.

    Each class is a colour; images vary by noise and a bright square's position so crops differ.
    """
    import json
    from pathlib import Path

    import numpy as np
    from PIL import Image

    root = Path(root)
    ddir = root / "tiny"
    rng = np.random.default_rng(0)
    split: dict[str, list] = {"train": [], "val": [], "test": []}
    for label, (name, rgb) in enumerate(COLORS.items()):
        (ddir / "images" / name).mkdir(parents=True, exist_ok=True)
        for part, n in (("train", n_train), ("val", n_val), ("test", n_test)):
            for i in range(n):
                arr = np.clip(rng.normal(rgb, 25, size=(size, size, 3)), 0, 255).astype(np.uint8)
                x, y = rng.integers(0, size - 10, size=2)
                arr[y:y + 10, x:x + 10] = 255
                rel = f"{name}/{part}_{i}.png"
                Image.fromarray(arr).save(ddir / "images" / rel)
                split[part].append([rel, label, name])
    (ddir / "split_tiny.json").write_text(json.dumps(split))
    card = root / "tiny.yaml"
    card.write_text(
        "name: tiny\nreader: split_json\nfolder: tiny\nimage_dir: images\nsplit_file: split_tiny.json\n"
        "paths_relative_to: image_dir\ntemplate: 'a photo of a {}.'\n"
        "templates: ['a photo of a {}.', 'a {} thing.']\ndomain: 'colours'\nprepare: 'tiny fixture'\n"
    )
    return card


def tiny_prompt_depths(learner: str, depth: int = 2) -> dict[str, int]:
    """Overrides that fit a deep prompt learner's released depths (9, 12) to the tiny model (2 image, 3 text
    layers): ``depth`` for each of its ``*depth`` options (2: a prompt at layer 0 and one deeper layer)."""
    import dataclasses

    from vlcat.learners.options import LEARNER_OPTIONS

    options = LEARNER_OPTIONS.get(learner)
    fields = dataclasses.fields(options) if options else ()
    return {f"learner.{learner}.{f.name}": depth for f in fields if f.name.endswith("depth")}


def tiny_overrides(data_root, card, model_file, cache_dir, output_dir, **extra) -> list[str]:
    """``key=value`` overrides for a fast run of the tiny model on the tiny dataset."""
    base = {
        "output_dir": output_dir,
        "data.dataset": card,
        "data.root": data_root,
        "data.cache_dir": cache_dir,
        "data.num_shots": 4,
        "model.name": "tiny",
        "model.config": model_file,
        "learner.n_ctx": 4,
        "optim.max_epoch": 3,
        "optim.batch_size": 4,
        "train.progress": False,
        "train.epoch_lines": False,  # tests read stderr for one-line errors; tests of the lines turn them on
    }
    base.update(extra)
    return [f"{k}={v}" for k, v in base.items()]



def tiny_run(tiny_data, model_file, tmp_path, name: str = "run", **extra) -> list[str]:
    """``tiny_overrides`` for the ``tiny_data`` fixture's dataset, with cache and run folder under ``tmp_path``."""
    root, card = tiny_data
    return tiny_overrides(root, card, model_file, tmp_path / "cache", tmp_path / name, **extra)


def assert_one_line_error(err: str, text: str) -> None:
    """What a user error must look like on stderr: one ``error:`` line that says ``text``, no traceback."""
    assert err.startswith("error: ") and err.count("\n") == 1 and "Traceback" not in err, err
    assert text in err, err

class StopAtStep(TrainerCallback):
    """Asks the trainer to stop after global step ``step``, as an interruption would: the run leaves a
    checkpoint and no record, which is what resume tests start from."""

    def __init__(self, step: int) -> None:
        self.step = step

    def on_step_end(self, trainer, info) -> None:
        if trainer.global_step == self.step:
            trainer.stop_requested = True
