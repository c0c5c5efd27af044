"""Round-3 torch.nn surface: grid_sample/affine_grid (spatial transformer), max_unpool,
pdist, gumbel_softmax, channel_shuffle, dropout1d, Softmax2d, LazyLinear, Upsampling aliases,
AdaptiveAvgPool1d, init.dirac_ and the nn.utils additions, against NumPy/SciPy references
written here, finite-difference gradients and PyTorch's error messages."""

import math
import warnings

import numpy as np
import pytest
from scipy.spatial.distance import pdist as sp_pdist

import jitgrad as jg
from jitgrad import nn
from jitgrad.autograd import gradcheck
from jitgrad.nn import functional as F

RNG = np.random.default_rng(0)


def _t(x, grad=False):
    return jg.tensor(np.asarray(x, np.float64), requires_grad=grad)


def _np(t):
    return t.detach().numpy()


# ---- grid_sample / affine_grid -------------------------------------------------------------
def _ref_index(c, n, pad, ac):
    x = (c + 1) / 2 * (n - 1) if ac else ((c + 1) * n - 1) / 2
    if pad == "border":
        x = min(max(x, 0), n - 1)
    if pad == "reflection":  # fold into [lo, hi] by repeated mirroring
        lo, hi = (0.0, n - 1.0) if ac else (-0.5, n - 0.5)
        while x < lo or x > hi:
            x = 2 * lo - x if x < lo else 2 * hi - x
        x = min(max(x, 0), n - 1)
    return x


def _ref_grid_sample(img, grid, mode, pad, ac):
    n, c, h, w = img.shape
    out = np.zeros((n, c) + grid.shape[1:3])
    for b in range(n):
        for i in range(grid.shape[1]):
            for j in range(grid.shape[2]):
                x = _ref_index(grid[b, i, j, 0], w, pad, ac)
                y = _ref_index(grid[b, i, j, 1], h, pad, ac)

                def px(yy, xx):
                    ok = 0 <= yy < h and 0 <= xx < w
                    return img[b, :, yy, xx] if ok else np.zeros(c)

                if mode == "nearest":
                    out[b, :, i, j] = px(int(np.rint(y)), int(np.rint(x)))
                else:
                    x0, y0 = math.floor(x), math.floor(y)
                    fx, fy = x - x0, y - y0
                    out[b, :, i, j] = (
                        px(y0, x0) * (1 - fx) * (1 - fy)
                        + px(y0, x0 + 1) * fx * (1 - fy)
                        + px(y0 + 1, x0) * (1 - fx) * fy
                        + px(y0 + 1, x0 + 1) * fx * fy
                    )
    return out


def test_affine_grid_is_the_affine_map_of_the_pixel_centres():
    theta = RNG.standard_normal((2, 2, 3))
    for ac in (True, False):
        g = _np(F.affine_grid(_t(theta), (2, 1, 3, 4), align_corners=ac))
        xs = np.linspace(-1, 1, 4) * (1 if ac else 3 / 4)
        ys = np.linspace(-1, 1, 3) * (1 if ac else 2 / 3)
        base = np.stack(np.broadcast_arrays(xs[None, :], ys[:, None], 1.0), -1)
        np.testing.assert_allclose(g, np.einsum("hwk,nck->nhwc", base, theta), rtol=1e-12)
    with pytest.raises(ValueError, match="Expected a batch of 2D affine matrices of shape Nx2x3"):
        F.affine_grid(_t(np.zeros((2, 3, 3))), (2, 1, 3, 4), align_corners=False)
    with pytest.warns(UserWarning, match="align_corners=False since 1.3.0"):
        F.affine_grid(_t(theta), (2, 1, 3, 4))


