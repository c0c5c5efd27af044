"""``add_``/``sub_``/``mul_``/``div_`` with nothing recorded write straight into the tensor
(``ops.inplace.fast_binary``); every case it does not take runs the general path, with the
same results and errors."""

import sys

import numpy as np
import pytest

import jitgrad as jg

ip = sys.modules["jitgrad.ops.inplace"]  # the module (``jitgrad.ops.inplace`` is its function)


def _ref(a, op, b):
    return {"add_": np.add, "sub_": np.subtract, "mul_": np.multiply, "div_": np.true_divide}[op](
        a, b
    )


@pytest.mark.parametrize("op", ["add_", "sub_", "mul_", "div_"])
def test_results_match_the_general_path(op, monkeypatch):
    rng = np.random.default_rng(0)
    a = rng.standard_normal((3, 4)).astype(np.float32)
    others = [
        0.9,
        3,
        jg.tensor(rng.standard_normal((3, 4)).astype(np.float32)),
        jg.tensor(rng.standard_normal(4).astype(np.float32)),  # broadcast
        jg.tensor(rng.standard_normal((3, 4))),  # float64 into float32: the general path
    ]
    taken = []
    real = ip.fast_binary
    monkeypatch.setattr("jitgrad.ops.fast_binary", lambda *x: taken.append(real(*x)) or taken[-1])
    for o in others:
        t = jg.tensor(a.copy())
        v = t._vc[0]
        assert getattr(t, op)(o) is t and t._vc[0] == v + 1
        b = o.numpy() if isinstance(o, jg.Tensor) else o
        want = _ref(a.astype(np.float64), op, b).astype(np.float32)
        if not (isinstance(o, jg.Tensor) and o.dtype == jg.float64):
            want = _ref(a, op, b if isinstance(o, jg.Tensor) else np.float32(b))
        np.testing.assert_array_equal(t.numpy(), want)
        assert t.dtype == jg.float32
    assert taken == [True, True, True, True, False]


def test_views_overlap_and_errors_are_unchanged():
    base = jg.zeros(2, 3)
    base[0].add_(2.0)  # through a view
    np.testing.assert_array_equal(base.numpy(), [[2, 2, 2], [0, 0, 0]])
    t = jg.arange(5.0)
    t[1:].add_(t[:-1])  # overlapping operands: as if the right side were copied first
    np.testing.assert_array_equal(t.numpy(), [0, 1, 3, 5, 7])
    with pytest.raises(RuntimeError, match="expanded"):
        jg.zeros(3).expand(2, 3).add_(1.0)
    with pytest.raises(RuntimeError, match="can't be cast"):
        jg.tensor([1, 2]).div_(2)
    w = jg.ones(3, requires_grad=True)
    with pytest.raises(RuntimeError, match="leaf Variable"):
        w.mul_(2.0)
    with jg.no_grad():
        w.mul_(2.0)
    np.testing.assert_array_equal(w.detach().numpy(), [2, 2, 2])
    x = jg.ones(3, requires_grad=True)
    y = x * 2
    z = y.exp()  # saves its output
    with pytest.raises(RuntimeError, match="modified by an inplace"):
        z.add_(1.0)
        z.sum().backward()
