"""How much room a world task leaves for prompt tuning: zero-shot against a few-shot linear probe.

Prompt tuning can only beat the hand-written prompt where the image features know more than that prompt
says. A logistic-regression probe on K shots per class estimates what the features know; zero-shot with
the card's template is where tuning starts. This is how the task's style (the outline width in
particular) was calibrated: a style where the probe is no better than zero-shot leaves CoOp nothing to
learn, however it is tuned.

Images are drawn in memory from the task's own generator (same streams as the written dataset), with
optional overrides of the task's ``Style`` fields, so styles can be compared without writing datasets.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import numpy as np
import torch

from vlcat.synth.pretrain import accuracy, class_weights, image_features
from vlcat.synth.tasks import DEFAULT_TASK, Task, get_task, restyle
from vlcat.synth.toy_model import ASSETS_DIR, load_toy_clip


def styled_task(name: str = DEFAULT_TASK, **style: Any) -> Task:
    """The task (or shift) ``name`` with some ``Style`` fields replaced.

    An unknown task or field is a one-line ``DataError``.
    """
    task = get_task(name)
    return dataclasses.replace(task, style=restyle(task.style, **style)) if style else task


def _draw(task: Task, labels: range, split: str, per_class: int, seed: int, size: int):
    images, ys = [], []
    for label in labels:
        for i in range(per_class):
            images.append(task.image(label, split, i, seed=seed, size=size))
            ys.append(label)
    return images, ys


def domain_prompts(task: Task) -> list[str]:
    """The hand-written domain prompts of the task's card (empty when the card has none)."""
    from vlcat.data.cards import resolve_card

    return list(resolve_card(task.card).domain_prompts)


def probe(task: Task, *, assets_dir: str | Path = ASSETS_DIR, shots: int = 16, test_per_class: int = 40,
          seed: int = 0, c: float = 10.0) -> dict[str, Any]:
    """Zero-shot and ``shots``-shot linear-probe accuracy on the base half and zero-shot on the novel half.

    Base and novel are the first and second half of the labels, as ``subsample_classes`` splits them.
    Zero-shot uses the task's hand-written template (its card's ``template``). ``base_domain`` holds the
    base zero-shot of each of the card's hand-written domain prompts: how much a practitioner's wording
    moves the model, which is the lever an LLM proposer can pull and a random one cannot.
    """
    from sklearn.linear_model import LogisticRegression

    model, config = load_toy_clip(Path(assets_dir) / "toy_clip.json", Path(assets_dir) / "toy_clip.safetensors")
    size = int(config["preprocess_cfg"]["size"])
    n = len(task.classes)
    halves = {"base": range(0, (n + 1) // 2), "novel": range((n + 1) // 2, n)}
    result: dict[str, Any] = {"task": task.name, "chance_base": 1 / len(halves["base"]), "shots": shots,
                              "test_per_class": test_per_class, "seed": seed, "C": c}
    with torch.no_grad():
        for name, labels in halves.items():
            names = [task.classnames[i] for i in labels]
            test_images, test_labels = _draw(task, labels, "test", test_per_class, seed, size)
            feats = image_features(model, config, test_images)
            local = [y - labels.start for y in test_labels]
            result[f"{name}_zero_shot"] = accuracy(feats, class_weights(model, config, names, [task.template]),
                                                   local)
            if name == "base":
                result["base_domain"] = {t: accuracy(feats, class_weights(model, config, names, [t]), local)
                                         for t in domain_prompts(task)}
                train_images, train_labels = _draw(task, labels, "train", shots, seed, size)
                clf = LogisticRegression(C=c, max_iter=5000)
                clf.fit(image_features(model, config, train_images).numpy(), np.array(train_labels))
                result["base_linear_probe"] = float((clf.predict(feats.numpy()) == np.array(test_labels)).mean())
    return result