@pytest.mark.parametrize("mode", ["bilinear", "nearest"])
def test_grid_sample_matches_a_loop_reference(mode):
    img = RNG.standard_normal((2, 2, 4, 5))
    grid = RNG.uniform(-1.4, 1.4, (2, 3, 4, 2))
    for pad in ("zeros", "border", "reflection"):
        for ac in (True, False):
            got = _np(F.grid_sample(_t(img), _t(grid), mode, pad, ac))
            want = _ref_grid_sample(img, grid, mode, pad, ac)
            np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12, err_msg=f"{pad} {ac}")
    # the identity transform reproduces the image
    eye = _t(np.tile(np.eye(2, 3), (2, 1, 1)))
    g = F.affine_grid(eye, (2, 2, 4, 5), align_corners=False)
    np.testing.assert_allclose(_np(F.grid_sample(_t(img), g, mode, align_corners=False)), img)


def test_grid_sample_gradients_and_errors():
    img = _t(RNG.standard_normal((1, 2, 3, 4)), True)
    grid = _t(RNG.uniform(-0.9, 0.9, (1, 2, 3, 2)), True)
    for pad in ("zeros", "border", "reflection"):
        gradcheck(
            lambda x, g: F.grid_sample(x, g, padding_mode=pad, align_corners=False), (img, grid)
        )  # noqa: E501
    with pytest.raises(ValueError, match="expected padding_mode to be 'zeros', 'border', or"):
        F.grid_sample(img, grid, padding_mode="wrap", align_corners=False)
    with pytest.raises(ValueError, match="expected mode to be 'bilinear', 'nearest' or"):
        F.grid_sample(img, grid, mode="area", align_corners=False)
    with pytest.raises(RuntimeError, match="expected grid and input to have same batch size"):
        F.grid_sample(img, _t(np.zeros((2, 2, 3, 2))), align_corners=False)


def test_spatial_transformer_step_traces():
    jg.manual_seed(0)
    loc = nn.Linear(20, 6)
    opt = jg.optim.SGD(loc.parameters(), lr=0.05)

    def step(x, y):
        opt.zero_grad()
        theta = loc(x.reshape(x.shape[0], -1)).reshape(-1, 2, 3)
        grid = F.affine_grid(theta, tuple(x.shape), align_corners=False)
        out = F.grid_sample(x, grid, align_corners=False)
        loss = F.mse_loss(out, y)
        loss.backward()
        opt.step()
        return loss

    x = jg.tensor(RNG.standard_normal((2, 1, 4, 5)).astype(np.float32))
    y = jg.tensor(RNG.standard_normal((2, 1, 4, 5)).astype(np.float32))
    state = {k: v.detach().clone() for k, v in loc.state_dict().items()}
    eager = [step(x, y).item() for _ in range(3)]
    loc.load_state_dict(state)
    ts = jg.trace(step, backend="reference")
    traced = [ts(x, y).item() for _ in range(3)]
    assert ts.stats["compiled_calls"] >= 1
    np.testing.assert_allclose(traced, eager, rtol=1e-5)


# ---- pooling with indices, unpooling ------------------------------------------------------
def test_max_unpool_puts_the_maxima_back():
    x = RNG.standard_normal((2, 3, 4, 6))
    out, idx = F.max_pool2d_with_indices(_t(x), 2)
    o2, i2 = F.max_pool2d(_t(x), 2, return_indices=True)
    np.testing.assert_array_equal(_np(out), _np(o2))
    np.testing.assert_array_equal(idx.numpy(), i2.numpy())
    up = _np(F.max_unpool2d(out, idx, 2))
    blocks = x.reshape(2, 3, 2, 2, 3, 2).transpose(0, 1, 2, 4, 3, 5).reshape(2, 3, 2, 3, 4)
    keep = blocks == blocks.max(-1, keepdims=True)
    want = (blocks * keep).reshape(2, 3, 2, 3, 2, 2).transpose(0, 1, 2, 4, 3, 5).reshape(x.shape)
    np.testing.assert_array_equal(up, want)
    assert nn.MaxUnpool2d(2)(out, idx, output_size=(5, 7)).shape == (2, 3, 5, 7)
    x1 = RNG.standard_normal((2, 6))
    o, i = F.max_pool1d_with_indices(_t(x1), 3)
    u = _np(nn.MaxUnpool1d(3)(o, i))
    np.testing.assert_array_equal(u.max(-1), x1.max(-1))
    assert (u != 0).sum() == 4
    v = _t(RNG.standard_normal((2, 3, 2, 3)), True)
    gradcheck(lambda t: F.max_unpool2d(t, idx, 2), (v,))
    with pytest.raises(ValueError, match=r'invalid output_size "\(9, 9\)" \(dim 0 must be'):
        F.max_unpool2d(out, idx, 2, output_size=(9, 9))
    with pytest.raises(RuntimeError, match="Expected shape of indices to be same as that of"):
        F.max_unpool2d(out, idx[:, :, :1], 2)
    o, i = F.adaptive_max_pool2d_with_indices(_t(x), (2, 3))
    np.testing.assert_array_equal(_np(o), _np(F.adaptive_max_pool2d(_t(x), (2, 3))))
    o, i = F.adaptive_max_pool1d_with_indices(_t(x1), 2)
    np.testing.assert_array_equal(_np(o), x1.reshape(2, 2, 3).max(-1))
    np.testing.assert_array_equal(i.numpy(), x1.reshape(2, 2, 3).argmax(-1) + [0, 3])


