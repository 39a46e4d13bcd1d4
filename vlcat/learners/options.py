"""The ``learner`` config node's schema: the shared context options and each learner's own options.

These dataclasses live here, apart from the learners, because the learner modules import torch and the
config schema must not: ``import vlcat.config`` (and a sweep plan, a report, ``--help``) stays fast and
torch-free. Each learner module names its options in its ``@register_learner(..., options=...)`` line, so a
reader finds them from the learner; each options class here names its learner module.

Adding a learner with options: its dataclass here, one line in :data:`LEARNER_OPTIONS` (the registry refuses
a learner missing from it), the learner module, and its YAML in ``configs/learners/``.
"""

from __future__ import annotations

from dataclasses import dataclass

CLASS_TOKEN_POSITIONS = ("end", "middle", "front")
"""Where the class name sits in a context prompt (``learner.class_token_position``)."""
CTX_INIT_LENGTHS = ("tokens", "words", "n_ctx")
"""How a word init counts ``n_ctx`` (``learner.ctx_init_length``)."""
CSC_WITH_INIT = ("per_class", "shared")
"""What CSC does with a word init (``learner.csc_with_init``)."""


@dataclass
class ContextOptions:
    """The ``learner`` node's own keys: the learner's name and the context options of every context learner."""

    name: str = "coop"
    """A registered learner (vlcat.learners.list_learners())."""
    n_ctx: int = 16
    """Learnable context vectors (a word init sets it; see ctx_init_length)."""
    ctx_init: str = ""
    """Initial context words (e.g. 'a photo of a'); empty = random N(0, init_std)."""
    ctx_init_length: str = "tokens"
    """tokens (every token of ctx_init is learnable) | words (CoOp's code: n_ctx = number of words, the
    init's further tokens stay fixed after the context) | n_ctx (MaPLe's and IVLP's code: the first n_ctx
    tokens of the init learn, the further ones stay fixed after the context)."""
    csc: bool = False
    """One context per class (class-specific context) instead of one shared by all classes."""
    csc_with_init: str = "per_class"
    """With csc and a word init: per_class (each class gets a copy of the init) | shared (CoOp's code:
    the word init wins and one shared context trains)."""
    class_token_position: str = "end"
    init_std: float = 0.02
    fast_text: bool = True
    """Use the exact fast text encoder (truncation + shared prefix); false = plain 77-token encoding."""


@dataclass
class CoCoOpOptions:
    """``learner.cocoop``: options of :class:`vlcat.learners.cocoop.CoCoOp`."""

    hidden_ratio: int = 16
    """Meta-net bottleneck: hidden width = image-feature width // hidden_ratio (the authors: 16)."""


@dataclass
class IVLPOptions:
    """``learner.ivlp``: options of :class:`vlcat.learners.ivlp.IVLP` (its text context is ``learner.n_ctx`` and
    ``learner.ctx_init``, as every context learner's)."""

    n_ctx_vision: int = 2
    """Vision prompt tokens per layer (the authors' N_CTX_VISION: 2)."""
    text_depth: int = 12
    """Text layers that get their own prompt (1 = the first layer only; the authors: 12 on ViT-B/16)."""
    vision_depth: int = 12
    """Image layers that get their own prompt (the authors: 12)."""


@dataclass
class KgCoOpOptions:
    """``learner.kgcoop``: options of :class:`vlcat.learners.kgcoop.KgCoOp`."""

    weight: float = 8.0
    """lambda of the knowledge-guided term (the authors' base-to-novel scripts: 8.0)."""
    templates: str = "paper"
    """paper (the authors' per-dataset templates, the card's for other datasets) | card (the card's)."""


@dataclass
class LinearProbeOptions:
    """``learner.linear_probe``: options of :class:`vlcat.learners.linear_probe.LinearProbe`."""

    c: float = 0.0
    """Inverse L2 regularisation strength; 0 = choose it on the few-shot validation split (CoOp's search)."""
    search_steps: int = 8
    """Rounds of CoOp's refinement around the best grid value."""
    max_iter: int = 1000


@dataclass
class MaPLeOptions:
    """``learner.maple``: options of :class:`vlcat.learners.maple.MaPLe` (its text context is ``learner.n_ctx`` and
    ``learner.ctx_init``; the vision prompts are projected from it, as many tokens per layer)."""

    depth: int = 9
    """Layers of both towers that get their own (coupled) prompt (the authors' PROMPT_DEPTH: 9)."""


@dataclass
class ProGradOptions:
    """``learner.prograd``: options of :class:`vlcat.learners.prograd.ProGrad`."""

    weight: float = 1.0
    """lambda: how much of the conflicting component is removed (the authors: 1.0)."""
    temperature: float = 1.0
    """T of the distillation KL (the authors: 1.0)."""
    templates: str = "paper"
    """paper (the authors' per-dataset templates, the card's elsewhere) | card: the zero-shot teacher's prompt."""
    init: str = "template"
    """template (the authors: the teacher prompt's words in the last context slots, zeros before) |
    coop (learner.ctx_init or random, as CoOp)."""
    init_length: str = "words"
    """With init=template: words (the authors: n_ctx slots hold as many tokens as the template has words;
    further tokens stay fixed before the class name) | tokens (every token of the template's words learns)."""


