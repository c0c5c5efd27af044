"""Schedulers: lr sequences against closed forms, state dicts, group writes."""

import math

import numpy as np
import pytest

import jitgrad as torch
from jitgrad.optim import SGD
from jitgrad.optim import lr_scheduler as S


def _opt(lr=0.1, groups=1):
    ps = [
        {"params": [torch.zeros(1, requires_grad=True)], "lr": lr * (i + 1)} for i in range(groups)
    ]
    return SGD(ps, lr=lr)


def _seq(sched, opt, n):
    out = []
    for _ in range(n):
        out.append([g["lr"] for g in opt.param_groups])
        assert sched.get_last_lr() == out[-1]
        opt.step()
        sched.step()
    return out


def test_step_lr():
    opt = _opt(0.1)
    got = _seq(S.StepLR(opt, step_size=3, gamma=0.5), opt, 10)
    want = [[0.1 * 0.5 ** (e // 3)] for e in range(10)]
    np.testing.assert_allclose(got, want, rtol=1e-12)


def test_multistep_lr_with_repeated_milestone():
    opt = _opt(1.0)
    got = _seq(S.MultiStepLR(opt, milestones=[2, 5, 5], gamma=0.1), opt, 8)
    want = [[1.0 * 0.1 ** (int(e >= 2) + 2 * int(e >= 5))] for e in range(8)]
    np.testing.assert_allclose(got, want, rtol=1e-12)


def test_exponential_lr_two_groups():
    opt = _opt(0.1, groups=2)
    got = _seq(S.ExponentialLR(opt, gamma=0.9), opt, 6)
    want = [[0.1 * 0.9**e, 0.2 * 0.9**e] for e in range(6)]
    np.testing.assert_allclose(got, want, rtol=1e-12)


def test_cosine_annealing_matches_closed_form_over_two_periods():
    opt = _opt(0.1)
    T, lo = 5, 0.01
    got = _seq(S.CosineAnnealingLR(opt, T_max=T, eta_min=lo), opt, 21)
    want = [[lo + (0.1 - lo) * (1 + math.cos(math.pi * e / T)) / 2] for e in range(21)]
    np.testing.assert_allclose(got, want, rtol=1e-9, atol=1e-12)
    assert got[T][0] == pytest.approx(lo)


def test_lambda_lr():
    opt = _opt(0.5, groups=2)
    sched = S.LambdaLR(opt, [lambda e: 1 / (e + 1), lambda e: 0.5**e])
    got = _seq(sched, opt, 4)
    want = [[0.5 / (e + 1), 1.0 * 0.5**e] for e in range(4)]
    np.testing.assert_allclose(got, want, rtol=1e-12)
    assert sched.state_dict()["lr_lambdas"] == [None, None]  # torch's: functions are not saved
    with pytest.raises(ValueError, match="Expected 2 lr_lambdas"):
        S.LambdaLR(_opt(groups=2), [lambda e: 1.0])


def test_scheduler_state_dict_round_trip_through_save(tmp_path):
    opt = _opt(0.1)
    sched = S.StepLR(opt, step_size=2, gamma=0.5)
    for _ in range(3):
        opt.step()
        sched.step()
    path = tmp_path / "sched.pt"
    torch.save(sched.state_dict(), path)
    opt2 = _opt(0.1)
    sched2 = S.StepLR(opt2, step_size=7, gamma=0.9)
    sched2.load_state_dict(torch.load(path))
    assert sched2.last_epoch == 3 and sched2.step_size == 2 and sched2.gamma == 0.5
    assert sched2.get_last_lr() == sched.get_last_lr()
    assert sched2.base_lrs == [0.1]


def test_initial_lr_recorded_and_resume_requires_it():
    opt = _opt(0.3)
    S.StepLR(opt, 1)
    assert opt.param_groups[0]["initial_lr"] == 0.3
    with pytest.raises(KeyError, match="initial_lr"):
        S.StepLR(_opt(0.3), 1, last_epoch=4)


def test_scheduler_drives_optimizer_updates():
    x = torch.tensor([0.0], dtype=torch.float64, requires_grad=True)
    opt = SGD([x], lr=1.0)
    sched = S.StepLR(opt, step_size=1, gamma=0.5)
    for _ in range(3):
        x.grad = torch.tensor([-1.0], dtype=torch.float64)
        opt.step()
        sched.step()
    assert x.item() == pytest.approx(1.0 + 0.5 + 0.25)
