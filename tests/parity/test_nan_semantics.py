"""NaN and infinity in the sorting, running and selecting ops, as torch 2.13 computes them
(each expectation below was checked side by side with torch; torch is no dependency here).
The compiled CPU step had its own ``np.sign`` for sign (NaN at NaN, as eager then); both now
compute torch's ``(x > 0) - (x < 0)``.
Broken before: descending sort / topk put NaN last (torch: NaN is the largest value), median
skipped NaN, cummax/cummin let later values replace a NaN, logcumsumexp gave NaN for a whole
slice holding one -inf/inf, mode raised on an all-NaN slice, unique merged the NaNs, and eager
``sign`` gave NaN where the compiled template gave 0 (torch: 0)."""

import time

import numpy as np

import jitgrad as jg

nan, inf = float("nan"), float("inf")


def _eq(t, want):
    np.testing.assert_array_equal(np.asarray(t.tolist(), float), np.asarray(want, float))


def test_descending_sort_and_topk_put_nan_first():
    x = jg.tensor([nan, 1.0, inf, nan, -inf, 1.0])
    s = jg.sort(x, descending=True, stable=True)
    _eq(s.values, [nan, nan, inf, 1.0, 1.0, -inf])
    assert s.indices.tolist() == [0, 3, 2, 1, 5, 4]  # stable among the NaNs and the ties
    assert jg.argsort(x, descending=True).tolist() == [0, 3, 2, 1, 5, 4]
    t = jg.topk(x, 3)
    _eq(t.values, [nan, nan, inf])
    assert t.indices.tolist() == [0, 3, 2]
    t = jg.topk(x, 3, largest=False)  # ascending: NaN last
    _eq(t.values, [-inf, 1.0, 1.0])
    assert t.indices.tolist() == [4, 1, 5]
    # along a dim of a 2-D input, and the gradient reaches the selected elements
    w = jg.tensor([[2.0, nan, 5.0], [1.0, 3.0, 2.0]], requires_grad=True)
    v = jg.sort(w, 1, descending=True).values
    _eq(v, [[nan, 5.0, 2.0], [3.0, 2.0, 1.0]])
    (v * jg.tensor([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]])).nansum().backward()
    _eq(w.grad, [[3.0, 0.0, 2.0], [6.0, 4.0, 5.0]])  # nansum: no gradient through a NaN


def test_median_is_nan_with_a_nan():
    x = jg.tensor([1.0, nan, 3.0, nan, 2.0], requires_grad=True)
    m = jg.median(x)
    assert np.isnan(m.item())
    m.backward()
    _eq(x.grad, [0.0, 0.5, 0.0, 0.5, 0.0])  # spread over the NaNs, as torch
    x = jg.tensor([[1.0, nan, 3.0, nan, 2.0], [4.0, 1.0, 2.0, 3.0, 5.0]], requires_grad=True)
    r = jg.median(x, 1)
    _eq(r.values, [nan, 3.0])
    assert r.indices.tolist() == [1, 3]  # the first NaN
    r.values.sum().backward()
    _eq(x.grad, [[0, 1, 0, 0, 0], [0, 0, 0, 1, 0]])
    k = jg.median(x, 1, keepdim=True)
    assert tuple(k.values.shape) == (2, 1) and k.indices.tolist() == [[1], [3]]
    _eq(jg.nanmedian(x, 1).values, [2.0, 3.0])  # nanmedian still ignores them
    assert jg.median(jg.tensor([3, 1, 2])).item() == 2  # integers: no NaN test


def test_running_max_min_keep_a_nan():
    r = jg.cummax(jg.tensor([nan, 1.0, nan, 2.0]), 0)
    _eq(r.values, [nan] * 4)
    assert r.indices.tolist() == [0, 0, 2, 2]  # the last NaN
    r = jg.cummin(jg.tensor([3.0, nan, 1.0]), 0)
    _eq(r.values, [3.0, nan, nan])
    assert r.indices.tolist() == [0, 1, 1]
    r = jg.cummax(jg.tensor([[1.0, nan, 3.0, 2.0], [4.0, 1.0, 5.0, 5.0]]), 1)
    _eq(r.values, [[1, nan, nan, nan], [4, 4, 5, 5]])
    assert r.indices.tolist() == [[0, 1, 1, 1], [0, 0, 2, 3]]  # ties: the last index


