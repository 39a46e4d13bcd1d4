"""The adapters' equations against values written out by hand or computed here with plain torch.

Tip-Adapter (gaopengcuhk/Tip-Adapter ``main.py``, ``utils.py``): ``logits = s f W^T + alpha exp(-beta (1 - f K^T)) V``,
keys the L2-normalised mean of the augmented views, alpha and beta the first best pair on validation over
``0.1 + i (max - 0.1) / steps``. CLIP-Adapter (gaopengcuhk/CLIP-Adapter ``clip_adapter.py``):
``f' = 0.2 ReLU(W2 ReLU(W1 f)) + 0.8 f``, scored by cosine against the hand-written prompt's features.
"""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from vlcat.learners.clip_adapter import ClipAdapter
from vlcat.learners.tip_adapter import TipAdapter, search_alpha_beta, search_grid
from vlcat.learners.tip_adapter_f import TipAdapterF

NAMES = ["red circle", "blue square", "green star"]


def _text(clip, template: str, names: list[str]) -> torch.Tensor:
    """open_clip's own encode_text of the filled template, L2-normalised."""
    with torch.no_grad():
        t = clip.model.encode_text(clip.tokenizer([template.format(n) for n in names])).float()
    return t / t.norm(dim=-1, keepdim=True)


def _four_d(learner: TipAdapter) -> None:
    """The written-out example: 3 classes x 2 shots of unit keys in 4-d, W = e1, e2, e3, scale 100."""
    e = torch.eye(4)
    r = 1 / math.sqrt(2)
    keys = torch.stack([e[0], (e[0] + e[1]) * r, e[1], e[2], e[3], (e[2] + e[3]) * r])
    values = F.one_hot(torch.tensor([0, 0, 1, 1, 2, 2]), 3).float()
    learner.weights = e[:3].clone()
    learner.logit_scale.fill_(100.0)
    learner.load_trainable_state({"keys": keys, "values": values,
                                  "alpha_beta": torch.tensor([1.5, 2.0], dtype=torch.float64)})


@pytest.mark.parametrize("cls", [TipAdapter, TipAdapterF])
def test_tip_adapter_logits_written_out_for_three_classes_two_shots_four_dims(tiny_clip, cls):
    learner = cls(tiny_clip, NAMES)
    _four_d(learner)
    f = torch.tensor([[3.0, 3.0, 0.0, 0.0]])  # unnormalised: the learner normalises it to (e1 + e2) / sqrt(2)
    # cosines to the keys: 1/sqrt2, 1, 1/sqrt2, 0, 0, 0 -> affinities exp(-2 (1 - cos))
    a = math.exp(-2 * (1 - 1 / math.sqrt(2)))
    z = math.exp(-2.0)
    expected = [100 / math.sqrt(2) + 1.5 * (a + 1.0),   # class 0: keys e1 and (e1 + e2)/sqrt2
                100 / math.sqrt(2) + 1.5 * (a + z),     # class 1: keys e2 and e3
                0.0 + 1.5 * (z + z)]                     # class 2: keys e4 and (e3 + e4)/sqrt2
    assert learner.logits(f)[0].tolist() == pytest.approx(expected, abs=1e-4)
    assert learner.predict(f)[0].tolist() == pytest.approx(expected, abs=1e-4)


def test_tip_adapter_cache_and_logits_on_real_features_equal_plain_torch(tiny_clip):
    learner = TipAdapter(tiny_clip, NAMES, init_alpha=2.0, init_beta=3.0, templates=["a photo of a {}."])
    g = torch.Generator().manual_seed(0)
    views = torch.randn(10, 6, 32, generator=g)  # 10 augmented views of 2 shots x 3 classes
    labels = torch.tensor([0, 0, 1, 1, 2, 2])
    learner.start_training(views, labels)
    mean = views.mean(0)
    keys = mean / mean.norm(dim=-1, keepdim=True)
    assert torch.allclose(learner.keys, keys, atol=1e-6)
    assert torch.equal(learner.values, torch.eye(3)[labels])

    x = torch.randn(5, 32, generator=g)
    f = x / x.norm(dim=-1, keepdim=True)
    w = _text(tiny_clip, "a photo of a {}.", NAMES)
    scale = tiny_clip.model.logit_scale.exp().item()
    expected = scale * f @ w.t() + 2.0 * torch.exp(-3.0 * (1 - f @ keys.t())) @ torch.eye(3)[labels]
    assert torch.allclose(learner.logits(x), expected, atol=1e-4)


def test_tip_adapter_zero_shot_part_is_the_normalised_template_ensemble(tiny_clip):
    templates = ["a photo of a {}.", "art of the {}."]
    learner = TipAdapter(tiny_clip, NAMES, templates=templates)
    w = torch.stack([_text(tiny_clip, t, NAMES) for t in templates]).mean(0)
    assert torch.allclose(learner.weights, w / w.norm(dim=-1, keepdim=True), atol=1e-6)


def test_the_authors_grid_written_out():
    grid = search_grid(7.0, 200)  # ImageNet's beta range: search_scale 7, search_step 200
    assert len(grid) == 200 and grid[0] == pytest.approx(0.1) and grid[1] == pytest.approx(0.1 + 6.9 / 200)
    assert grid[-1] == pytest.approx(0.1 + 199 * 6.9 / 200)
    assert search_grid(3.0, 20)[:3] == pytest.approx([0.1, 0.245, 0.39])


