"""Each learner against a plain, written-out version of its paper's equations (fp32, 1e-5).

The reference runs open_clip's own ``encode_text`` on full-length prompts (the token lookup replaced by
the prompt embeddings, as the authors' TextEncoder does) and spells each loss out with plain tensor ops,
one image and one class at a time where the paper does; vlcat's learners use the fast shared-prefix and
truncated encoders. Logits, losses and the gradients of every trainable tensor must agree.
"""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from vlcat.learners.base import tokenize
from vlcat.learners.cocoop import CoCoOp
from vlcat.learners.coop import CoOp
from vlcat.learners.kgcoop import KgCoOp
from vlcat.learners.prograd import ProGrad, project_conflict

NAMES = ["red circle", "blue_square", "dog", "green triangle"]
TOL = {"atol": 1e-5, "rtol": 1e-5}


class _Given(nn.Module):
    """Stands in for the token lookup: returns the given prompt embeddings."""

    def __init__(self, embeds: torch.Tensor) -> None:
        super().__init__()
        self.embeds = embeds

    def forward(self, ids: torch.Tensor) -> torch.Tensor:  # noqa: ARG002
        return self.embeds


def encode_prompts(clip, embeds: torch.Tensor, ids: torch.Tensor) -> torch.Tensor:
    """open_clip's encode_text with the lookup replaced by ``embeds`` ``[N, L, D]`` (ids give the EOT)."""
    model = clip.model
    lookup = model.token_embedding
    model.token_embedding = _Given(embeds)
    try:
        return model.encode_text(ids)
    finally:
        model.token_embedding = lookup


def full_prompts(clip, ctx_text: str, names: list[str]) -> tuple[torch.Tensor, torch.Tensor]:
    """Token ids and embeddings of "<ctx_text> <name>." at full length."""
    ids = tokenize(clip, [f"{ctx_text} {n.replace('_', ' ')}." for n in names])
    with torch.no_grad():
        emb = clip.model.token_embedding(ids).float()
    return ids, emb


def with_context(emb: torch.Tensor, ctx: torch.Tensor) -> torch.Tensor:
    """Replace slots 1..n_ctx of every prompt by ``ctx`` ``[n_ctx, D]`` (keeps the graph to ctx)."""
    n = ctx.shape[0]
    return torch.cat([emb[:, :1], ctx.unsqueeze(0).expand(emb.shape[0], -1, -1), emb[:, 1 + n:]], dim=1)


def cos_logits(scale: torch.Tensor, img: torch.Tensor, text: torch.Tensor) -> torch.Tensor:
    return scale * (img / img.norm(dim=-1, keepdim=True)) @ (text / text.norm(dim=-1, keepdim=True)).t()


def _features(n: int = 6, dim: int = 32, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, dim, generator=g), torch.arange(n) % len(NAMES)


def _grads(learner: nn.Module) -> dict[str, torch.Tensor]:
    return {k: p.grad.detach().clone() for k, p in learner.named_parameters() if p.requires_grad}


def test_coop_equals_the_written_out_prompt(tiny_clip):
    torch.manual_seed(0)
    learner = CoOp(tiny_clip, NAMES, n_ctx=4)
    feats, labels = _features()
    ids, emb = full_prompts(tiny_clip, "X X X X", NAMES)
    ctx = learner.ctx.detach().clone().requires_grad_(True)
    ref = cos_logits(learner.logit_scale, feats, encode_prompts(tiny_clip, with_context(emb, ctx), ids))
    F.cross_entropy(ref, labels).backward()
    out = learner.training_loss(feats, labels)
    learner.backward(out)
    assert torch.allclose(out.logits, ref, **TOL)
    assert torch.allclose(learner.ctx.grad, ctx.grad, **TOL)


