"""Dassl prompt-learner checkpoints (the format CoOp, CoCoOp, KgCoOp and ProGrad release) imported as runs.

The checkpoints are written here in the authors' layout: ``prompt_learner/model.pth.tar-2``, a ``torch.save``
of ``state_dict`` (``ctx`` in fp16 as the authors train, ``token_prefix``/``token_suffix``, CoCoOp's
``meta_net.linear1/2``, KgCoOp's unused ``bias_vectors`` and ``meta_net.linear1``), ``epoch``, the optimizer's
state and Dassl's warm-up scheduler state, whose ``successor`` is a pickled torch scheduler object. Real tiny
model, real PNG files; the imported run must score exactly like a vlcat learner holding the same tensors.
"""

from __future__ import annotations

import collections
from pathlib import Path

import pytest
import torch

import vlcat.train.run as vrun
from vlcat import rundir
from vlcat.cli import import_checkpoint_main
from vlcat.config import CONFIG_DIR, load_config
from vlcat.testing import tiny_overrides
from vlcat.train.checkpoint import load_checkpoint
from vlcat.train.features import FeatureCache
from vlcat.train.run import evaluate_run, evaluate_split, load_model, make_learner, prepare_data, run_training

DASSL = ("coop", "cocoop", "kgcoop", "prograd")
#: vlcat's CoCoOp meta-net names -> the authors'
AUTHOR_NAMES = {"meta_net.0.weight": "meta_net.linear1.weight", "meta_net.0.bias": "meta_net.linear1.bias",
                "meta_net.2.weight": "meta_net.linear2.weight", "meta_net.2.bias": "meta_net.linear2.bias"}


def _yaml(name: str) -> str:
    return str(CONFIG_DIR / "learners" / f"{name}.yaml")


def _over(tiny_data, tiny_model_file, tmp_path, run: str, **extra) -> list[str]:
    root, card = tiny_data
    extra = {"data.subsample_classes": "base", "optim.max_epoch": 1, "optim.warmup_epoch": 0,
             "train.eval_splits": "[test]", "model.precision": "fp32", **extra}
    return tiny_overrides(root, card, tiny_model_file, tmp_path / "cache", tmp_path / run, **extra)


def _setup(name, tiny_data, tiny_model_file, tmp_path, run="imported", **extra):
    """The import's config and a vlcat learner built from it (same classes, same backbone)."""
    over = _over(tiny_data, tiny_model_file, tmp_path, run, **extra)
    cfg = load_config([_yaml(name)], over)
    vrun.seed_everything(cfg.train.seed)  # as a run does: the tiny model's random init depends on it
    splits = prepare_data(cfg)
    clip = load_model(cfg)
    return over, cfg, splits, clip, make_learner(cfg, clip, splits)


def _randomize(learner, seed: int = 0) -> None:
    """Trained-looking state: ctx rounded to fp16 (the authors train in half) and, for CoCoOp, a meta-net."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for _, p in learner.named_parameters():
            if p.requires_grad:
                p.copy_((torch.randn(p.shape, generator=g) * 0.05).half().float())


def _dassl_state(learner, *, n_rows: int | None = None, kgcoop_extras: bool = True) -> dict[str, torch.Tensor]:
    """The authors' prompt-learner ``state_dict`` for the learner's state, in fp16 as they save it."""
    state = collections.OrderedDict()
    for k, v in learner.trainable_state().items():
        state[AUTHOR_NAMES.get(k, k)] = v.half()
    rows = n_rows or len(learner.classnames)
    width, length = learner.ctx.shape[-1], learner.clip.context_length
    state["token_prefix"] = torch.randn(rows, 1, width).half()
    state["token_suffix"] = torch.randn(rows, length - 1 - learner.n_ctx, width).half()
    if learner.name == "kgcoop" and kgcoop_extras:  # built by the authors' KgCoOp, never trained nor used
        state["bias_vectors"] = torch.randn(1, 512).half()
        state["meta_net.linear1.weight"] = torch.randn(512, 512).half()
        state["meta_net.linear1.bias"] = torch.randn(512).half()
    return state


def write_dassl(folder: Path, state: dict, epoch: int = 2) -> Path:
    """``<folder>/prompt_learner/model.pth.tar-<epoch>`` as Dassl's ``save_model`` writes it."""
    params = [torch.nn.Parameter(v.float().clone()) for v in state.values()]
    optim = torch.optim.SGD(params, lr=0.002, momentum=0.9)
    sum(p.sum() for p in params).backward()
    optim.step()
    cosine = torch.optim.lr_scheduler.CosineAnnealingLR(optim, 10)
    scheduler = {"successor": cosine, "warmup_epoch": 1, "cons_lr": 1e-5, "last_epoch": epoch, "base_lrs": [0.002]}
    path = folder / "prompt_learner" / f"model.pth.tar-{epoch}"
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save({"state_dict": state, "epoch": epoch, "optimizer": optim.state_dict(), "scheduler": scheduler,
                "val_result": None}, path)
    return path


