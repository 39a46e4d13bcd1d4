"""Dassl prompt-learner checkpoints, as CoOp, CoCoOp, KgCoOp and ProGrad release them, read into vlcat state.

Dassl (``dassl/utils/torchtools.py``, ``save_checkpoint``) writes ``<run>/prompt_learner/model.pth.tar-<N>``
(N = the epoch) and, when asked, ``model-best.pth.tar``: a ``torch.save`` of a dict with ``state_dict``
(the prompt learner's ``state_dict()``), ``epoch``, ``optimizer``, ``scheduler`` and sometimes ``val_result``.
The prompt learner's state holds:

* ``ctx``: ``[n_ctx, D]``, or ``[C, n_ctx, D]`` for a class-specific context (CSC), often in fp16;
* ``token_prefix`` ``[C, 1, D]`` and ``token_suffix`` ``[C, L - 1 - n_ctx, D]``: embeddings of the class
  names, which the authors' ``load_model`` deletes before loading (they are recomputed from the current
  class names); vlcat does the same and only uses their shapes to catch a checkpoint of other classes;
* CoCoOp: ``meta_net.linear1.{weight,bias}`` and ``meta_net.linear2.{weight,bias}`` (vlcat's meta-net is
  an ``nn.Sequential`` whose layers are ``meta_net.0`` and ``meta_net.2``; the names are mapped here);
* KgCoOp: also ``bias_vectors`` and ``meta_net.linear1.*``, which the authors' KgCoOp builds but never
  trains nor uses (only parameters named ``ctx`` get gradients), so they are ignored.

Everything is read with ``torch.load(weights_only=True)``. The ``scheduler`` entry of a real Dassl
checkpoint pickles torch's own scheduler and optimizer objects (the warm-up scheduler's ``successor``) and
``defaultdict``, which ``weights_only`` refuses by default; those few torch/stdlib names are let through as
inert stand-ins (no torch code runs and the entries are never used). Any other global means the file needs
code to load, and is refused in one line.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from vlcat.errors import VlcatError
from vlcat.learners.base import PromptLearner

PROMPT_LEARNER = "prompt_learner"
"""The folder Dassl saves the prompt learner under (the name the trainers register it with)."""
BEST = "model-best.pth.tar"
_NUMBERED = re.compile(r"^model\.pth\.tar-(\d+)$")

#: Learners whose authors release Dassl prompt-learner checkpoints.
DASSL_LEARNERS = ("coop", "cocoop", "kgcoop", "prograd")

#: Fixed token embeddings the authors delete before loading (recomputed from the class names).
FIXED_TOKENS = ("token_prefix", "token_suffix", "token_midfix")

#: Entries a learner's authors save but never train nor use.
UNUSED = {"kgcoop": ("bias_vectors", "meta_net.linear1.weight", "meta_net.linear1.bias")}

#: The authors' names -> vlcat's, per learner.
RENAMES = {"cocoop": {"meta_net.linear1.weight": "meta_net.0.weight", "meta_net.linear1.bias": "meta_net.0.bias",
                      "meta_net.linear2.weight": "meta_net.2.weight", "meta_net.linear2.bias": "meta_net.2.bias"}}


class CheckpointError(VlcatError):
    """A file is not a usable Dassl prompt-learner checkpoint for the configured learner."""


@dataclass
class DasslCheckpoint:
    """The parts of a Dassl checkpoint that matter: where it came from, its epoch and its tensors."""

    path: Path
    epoch: int | None
    state: dict[str, torch.Tensor]
    """The prompt learner's ``state_dict`` (``module.`` prefixes of DataParallel removed)."""


# ----- finding the file ---------------------------------------------------------------------------------