def test_pdist_matches_scipy():
    x = RNG.standard_normal((5, 3))
    for p, metric in ((2.0, "euclidean"), (1.0, "cityblock"), (math.inf, "chebyshev")):
        np.testing.assert_allclose(_np(F.pdist(_t(x), p)), sp_pdist(x, metric), rtol=1e-12)
    np.testing.assert_allclose(
        _np(F.pdist(_t(x), 3.0)), sp_pdist(x, "minkowski", p=3.0), rtol=1e-12
    )
    gradcheck(lambda t: F.pdist(t), (_t(x, True),))
    with pytest.raises(RuntimeError, match="pdist only supports 2D tensors, got: 3D"):
        F.pdist(_t(np.ones((2, 2, 2))))


def test_gumbel_softmax_soft_hard_and_the_gumbel_max_law():
    logits = _t([[1.0, 0.0, -1.0]], True)
    jg.manual_seed(0)
    soft = F.gumbel_softmax(logits.expand(4000, 3), tau=0.5)
    np.testing.assert_allclose(_np(soft).sum(-1), 1.0, rtol=1e-12)
    freq = np.bincount(_np(soft).argmax(-1), minlength=3) / 4000
    p = np.exp([1.0, 0.0, -1.0]) / np.exp([1.0, 0.0, -1.0]).sum()
    np.testing.assert_allclose(freq, p, atol=0.03)
    jg.manual_seed(1)
    hard = F.gumbel_softmax(logits, tau=0.5, hard=True)
    jg.manual_seed(1)
    soft = F.gumbel_softmax(logits, tau=0.5)
    assert sorted(_np(hard)[0].tolist()) == [0.0, 0.0, 1.0]
    assert _np(hard)[0].argmax() == _np(soft)[0].argmax()
    w = _t([[0.3, -1.0, 2.0]])
    (hard * w).sum().backward()
    g_hard = logits.grad.numpy().copy()
    logits.grad = None
    (soft * w).sum().backward()
    np.testing.assert_allclose(g_hard, logits.grad.numpy(), rtol=1e-12)


# ---- small layers ---------------------------------------------------------------------
def test_channel_shuffle_dropout1d_softmax2d():
    x = RNG.standard_normal((2, 6, 3))
    want = x.reshape(2, 3, 2, 3).transpose(0, 2, 1, 3).reshape(2, 6, 3)
    np.testing.assert_array_equal(_np(nn.ChannelShuffle(3)(_t(x))), want)
    with pytest.raises(RuntimeError, match="Number of channels must be divisible by groups"):
        F.channel_shuffle(_t(x), 4)
    jg.manual_seed(0)
    d = nn.Dropout1d(0.5)
    y = _np(d(_t(np.ones((40, 8, 5)))))
    assert set(np.unique(y).tolist()) <= {0.0, 2.0}
    assert (y == y[..., :1]).all() and 0.35 < (y[..., 0] == 0).mean() < 0.65
    d.eval()
    assert _np(d(_t(x))) is not None and np.array_equal(_np(d(_t(x))), x)
    with pytest.raises(RuntimeError, match="dropout1d: Expected 2D or 3D input, but received"):
        F.dropout1d(_t(np.ones((1, 2, 3, 4))))
    s = _np(nn.Softmax2d()(_t(RNG.standard_normal((2, 3, 2, 2)))))
    np.testing.assert_allclose(s.sum(1), 1.0, rtol=1e-12)
    with pytest.raises(ValueError, match="Softmax2d: expected input to be 3D or 4D, got 2D"):
        nn.Softmax2d()(_t(np.ones((2, 2))))


