"""Losses: NumPy references, reductions, gradients (1st/2nd order), stability, errors."""

import warnings

import numpy as np
import pytest

import jitgrad as jg
import jitgrad.nn.functional as F
from jitgrad import nn

from ._fd import assert_close, check_grad, check_second_order

RNG = np.random.default_rng(2)


def T(a, **kw):
    return jg.tensor(np.asarray(a, dtype=np.float64), **kw)


def reduce_np(loss, reduction):
    return {"none": loss, "sum": loss.sum(), "mean": loss.mean()}[reduction]


def log_softmax_np(x, axis=1):
    m = x.max(axis, keepdims=True)
    return x - m - np.log(np.exp(x - m).sum(axis, keepdims=True))


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_regression_losses(reduction):
    x, y = RNG.standard_normal((3, 4)), RNG.standard_normal((3, 4))
    d = x - y
    cases = [
        (nn.MSELoss(reduction=reduction), d**2),
        (nn.L1Loss(reduction=reduction), np.abs(d)),
        (
            nn.SmoothL1Loss(reduction=reduction, beta=0.5),
            np.where(np.abs(d) < 0.5, 0.5 * d**2 / 0.5, np.abs(d) - 0.25),
        ),
        (
            nn.HuberLoss(reduction=reduction, delta=0.5),
            np.where(np.abs(d) < 0.5, 0.5 * d**2, 0.5 * (np.abs(d) - 0.25)),
        ),
    ]
    for mod, ref in cases:
        assert_close(mod(T(x), T(y)).numpy(), reduce_np(ref, reduction), 1e-12, 1e-12)
        check_grad(lambda a, b, mod=mod: mod(a, b), x, y)


def test_mse_second_order_and_size_warning():
    x, y = RNG.standard_normal((2, 3)), RNG.standard_normal((2, 3))
    check_second_order(lambda a, b: F.mse_loss(a.tanh(), b), x, y)
    with pytest.warns(UserWarning, match="Using a target size"):
        F.mse_loss(jg.randn(3, 1), jg.randn(3))
    with pytest.raises(ValueError, match="is not a valid value for reduction"):
        nn.MSELoss(reduction="avg")


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_bce_and_bce_with_logits(reduction):
    z, t = RNG.standard_normal((4, 3)), RNG.uniform(size=(4, 3))
    w, pw = RNG.uniform(0.5, 2, size=(3,)), RNG.uniform(0.5, 3, size=(3,))
    p = 1 / (1 + np.exp(-z))
    bce = -w * (t * np.log(p) + (1 - t) * np.log(1 - p))
    assert_close(
        nn.BCELoss(T(w), reduction=reduction)(T(p), T(t)).numpy(),
        reduce_np(bce, reduction),
        1e-10,
        1e-12,
    )
    bcel = -w * (pw * t * np.log(p) + (1 - t) * np.log(1 - p))
    got = nn.BCEWithLogitsLoss(T(w), reduction=reduction, pos_weight=T(pw))(T(z), T(t))
    assert_close(got.numpy(), reduce_np(bcel, reduction), 1e-10, 1e-12)
    check_grad(lambda a, b: F.binary_cross_entropy(a.sigmoid(), b, T(w), reduction=reduction), z, t)
    check_grad(
        lambda a, b: F.binary_cross_entropy_with_logits(
            a, b, T(w), reduction=reduction, pos_weight=T(pw)
        ),
        z,
        t,
    )


