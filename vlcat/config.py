"""Typed run configuration: YAML files that extend each other, ``key=value`` overrides, validation.

The schema is a tree of dataclasses read through OmegaConf, so an unknown key or a wrong type fails
*before any work*, with a message that names the key and the allowed ones. YAML files may list other
YAML files under ``extends:`` (paths relative to the file); they are merged first, in order.

The ``learner`` node is built from the list of learners in :mod:`vlcat.learners.options` (light, so this
module does not import torch; the learners themselves load when a config is validated): the context
options every context learner shares sit on the node itself (``learner.n_ctx=4``), and each learner with
options of its own has a sub-node named after it (``learner.kgcoop.weight=8``). Options of a learner
other than ``learner.name`` must stay at their defaults (a one-line error otherwise), so a setting never
silently does nothing. Learners without a context (zeroshot, linear_probe) ignore the shared context
options, so one sweep can set ``learner.n_ctx`` for all its methods.
"""

from __future__ import annotations

import dataclasses
import math
import os
import re
from dataclasses import dataclass, field, make_dataclass
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import ConfigKeyError, OmegaConfBaseException, ValidationError

from vlcat.errors import ConfigError
from vlcat.learners.options import (
    CLASS_TOKEN_POSITIONS,
    CSC_WITH_INIT,
    CTX_INIT_LENGTHS,
    LEARNER_OPTIONS,
    ContextOptions,
)
from vlcat.learners.registry import get_learner, learner_entries, list_learners
from vlcat.paths import CONFIG_DIR, REPO_ROOT, find_config_file  # noqa: F401 - CONFIG_DIR, REPO_ROOT: re-exported
from vlcat.precision_names import ALIASES as PRECISION_ALIASES
from vlcat.precision_names import CHOICES as PRECISION_CHOICES
from vlcat.splits import require_split


@dataclass
class ModelConfig:
    name: str = "vlcat-toy"
    """open_clip model name (ViT-B-16, ...), 'vlcat-toy' / 'vlcat-toy-vit', or a label when `config` is given."""
    pretrained: str | None = None
    """open_clip pretrained tag (openai, laion2b_s34b_b88k, ...); downloads on a machine with internet."""
    checkpoint: str | None = None
    """Local weights file (.pt/.bin/.safetensors); wins over `pretrained`."""
    config: str | None = None
    """JSON file with an open_clip model config, to build architectures that are not registered."""
    tokenizer: str | None = None
    """Local folder with the model's Hugging Face tokenizer (SigLIP, CLIPA, worldwide models on an offline
    machine); default: open_clip's tokenizer for the model, from the Hub cache or a download."""
    device: str = "auto"
    precision: str = "auto"
    """fp32 (exact) | amp_bf16 (bf16 autocast of the frozen image tower only; the text side and the loss
    stay fp32) | fp16 (the authors' pure half: CLIP and the prompt learner in half; CUDA only) | auto
    (amp_bf16 on CUDA with native bf16, fp32 elsewhere). The old name bf16 reads as amp_bf16. See
    vlcat/precision.py."""


@dataclass
class DataConfig:
    dataset: str = "synth_shapes"
    """What to train on, in one of four forms: a card name (datasets/<name>.yaml, e.g. oxford_pets); a card
    file (my_card.yaml); folder:PATH (an image-folder tree, <class>/<image> or {train,val,test}/<class>/<image>);
    csv:PATH (a CSV with a header path,label[,split][,classname]). PATH is absolute or relative to the current
    folder; see datasets/README.md."""
    root: str | None = "data"
    """Folder holding the datasets in CoOp's layout (see datasets/DATASETS.md); only read for cards whose
    folder is relative to it (never for folder:/csv: specs or absolute custom folders; null = none)."""
    num_shots: int = 16
    subsample_classes: str = "all"
    """all | base | novel (CoCoOp's base-to-novel split)."""
    strict: bool = True
    """Fail on a missing/corrupt image (true) or skip it and count it in the run record (false)."""
    on_too_few: str = "warn"
    """warn (CoOp: keep all images of a class with fewer than num_shots, with a warning) | error."""
    repeat: bool = False
    cache_dir: str | None = None
    """Few-shot splits and image features; default $VLCAT_CACHE or ~/.cache/vlcat."""
    num_workers: int = 0