def test_upsampling_aliases_and_adaptive_avg_pool1d():
    x = _t(RNG.standard_normal((1, 2, 3, 4)))
    np.testing.assert_array_equal(
        _np(nn.UpsamplingNearest2d(scale_factor=2)(x)),
        _np(F.interpolate(x, scale_factor=2, mode="nearest")),
    )
    up = _np(nn.UpsamplingBilinear2d(size=(5, 7))(x))
    np.testing.assert_allclose(up[..., 0, 0], _np(x)[..., 0, 0])  # corners aligned
    np.testing.assert_allclose(up[..., -1, -1], _np(x)[..., -1, -1])
    np.testing.assert_allclose(up[..., 2, 3], _np(x)[..., 1, 1:3].mean(-1), rtol=1e-12)
    v = RNG.standard_normal((2, 3, 7))
    got = _np(nn.AdaptiveAvgPool1d(3)(_t(v)))
    want = np.stack([v[..., 0:3].mean(-1), v[..., 2:5].mean(-1), v[..., 4:7].mean(-1)], -1)
    np.testing.assert_allclose(got, want, rtol=1e-12)


def test_lazy_linear_infers_in_features():
    jg.manual_seed(0)
    m = nn.LazyLinear(3)
    assert repr(m) == "LazyLinear(in_features=0, out_features=3, bias=True)"
    assert m.has_uninitialized_params()
    w = m.weight
    y = m(_t(np.ones((2, 5))).float())
    assert type(m) is nn.Linear and m.in_features == 5 and y.shape == (2, 3)
    assert m.weight is w and type(w) is nn.Parameter and w.shape == (3, 5)
    assert np.abs(w.detach().numpy()).max() <= 1 / math.sqrt(5)
    opt = jg.optim.SGD(m.parameters(), lr=0.1)
    m(_t(np.ones((2, 5))).float()).sum().backward()
    opt.step()
    assert [p.shape for p in m.parameters()] == [(3, 5), (3,)]