def find_checkpoint(source: str | Path, epoch: int | None = None) -> Path:
    """The checkpoint file meant by ``source``: the file itself, or a Dassl output folder (or its
    ``prompt_learner`` folder) holding ``model.pth.tar-<N>``: the given epoch, else the highest N, else
    ``model-best.pth.tar``."""
    source = Path(source)
    if source.is_file():
        if epoch is not None:
            raise CheckpointError(f"--epoch {epoch} picks a file in a Dassl output folder, but {source} is a file; "
                                  "give the folder or drop --epoch")
        return source
    if not source.is_dir():
        raise CheckpointError(f"checkpoint {source} not found; give a model.pth.tar-<N> file or the Dassl output "
                              f"folder that holds {PROMPT_LEARNER}/")
    folder = source / PROMPT_LEARNER if (source / PROMPT_LEARNER).is_dir() else source
    numbered = {int(m.group(1)): p for p in folder.iterdir() if p.is_file() and (m := _NUMBERED.match(p.name))}
    if epoch is not None:
        if epoch not in numbered:
            have = ", ".join(str(n) for n in sorted(numbered)) or "none"
            raise CheckpointError(f"{folder} has no model.pth.tar-{epoch} (epochs there: {have})")
        return numbered[epoch]
    if numbered:
        return numbered[max(numbered)]
    if (folder / BEST).is_file():
        return folder / BEST
    raise CheckpointError(f"{folder} holds no Dassl checkpoint (model.pth.tar-<N> or {BEST}); give the run folder "
                          f"that holds {PROMPT_LEARNER}/ or the file itself")


# ----- reading it ---------------------------------------------------------------------------------------

