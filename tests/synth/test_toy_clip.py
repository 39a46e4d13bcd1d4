"""The committed toy CLIP: loads with plain open_clip and recognises the world's classes zero-shot."""

from __future__ import annotations

import json

import pytest
import torch

from vlcat.synth.pretrain import accuracy, class_weights, encode_text_truncated, image_features
from vlcat.synth.tasks import DEFAULT_TASK, TASKS
from vlcat.synth.toy_model import CONFIG_PATH, RECORD_PATH, WEIGHTS_PATH, build_clip, tokenizer
from vlcat.synth.world import GENERATOR_VERSION

MAX_BYTES = 30 * 1024 * 1024


@pytest.fixture(scope="module")
def toy():
    from open_clip.model import CLIP
    from safetensors.torch import load_file

    cfg = json.loads(CONFIG_PATH.read_text())
    model = CLIP(embed_dim=cfg["embed_dim"], vision_cfg=cfg["vision_cfg"], text_cfg=cfg["text_cfg"],
                 quick_gelu=cfg.get("quick_gelu", False))
    state = load_file(str(WEIGHTS_PATH))
    model.load_state_dict({k: v.float() if v.is_floating_point() else v for k, v in state.items()}, strict=True)
    return model.eval(), cfg, state


def test_assets_are_small_and_well_formed(toy) -> None:
    model, cfg, state = toy
    assert WEIGHTS_PATH.stat().st_size < MAX_BYTES
    assert set(cfg) >= {"embed_dim", "vision_cfg", "text_cfg", "preprocess_cfg"}
    pp = cfg["preprocess_cfg"]
    assert pp["size"] == cfg["vision_cfg"]["image_size"] and len(pp["mean"]) == len(pp["std"]) == 3
    assert all(v.dtype == torch.float16 for v in state.values() if v.is_floating_point())
    assert set(state) == set(model.state_dict())
    assert cfg["text_cfg"]["vocab_size"] == 49408  # open_clip's CLIP BPE, so decoded tokens are words
    record = json.loads(RECORD_PATH.read_text())
    assert record["zero_shot"]["n_classes"] == len(TASKS[DEFAULT_TASK].classnames)


def test_zero_shot_is_clearly_above_chance(toy) -> None:
    model, cfg, _ = toy
    task = TASKS[DEFAULT_TASK]
    # Fresh images (seed not used for the committed split), two per class: a few seconds on a CPU.
    images, labels = [], []
    for label in range(len(task.classes)):
        for i in range(2):
            images.append(task.image(label, "test", i, seed=12345, size=cfg["vision_cfg"]["image_size"]))
            labels.append(label)
    with torch.no_grad():
        acc = accuracy(image_features(model, cfg, images),
                       class_weights(model, cfg, task.classnames, ["a photo of a {}."]), labels)
    assert acc > 10 / len(task.classes), acc  # chance is 1/48; the record says ~0.5


def test_record_describes_the_current_task_and_shows_the_style_gap() -> None:
    """The record's zero-shot numbers must be for the data users generate now, and the task must leave
    room for prompt tuning: filled shapes (the pretraining style) are recognised far better than the
    task's outlines with the same hand-written prompt."""
    record = json.loads(RECORD_PATH.read_text())
    assert record["zero_shot_generator_version"] == GENERATOR_VERSION
    zs = record["zero_shot"]
    assert zs["pretrain_style_accuracy"] > zs["accuracy"] + 0.2


def test_truncated_text_encoder_is_exact(toy) -> None:
    model, cfg, _ = toy
    tokens = tokenizer(cfg)(["a red circle.", "a dark photo of a small blue star on a striped background"])
    with torch.no_grad():
        full = model.encode_text(tokens)
        short = encode_text_truncated(model, tokens)
    torch.testing.assert_close(short, full, atol=1e-5, rtol=1e-5)


def test_builds_from_its_config_alone() -> None:
    cfg = json.loads(CONFIG_PATH.read_text())
    model = build_clip(cfg)
    assert sum(p.numel() for p in model.parameters()) > 1_000_000


def test_loads_through_vlcat_load_clip() -> None:
    clip = pytest.importorskip("vlcat.clip")
    bundle = clip.load_clip("vlcat-toy")
    cfg = json.loads(CONFIG_PATH.read_text())
    assert bundle.context_length == cfg["text_cfg"]["context_length"]
    task = TASKS[DEFAULT_TASK]
    images = [task.image(label, "test", 0, seed=999) for label in range(len(task.classes))]
    with torch.no_grad():
        feats = torch.nn.functional.normalize(
            bundle.model.encode_image(torch.stack([bundle.test_transform(im) for im in images])), dim=-1)
        text = bundle.tokenizer([f"a photo of a {c}." for c in task.classnames])
        weights = torch.nn.functional.normalize(bundle.model.encode_text(text), dim=-1)
    assert accuracy(feats, weights, list(range(len(images)))) > 10 / len(task.classes)
