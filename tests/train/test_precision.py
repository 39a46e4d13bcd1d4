"""Named precision (``model.precision``): the dtype of every tensor along the path, for each choice, on CPU.

For each learner trained by gradient steps, built from its own YAML on the tiny model, one real trainer
step records: what the image tower returned (and what the cache stores), the prompt embeddings entering
the text tower (and whether autocast was on there), the text tower's output, the logits, the loss, the
trainable parameters and their gradients. ``amp_bf16`` runs on CPU because CPU autocast to bf16 is real;
``fp16`` runs on CPU through the library (a run refuses it there, which is tested too). Also: the choices,
the ``bf16`` alias and resume of a folder saved with it, ``auto`` per device, the record and the cache key.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
import yaml

from vlcat.clip import load_clip, text_tower
from vlcat.config import CONFIG_DIR, load_config, to_dict
from vlcat.errors import ConfigError
from vlcat.precision import CHOICES, apply_precision, check_run_device, resolve_precision
from vlcat.testing import StopAtStep, tiny_overrides, tiny_prompt_depths
from vlcat.train.checkpoint import load_checkpoint
from vlcat.train.features import FeatureCache
from vlcat.train.run import check_resume_config, load_model, make_learner, prepare_data, run_training
from vlcat.train.trainer import RunInterrupted, Trainer

GRADIENT_LEARNERS = ("coop", "cocoop", "kgcoop", "prograd")
HALF, BF16, F32 = torch.float16, torch.bfloat16, torch.float32


def _cfg(tiny_data, tiny_model_file, tmp_path: Path, learner: str, precision: str, run: str = "run", **extra):
    root, card = tiny_data
    over = tiny_overrides(root, card, tiny_model_file, tmp_path / "cache", tmp_path / run, **{
        "model.precision": precision, "optim.max_epoch": 1, "optim.warmup_epoch": 0, "train.eval_splits": "[test]",
        **tiny_prompt_depths(learner), **extra})
    return load_config([CONFIG_DIR / "learners" / f"{learner}.yaml"], over)


def _bundle(cfg, precision: str):
    """The run's model at ``precision``; fp16 through the library, since a run refuses it on CPU."""
    torch.manual_seed(0)
    if precision != "fp16":
        return load_model(cfg)
    clip = load_clip(cfg.model.name, model_config=cfg.model.config)
    apply_precision(clip, "fp16")
    return clip


class Probe:
    """Forward hooks on the towers: dtypes seen, and whether autocast was on, where the path passes."""

    def __init__(self, clip) -> None:
        self.seen: dict[str, list] = {"image_out": [], "text_in": [], "text_autocast": [], "text_out": []}
        tower = text_tower(clip.model)
        first_block = tower.transformer.resblocks[0]
        self.handles = [
            clip.model.visual.register_forward_hook(lambda m, i, o: self.seen["image_out"].append(o.dtype)),
            # ln_1 of the first block sees the prompt embeddings (+ positions) on every text path, the
            # shared-prefix one included, which calls the block's parts itself
            first_block.ln_1.register_forward_pre_hook(self._text_in),
            tower.ln_final.register_forward_hook(lambda m, i, o: self.seen["text_out"].append(o.dtype)),
        ]

    def _text_in(self, module, args) -> None:
        self.seen["text_in"].append(args[0].dtype)
        self.seen["text_autocast"].append(torch.is_autocast_enabled("cpu"))

    def clear(self) -> None:
        for v in self.seen.values():
            v.clear()

    def close(self) -> None:
        for h in self.handles:
            h.remove()


# what each choice means, tensor by tensor: (image tower output, text tower input = output, logits,
# trainable parameters and gradients); the loss is float32 under every choice
EXPECTED = {"fp32": (F32, F32, F32, F32), "amp_bf16": (BF16, F32, F32, F32), "fp16": (HALF, HALF, HALF, HALF)}


