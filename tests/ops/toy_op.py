"""A toy elementwise op added the way every op is: one registration (here, outside
jitgrad/ops/elementwise.py only so that the library does not ship it) plus one op-table row.

softsign(x) = x / (1 + |x|); d/dx = 1 / (1 + |x|)^2. The registration holds the NumPy
implementation (eager and the reference backend), the VJP in jitgrad ops (so the tape, the
tracer and second derivatives share it) and the scalar template both numba backends paste
into their fused loops; ``api`` declares its public surface (the function
``jitgrad.toy_softsign``, the Tensor method and the in-place form). Nothing else in jitgrad
changes.
"""

import numpy as np

from jitgrad.ops.elementwise import _unary

from ..core.optable import Case, away


def _ref(x):
    return x / (1 + np.abs(x))


softsign = _unary(
    "toy_softsign",
    _ref,
    lambda g, out, x: (g / ((x.abs() + 1) * (x.abs() + 1)),),
    "({0} / (1.0 + abs({0})))",
    api={"inplace": True},  # jitgrad.toy_softsign, Tensor.toy_softsign and .toy_softsign_()
)

# the table row: function, NumPy reference, inputs (away from 0: |x| has a kink there)
ROW = Case("toy_softsign", softsign, _ref, [away((2, 3))])
