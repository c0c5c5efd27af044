"""Non-finite scalar exponents reach generated code as NumPy names, not ``inf``/``nan``."""

import math

import numpy as np

import jitgrad as jg


def test_non_finite_scalar_exponents_compile_and_match_eager():
    x = jg.tensor(np.array([0.0, 0.5, 1.0, 2.0, -3.0]))

    def f(x):
        return jg.stack([x**math.inf, x**-math.inf, x**math.nan, x**2.5])

    want = f(x).numpy()
    ts = jg.trace(f)
    for _ in range(3):
        got = ts(x).numpy()
    assert ts.stats["compiled_calls"] >= 1
    np.testing.assert_array_equal(got, want)