@pytest.mark.parametrize("precision", ["fp32", "amp_bf16", "fp16"])
@pytest.mark.parametrize("name", GRADIENT_LEARNERS)
def test_dtype_of_every_tensor_along_the_path(name, precision, tiny_data, tiny_model_file, tmp_path):
    image_dtype, text_dtype, logits_dtype, param_dtype = EXPECTED[precision]
    cfg = _cfg(tiny_data, tiny_model_file, tmp_path, name, precision)
    splits = prepare_data(cfg)
    clip = _bundle(cfg, precision)
    assert clip.precision == precision
    assert clip.dtype == (HALF if precision == "fp16" else F32)  # amp keeps float32 weights
    probe = Probe(clip)
    try:
        learner = make_learner(cfg, clip, splits).to(clip.device)
        # frozen template features (KgCoOp's hand-written, ProGrad's teacher) come from the same text path
        for buf in ("handwritten", "teacher"):
            if hasattr(learner, buf):
                assert getattr(learner, buf).dtype == param_dtype
        run_dir = Path(cfg.output_dir)
        run_dir.mkdir(parents=True)
        trainer = Trainer(cfg, clip, learner, splits.train, run_dir, FeatureCache(tmp_path / "cache"))
        probe.clear()
        feats = trainer.epoch_features(0)
        assert set(probe.seen["image_out"]) == {image_dtype}
        assert feats.dtype == F32  # stored as float32 under every choice ...
        if precision == "fp16":  # ... which holds the half features exactly
            assert torch.equal(feats.half().float(), feats)
        probe.clear()
        idx = trainer.epoch_batches(0)[0]
        out = learner.training_loss(feats[idx], trainer.labels[idx])
        assert probe.seen["text_in"] and set(probe.seen["text_in"]) == {text_dtype}
        assert set(probe.seen["text_out"]) == {text_dtype}
        assert not any(probe.seen["text_autocast"])  # the learned-context path never runs under autocast
        assert out.logits.dtype == logits_dtype
        assert out.loss.dtype == F32
        params = [p for p in learner.parameters() if p.requires_grad]
        before = [p.detach().clone() for p in params]
        probe.clear()
        trainer.set_lr(0)
        trainer.train_step(feats[idx], trainer.labels[idx])  # the trainer's own step: no autocast either
        assert not any(probe.seen["text_autocast"]) and set(probe.seen["text_in"]) == {text_dtype}
        for p, b in zip(params, before, strict=True):
            assert p.dtype == param_dtype and p.grad is not None and p.grad.dtype == param_dtype
            state = trainer.optimizer.state[p]
            assert state["momentum_buffer"].dtype == param_dtype
            assert not torch.equal(p.detach(), b)  # the step moved it
        assert all(v.dtype == param_dtype for v in learner.trainable_state().values())  # what checkpoints hold
    finally:
        probe.close()


def test_fp16_sgd_updates_below_half_the_spacing_round_away(tiny_data, tiny_model_file, tmp_path):
    """The consequence of the authors' half parameters: at 0.02 (float16 spacing 2**-16 ~ 1.5e-5) an update
    of lr * grad below ~7.6e-6 leaves the context unchanged, where float32 moves."""
    moved = {}
    for precision in ("fp32", "fp16"):
        cfg = _cfg(tiny_data, tiny_model_file, tmp_path, "coop", precision, run=precision,
                   **{"optim.momentum": 0.0, "optim.weight_decay": 0.0})
        splits = prepare_data(cfg)
        learner = make_learner(cfg, _bundle(cfg, precision), splits)
        with torch.no_grad():
            learner.ctx.fill_(0.02)
        torch.manual_seed(1)
        feats = torch.randn(4, int(learner.clip.model.visual.output_dim))
        out = learner.training_loss(feats, torch.tensor([0, 1, 0, 1]))
        learner.backward(out)
        grad = learner.ctx.grad.detach().float()
        lr = 2e-6 / float(grad.abs().max())  # every update is at most 2e-6
        before = learner.ctx.detach().clone()
        torch.optim.SGD([learner.ctx], lr=lr).step()
        moved[precision] = not torch.equal(learner.ctx.detach(), before)
    assert moved == {"fp32": True, "fp16": False}


def test_amp_bf16_features_are_bf16_rounded_and_cached_apart_from_fp32(tiny_data, tiny_model_file, tmp_path):
    """The resolved precision is part of the cache key: fp32 and amp_bf16 features are two entries."""
    feats, keys = {}, {}
    for precision in ("fp32", "amp_bf16"):
        cfg = _cfg(tiny_data, tiny_model_file, tmp_path, "coop", precision)
        splits = prepare_data(cfg)
        clip = _bundle(cfg, precision)
        cache = FeatureCache(tmp_path / "cache")
        keys[precision] = cache.key(clip, "items", clip.test_transform, None, 0)
        feats[precision] = cache.features(clip, splits.train, clip.test_transform)
        assert cache.misses == 1
    assert keys["fp32"] != keys["amp_bf16"]
    assert not torch.equal(feats["fp32"], feats["amp_bf16"])
    assert torch.equal(feats["amp_bf16"].bfloat16().float(), feats["amp_bf16"])  # bf16 values, float32 storage


