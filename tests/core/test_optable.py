"""Tests generated from the op table: forward vs NumPy, first and second derivatives vs
central finite differences in float64."""

import numpy as np
import pytest

import jitgrad as jg

from .optable import all_cases

CASES = all_cases()
EPS = 1e-6


def _tensors(args, requires_grad):
    ts = []
    for a in args:
        t = jg.tensor(a)
        if requires_grad and a.dtype.kind == "f":
            t.requires_grad_()
        ts.append(t)
    return ts


def _diff(args):
    return [k for k, a in enumerate(args) if a.dtype.kind == "f"]


def _eval(case, args):
    with jg.no_grad():
        return case.fn(*_tensors(args, False))._data.astype(np.float64)


def _first(case, args, w, create_graph=False):
    """(tensors, grads) of sum(fn(args) * w) with respect to the float args."""
    ts = _tensors(args, True)
    out = case.fn(*ts)
    diff = [ts[k] for k in _diff(args)]
    if not out.requires_grad:
        return ts, [None] * len(diff)
    gs = jg.autograd.grad(
        out, diff, grad_outputs=jg.tensor(w), create_graph=create_graph, allow_unused=True
    )
    return ts, list(gs)


def _fd(func, args):
    """Central differences of the array-valued ``func`` w.r.t. every float arg element."""
    res = []
    for k in _diff(args):
        a = args[k]
        base = np.asarray(func(args))
        g = np.zeros(a.shape + base.shape)
        for idx in np.ndindex(a.shape):
            ap = [x.copy() for x in args]
            am = [x.copy() for x in args]
            ap[k][idx] += EPS
            am[k][idx] -= EPS
            g[idx] = (np.asarray(func(ap)) - np.asarray(func(am))) / (2 * EPS)
        res.append(g)
    return res


def _close(actual, expected, what, rtol=1e-4, atol=1e-5):
    np.testing.assert_allclose(actual, expected, rtol=rtol, atol=atol, err_msg=what)


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_forward_matches_numpy(case):
    out = case.fn(*_tensors(case.args, False))
    assert isinstance(out, jg.Tensor)
    expected = np.asarray(case.ref(*case.args))
    assert out.shape == expected.shape, f"shape {tuple(out.shape)} != {expected.shape}"
    _close(
        out._data.astype(np.float64),
        expected.astype(np.float64),
        "float64 forward",
        rtol=1e-10,
        atol=1e-12,
    )
    if expected.dtype.kind == "f":
        assert out.dtype == jg.float64
    # float32 inputs keep float32 results (and roughly the same values)
    args32 = [a.astype(np.float32) if a.dtype.kind == "f" else a for a in case.args]
    out32 = case.fn(*_tensors(args32, False))
    if expected.dtype.kind == "f" and case.name != "to_float32_and_back":
        assert out32.dtype == jg.float32, f"float32 input gave {out32.dtype}"
        _close(out32._data, expected, "float32 forward", rtol=1e-3, atol=1e-4)


DIFF_CASES = [c for c in CASES if c.grad and _diff(c.args)]


@pytest.mark.parametrize("case", DIFF_CASES, ids=[c.id for c in DIFF_CASES])
def test_first_derivative(case):
    rng = np.random.default_rng(0)
    out_shape = _eval(case, case.args).shape
    w = rng.standard_normal(out_shape)
    _, gs = _first(case, case.args, w)
    fd = _fd(lambda a: float((_eval(case, a) * w).sum()), case.args)
    for k, (g, e) in enumerate(zip(gs, fd)):
        a = case.args[_diff(case.args)[k]]
        if g is None:
            g = np.zeros(a.shape)
        else:
            assert tuple(g.shape) == a.shape, f"grad shape {tuple(g.shape)} vs input {a.shape}"
            assert g.dtype == jg.float64
            g = g._data
        _close(g, e, f"d/d(arg {k})")
    # backward() accumulates the same values into .grad
    ts = _tensors(case.args, True)
    out = case.fn(*ts)
    if out.requires_grad:
        out.backward(jg.tensor(w))
        for k, e in zip(_diff(case.args), fd):
            g = ts[k].grad
            _close(np.zeros(e.shape) if g is None else g._data, e, f".grad of arg {k}")


GRAD2_CASES = [c for c in DIFF_CASES if c.grad2]


@pytest.mark.parametrize("case", GRAD2_CASES, ids=[c.id for c in GRAD2_CASES])
def test_second_derivative(case):
    rng = np.random.default_rng(1)
    out_shape = _eval(case, case.args).shape
    w = rng.standard_normal(out_shape)
    vs = [rng.standard_normal(case.args[k].shape) for k in _diff(case.args)]

    def gdotv(args):
        with jg.enable_grad():
            _, gs = _first(case, args, w)
        return float(sum((g._data * v).sum() for g, v in zip(gs, vs) if g is not None))

    ts, gs = _first(case, case.args, w, create_graph=True)
    diff = [ts[k] for k in _diff(case.args)]
    s = None
    for g, v in zip(gs, vs):
        if g is not None and g.requires_grad:
            term = (g * jg.tensor(v)).sum()
            s = term if s is None else s + term
    if s is None:
        hv = [np.zeros(t.shape) for t in diff]
    else:
        hs = jg.autograd.grad(s, diff, allow_unused=True)
        hv = [np.zeros(t.shape) if h is None else h._data for t, h in zip(diff, hs)]
    fd = _fd(gdotv, case.args)
    for k, (h, e) in enumerate(zip(hv, fd)):
        _close(h, e, f"second derivative, arg {k}", rtol=1e-4, atol=1e-4)
