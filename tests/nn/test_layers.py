"""Linear, normalisation, dropout, embedding, activations, pad: references and gradients."""

import math

import numpy as np
import pytest
from scipy.special import erf

import jitgrad as jg
import jitgrad.nn.functional as F
from jitgrad import nn

from ._fd import assert_close, check_grad, check_second_order

RNG = np.random.default_rng(1)


def T(a, **kw):
    return jg.tensor(np.asarray(a, dtype=np.float64), **kw)


def test_linear_forward_grad_second_order():
    x, w, b = RNG.standard_normal((4, 3)), RNG.standard_normal((2, 3)), RNG.standard_normal(2)
    assert_close(F.linear(T(x), T(w), T(b)).numpy(), x @ w.T + b, 1e-12, 1e-12)
    check_grad(F.linear, x, w, b)
    check_second_order(lambda x, w, b: F.linear(x, w, b).tanh(), x, w, b)
    x3 = RNG.standard_normal((2, 5, 3))
    assert_close(F.linear(T(x3), T(w)).numpy(), x3 @ w.T, 1e-12, 1e-12)


def test_linear_module_init_and_errors():
    jg.manual_seed(0)
    lin = nn.Linear(100, 30)
    bound = 1 / math.sqrt(100)
    w, b = lin.weight.detach().numpy(), lin.bias.detach().numpy()
    assert w.shape == (30, 100) and w.dtype == np.float32
    assert np.abs(w).max() <= bound and np.abs(w).max() > 0.95 * bound
    assert abs(w.std() - bound / math.sqrt(3)) < 0.01
    assert np.abs(b).max() <= bound
    with pytest.raises(
        RuntimeError,
        match=r"mat1 and mat2 shapes cannot be multiplied "
        r"\(64x20 and 100x30\)",
    ):
        lin(jg.randn(64, 20))
    with pytest.raises(RuntimeError, match=r"linear: both arguments .* at least 1D.*0D and 2D"):
        lin(jg.tensor(1.0))
    with pytest.raises(RuntimeError, match=r"Input type \(jitgrad.int64\).*input.float\(\)"):
        lin(jg.ones(2, 100, dtype=jg.int64))
    assert nn.Linear(3, 2, bias=False).bias is None


def test_bilinear():
    x1, x2 = RNG.standard_normal((4, 3)), RNG.standard_normal((4, 2))
    w, b = RNG.standard_normal((5, 3, 2)), RNG.standard_normal(5)
    ref = np.einsum("ni,oij,nj->no", x1, w, x2) + b
    assert_close(F.bilinear(T(x1), T(x2), T(w), T(b)).numpy(), ref, 1e-12, 1e-12)
    check_grad(F.bilinear, x1[:2], x2[:2], w[:2], b[:2])
    assert tuple(nn.Bilinear(3, 2, 5)(jg.randn(7, 3), jg.randn(7, 2)).shape) == (7, 5)


def bn_ref(x, w, b, eps):
    dims = (0,) + tuple(range(2, x.ndim))
    shape = (1, -1) + (1,) * (x.ndim - 2)
    mu, var = x.mean(dims), x.var(dims)
    return (
        (x - mu.reshape(shape)) / np.sqrt(var.reshape(shape) + eps) * w.reshape(shape)
        + b.reshape(shape),
        mu,
        x.var(dims, ddof=1),
    )


@pytest.mark.parametrize(
    "cls,shape",
    [(nn.BatchNorm1d, (6, 3)), (nn.BatchNorm1d, (4, 3, 5)), (nn.BatchNorm2d, (4, 3, 2, 3))],
)
def test_batchnorm_train_eval_running_stats(cls, shape):
    bn = cls(3, momentum=0.2).double()
    with jg.no_grad():
        bn.weight.copy_(T([0.5, 1.5, -1.0]))
        bn.bias.copy_(T([0.1, 0.0, 2.0]))
    w, b = np.array([0.5, 1.5, -1.0]), np.array([0.1, 0.0, 2.0])
    rm, rv = np.zeros(3), np.ones(3)
    for step in range(3):
        x = RNG.standard_normal(shape) * 2 + 1
        y = bn(T(x))
        ref, mu, uvar = bn_ref(x, w, b, 1e-5)
        assert_close(y.detach().numpy(), ref, 1e-10, 1e-10)
        rm, rv = 0.8 * rm + 0.2 * mu, 0.8 * rv + 0.2 * uvar
        assert_close(bn.running_mean.numpy(), rm, 1e-12, 1e-12)
        assert_close(bn.running_var.numpy(), rv, 1e-12, 1e-12)
        assert bn.num_batches_tracked.item() == step + 1
    bn.eval()
    x = RNG.standard_normal(shape)
    shp = (1, -1) + (1,) * (len(shape) - 2)
    ref = (x - rm.reshape(shp)) / np.sqrt(rv.reshape(shp) + 1e-5) * w.reshape(shp) + b.reshape(shp)
    assert_close(bn(T(x)).detach().numpy(), ref, 1e-10, 1e-10)
    assert bn.num_batches_tracked.item() == 3  # eval does not count or update
    assert_close(bn.running_mean.numpy(), rm, 0, 0)