def test_cocoop_equals_per_image_prompts_through_the_meta_net(tiny_clip):
    """t_y(x) = [v_1 + pi(x), ..., v_M + pi(x), c_y], pi = Linear-ReLU-Linear of x/|x|; one image at a time."""
    torch.manual_seed(0)
    learner = CoCoOp(tiny_clip, NAMES, ctx_init="a photo of a")
    assert learner.meta_net[0].out_features == 32 // 16 and learner.meta_net[2].out_features == 64
    feats, labels = _features()
    ids, emb = full_prompts(tiny_clip, "a photo of a", NAMES)
    ctx = learner.ctx.detach().clone().requires_grad_(True)
    l1, l2 = learner.meta_net[0], learner.meta_net[2]
    w1, b1, w2, b2 = (t.detach().clone().requires_grad_(True) for t in (l1.weight, l1.bias, l2.weight, l2.bias))
    rows = []
    for x in feats:
        xn = x / x.norm()
        shift = w2 @ torch.relu(w1 @ xn + b1) + b2
        text = encode_prompts(tiny_clip, with_context(emb, ctx + shift), ids)
        rows.append(learner.logit_scale * xn @ (text / text.norm(dim=-1, keepdim=True)).t())
    ref = torch.stack(rows)
    F.cross_entropy(ref, labels).backward()
    out = learner.training_loss(feats, labels)
    learner.backward(out)
    grads = _grads(learner)
    assert torch.allclose(out.logits, ref, **TOL)
    assert torch.allclose(grads["ctx"], ctx.grad, **TOL)
    for name, ref_grad in (("meta_net.0.weight", w1), ("meta_net.0.bias", b1), ("meta_net.2.weight", w2),
                           ("meta_net.2.bias", b2)):
        assert torch.allclose(grads[name], ref_grad.grad, **TOL), name
    # evaluation and candidate scoring give the same logits as training
    with torch.no_grad():
        assert torch.allclose(learner.predict(feats), ref.detach(), **TOL)
        scored = learner.context_logits(learner.get_context().unsqueeze(0), [feats])[0][0]
        assert torch.allclose(scored, ref.detach(), **TOL)


def test_cocoop_plain_path_equals_fast_path(tiny_clip):
    torch.manual_seed(0)
    fast = CoCoOp(tiny_clip, NAMES, ctx_init="a photo of a")
    plain = CoCoOp(tiny_clip, NAMES, ctx_init="a photo of a", fast_text=False)
    plain.load_trainable_state(fast.trainable_state())
    feats, _ = _features()
    assert torch.allclose(fast.logits(feats), plain.logits(feats), **TOL)


def test_kgcoop_adds_lambda_times_one_minus_mean_cosine(tiny_clip):
    torch.manual_seed(0)
    learner = KgCoOp(tiny_clip, NAMES, ctx_init="a photo of a", weight=8.0,
                     template="a photo of a {}, a type of texture.")
    feats, labels = _features()
    ids, emb = full_prompts(tiny_clip, "a photo of a", NAMES)
    hand_ids = tokenize(tiny_clip, [f"a photo of a {n.replace('_', ' ')}, a type of texture." for n in NAMES])
    with torch.no_grad():
        hand = tiny_clip.model.encode_text(hand_ids).float()
    ctx = learner.ctx.detach().clone().requires_grad_(True)
    text = encode_prompts(tiny_clip, with_context(emb, ctx), ids)
    logits = cos_logits(learner.logit_scale, feats, text)
    cosines = torch.stack([torch.dot(t, h) / (t.norm() * h.norm()) for t, h in zip(text, hand, strict=True)])
    ref_loss = F.cross_entropy(logits, labels) + 8.0 * (1.0 - cosines.mean())
    ref_loss.backward()
    out = learner.training_loss(feats, labels)
    learner.backward(out)
    assert torch.allclose(out.logits, logits.detach(), **TOL)
    assert torch.allclose(out.loss, ref_loss.detach(), **TOL)
    assert torch.allclose(learner.ctx.grad, ctx.grad, **TOL)


