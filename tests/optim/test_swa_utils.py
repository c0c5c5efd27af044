"""torch.optim.swa_utils: the averages against NumPy, SWALR's schedule against its formula,
update_bn against the statistics of the whole pass."""

import math

import numpy as np
import pytest

import jitgrad as torch
from jitgrad.optim import swa_utils as su


def _train(avg, steps=5):
    torch.manual_seed(0)
    m = avg["model"]
    opt = torch.optim.SGD(m.parameters(), lr=0.1)
    seen = []
    for _ in range(steps):
        x = torch.randn(6, 3)
        opt.zero_grad()
        (m(x) ** 2).mean().backward()
        opt.step()
        avg["avg"].update_parameters(m)
        seen.append([p.detach().numpy().astype(np.float64).copy() for p in m.parameters()])
    return seen


def test_swa_average_is_the_mean_and_ema_the_recursion():
    torch.manual_seed(1)
    m = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.Tanh(), torch.nn.Linear(4, 1))
    swa = su.AveragedModel(m)
    seen = _train({"model": m, "avg": swa})
    for k, p in enumerate(swa.parameters()):
        np.testing.assert_allclose(p.detach().numpy(), np.mean([s[k] for s in seen], 0), rtol=1e-5)
    assert int(swa.n_averaged) == 5 and swa.module is not m
    np.testing.assert_array_equal(
        swa(torch.ones(2, 3)).detach().numpy(), swa.module(torch.ones(2, 3)).detach().numpy()
    )

    torch.manual_seed(1)
    m = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.Tanh(), torch.nn.Linear(4, 1))
    ema = su.AveragedModel(m, multi_avg_fn=su.get_ema_multi_avg_fn(0.8))
    seen = _train({"model": m, "avg": ema})
    for k, p in enumerate(ema.parameters()):
        want = seen[0][k]
        for s in seen[1:]:
            want = 0.8 * want + 0.2 * s[k]
        np.testing.assert_allclose(p.detach().numpy(), want, rtol=1e-5, atol=1e-7)
    with pytest.raises(ValueError, match="Invalid decay"):
        su.get_ema_avg_fn(1.5)
    with pytest.raises(AssertionError, match="Only one of avg_fn and multi_avg_fn"):
        su.AveragedModel(m, avg_fn=su.get_swa_avg_fn(), multi_avg_fn=su.get_swa_multi_avg_fn())


@pytest.mark.parametrize("strategy", ["cos", "linear"])
def test_swalr_anneals_to_swa_lr(strategy):
    w = torch.zeros(1, requires_grad=True)
    opt = torch.optim.SGD([w], lr=1.0)
    sched = su.SWALR(opt, swa_lr=0.1, anneal_epochs=4, anneal_strategy=strategy)
    f = (lambda t: t) if strategy == "linear" else (lambda t: (1 - math.cos(math.pi * t)) / 2)
    lrs = [opt.param_groups[0]["lr"]]
    for _ in range(6):
        opt.step()
        sched.step()
        lrs.append(opt.param_groups[0]["lr"])
    # lr_t = swa + (lr_0 - swa) * (1 - f(t/4)): the recursion of get_lr, closed form
    want = [0.1 + 0.9 * (1 - f(min(1, t / 4))) for t in range(7)]
    np.testing.assert_allclose(lrs, want, rtol=1e-12)
    with pytest.raises(ValueError, match="anneal_strategy"):
        su.SWALR(opt, 0.1, anneal_strategy="step")
    with pytest.raises(ValueError, match="anneal_epochs"):
        su.SWALR(opt, 0.1, anneal_epochs=-1)


def test_update_bn_recomputes_statistics_over_the_pass():
    torch.manual_seed(2)
    bn = torch.nn.BatchNorm1d(3)
    model = torch.nn.Sequential(torch.nn.Identity(), bn)
    model.eval()
    batches = [torch.randn(4, 3) * 2 + 1 for _ in range(3)]
    su.update_bn([(b, torch.zeros(4)) for b in batches], model)
    xs = [b.numpy().astype(np.float64) for b in batches]
    np.testing.assert_allclose(
        bn.running_mean.numpy(), np.mean([x.mean(0) for x in xs], 0), rtol=1e-5
    )
    np.testing.assert_allclose(
        bn.running_var.numpy(), np.mean([x.var(0, ddof=1) for x in xs], 0), rtol=1e-5
    )
    assert bn.momentum == 0.1 and not model.training  # restored


def test_checkpoint_same_values_and_gradients_and_says_no_memory_is_saved(monkeypatch):
    from jitgrad.utils import checkpoint as ck

    monkeypatch.setattr(ck, "_WARNED", [False])
    torch.manual_seed(3)
    seq = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.Tanh(), torch.nn.Linear(4, 2))
    x = torch.randn(5, 3, requires_grad=True)
    plain = seq(x).square().sum()
    gp = torch.autograd.grad(plain, [x, *seq.parameters()])
    with pytest.warns(RuntimeWarning, match="not recomputed"):
        out = ck.checkpoint(seq, x, use_reentrant=False).square().sum()
    gc = torch.autograd.grad(out, [x, *seq.parameters()])
    out2 = ck.checkpoint_sequential(seq, 2, x).square().sum()
    assert float(out) == float(plain) == float(out2)
    for a, b in zip(gp, gc):
        np.testing.assert_array_equal(a.numpy(), b.numpy())
    with pytest.raises(ValueError, match="segments must be >= 1"):
        ck.checkpoint_sequential(seq, 0, x)
