"""Convolution and pooling: NumPy loop references, finite differences, second order, errors."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import jitgrad as jg
import jitgrad.nn.functional as F
from jitgrad import nn

from ._fd import assert_close, check_grad, check_second_order

RNG = np.random.default_rng(0)


def conv2d_ref(x, w, b=None, stride=(1, 1), pad=(0, 0, 0, 0), dil=(1, 1), groups=1):
    n, c, h, wd = x.shape
    o, cg, kh, kw = w.shape
    xp = np.pad(x, ((0, 0), (0, 0), (pad[0], pad[1]), (pad[2], pad[3])))
    ho = (xp.shape[2] - dil[0] * (kh - 1) - 1) // stride[0] + 1
    wo = (xp.shape[3] - dil[1] * (kw - 1) - 1) // stride[1] + 1
    out = np.zeros((n, o, ho, wo))
    og = o // groups
    for ni in range(n):
        for oi in range(o):
            g = oi // og
            for i in range(ho):
                for j in range(wo):
                    acc = 0.0
                    for ci in range(cg):
                        for a in range(kh):
                            for bb in range(kw):
                                acc += (
                                    xp[
                                        ni,
                                        g * cg + ci,
                                        i * stride[0] + a * dil[0],
                                        j * stride[1] + bb * dil[1],
                                    ]
                                    * w[oi, ci, a, bb]
                                )
                    out[ni, oi, i, j] = acc + (0.0 if b is None else b[oi])
    return out


def pool_ref(x, k, s, p, d, op, count_include_pad=True):
    n, c, h, w = x.shape
    fill = -np.inf if op == "max" else 0.0
    xp = np.pad(x, ((0, 0), (0, 0), (p[0], p[0]), (p[1], p[1])), constant_values=fill)
    ho = (h + 2 * p[0] - d[0] * (k[0] - 1) - 1) // s[0] + 1
    wo = (w + 2 * p[1] - d[1] * (k[1] - 1) - 1) // s[1] + 1
    out = np.zeros((n, c, ho, wo))
    for i in range(ho):
        for j in range(wo):
            win = xp[
                :,
                :,
                i * s[0] : i * s[0] + d[0] * (k[0] - 1) + 1 : d[0],
                j * s[1] : j * s[1] + d[1] * (k[1] - 1) + 1 : d[1],
            ]
            if op == "max":
                out[:, :, i, j] = win.max((2, 3))
            elif count_include_pad:
                out[:, :, i, j] = win.mean((2, 3))
            else:
                hs, ws = i * s[0] - p[0], j * s[1] - p[1]
                cnt = (min(hs + k[0], h) - max(hs, 0)) * (min(ws + k[1], w) - max(ws, 0))
                out[:, :, i, j] = win.sum((2, 3)) / cnt
    return out


CONV_CASES = [
    # (x shape, w shape, stride, padding arg, dilation, groups, ref padding)
    ((2, 3, 6, 5), (4, 3, 3, 3), 1, 0, 1, 1, (0, 0, 0, 0)),
    ((1, 4, 7, 7), (6, 2, 3, 2), (2, 1), (1, 2), (1, 2), 2, (1, 1, 2, 2)),
    ((2, 2, 5, 6), (2, 2, 2, 3), 1, "same", 1, 1, (0, 1, 1, 1)),
    ((1, 3, 5, 5), (3, 1, 3, 3), 2, 1, 1, 3, (1, 1, 1, 1)),
]


@pytest.mark.parametrize("xs,ws,stride,padding,dil,groups,refpad", CONV_CASES)
def test_conv2d_forward_matches_loops(xs, ws, stride, padding, dil, groups, refpad):
    x, w, b = RNG.standard_normal(xs), RNG.standard_normal(ws), RNG.standard_normal(ws[0])
    out = F.conv2d(jg.tensor(x), jg.tensor(w), jg.tensor(b), stride, padding, dil, groups)
    st_ = (stride, stride) if isinstance(stride, int) else stride
    dl = (dil, dil) if isinstance(dil, int) else dil
    assert_close(out.numpy(), conv2d_ref(x, w, b, st_, refpad, dl, groups), 1e-12, 1e-12)
    if padding == "same":
        assert tuple(out.shape[2:]) == xs[2:]


@pytest.mark.parametrize("xs,ws,stride,padding,dil,groups,refpad", CONV_CASES[:2])
def test_conv2d_grad_fd(xs, ws, stride, padding, dil, groups, refpad):
    x, w, b = RNG.standard_normal(xs), RNG.standard_normal(ws), RNG.standard_normal(ws[0])
    check_grad(lambda x, w, b: F.conv2d(x, w, b, stride, padding, dil, groups), x, w, b)


def test_conv2d_second_order():
    x, w = RNG.standard_normal((1, 2, 4, 4)), RNG.standard_normal((2, 1, 2, 2))
    # squaring makes the second derivative non-trivial (conv itself is bilinear)
    check_second_order(lambda x, w: F.conv2d(x, w, None, 2, 1, 1, 2) ** 2, x, w)
    check_second_order(
        lambda x, w: F.conv2d(x, w, None, 1, 0, (1, 2), 1).tanh(),
        RNG.standard_normal((1, 1, 4, 5)),
        RNG.standard_normal((2, 1, 2, 2)),
    )


def test_conv2d_third_order_stays_in_closed_set():
    x = jg.tensor(RNG.standard_normal((1, 1, 3, 3)), requires_grad=True)
    w = jg.tensor(RNG.standard_normal((1, 1, 2, 2)), requires_grad=True)
    (gx,) = jg.autograd.grad((F.conv2d(x, w) ** 3).sum(), [x], create_graph=True)
    (gw,) = jg.autograd.grad((gx**2).sum(), [w], create_graph=True)
    (gx2,) = jg.autograd.grad(gw.sum(), [x])
    assert gx2.shape == x.shape and np.isfinite(gx2.numpy()).all()


def test_conv1d_matches_conv2d_reference():
    x, w, b = RNG.standard_normal((2, 3, 9)), RNG.standard_normal((4, 3, 3)), RNG.standard_normal(4)
    out = F.conv1d(jg.tensor(x), jg.tensor(w), jg.tensor(b), stride=2, padding=1, dilation=2)
    ref = conv2d_ref(x[:, :, None], w[:, :, None], b, (1, 2), (0, 0, 1, 1), (1, 2))[:, :, 0]
    assert_close(out.numpy(), ref, 1e-12, 1e-12)
    check_grad(lambda x, w: F.conv1d(x, w, padding="same"), x[:1, :, :5], w)
    layer = nn.Conv1d(3, 4, 3)
    assert tuple(layer(jg.randn(2, 3, 10)).shape) == (2, 4, 8)


def test_conv2d_module_default_init_and_unbatched():
    jg.manual_seed(0)
    conv = nn.Conv2d(8, 16, 3)
    bound = 1 / np.sqrt(8 * 9)
    w = conv.weight.detach().numpy()
    assert w.shape == (16, 8, 3, 3) and np.abs(w).max() <= bound and np.abs(w).max() > 0.8 * bound
    assert np.abs(conv.bias.detach().numpy()).max() <= bound
    x = jg.randn(8, 5, 5)
    np.testing.assert_allclose(
        conv(x).detach().numpy(), conv(x.unsqueeze(0))[0].detach().numpy(), rtol=1e-6
    )


def test_conv2d_errors():
    x = jg.randn(2, 3, 8, 8)
    with pytest.raises(
        RuntimeError,
        match=r"Given groups=1, weight of size \[4, 2, 3, 3\], "
        r"expected input\[2, 3, 8, 8\] to have 2 channels, but got 3 channels",
    ):
        F.conv2d(x, jg.randn(4, 2, 3, 3))
    with pytest.raises(RuntimeError, match=r"Kernel size: \(9 x 9\). Kernel size can't be greater"):
        F.conv2d(x, jg.randn(4, 3, 9, 9))
    with pytest.raises(RuntimeError, match="Expected 3D \\(unbatched\\) or 4D"):
        F.conv2d(jg.randn(8, 8), jg.randn(4, 3, 3, 3))
    with pytest.raises(
        RuntimeError, match=r"Input type \(jitgrad.float64\) and weight type \(jitgrad.float32\)"
    ):
        F.conv2d(x.double(), jg.randn(4, 3, 3, 3))
    with pytest.raises(ValueError, match="padding='same' is not supported for strided"):
        nn.Conv2d(3, 4, 3, stride=2, padding="same")


@pytest.mark.parametrize(
    "k,s,p,d",
    [
        ((2, 2), (2, 2), (0, 0), (1, 1)),
        ((3, 2), (2, 1), (1, 1), (1, 2)),
        ((3, 3), (1, 2), (1, 0), (2, 1)),
    ],
)
def test_max_pool2d_forward_grad_second_order(k, s, p, d):
    x = RNG.standard_normal((2, 2, 7, 6))
    out = F.max_pool2d(jg.tensor(x), k, s, p, d)
    assert_close(out.numpy(), pool_ref(x, k, s, p, d, "max"), 0, 0)
    check_grad(lambda x: F.max_pool2d(x, k, s, p, d), x)
    check_second_order(lambda x: F.max_pool2d(x * x, k, s, p, d) ** 2, x[:1, :1])


def test_max_pool2d_ties_go_to_first_and_indices():
    x = jg.tensor([[[[1.0, 1.0], [0.0, 1.0]]]], requires_grad=True)
    out, idx = F.max_pool2d(x, 2, return_indices=True)
    out.sum().backward()
    assert x.grad.tolist() == [[[[1.0, 0.0], [0.0, 0.0]]]]
    xx = jg.tensor(RNG.standard_normal((1, 2, 5, 5)))
    out, idx = F.max_pool2d(xx, 3, 2, 1, return_indices=True)
    flat = xx.numpy().reshape(1, 2, 25)
    np.testing.assert_array_equal(
        np.take_along_axis(flat, idx.numpy().reshape(1, 2, -1), 2), out.numpy().reshape(1, 2, -1)
    )


def test_max_pool2d_ceil_mode_and_errors():
    x = RNG.standard_normal((1, 1, 5, 5))
    out = F.max_pool2d(jg.tensor(x), 2, 2, ceil_mode=True)
    assert tuple(out.shape) == (1, 1, 3, 3)
    assert out.numpy()[0, 0, 2, 2] == x[0, 0, 4, 4]
    assert_close(out.numpy()[:, :, :2, :2], pool_ref(x, (2, 2), (2, 2), (0, 0), (1, 1), "max"))
    with pytest.raises(RuntimeError, match="pad should be at most half of effective kernel"):
        F.max_pool2d(jg.tensor(x), 2, padding=2)
    with pytest.raises(RuntimeError, match="Output size is too small"):
        F.max_pool2d(jg.randn(1, 1, 1, 1), 2)
    m = nn.MaxPool2d(2)
    assert tuple(m(jg.randn(3, 8, 8)).shape) == (3, 4, 4)


@pytest.mark.parametrize(
    "k,s,p,cip",
    [((2, 2), None, (0, 0), True), ((3, 2), (2, 1), (1, 1), True), ((3, 3), (2, 2), (1, 1), False)],
)
def test_avg_pool2d(k, s, p, cip):
    x = RNG.standard_normal((2, 2, 7, 6))
    out = F.avg_pool2d(jg.tensor(x), k, s, p, count_include_pad=cip)
    assert_close(out.numpy(), pool_ref(x, k, s or k, p, (1, 1), "avg", cip), 1e-12, 1e-12)
    check_grad(lambda x: F.avg_pool2d(x, k, s, p, count_include_pad=cip), x[:1, :1])
    check_second_order(
        lambda x: F.avg_pool2d(x, k, s, p, count_include_pad=cip) ** 2, x[:1, :1, :5, :5]
    )
    assert repr(nn.AvgPool2d(2)) == "AvgPool2d(kernel_size=2, stride=2, padding=0)"


def test_adaptive_avg_pool2d():
    x = RNG.standard_normal((2, 3, 6, 7))
    out = F.adaptive_avg_pool2d(jg.tensor(x), (3, 7))
    assert_close(out.numpy(), x.reshape(2, 3, 3, 2, 7).mean(3), 1e-12, 1e-12)
    out = F.adaptive_avg_pool2d(jg.tensor(x), (4, 3)).numpy()
    for i in range(4):
        for j in range(3):
            h0, h1 = (i * 6) // 4, -(-((i + 1) * 6) // 4)
            w0, w1 = (j * 7) // 3, -(-((j + 1) * 7) // 3)
            assert_close(out[:, :, i, j], x[:, :, h0:h1, w0:w1].mean((2, 3)), 1e-12, 1e-12)
    check_grad(lambda x: F.adaptive_avg_pool2d(x, (2, 3)), x[:1, :1, :5, :5])
    assert tuple(nn.AdaptiveAvgPool2d(1)(jg.randn(2, 4, 5, 5)).shape) == (2, 4, 1, 1)


def test_pool1d():
    x = RNG.standard_normal((2, 3, 9))
    out = F.max_pool1d(jg.tensor(x), 3, 2)
    ref = np.stack([x[:, :, i * 2 : i * 2 + 3].max(-1) for i in range(4)], -1)
    assert_close(out.numpy(), ref, 0, 0)
    out = F.avg_pool1d(jg.tensor(x), 3, 2)
    ref = np.stack([x[:, :, i * 2 : i * 2 + 3].mean(-1) for i in range(4)], -1)
    assert_close(out.numpy(), ref, 1e-12, 1e-12)


@settings(max_examples=20, deadline=None)
@given(
    n=st.integers(1, 2),
    c=st.integers(1, 3),
    h=st.integers(3, 7),
    w=st.integers(3, 7),
    k=st.integers(1, 3),
    s=st.integers(1, 3),
    p=st.integers(0, 1),
    d=st.integers(1, 2),
    o=st.integers(1, 3),
    seed=st.integers(0, 1000),
)
def test_conv2d_random_configs_match_loops_and_adjoint(n, c, h, w, k, s, p, d, o, seed):
    if h + 2 * p < d * (k - 1) + 1 or w + 2 * p < d * (k - 1) + 1:
        return
    r = np.random.default_rng(seed)
    x, wt = r.standard_normal((n, c, h, w)), r.standard_normal((o, c, k, k))
    xt, wtt = jg.tensor(x, requires_grad=True), jg.tensor(wt, requires_grad=True)
    out = F.conv2d(xt, wtt, None, s, p, d)
    assert_close(
        out.detach().numpy(), conv2d_ref(x, wt, None, (s, s), (p,) * 4, (d, d)), 1e-12, 1e-12
    )
    # adjoint identity <conv(x + e dx), g> - <conv(x), g> = e <dx, grad_x>
    g = r.standard_normal(tuple(out.shape))
    out.backward(jg.tensor(g))
    dx = r.standard_normal(x.shape)
    lhs = (conv2d_ref(dx, wt, None, (s, s), (p,) * 4, (d, d)) * g).sum()
    assert abs(lhs - (dx * xt.grad.numpy()).sum()) < 1e-9 * max(1.0, abs(lhs))
    dw = r.standard_normal(wt.shape)
    lhs = (conv2d_ref(x, dw, None, (s, s), (p,) * 4, (d, d)) * g).sum()
    assert abs(lhs - (dw * wtt.grad.numpy()).sum()) < 1e-9 * max(1.0, abs(lhs))


def test_pool_kernel_matches_numpy_reference_with_ties_and_nan():
    from jitgrad.ops import conv as C

    x = np.maximum(RNG.standard_normal((2, 3, 7, 6)), 0.0)  # many tied zero windows
    x[0, 0, 1, 1] = np.nan
    g = RNG.standard_normal((2, 3, 4, 3))
    p = {"ksize": (2, 2), "stride": (2, 2), "padding": (1, 0, 0, 0), "dilation": (1, 1)}
    p["out_hw"] = (4, 3)
    gg = RNG.standard_normal(x.shape)
    idx = C.max_pool2d_indices_p.impl(x, **p)
    np.testing.assert_array_equal(idx, C.max_pool2d_indices_p.extra["ref"](x, **p))
    for prim, a, q in (
        (C.max_pool2d_grad_p, g, dict(p, in_hw=x.shape[2:])),
        (C.max_pool2d_gather_p, gg, p),
    ):
        np.testing.assert_array_equal(prim.impl(a, idx, **q), prim.extra["ref"](a, idx, **q))


def test_small_cnn_second_order_end_to_end():
    x = RNG.standard_normal((2, 1, 4, 4))
    w = RNG.standard_normal((2, 1, 3, 3))
    lw = RNG.standard_normal((3, 8))
    t = jg.tensor([0, 2])

    def net(x, w, lw):
        h = F.max_pool2d(F.conv2d(x, w, padding=1).tanh(), 2)
        h = F.batch_norm(h, None, None, training=True)
        return F.cross_entropy(F.linear(h.flatten(1), lw), t)

    check_grad(net, x, w, lw)
    check_second_order(net, x, w, lw[:, :])
