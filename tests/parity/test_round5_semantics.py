"""PyTorch semantics found wrong in the fifth session's probes (torch 2.13 side by side)."""

import numpy as np
import pytest

import jitgrad as jg
import jitgrad.nn as nn


def test_inference_mode_is_not_undone_by_enable_grad():
    lin = nn.Linear(3, 2)
    with jg.inference_mode():
        assert not jg.is_grad_enabled() and jg.is_inference_mode_enabled()
        with jg.enable_grad():
            assert jg.is_grad_enabled() and jg.is_inference_mode_enabled()
            y = lin(jg.ones(4, 3)).sum()
        with jg.inference_mode(False):
            assert not jg.is_inference_mode_enabled()
    assert not y.requires_grad
    assert jg.is_grad_enabled() and not jg.is_inference_mode_enabled()
    with jg.no_grad():  # no_grad is undone by enable_grad
        with jg.enable_grad():
            assert lin(jg.ones(1, 3)).requires_grad


@pytest.mark.parametrize("ctx", ["no_grad", "enable_grad", "inference_mode"])
def test_grad_mode_decorators_with_and_without_parentheses(ctx):
    want = ctx == "enable_grad"
    x = jg.ones(2, requires_grad=True)
    for deco in (getattr(jg, ctx), getattr(jg, ctx)()):

        @deco
        def f(x):
            return x * 2

        with jg.no_grad():
            assert f(x).requires_grad is want
    assert jg.is_grad_enabled()


def test_python_float_dtype_is_float64():
    assert jg.zeros(2, dtype=float).dtype == jg.float64
    assert jg.ones(2).to(float).dtype == jg.float64
    assert jg.arange(3, dtype=float).dtype == jg.float64
    assert jg.tensor([1, 2]).float().dtype == jg.float32


def test_set_default_dtype_retraces_a_step_that_makes_float_tensors():
    def step(x):
        return x + jg.zeros(3)

    f = jg.trace(backend="reference")(step)
    x = jg.ones(3)
    for _ in range(3):
        assert f(x).dtype == jg.float32
    jg.set_default_dtype(jg.float64)
    try:
        out = f(x)
        assert out.dtype == step(x).dtype == jg.float64
        np.testing.assert_array_equal(out.numpy(), np.ones(3))
    finally:
        jg.set_default_dtype(jg.float32)
    assert f(x).dtype == jg.float32


def test_embedding_scale_grad_by_freq_divides_each_rows_gradient_by_its_count():
    w0 = np.arange(12, dtype=np.float64).reshape(6, 2) / 7
    idx = np.array([[0, 2, 2], [5, 2, 0]])
    g = np.arange(12, dtype=np.float64).reshape(2, 3, 2)

    def run(traced):
        w = jg.tensor(w0, requires_grad=True)

        def step(i):
            out = jg.nn.functional.embedding(i, w, padding_idx=5, scale_grad_by_freq=True)
            (out * jg.tensor(g)).sum().backward()
            return out

        f = jg.trace(backend="reference")(step) if traced else step
        for _ in range(3):
            w.grad = None
            out = f(jg.tensor(idx))
        return out.detach().numpy(), w.grad.numpy()

    want = np.zeros_like(w0)
    counts = np.bincount(idx.ravel(), minlength=6)
    for pos, r in np.ndenumerate(idx):
        if r != 5:
            want[r] += g[pos] / counts[r]
    for traced in (False, True):
        out, grad = run(traced)
        np.testing.assert_array_equal(out, w0[idx])
        np.testing.assert_allclose(grad, want, rtol=1e-12)
    emb = nn.Embedding(4, 3, scale_grad_by_freq=True)
    assert "scale_grad_by_freq=True" in repr(emb)
    with pytest.raises(NotImplementedError, match="sparse=False"):
        nn.Embedding(4, 3, sparse=True)


def test_entr_has_torchs_values_and_gradient_at_zero_and_below():
    x = jg.tensor([0.0, 1.0, -1.0, 2.0, float("nan")], requires_grad=True)
    y = jg.special.entr(x)
    y.sum().backward()
    np.testing.assert_array_equal(y.detach().numpy()[:3], [0.0, 0.0, -np.inf])
    assert np.isnan(y.detach().numpy()[4])
    g = x.grad.numpy()
    assert g[0] == np.inf and g[1] == -1.0 and np.isnan(g[2]) and np.isnan(g[4])
    np.testing.assert_allclose(g[3], -(np.log(2.0) + 1))
    assert jg.special.entr(jg.tensor([1, 2])).dtype == jg.float32


def test_traced_step_rebinds_tensor_attributes_that_a_hook_sets():
    # nn.utils.prune / weight_norm style: a forward pre-hook sets ``module.attr`` to a value
    # computed from the parameters; after a compiled call it must be this call's value
    def run(traced):
        jg.manual_seed(0)
        m = nn.Linear(2, 1)
        m.register_forward_pre_hook(lambda mod, inp: setattr(mod, "scaled", mod.weight * 2))
        opt = jg.optim.SGD(m.parameters(), lr=0.5)

        def step(x):
            opt.zero_grad()
            loss = m(x).sum()
            loss.backward()
            opt.step()
            return loss

        f = jg.trace(backend="reference")(step) if traced else step
        seen = []
        for _ in range(4):
            f(jg.ones(1, 2))
            seen.append(m.scaled.detach().numpy().copy())
        return seen, getattr(f, "stats", {})

    (eager, _), (traced, stats) = run(False), run(True)
    assert stats["compiled_calls"] == 2
    for a, b in zip(eager, traced):
        np.testing.assert_array_equal(a, b)
