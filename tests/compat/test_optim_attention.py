"""New optimizers and schedulers against NumPy transcriptions of PyTorch's documented
update rules; MultiheadAttention / TransformerEncoderLayer against NumPy attention."""

import math

import numpy as np
import pytest

import jitgrad as torch
from jitgrad import nn, optim
from jitgrad.optim import lr_scheduler as L

W0 = np.array([0.5, -1.2, 2.0])


def _grad(w):
    return 2 * w + np.sin(w)  # d/dw of sum(w^2 - cos w)


def _run(cls, steps=4, **kw):
    w = torch.tensor(W0.copy(), requires_grad=True)
    opt = cls([w], **kw)
    for _ in range(steps):
        opt.zero_grad()
        (w * w - w.cos()).sum().backward()
        opt.step()
    return w.detach().numpy()


def _np_adadelta(steps, lr=1.0, rho=0.9, eps=1e-6):
    w, sq, acc = W0.copy(), np.zeros(3), np.zeros(3)
    for _ in range(steps):
        g = _grad(w)
        sq = rho * sq + (1 - rho) * g * g
        d = np.sqrt(acc + eps) / np.sqrt(sq + eps) * g
        acc = rho * acc + (1 - rho) * d * d
        w = w - lr * d
    return w


def _np_adamax(steps, lr=2e-3, b1=0.9, b2=0.999, eps=1e-8):
    w, m, u = W0.copy(), np.zeros(3), np.zeros(3)
    for t in range(1, steps + 1):
        g = _grad(w)
        m = b1 * m + (1 - b1) * g
        u = np.maximum(b2 * u, np.abs(g) + eps)
        w = w - lr / (1 - b1**t) * m / u
    return w


def _np_nadam(steps, lr=2e-3, b1=0.9, b2=0.999, eps=1e-8, md=4e-3):
    w, m, v, mp = W0.copy(), np.zeros(3), np.zeros(3), 1.0
    for t in range(1, steps + 1):
        g = _grad(w)
        mu = b1 * (1 - 0.5 * 0.96 ** (t * md))
        mu1 = b1 * (1 - 0.5 * 0.96 ** ((t + 1) * md))
        mp = float(np.float32(mp) * np.float32(mu))  # torch keeps mu_product in float32
        m = b1 * m + (1 - b1) * g
        v = b2 * v + (1 - b2) * g * g
        den = np.sqrt(v / (1 - b2**t)) + eps
        w = w - lr * (1 - mu) / (1 - mp) * g / den - lr * mu1 / (1 - mp * mu1) * m / den
    return w


def _np_radam(steps, lr=1e-3, b1=0.9, b2=0.999, eps=1e-8):
    w, m, v = W0.copy(), np.zeros(3), np.zeros(3)
    rho_inf = 2 / (1 - b2) - 1
    for t in range(1, steps + 1):
        g = _grad(w)
        m = b1 * m + (1 - b1) * g
        v = b2 * v + (1 - b2) * g * g
        mhat = m / (1 - b1**t)
        rho = rho_inf - 2 * t * b2**t / (1 - b2**t)
        if rho > 5:
            r = math.sqrt((rho - 4) * (rho - 2) * rho_inf / ((rho_inf - 4) * (rho_inf - 2) * rho))
            w = w - lr * mhat * r * math.sqrt(1 - b2**t) / (np.sqrt(v) + eps)
        else:
            w = w - lr * mhat
    return w


@pytest.mark.parametrize(
    "cls, ref, steps, kw",
    [
        (optim.Adadelta, _np_adadelta, 4, {}),
        (optim.Adamax, _np_adamax, 4, {"lr": 0.1}),
        (optim.NAdam, _np_nadam, 4, {"lr": 0.1}),
        (optim.RAdam, _np_radam, 8, {"lr": 0.1}),  # rho_t > 5 from step 6: both branches
    ],
)
def test_optimizers_follow_pytorch_update_rules(cls, ref, steps, kw):
    np.testing.assert_allclose(_run(cls, steps, **kw), ref(steps, **kw), rtol=1e-12, atol=1e-14)


