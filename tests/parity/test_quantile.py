"""quantile / nanquantile against NumPy's (whose ``method=`` agrees with torch's
``interpolation=`` on NaN inputs: checked side by side with torch 2.13 on 3,000 random cases),
their gradients by finite differences, and a traced step against eager when NaN appears only
after the capture. Broken before: ``quantile`` of a slice holding a NaN returned a number
(torch: NaN), ``nanquantile`` raised NotImplementedError on any NaN (from a check of the
values, so a traced step captured without NaN silently computed something else)."""

import time
import warnings

import numpy as np
import pytest

import jitgrad as jg
from jitgrad.autograd import gradcheck

MODES = ["linear", "lower", "higher", "nearest", "midpoint"]


def _data(seed, shape=(3, 7), nan=0.3):
    r = np.random.default_rng(seed)
    x = r.standard_normal(shape)
    x[r.random(shape) < nan] = np.nan
    x[1] = np.nan  # an all-NaN row
    x[2, :] = np.linspace(-1, 1, shape[1])  # a row without NaN
    return x


def _np(fn, x, q, dim, keepdim, mode):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # NumPy's all-NaN slice warning
        return getattr(np, fn)(x, q, axis=dim, keepdims=keepdim, method=mode)


@pytest.mark.parametrize("fn", ["quantile", "nanquantile"])
@pytest.mark.parametrize("mode", MODES)
def test_values_match_numpy_with_nan(fn, mode):
    for seed in range(3):
        x = _data(seed)
        for q in (0.0, 0.5, 1.0, 0.37, [0.1, 0.5, 0.9]):
            for dim in (None, 0, 1, -1):
                for keepdim in (False, True):
                    for dt in (jg.float64, jg.float32):
                        jq = jg.tensor(q, dtype=dt) if isinstance(q, list) else q
                        got = getattr(jg, fn)(jg.tensor(x, dtype=dt), jq, dim=dim,
                                              keepdim=keepdim, interpolation=mode)  # fmt: skip
                        ref = _np(fn, x, np.array(q), dim, keepdim, mode)
                        assert tuple(got.shape) == ref.shape, (fn, q, dim, keepdim)
                        assert got.dtype == dt
                        msg = f"{fn} q={q} dim={dim} {mode}"
                        np.testing.assert_allclose(got.numpy(), ref, 1e-6, 1e-6, err_msg=msg)


def test_nan_rules():
    nan = float("nan")
    x = jg.tensor([[1.0, nan, 3.0, 2.0], [nan, nan, nan, nan], [4.0, 1.0, 2.0, 3.0]])
    q = jg.quantile(x, 0.5, dim=1).tolist()
    assert np.isnan(q[0]) and np.isnan(q[1]) and q[2] == 2.5  # a NaN in the slice: NaN
    nq = jg.nanquantile(x, 0.5, dim=1).tolist()
    assert nq[0] == 2.0 and np.isnan(nq[1]) and nq[2] == 2.5  # NaN ignored; none left: NaN
    # nearest rounds a half position to even, over the slice's non-NaN count
    rows = ([1.0, nan, 2.5, 7.0], [1.0, 2.0, nan], [1.0, 2.0, 3.0, 4.0, nan])
    near = [jg.nanquantile(jg.tensor(v), 0.5, interpolation="nearest").item() for v in rows]
    assert near == [2.5, 1.0, 3.0]


@pytest.mark.parametrize("fn", ["quantile", "nanquantile"])
def test_gradients_by_finite_differences(fn):
    r = np.random.default_rng(5)
    x = r.permutation(24).reshape(4, 6) / 7.0 + 0.01 * r.standard_normal((4, 6))  # no ties
    if fn == "nanquantile":
        x[0, 2] = x[3, 0] = x[3, 5] = np.nan  # no all-NaN slice: its output is NaN
    xt = jg.tensor(x, requires_grad=True)
    for mode in ("linear", "midpoint", "lower"):
        for dim, q in ((1, [0.2, 0.5, 0.85]), (0, 0.4), (None, 0.7)):

            def f(t, dim=dim, q=q, mode=mode):
                return getattr(jg, fn)(t, q, dim=dim, interpolation=mode)

            assert gradcheck(f, (xt,), eps=1e-6, atol=1e-6)
    # the gradient of one quantile reaches exactly the two values it interpolates
    y = getattr(jg, fn)(xt, 0.4, dim=1)
    y[1].backward()
    row = x[1]
    s = np.sort(row[~np.isnan(row)])
    pos = 0.4 * (s.size - 1)
    lo, hi = int(np.floor(pos)), int(np.ceil(pos))
    want = np.zeros_like(row)
    want[row == s[lo]] += 1 - (pos - lo)
    want[row == s[hi]] += pos - lo
    np.testing.assert_allclose(xt.grad.numpy()[1], want, atol=1e-12)
    assert not xt.grad.numpy()[[0, 2, 3]].any()


def test_traced_step_matches_eager_when_nan_appears_after_capture():
    def f(x):
        return jg.nanquantile(x, 0.25, dim=1) + jg.quantile(x, 0.75, dim=1).nan_to_num(-9.0)

    traced = jg.trace(f)  # the default: compiled in the background, eager meanwhile
    clean = _data(7, nan=0.0)
    clean[1] = np.arange(7.0)
    inputs = [clean, clean * 2, _data(8), _data(9), clean, _data(10)]
    deadline, k = time.monotonic() + 90, 0
    while traced.stats["compiled_calls"] < 2 * len(inputs) and time.monotonic() < deadline:
        x = inputs[k % len(inputs)]
        got, ref = traced(jg.tensor(x)).numpy(), f(jg.tensor(x)).numpy()
        np.testing.assert_array_equal(got, ref, err_msg=f"call {k}")
        k += 1
    assert traced.stats["compiled_calls"] >= 2 * len(inputs), traced.explain()
    assert traced.stats["captures"] == 1  # one graph serves inputs with and without NaN
    assert np.isnan(f(jg.tensor(_data(8))).numpy()[1])  # the all-NaN row


@pytest.mark.parametrize(
    "call, words",
    [
        (lambda: jg.quantile(jg.tensor([1.0, 2.0]), 0.5, interpolation="foo"),
         ["quantile()", "interpolation", "linear, lower, higher, midpoint or nearest", "foo"]),
        (lambda: jg.nanquantile(jg.ones(2, 0), 0.5, dim=0), ["nanquantile()", "non-empty"]),
        (lambda: jg.quantile(jg.tensor([1.0, 2.0]), 1.5), ["quantile()", "[0, 1]", "1.5"]),
        (lambda: jg.nanquantile(jg.tensor([1, 2]), 0.5), ["nanquantile()", "int64", ".float()"]),
    ],
)  # fmt: skip
def test_errors_name_the_op_and_the_fix(call, words):
    with pytest.raises(RuntimeError) as e:
        call()
    for w in words:
        assert w in str(e.value)