def test_a_run_records_its_resolved_precision(tiny_data, tiny_model_file, tmp_path):
    record = run_training(_cfg(tiny_data, tiny_model_file, tmp_path, "coop", "amp_bf16", run="amp"))
    assert record["precision"] == "amp_bf16"
    record = run_training(_cfg(tiny_data, tiny_model_file, tmp_path, "zeroshot", "auto", run="auto"))
    assert record["precision"] == "fp32"  # auto on CPU
    saved = json.loads((tmp_path / "auto" / "record.json").read_text())
    assert saved["precision"] == "fp32" and saved["config"]["model"]["precision"] == "auto"


def test_choices_alias_and_unknown_value():
    for choice in CHOICES:
        assert load_config(None, [f"model.precision={choice}"]).model.precision == choice
    assert load_config(None, ["model.precision=bf16"]).model.precision == "amp_bf16"  # the old name
    with pytest.raises(ConfigError) as err:
        load_config(None, ["model.precision=fp8"])
    assert str(err.value) == "model.precision='fp8' is not one of: auto, fp32, amp_bf16, fp16"


def test_auto_resolves_per_device(monkeypatch):
    import vlcat.precision as prec

    assert resolve_precision("auto", "cpu") == "fp32"
    monkeypatch.setattr(prec, "_native_bf16", lambda: True)
    assert resolve_precision("auto", "cuda") == "amp_bf16"
    monkeypatch.setattr(prec, "_native_bf16", lambda: False)
    assert resolve_precision("auto", "cuda") == "fp32"  # a GPU that only emulates bf16
    assert resolve_precision("bf16", "cpu") == "amp_bf16"
    for name in ("fp32", "amp_bf16", "fp16"):
        assert resolve_precision(name, "cuda") == name
    with pytest.raises(ConfigError, match="amp_bf16 autocasts on cuda or cpu, not mps"):
        resolve_precision("amp_bf16", "mps")


def test_a_run_refuses_fp16_on_cpu_in_one_line(tiny_data, tiny_model_file, tmp_path):
    check_run_device("fp16", "cuda")
    check_run_device("amp_bf16", "cpu")
    cfg = _cfg(tiny_data, tiny_model_file, tmp_path, "coop", "fp16")
    with pytest.raises(ConfigError) as err:
        run_training(cfg)
    assert "\n" not in str(err.value) and str(err.value).startswith("model.precision=fp16 (the authors' pure half)")
    assert not Path(cfg.output_dir).exists()  # refused before any work


def test_a_folder_saved_with_bf16_resumes_as_amp_bf16(tiny_data, tiny_model_file, tmp_path):
    cfg = _cfg(tiny_data, tiny_model_file, tmp_path, "coop", "amp_bf16")
    run_dir = Path(cfg.output_dir)
    run_dir.mkdir(parents=True)
    old = to_dict(cfg)
    old["model"]["precision"] = "bf16"  # what a folder written before the named precisions says
    (run_dir / "config.yaml").write_text(yaml.safe_dump(old))
    check_resume_config(run_dir, cfg)  # no difference: bf16 is read as amp_bf16


@pytest.fixture
def fp16_runs_on_cpu(monkeypatch):
    """Lift the run's CUDA-only rule for fp16, to check the run mechanics of the half path on CPU."""
    import vlcat.train.run as run

    monkeypatch.setattr(run, "check_run_device", lambda precision, device: None)


