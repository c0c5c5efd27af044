"""Round-6 parity fixes (tutorial and model-codebase programs): scatter_reduce prod gradient,
SDPA all-masked rows and enable_gqa, diagonal() as a writable view, householder_product,
parametrizations.orthogonal, nn.grad, custom Function gradient counts."""

import numpy as np
import pytest

import jitgrad as jg

RS = np.random.RandomState(0)


def _leaf(a):
    return jg.tensor(np.asarray(a, np.float64), requires_grad=True)


@pytest.mark.parametrize("include_self", [True, False])
def test_scatter_reduce_prod_gradient_matches_finite_differences(include_self):
    base0 = np.array([[1.0, 2.0], [0.0, 3.0], [2.0, -1.5]])
    src0 = np.array([[0.0, 2.0], [0.5, 1.5], [3.0, 0.0], [2.0, 0.7]])
    idx = jg.tensor([[0, 0], [1, 0], [1, 2], [0, 1]])
    wts = np.arange(1.0, 7.0).reshape(3, 2)

    def f(b, s):
        o = b.scatter_reduce(0, idx, s, reduce="prod", include_self=include_self)
        return (o * jg.tensor(wts)).sum()

    b, s = _leaf(base0), _leaf(src0)
    f(b, s).backward()
    for arr, got in ((base0, b.grad.numpy()), (src0, s.grad.numpy())):
        fd = np.zeros_like(arr)
        for i in np.ndindex(arr.shape):
            hi, lo = arr.copy(), arr.copy()
            hi[i] += 1e-6
            lo[i] -= 1e-6
            if arr is base0:
                fd[i] = (
                    f(jg.tensor(hi), jg.tensor(src0)) - f(jg.tensor(lo), jg.tensor(src0))
                ).item()
            else:
                fd[i] = (
                    f(jg.tensor(base0), jg.tensor(hi)) - f(jg.tensor(base0), jg.tensor(lo))
                ).item()
        np.testing.assert_allclose(got, fd / 2e-6, atol=1e-6)


def _np_attention(q, k, v, keep):
    w = q @ np.swapaxes(k, -1, -2) / np.sqrt(q.shape[-1])
    w = np.where(keep, w, -np.inf)
    m = np.max(w, -1, keepdims=True)
    e = np.where(keep, np.exp(w - np.where(np.isfinite(m), m, 0)), 0.0)
    den = e.sum(-1, keepdims=True)
    return (np.divide(e, den, out=np.zeros_like(e), where=den > 0)) @ v


def test_sdpa_all_masked_row_gives_zeros_and_finite_gradients():
    F = jg.nn.functional
    q, k, v = RS.randn(1, 2, 3, 2), RS.randn(1, 2, 3, 2), RS.randn(1, 2, 3, 2)
    keep = np.array([[True, False, False], [False, False, False], [True, True, True]])
    Q, K, Vt = _leaf(q), _leaf(k), _leaf(v)
    out = F.scaled_dot_product_attention(Q, K, Vt, attn_mask=jg.tensor(keep))
    np.testing.assert_allclose(out.detach().numpy(), _np_attention(q, k, v, keep), atol=1e-12)
    assert np.all(out.detach().numpy()[..., 1, :] == 0)
    out.sum().backward()
    assert all(np.isfinite(t.grad.numpy()).all() for t in (Q, K, Vt))
    assert np.all(Q.grad.numpy()[..., 1, :] == 0)  # the masked-out query row has no effect
    fmask = np.where(keep, 0.0, -np.inf)
    out2 = F.scaled_dot_product_attention(
        jg.tensor(q), jg.tensor(k), jg.tensor(v), attn_mask=jg.tensor(fmask)
    )
    np.testing.assert_allclose(out2.numpy(), _np_attention(q, k, v, keep), atol=1e-12)


def test_sdpa_enable_gqa_repeats_key_value_heads():
    F = jg.nn.functional
    q, k, v = RS.randn(1, 4, 3, 2), RS.randn(1, 2, 3, 2), RS.randn(1, 2, 3, 2)
    out = F.scaled_dot_product_attention(jg.tensor(q), jg.tensor(k), jg.tensor(v), enable_gqa=True)
    kk, vv = np.repeat(k, 2, axis=1), np.repeat(v, 2, axis=1)
    np.testing.assert_allclose(
        out.numpy(), _np_attention(q, kk, vv, np.ones((3, 3), bool)), atol=1e-12
    )
    with pytest.raises(RuntimeError, match="enable_gqa"):
        F.scaled_dot_product_attention(
            jg.tensor(q[:, :3]), jg.tensor(k), jg.tensor(v), enable_gqa=True
        )


