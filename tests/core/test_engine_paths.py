"""The engine's fast paths give the same gradients as the plain rules.

Nodes run newest first (no dependency counting), gradient sums outside create_graph are
plain array sums, and small leaf gradients are collected and summed once.
"""

import numpy as np
import pytest

import jitgrad as jg


@pytest.mark.parametrize("shape", [(), (1,), (3,), (20, 20)])
def test_leaf_used_many_times(shape):
    rng = np.random.default_rng(0)
    xv = rng.uniform(0.5, 1.0, size=shape)
    x = jg.tensor(xv, requires_grad=True)
    y = x
    for _ in range(50):
        y = y * 0.9 + x
    y.sum().backward()
    # d/dx of the recurrence y <- 0.9 y + x, y0 = x: 0.9^50 + sum_k 0.9^k (k < 50)
    want = 0.9**50 + sum(0.9**k for k in range(50))
    assert x.grad.shape == x.shape
    np.testing.assert_allclose(x.grad.numpy(), np.full(shape, want), rtol=1e-10)


def test_leaf_gradients_of_mixed_dtypes():
    x = jg.tensor([1.0, 2.0], dtype=jg.float32, requires_grad=True)
    y = (x * 3).sum() + (x * 2).sum() + (x.double() * 4).sum() + (x * 5).sum()
    y.backward()
    assert x.grad.dtype == jg.float32
    np.testing.assert_allclose(x.grad.numpy(), [14.0, 14.0])


def test_diamond_and_shared_intermediates():
    x = jg.tensor([0.3, -0.7], dtype=jg.float64, requires_grad=True)
    a = x * 2
    b = a.tanh()
    c = a.sigmoid() * b + a.exp() / (b + 3)
    c.sum().backward()
    xv = x.detach().numpy()

    def f(v):
        a = 2 * v
        b = np.tanh(a)
        return np.sum(1 / (1 + np.exp(-a)) * b + np.exp(a) / (b + 3))

    eps = 1e-6
    num = [(f(xv + eps * e) - f(xv - eps * e)) / (2 * eps) for e in np.eye(2)]
    np.testing.assert_allclose(x.grad.numpy(), num, rtol=1e-6)


def test_graph_kept_with_create_graph():
    x = jg.tensor([0.4, 0.9], dtype=jg.float64, requires_grad=True)
    y = (x.tanh() * x + x.sigmoid() / x + x * x).sum()
    (g,) = jg.autograd.grad(y, x, create_graph=True)
    assert g.requires_grad
    (h,) = jg.autograd.grad(g.sum(), x)
    xv = x.detach().numpy()

    def d1(v):
        t, s = np.tanh(v), 1 / (1 + np.exp(-v))
        return (1 - t * t) * v + t + s * (1 - s) / v - s / (v * v) + 2 * v

    eps = 1e-6
    np.testing.assert_allclose(h.numpy(), (d1(xv + eps) - d1(xv - eps)) / (2 * eps), rtol=1e-5)


def test_node_without_gradient_is_skipped():
    x = jg.tensor([1.5, 2.5], requires_grad=True)
    i = x.long()  # no gradient flows back through the cast to an integer dtype
    y = (x * 2).sum() + i.float().sum() * 0
    y.backward()
    np.testing.assert_allclose(x.grad.numpy(), [2.0, 2.0])


def test_fused_backward_ops_on_the_tape():
    x = jg.tensor([0.5, -0.2], requires_grad=True)
    assert x.tanh().grad_fn is not None
    (g,) = jg.autograd.grad(x.tanh().sum(), x, create_graph=True)
    assert g.grad_fn.name() == "TanhBackwardBackward0"
    (g,) = jg.autograd.grad(x.relu().sum(), x, create_graph=True)
    assert g.grad_fn.name() == "ThresholdBackwardBackward0"