def test_batchnorm_grads_and_options():
    x, w, b = RNG.standard_normal((4, 2, 3)), RNG.standard_normal(2), RNG.standard_normal(2)

    def f(x, w, b):
        return F.batch_norm(x, None, None, w, b, training=True)

    check_grad(f, x, w, b)
    check_second_order(f, x[:3, :, :2], w, b)
    # momentum=None: cumulative moving average; no affine; no running stats
    bn = nn.BatchNorm1d(2, momentum=None, affine=False).double()
    xs = [RNG.standard_normal((5, 2)) for _ in range(3)]
    for x in xs:
        bn(T(x))
    assert_close(bn.running_mean.numpy(), np.mean([x.mean(0) for x in xs], 0), 1e-12, 1e-12)
    assert list(dict(bn.named_parameters())) == []
    nostats = nn.BatchNorm2d(2, track_running_stats=False).eval()
    x = RNG.standard_normal((3, 2, 2, 2))
    assert_close(
        nostats(T(x).float()).detach().numpy(),
        bn_ref(x, np.ones(2), np.zeros(2), 1e-5)[0],
        1e-5,
        1e-5,
    )
    assert nostats.running_mean is None and "running_mean" not in nostats.state_dict()


def test_batchnorm_errors():
    with pytest.raises(ValueError, match=r"expected 4D input \(got 2D input"):
        nn.BatchNorm2d(3)(jg.randn(4, 3))
    with pytest.raises(ValueError, match="Expected more than 1 value per channel when training"):
        nn.BatchNorm1d(3)(jg.randn(1, 3))
    with pytest.raises(RuntimeError, match="running_mean should contain 4 elements not 3"):
        nn.BatchNorm1d(3)(jg.randn(2, 4))


def test_layer_norm_and_group_norm():
    x = RNG.standard_normal((3, 4, 5))
    w, b = RNG.standard_normal((4, 5)), RNG.standard_normal((4, 5))
    mu = x.mean((1, 2), keepdims=True)
    ref = (x - mu) / np.sqrt(x.var((1, 2), keepdims=True) + 1e-5) * w + b
    assert_close(F.layer_norm(T(x), (4, 5), T(w), T(b)).numpy(), ref, 1e-10, 1e-10)
    check_grad(lambda x, w, b: F.layer_norm(x, (5,), w, b), x[:2, :2], w[0], b[0])
    check_second_order(lambda x: F.layer_norm(x, (4,)), x[:2, :, 0])
    ln = nn.LayerNorm(5)
    assert [n for n, _ in ln.named_parameters()] == ["weight", "bias"]
    with pytest.raises(
        RuntimeError,
        match=r"Given normalized_shape=\[5\], expected input with "
        r"shape \[\*, 5\], but got input of size\[3, 4\]",
    ):
        ln(jg.randn(3, 4))
    xg = RNG.standard_normal((2, 4, 3))
    g = xg.reshape(2, 2, 6)
    ref = ((g - g.mean(-1, keepdims=True)) / np.sqrt(g.var(-1, keepdims=True) + 1e-5)).reshape(
        2, 4, 3
    )
    assert_close(nn.GroupNorm(2, 4).double()(T(xg)).detach().numpy(), ref, 1e-10, 1e-10)


def test_dropout_scaling_eval_and_generator():
    x = jg.ones(200, 500)
    jg.manual_seed(3)
    d = nn.Dropout(0.3)
    y = d(x).numpy()
    kept = y != 0
    assert np.allclose(y[kept], 1 / 0.7)
    assert abs(kept.mean() - 0.7) < 0.01
    jg.manual_seed(3)
    np.testing.assert_array_equal(d(x).numpy(), y)  # draws come from jitgrad's generator
    d.eval()
    assert d(x) is x
    assert not F.dropout(x, 1.0).numpy().any()
    assert F.dropout(x, 0.0) is x
    xr = jg.randn(4, 5, requires_grad=True)
    out = F.dropout(xr, 0.5)
    out.sum().backward()
    np.testing.assert_allclose(xr.grad.numpy(), (out.detach().numpy() != 0) * 2.0)
    with pytest.raises(ValueError, match="dropout probability has to be between 0 and 1"):
        nn.Dropout(1.5)
    y2 = F.dropout2d(jg.ones(8, 16, 3, 3), 0.5).numpy()
    per_channel = y2.reshape(8, 16, 9)
    assert np.all((per_channel == 0).all(-1) | (per_channel == 2.0).all(-1))