def test_logcumsumexp_with_infinities_and_nan():
    _eq(jg.logcumsumexp(jg.tensor([-inf, -inf]), 0), [-inf, -inf])
    _eq(jg.logcumsumexp(jg.tensor([inf, -inf, nan, 1.0]), 0), [inf, inf, nan, nan])
    _eq(jg.logcumsumexp(jg.tensor([1.0, nan, 3.0]), 0), [1.0, nan, nan])
    got = jg.logcumsumexp(jg.tensor([-inf, 5.0, inf, 0.0]), 0)
    _eq(got, [-inf, 5.0, inf, inf])
    x = np.array([0.5, -1.0, 2.0, 0.25])
    np.testing.assert_allclose(jg.logcumsumexp(jg.tensor(x), 0).numpy(),
                               np.logaddexp.accumulate(x), rtol=1e-12)  # fmt: skip


def test_mode_of_an_all_nan_slice_and_unique_keeps_each_nan():
    r = jg.mode(jg.tensor([[1.0, nan, 3.0, 1.0], [nan, nan, nan, nan], [2.0, nan, 2.0, nan]]))
    _eq(r.values, [1.0, nan, 2.0])
    assert r.indices.tolist()[0] == 3 and 0 <= r.indices.tolist()[1] < 4
    u, inv, cnt = jg.unique(jg.tensor([2.0, nan, 1.0, nan, 2.0]), return_inverse=True,
                            return_counts=True)  # fmt: skip
    _eq(u, [1.0, 2.0, nan, nan])
    assert inv.tolist() == [1, 2, 0, 3, 1] and cnt.tolist() == [1, 2, 1, 1]


def test_sign_of_nan_is_zero_eager_and_traced():
    x = np.array([nan, -0.0, 0.0, -2.5, 3.0, -inf], np.float32)
    _eq(jg.sign(jg.tensor(x)), [0, 0, 0, -1, 1, -1])
    _eq(jg.tensor(x).sgn(), [0, 0, 0, -1, 1, -1])

    def f(t):
        return jg.sign(t) * 2 + jg.sort(t, descending=True).values.nan_to_num(7.0, neginf=-9.0)

    traced = jg.trace(f)  # the default mode: compiled in the background
    deadline = time.monotonic() + 90
    while traced.stats["compiled_calls"] < 3 and time.monotonic() < deadline:
        np.testing.assert_array_equal(traced(jg.tensor(x)).numpy(), f(jg.tensor(x)).numpy())
    assert traced.stats["compiled_calls"] >= 3, traced.explain()
    np.testing.assert_array_equal(traced(jg.tensor(x)).numpy(), [7, 3, 0, -2, -0.5, -11])


def test_traced_maximum_minimum_propagate_a_nan_from_either_side():
    # the compiled template was Python's max(a, b): a NaN in b was dropped (eager: NaN)
    a = np.array([nan, -0.3, 1.0, nan, 2.0], np.float32)
    b = np.array([-0.3, nan, 2.0, nan, -inf], np.float32)

    def f(x, y):
        return jg.maximum(x, y) * 1 + jg.minimum(x, y) * 10 + jg.fmax(x, y) * 100

    traced = jg.trace(f, async_compile=False)
    for _ in range(3):
        got = traced(jg.tensor(a), jg.tensor(b)).numpy()
    assert traced.stats["compiled_calls"] >= 1
    _eq(jg.tensor(got), [nan, nan, 212.0, nan, -inf])
    np.testing.assert_array_equal(got, f(jg.tensor(a), jg.tensor(b)).numpy())
