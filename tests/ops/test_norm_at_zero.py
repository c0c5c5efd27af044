"""Norms at the zero vector have PyTorch's subgradient 0, not NaN (clip_grad_norm_ of a zero
gradient, gradient penalties, normalize/cosine_similarity of a zero row), eager and traced."""

import numpy as np
import pytest

import jitgrad as jg
from jitgrad.nn import functional as F


def _grad(fn, x):
    t = jg.tensor(x, requires_grad=True)
    fn(t).backward()
    return t.grad.numpy()


X = np.array([[0.0, 0.0, 0.0], [3.0, -4.0, 0.0]])


@pytest.mark.parametrize("p", [2, "fro", 3.0, 1.5])
def test_vector_norm_gradient_at_zero_row_is_zero_and_exact_elsewhere(p):
    g = _grad(lambda t: t.norm(p, 1).sum(), X)
    assert np.all(np.isfinite(g))
    np.testing.assert_array_equal(g[0], 0.0)
    q = 2.0 if p == "fro" else float(p)
    row = X[1]
    want = np.sign(row) * np.abs(row) ** (q - 1) / np.sum(np.abs(row) ** q) ** (1 - 1 / q)
    np.testing.assert_allclose(g[1], want, rtol=1e-12)


def test_second_derivative_of_norm_matches_finite_differences():
    x = np.array([0.3, -1.2, 2.0])

    def first(v):
        t = jg.tensor(v, requires_grad=True)
        (g,) = jg.autograd.grad(t.norm(), t, create_graph=True)
        return t, g

    t, g = first(x)
    (h,) = jg.autograd.grad(g[0], t)
    eps = 1e-6
    fd = [
        (first(x + eps * e)[1][0].item() - first(x - eps * e)[1][0].item()) / (2 * eps)
        for e in np.eye(3)
    ]
    np.testing.assert_allclose(h.numpy(), fd, rtol=1e-6, atol=1e-8)


@pytest.mark.parametrize(
    "fn",
    [
        lambda t: jg.linalg.matrix_norm(t.reshape(1, 2, 3) * 0),
        lambda t: F.normalize(t, dim=1).sum(),
        lambda t: F.cosine_similarity(t, t + 1.0, dim=1).sum(),
    ],
    ids=["matrix_norm", "normalize", "cosine_similarity"],
)
def test_composites_of_norm_have_finite_gradients_at_zero(fn):
    assert np.all(np.isfinite(_grad(fn, X)))


def test_clip_grad_norm_of_a_zero_gradient_traced_equals_eager():
    def run(traced):
        jg.manual_seed(0)
        lin = jg.nn.Linear(3, 2)
        opt = jg.optim.SGD(lin.parameters(), lr=0.1)

        def step(x):
            opt.zero_grad()
            loss = (lin(x) * 0.0).sum() + lin.weight.norm() * 0.0
            loss.backward()
            total = jg.nn.utils.clip_grad_norm_(lin.parameters(), 1.0)
            opt.step()
            return total

        f = jg.trace(step, backend="cpu") if traced else step
        outs = [f(jg.ones(4, 3)).item() for _ in range(3)]
        return outs, lin.weight.detach().numpy().copy(), f

    (eo, ew, _), (to, tw, f) = run(False), run(True)
    assert f.stats["compiled_calls"] >= 1
    assert np.all(np.isfinite(ew)) and eo == to
    np.testing.assert_array_equal(ew, tw)