def test_embedding():
    jg.manual_seed(0)
    emb = nn.Embedding(10, 3, padding_idx=0)
    w = emb.weight.detach().numpy()
    assert not w[0].any() and abs(w[1:].std() - 1) < 0.6
    idx = jg.tensor([[1, 0, 9], [3, 3, 0]])
    out = emb(idx)
    assert_close(out.detach().numpy(), w[idx.numpy()], 0, 0)
    out.sum().backward()
    g = emb.weight.grad.numpy()
    assert g[0].tolist() == [0, 0, 0] and g[3].tolist() == [2, 2, 2] and g[9].tolist() == [1, 1, 1]
    with pytest.raises(
        IndexError, match="index 10 is out of range for an embedding table with 10 rows"
    ):
        emb(jg.tensor([1, 10]))
    with pytest.raises(IndexError, match="index -1 is out of range"):
        emb(jg.tensor([-1]))
    with pytest.raises(RuntimeError, match="Long, Int"):
        emb(jg.tensor([1.0]))
    pre = nn.Embedding.from_pretrained(jg.eye(3))
    assert not pre.weight.requires_grad and pre(jg.tensor([2])).tolist() == [[0, 0, 1]]


ACTS = [
    (F.relu, lambda x: np.maximum(x, 0)),
    (lambda x: F.leaky_relu(x, 0.2), lambda x: np.where(x > 0, x, 0.2 * x)),
    (F.gelu, lambda x: 0.5 * x * (1 + erf(x / np.sqrt(2)))),
    (
        lambda x: F.gelu(x, approximate="tanh"),
        lambda x: 0.5 * x * (1 + np.tanh(np.sqrt(2 / np.pi) * (x + 0.044715 * x**3))),
    ),
    (F.silu, lambda x: x / (1 + np.exp(-x))),
    (F.sigmoid, lambda x: 1 / (1 + np.exp(-x))),
    (F.tanh, np.tanh),
    (
        lambda x: F.softplus(x, beta=2.0, threshold=3.0),
        lambda x: np.where(2 * x > 3, x, np.log1p(np.exp(2 * x)) / 2),
    ),
    (lambda x: F.elu(x, 0.7), lambda x: np.where(x > 0, x, 0.7 * np.expm1(x))),
    (F.logsigmoid, lambda x: -np.log1p(np.exp(-x))),
    (F.mish, lambda x: x * np.tanh(np.log1p(np.exp(x)))),
    (F.relu6, lambda x: np.clip(x, 0, 6)),
    (lambda x: F.softmax(x, -1), lambda x: np.exp(x) / np.exp(x).sum(-1, keepdims=True)),
    (lambda x: F.log_softmax(x, 1), lambda x: x - np.log(np.exp(x).sum(1, keepdims=True))),
]


@pytest.mark.parametrize("i", range(len(ACTS)))
def test_activations(i):
    f, ref = ACTS[i]
    x = RNG.standard_normal((3, 4)) * 3
    assert_close(f(T(x)).numpy(), ref(x), 1e-10, 1e-12)
    check_grad(f, x)


def test_activation_modules_and_stability():
    x = T([-1e4, -3.0, 0.5, 1e4], requires_grad=True)
    for m in (
        nn.Softplus(),
        nn.ELU(),
        nn.SiLU(),
        nn.GELU(),
        nn.Sigmoid(),
        nn.Tanh(),
        nn.Mish(),
        nn.LogSigmoid(),
        nn.LeakyReLU(),
        nn.ReLU(),
    ):
        y = m(x)
        (g,) = jg.autograd.grad(y.sum(), [x])
        assert np.isfinite(y.detach().numpy()).all() and np.isfinite(g.numpy()).all(), m
    z = T([0.0], requires_grad=True)
    (g,) = jg.autograd.grad(F.softplus(z).sum(), [z])
    assert g.tolist() == [0.5]  # no kink from |x| at 0
    z = T([0.0, 3.0, 6.0], requires_grad=True)
    (g,) = jg.autograd.grad(F.relu6(z).sum(), [z])
    assert g.tolist() == [0.0, 1.0, 0.0]  # torch's hardtanh: zero gradient at the bounds
    assert repr(nn.GELU(approximate="tanh")) == "GELU(approximate='tanh')"
    assert repr(nn.LeakyReLU(0.2)) == "LeakyReLU(negative_slope=0.2)"
    assert repr(nn.Softmax(dim=1)) == "Softmax(dim=1)"
    h = jg.randn(3, 4) * 1.0
    h2 = h.clone()
    nn.ReLU(inplace=True)(h2)
    np.testing.assert_array_equal(h2.numpy(), np.maximum(h.numpy(), 0))