class _Inert:
    """Stand-in for a torch optimizer or scheduler object pickled inside a checkpoint: keeps its state as
    data and runs no code (vlcat never uses these entries)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.args = args

    def __setstate__(self, state: Any) -> None:
        self.state = state


def _plain_dict(*args: Any) -> dict:
    """``defaultdict(dict)`` read back as a plain dict (``weights_only`` can fill dicts, not defaultdicts)."""
    return {}


def _stand_in(name: str) -> Any:
    """What a global seen in the pickle is read as, or None when it would need code to load."""
    if name == "collections.defaultdict":
        return _plain_dict
    if name == "builtins.dict":
        return dict
    if name.startswith("torch.optim."):  # torch's own SGD/Adam and LR schedulers, pickled by Dassl
        return _Inert
    return None


def _why_unreadable(path: Path, exc: BaseException) -> str:
    """What a failed ``torch.load`` means for the user, in a few words."""
    text = str(exc).strip()
    found = re.search(r"Unsupported global: GLOBAL ([\w.]+)", text)
    if found:
        return f"it needs code to load ({found.group(1)}), which weights_only refuses"
    if path.stat().st_size == 0:
        return "the file is empty"
    first = (text.splitlines() or [type(exc).__name__])[0][:160]
    return f"it cannot be read ({first}): cut short, damaged, or not a torch file"


def load_dassl(path: str | Path) -> DasslCheckpoint:
    """Read and check the shape of a Dassl checkpoint; anything else is one line (:class:`CheckpointError`)."""
    path = Path(path)
    what = "a Dassl prompt-learner checkpoint (torch.save of a dict with state_dict, epoch, optimizer, scheduler)"
    try:
        names = torch.serialization.get_unsafe_globals_in_checkpoint(path)
    except Exception:  # noqa: BLE001 - an unreadable or legacy-format file: torch.load below says what is wrong
        names = []
    needs_code = [n for n in names if _stand_in(n) is None]
    if needs_code:
        raise CheckpointError(f"{path} is not {what}: it needs code to load ({needs_code[0]}), which weights_only "
                              "refuses")
    try:
        with torch.serialization.safe_globals([(_stand_in(n), n) for n in names]):
            ckpt = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - truncated zip, empty file, foreign pickle: all one line
        raise CheckpointError(f"{path} is not {what}: {_why_unreadable(path, exc)}") from None
    if not isinstance(ckpt, dict):
        raise CheckpointError(f"{path} is not {what}: it holds a {type(ckpt).__name__}")
    state = ckpt.get("state_dict")
    if not isinstance(state, dict):
        raise CheckpointError(f"{path} is not {what}: it has no state_dict (keys: {', '.join(map(str, ckpt))[:120]})")
    bad = [k for k, v in state.items() if not isinstance(k, str) or not torch.is_tensor(v)]
    if bad:
        raise CheckpointError(f"{path} is not {what}: state_dict entry {bad[0]!r} is not a tensor")
    epoch = ckpt.get("epoch")
    state = {k.removeprefix("module."): v for k, v in state.items()}
    return DasslCheckpoint(path, epoch if isinstance(epoch, int) else None, state)


# ----- mapping it onto a learner ------------------------------------------------------------------------

def _shape(t: torch.Tensor) -> str:
    return "x".join(str(s) for s in t.shape) if t.dim() else "scalar"


def learner_state(ckpt: DasslCheckpoint, learner: PromptLearner) -> dict[str, torch.Tensor]:
    """The checkpoint as ``learner.load_trainable_state`` takes it (vlcat names, fp32, shapes checked).

    Every mismatch names what differs and which setting decides it: another learner (meta-net keys where
    none belong, or missing), another backbone (context width), ``learner.n_ctx``, ``learner.csc``, another
    class count (CSC rows, or the rows of the saved class-name embeddings) or ``learner.cocoop.hidden_ratio``.
    """
    name = learner.name
    where = ckpt.path
    if name not in DASSL_LEARNERS:
        raise CheckpointError(f"learner {name} has no Dassl checkpoints to import; set learner.name to one of "
                              f"{', '.join(DASSL_LEARNERS)}")
    own = learner.trainable_state()
    renames = RENAMES.get(name, {})
    skip = set(FIXED_TOKENS) | set(UNUSED.get(name, ()))
    out: dict[str, torch.Tensor] = {}
    for key, value in ckpt.state.items():
        if key in skip:
            continue
        target = renames.get(key, key)
        if target not in own:
            hint = " (a CoCoOp checkpoint?)" if key.startswith("meta_net.") else ""
            raise CheckpointError(f"{where} holds '{key}', which learner {name} does not have{hint}; set learner.name "
                                  "to the learner that saved it")
        out[target] = value
    back = {v: k for k, v in renames.items()}
    missing = [back.get(k, k) for k in own if k not in out]
    if missing:
        hint = " (a CoOp, KgCoOp or ProGrad checkpoint?)" if missing[0].startswith("meta_net.") else ""
        raise CheckpointError(f"{where} lacks '{missing[0]}', which learner {name} needs{hint}; set learner.name to "
                              "the learner that saved it")
    _check_context(ckpt, out["ctx"], own["ctx"], learner)
    for key, value in out.items():
        if key != "ctx" and tuple(value.shape) != tuple(own[key].shape):
            raise CheckpointError(f"{where}: '{back.get(key, key)}' is {_shape(value)} but learner {name} expects "
                                  f"{_shape(own[key])} (another backbone, or learner.{name}.hidden_ratio?)")
    for key, value in out.items():
        if not value.is_floating_point() or not bool(torch.isfinite(value).all()):
            raise CheckpointError(f"{where}: '{back.get(key, key)}' holds non-finite or non-float values")
    return {k: v.detach().to(torch.float32).clone() for k, v in out.items()}


def _check_context(ckpt: DasslCheckpoint, ctx: torch.Tensor, own: torch.Tensor, learner: PromptLearner) -> None:
    where, n_cls = ckpt.path, len(learner.classnames)
    if ctx.dim() not in (2, 3):
        raise CheckpointError(f"{where}: 'ctx' is {_shape(ctx)}; a context is n_ctx x width, or classes x n_ctx x "
                              "width for a class-specific one")
    if ctx.shape[-1] != own.shape[-1]:
        raise CheckpointError(f"{where}: the context is {ctx.shape[-1]} wide but the model embeds tokens in "
                              f"{own.shape[-1]}; set model.name/model.pretrained to the backbone it was trained with")
    if ctx.dim() == 3 and own.dim() == 2:
        raise CheckpointError(f"{where} holds one context per class ({_shape(ctx)}); set learner.csc=true")
    if ctx.dim() == 2 and own.dim() == 3:
        raise CheckpointError(f"{where} holds one context shared by all classes ({_shape(ctx)}); set learner.csc=false")
    if ctx.shape[-2] != own.shape[-2]:
        raise CheckpointError(f"{where} has {ctx.shape[-2]} context vectors but the learner has {own.shape[-2]}; set "
                              f"learner.n_ctx={ctx.shape[-2]} (with learner.ctx_init empty or of that length)")
    rows = {"ctx": ctx.shape[0]} if ctx.dim() == 3 else {}
    for key in ("token_prefix", "token_suffix"):
        t = ckpt.state.get(key)
        if t is not None and t.dim() == 3:
            rows[key] = t.shape[0]
    for key, n in rows.items():
        if n != n_cls:
            raise CheckpointError(f"{where} was trained on {n} classes ('{key}' has {n} rows) but the configured data "
                                  f"gives {n_cls}; set data.dataset and data.subsample_classes to the classes it was "
                                  "trained on (base for base-to-novel checkpoints)")
