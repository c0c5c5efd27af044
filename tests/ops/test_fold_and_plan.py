"""Constant folding is IEEE-exact outside fastmath, the memory plan keeps failed steps
atomic, and strided state runs compiled (no silent interpreter)."""

import numpy as np
import pytest

import jitgrad as jg
from jitgrad.compile.passes.memory import plan
from jitgrad.compile.passes.pipeline import optimize

# NaN, infinities and signed zeros: where the inexact identities give the wrong answer
EDGE = np.array([np.nan, np.inf, -np.inf, -0.0, 0.0, 1.5, -2.0])


def _raw(fn, x):
    ts = jg.trace(fn, backend="reference")
    for _ in range(2):
        ts(jg.tensor(x))
    return ts.traced_graph


def _ops(g):
    return [n.op.name for n in g.nodes]


def _bits(a):
    return np.asarray(a, np.float64).view(np.int64)


INEXACT = {
    "x*0": lambda x: x * 0.0,
    "0*x": lambda x: 0.0 * x,
    "x-x": lambda x: x - x,
    "x/x": lambda x: x / x,
    "x+0": lambda x: x + 0.0,
    "0+x": lambda x: 0.0 + x,
    "x-(-0)": lambda x: x - (-0.0),
}


@pytest.mark.parametrize("name", sorted(INEXACT))
def test_inexact_identities_are_kept_without_fastmath(name):
    fn = INEXACT[name]
    g, _ = optimize(_raw(lambda x: fn(x) + x, EDGE), fusion=False)
    assert len(_ops(g)) == 2, f"{name} was folded away: {_ops(g)}"
    ts = jg.trace(fn, parallel=False)
    for _ in range(3):
        got = ts(jg.tensor(EDGE))
    np.testing.assert_array_equal(_bits(got.numpy()), _bits(fn(jg.tensor(EDGE)).numpy()))


def test_fastmath_folds_the_inexact_identities():
    for name in ("x*0", "x-x", "x/x", "x+0"):
        fn = INEXACT[name]
        g, _ = optimize(_raw(lambda x: fn(x) + x, EDGE), fusion=False, fastmath=True)
        assert _ops(g) == ["add"], (name, _ops(g))


EXACT = {
    "x*1": lambda x: x * 1.0,
    "1*x": lambda x: 1.0 * x,
    "x/1": lambda x: x / 1.0,
    "x-0": lambda x: x - 0.0,
    "x+(-0)": lambda x: x + (-0.0),
    "reshape_same": lambda x: x.reshape(7) * 1.0,
}


@pytest.mark.parametrize("name", sorted(EXACT))
def test_exact_identities_fold_and_stay_bit_identical(name):
    fn = EXACT[name]
    g, _ = optimize(_raw(lambda x: fn(x) + x, EDGE), fusion=False)
    assert _ops(g) == ["add"], (name, _ops(g))  # only the outer add is left
    ts = jg.trace(fn, parallel=False)
    for _ in range(3):
        got = ts(jg.tensor(EDGE))
    np.testing.assert_array_equal(_bits(got.numpy()), _bits(fn(jg.tensor(EDGE)).numpy()))


def test_integer_identities_fold():
    xi = np.array([3, -4, 0, 7])
    for fn in (lambda x: x * 0 + x, lambda x: (x - x) + x):
        g, _ = optimize(_raw(fn, xi), fusion=False)
        assert _ops(g) == ["add"], _ops(g)


def test_no_direct_state_write_before_a_node_that_may_raise():
    """The loop producing the new parameter comes before a gather: the plan must not let it
    write the parameter directly (an index error would leave it half-updated)."""
    p = jg.tensor(np.ones((3, 4)), requires_grad=True)
    q = jg.tensor(np.ones((3, 4)))

    def step(i):
        with jg.no_grad():
            p.mul_(0.5)
            q.add_(p.gather(1, i).sum())

    ts = jg.trace(step, backend="reference")
    for _ in range(2):
        ts(jg.tensor(np.array([[0], [1], [2]])))
    g, _ = optimize(ts.traced_graph)
    mp = plan(g)
    assert mp.last_raise >= 0
    p_idx = next(k for k, inp in enumerate(g.inputs) if inp.kind == "state" and inp.ref is p)
    assert p_idx not in mp.direct.values()


def test_strided_state_runs_compiled_and_is_written_back():
    w = jg.tensor(np.arange(6.0).reshape(2, 3), requires_grad=True)
    w._data = np.asfortranarray(w._data)  # a transposed-layout parameter
    assert not w._data.flags.c_contiguous

    def step(x):
        w.grad = None
        (w * x).tanh().sum().backward()
        with jg.no_grad():
            w.sub_(w.grad * 0.1)

    x = jg.tensor(np.linspace(-1, 1, 6).reshape(2, 3))
    w0 = w._data.copy()
    ts = jg.trace(step, parallel=False)
    for _ in range(3):
        ts(x)
    exe = ts.last.exe
    assert exe.name == "cpu" and exe.noncontig_calls == 1 and exe.fallbacks == []
    # eager replay of the same three steps
    e = jg.tensor(w0, requires_grad=True)
    for _ in range(3):
        e.grad = None
        (e * x).tanh().sum().backward()
        with jg.no_grad():
            e.sub_(e.grad * 0.1)
    np.testing.assert_allclose(w._data, e._data, rtol=1e-12)