def _conv_ref(x, w, groups=1):
    """A NumPy 'same' cross-correlation (stride 1, padding k // 2) with groups."""
    k = w.shape[-1]
    xp = np.pad(x, ((0, 0), (0, 0), (k // 2,) * 2, (k // 2,) * 2))
    win = np.lib.stride_tricks.sliding_window_view(xp, (k, k), (2, 3))  # N C H W k k
    cin, cout = w.shape[1], w.shape[0] // groups
    outs = [
        np.einsum(
            "nchwij,ocij->nohw", win[:, g * cin : (g + 1) * cin], w[g * cout : (g + 1) * cout]
        )
        for g in range(groups)
    ]
    return np.concatenate(outs, 1)


def test_dirac_init_is_the_identity_convolution():
    x = RNG.standard_normal((1, 4, 5, 5))
    w = nn.init.dirac_(jg.empty(4, 4, 3, 3, dtype=jg.float64))
    np.testing.assert_allclose(_conv_ref(x, _np(w)), x)
    w = nn.init.dirac_(jg.empty(6, 2, 3, 3, dtype=jg.float64), groups=2)
    out = _conv_ref(x, _np(w), groups=2)
    np.testing.assert_allclose(out[:, [0, 1, 3, 4]], x)
    assert not out[:, [2, 5]].any()
    w1 = _np(nn.init.dirac_(jg.empty(2, 3, 5)))
    assert w1.sum() == 2 and w1[0, 0, 2] == 1 and w1[1, 1, 2] == 1
    with pytest.raises(ValueError, match="Only tensors with 3, 4, or 5 dimensions"):
        nn.init.dirac_(jg.empty(2, 2))
    with pytest.raises(ValueError, match="dim 0 must be divisible by groups"):
        nn.init.dirac_(jg.empty(3, 2, 3), groups=2)


def test_no_warning_with_align_corners_given():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        F.grid_sample(_t(np.ones((1, 1, 2, 2))), _t(np.zeros((1, 1, 1, 2))), align_corners=True)


# ---- nn.utils ---------------------------------------------------------------------------
def _lin(seed=0):
    jg.manual_seed(seed)
    return nn.Linear(3, 4).double()


def test_weight_norm_hook_values_gradients_and_removal():
    x = _t(RNG.standard_normal((5, 3)))
    for dim, axes in ((0, 1), (1, 0), (None, None)):
        m = _lin()
        w0 = _np(m.weight).copy()
        nn.utils.weight_norm(m, dim=dim)
        assert [n for n, _ in m.named_parameters()] == ["bias", "weight_g", "weight_v"]
        norm = np.sqrt((w0**2).sum(axes, keepdims=axes is not None))
        np.testing.assert_allclose(_np(m.weight_g), norm, rtol=1e-12)
        np.testing.assert_allclose(_np(m(x)), _np(x) @ w0.T + _np(m.bias), rtol=1e-12)
        g = RNG.uniform(0.5, 2.0, np.shape(norm))
        with jg.no_grad():
            m.weight_g.copy_(_t(g))
        want_w = g * w0 / norm
        np.testing.assert_allclose(_np(m(x)), _np(x) @ want_w.T + _np(m.bias), rtol=1e-12)
        gradcheck(
            lambda gg, vv: F.linear(
                x, vv * (gg / vv.norm() if dim is None else gg / vv.norm(dim=axes, keepdim=True))
            ),  # noqa: E501
            (_t(g, True), _t(w0, True)),
        )
        (m(x) ** 2).sum().backward()
        assert m.weight_g.grad is not None and m.weight_v.grad.shape == (4, 3)
        with pytest.raises(RuntimeError, match="Cannot register two weight_norm hooks"):
            nn.utils.weight_norm(m, dim=dim)
        nn.utils.remove_weight_norm(m)
        assert isinstance(m.weight, nn.Parameter)
        np.testing.assert_allclose(_np(m.weight), want_w, rtol=1e-12)
        with pytest.raises(ValueError, match="weight_norm of 'weight' not found in"):
            nn.utils.remove_weight_norm(m)


def test_weight_norm_gradient_matches_finite_differences():
    x = _t(RNG.standard_normal((5, 3)))
    m = nn.utils.weight_norm(_lin())
    (m(x) ** 2).sum().backward()
    for p in (m.weight_g, m.weight_v):
        flat = p.detach().numpy().ravel().copy()
        fd = np.zeros_like(flat)
        for i in range(flat.size):
            vals = []
            for h in (1e-6, -1e-6):
                with jg.no_grad():
                    p.data.numpy().ravel()[i] = flat[i] + h
                vals.append((m(x) ** 2).sum().item())
            with jg.no_grad():
                p.data.numpy().ravel()[i] = flat[i]
            fd[i] = (vals[0] - vals[1]) / 2e-6
        np.testing.assert_allclose(p.grad.numpy().ravel(), fd, rtol=1e-6, atol=1e-8)


def test_spectral_norm_power_iteration_reaches_the_top_singular_value():
    m = nn.utils.spectral_norm(_lin(), n_power_iterations=30)
    assert [n for n, _ in m.named_parameters()] == ["bias", "weight_orig"]
    assert [n for n, _ in m.named_buffers()] == ["weight_u", "weight_v"]
    w0 = _np(m.weight_orig)
    x = _t(RNG.standard_normal((2, 3)))
    m(x)
    sigma = np.linalg.svd(w0, compute_uv=False)[0]
    np.testing.assert_allclose(_np(m.weight), w0 / sigma, rtol=1e-10)
    np.testing.assert_allclose(np.linalg.svd(_np(m.weight), compute_uv=False)[0], 1.0, rtol=1e-10)
    (m(x) ** 2).sum().backward()
    assert m.weight_orig.grad.shape == (4, 3)
    m.eval()
    u = _np(m.weight_u).copy()
    m(x)
    np.testing.assert_array_equal(_np(m.weight_u), u)  # eval: no power iteration
    nn.utils.remove_spectral_norm(m)
    assert [n for n, _ in m.named_parameters()] == ["bias", "weight"] and not list(m.buffers())
    np.testing.assert_allclose(_np(m.weight), w0 / sigma, rtol=1e-10)
    with pytest.raises(ValueError, match="Expected n_power_iterations to be positive"):
        nn.utils.spectral_norm(_lin(), n_power_iterations=0)
    # the parametrization form: 15 power steps at registration, then one per training call
    m = nn.utils.parametrizations.spectral_norm(_lin(), n_power_iterations=20)
    assert [n for n, _ in m.named_buffers()] == [
        "parametrizations.weight.0._u",
        "parametrizations.weight.0._v",
    ]
    w0 = _np(m.parametrizations.weight.original)
    m(x)
    sigma = np.linalg.svd(w0, compute_uv=False)[0]
    np.testing.assert_allclose(_np(m.weight), w0 / sigma, rtol=1e-10)
    (m(x) ** 2).sum().backward()
    assert m.parametrizations.weight.original.grad.shape == (4, 3)
    with pytest.raises(IndexError, match="Dimension out of range"):
        nn.utils.parametrizations.spectral_norm(_lin(), dim=2)


class _Symmetric(nn.Module):
    def forward(self, x):
        return x.triu() + x.triu(1).mT

    def right_inverse(self, a):
        return a.triu()


def test_register_parametrization_property_right_inverse_and_removal():
    P = nn.utils.parametrize
    jg.manual_seed(0)
    m = nn.Linear(3, 3).double()
    w0 = _np(m.weight).copy()
    P.register_parametrization(m, "weight", _Symmetric())
    assert type(m).__name__ == "ParametrizedLinear" and isinstance(m, nn.Linear)
    assert (
        P.is_parametrized(m) and P.is_parametrized(m, "weight") and not P.is_parametrized(m, "bias")
    )
    assert P.type_before_parametrizations(m) is nn.Linear
    names = [n for n, _ in m.named_parameters()]
    assert names == ["bias", "parametrizations.weight.original"]
    w = _np(m.weight)
    np.testing.assert_allclose(w, np.triu(w0) + np.triu(w0, 1).T)
    x = _t(RNG.standard_normal((2, 3)))
    (m(x) ** 2).sum().backward()
    orig = m.parametrizations.weight.original
    g = orig.grad.numpy()
    assert np.allclose(np.tril(g, -1), 0)  # the lower triangle of the original is unused
    a = RNG.standard_normal((3, 3))
    m.weight = _t(a + a.T)  # assignment goes through right_inverse
    np.testing.assert_allclose(_np(m.weight), a + a.T)
    with P.cached():
        assert m.weight is m.weight
    assert m.weight is not m.weight
    P.remove_parametrizations(m, "weight")
    assert type(m) is nn.Linear and isinstance(m.weight, nn.Parameter) and m.weight is orig
    np.testing.assert_allclose(_np(m.weight), a + a.T)
    with pytest.raises(ValueError, match="does not have a parameter, a buffer, or a parametrized"):
        P.register_parametrization(m, "nothing", _Symmetric())

    class Cut(nn.Module):
        def forward(self, x):
            return x[:2]

    with pytest.raises(ValueError, match="may not change the shape or dtype"):
        P.register_parametrization(m, "weight", Cut())


def test_parametrizations_weight_norm_and_traced_step():
    x = _t(RNG.standard_normal((5, 3)))
    m = nn.utils.parametrizations.weight_norm(_lin())
    w0 = _np(m.weight).copy()
    names = [n for n, _ in m.named_parameters()]
    assert names == [
        "bias",
        "parametrizations.weight.original0",
        "parametrizations.weight.original1",
    ]
    g0 = m.parametrizations.weight.original0
    np.testing.assert_allclose(_np(g0), np.sqrt((w0**2).sum(1, keepdims=True)), rtol=1e-12)
    np.testing.assert_allclose(_np(m(x)), _np(x) @ w0.T + _np(m.bias), rtol=1e-12)

    def run(traced):
        jg.manual_seed(1)
        mm = nn.Sequential(
            nn.utils.weight_norm(nn.Linear(3, 4).double()),
            nn.utils.spectral_norm(nn.Linear(4, 2).double()),
        )
        opt = jg.optim.SGD(mm.parameters(), lr=0.1)

        def step(x):
            opt.zero_grad()
            loss = (mm(x) ** 2).mean()
            loss.backward()
            opt.step()
            return loss

        f = jg.trace(step, backend="reference") if traced else step
        out = [f(x).item() for _ in range(3)]
        return out, f

    eager, _ = run(False)
    traced, f = run(True)
    assert f.stats["compiled_calls"] >= 1
    np.testing.assert_allclose(traced, eager, rtol=1e-10)


def test_fuse_bn_eval_and_total_norm():
    jg.manual_seed(0)
    conv, bn = nn.Conv2d(2, 4, 3), nn.BatchNorm2d(4)
    with jg.no_grad():
        bn.running_mean.copy_(jg.tensor(RNG.standard_normal(4).astype(np.float32)))
        bn.running_var.copy_(jg.tensor(RNG.uniform(0.5, 2, 4).astype(np.float32)))
        bn.weight.copy_(jg.tensor(RNG.standard_normal(4).astype(np.float32)))
    with pytest.raises(AssertionError, match="Fusion only for eval"):
        nn.utils.fuse_conv_bn_eval(conv, bn)
    conv.eval(), bn.eval()
    fused = nn.utils.fuse_conv_bn_eval(conv, bn)
    scale = _np(bn.weight) / np.sqrt(_np(bn.running_var) + bn.eps)
    np.testing.assert_allclose(
        _np(fused.weight), _np(conv.weight) * scale[:, None, None, None], rtol=1e-6
    )
    want_b = (_np(conv.bias) - _np(bn.running_mean)) * scale + _np(bn.bias)
    np.testing.assert_allclose(_np(fused.bias), want_b, rtol=1e-6, atol=1e-7)
    assert fused is not conv and isinstance(fused.weight, nn.Parameter)
    lin, bn1 = nn.Linear(3, 4).eval(), nn.BatchNorm1d(4)
    with jg.no_grad():
        bn1.running_mean.copy_(jg.tensor(RNG.standard_normal(4).astype(np.float32)))
        bn1.running_var.copy_(jg.tensor(RNG.uniform(0.5, 2, 4).astype(np.float32)))
    bn1.eval()
    x = jg.tensor(RNG.standard_normal((5, 3)).astype(np.float32))
    np.testing.assert_allclose(
        _np(nn.utils.fuse_linear_bn_eval(lin, bn1)(x)), _np(bn1(lin(x))), rtol=1e-5, atol=1e-6
    )
    gs = [RNG.standard_normal(3), RNG.standard_normal((2, 2))]
    flat = np.concatenate([g.ravel() for g in gs])
    for p in (2.0, 1.0, 3.0, math.inf):
        got = nn.utils.get_total_norm([_t(g) for g in gs], p).item()
        np.testing.assert_allclose(got, np.linalg.norm(flat, p), rtol=1e-12)
    ps = [_t(g, True) for g in gs]
    for p, g in zip(ps, gs):
        p.grad = _t(g)
    total = nn.utils.get_total_norm([p.grad for p in ps])
    nn.utils.clip_grads_with_norm_(ps, 1.0, total)
    np.testing.assert_allclose(
        np.concatenate([p.grad.numpy().ravel() for p in ps]), flat / (np.linalg.norm(flat) + 1e-6)
    )
    assert nn.utils.get_total_norm([]).item() == 0.0
