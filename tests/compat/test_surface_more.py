"""More of PyTorch's surface tutorials use (issue 15 follow-up): transposed convolutions,
unfold/fold, adaptive max / LP pooling, local response and RMS norm, renorm, nanmedian, i0,
scatter_reduce, copysign's and binary_cross_entropy's gradient rules.

References are written independently in NumPy (loops over the definition), gradients are
checked against float64 finite differences (``gradcheck``/``gradgradcheck``)."""

import numpy as np
import pytest
import scipy.special as sp

import jitgrad as torch
from jitgrad import nn
from jitgrad.autograd import gradcheck, gradgradcheck
from jitgrad.nn import functional as F

R = np.random.default_rng(15)


def _t(a, grad=True):
    return torch.tensor(np.asarray(a, dtype=np.float64), requires_grad=grad)


# ---------------------------------------------------------------- transposed convolution --
def _np_conv_transpose2d(x, w, b, stride, padding, output_padding, groups, dilation):
    """Scatter definition: every input pixel adds its weighted kernel into the output."""
    n, cin, h, wd = x.shape
    og, (kh, kw) = w.shape[1], w.shape[2:]
    (sh, sw), (ph, pw), (oph, opw), (dh, dw) = stride, padding, output_padding, dilation
    full_h = (h - 1) * sh + dh * (kh - 1) + 1 + oph
    full_w = (wd - 1) * sw + dw * (kw - 1) + 1 + opw
    out = np.zeros((n, og * groups, full_h, full_w))
    cg = cin // groups
    for g in range(groups):
        xs = x[:, g * cg : (g + 1) * cg]
        for i in range(kh):
            for j in range(kw):
                contrib = np.einsum("nchw,co->nohw", xs, w[g * cg : (g + 1) * cg, :, i, j])
                out[
                    :,
                    g * og : (g + 1) * og,
                    i * dh : i * dh + (h - 1) * sh + 1 : sh,
                    j * dw : j * dw + (wd - 1) * sw + 1 : sw,
                ] += contrib
    out = out[:, :, ph : full_h - ph, pw : full_w - pw]
    return out + b.reshape(1, -1, 1, 1) if b is not None else out


CT_CONFIGS = [
    dict(),
    dict(stride=2),
    dict(stride=2, padding=1, output_padding=1),
    dict(stride=(2, 3), padding=(1, 0), output_padding=(1, 2), dilation=(1, 2)),
    dict(groups=2),
    dict(stride=3, padding=2, dilation=2, groups=2, output_padding=2),
    dict(padding=2),  # padding larger than d*(k-1): the composite crops
]


def _full(cfg):
    def pair(k, d):
        v = cfg.get(k, d)
        return (v, v) if isinstance(v, int) else v

    return (
        pair("stride", 1),
        pair("padding", 0),
        pair("output_padding", 0),
        cfg.get("groups", 1),
        pair("dilation", 1),
    )


@pytest.mark.parametrize("cfg", CT_CONFIGS, ids=str)
def test_conv_transpose2d_values_and_gradients(cfg):
    g = cfg.get("groups", 1)
    x, w, b = (
        R.standard_normal((2, 4, 3, 4)),
        R.standard_normal((4, 2, 3, 2)),
        R.standard_normal(2 * g),
    )
    out = F.conv_transpose2d(_t(x, False), _t(w, False), _t(b, False), **cfg)
    ref = _np_conv_transpose2d(x, w, b, *_full(cfg))
    assert out.shape == ref.shape
    np.testing.assert_allclose(out.numpy(), ref, rtol=1e-12, atol=1e-12)
    assert gradcheck(
        lambda a, k, c: F.conv_transpose2d(a, k, c, **cfg), (_t(x), _t(w), _t(b)), atol=1e-6
    )


@pytest.mark.parametrize(
    "cfg",
    [dict(stride=2, padding=1, output_padding=1, dilation=2), dict(groups=2, stride=3)],
    ids=str,
)
def test_conv_transpose1d_is_the_2d_one_of_height_1(cfg):
    g = cfg.get("groups", 1)
    x, w, b = R.standard_normal((2, 4, 5)), R.standard_normal((4, 3, 3)), R.standard_normal(3 * g)
    out = F.conv_transpose1d(_t(x, False), _t(w, False), _t(b, False), **cfg)
    (_, s), (_, p), (_, op_), _, (_, d) = _full(cfg)
    ref = _np_conv_transpose2d(
        x[:, :, None], w[:, :, None], b, (1, s), (0, p), (0, op_), g, (1, d)
    )[:, :, 0]
    np.testing.assert_allclose(out.numpy(), ref, rtol=1e-12, atol=1e-12)
    assert gradcheck(lambda a, k: F.conv_transpose1d(a, k, **cfg), (_t(x), _t(w)), atol=1e-6)
    # unbatched input: the batch dimension is added and removed
    np.testing.assert_allclose(
        F.conv_transpose1d(_t(x[0], False), _t(w, False), _t(b, False), **cfg).numpy(),
        ref[0],
        rtol=1e-12,
        atol=1e-12,
    )


