"""ProGrad (Zhu et al., ICCV 2023): prompt-aligned gradient.

CoOp's prompt and cross-entropy loss, but each update keeps only the part of the cross-entropy gradient
that does not conflict with the "general knowledge" direction: the gradient of

    L_kd = T^2 * KL( softmax(z^zs / T) || softmax(z / T) )   (mean over the batch)

where ``z^zs`` are zero-shot CLIP's logits with the hand-written prompt and ``z`` the learner's. Per
parameter tensor, with ``g_ce`` and ``g_kd`` the two gradients:

    g = g_ce                                               if cos(g_ce, g_kd) >= 0
    g = g_ce - lambda * (g_ce . g_kd / |g_kd|^2) g_kd       otherwise

(lambda = 1 removes the conflicting component entirely). The authors' code computes the KL as the
cross-entropy to the teacher's distribution, which has the same gradient. Their base-to-novel setting:
RN50, 4 shots, 16 context vectors whose last slots are initialised from the words of their per-dataset
template (each dataset card's ``method_templates.prograd``, the class name last) and the first ones with
zeros, lambda = 1, T = 1, 100 epochs, batch 32.

The template init as the authors wrote it (``ProGrad.public/trainers/prograd.py``, the PromptLearner's init
block), ``learner.prograd.init_length=words``: the template's words before the class name
("a type of pet, a photo of a") are counted by *words* (8), the first 8 BPE *tokens* of their tokenization
become the last 8 context vectors (a type of pet , a photo of), and the tokens past them ("a": the comma is
a token of its own) stay in the prompt as fixed words between the context and the class name. The prompt is
``[SOS] 0 ... 0 a type of pet , a photo of | a [CLASS] . [EOS]``. ``init_length=tokens`` makes every token of
the words learnable instead. A template longer than ``n_ctx`` is refused (the authors assert), and so is a
template whose class name is not at its end ("{} texture."), which the context-then-class prompt cannot hold.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F

from vlcat.clip import ClipBundle
from vlcat.errors import ConfigError
from vlcat.learners.base import LossOutput, TaskSpec
from vlcat.learners.coop import CoOp, context_kwargs
from vlcat.learners.kgcoop import paper_template
from vlcat.learners.options import ProGradOptions
from vlcat.learners.reembed import text_token_ids
from vlcat.learners.registry import register_learner
from vlcat.learners.zeroshot import template_features


def template_words(template: str) -> str:
    """The words before the class slot ("a type of pet, a photo of a {}." -> "a type of pet, a photo of a").

    The init puts them before the class name, so a template must end with its class slot (a period may
    follow) and have words before it; anything else is refused in one line rather than initialised wrongly
    (the DTD card's "{} texture." would leave the whole context at zeros).
    """
    if template.count("{}") != 1:
        raise ConfigError(f"learner.prograd.init=template needs a template with one {{}} class slot, got {template!r}")
    before, after = (part.strip() for part in template.split("{}"))
    if after not in ("", "."):
        raise ConfigError(f"learner.prograd.init=template needs a template that ends with its class name (like "
                          f"'a photo of a {{}}.'), but {template!r} has words after it; use "
                          "learner.prograd.templates=paper, or learner.prograd.init=coop with learner.ctx_init")
    if not before:
        raise ConfigError(f"learner.prograd.init=template: {template!r} has no words before its class name to "
                          "initialise the context from; use learner.prograd.init=coop")
    return before


@register_learner("prograd", options=ProGradOptions)
class ProGrad(CoOp):
    """CoOp trained with prompt-aligned gradients; see the module docstring."""

    @classmethod
    def from_config(cls, cfg: Any, clip: ClipBundle, task: TaskSpec) -> ProGrad:
        o = cfg.prograd
        template = paper_template("prograd", task, o.templates)
        return cls(clip, task.classnames, weight=o.weight, temperature=o.temperature, template=template,
                   init=o.init, init_length=o.init_length, **context_kwargs(cfg))

    @classmethod
    def check_config(cls, cfg: Any) -> None:
        super().check_config(cfg)
        o = cfg.prograd
        if o.weight < 0:
            raise ConfigError(f"learner.prograd.weight must be >= 0, got {o.weight}")
        if o.temperature <= 0:
            raise ConfigError(f"learner.prograd.temperature must be > 0, got {o.temperature}")
        if o.templates not in ("paper", "card"):
            raise ConfigError(f"learner.prograd.templates={o.templates!r} is not one of: paper, card")
        if o.init not in ("template", "coop"):
            raise ConfigError(f"learner.prograd.init={o.init!r} is not one of: template, coop")
        if o.init_length not in ("words", "tokens"):
            raise ConfigError(f"learner.prograd.init_length={o.init_length!r} is not one of: words, tokens")
        if o.init == "template" and (cfg.ctx_init.strip() or cfg.csc or cfg.class_token_position != "end"):
            raise ConfigError("learner.prograd.init=template fills a shared context that ends before the class "
                              "name; use learner.prograd.init=coop with learner.ctx_init, csc or another position")

    def __init__(self, clip: ClipBundle, classnames: list[str], *, n_ctx: int = 16, weight: float = 1.0,
                 temperature: float = 1.0, template: str = "a photo of a {}.", init: str = "template",
                 init_length: str = "words", **kwargs: Any) -> None:
        """Defaults are the authors' released setting (16 vectors, template init counted in words, lambda 1,
        T 1); ``init="coop"`` takes CoOp's ``ctx_init``/random init from ``kwargs`` instead."""
        if init not in ("template", "coop"):
            raise ConfigError(f"learner.prograd.init={init!r} is not one of: template, coop")
        zeros = 0
        if init == "template":
            if kwargs.get("ctx_init", "").strip() or kwargs.get("csc") or kwargs.get("class_token_position",
                                                                                     "end") != "end":
                raise ConfigError("learner.prograd.init=template fills a shared context that ends before the class "
                                  "name; use learner.prograd.init=coop with learner.ctx_init, csc or another position")
            if init_length not in ("words", "tokens"):
                raise ConfigError(f"learner.prograd.init_length={init_length!r} is not one of: words, tokens")
            words = template_words(template)
            count = len(words.split()) if init_length == "words" else len(text_token_ids(clip.tokenizer, words))
            unit = "words" if init_length == "words" else "tokens"
            if count > n_ctx:
                raise ConfigError(f"the ProGrad template {template!r} has {count} {unit} before its class name but "
                                  f"learner.n_ctx={n_ctx}; set learner.n_ctx to at least {count}")
            # The authors' prompt text: n_ctx - count placeholders, then the words; the placeholders' slots
            # start at zero. CoOp's word count (ctx_init_length=words) keeps tokens past the count fixed.
            zeros = n_ctx - count
            kwargs = {**kwargs, "ctx_init": " ".join(["X"] * zeros + [words]), "ctx_init_length": init_length}
        super().__init__(clip, classnames, n_ctx=n_ctx, **kwargs)
        if init == "template":
            if self.n_ctx != n_ctx:
                raise ConfigError(f"learner.prograd.init=template: this tokenizer does not give one token per "
                                  f"placeholder word, so {template!r} cannot be laid out in {n_ctx} slots; use "
                                  "learner.prograd.init=coop")
            with torch.no_grad():
                self.ctx[:zeros] = 0.0
        self.weight = float(weight)
        self.temperature = float(temperature)
        self.template = template
        self.register_buffer("teacher", template_features(self, template), persistent=False)

    def training_loss(self, inputs: torch.Tensor, labels: torch.Tensor) -> LossOutput:
        logits = self.logits(inputs)
        with torch.no_grad():
            teacher = self.cosine_logits(inputs, self.teacher)
        t = self.temperature
        ce = F.cross_entropy(logits.float(), labels)
        kd = F.kl_div(F.log_softmax(logits.float() / t, dim=-1), F.log_softmax(teacher.float() / t, dim=-1),
                      reduction="batchmean", log_target=True) * t * t
        return LossOutput(ce, logits, {"ce": ce, "kd": kd})

    def backward(self, out: LossOutput) -> None:
        """Per parameter tensor: project the CE gradient off the KD gradient where they conflict."""
        params = [p for p in self.parameters() if p.requires_grad]
        g_kd = torch.autograd.grad(out.terms["kd"], params, retain_graph=True, allow_unused=True)
        g_ce = torch.autograd.grad(out.terms["ce"], params, allow_unused=True)
        fired = False
        for p, a, b in zip(params, g_ce, g_kd, strict=True):
            p.grad = None if a is None else project_conflict(a, b, self.weight)
            fired = fired or (a is not None and b is not None and bool(conflicts(a, b)))
        # logged per step, and its epoch mean in metrics.jsonl is the share of steps that projected
        out.terms["projected"] = torch.tensor(1.0 if fired else 0.0)


def project_conflict(g: torch.Tensor, ref: torch.Tensor | None, weight: float) -> torch.Tensor:
    """``g - weight * (g . r) r`` with ``r = ref/|ref|`` when ``g . ref < 0``; ``g`` unchanged otherwise."""
    if ref is None:
        return g
    norm = torch.linalg.vector_norm(ref)
    if norm == 0:
        return g
    r = ref / norm
    dot = torch.dot(g.flatten(), r.flatten())
    return g - weight * dot * r if dot < 0 else g


def conflicts(g: torch.Tensor, ref: torch.Tensor) -> bool:
    """Whether :func:`project_conflict` changes ``g``: the two gradients point against each other."""
    return bool(torch.linalg.vector_norm(ref) > 0) and bool(torch.dot(g.flatten(), ref.flatten()) < 0)