def _learner_config_class() -> type:
    """``ContextOptions`` plus one node per learner that has options of its own (``LEARNER_OPTIONS``, sorted
    by name as the registry lists them), built without importing the learners."""
    nodes = [(name, options, field(default_factory=options))
             for name, options in sorted(LEARNER_OPTIONS.items()) if options is not None]
    return make_dataclass("LearnerConfig", nodes, bases=(ContextOptions,))


LearnerConfig = _learner_config_class()
LearnerConfig.__module__ = __name__
LearnerConfig.__doc__ = ContextOptions.__doc__ + " One sub-node per learner with options of its own."


@dataclass
class OptimConfig:
    name: str = "sgd"
    """sgd (Dassl's, every prompt learner) | adamw (Tip-Adapter-F: torch's AdamW, weight_decay as given)."""
    lr: float = 0.002
    momentum: float = 0.9
    weight_decay: float = 5e-4
    max_epoch: int = 200
    warmup_epoch: int = 1
    """Epochs of warm-up before the scheduler (Dassl's OPTIM.WARMUP_EPOCH; 0 = none)."""
    warmup_lr: float = 1e-5
    """The warm-up LR: held for every warm-up epoch (constant) or used in the first one (linear)."""
    warmup_type: str = "constant"
    """constant (every released CoOp/CoCoOp/KgCoOp/ProGrad config) | linear (lr * e / warmup_epoch after the
    first epoch; Dassl's own default). See vlcat/train/schedule.py."""
    warmup_recount: bool = True
    """Dassl's OPTIM.WARMUP_RECOUNT (default true): the cosine starts counting when the warm-up ends; false
    starts it at the warm-up length (rescaled so epoch warmup_epoch trains at optim.lr, as Dassl does)."""
    scheduler: str = "cosine"
    """cosine | constant, stepped once per epoch as in Dassl | cosine_step (torch's CosineAnnealingLR over
    every step of the run, stepped after each batch, no warm-up: Tip-Adapter-F)."""
    batch_size: int = 32
    eps: float = 1e-8
    """adamw's epsilon (torch's default 1e-8; Tip-Adapter-F: 1e-4). Unused by sgd."""


@dataclass
class TrainConfig:
    seed: int = 1
    feature_cache: bool = True
    """Encode each training image once per augmentation view and reuse it (false = every step)."""
    aug_views: int = 0
    """Distinct augmented views cached per image; 0 = one per epoch (same numbers as no cache)."""
    crop_scale_min: float = 0.08
    """Smallest area fraction of the random resized crop (CoOp: 0.08)."""
    eval_batch_size: int = 128
    log_every: int = 10
    progress: bool = True
    """A live progress bar when stderr is a terminal; off a terminal (a log file) or with false, plain
    lines instead (see epoch_lines). Never changes numbers."""
    epoch_lines: bool = True
    """Print one summary line per epoch when no bar is drawn (sweeps drawing their own bar turn it off)."""
    progress_every_s: float = 60.0
    """With epoch lines: also a line every this many seconds inside a long epoch (0 = never)."""
    method: str = ""
    """Row label of tables (tools/report.py); empty = the learner's name (+catalyst). Give variants of one
    learner run as single runs (CSC vs shared CoOp) their own labels so a report keeps them apart."""
    tensorboard: bool = False
    """Write TensorBoard event files into <run>/tensorboard (loss, accuracy, LR, validation accuracy, the
    catalyst's stage decisions); needs the optional extra: pip install -e '.[tensorboard]'."""
    eval_splits: list[str] = field(default_factory=lambda: ["test"])
    select_best_val: bool = False
    """Keep the trainable state of the epoch with the best few-shot validation accuracy (validation loss
    breaks ties) instead of the last one; off by default, as in CoOp. Needs a val split."""


@dataclass
class LLMConfig:
    base_url: str | None = None
    """OpenAI-compatible endpoint (http://127.0.0.1:8000/v1); null = the local vLLM server vlcat starts/reuses."""
    model: str | None = None
    """Served model; null = default resolution (embedded SmolLM2 on CPU, an instruct model on CUDA)."""
    api_key: str | None = None
    python: str | None = None
    """Interpreter that has vLLM; null = the project's .venv-llm."""
    timeout: float = 120.0
    max_retries: int = 2
    max_concurrency: int = 4
    use_cache: bool = True
    cache_dir: str | None = None
    required: bool = False
    """Fail before training when the endpoint is not healthy (instead of skipping LLM stages)."""
    temperature: float = 1.0
    max_tokens: int = 512
    gpu_memory_utilization: float = 0.4
    start_server: bool = True
    """Start a local vLLM server for the run (stopped at its end) when no base_url is set and none is running."""
    startup_timeout: float = 600.0
    """Seconds to wait for a started server to become ready."""


