"""check_finite, check=True, fallback warnings and failed-step atomicity behave the same on
the CPU backend and on the CUDA backend (simulator): one test body, both devices."""

import re
import warnings

import numpy as np
import pytest

import jitgrad as jg
from jitgrad.compile.backends import cpu, cuda
from jitgrad.compile.trace import NonFiniteError, TraceCheckError
from jitgrad.ops.registry import PRIMITIVES

DEVICES = ["cpu", "cuda"]


def _sgd(device, x0, calls=3, **kw):
    w = jg.tensor(np.linspace(0.5, 1.5, 6).reshape(2, 3), requires_grad=True)

    def step(x):
        w.grad = None
        loss = (w * x).log().sum()  # NaN where w * x < 0
        loss.backward()
        with jg.no_grad():
            w.sub_(w.grad * 0.01)
        return loss.detach()

    ts = jg.trace(step, device=device, **kw)
    for _ in range(calls):
        ts(jg.tensor(x0))
    return w, ts


@pytest.mark.parametrize("device", DEVICES)
def test_check_finite_raises_and_updates_nothing(device):
    w, ts = _sgd(device, np.ones((2, 3)), check_finite=True)
    assert ts.stats["compiled_calls"] == 1
    before = w._data.copy()
    bad = np.ones((2, 3))
    bad[1, 2] = -1.0
    with pytest.raises(NonFiniteError, match="log produced non-finite values"):
        ts(jg.tensor(bad))
    np.testing.assert_array_equal(w._data, before)
    # and a good call after the failed one still updates from the right (host) values
    ts(jg.tensor(np.ones((2, 3))))
    expect = before - 0.01 / before
    np.testing.assert_allclose(w._data, expect, rtol=1e-12)


@pytest.mark.parametrize("device", DEVICES)
def test_check_true_passes_then_catches_a_wrong_template(device, monkeypatch):
    w, ts = _sgd(device, np.ones((2, 3)), check=True)
    ts(jg.tensor(np.ones((2, 3))))  # right kernels: no error
    table = (cpu.CPU if device == "cpu" else cuda.CUDA).scalar
    monkeypatch.setitem(table, PRIMITIVES["log"], "(math.log({0}) * 1.001)")
    w2, ts2 = _sgd(device, np.ones((2, 3)) * 2, calls=2, check=True, cache=False)
    with pytest.raises(TraceCheckError, match="differs between compiled and eager"):
        ts2(jg.tensor(np.ones((2, 3)) * 2))


@pytest.mark.parametrize("device", DEVICES)
def test_fallback_warns_once_naming_op_and_reason(device):
    x0 = np.linspace(0.1, 1.0, 6).reshape(2, 3)
    with warnings.catch_warnings(record=True) as rec:
        warnings.simplefilter("always")
        ts = jg.trace(lambda x: x.cumsum(1) * 2.0, device=device)
        for _ in range(4):
            out = ts(jg.tensor(x0))
    msgs = [str(r.message) for r in rec if "slower path" in str(r.message)]
    assert len(msgs) == 1, msgs
    assert re.search(rf"device='{device}'\): 1 op\(s\) .*cumsum: no {device} lowering", msgs[0])
    assert ts.last.exe.fallbacks == [f"cumsum: no {device} lowering"]
    assert ts.last.exe.objmode_ops == ["cumsum"]
    np.testing.assert_allclose(out.numpy(), np.cumsum(x0, 1) * 2.0)


@pytest.mark.parametrize("device", DEVICES)
def test_failed_step_leaves_state_and_next_call_is_right(device):
    p = jg.tensor(np.linspace(-1, 1, 12).reshape(3, 4), requires_grad=True)

    def step(i):
        p.grad = None
        p.gather(1, i).sum().backward()
        with jg.no_grad():
            p.sub_(p.grad * 0.5)

    ts = jg.trace(step, device=device)
    good = jg.tensor(np.array([[0], [1], [2]]))
    for _ in range(3):
        ts(good)
    snap = p._data.copy()
    with pytest.raises(RuntimeError, match="gather.*index 9 is out of bounds"):
        ts(jg.tensor(np.array([[0], [9], [2]])))
    np.testing.assert_array_equal(p._data, snap)
    ts(good)
    expect = snap.copy()
    expect[[0, 1, 2], [0, 1, 2]] -= 0.5
    np.testing.assert_allclose(p._data, expect)


def test_value_check_raises_before_the_state_is_copied_back():
    """``ops.reduce.require`` on the device: BCE's input-range check reads its flag on the
    host and raises before any state is copied back; a good call after it goes on."""
    w = jg.tensor(np.full(4, 0.5), requires_grad=True)
    target = jg.tensor(np.full(4, 0.25))

    def step(s):
        w.grad = None
        loss = jg.nn.functional.binary_cross_entropy(w * s, target)
        loss.backward()
        with jg.no_grad():
            w.sub_(w.grad * 0.01)
        return loss.detach()

    ts = jg.trace(step, device="cuda")
    good = jg.tensor(np.ones(4))
    for _ in range(3):
        ts(good)
    assert ts.stats["compiled_calls"] == 1
    assert not [f for f in ts.last.exe.fallbacks if f.startswith("check")]
    before = w._data.copy()
    with pytest.raises(RuntimeError, match="all elements of input should be between 0 and 1"):
        ts(jg.tensor(np.array([1.0, 1.0, 3.0, 1.0])))
    np.testing.assert_array_equal(w._data, before)
    ts(good)
    assert ts.stats["compiled_calls"] == 3
    assert not np.array_equal(w._data, before)