@dataclass
class PromptSRCOptions:
    """``learner.promptsrc``: options of :class:`vlcat.learners.promptsrc.PromptSRC` (IVLP's prompts; its text
    context is ``learner.n_ctx`` and ``learner.ctx_init``). Defaults: the authors' base-to-novel config."""

    n_ctx_vision: int = 4
    """Vision prompt tokens per layer (the authors' N_CTX_VISION: 4)."""
    text_depth: int = 9
    """Text layers that get their own prompt (PROMPT_DEPTH_TEXT: 9)."""
    vision_depth: int = 9
    """Image layers that get their own prompt (PROMPT_DEPTH_VISION: 9)."""
    text_weight: float = 25.0
    """Weight of the L1 between prompted and frozen class features (TEXT_LOSS_WEIGHT: 25)."""
    image_weight: float = 10.0
    """Weight of the L1 between prompted and frozen image features (IMAGE_LOSS_WEIGHT: 10)."""
    gpa_mean: float = 15.0
    """Mean, in epochs (1-based), of the Gaussian that weights each epoch's prompts (GPA_MEAN: 15)."""
    gpa_std: float = 1.0
    """Its standard deviation in epochs (GPA_STD: 1)."""
    templates: str = "paper"
    """Frozen text features averaged over: paper (the authors' 60 ImageNet templates, every dataset) |
    card (the dataset card's template list)."""


@dataclass
class VPTDeepOptions:
    """``learner.vpt_deep``: options of :class:`vlcat.learners.vpt_deep.VPTDeep` (vision prompts only)."""

    n_ctx_vision: int = 8
    """Vision prompt tokens per layer (the authors' N_CTX_VISION: 8)."""
    depth: int = 12
    """Image layers that get their own prompt (the authors: 12; 1 is VPT-shallow)."""
    template: str = "a photo of a {}."
    """The fixed text prompt (the authors hard-code "a photo of a {}."); 'card': the dataset card's template."""


@dataclass
class ZeroShotOptions:
    """``learner.zeroshot``: options of :class:`vlcat.learners.zeroshot.ZeroShotCLIP`."""

    templates: str = "single"
    """'single' (the dataset card's hand-written template) or 'ensemble' (the card's template list)."""



@dataclass
class ClipAdapterOptions:
    """``learner.clip_adapter``: options of :class:`vlcat.learners.clip_adapter.ClipAdapter`."""

    reduction: int = 4
    """Bottleneck: hidden width = image-feature width // reduction (the authors' ``Adapter(1024, 4)``)."""
    ratio: float = 0.2
    """Residual ratio: features = ratio * adapter(f) + (1 - ratio) * f (the authors' code: 0.2)."""


@dataclass
class TipAdapterOptions:
    """``learner.tip_adapter``: options of :class:`vlcat.learners.tip_adapter.TipAdapter` (training-free)."""

    augment_views: int = 10
    """Augmented views of each training image averaged into a cache key (the authors' ``augment_epoch``)."""
    init_beta: float = 1.0
    """beta (sharpness of the affinity) before the search, and the value used with search=false."""
    init_alpha: float = 0.0
    """alpha (weight of the cache logits) before the search; 0 = the authors' value for the dataset."""
    search: bool = True
    """Choose alpha, beta on the few-shot validation split over the authors' grid (false: keep init_*)."""
    beta_max: float = 0.0
    """The beta grid runs from 0.1 towards this bound; 0 = the authors' bound for the dataset."""
    alpha_max: float = 0.0
    """The alpha grid runs from 0.1 towards this bound; 0 = the authors' bound for the dataset."""
    beta_steps: int = 200
    alpha_steps: int = 20
    templates: str = "paper"
    """paper (the authors': ImageNet's 7-template ensemble, the card's template elsewhere) | single (the
    card's template) | ensemble (the card's template list)."""


@dataclass
class TipAdapterFOptions(TipAdapterOptions):
    """``learner.tip_adapter_f``: options of :class:`vlcat.learners.tip_adapter_f.TipAdapterF` (the same
    cache, its keys fine-tuned by gradient steps; optimiser and schedule are the ``optim`` node's)."""


LEARNER_OPTIONS: dict[str, type | None] = {
    "cocoop": CoCoOpOptions,
    "coop": None,
    "ivlp": IVLPOptions,
    "kgcoop": KgCoOpOptions,
    "linear_probe": LinearProbeOptions,
    "maple": MaPLeOptions,
    "prograd": ProGradOptions,
    "promptsrc": PromptSRCOptions,
    "vpt_deep": VPTDeepOptions,
    "zeroshot": ZeroShotOptions,
    "clip_adapter": ClipAdapterOptions,
    "tip_adapter": TipAdapterOptions,
    "tip_adapter_f": TipAdapterFOptions,
}
"""Every learner, by the name ``learner.name`` takes (its module is ``vlcat/learners/<name>.py``), with the
dataclass of its own config node ``learner.<name>`` (None: no options of its own). The config schema is
built from this list; the registry checks that the learner modules register exactly these."""