@dataclass
class CatalystConfig:
    enabled: bool = False
    epochs: list[int] = field(default_factory=list)
    """Epochs (1-based) after which an LLM stage runs; empty = use `rounds` and `span`."""
    rounds: int = 2
    span: float = 0.5
    """Spread `rounds` LLM stages evenly over this leading fraction of training."""
    snapshots_per_stage: int = 8
    max_trajectory: int = 16
    num_candidates: int = 8
    """Prompts requested from the LLM per stage."""
    num_requests: int = 1
    """Completions (n) per stage request."""
    policy: str = "best"
    """best (the paper: restart from the best text) | if_better (only if it beats the current context) |
    lookahead (race the current context and the best texts over a short gradient look-ahead; see
    vlcat/catalyst/race.py). Texts are ranked on the few-shot validation split when there is one."""
    proposer: str = "llm"
    """Where new texts come from: llm | random (random words and mutated snapshots, the control) | none
    (only decoded snapshots, the template and earlier stages' best texts) | oracle (the dataset card's
    hand-written ``domain_prompts``: what a perfect LLM could give, the ceiling; a card without them is refused)."""
    meta_prompt: str = "scored_list"
    """scored_list (the paper's OPRO recipe: scored prompts worst to best, then "write N new ones") |
    variations (each shown prompt comes with a request for a different one; see metaprompt.py)."""
    lookahead_steps: int = 0
    """Gradient steps each finalist of the look-ahead race trains for; they are the first steps of the
    next epoch (so the winner's steps replace them). 0 = a whole epoch; capped at the steps of an epoch."""
    race_size: int = 4
    """Starters of the look-ahead race: the current context plus the race_size - 1 best texts."""
    switch_z: float = 1.645
    """How sure the validation split must be before a text replaces the current context in the race:
    McNemar's paired statistic over the validation images must reach this (1.645 = one-sided 5 %;
    0 = any gain in validation accuracy). See vlcat/catalyst/race.py."""
    decode_metric: str = "cosine"
    reset_momentum: bool = True
    length_rule: str = "pad_keep"
    """How texts shorter/longer than n_ctx fill the context slots (see vlcat/learners/reembed.py):
    pad_keep (free slots keep the current vectors) | pad_word (free slots get `pad_word`'s embedding)."""
    pad_word: str = "X"
    max_prompt_chars: int = 0
    """Longest accepted LLM prompt in characters; 0 = 12 * n_ctx + 24."""
    max_prompt_tokens: int = 0
    """Longest accepted LLM prompt in tokens (longer texts are rejected, shorter ones cut by the length
    rule; also the word bound of the reply schema); 0 = 2 * n_ctx."""
    plot: bool = True
    """Draw <run_dir>/loss_curve.png at the end of training."""
    include_template: bool = True
    num_class_examples: int = 10