def test_diagonal_is_a_view_writes_reach_the_base_and_its_gradient():
    z = jg.zeros(2, 3, 3)
    z.diagonal(dim1=-2, dim2=-1).fill_(-1.0)
    np.testing.assert_array_equal(z.numpy(), -np.broadcast_to(np.eye(3), (2, 3, 3)))
    e = jg.zeros(3, 4)
    e.diagonal(1).add_(2.0)
    np.testing.assert_array_equal(e.numpy(), 2 * np.eye(3, 4, 1))
    w = jg.ones(3, 3, requires_grad=True)
    c = w * 2
    c.diagonal().mul_(3)
    (c * jg.tensor(np.arange(9.0).reshape(3, 3))).sum().backward()
    np.testing.assert_array_equal(
        w.grad.numpy(), np.arange(9.0).reshape(3, 3) * (2 + 4 * np.eye(3))
    )
    x = _leaf(RS.randn(3, 4))
    x.diagonal(-1).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), np.eye(3, 4, -1))


def test_householder_product_matches_lapack_and_finite_differences():
    a = RS.randn(4, 3)
    h, tau = np.linalg.qr(a, mode="raw")
    q = jg.linalg.householder_product(jg.tensor(h.T.copy()), jg.tensor(tau))
    np.testing.assert_allclose(q.numpy(), np.linalg.qr(a)[0], atol=1e-12)
    assert jg.autograd.gradcheck(
        jg.linalg.householder_product, (_leaf(RS.randn(2, 4, 3)), _leaf(RS.rand(2, 3)))
    )


@pytest.mark.parametrize(
    "omap,shape", [(None, (3, 3)), ("cayley", (3, 3)), (None, (4, 2)), ("householder", (3, 3))]
)
def test_orthogonal_parametrization_keeps_weight_orthogonal(omap, shape):
    lin = jg.nn.Linear(shape[1], shape[0], bias=False).double()
    w0 = RS.randn(*shape)
    with jg.no_grad():
        lin.weight.copy_(jg.tensor(w0))
    jg.nn.utils.parametrizations.orthogonal(lin, orthogonal_map=omap)
    if shape[0] == shape[1]:  # the initial weight is w0's Q factor with diag(R) >= 0
        qn, rn = np.linalg.qr(w0)
        np.testing.assert_allclose(
            lin.weight.detach().numpy(), qn * np.sign(np.diag(rn)), atol=1e-10
        )
    opt = jg.optim.SGD(lin.parameters(), lr=0.3)
    x = jg.tensor(RS.randn(3, shape[1]))
    for _ in range(2):
        opt.zero_grad()
        lin(x).sin().sum().backward()
        opt.step()
    W = lin.weight.detach().numpy()
    np.testing.assert_allclose(W.T @ W, np.eye(shape[1]), atol=1e-10)
    assert sorted(lin.state_dict()) == [
        "parametrizations.weight.0.base",
        "parametrizations.weight.original",
    ]


def test_nn_grad_conv2d_input_and_weight_equal_autograd():
    x, w = _leaf(RS.randn(2, 4, 7, 6)), _leaf(RS.randn(6, 2, 3, 2))
    kw = dict(stride=2, padding=1, groups=2)
    out = jg.nn.functional.conv2d(x, w, **kw)
    go = jg.tensor(RS.randn(*out.shape))
    out.backward(go)
    gi = jg.nn.grad.conv2d_input(x.shape, w, go, **kw)
    gw = jg.nn.grad.conv2d_weight(x, w.shape, go, **kw)
    np.testing.assert_allclose(gi.detach().numpy(), x.grad.numpy(), atol=1e-12)
    np.testing.assert_allclose(gw.detach().numpy(), w.grad.numpy(), atol=1e-12)
    with pytest.raises(ValueError, match="conv2d_input: input_size"):
        jg.nn.grad.conv2d_input((2, 4, 12, 6), w, go, **kw)


def test_function_backward_trailing_nones_and_too_few_gradients():
    class Mul(jg.autograd.Function):
        @staticmethod
        def forward(ctx, x, c):
            ctx.c = c
            return x * c

        @staticmethod
        def backward(ctx, g):
            return g * ctx.c, None, None, None

    x = _leaf([1.0, 2.0])
    Mul.apply(x, 3.0).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [3.0, 3.0])

    class Few(Mul):
        @staticmethod
        def backward(ctx, g):
            return g

    with pytest.raises(RuntimeError, match=r"incorrect number of gradients \(expected 2, got 1\)"):
        Few.apply(_leaf([1.0]), 2.0).sum().backward()