def test_lbfgs_finds_the_minimum_of_a_quadratic():
    a = np.array([[3.0, 1.0], [1.0, 2.0]])
    b = np.array([1.0, -1.0])
    x = torch.zeros(2, dtype=torch.float64, requires_grad=True)
    A, B = torch.tensor(a), torch.tensor(b)
    opt = optim.LBFGS([x], tolerance_change=1e-15, tolerance_grad=1e-12)

    def closure():
        opt.zero_grad()
        loss = 0.5 * (x @ (A @ x)) - B @ x
        loss.backward()
        return loss

    opt.step(closure)
    np.testing.assert_allclose(x.detach().numpy(), np.linalg.solve(a, b), rtol=1e-8)
    with pytest.raises(RuntimeError, match="closure"):
        opt.step(None)


def _lrs(make, n=8, metric=None):
    p = [nn.Parameter(torch.ones(1))]
    opt = optim.SGD(p, lr=0.1, momentum=0.9)
    s = make(opt)
    out = []
    for i in range(n):
        opt.step()
        s.step() if metric is None else s.step(metric[i])
        out.append(opt.param_groups[0]["lr"])
    return out


def test_schedulers_closed_forms():
    lin = _lrs(lambda o: L.LinearLR(o, start_factor=0.25, total_iters=4))
    np.testing.assert_allclose(lin, [0.1 * (0.25 + 0.75 * min(e, 4) / 4) for e in range(1, 9)])
    poly = _lrs(lambda o: L.PolynomialLR(o, total_iters=4, power=2.0))
    np.testing.assert_allclose(
        poly, [0.1 * (1 - min(e, 4) / 4) ** 2 for e in range(1, 9)], atol=1e-15
    )
    oc = _lrs(lambda o: L.OneCycleLR(o, max_lr=1.0, total_steps=10), n=9)
    up = 0.3 * 10 - 1  # the warm-up phase ends at step 2

    def one_cycle(step):
        lo, hi, end = 1.0 / 25, 1.0, 1.0 / 25 / 1e4
        if step <= up:
            pct, a, b = step / up, lo, hi
        else:
            pct, a, b = (step - up) / (9 - up), hi, end
        return b + (a - b) / 2 * (math.cos(math.pi * pct) + 1)

    np.testing.assert_allclose(oc, [one_cycle(s) for s in range(1, 10)], rtol=1e-12)
    warm = _lrs(lambda o: L.CosineAnnealingWarmRestarts(o, T_0=3, eta_min=0.0))
    np.testing.assert_allclose(
        warm, [0.1 * (1 + math.cos(math.pi * (e % 3) / 3)) / 2 for e in range(1, 9)], atol=1e-15
    )


def test_reduce_lr_on_plateau_rules():
    # improvement needs metric < best * (1 - 1e-4); patience 1; cooldown 1 blocks one epoch
    lrs = _lrs(
        lambda o: L.ReduceLROnPlateau(o, patience=1, factor=0.5, cooldown=1),
        n=8,
        metric=[1.0, 0.9, 0.95, 0.95, 0.95, 0.95, 0.95, 0.8],
    )
    assert lrs == [0.1, 0.1, 0.1, 0.05, 0.05, 0.05, 0.025, 0.025]


def _np_mha(q, k, v, w_in, b_in, w_out, b_out, h, mask=None):
    L_, n, e = q.shape
    d = e // h
    wq, wk, wv = np.split(w_in, 3)
    bq, bk, bv = np.split(b_in, 3)
    out = np.zeros_like(q)
    for b in range(n):
        heads = []
        for i in range(h):
            sl = slice(i * d, (i + 1) * d)
            qq = (q[:, b] @ wq.T + bq)[:, sl]
            kk = (k[:, b] @ wk.T + bk)[:, sl]
            vv = (v[:, b] @ wv.T + bv)[:, sl]
            s = qq @ kk.T / math.sqrt(d)
            if mask is not None:
                s = np.where(mask, -np.inf, s)
            p = np.exp(s - s.max(-1, keepdims=True))
            heads.append(p / p.sum(-1, keepdims=True) @ vv)
        out[:, b] = np.concatenate(heads, -1) @ w_out.T + b_out
    return out


