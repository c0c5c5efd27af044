"""The branch-free ``np.where(mask, x, 0)`` behind ReLU's eager gradient: bit for bit."""

import numpy as np
import pytest

import jitgrad as jg
from jitgrad.ops._common import select_or_zero

SPECIAL = [np.nan, np.inf, -np.inf, -0.0, 0.0, 1e-310, -1e-40, 3.5, -2.0]


@pytest.mark.parametrize("dtype", [np.float16, np.float32, np.float64])
def test_select_or_zero_is_np_where_bit_for_bit(dtype):
    rng = np.random.default_rng(0)
    x = np.concatenate([rng.standard_normal(207), SPECIAL * 4]).astype(dtype)
    mask = rng.random(x.size) > 0.5
    want = np.where(mask, x, dtype(0))
    got = select_or_zero(mask, x)
    assert got.dtype == dtype and got.shape == x.shape
    it = {2: np.int16, 4: np.int32, 8: np.int64}[np.dtype(dtype).itemsize]
    assert np.array_equal(got.view(it), want.view(it))  # +0.0 (not -0.0) where masked off
    xs = x.reshape(9, -1)[:, ::2]  # a strided view
    ms = mask.reshape(9, -1)[:, ::2]
    assert np.array_equal(select_or_zero(ms, xs).view(it), np.where(ms, xs, dtype(0)).view(it))
    # another shape or a non-float input: np.where's own answer
    assert np.array_equal(select_or_zero(mask[:1], x), np.where(mask[:1], x, dtype(0)))
    assert np.array_equal(
        select_or_zero(mask, x.astype(np.int32)), np.where(mask, x.astype(np.int32), 0)
    )


def test_relu_gradient_is_zero_where_the_output_is_not_positive():
    x = jg.tensor([-1.0, 0.0, 2.0, 3.0, -5.0], requires_grad=True)
    x.relu().backward(jg.tensor([np.nan, np.inf, -0.0, 4.0, -1.0]))
    g = x.grad.numpy()
    assert np.array_equal(g, [0.0, 0.0, -0.0, 4.0, 0.0]) and not np.signbit(g[[0, 1, 4]]).any()
    assert np.signbit(g[2])  # the incoming -0.0 passes through where the output is positive