def test_bce_edges_and_stability():
    # log clamped at -100 like torch, finite gradients at 0 and 1
    x = T([0.0, 1.0, 0.5], requires_grad=True)
    loss = F.binary_cross_entropy(x, T([1.0, 0.0, 1.0]), reduction="none")
    assert_close(loss.detach().numpy(), [100.0, 100.0, np.log(2)], 1e-12, 1e-12)
    loss.sum().backward()
    assert np.isfinite(x.grad.numpy()).all()
    z = T([-1e4, 1e4, 0.0], requires_grad=True)
    loss = F.binary_cross_entropy_with_logits(z, T([1.0, 0.0, 1.0]), reduction="none")
    assert_close(loss.detach().numpy(), [1e4, 1e4, np.log(2)], 1e-12, 1e-12)
    loss.sum().backward()
    assert_close(z.grad.numpy(), [-1.0, 1.0, -0.5], 1e-12, 1e-12)
    check_second_order(
        lambda a, b: F.binary_cross_entropy_with_logits(a, b),
        RNG.standard_normal(4),
        RNG.uniform(size=4),
    )
    with pytest.raises(ValueError, match="Target size .* must be the same as input size"):
        F.binary_cross_entropy_with_logits(jg.randn(3), jg.rand(3, 1))
    with pytest.raises(ValueError, match="different to the input size"):
        F.binary_cross_entropy(jg.rand(3), jg.rand(4))


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_cross_entropy_and_nll_indices(reduction):
    x = RNG.standard_normal((5, 4))
    t = np.array([0, 3, 1, 3, 2])
    w = RNG.uniform(0.5, 2, size=4)
    lp = log_softmax_np(x)
    per = -lp[np.arange(5), t] * w[t]
    ref = {"none": per, "sum": per.sum(), "mean": per.sum() / w[t].sum()}[reduction]
    got = nn.CrossEntropyLoss(weight=T(w), reduction=reduction)(T(x), jg.tensor(t))
    assert_close(got.numpy(), ref, 1e-10, 1e-12)
    got = nn.NLLLoss(weight=T(w), reduction=reduction)(F.log_softmax(T(x), 1), jg.tensor(t))
    assert_close(got.numpy(), ref, 1e-10, 1e-12)
    check_grad(lambda a: F.cross_entropy(a, jg.tensor(t), T(w), reduction=reduction), x)


def test_cross_entropy_ignore_index_spatial_and_unbatched():
    x = RNG.standard_normal((2, 3, 2, 2))  # (N, C, H, W)
    t = np.array([[[0, 2], [-100, 1]], [[2, 2], [0, -100]]])
    lp = log_softmax_np(x)
    keep = t != -100
    picked = np.take_along_axis(lp, np.where(keep, t, 0)[:, None], 1)[:, 0]
    ref = -(picked * keep).sum() / keep.sum()
    assert_close(F.cross_entropy(T(x), jg.tensor(t)).numpy(), ref, 1e-10, 1e-12)
    none = F.cross_entropy(T(x), jg.tensor(t), reduction="none").numpy()
    assert none.shape == (2, 2, 2) and none[0, 1, 0] == 0
    check_grad(lambda a: F.cross_entropy(a, jg.tensor(t)), x)
    # custom ignore_index and an unbatched (C,) input
    x1 = RNG.standard_normal(4)
    assert_close(
        F.cross_entropy(T(x1), jg.tensor(2)).numpy(), -log_softmax_np(x1, 0)[2], 1e-12, 1e-12
    )
    t2 = np.array([1, 5, 0])
    x2 = RNG.standard_normal((3, 4))
    ref = -(log_softmax_np(x2)[[0, 2], [1, 0]]).mean()
    assert_close(F.cross_entropy(T(x2), jg.tensor(t2), ignore_index=5).numpy(), ref, 1e-12, 1e-12)


def test_cross_entropy_label_smoothing_and_probabilities():
    x = RNG.standard_normal((4, 5))
    t = np.array([1, 0, 4, -100])
    w = RNG.uniform(0.5, 2, size=5)
    eps = 0.2
    lp = log_softmax_np(x)
    keep = t != -100
    ts = np.where(keep, t, 0)
    nll = (-lp[np.arange(4), ts] * w[ts] * keep).sum() / (w[ts] * keep).sum()
    smooth = (-(lp * w).sum(1) * keep).sum() / (w[ts] * keep).sum()
    ref = (1 - eps) * nll + eps / 5 * smooth
    got = F.cross_entropy(T(x), jg.tensor(t), T(w), label_smoothing=eps)
    assert_close(got.numpy(), ref, 1e-10, 1e-12)
    check_grad(lambda a: F.cross_entropy(a, jg.tensor(t), T(w), label_smoothing=eps), x)
    # class-probability targets (optionally smoothed): mean over samples
    p = RNG.dirichlet(np.ones(5), size=4)
    ps = p * (1 - eps) + eps / 5
    ref = (-(lp * ps * w).sum(1)).mean()
    got = F.cross_entropy(T(x), T(p), T(w), label_smoothing=eps)
    assert_close(got.numpy(), ref, 1e-10, 1e-12)
    check_grad(lambda a, b: F.cross_entropy(a, b), x, p)
    # one-hot probabilities equal class indices
    oh = np.eye(5)[[1, 0, 4, 2]]
    assert_close(
        F.cross_entropy(T(x), T(oh)).numpy(),
        F.cross_entropy(T(x), jg.tensor([1, 0, 4, 2])).numpy(),
        1e-12,
        1e-12,
    )


