"""Anomaly detection (eager backward) and ``check_finite`` (compiled steps)."""

import threading

import numpy as np
import pytest

import jitgrad as torch
import jitgrad.nn as nn
from jitgrad.autograd import detect_anomaly, is_anomaly_enabled, set_detect_anomaly

from ._util import State


def _nonfinite_backward():
    # sqrt(sqrt(x)) at x = 0: the outer VJP sends inf into the inner SqrtBackward0
    x = torch.tensor([0.0, 1.0], requires_grad=True)
    y = x.sqrt().sqrt().sum()
    return x, y


def test_backward_raises_at_nonfinite_gradient():
    x, y = _nonfinite_backward()
    with detect_anomaly():
        assert is_anomaly_enabled()
        with pytest.raises(RuntimeError, match=r"SqrtBackward0.*(NaN|nan|inf)") as ei:
            y.backward()
    assert not is_anomaly_enabled()
    assert "non-finite" in str(ei.value)
    assert x.grad is None  # raised before anything reached the leaf


def test_without_anomaly_mode_backward_completes():
    x, y = _nonfinite_backward()
    y.backward()
    assert np.isinf(x.grad.numpy()[0]) and np.isfinite(x.grad.numpy()[1])


def test_set_detect_anomaly_and_nesting():
    set_detect_anomaly(True)
    try:
        assert is_anomaly_enabled()
        with detect_anomaly(check_nan=False):
            assert not is_anomaly_enabled()
        assert is_anomaly_enabled()
        x, y = _nonfinite_backward()
        with pytest.raises(RuntimeError, match="SqrtBackward0"):
            y.backward()
    finally:
        set_detect_anomaly(False)
    assert not is_anomaly_enabled()


def test_anomaly_mode_is_thread_local():
    seen = []
    with detect_anomaly():
        t = threading.Thread(target=lambda: seen.append(is_anomaly_enabled()))
        t.start()
        t.join()
        assert is_anomaly_enabled()
    assert seen == [False]


def test_anomaly_catches_nan_flowing_into_a_leaf():
    # torch: "Function 'SqrtBackward0' returned nan values in its 0th output."
    x = torch.tensor([-1.0, 1.0], requires_grad=True)
    with detect_anomaly():
        with pytest.raises(RuntimeError, match="SqrtBackward0"):
            x.sqrt().sum().backward()


def test_anomaly_names_where_the_op_was_created():
    x = torch.tensor([0.0, 1.0], requires_grad=True)
    with detect_anomaly():
        y = x.sqrt().sqrt().sum()  # the line the error must point at
        with pytest.raises(RuntimeError) as ei:
            y.backward()
    assert "test_anomaly.py" in str(ei.value)


def test_check_finite_compiled():
    """check_finite=True: a compiled call producing NaN/inf raises RuntimeError naming the op
    (``log``) and updates nothing; finite calls give the same numbers as without the check."""
    torch.manual_seed(0)
    m = nn.Linear(3, 1)
    opt = torch.optim.SGD(m.parameters(), lr=0.01, momentum=0.9)

    def step(x):
        opt.zero_grad()
        loss = m(x).log().sum()
        loss.backward()
        opt.step()
        return loss.detach()

    with torch.no_grad():
        m.weight.fill_(0.5)
        m.bias.fill_(0.5)
    traced = torch.trace(step, check_finite=True)
    x = torch.ones(2, 3)
    for _ in range(4):
        assert np.isfinite(traced(x).item())
    assert traced.stats["compiled_calls"] >= 2
    state = State(list(m.parameters()), [opt])
    before = state.save()
    with pytest.raises(RuntimeError, match="log") as ei:
        traced(-x)  # log of a negative number: NaN
    assert "finite" in str(ei.value) or "nan" in str(ei.value).lower()
    assert state.same(before)
    assert np.isfinite(traced(x).item())
