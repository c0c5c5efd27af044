"""nn.init distributions and nn.utils gradient clipping."""

import math

import numpy as np
import pytest

import jitgrad as jg
from jitgrad import nn
from jitgrad.nn import init


def test_fans_and_gain():
    assert init._calculate_fan_in_and_fan_out(jg.empty(16, 8, 3, 3)) == (72, 144)
    assert init._calculate_fan_in_and_fan_out(jg.empty(5, 7)) == (7, 5)
    with pytest.raises(ValueError, match="fewer than 2 dimensions"):
        init._calculate_fan_in_and_fan_out(jg.empty(3))
    assert init.calculate_gain("relu") == math.sqrt(2)
    assert init.calculate_gain("tanh") == 5 / 3
    assert init.calculate_gain("leaky_relu", math.sqrt(5)) == math.sqrt(2 / 6)
    with pytest.raises(ValueError, match="Unsupported nonlinearity"):
        init.calculate_gain("swish")


def _stats(t):
    a = t.detach().numpy()
    return a.min(), a.max(), a.mean(), a.std()


def test_distributions():
    jg.manual_seed(0)
    w = jg.empty(400, 300)
    lo, hi, mu, sd = _stats(init.uniform_(w, -2, 3))
    assert -2 <= lo and hi < 3 and abs(mu - 0.5) < 0.02
    lo, hi, mu, sd = _stats(init.normal_(w, 1.0, 0.5))
    assert abs(mu - 1) < 0.01 and abs(sd - 0.5) < 0.01
    b = math.sqrt(6 / 700)
    lo, hi, mu, sd = _stats(init.xavier_uniform_(w))
    assert -b <= lo and hi <= b and abs(sd - b / math.sqrt(3)) < 0.002
    _, _, _, sd = _stats(init.xavier_normal_(w, gain=2.0))
    assert abs(sd - 2 * math.sqrt(2 / 700)) < 0.002
    _, _, _, sd = _stats(init.kaiming_normal_(w, mode="fan_out", nonlinearity="relu"))
    assert abs(sd - math.sqrt(2 / 400)) < 0.002
    lo, hi, _, sd = _stats(init.kaiming_uniform_(w, a=0, nonlinearity="relu"))
    bound = math.sqrt(6 / 300)
    assert -bound <= lo and hi <= bound and abs(sd - bound / math.sqrt(3)) < 0.002
    lo, hi, mu, sd = _stats(init.trunc_normal_(w, 0.0, 1.0, -1.0, 2.0))
    assert -1 <= lo and hi <= 2 and 0.1 < mu < 0.3
    assert init.constant_(w, 3.5).numpy().min() == 3.5
    assert not init.zeros_(w).numpy().any() and init.ones_(w).numpy().min() == 1
    assert init.eye_(jg.empty(2, 3)).tolist() == [[1, 0, 0], [0, 1, 0]]


def test_init_on_parameters_is_untracked_and_reproducible():
    jg.manual_seed(7)
    a = nn.Linear(4, 3).weight.detach().numpy().copy()
    jg.manual_seed(7)
    lin = nn.Linear(4, 3)
    np.testing.assert_array_equal(lin.weight.detach().numpy(), a)
    assert lin.weight.is_leaf and lin.weight.grad_fn is None
    init.normal_(lin.weight)  # in place on a leaf requiring grad: allowed (no_grad inside)
    assert lin.weight.is_leaf and lin.weight.requires_grad
    assert nn.BatchNorm2d(3).weight.tolist() == [1, 1, 1]
    jg.manual_seed(1)
    e = nn.Embedding(1000, 20).weight.detach().numpy()
    assert abs(e.std() - 1) < 0.02


def test_clip_grad_norm_and_value():
    p1 = nn.Parameter(jg.tensor([3.0, 0.0]))
    p2 = nn.Parameter(jg.tensor([[0.0, 4.0]]))
    p3 = nn.Parameter(jg.tensor([1.0]))  # no grad: skipped
    p1.grad = jg.tensor([3.0, 0.0])
    p2.grad = jg.tensor([[0.0, 4.0]])
    total = nn.utils.clip_grad_norm_([p1, p2, p3], max_norm=1.0)
    assert abs(total.item() - 5.0) < 1e-6
    np.testing.assert_allclose(p1.grad.numpy(), [0.6, 0.0], rtol=1e-5)
    np.testing.assert_allclose(p2.grad.numpy(), [[0.0, 0.8]], rtol=1e-5)
    total = nn.utils.clip_grad_norm_([p1, p2], max_norm=10.0)  # below the limit: unchanged
    np.testing.assert_allclose(p1.grad.numpy(), [0.6, 0.0], rtol=1e-5)
    total = nn.utils.clip_grad_norm_(p2, 0.4, norm_type="inf")
    assert abs(total.item() - 0.8) < 1e-6
    np.testing.assert_allclose(p2.grad.numpy(), [[0.0, 0.4]], rtol=1e-5)
    p1.grad = jg.tensor([-5.0, 0.3])
    nn.utils.clip_grad_value_([p1], 1.0)
    assert p1.grad.tolist() == pytest.approx([-1.0, 0.3])
    p1.grad = jg.tensor([float("nan"), 1.0])
    with pytest.raises(RuntimeError, match="non-finite"):
        nn.utils.clip_grad_norm_([p1], 1.0, error_if_nonfinite=True)


def test_parameters_to_vector_round_trip():
    net = nn.Sequential(nn.Linear(2, 3), nn.Linear(3, 1))
    v = nn.utils.parameters_to_vector(net.parameters())
    assert tuple(v.shape) == (13,)
    nn.utils.vector_to_parameters(jg.arange(13.0), net.parameters())
    assert net[0].weight.tolist() == [[0, 1], [2, 3], [4, 5]] and net[1].bias.tolist() == [12]