def test_cross_entropy_second_order():
    x = RNG.standard_normal((3, 4))
    t = jg.tensor([0, 3, 1])
    check_second_order(lambda a: F.cross_entropy(a, t, label_smoothing=0.1), x)
    check_second_order(lambda a: F.nll_loss(F.log_softmax(a * a, 1), t), x)


def test_cross_entropy_stable_for_huge_logits():
    for dt in (jg.float32, jg.float64):
        x = jg.tensor([[1e4, 0.0, -1e4], [0.0, 1e4, 1e4]], dtype=dt, requires_grad=True)
        loss = F.cross_entropy(x, jg.tensor([1, 2]), reduction="none")
        assert_close(loss.detach().numpy(), [1e4, np.log(2)], 1e-6, 1e-6)
        loss.sum().backward()
        assert_close(x.grad.numpy(), [[1, -1, 0], [0, 0.5, -0.5]], 1e-6, 1e-6)
    m = nn.CrossEntropyLoss()(jg.full((2, 3), 1e4), jg.tensor([0, 1]))
    assert abs(m.item() - np.log(3)) < 1e-4


def test_class_target_errors_before_indexing():
    x = jg.randn(3, 4, requires_grad=True)
    with pytest.raises(
        IndexError,
        match=r"cross_entropy: Target 4 is out of bounds.*\[0, 3\].*"
        r"with 4 classes",
    ):
        F.cross_entropy(x, jg.tensor([0, 4, 1]))
    with pytest.raises(IndexError, match="nll_loss: Target -3 is out of bounds"):
        F.nll_loss(x, jg.tensor([0, -3, 1]))
    with pytest.raises(
        ValueError,
        match=r"Expected input batch_size \(3\) to match target "
        r"batch_size \(2\)",
    ):
        F.cross_entropy(x, jg.tensor([0, 1]))
    with pytest.raises(RuntimeError, match="expected scalar type Long"):
        F.nll_loss(x, jg.tensor([0.0, 1.0, 2.0]))
    with pytest.raises(RuntimeError, match="weight tensor should be defined either for all 4"):
        F.cross_entropy(x, jg.tensor([0, 1, 2]), weight=jg.ones(3))
    with pytest.raises(RuntimeError, match="label_smoothing must be between 0.0 and 1.0"):
        F.cross_entropy(x, jg.tensor([0, 1, 2]), label_smoothing=1.5)
    with pytest.raises(RuntimeError, match=r"class-probability target of shape \[3, 3\]"):
        F.cross_entropy(x, jg.rand(3, 3))
    assert x.grad is None


def test_legacy_reduction_flags():
    x, y = jg.randn(3), jg.randn(3)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert nn.MSELoss(size_average=False).reduction == "sum"
        assert nn.MSELoss(reduce=False).reduction == "none"
    assert abs(F.l1_loss(x, y, reduction="sum").item() - (x - y).abs().sum().item()) < 1e-6


def test_fd_oracle_catches_a_wrong_gradient():
    class Bad(jg.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            ctx.save_for_backward(x)
            return x * x

        @staticmethod
        def backward(ctx, g):
            (x,) = ctx.saved_tensors
            return g * x * 2.001

    with pytest.raises(AssertionError, match="grad of input 0"):
        check_grad(lambda x: Bad.apply(x), RNG.standard_normal(3))