def test_conv_transpose2d_second_derivative():
    x, w = _t(R.standard_normal((1, 2, 3, 3))), _t(R.standard_normal((2, 2, 2, 2)))
    f = lambda a, k: F.conv_transpose2d(a, k, stride=2, padding=1, output_padding=1)  # noqa: E731
    assert gradgradcheck(f, (x, w), atol=1e-6)


def test_conv_transpose2d_errors_name_the_problem():
    x, w = torch.randn(1, 4, 5, 5), torch.randn(4, 3, 3, 3)
    with pytest.raises(RuntimeError, match="output padding must be smaller than either stride"):
        F.conv_transpose2d(x, w, output_padding=1)
    with pytest.raises(RuntimeError, match=r"expected input\[1, 3, 5, 5\] to have 4 channels"):
        F.conv_transpose2d(torch.randn(1, 3, 5, 5), w)
    with pytest.raises(RuntimeError, match="Output size is too small"):
        F.conv_transpose2d(x, w, padding=5)
    with pytest.raises(RuntimeError, match="Input type"):
        F.conv_transpose2d(x.double(), w)


def test_conv_transpose_modules_layout_init_and_output_size():
    torch.manual_seed(0)
    m = nn.ConvTranspose2d(16, 8, 3, stride=2, groups=2)
    assert m.weight.shape == (16, 4, 3, 3) and m.bias.shape == (8,)
    bound = 1 / np.sqrt(4 * 9)  # fan_in = weight.size(1) * receptive field
    assert 0.9 * bound < m.weight.abs().max().item() <= bound
    assert m.bias.abs().max().item() <= bound
    assert repr(m) == "ConvTranspose2d(16, 8, kernel_size=(3, 3), stride=(2, 2), groups=2)"
    x = torch.randn(1, 16, 5, 5)
    assert m(x).shape == (1, 8, 11, 11)
    y = m(x, output_size=[12, 12])
    assert y.shape == (1, 8, 12, 12)
    ref = F.conv_transpose2d(x, m.weight, m.bias, 2, 0, 1, 2)
    np.testing.assert_array_equal(y.detach().numpy(), ref.detach().numpy())
    assert m(x, output_size=(1, 8, 12, 11)).shape == (1, 8, 12, 11)
    with pytest.raises(ValueError, match=r"valid sizes range from \[11, 11\] to \[12, 12\]"):
        m(x, output_size=[14, 14])
    m1 = nn.ConvTranspose1d(4, 6, 3, stride=2, padding=1, output_padding=1, dilation=2, bias=False)
    assert m1.weight.shape == (4, 6, 3) and m1.bias is None
    assert repr(m1) == (
        "ConvTranspose1d(4, 6, kernel_size=(3,), stride=(2,), padding=(1,), dilation=(2,), "
        "output_padding=(1,), bias=False)"
    )
    assert m1(torch.randn(2, 4, 5)).shape == (2, 6, 12)
    with pytest.raises(ValueError, match="zeros"):
        nn.ConvTranspose2d(2, 2, 3, padding_mode="reflect")


def test_traced_autoencoder_step_matches_eager():
    def make():
        torch.manual_seed(1)
        net = nn.Sequential(
            nn.Conv2d(1, 3, 3, stride=2, padding=1),
            nn.ReLU(),
            nn.ConvTranspose2d(3, 1, 3, stride=2, padding=1, output_padding=1),
        )
        return net, torch.optim.SGD(net.parameters(), lr=0.1)

    def step_fn(net, opt):
        def step(x):
            opt.zero_grad()
            loss = ((net(x) - x) ** 2).mean()
            loss.backward()
            opt.step()
            return loss

        return step

    x = torch.tensor(R.standard_normal((2, 1, 6, 6)).astype(np.float32))
    (n1, o1), (n2, o2) = make(), make()
    eager, traced = step_fn(n1, o1), torch.trace(step_fn(n2, o2), backend="cpu")
    for _ in range(3):
        le, lt = eager(x), traced(x)
        np.testing.assert_allclose(lt.item(), le.item(), rtol=1e-5)
    assert traced.stats["compiled_calls"] >= 1
    assert not traced.last.exe.fallbacks  # the composite lowers with no slower path
    for p, q in zip(n1.parameters(), n2.parameters()):
        np.testing.assert_allclose(q.detach().numpy(), p.detach().numpy(), rtol=1e-5, atol=1e-6)