@pytest.mark.parametrize("labels_from", ["teacher_best", "teacher_worst"])
def test_prograd_projects_the_ce_gradient_off_the_kd_gradient(tiny_clip, labels_from):
    """Labels the teacher agrees with give aligned gradients (no projection); labels it finds least likely
    give conflicting ones (projection): both branches of the rule are checked against the formula."""
    torch.manual_seed(0)
    learner = ProGrad(tiny_clip, NAMES, n_ctx=10, template="a type of pet, a photo of a {}.")
    # The authors' init, written out: words = the template without " {}."; n = len(words.split(" ")) = 8;
    # ctx = zeros(n_ctx); ctx[n_ctx - n:] = token_embedding(tokenize(words))[0, 1:1 + n]; the prompt text is
    # "X" * (n_ctx - n) + " " + words + " " + name + ".", so the 9th token of the words ("a") stays fixed.
    words = "a type of pet, a photo of a"
    n = len(words.split(" "))
    with torch.no_grad():
        expected = torch.zeros(10, 64)
        expected[10 - n:] = tiny_clip.model.token_embedding(tokenize(tiny_clip, [words]))[0, 1:1 + n]
    assert torch.equal(learner.ctx.detach(), expected)
    assert learner.fixed_text == "a" and learner.prompt_text().endswith(" a {}.")
    with torch.no_grad():  # move away from the teacher so the two gradients are not trivially aligned
        learner.ctx.add_(0.3 * torch.randn_like(learner.ctx))
    feats, _ = _features(8)
    ids, emb = full_prompts(tiny_clip, "X X " + words, NAMES)
    teacher_ids = tokenize(tiny_clip, [f"a type of pet, a photo of a {n.replace('_', ' ')}." for n in NAMES])
    with torch.no_grad():
        teacher = cos_logits(learner.logit_scale, feats, tiny_clip.model.encode_text(teacher_ids).float())
    labels = teacher.argmax(-1) if labels_from == "teacher_best" else teacher.argmin(-1)
    ctx = learner.ctx.detach().clone().requires_grad_(True)
    logits = cos_logits(learner.logit_scale, feats, encode_prompts(tiny_clip, with_context(emb, ctx), ids))
    ce = F.cross_entropy(logits, labels)
    p_t = teacher.softmax(-1)
    kd = (p_t * (p_t.log() - logits.log_softmax(-1))).sum(-1).mean()  # KL(zero-shot || current), T = 1
    g_ce, = torch.autograd.grad(ce, ctx, retain_graph=True)
    g_kd, = torch.autograd.grad(kd, ctx)
    unit = g_kd / g_kd.norm()
    conflict = float((g_ce * unit).sum()) < 0
    assert conflict == (labels_from == "teacher_worst")
    ref = g_ce - 1.0 * (g_ce * unit).sum() * unit if conflict else g_ce
    out = learner.training_loss(feats, labels)
    assert torch.allclose(out.logits, logits.detach(), **TOL)
    assert torch.allclose(out.terms["kd"], kd.detach(), **TOL)
    learner.backward(out)
    assert torch.allclose(learner.ctx.grad, ref, **TOL)
    assert float(out.terms["projected"]) == (1.0 if conflict else 0.0)


@pytest.mark.parametrize("sign", [1.0, -1.0])
def test_projection_only_when_the_gradients_conflict(sign):
    ref = torch.tensor([1.0, 0.0, 0.0])
    g = torch.tensor([sign * 2.0, 3.0, 0.0])
    out = project_conflict(g, ref, 1.0)
    if sign > 0:
        assert torch.equal(out, g)
    else:
        assert torch.allclose(out, torch.tensor([0.0, 3.0, 0.0]))  # the conflicting component is gone
        assert torch.allclose(project_conflict(g, ref, 0.5), torch.tensor([-1.0, 3.0, 0.0]))


def _blobs(n_per: int, seed: int, dim: int = 32, classes: int = 4, spread: float = 1.5):
    g = torch.Generator().manual_seed(seed)
    centers = torch.randn(classes, dim, generator=torch.Generator().manual_seed(99))
    x = torch.cat([centers[c] + spread * torch.randn(n_per, dim, generator=g) for c in range(classes)])
    return x, torch.arange(classes).repeat_interleave(n_per)


