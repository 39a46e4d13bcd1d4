"""The LR schedule against Dassl's rules, which CoOp, CoCoOp, KgCoOp and ProGrad trained with.

Two references: values written out by hand from Dassl's rules for the published settings, and torch's own
``CosineAnnealingLR`` stepped the way Dassl's warm-up wrapper steps it (the wrapper owns the warm-up
epochs, then forwards every per-epoch step to the cosine; with ``WARMUP_RECOUNT=False`` the cosine's
counter is set to the warm-up length before wrapping). The second reference is what makes the
no-recount case exact: torch's chainable cosine rescales the curve, which no closed form in vlcat guessed.
"""

from __future__ import annotations

import math
import warnings

import pytest
import torch

from vlcat.config import load_config
from vlcat.errors import ConfigError
from vlcat.train.schedule import lr_at_epoch, lr_at_step


def dassl_lrs(lr: float, max_epoch: int, warmup_epoch: int, warmup_type: str, recount: bool,
              warmup_lr: float = 1e-5, scheduler: str = "cosine") -> list[float]:
    """The LR of every 0-based epoch, read from a real torch optimizer stepped as Dassl steps it."""
    param = torch.nn.Parameter(torch.zeros(1))
    opt = torch.optim.SGD([param], lr=lr)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # torch warns about stepping a scheduler before the optimizer
        if scheduler == "cosine":
            successor = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=float(max_epoch))
        else:  # a constant scheduler: Dassl's single_step with a step size past the end
            successor = torch.optim.lr_scheduler.StepLR(opt, step_size=10 * max_epoch, gamma=0.1)
        successor_first_lr = successor.get_last_lr()[0]
        if warmup_epoch > 0 and not recount:
            successor.last_epoch = warmup_epoch

        def warm(e: int) -> float:
            if warmup_type == "constant" or e == 0:
                return warmup_lr
            return lr * e / warmup_epoch

        wrapper_epoch = 0  # the warm-up wrapper's own counter, advanced by its own steps only
        if warmup_epoch > 0:
            opt.param_groups[0]["lr"] = warm(0)  # the wrapper's first step, at construction
        out = []
        for _ in range(max_epoch):
            out.append(opt.param_groups[0]["lr"])
            # one scheduler step after the last batch of the epoch
            if warmup_epoch == 0 or wrapper_epoch >= warmup_epoch:
                successor.step()
            else:
                wrapper_epoch += 1
                opt.param_groups[0]["lr"] = (successor_first_lr if wrapper_epoch >= warmup_epoch
                                             else warm(wrapper_epoch))
    return out


def test_cocoop_published_schedule_written_out():
    """CoCoOp: lr 0.002, 10 epochs, one constant warm-up epoch at 1e-5, cosine recounted after it."""
    ours = [lr_at_epoch(e, lr=0.002, max_epoch=10) for e in range(10)]
    expected = [1e-5] + [0.001 * (1 + math.cos(math.pi * k / 10)) for k in range(9)]
    assert ours == pytest.approx(expected, rel=1e-12)
    assert ours[1] == pytest.approx(0.002)               # the first epoch after the warm-up: the full lr
    assert ours[6] == pytest.approx(0.001)               # half way, five epochs after the warm-up
    assert ours[9] == pytest.approx(1.909830056250525e-4)  # not 4.9e-5: the last epoch is cos(0.8 pi)


def test_linear_warmup_and_no_recount_written_out():
    kw = {"lr": 0.1, "max_epoch": 5, "warmup_epoch": 2, "warmup_lr": 1e-3}
    assert [lr_at_epoch(e, **kw, warmup_type="linear") for e in range(5)] == pytest.approx(
        [1e-3, 0.05, 0.1, 0.05 * (1 + math.cos(math.pi / 5)), 0.05 * (1 + math.cos(2 * math.pi / 5))])
    scale = 0.1 / (1 + math.cos(2 * math.pi / 5))
    assert [lr_at_epoch(e, **kw, warmup_recount=False) for e in range(5)] == pytest.approx(
        [1e-3, 1e-3, 0.1, scale * (1 + math.cos(3 * math.pi / 5)), scale * (1 + math.cos(4 * math.pi / 5))])


@pytest.mark.parametrize("max_epoch", [5, 10, 50, 200])
@pytest.mark.parametrize("warmup_epoch", [0, 1, 2])
@pytest.mark.parametrize("warmup_type", ["constant", "linear"])
@pytest.mark.parametrize("recount", [True, False])
@pytest.mark.parametrize("scheduler", ["cosine", "constant"])
def test_schedule_equals_torch_stepped_as_dassl(max_epoch, warmup_epoch, warmup_type, recount, scheduler):
    ours = [lr_at_epoch(e, lr=0.002, max_epoch=max_epoch, warmup_epoch=warmup_epoch, warmup_lr=1e-5,
                        scheduler=scheduler, warmup_type=warmup_type, warmup_recount=recount)
            for e in range(max_epoch)]
    ref = dassl_lrs(0.002, max_epoch, warmup_epoch, warmup_type, recount, scheduler=scheduler)
    assert ours == pytest.approx(ref, rel=1e-9, abs=1e-15)


def test_unknown_warmup_type_is_one_line():
    with pytest.raises(ConfigError, match=r"optim.warmup_type='cubic' is not one of: constant, linear"):
        load_config(overrides=["optim.warmup_type=cubic"])


@pytest.mark.parametrize("total", [1, 4, 37])
def test_step_cosine_equals_torch_cosine_annealing_stepped_per_batch(total):
    """Tip-Adapter-F's schedule: CosineAnnealingLR(T_max = all steps), scheduler.step() after every batch."""
    opt = torch.optim.AdamW([torch.nn.Parameter(torch.zeros(1))], lr=0.001, eps=1e-4)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, total)
    seen = []
    for _ in range(total):
        seen.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    assert [lr_at_step(t, lr=0.001, total_steps=total) for t in range(total)] == pytest.approx(seen, rel=1e-12)