def test_fp16_run_resumes_bit_exactly_with_half_state(fp16_runs_on_cpu, tiny_data, tiny_model_file, tmp_path):
    """Checkpoints hold the half context and the half momentum; a resumed run ends on the same bits."""
    extra = {"optim.max_epoch": 2, "train.log_every": 1}
    full = _cfg(tiny_data, tiny_model_file, tmp_path, "coop", "fp16", run="full", **extra)
    killed = _cfg(tiny_data, tiny_model_file, tmp_path, "coop", "fp16", run="killed", **extra)
    torch.manual_seed(0)
    a = run_training(full)
    torch.manual_seed(0)
    with pytest.raises(RunInterrupted):
        run_training(killed, callbacks=[StopAtStep(3)])
    ckpt = load_checkpoint(tmp_path / "killed" / "checkpoint.pt")
    assert ckpt["learner"]["ctx"].dtype == HALF
    assert all(s["momentum_buffer"].dtype == HALF for s in ckpt["optimizer"]["state"].values())
    torch.manual_seed(0)
    b = run_training(killed, resume=True)
    sa, sb = (load_checkpoint(tmp_path / r / "checkpoint.pt")["learner"] for r in ("full", "killed"))
    assert sa["ctx"].dtype == HALF and torch.equal(sa["ctx"], sb["ctx"])
    assert a["metrics"] == b["metrics"] and a["precision"] == b["precision"] == "fp16"


@pytest.mark.parametrize("precision", ["fp16", "amp_bf16"])
def test_a_catalyst_stage_restarts_the_context(precision, fp16_runs_on_cpu, tiny_data, tiny_model_file,
                                                     tmp_path):
    """The catalyst's scoring, decoding and restart under each non-fp32 precision (random proposals: no LLM)."""
    from vlcat.catalyst import build_catalyst

    cfg = _cfg(tiny_data, tiny_model_file, tmp_path, "coop", precision, **{
        "catalyst.enabled": True, "catalyst.epochs": "[1]", "catalyst.snapshots_per_stage": 3,
        "catalyst.num_candidates": 4, "catalyst.proposer": "random", "llm.base_url": "http://127.0.0.1:9/v1",
        "llm.max_retries": 0, "optim.max_epoch": 2})
    cat = build_catalyst(cfg, Path(cfg.output_dir), prepare_data(cfg))
    record = run_training(cfg, callbacks=[cat])
    stage = json.loads((Path(cfg.output_dir) / "llm_stages" / "stage_1.json").read_text())
    assert stage["status"] == "ok", stage["error"]
    assert stage["decision"]["restart"] and record["precision"] == precision
    state = load_checkpoint(Path(cfg.output_dir) / "checkpoint.pt")["learner"]
    assert state["ctx"].dtype == (HALF if precision == "fp16" else F32)


@pytest.mark.parametrize("precision", ["fp16", "amp_bf16"])
def test_every_learner_runs_end_to_end(precision, fp16_runs_on_cpu, tiny_data, tiny_model_file, tmp_path):
    """Every registered learner trains (or fits) and evaluates under each non-fp32 precision; only the
    linear probe keeps float32 weights under fp16."""
    from vlcat.learners import get_learner, list_learners

    for name in list_learners():
        cfg = _cfg(tiny_data, tiny_model_file, tmp_path, name, precision, run=name)
        record = run_training(cfg)
        assert record["precision"] == precision and 0.0 <= record["metrics"]["test"]["accuracy"] <= 100.0
        if get_learner(name).cls.trained_by != "none":
            state = load_checkpoint(Path(cfg.output_dir) / "checkpoint.pt")["learner"]
            half = precision == "fp16" and get_learner(name).cls.follows_clip_dtype
            dtypes = {v.dtype for v in state.values() if v.is_floating_point()}
            # float64 holds chosen hyperparameters exactly (the probe's C, Tip-Adapter's alpha and beta)
            assert dtypes <= ({HALF, torch.float64} if half else {F32, torch.float64})


def test_a_resume_at_another_resolved_precision_warns(monkeypatch, tiny_data, tiny_model_file, tmp_path):
    """``auto`` resolves per device, so a run moved to another kind of device continues with a warning."""
    import vlcat.precision as prec
    import vlcat.train.run as run

    cfg = _cfg(tiny_data, tiny_model_file, tmp_path, "coop", "auto", **{"optim.max_epoch": 2})
    with pytest.raises(RunInterrupted):
        run_training(cfg, callbacks=[StopAtStep(1)])
    assert load_checkpoint(Path(cfg.output_dir) / "checkpoint.pt")["precision"] == "fp32"
    monkeypatch.setattr(run, "apply_precision", lambda clip, precision: prec.apply_precision(clip, "amp_bf16"))
    with pytest.warns(UserWarning, match="was trained at precision fp32; the run continues at amp_bf16"):
        record = run_training(cfg, resume=True)
    assert record["precision"] == "amp_bf16"