def test_second_order_activations():
    x = RNG.standard_normal((2, 3))
    check_second_order(lambda x: F.gelu(x), x)
    check_second_order(lambda x: F.softplus(x), x)
    check_second_order(lambda x: F.elu(x), x)


def test_flatten_unflatten_pad_one_hot():
    x = jg.randn(2, 3, 4, 5)
    assert tuple(nn.Flatten()(x).shape) == (2, 60)
    assert tuple(nn.Flatten(0, 2)(x).shape) == (24, 5)
    assert tuple(nn.Unflatten(1, (3, 20))(nn.Flatten()(x)).shape) == (2, 3, 20)
    assert tuple(F.flatten(x).shape) == (120,)
    a = RNG.standard_normal((2, 3, 4))
    for mode, npmode in (
        ("constant", "constant"),
        ("reflect", "reflect"),
        ("replicate", "edge"),
        ("circular", "wrap"),
    ):
        out = F.pad(T(a), (1, 2, 2, 0), mode=mode)
        assert_close(out.numpy(), np.pad(a, ((0, 0), (2, 0), (1, 2)), mode=npmode), 0, 0)
    out = F.pad(T(a), (1, 1), value=7.0).numpy()
    assert out[..., 0].tolist() == [[7.0] * 3] * 2
    assert_close(F.pad(T(a), (-1, 1)).numpy(), np.pad(a[..., 1:], ((0, 0), (0, 0), (0, 1))), 0, 0)
    check_grad(lambda x: F.pad(x, (1, 2, 0, 1)), a[:1, :2, :2])
    check_grad(lambda x: F.pad(x, (2, 1), mode="reflect"), a[:1, :2])
    oh = F.one_hot(jg.tensor([0, 2, 1]), 4)
    assert oh.dtype == jg.int64 and oh.tolist() == [[1, 0, 0, 0], [0, 0, 1, 0], [0, 1, 0, 0]]
    assert tuple(F.one_hot(jg.tensor([[3]])).shape) == (1, 1, 4)
    with pytest.raises(
        RuntimeError, match="Class values must be non-negative and smaller than num_classes"
    ):
        F.one_hot(jg.tensor([4]), 3)


def test_batchnorm_checkpoint_without_num_batches_tracked_loads_strictly():
    """PyTorch < 0.4.1 checkpoints lack num_batches_tracked: loading keeps the current
    count and reports no missing key, as PyTorch does; other missing keys still raise."""
    bn = jg.nn.BatchNorm1d(3)
    bn(jg.randn(4, 3))
    old = {k: v for k, v in bn.state_dict().items() if k != "num_batches_tracked"}
    fresh = jg.nn.BatchNorm1d(3)
    assert fresh.load_state_dict(old).missing_keys == []
    assert fresh.num_batches_tracked.item() == 0
    np.testing.assert_array_equal(fresh.running_mean.numpy(), bn.running_mean.numpy())
    del old["running_var"]
    with pytest.raises(RuntimeError, match="running_var"):
        fresh.load_state_dict(old)


def test_interpolate_and_loss_argument_errors():
    x = jg.ones(1, 1, 4, 4)
    with pytest.raises(ValueError, match="either of size or scale_factor"):
        F.interpolate(x)
    with pytest.raises(ValueError, match="only one of size or scale_factor"):
        F.interpolate(x, size=2, scale_factor=2)
    with pytest.raises(NotImplementedError, match='"mse_loss" not implemented for jitgrad.int64'):
        F.mse_loss(jg.ones(2, dtype=jg.int64), jg.ones(2, dtype=jg.int64))
    with pytest.raises(RuntimeError, match="cross_entropy: input must have at least 1 dim"):
        F.cross_entropy(jg.tensor(1.0), jg.tensor(0))


def test_multihead_attention_embedding_dimension_error():
    mha = nn.MultiheadAttention(8, 2)
    x = jg.ones(2, 3, 7)
    with pytest.raises(AssertionError, match="expecting embedding dimension of 8, but got 7"):
        mha(x, x, x)
