"""Device helpers that generated CUDA kernels call, and the simulator's ``math`` stand-in.

The rounding helpers exist because ``math.floor``/``ceil``/``trunc`` return integers in
numba (wrong for inf/NaN and huge values once cast back) and NumPy's ``rint`` is not
available on the device; they are written with ``math.fmod`` so the same source runs on a
GPU and on numba's CUDA simulator.
"""

import math

import numpy as np
from numba import cuda

_BIG = 4503599627370496.0  # 2**52: every float at least this large is an integer


@cuda.jit(device=True)
def d_trunc(x):
    if not (abs(x) < _BIG):  # NaN, inf, or already integral
        return x
    return x - math.fmod(x, 1.0)


@cuda.jit(device=True)
def d_floor(x):
    t = d_trunc(x)
    if t > x:
        t -= 1.0
    return t


@cuda.jit(device=True)
def d_ceil(x):
    t = d_trunc(x)
    if t < x:
        t += 1.0
    return t


@cuda.jit(device=True)
def d_rint(x):
    """Round half to even, like ``np.rint``."""
    if not (abs(x) < _BIG):
        return x
    f = d_floor(x)
    d = x - f
    if d > 0.5 or (d == 0.5 and math.fmod(f, 2.0) != 0.0):
        f += 1.0
    return f


class SimMath:
    """``math`` for kernels on the simulator: IEEE results (inf/NaN) where Python's ``math``
    raises (``math.log(0)``, ``math.exp(1000)``), as a GPU would. Only installed when
    simulating; the generated source is the same."""

    exp = staticmethod(np.exp)
    expm1 = staticmethod(np.expm1)
    log = staticmethod(np.log)
    log1p = staticmethod(np.log1p)
    log2 = staticmethod(np.log2)
    log10 = staticmethod(np.log10)
    sqrt = staticmethod(np.sqrt)
    sin = staticmethod(np.sin)
    cos = staticmethod(np.cos)
    tan = staticmethod(np.tan)
    asin = staticmethod(np.arcsin)
    acos = staticmethod(np.arccos)
    atan = staticmethod(np.arctan)
    atan2 = staticmethod(np.arctan2)
    sinh = staticmethod(np.sinh)
    cosh = staticmethod(np.cosh)
    tanh = staticmethod(np.tanh)
    pow = staticmethod(np.power)
    fmod = staticmethod(np.fmod)
    isnan = staticmethod(np.isnan)
    isinf = staticmethod(np.isinf)
    isfinite = staticmethod(np.isfinite)
    inf = math.inf
    nan = math.nan
    pi = math.pi
    e = math.e

    def __getattr__(self, name):
        return getattr(math, name)