@dataclass
class RunConfig:
    output_dir: str = "runs/default"
    model: ModelConfig = field(default_factory=ModelConfig)
    data: DataConfig = field(default_factory=DataConfig)
    learner: LearnerConfig = field(default_factory=LearnerConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    catalyst: CatalystConfig = field(default_factory=CatalystConfig)
    llm: LLMConfig = field(default_factory=LLMConfig)


_CHOICES: dict[str, tuple[str, ...]] = {
    "model.precision": PRECISION_CHOICES,
    "data.subsample_classes": ("all", "base", "novel"),
    "data.on_too_few": ("error", "warn"),
    "learner.class_token_position": CLASS_TOKEN_POSITIONS,
    "learner.ctx_init_length": CTX_INIT_LENGTHS,
    "learner.csc_with_init": CSC_WITH_INIT,
    "optim.name": ("sgd", "adamw"),
    "optim.scheduler": ("cosine", "constant", "cosine_step"),
    "optim.warmup_type": ("constant", "linear"),
    "catalyst.policy": ("best", "if_better", "lookahead"),
    "catalyst.proposer": ("llm", "random", "none", "oracle"),
    "catalyst.meta_prompt": ("scored_list", "variations"),
    "catalyst.decode_metric": ("cosine", "l2"),
    "catalyst.length_rule": ("pad_keep", "pad_word"),
}


def _allowed_keys(node: Any) -> list[str]:
    return sorted(node.keys()) if isinstance(node, DictConfig) else []


def _explain(exc: OmegaConfBaseException, schema: DictConfig) -> str:
    key = getattr(exc, "full_key", None) or ""
    if isinstance(exc, ConfigKeyError) or "not in struct" in str(exc) or "Key '" in str(exc):
        parent = key.rsplit(".", 1)[0] if "." in key else ""
        node = OmegaConf.select(schema, parent) if parent else schema
        allowed = ", ".join(_allowed_keys(node))
        return f"unknown config key '{key}'; allowed here: {allowed}"
    if isinstance(exc, ValidationError):
        msg = str(exc).splitlines()[0]
        return f"bad value for '{key}': {msg}"
    return f"invalid config at '{key}': {str(exc).splitlines()[0]}"


def load_yaml_mapping(path: Path, what: str) -> DictConfig:
    """An existing YAML file that must hold a mapping; a syntax error or another shape is one line."""
    try:
        node = OmegaConf.load(path)
    except Exception as exc:  # noqa: BLE001 - YAML syntax errors become one line
        raise ConfigError(f"cannot parse {path}: {str(exc).splitlines()[0]}") from None
    if not isinstance(node, DictConfig):
        raise ConfigError(f"{path} must hold a mapping of {what}")
    return node


def _load_yaml(path: Path, seen: tuple[Path, ...] = ()) -> DictConfig:
    path = path.resolve()
    if path in seen:
        raise ConfigError(f"config files extend each other in a loop: {' -> '.join(map(str, seen + (path,)))}")
    if not path.is_file():
        raise ConfigError(f"config file not found: {path}")
    node = load_yaml_mapping(path, "config keys")
    parents = node.pop("extends", None) or []
    if isinstance(parents, str):
        parents = [parents]
    if not (OmegaConf.is_list(parents) or isinstance(parents, list)) or not all(isinstance(x, str) for x in parents):
        raise ConfigError(f"{path}: 'extends' must be a file name or a list of file names, got {parents!r}")
    merged = OmegaConf.create({})
    for parent in parents:
        merged = OmegaConf.merge(merged, _load_yaml(_resolve_path(str(parent), path.parent), seen + (path,)))
    return OmegaConf.merge(merged, node)


def _resolve_path(name: str, base: Path) -> Path:
    """Relative to the including file first, then to the repository's configs/ folder (see
    :func:`vlcat.paths.find_config_file`); a missing file is reported by the caller under ``base``."""
    return find_config_file(name, base) or base / name


def parse_overrides(overrides: list[str]) -> DictConfig:
    for item in overrides:
        if "=" not in item:
            raise ConfigError(f"override '{item}' must look like key=value (e.g. optim.lr=0.01)")
    try:
        return OmegaConf.from_dotlist(list(overrides))
    except Exception as exc:  # noqa: BLE001
        raise ConfigError(f"cannot parse overrides: {str(exc).splitlines()[0]}") from None


def load_config(files: list[str | os.PathLike] | str | os.PathLike | None = None,
                overrides: list[str] | None = None) -> RunConfig:
    """Merge schema defaults, YAML files (with their `extends`) and overrides; validate everything."""
    schema = OmegaConf.structured(RunConfig)
    layers: list[DictConfig] = []
    if files is not None:
        for f in [files] if isinstance(files, (str, os.PathLike)) else files:
            layers.append(_load_yaml(_resolve_path(str(f), Path.cwd())))
    layers.append(parse_overrides(overrides or []))
    merged = schema
    try:
        for layer in layers:
            merged = OmegaConf.merge(merged, layer)
        cfg: RunConfig = OmegaConf.to_object(merged)  # type: ignore[assignment]  # resolves ${...} too
    except OmegaConfBaseException as exc:
        raise ConfigError(_explain(exc, schema)) from None
    # an old name is read as the one it stands for, so a saved config and a new one compare equal on resume
    cfg.model.precision = PRECISION_ALIASES.get(cfg.model.precision, cfg.model.precision)
    validate(cfg)
    return cfg


_DEVICE = re.compile(r"^(auto|cpu|mps|cuda(:\d+)?)$")
_BUILTIN_MODELS = ("vlcat-toy", "vlcat-toy-vit")


def _nested_non_finite(cfg: Any) -> str | None:
    """The first NaN/inf float of the config as ``key=value`` (JSON cannot hold them; training would diverge)."""
    for f in dataclasses.fields(cfg):
        value = getattr(cfg, f.name)
        if dataclasses.is_dataclass(value):
            for g in dataclasses.fields(value):
                v = getattr(value, g.name)
                if isinstance(v, float) and not math.isfinite(v):
                    return f"{f.name}.{g.name}={v}"
    return None


def validate_learner(cfg: RunConfig) -> None:
    """The learner exists, options of other learners are untouched, its own checks, the catalyst fits it."""
    name = cfg.learner.name
    if name not in list_learners():
        raise ConfigError(f"learner.name={name!r} is not one of: {', '.join(list_learners())}")
    for entry in learner_entries():
        if entry.options is None or entry.name == name:
            continue
        node, default = getattr(cfg.learner, entry.name), entry.options()
        for f in dataclasses.fields(default):
            if getattr(node, f.name) != getattr(default, f.name):
                raise ConfigError(f"learner.{entry.name}.{f.name} is an option of learner '{entry.name}', but "
                                  f"learner.name={name} (known learners: {', '.join(list_learners())})")
    cls = get_learner(name).cls
    cls.check_config(cfg.learner)
    if cfg.catalyst.enabled:  # the learner's own reason first (imported here: vlcat.catalyst imports this module)
        from vlcat.catalyst.learner_fit import refuse_own_reason
        refuse_own_reason(name, cls)
    if cfg.catalyst.enabled and not cls.has_context:
        with_ctx = ", ".join(e.name for e in learner_entries() if e.cls.has_context)
        raise ConfigError(f"catalyst.enabled=true needs a learner with context vectors ({with_ctx}); "
                          f"'{name}' has none")
    if cfg.catalyst.enabled:  # the catalyst's own check, imported here: vlcat.catalyst imports this module
        from vlcat.catalyst.learner_fit import require_feature_learner
        require_feature_learner(name, cls)


def validate(cfg: RunConfig) -> None:
    """Range and choice checks that types alone can't express."""
    bad_number = _nested_non_finite(cfg)
    if bad_number:
        raise ConfigError(f"{bad_number} is not a finite number; give a real value")
    if not _DEVICE.match(cfg.model.device):
        raise ConfigError(f"model.device={cfg.model.device!r} is not one of: auto, cpu, cuda, cuda:<N>, mps")
    for split in cfg.train.eval_splits:
        require_split(split, "train.eval_splits")
    if cfg.model.pretrained and (cfg.model.config or (cfg.model.name in _BUILTIN_MODELS and not cfg.model.checkpoint)):
        what = "model.config builds" if cfg.model.config else f"{cfg.model.name} ships with"
        raise ConfigError(f"model.pretrained={cfg.model.pretrained!r} would be ignored: {what} its own weights; "
                          "remove model.pretrained, or use an open_clip model.name (e.g. ViT-B-16)")
    validate_learner(cfg)
    node = OmegaConf.structured(cfg)
    for dotted, choices in _CHOICES.items():
        value = OmegaConf.select(node, dotted)
        if value not in choices:
            raise ConfigError(f"{dotted}={value!r} is not one of: {', '.join(choices)}")
    checks = [
        (cfg.optim.lr > 0, f"optim.lr must be > 0, got {cfg.optim.lr}"),
        (cfg.optim.max_epoch >= 1, f"optim.max_epoch must be >= 1, got {cfg.optim.max_epoch}"),
        (cfg.optim.batch_size >= 1, f"optim.batch_size must be >= 1, got {cfg.optim.batch_size}"),
        (cfg.optim.warmup_epoch >= 0, "optim.warmup_epoch must be >= 0"),
        (cfg.optim.warmup_lr >= 0, f"optim.warmup_lr must be >= 0, got {cfg.optim.warmup_lr}"),
        (0 <= cfg.train.seed < 2**32, f"train.seed must be in 0..2**32-1 (numpy's range), got {cfg.train.seed}"),
        (cfg.train.eval_batch_size >= 1, f"train.eval_batch_size must be >= 1, got {cfg.train.eval_batch_size}"),
        (cfg.data.num_workers >= 0, f"data.num_workers must be >= 0 (0 = load in this process), got "
                                    f"{cfg.data.num_workers}"),
        (cfg.llm.max_concurrency >= 1, f"llm.max_concurrency must be >= 1, got {cfg.llm.max_concurrency}"),
        (0 < cfg.llm.gpu_memory_utilization <= 1, "llm.gpu_memory_utilization must be in (0, 1]"),
        (cfg.llm.startup_timeout > 0, "llm.startup_timeout must be > 0"),
        (cfg.optim.weight_decay >= 0, "optim.weight_decay must be >= 0"),
        (0 <= cfg.optim.momentum < 1, "optim.momentum must be in [0, 1)"),
        (cfg.optim.eps > 0, f"optim.eps must be > 0, got {cfg.optim.eps}"),
        (cfg.optim.scheduler != "cosine_step" or cfg.optim.warmup_epoch == 0,
         "optim.scheduler=cosine_step has no warm-up; set optim.warmup_epoch=0"),
        (cfg.data.num_shots >= 1 or cfg.data.num_shots == -1,
         f"data.num_shots must be >= 1 (or -1 for the full training split), got {cfg.data.num_shots}"),
        (cfg.learner.n_ctx >= 1, f"learner.n_ctx must be >= 1, got {cfg.learner.n_ctx}"),
        (cfg.train.aug_views >= 0, "train.aug_views must be >= 0"),
        (0 < cfg.train.crop_scale_min <= 1, "train.crop_scale_min must be in (0, 1]"),
        (cfg.catalyst.rounds >= 0, "catalyst.rounds must be >= 0"),
        (0 < cfg.catalyst.span <= 1, "catalyst.span must be in (0, 1]"),
        (cfg.catalyst.num_candidates >= 1, "catalyst.num_candidates must be >= 1"),
        (cfg.catalyst.snapshots_per_stage >= 1, "catalyst.snapshots_per_stage must be >= 1"),
        (cfg.catalyst.max_trajectory >= 1, "catalyst.max_trajectory must be >= 1"),
        (cfg.catalyst.num_requests >= 1, "catalyst.num_requests must be >= 1"),
        (cfg.catalyst.lookahead_steps >= 0, "catalyst.lookahead_steps must be >= 0 (0 = one epoch)"),
        (cfg.catalyst.race_size >= 1, "catalyst.race_size must be >= 1"),
        (cfg.catalyst.switch_z >= 0, "catalyst.switch_z must be >= 0 (0 = any validation gain switches)"),
        (cfg.catalyst.num_class_examples >= 0, "catalyst.num_class_examples must be >= 0"),
        (cfg.catalyst.max_prompt_chars >= 0, "catalyst.max_prompt_chars must be >= 0 (0 = automatic)"),
        (cfg.catalyst.max_prompt_tokens >= 0, "catalyst.max_prompt_tokens must be >= 0 (0 = automatic)"),
        (cfg.llm.timeout > 0, f"llm.timeout must be > 0, got {cfg.llm.timeout}"),
        (cfg.llm.max_retries >= 0, "llm.max_retries must be >= 0"),
        (cfg.llm.max_tokens >= 16, f"llm.max_tokens must be >= 16, got {cfg.llm.max_tokens}"),
        (cfg.llm.temperature >= 0, "llm.temperature must be >= 0"),
        (bool(cfg.output_dir), "output_dir must be set"),
    ]
    for ok, msg in checks:
        if not ok:
            raise ConfigError(msg)
    bad_epochs = [e for e in cfg.catalyst.epochs if not 1 <= e <= cfg.optim.max_epoch]
    if bad_epochs:
        raise ConfigError(f"catalyst.epochs {bad_epochs} are outside 1..optim.max_epoch={cfg.optim.max_epoch}")


def to_yaml(cfg: RunConfig) -> str:
    return OmegaConf.to_yaml(OmegaConf.structured(cfg))


def to_dict(cfg: RunConfig) -> dict[str, Any]:
    return OmegaConf.to_container(OmegaConf.structured(cfg))  # type: ignore[return-value]


def flatten(d: Any, prefix: str = "") -> dict[str, Any]:
    """A nested config mapping as ``{"optim.lr": 0.002, ...}``, so two configs compare key by key and a
    difference can be named the way the user would override it."""
    if not isinstance(d, dict):
        return {prefix: d}
    out: dict[str, Any] = {}
    for k, v in d.items():
        out.update(flatten(v, f"{prefix}.{k}" if prefix else str(k)))
    return out