def _import(args: list[str], capsys) -> tuple[int, str, str]:
    rc = import_checkpoint_main(args)
    out, err = capsys.readouterr()
    return rc, out, err


@pytest.mark.parametrize("name", DASSL)
def test_import_then_eval_scores_like_a_learner_holding_the_same_tensors(name, tiny_data, tiny_model_file, tmp_path,
                                                                          capsys):
    over, cfg, splits, clip, reference = _setup(name, tiny_data, tiny_model_file, tmp_path)
    _randomize(reference)
    write_dassl(tmp_path / "authors", _dassl_state(reference))

    rc, out, err = _import([str(tmp_path / "authors"), "-c", _yaml(name), *over], capsys)
    assert rc == 0, err
    run_dir = Path(cfg.output_dir)
    record = rundir.read_record(run_dir)
    assert record["method"] == f"{name}-dassl" and record["learner"] == name and record["num_classes"] == 2
    assert record["imported"]["format"] == "dassl" and record["imported"]["epoch"] == 2
    assert record["imported"]["from"].endswith("prompt_learner/model.pth.tar-2")
    assert {p.name for p in run_dir.iterdir()} == {"config.yaml", "checkpoint.pt", "metrics.jsonl", "record.json"}

    # the saved state is the reference learner's, under vlcat's names
    state = load_checkpoint(run_dir / "checkpoint.pt")["learner"]
    ref_state = reference.trainable_state()
    assert set(state) == set(ref_state) and all(torch.equal(state[k], ref_state[k]) for k in state)

    # the record's accuracy is the reference learner's, and eval.py gives it again
    expected = evaluate_split(cfg, clip, reference, splits, "test", FeatureCache(tmp_path / "cache"))
    assert record["metrics"]["test"] == expected
    assert evaluate_run(run_dir, subsample="base")["metrics"] == expected

    # logits, not only accuracy: a learner loaded from the imported run against the reference
    fresh = make_learner(cfg, clip, splits)
    fresh.load_trainable_state(state)
    feats = torch.randn(5, clip.model.text_projection.shape[1], generator=torch.Generator().manual_seed(1))
    assert torch.allclose(fresh.predict(feats), reference.predict(feats), atol=1e-6)


def test_novel_classes_and_report_use_the_imported_run(tiny_data, tiny_model_file, tmp_path, capsys):
    from vlcat.report import make_report

    over, cfg, _, _, reference = _setup("coop", tiny_data, tiny_model_file, tmp_path, "runs/imported")
    _randomize(reference)
    write_dassl(tmp_path / "authors", _dassl_state(reference))
    rc, _, err = _import([str(tmp_path / "authors"), "-c", _yaml("coop"), "--method", "CoOp (authors)", *over],
                         capsys)
    assert rc == 0, err
    novel = evaluate_run(cfg.output_dir, subsample="novel")
    assert novel["num_classes"] == 2 and novel["method"] == "CoOp (authors)"
    markdown, _, problems = make_report([str(tmp_path / "runs")], "", plots=False)
    assert "CoOp (authors)" in markdown and not problems


@pytest.mark.parametrize("name", ["coop", "cocoop"])
def test_a_vlcat_run_written_in_dassl_format_imports_to_the_same_predictions(name, tiny_data, tiny_model_file,
                                                                             tmp_path, capsys):
    """vlcat run -> its state in the authors' format (fp32, as PREC=fp32 saves) -> import -> the same numbers."""
    over = _over(tiny_data, tiny_model_file, tmp_path, "trained", **{"optim.batch_size": 4})
    cfg = load_config([_yaml(name)], over)
    trained = run_training(cfg)
    state = load_checkpoint(Path(cfg.output_dir) / "checkpoint.pt")["learner"]
    learner = make_learner(cfg, load_model(cfg), prepare_data(cfg))
    learner.load_trainable_state(state)
    dassl = collections.OrderedDict((AUTHOR_NAMES.get(k, k), v) for k, v in state.items())
    dassl["token_prefix"], dassl["token_suffix"] = learner.token_prefix, learner.token_suffix
    write_dassl(tmp_path / "exported", dassl, epoch=1)

    import_over = _over(tiny_data, tiny_model_file, tmp_path, "back")
    rc, _, err = _import([str(tmp_path / "exported" / "prompt_learner" / "model.pth.tar-1"), "-c", _yaml(name),
                          *import_over], capsys)
    assert rc == 0, err
    back = rundir.read_record(tmp_path / "back")
    assert back["metrics"]["test"] == trained["metrics"]["test"]
    again = load_checkpoint(tmp_path / "back" / "checkpoint.pt")["learner"]
    assert all(torch.equal(again[k], state[k]) for k in state)


