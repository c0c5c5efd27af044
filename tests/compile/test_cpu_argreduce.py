"""argmax/argmin/any/all and sums of bool/int32 compile natively on the CPU backend (an
accuracy line in a training step used to run in object mode): values, dtypes and shapes
equal eager, ties and NaN as torch (first occurrence; the first NaN wins), no fallback."""

import numpy as np

import jitgrad as jg


def _step(x, y, m, k):
    a = x.argmax(1)
    return (
        (a == y).float().mean(),
        a,
        x.argmin(0, keepdim=True),
        x.argmax(),
        (x > 0).any(1),
        (x > -5).all(),
        m.any(0),
        m.all(1, keepdim=True),
        x.isnan().any(),
        k.argmax(-1),
        k.argmin(0),
        x.permute(1, 0).argmax(0),
        (a == y).sum(),  # bool and int32 sums: native, counted exactly
        k.sum(1),
    )


def test_arg_and_any_all_reductions_compile_and_match_eager():
    x = np.array(
        [[1.0, 3.0, 3.0], [np.nan, 2.0, np.nan], [-1.0, -7.0, 0.5], [2.0, 2.0, -np.inf]],
        dtype=np.float32,
    )
    args = (
        jg.tensor(x),
        jg.tensor([1, 0, 2, 0]),
        jg.tensor([[True, False, True], [False, False, True]]),
        jg.tensor(np.array([[5, -2, 5], [0, 9, 9]], dtype=np.int32)),
    )
    ts = jg.trace(_step, backend="cpu")
    for _ in range(3):
        got = ts(*args)
    assert ts.stats["compiled_calls"] >= 1
    assert ts.last.exe.fallbacks == []
    for g, w in zip(got, _step(*args)):
        assert g.dtype == w.dtype and g.shape == w.shape, (g, w)
        np.testing.assert_array_equal(g.numpy(), w.numpy())