@pytest.mark.parametrize("classes", [4, 2])
def test_linear_probe_is_sklearn_logistic_regression_with_coops_search(tiny_clip, classes):
    from sklearn.linear_model import LogisticRegression

    from vlcat.learners.linear_probe import GRID, LinearProbe

    names = NAMES[:classes]
    train, val, test = (_blobs(n, seed, classes=classes) for n, seed in ((4, 1), (4, 2), (10, 3)))
    learner = LinearProbe(tiny_clip, names)
    summary = learner.fit(train[0], train[1], val)

    def val_acc(c: float) -> float:
        clf = LogisticRegression(max_iter=1000, C=c).fit(train[0].numpy(), train[1].numpy())
        return float((clf.predict(val[0].numpy()) == val[1].numpy()).mean())

    # CoOp's search, written out: the grid, then 8 rounds between 0.1x and 10x the best grid value
    accs = [val_acc(c) for c in GRID]
    peak = GRID[accs.index(max(accs))]
    lo, hi, chosen = 0.1 * peak, 10.0 * peak, peak
    for _ in range(8):
        mid = 10 ** ((torch.tensor(lo).log10() + torch.tensor(hi).log10()) / 2).item()
        if val_acc(lo) < val_acc(hi):
            chosen, lo = hi, mid
        else:
            chosen, hi = lo, mid
    assert summary["c"] == pytest.approx(chosen, rel=1e-9)
    clf = LogisticRegression(max_iter=1000, C=summary["c"]).fit(train[0].numpy(), train[1].numpy())
    ours = learner.logits(test[0]).softmax(-1)
    assert torch.allclose(ours, torch.from_numpy(clf.predict_proba(test[0].numpy())).float(), atol=1e-5)
    assert torch.equal(ours.argmax(-1), torch.from_numpy(clf.predict(test[0].numpy())))


def test_coop_word_count_keeps_the_extra_init_tokens_fixed(tiny_clip):
    """CoOp's code: n_ctx = words of ctx_init ("itap of a" -> 3), the first 3 *tokens* learn ("it", "ap",
    "of") and the rest ("a") stays a fixed word of the prompt; vlcat's default learns all 4 tokens."""
    words = CoOp(tiny_clip, NAMES, ctx_init="itap of a", ctx_init_length="words")
    tokens = CoOp(tiny_clip, NAMES, ctx_init="itap of a")
    assert (words.n_ctx, tokens.n_ctx) == (3, 4)
    assert words.prompt_text() == tokens.prompt_text() == "itap of a {}."
    feats, labels = _features()
    ids, emb = full_prompts(tiny_clip, "itap of a", NAMES)  # CoOp: prefix text = ctx_init, slots 1..n_ctx learn
    ctx = words.ctx.detach().clone().requires_grad_(True)
    ref = cos_logits(words.logit_scale, feats, encode_prompts(tiny_clip, with_context(emb, ctx), ids))
    F.cross_entropy(ref, labels).backward()
    out = words.training_loss(feats, labels)
    words.backward(out)
    assert torch.allclose(out.logits, ref, **TOL) and torch.allclose(words.ctx.grad, ctx.grad, **TOL)
    assert torch.allclose(out.logits, tokens.logits(feats), **TOL)  # same prompt before training


def test_csc_with_a_word_init_per_class_or_shared_as_coop(tiny_clip):
    per_class = CoOp(tiny_clip, NAMES, ctx_init="a photo of a", csc=True)
    shared = CoOp(tiny_clip, NAMES, ctx_init="a photo of a", csc=True, csc_with_init="shared")
    assert per_class.ctx.shape == (len(NAMES), 4, 64) and per_class.csc
    assert shared.ctx.shape == (4, 64) and not shared.csc  # CoOp ignores CSC when a word init is given
    assert torch.equal(per_class.ctx[2], shared.ctx)
    assert per_class.new_classes_error() and shared.new_classes_error() is None