def test_a_folder_picks_the_highest_epoch_or_the_one_asked(tiny_data, tiny_model_file, tmp_path, capsys):
    over, cfg, _, _, reference = _setup("coop", tiny_data, tiny_model_file, tmp_path, "high")
    for epoch in (2, 10, 5):
        _randomize(reference, seed=epoch)
        write_dassl(tmp_path / "authors", _dassl_state(reference), epoch=epoch)
    rc, _, err = _import([str(tmp_path / "authors"), "-c", _yaml("coop"), *over], capsys)
    assert rc == 0, err
    assert rundir.read_record(cfg.output_dir)["imported"]["epoch"] == 10
    over5 = _over(tiny_data, tiny_model_file, tmp_path, "five")
    rc, _, err = _import([str(tmp_path / "authors" / "prompt_learner"), "--epoch", "5", "-c", _yaml("coop"), *over5],
                         capsys)
    assert rc == 0, err
    _randomize(reference, seed=5)
    state = load_checkpoint(tmp_path / "five" / "checkpoint.pt")["learner"]
    assert torch.equal(state["ctx"], reference.ctx.detach())


# ----- bad input: one line, exit 2, nothing written ----------------------------------------------------

class NeedsCode:
    """A class of this test module: a pickle holding one cannot be read without running our code."""


