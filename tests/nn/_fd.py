"""Finite-difference oracles for gradients (first and second order), in float64."""

import numpy as np

import jitgrad as jg


def _scalarize(out, seed=1234):
    """A fixed random projection of ``out`` to a scalar, so every output element matters."""
    if out.ndim == 0:
        return out
    w = np.random.default_rng(seed).standard_normal(tuple(out.shape))
    return (out * jg.tensor(w, dtype=out.dtype)).sum()


def _value(fn, arrays):
    with jg.no_grad():
        out = fn(*[jg.tensor(a) for a in arrays])
    return float(_scalarize(out).item())


def numeric_grad(fn, arrays, i, eps=1e-6):
    """Central differences of the scalarized ``fn`` w.r.t. ``arrays[i]``."""
    arrays = [np.array(a, dtype=np.float64) for a in arrays]
    x = arrays[i]
    g = np.zeros_like(x)
    for k in np.ndindex(x.shape):
        old = x[k]
        x[k] = old + eps
        hi = _value(fn, arrays)
        x[k] = old - eps
        lo = _value(fn, arrays)
        x[k] = old
        g[k] = (hi - lo) / (2 * eps)
    return g


def assert_close(actual, expected, rtol=1e-6, atol=1e-7, what=""):
    actual = np.asarray(actual, dtype=np.float64)
    expected = np.asarray(expected, dtype=np.float64)
    assert actual.shape == expected.shape, f"{what}: shape {actual.shape} != {expected.shape}"
    err = np.abs(actual - expected)
    tol = atol + rtol * np.abs(expected).max(initial=0.0)
    assert err.max(initial=0.0) <= tol, (
        f"{what}: max abs error {err.max():.3e} > tol {tol:.3e}\nactual={actual}\n"
        f"expected={expected}"
    )


def check_grad(fn, *arrays, diff=None, rtol=1e-6, atol=1e-7, eps=1e-6):
    """``.grad`` after ``backward`` matches central differences for inputs in ``diff``."""
    diff = range(len(arrays)) if diff is None else diff
    ts = [
        jg.tensor(np.asarray(a, dtype=np.float64), requires_grad=i in diff)
        for i, a in enumerate(arrays)
    ]
    _scalarize(fn(*ts)).backward()
    for i in diff:
        num = numeric_grad(fn, arrays, i, eps)
        assert ts[i].grad is not None, f"input {i} got no gradient"
        assert_close(ts[i].grad.numpy(), num, rtol, atol, what=f"grad of input {i}")


def check_second_order(fn, *arrays, diff=None, rtol=1e-5, atol=1e-6, eps=1e-5):
    """Differentiating ``<grad fn, v>`` (create_graph=True) matches differences of grad fn."""
    diff = list(range(len(arrays))) if diff is None else list(diff)
    rng = np.random.default_rng(99)
    vs = {i: rng.standard_normal(np.shape(arrays[i])) for i in diff}

    def first_grads(arrs, create_graph):
        ts = [
            jg.tensor(np.asarray(a, dtype=np.float64), requires_grad=i in diff)
            for i, a in enumerate(arrs)
        ]
        gs = jg.autograd.grad(
            _scalarize(fn(*ts)), [ts[i] for i in diff], create_graph=create_graph, allow_unused=True
        )
        return ts, gs

    ts, gs = first_grads(arrays, True)
    s = None
    for i, g in zip(diff, gs):
        if g is None:
            continue
        term = (g * jg.tensor(vs[i])).sum()
        s = term if s is None else s + term
    assert s is not None and s.requires_grad, "first-order gradient is not differentiable"
    second = jg.autograd.grad(s, [ts[i] for i in diff], allow_unused=True)

    def s_value(arrs):
        _, g1 = first_grads(arrs, False)
        return sum(float((g.numpy() * vs[i]).sum()) for i, g in zip(diff, g1) if g is not None)

    for j, sec in zip(diff, second):
        arrs = [np.array(a, dtype=np.float64) for a in arrays]
        x = arrs[j]
        num = np.zeros_like(x)
        for k in np.ndindex(x.shape):
            old = x[k]
            x[k] = old + eps
            hi = s_value(arrs)
            x[k] = old - eps
            lo = s_value(arrs)
            x[k] = old
            num[k] = (hi - lo) / (2 * eps)
        got = np.zeros_like(x) if sec is None else sec.numpy()
        assert_close(got, num, rtol, atol, what=f"second-order grad of input {j}")