def test_multihead_attention_matches_numpy():
    torch.manual_seed(0)
    m = nn.MultiheadAttention(6, 2).double()
    rng = np.random.default_rng(0)
    q, k = rng.standard_normal((3, 2, 6)), rng.standard_normal((4, 2, 6))
    mask = np.triu(np.ones((3, 4), bool), 2)
    out, w = m(torch.tensor(q), torch.tensor(k), torch.tensor(k), attn_mask=torch.tensor(mask))
    ref = _np_mha(
        q,
        k,
        k,
        m.in_proj_weight.detach().numpy(),
        m.in_proj_bias.detach().numpy(),
        m.out_proj.weight.detach().numpy(),
        m.out_proj.bias.detach().numpy(),
        2,
        mask,
    )
    np.testing.assert_allclose(out.detach().numpy(), ref, rtol=1e-10)
    assert w.shape == (2, 3, 4)
    np.testing.assert_allclose(w.sum(-1).detach().numpy(), np.ones((2, 3)))


def test_transformer_encoder_layer_is_post_norm_attention_plus_ffn():
    torch.manual_seed(0)
    layer = nn.TransformerEncoderLayer(4, 2, dim_feedforward=8, dropout=0.0).double()
    x = np.random.default_rng(1).standard_normal((3, 1, 4))
    m = layer.self_attn
    a = _np_mha(
        x,
        x,
        x,
        m.in_proj_weight.detach().numpy(),
        m.in_proj_bias.detach().numpy(),
        m.out_proj.weight.detach().numpy(),
        m.out_proj.bias.detach().numpy(),
        2,
    )

    def ln(z):
        return (z - z.mean(-1, keepdims=True)) / np.sqrt(z.var(-1, keepdims=True) + 1e-5)

    def lin(z, mod):
        return z @ mod.weight.detach().numpy().T + mod.bias.detach().numpy()

    h = ln(x + a)
    ref = ln(h + lin(np.maximum(lin(h, layer.linear1), 0), layer.linear2))
    np.testing.assert_allclose(layer(torch.tensor(x)).detach().numpy(), ref, rtol=1e-9, atol=1e-12)
    mask = nn.Transformer.generate_square_subsequent_mask(3)
    assert mask.tolist() == [[0.0, -math.inf, -math.inf], [0.0, 0.0, -math.inf], [0.0] * 3]


@pytest.mark.parametrize("norm_first", [False, True])
@pytest.mark.parametrize("kind", ["encoder", "decoder"])
def test_transformer_layers_match_pytorch(kind, norm_first):
    """Same parameter names in the same order as PyTorch, same outputs with its weights."""
    real = pytest.importorskip("torch")
    cls = "TransformerEncoderLayer" if kind == "encoder" else "TransformerDecoderLayer"
    ref = getattr(real.nn, cls)(4, 2, 8, dropout=0.0, norm_first=norm_first).double().eval()
    ours = getattr(nn, cls)(4, 2, 8, dropout=0.0, norm_first=norm_first).double()
    sd = ref.state_dict()
    assert list(ours.state_dict()) == list(sd)
    ours.load_state_dict({k: torch.tensor(v.numpy()) for k, v in sd.items()})
    rng = np.random.default_rng(2)
    x, mem = rng.standard_normal((3, 2, 4)), rng.standard_normal((5, 2, 4))
    args = (x,) if kind == "encoder" else (x, mem)
    mask = real.nn.Transformer.generate_square_subsequent_mask(3).double()
    want = ref(*map(real.tensor, args), mask).detach().numpy()
    got = ours(*map(torch.tensor, args), torch.tensor(mask.numpy()))
    np.testing.assert_allclose(got.detach().numpy(), want, rtol=1e-10, atol=1e-12)