def test_search_picks_the_first_pair_best_on_validation_in_a_constructed_case():
    """Two validation images, two cached images (one per class). Image A (class 1) sits on class 1's key but
    CLIP prefers class 0 by 1; image B (class 0) sits on the same key and CLIP prefers class 0 by 2. Both are
    right exactly when 1 < alpha (1 - exp(-beta)) < 2. On betas 0.5, 1, 4 and alphas 1, 2, 3 that holds for
    (0.5, 3), (1, 2), (1, 3), (4, 2); beta is the outer loop, so the authors' search returns (0.5, 3)."""
    clip_logits = torch.tensor([[1.0, 0.0], [2.0, 0.0]])
    similarity = torch.tensor([[0.0, 1.0], [0.0, 1.0]])
    values = torch.eye(2)
    labels = torch.tensor([1, 0])
    found = search_alpha_beta(clip_logits, similarity, values, labels, [0.5, 1.0, 4.0], [1.0, 2.0, 3.0])
    assert (found.beta, found.alpha, found.accuracy, found.tried) == (0.5, 3.0, 100.0, 9)
    # the first 50 % pair is kept when nothing is better: (0.5, 1) gets B right and A wrong
    found = search_alpha_beta(clip_logits, similarity, values, labels, [0.5, 1.0], [1.0])
    assert (found.beta, found.alpha, found.accuracy) == (0.5, 1.0, 50.0)


def test_learner_search_equals_a_brute_force_walk_of_the_grid(tiny_clip):
    learner = TipAdapter(tiny_clip, NAMES, beta_max=5.0, alpha_max=4.0, beta_steps=12, alpha_steps=6,
                         templates=["a photo of a {}."])
    g = torch.Generator().manual_seed(3)
    labels = torch.tensor([0, 0, 1, 1, 2, 2])
    learner.start_training(torch.randn(2, 6, 32, generator=g), labels)
    val_x, val_y = torch.randn(30, 32, generator=g), torch.randint(0, 3, (30,), generator=g)
    summary = learner.search_on((val_x, val_y))

    f = val_x / val_x.norm(dim=-1, keepdim=True)
    clip_logits = tiny_clip.model.logit_scale.exp().item() * f @ _text(tiny_clip, "a photo of a {}.", NAMES).t()
    best, best_pair = -1, None
    for i in range(12):
        beta = 0.1 + i * (5.0 - 0.1) / 12
        for j in range(6):
            alpha = 0.1 + j * (4.0 - 0.1) / 6
            logits = clip_logits + alpha * torch.exp(-beta * (1 - f @ learner.keys.t())) @ torch.eye(3)[labels]
            correct = int((logits.argmax(-1) == val_y).sum())
            if correct > best:
                best, best_pair = correct, (beta, alpha)
    assert (summary["beta"], summary["alpha"]) == pytest.approx(best_pair)
    assert (learner.beta, learner.alpha) == pytest.approx(best_pair)
    assert summary["search"]["val_acc"] == pytest.approx(100.0 * best / 30)


def test_paper_defaults_per_dataset(tiny_clip):
    flowers = TipAdapter(tiny_clip, NAMES, dataset="oxford_flowers")
    assert (flowers.alpha, flowers.beta, flowers.betas[-1], flowers.alphas[-1]) == pytest.approx(
        (10.0, 1.0, 0.1 + 199 * 49.9 / 200, 0.1 + 19 * 49.9 / 20))
    other = TipAdapter(tiny_clip, NAMES, dataset="synth_shapes")  # outside the table: ImageNet's
    assert (other.alpha, other.betas[-1], other.alphas[-1]) == pytest.approx((1.17, 0.1 + 199 * 6.9 / 200,
                                                                               0.1 + 19 * 2.9 / 20))


def test_clip_adapter_residual_mixing_equals_plain_torch(tiny_clip):
    torch.manual_seed(0)
    learner = ClipAdapter(tiny_clip, NAMES)
    w1, w2 = learner.adapter[0].weight.detach(), learner.adapter[2].weight.detach()
    assert tuple(w1.shape) == (8, 32) and tuple(w2.shape) == (32, 8)  # reduction 4 of the 32-wide features
    assert learner.adapter[0].bias is None and learner.adapter[2].bias is None
    x = torch.randn(4, 32, generator=torch.Generator().manual_seed(1))
    adapted = torch.relu(torch.relu(x @ w1.t()) @ w2.t())
    mixed = 0.2 * adapted + 0.8 * x
    text = _text(tiny_clip, "a photo of a {}.", NAMES)
    expected = tiny_clip.model.logit_scale.exp().item() * F.normalize(mixed, dim=-1) @ text.t()
    assert torch.allclose(learner.logits(x), expected, atol=1e-4)

    # ratio 0 is zero-shot CLIP exactly; ratio 1 scores the adapter's output alone
    zero = ClipAdapter(tiny_clip, NAMES, ratio=0.0)
    scale = tiny_clip.model.logit_scale.exp().item()
    assert torch.allclose(zero.logits(x), scale * F.normalize(x, dim=-1) @ text.t(), atol=1e-5)
    one = ClipAdapter(tiny_clip, NAMES, ratio=1.0)
    one.load_trainable_state(learner.trainable_state())
    assert torch.allclose(one.logits(x), scale * F.normalize(adapted, dim=-1) @ text.t(), atol=1e-4)