def _bad_checkpoints(tmp_path: Path, reference_by: dict) -> dict[str, tuple[str, Path, dict]]:
    """case -> (learner the import is configured with, checkpoint path, extra overrides)."""
    coop, cocoop = reference_by["coop"], reference_by["cocoop"]
    d = tmp_path / "bad"

    def ck(case: str, state: dict) -> Path:
        return write_dassl(d / case, state)

    def raw(case: str, obj) -> Path:
        path = d / case / "model.pth.tar-2"
        path.parent.mkdir(parents=True)
        torch.save(obj, path)
        return path

    good = _dassl_state(coop)
    narrow = {"meta_net.linear1.weight": torch.randn(4, 32), "meta_net.linear1.bias": torch.randn(4)}
    cases = {
        "cocoop_into_coop": ("coop", ck("cocoop_into_coop", _dassl_state(cocoop)), {}),
        "coop_into_cocoop": ("cocoop", ck("coop_into_cocoop", _dassl_state(coop)), {}),
        "other_class_count": ("coop", ck("other_class_count", _dassl_state(coop, n_rows=3)), {}),
        "csc_rows": ("coop", ck("csc_rows", {**good, "ctx": torch.randn(3, 4, coop.ctx.shape[-1])}),
                     {"learner.csc": "true"}),
        "csc_into_shared": ("coop", ck("csc_into_shared", {**good, "ctx": torch.randn(2, 4, coop.ctx.shape[-1])}), {}),
        "shared_into_csc": ("coop", ck("shared_into_csc", good), {"learner.csc": "true"}),
        "n_ctx": ("coop", ck("n_ctx", {**good, "ctx": torch.randn(8, coop.ctx.shape[-1])}), {}),
        "ctx_width": ("coop", ck("ctx_width", {**good, "ctx": torch.randn(4, 16)}), {}),
        "meta_net_shape": ("cocoop", ck("meta_net_shape", {**_dassl_state(cocoop), **narrow}), {}),
        "needs_code": ("coop", raw("needs_code", {"state_dict": good, "epoch": 2, "extra": NeedsCode()}), {}),
        "not_a_dict": ("coop", raw("not_a_dict", [good["ctx"]]), {}),
        "no_state_dict": ("coop", raw("no_state_dict", {"model": good, "epoch": 2}), {}),
        "not_tensors": ("coop", raw("not_tensors", {"state_dict": {"ctx": [1.0, 2.0]}, "epoch": 2}), {}),
        "no_checkpoint_in_folder": ("coop", d / "empty_folder", {}),
        "missing": ("coop", d / "nowhere" / "model.pth.tar-2", {}),
    }
    (d / "empty_folder" / "prompt_learner").mkdir(parents=True)
    full = ck("truncated", good)
    full.write_bytes(full.read_bytes()[: full.stat().st_size // 2])
    cases["truncated"] = ("coop", full, {})
    empty = d / "empty_file" / "model.pth.tar-2"
    empty.parent.mkdir(parents=True)
    empty.write_bytes(b"")
    cases["empty_file"] = ("coop", empty, {})
    return cases


EXPECTED = {
    "cocoop_into_coop": "'meta_net.linear1.weight', which learner coop does not have",
    "coop_into_cocoop": "lacks 'meta_net.linear1.weight', which learner cocoop needs",
    "other_class_count": "trained on 3 classes",
    "csc_rows": "trained on 3 classes ('ctx' has 3 rows)",
    "csc_into_shared": "one context per class",
    "shared_into_csc": "one context shared by all classes",
    "n_ctx": "has 8 context vectors but the learner has 4; set learner.n_ctx=8",
    "ctx_width": "the context is 16 wide",
    "meta_net_shape": "'meta_net.linear1.weight' is 4x32",
    "needs_code": "needs code to load",
    "not_a_dict": "it holds a list",
    "no_state_dict": "it has no state_dict",
    "not_tensors": "entry 'ctx' is not a tensor",
    "no_checkpoint_in_folder": "holds no Dassl checkpoint",
    "missing": "not found",
    "truncated": "cut short, damaged, or not a torch file",
    "empty_file": "the file is empty",
}


def test_bad_checkpoints_are_one_line_exit_2_and_write_nothing(tiny_data, tiny_model_file, tmp_path, capsys):
    refs = {name: _setup(name, tiny_data, tiny_model_file, tmp_path)[-1] for name in ("coop", "cocoop")}
    cases = _bad_checkpoints(tmp_path, refs)
    assert set(cases) == set(EXPECTED)
    runs = tmp_path / "runs"
    for case, (learner, path, extra) in cases.items():
        over = _over(tiny_data, tiny_model_file, tmp_path, f"runs/{case}", **extra)
        rc, out, err = _import([str(path), "-c", _yaml(learner), *over], capsys)
        assert rc == 2 and out == "", (case, err)
        assert err.startswith("error: ") and err.count("\n") == 1 and "Traceback" not in err, (case, err)
        assert EXPECTED[case] in err, (case, err)
        assert not runs.exists() or not any(runs.iterdir()), (case, list(runs.iterdir()))


def test_the_script_refuses_in_one_line_and_other_learners_and_full_folders_are_refused(tiny_data, tiny_model_file,
                                                                                        tmp_path, capsys):
    import subprocess
    import sys

    repo = Path(__file__).resolve().parents[2]
    over, cfg, _, _, reference = _setup("coop", tiny_data, tiny_model_file, tmp_path, "runs/x")
    path = write_dassl(tmp_path / "authors", _dassl_state(reference))
    path.write_bytes(path.read_bytes()[:100])
    proc = subprocess.run([sys.executable, str(repo / "tools" / "import_checkpoint.py"), str(path), "-c",
                           _yaml("coop"), *over], capture_output=True, text=True, cwd=repo, timeout=300)
    assert proc.returncode == 2 and proc.stderr.count("\n") == 1 and proc.stderr.startswith("error: "), proc.stderr
    assert not (tmp_path / "runs").exists()

    write_dassl(tmp_path / "authors", _dassl_state(reference))
    rc, _, err = _import([str(tmp_path / "authors"), "-c", _yaml("zeroshot"), *over], capsys)
    assert rc == 2 and "no Dassl checkpoints to import" in err and not (tmp_path / "runs").exists()

    rc, _, err = _import([str(tmp_path / "authors"), "-c", _yaml("coop"), *over], capsys)
    assert rc == 0, err
    rc, _, err = _import([str(tmp_path / "authors"), "-c", _yaml("coop"), *over], capsys)
    assert rc == 2 and "--overwrite" in err and err.count("\n") == 1
    rc, _, err = _import([str(tmp_path / "authors"), "-c", _yaml("coop"), "--overwrite", "--method", "again", *over],
                         capsys)
    assert rc == 0, err
    assert rundir.read_record(cfg.output_dir)["method"] == "again"
    assert sorted(p.name for p in (tmp_path / "runs").iterdir()) == ["x"]  # no hidden leftovers


def test_finding_and_reading_without_a_model(tmp_path):
    """model-best.pth.tar when no numbered file exists (the authors' default), DataParallel's ``module.``
    prefixes removed, and the epoch read from the file."""
    from vlcat.interop.dassl import CheckpointError, find_checkpoint, load_dassl

    folder = tmp_path / "out" / "prompt_learner"
    folder.mkdir(parents=True)
    ctx = torch.randn(4, 8).half()
    torch.save({"state_dict": {"module.ctx": ctx}, "epoch": 7, "optimizer": {}, "scheduler": {}},
               folder / "model-best.pth.tar")
    path = find_checkpoint(tmp_path / "out")
    assert path == folder / "model-best.pth.tar" and find_checkpoint(folder) == path
    ckpt = load_dassl(path)
    assert ckpt.epoch == 7 and set(ckpt.state) == {"ctx"} and torch.equal(ckpt.state["ctx"], ctx)
    with pytest.raises(CheckpointError, match="no model.pth.tar-3 .epochs there: none"):
        find_checkpoint(tmp_path / "out", 3)
    with pytest.raises(CheckpointError, match="give the folder or drop --epoch"):
        find_checkpoint(path, 3)