# ---------------------------------------------------------------- unfold / fold -----------
def _np_unfold(x, k, d, p, s):
    n, c, h, w = x.shape
    xp = np.pad(x, ((0, 0), (0, 0), (p[0], p[0]), (p[1], p[1])))
    oh = (h + 2 * p[0] - d[0] * (k[0] - 1) - 1) // s[0] + 1
    ow = (w + 2 * p[1] - d[1] * (k[1] - 1) - 1) // s[1] + 1
    out = np.zeros((n, c, k[0], k[1], oh, ow))
    for i in range(k[0]):
        for j in range(k[1]):
            for a in range(oh):
                for b in range(ow):
                    out[:, :, i, j, a, b] = xp[:, :, a * s[0] + i * d[0], b * s[1] + j * d[1]]
    return out.reshape(n, c * k[0] * k[1], oh * ow)


UF_CONFIGS = [
    ((2, 2), (1, 1), (0, 0), (1, 1)),
    ((2, 3), (1, 2), (1, 0), (2, 1)),
    ((3, 2), (2, 1), (1, 1), (2, 2)),
]


@pytest.mark.parametrize("k, d, p, s", UF_CONFIGS)
def test_unfold_and_fold_match_the_definition(k, d, p, s):
    x = R.standard_normal((2, 3, 6, 7))
    cols = F.unfold(_t(x, False), k, d, p, s)
    ref = _np_unfold(x, k, d, p, s)
    np.testing.assert_array_equal(cols.numpy(), ref)
    # fold is unfold's adjoint: <fold(c), x> == <c, unfold(x)>
    c = R.standard_normal(ref.shape)
    img = F.fold(_t(c, False), (6, 7), k, d, p, s)
    assert img.shape == (2, 3, 6, 7)
    np.testing.assert_allclose((img.numpy() * x).sum(), (c * ref).sum(), rtol=1e-12)
    assert gradcheck(lambda a: F.unfold(a, k, d, p, s), (_t(x[:1, :2]),), atol=1e-6)
    assert gradcheck(lambda a: F.fold(a, (6, 7), k, d, p, s), (_t(c[:1, : ref.shape[1] // 3 * 2]),))


def test_unfold_fold_modules_and_errors():
    x = torch.randn(3, 5, 4)  # unbatched
    assert nn.Unfold(2)(x).shape == (12, 12)  # 4 x 3 blocks of 3 * 2 * 2
    assert repr(nn.Fold((4, 5), 2)) == (
        "Fold(output_size=(4, 5), kernel_size=2, dilation=1, padding=0, stride=1)"
    )
    np.testing.assert_array_equal(nn.Fold((5, 4), 1)(nn.Unfold(1)(x)).numpy(), x.numpy())
    with pytest.raises(RuntimeError, match="divisible by the product of kernel_size"):
        F.fold(torch.randn(1, 5, 9), (4, 4), 2)
    with pytest.raises(RuntimeError, match="calculated number of sliding blocks 3 \\* 3 = 9"):
        F.fold(torch.randn(1, 8, 10), (4, 4), 2)


# ---------------------------------------------------------------- pooling -----------------
def _np_adaptive_max(x, oh, ow):
    n, c, h, w = x.shape
    out, idx = np.zeros((n, c, oh, ow)), np.zeros((n, c, oh, ow), np.int64)
    for i in range(oh):
        h0, h1 = i * h // oh, -(-(i + 1) * h // oh)
        for j in range(ow):
            w0, w1 = j * w // ow, -(-(j + 1) * w // ow)
            win = x[:, :, h0:h1, w0:w1].reshape(n, c, -1)
            a = win.argmax(-1)
            out[:, :, i, j] = win.max(-1)
            idx[:, :, i, j] = (h0 + a // (w1 - w0)) * w + w0 + a % (w1 - w0)
    return out, idx


@pytest.mark.parametrize("size", [3, (2, 4), (7, 5), (None, 2), (5, 3)], ids=str)
def test_adaptive_max_pool2d(size):
    x = R.standard_normal((2, 3, 7, 5))
    oh, ow = (size, size) if isinstance(size, int) else size
    oh, ow = oh or 7, ow or 5
    out, idx = F.adaptive_max_pool2d(_t(x), size, return_indices=True)
    ref, ridx = _np_adaptive_max(x, oh, ow)
    np.testing.assert_array_equal(out.detach().numpy(), ref)
    np.testing.assert_array_equal(idx.numpy(), ridx)
    assert idx.dtype == torch.int64
    assert gradcheck(lambda a: F.adaptive_max_pool2d(a, size), (_t(x[:1, :2]),))


def test_adaptive_max_pool_ties_indices_1d_and_modules():
    x = _t(np.ones((1, 1, 4, 4)))
    out, idx = F.adaptive_max_pool2d(x, 3, return_indices=True)
    np.testing.assert_array_equal(idx.numpy()[0, 0], [[0, 1, 2], [4, 5, 6], [8, 9, 10]])
    out.sum().backward()  # the whole gradient goes to each window's first maximum
    g = np.zeros(16)
    np.add.at(g, idx.numpy().reshape(-1), 1.0)
    np.testing.assert_array_equal(x.grad.numpy().reshape(-1), g)
    nan = np.ones((1, 1, 4, 4))
    nan[0, 0, 0, 0] = nan[0, 0, 1, 1] = np.nan  # torch picks a window's last NaN
    o, i = F.adaptive_max_pool2d(_t(nan, False), 2, return_indices=True)
    np.testing.assert_array_equal(i.numpy()[0, 0], [[5, 2], [8, 10]])
    assert np.isnan(o.numpy()[0, 0, 0, 0]) and o.numpy()[0, 0, 1, 1] == 1.0
    y = R.standard_normal((2, 3, 7))
    o1, i1 = F.adaptive_max_pool1d(_t(y, False), 3, return_indices=True)
    r1, ri1 = _np_adaptive_max(y[:, :, None], 1, 3)
    np.testing.assert_array_equal(o1.numpy(), r1[:, :, 0])
    np.testing.assert_array_equal(i1.numpy(), ri1[:, :, 0])
    m = nn.AdaptiveMaxPool2d((2, None), return_indices=True)
    assert repr(m) == "AdaptiveMaxPool2d(output_size=(2, None))"
    assert m(torch.randn(3, 4, 5))[1].shape == (3, 2, 5)
    assert nn.AdaptiveMaxPool1d(2)(torch.randn(1, 2, 5)).shape == (1, 2, 2)
    with pytest.raises(RuntimeError, match=r"Expected 3D or 4D tensor, but got: \[2, 3\]"):
        F.adaptive_max_pool2d(torch.randn(2, 3), 2)


def test_lp_pool_is_the_p_norm_of_each_window():
    x = R.uniform(0.1, 2.0, (2, 3, 6, 7))
    out = F.lp_pool2d(_t(x, False), 3.0, (2, 3), (2, 2))
    win = np.lib.stride_tricks.sliding_window_view(x, (2, 3), axis=(2, 3))[:, :, ::2, ::2]
    np.testing.assert_allclose(out.numpy(), ((win**3).sum((-2, -1))) ** (1 / 3), rtol=1e-12)
    y = x[:, :, 0]
    out1 = F.lp_pool1d(_t(y, False), 2.0, 3, 2)
    w1 = np.lib.stride_tricks.sliding_window_view(y, 3, axis=2)[:, :, ::2]
    np.testing.assert_allclose(out1.numpy(), np.sqrt((w1**2).sum(-1)), rtol=1e-12)
    assert gradcheck(lambda a: F.lp_pool2d(a, 1.5, 2), (_t(x[:1, :1]),))
    m = nn.LPPool2d(2, 3)
    assert repr(m) == "LPPool2d(norm_type=2, kernel_size=3, stride=None, ceil_mode=False)"
    np.testing.assert_allclose(
        m(_t(x, False)).numpy(), F.lp_pool2d(_t(x, False), 2.0, 3).numpy(), rtol=1e-15
    )
    assert nn.LPPool1d(1.5, 3, 2)(_t(y, False)).shape == (2, 3, 3)


# ---------------------------------------------------------------- norms -------------------
def _np_lrn(x, size, alpha, beta, k):
    c = x.shape[1]
    sq = x * x
    div = np.zeros_like(x)
    for ch in range(c):
        lo, hi = ch - size // 2, ch + (size - 1) // 2
        div[:, ch] = sq[:, max(lo, 0) : min(hi, c - 1) + 1].sum(1) / size
    return x / (k + alpha * div) ** beta


@pytest.mark.parametrize("size", [1, 2, 3, 4])
def test_local_response_norm(size):
    x = R.standard_normal((2, 5, 3, 2))
    out = F.local_response_norm(_t(x, False), size, 0.1, 0.6, 2.0)
    np.testing.assert_allclose(out.numpy(), _np_lrn(x, size, 0.1, 0.6, 2.0), rtol=1e-12)
    out3 = F.local_response_norm(_t(x[0], False), size)  # 3-D input: channels are dim 1
    np.testing.assert_allclose(out3.numpy(), _np_lrn(x[0], size, 1e-4, 0.75, 1.0), rtol=1e-12)
    assert gradcheck(lambda a: F.local_response_norm(a, size, 0.5, 0.6, 1.0), (_t(x[:1]),))


def test_local_response_norm_module_and_error():
    assert repr(nn.LocalResponseNorm(2)) == "LocalResponseNorm(2, alpha=0.0001, beta=0.75, k=1.0)"
    assert nn.LocalResponseNorm(3)(torch.randn(2, 4, 3, 2, 2)).shape == (2, 4, 3, 2, 2)
    with pytest.raises(ValueError, match=r"Expected 3D or higher dimensionality input \(got 2"):
        F.local_response_norm(torch.randn(2, 3), 2)


def test_rms_norm_default_eps_is_the_dtype_epsilon():
    x = (R.standard_normal((3, 4)) * 1e-4).astype(np.float32)
    w = R.standard_normal(4).astype(np.float32)
    out = F.rms_norm(torch.tensor(x), [4], torch.tensor(w))
    eps = np.finfo(np.float32).eps
    ref = x / np.sqrt((x.astype(np.float64) ** 2).mean(-1, keepdims=True) + eps) * w
    np.testing.assert_allclose(out.numpy(), ref, rtol=1e-5)
    no_eps = x / np.sqrt((x.astype(np.float64) ** 2).mean(-1, keepdims=True)) * w
    assert not np.allclose(out.numpy(), no_eps, rtol=1e-3)  # the epsilon matters here
    x64 = R.standard_normal((2, 3, 4))
    np.testing.assert_allclose(
        F.rms_norm(_t(x64, False), (3, 4), eps=1e-3).numpy(),
        x64 / np.sqrt((x64**2).mean((1, 2), keepdims=True) + 1e-3),
        rtol=1e-12,
    )
    assert gradcheck(lambda a, k: F.rms_norm(a, [4], k), (_t(x64[0]), _t(R.standard_normal(4))))
    with pytest.raises(RuntimeError, match=r"expected input with shape \[\*4\]"):
        F.rms_norm(torch.randn(2, 3), [4])


def test_rms_norm_module():
    m = nn.RMSNorm([3, 4])
    assert repr(m) == "RMSNorm((3, 4), eps=None, elementwise_affine=True)"
    assert m.weight.shape == (3, 4) and m.weight.dtype == torch.float32
    np.testing.assert_array_equal(m.weight.detach().numpy(), np.ones((3, 4)))
    m2 = nn.RMSNorm(4, eps=1e-5, elementwise_affine=False)
    assert m2.weight is None and repr(m2) == "RMSNorm((4,), eps=1e-05, elementwise_affine=False)"
    x = torch.randn(2, 3, 4)
    np.testing.assert_allclose(m(x).detach().numpy(), F.rms_norm(x, (3, 4)).numpy(), rtol=1e-6)
    assert m(x).requires_grad


# ---------------------------------------------------------------- renorm, nanmedian, i0 ---
@pytest.mark.parametrize("p, dim", [(2, 0), (1, 1), (3, -1)])
def test_renorm(p, dim):
    x = R.standard_normal((3, 2, 4))
    xm = np.moveaxis(x, dim, 0)
    norms = (np.abs(xm) ** p).reshape(xm.shape[0], -1).sum(1) ** (1 / p)
    maxnorm = float(np.sort(norms)[len(norms) // 2 - 1]) + 1e-3  # some slices above, some not
    out = torch.renorm(_t(x, False), p, dim, maxnorm)
    scale = np.where(norms > maxnorm, maxnorm / (norms + 1e-7), 1.0)
    assert (scale < 1).any() and (scale == 1).any()
    ref = np.moveaxis(xm * scale.reshape((-1,) + (1,) * (x.ndim - 1)), 0, dim)
    np.testing.assert_allclose(out.numpy(), ref, rtol=1e-12)
    assert gradcheck(lambda a: a.renorm(p, dim, maxnorm), (_t(x),))


def test_renorm_errors():
    with pytest.raises(RuntimeError, match="non-positive-norm not supported"):
        torch.renorm(torch.randn(2, 3), -1, 0, 1.0)
    with pytest.raises(RuntimeError, match="expected maxnorm to be >= 0 but got -1"):
        torch.renorm(torch.randn(2, 3), 2, 0, -1)
    with pytest.raises(IndexError, match="Dimension out of range"):
        torch.renorm(torch.randn(2, 3), 2, 5, 1.0)
    with pytest.raises(RuntimeError, match="at least 2 dimensions"):
        torch.renorm(torch.randn(3), 2, 0, 1.0)


def test_nanmedian():
    nan = np.nan
    x = np.array([[1.0, nan, 3.0, 0.0], [nan, nan, nan, nan], [4.0, 2.0, nan, 1.0]])
    v, i = torch.nanmedian(_t(x, False), 1)
    np.testing.assert_array_equal(v.numpy(), [1.0, nan, 2.0])
    assert i.numpy()[0] == 0 and i.numpy()[2] == 1
    assert torch.nanmedian(_t(x, False)).item() == 1.0  # lower median of 1, 3, 0, 4, 2, 1
    assert np.isnan(torch.nanmedian(_t([nan, nan], False)).item())
    assert type(torch.nanmedian(_t(x, False), 0)).__name__ == "nanmedian"
    kv = _t(x, False).nanmedian(1, keepdim=True)
    assert kv.values.shape == (3, 1) and kv.indices.shape == (3, 1)
    # no NaN: the lower median, like median
    y = R.standard_normal((3, 6))
    np.testing.assert_array_equal(
        torch.nanmedian(_t(y, False), 1).values.numpy(), np.sort(y, 1)[:, 2]
    )
    a = _t(y)
    torch.nanmedian(a, 1).values.sum().backward()
    np.testing.assert_array_equal(a.grad.numpy(), (y == np.sort(y, 1)[:, 2:3]).astype(float))


def test_i0_and_i1():
    x = R.uniform(-3, 3, (2, 5))
    np.testing.assert_allclose(torch.i0(_t(x, False)).numpy(), sp.i0(x), rtol=1e-14)
    np.testing.assert_allclose(torch.special.i1(_t(x, False)).numpy(), sp.i1(x), rtol=1e-14)
    a = _t(x)
    a.i0().sum().backward()
    np.testing.assert_allclose(a.grad.numpy(), sp.i1(x), rtol=1e-14)  # d/dx i0 = i1
    assert torch.i0(torch.tensor([0, 1])).dtype == torch.float32
    assert gradgradcheck(torch.i0, (_t(x),))
    z = _t([0.0, 1e-3])
    assert gradgradcheck(torch.special.i1, (z,))  # i1' is 1/2 at 0


# ---------------------------------------------------------------- scatter_reduce ----------
def _np_scatter_reduce(x, dim, idx, src, reduce, include_self):
    out = x.astype(np.float64).copy()
    cnt = np.zeros(x.shape)
    acc = {}
    for pos in np.ndindex(idx.shape):
        tgt = list(pos)
        tgt[dim] = idx[pos]
        acc.setdefault(tuple(tgt), []).append(src[pos])
    for tgt, vals in acc.items():
        vals = ([x[tgt]] if include_self else []) + vals
        cnt[tgt] = len(vals)
        f = {"sum": np.sum, "prod": np.prod, "mean": np.mean, "amax": np.max, "amin": np.min}
        out[tgt] = f[reduce](vals)
    return out


@pytest.mark.parametrize("reduce", ["sum", "prod", "mean", "amax", "amin"])
@pytest.mark.parametrize("include_self", [True, False])
def test_scatter_reduce_values(reduce, include_self):
    x, src = R.standard_normal((2, 4)), R.standard_normal((2, 5))
    idx = np.array([[0, 1, 1, 3], [2, 2, 0, 0]])
    out = _t(x, False).scatter_reduce(
        1, torch.tensor(idx), _t(src, False), reduce, include_self=include_self
    )
    ref = _np_scatter_reduce(x, 1, idx, src, reduce, include_self)
    np.testing.assert_allclose(out.numpy(), ref, rtol=1e-12)
    xi, si = np.arange(8).reshape(2, 4) * 3, np.arange(10).reshape(2, 5) - 4
    oi = torch.scatter_reduce(
        torch.tensor(xi), 1, torch.tensor(idx), torch.tensor(si), reduce, include_self=include_self
    )
    assert oi.dtype == torch.int64
    refi = _np_scatter_reduce(xi, 1, idx, si, reduce, include_self)
    if reduce == "mean":  # integer mean rounds down
        s = _np_scatter_reduce(xi, 1, idx, si, "sum", include_self)
        c = _np_scatter_reduce(np.ones_like(xi), 1, idx, np.ones_like(si), "sum", include_self)
        c = np.where(
            _np_scatter_reduce(np.zeros_like(xi), 1, idx, np.ones_like(si), "sum", False) > 0, c, 1
        )
        refi = np.floor_divide(s, c)
    np.testing.assert_array_equal(oi.numpy(), refi)


@pytest.mark.parametrize("reduce", ["sum", "mean", "amax", "amin"])
@pytest.mark.parametrize("include_self", [True, False])
def test_scatter_reduce_gradients(reduce, include_self):
    x, src = R.standard_normal((2, 4)), R.standard_normal((2, 4))
    idx = torch.tensor(np.array([[0, 1, 1, 3], [2, 2, 0, 0]]))
    f = lambda a, s: a.scatter_reduce(1, idx, s, reduce, include_self=include_self)  # noqa: E731
    assert gradcheck(f, (_t(x), _t(src)))


def test_scatter_reduce_amax_ties_share_the_gradient_evenly():
    x, src = _t([[1.0, 5.0, 2.0, 2.0]]), _t([[5.0, 5.0, 2.0, 0.0]])
    idx = torch.tensor([[1, 1, 2, 0]])
    out = x.scatter_reduce(1, idx, src, "amax")
    np.testing.assert_array_equal(out.detach().numpy(), [[1.0, 5.0, 2.0, 2.0]])
    out.backward(torch.tensor([[1.0, 3.0, 4.0, 1.0]], dtype=torch.float64))
    # position 1: self 5 and two sources of 5 share 3; position 2: self 2 and one source share 4
    np.testing.assert_allclose(x.grad.numpy(), [[1.0, 1.0, 2.0, 1.0]])
    np.testing.assert_allclose(src.grad.numpy(), [[1.0, 1.0, 2.0, 0.0]])
    x2, s2 = _t([[3.0, 0.0]]), _t([[-0.0, 7.0]])
    o2 = x2.scatter_reduce(1, torch.tensor([[0, 0]]), s2, "amin", include_self=False)
    assert np.signbit(o2.detach().numpy()[0, 0]) and o2.detach().numpy()[0, 1] == 0.0
    o2.sum().backward()
    np.testing.assert_array_equal(x2.grad.numpy(), [[0.0, 1.0]])  # scattered-to self: no grad
    # include_self=False: a self equal to the scattered maximum gets no gradient but still
    # counts in the share (PyTorch's rule): two sources of 3 and self 3 -> 6 / 3 each
    x3, s3 = _t([[1.0, 2.0, 3.0, 0.5]]), _t([[0.0, 3.0, 3.0]])
    o3 = x3.scatter_reduce(1, torch.tensor([[0, 2, 2]]), s3, "amax", include_self=False)
    o3.backward(torch.tensor([[1.0, 2.0, 6.0, 4.0]], dtype=torch.float64))
    np.testing.assert_allclose(s3.grad.numpy(), [[1.0, 2.0, 2.0]])
    np.testing.assert_allclose(x3.grad.numpy(), [[0.0, 2.0, 0.0, 4.0]])


def test_scatter_reduce_errors():
    x, idx = torch.zeros(3), torch.tensor([0, 1])
    with pytest.raises(RuntimeError, match="must be either sum, prod, mean, amax or amin, got foo"):
        x.scatter_reduce(0, idx, torch.ones(2), "foo")
    with pytest.raises(RuntimeError, match="index 5 is out of bounds"):
        x.scatter_reduce(0, torch.tensor([5]), torch.ones(1), "sum")
    with pytest.raises(RuntimeError, match="self.dtype to be equal to src.dtype"):
        x.scatter_reduce(0, idx, torch.ones(2, dtype=torch.float64), "sum")
    # reduce='prod' is differentiable now: tests/parity/test_round6_semantics.py


# ---------------------------------------------------------------- gradient rules ----------
def test_copysign_gives_other_a_zero_gradient():
    a, b = _t([1.0, -2.0, 0.0, 3.0]), _t([-1.0, 2.0, -0.0, 0.0])
    out = torch.copysign(a, b)
    np.testing.assert_array_equal(np.signbit(out.detach().numpy()), [True, False, True, False])
    out.sum().backward()
    np.testing.assert_array_equal(b.grad.numpy(), np.zeros(4))
    np.testing.assert_array_equal(a.grad.numpy(), [-1.0, -1.0, 0.0, 1.0])
    s = _t(-2.0)
    torch.copysign(a, s).sum().backward()
    assert s.grad is not None and s.grad.item() == 0.0


def test_binary_cross_entropy_refuses_a_weight_that_requires_grad():
    x, t, w = torch.rand(3, requires_grad=True), torch.rand(3), torch.rand(3, requires_grad=True)
    with pytest.raises(RuntimeError, match="not differentiable with respect to argument 'weight'"):
        F.binary_cross_entropy(x, t, weight=w)
    with torch.no_grad():
        v = F.binary_cross_entropy(x, t, weight=w)
    ref = -(
        w.detach().numpy()
        * (
            t.numpy() * np.log(x.detach().numpy())
            + (1 - t.numpy()) * np.log(1 - x.detach().numpy())
        )
    ).mean()
    np.testing.assert_allclose(v.item(), ref, rtol=1e-5)


def test_declared_forms_in_place_out_and_axis():
    x = torch.tensor(R.standard_normal((3, 4)))
    y = x.clone()
    assert y.renorm_(2, 0, 0.5) is y
    want = np.minimum(np.linalg.norm(x.numpy(), axis=1), 0.5)
    np.testing.assert_allclose(y.norm(dim=1).numpy(), want, rtol=1e-6)
    z = torch.zeros(3, dtype=torch.float64)
    z.scatter_reduce_(0, torch.tensor([0, 0, 2]), torch.tensor([1.0, 2.0, 3.0]).double(), "amax")
    np.testing.assert_array_equal(z.numpy(), [2.0, 0.0, 3.0])
    o = torch.empty(3, 4, dtype=torch.float64)
    torch.i0(x, out=o)
    np.testing.assert_array_equal(o.numpy(), sp.i0(x.numpy()))
    np.testing.assert_array_equal(
        torch.nanmedian(x, axis=1).values.numpy(), torch.nanmedian(x, 1).values.numpy()
    )
    np.testing.assert_array_equal(torch.special.i0(x).numpy(), sp.i0(x.numpy()))


def test_new_composites_trace_without_baking_values():
    """Traced (reference backend: no numba compile) on one input, run on another: nothing
    read from tensor values at capture time, results and gradients equal to eager."""
    idx = torch.tensor(np.array([[0, 2, 2, 1], [3, 3, 0, 1]]))

    def step(x, w):
        x.grad = w.grad = None
        y = F.fold(F.unfold(x, 2, padding=1), (5, 6), 2, padding=1)
        y = F.conv_transpose2d(y, w, stride=2, padding=1, output_padding=1)
        a = F.adaptive_max_pool2d(y, (3, 4)) + F.lp_pool2d(y.abs() + 1, 2.0, 3, 3)[..., :3, :4]
        a = F.local_response_norm(a, 3) + F.rms_norm(a, [4]) + torch.i0(a)
        r = a.reshape(6, 4).renorm(2, 0, 1.0)
        s = r[:2, :4].scatter_reduce(1, idx, r[2:4, :4], "amax") + torch.nanmedian(r, 1)[0][:4]
        loss = s.sum() + r.sum()
        loss.backward()
        return loss, x.grad, w.grad

    def args(seed):
        g = np.random.default_rng(seed)
        return _t(g.standard_normal((2, 3, 5, 6))), _t(g.standard_normal((3, 1, 3, 3)))

    ts = torch.trace(step, backend="reference")
    for seed in (0, 1):
        ts(*args(seed))
    got = ts(*args(2))
    want = step(*args(2))
    assert ts.stats["compiled_calls"] == 1
    for a, b in zip(got, want):
        np.testing.assert_allclose(a.detach().numpy(), b.detach().numpy(), rtol=1e-10)
