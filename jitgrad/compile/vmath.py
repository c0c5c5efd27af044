"""Vectorisable math for fused loops: branch-free exp, log, tanh, sigmoid, erf, GELU, softplus, pow.

numba has no SVML with the PyPI llvmlite, so ``math.exp``/``math.tanh`` inside a generated
``@njit`` loop are scalar libm calls and the loop does not vectorise (PERF-NOTES section 5).
The functions here are plain arithmetic (polynomials after range reduction, integer bit
tricks for the exponent, selects instead of branches) that LLVM inlines and vectorises.
Each dispatches on its argument type: float32 in, float32 out (computed in float32 - log,
tanh, erf, sigmoid - or in float64 with one final rounding where that is what reaches the accuracy:
exp, exp2, log1p, softplus, GELU, pow), float64 in float64, integers as float64.
They run inside ``@njit`` code and from Python (scalars). ``vectorise_template`` rewrites
the scalar templates of ``jitgrad/ops/elementwise.py`` to call them; with ``fastmath=False``
templates keep libm.

Accuracy (measured by tests/compile/test_vmath.py, which holds the table): float32 exp, exp2,
log, log1p, tanh, softplus, gelu_tanh within 1.3 ulp, sigmoid 1.45 ulp (target 2), erf 2.5 ulp
(target 4), pow 0.5 ulp; float64 within 5e-16 relative (target 1e-15; pow float64 is libm's ``pow``,
not approximated). Special values (+-0, +-inf, NaN, denormal inputs and results, the
overflow and underflow boundaries) follow C99/NumPy. The implementations are compiled with
``fastmath={"contract"}`` (FMA contraction only; float64 GELU-tanh without it) and LLVM
``alwaysinline``: the caller's flags do not reach the inlined instructions, so results do not
depend on the loop's ``fastmath`` setting.

Sources: exp and log follow the range reductions of Cephes ``expf`` and fdlibm/musl
``exp``/``logf``/``log`` (their coefficients); the tanh and erf polynomials were fitted for
this module (weighted least squares at Chebyshev nodes, mpmath at 50 digits; erfc as
``exp(G(a) - a*a)`` with ``G`` a Chebyshev series).
"""

import math
import re

import numba
import numpy as np
from llvmlite import ir
from numba import types
from numba.extending import intrinsic, overload

__all__ = [
    "exp",
    "exp2",
    "log",
    "log1p",
    "tanh",
    "sigmoid",
    "erf",
    "softplus",
    "gelu_tanh",
    "gelu_tanh_grad",
    "gelu_erf",
    "gelu_erf_grad",
    "pow",
    "vectorise_template",
    "enabled",
    "IMPORT_LINE",
    "SOURCE_TAG",
]

# IEEE semantics (NaN/inf/-0 exact, no reassociation that would break the range reduction)
# but for ``contract``: a multiply and an add may fuse into one FMA (one rounding instead of
# two; the GELU-tanh chain's fused loop ran 1.3x faster). No division checks; cached on disk
# like the generated kernels. The flags must be explicit: numba otherwise inherits the
# caller's, and ``reassoc`` folds the ``(x + M) - M`` rounding of the range reduction to ``x``.
_OPTS = dict(error_model="numpy", fastmath={"contract"})
_jit = numba.njit(cache=True, forceinline=True, **_OPTS)  # LLVM alwaysinline: loops vectorise
# no FMA: float64 GELU-tanh's ``u`` rounds as NumPy's and PyTorch's formula rounds it; its error
# is amplified 2|u| times in sigmoid(2u) for x < 0 (x = -20: 1e-13 relative apart with FMA)
_jit_strict = numba.njit(cache=True, forceinline=True, error_model="numpy", fastmath=False)
_f = np.float32


# ---------------------------------------------------------------- bit casts -------------
@intrinsic
def _bits(typingctx, x):
    """The IEEE bit pattern of a float as a signed integer of the same width."""
    rt = {types.float32: types.int32, types.float64: types.int64}.get(x)
    if rt is None:
        return None

    def codegen(context, builder, sig, args):
        return builder.bitcast(args[0], context.get_value_type(rt))

    return rt(x), codegen


def _from_bits(width):
    ft = types.float32 if width == 32 else types.float64

    @intrinsic
    def cast(typingctx, i):
        if not isinstance(i, types.Integer):
            return None

        def codegen(context, builder, sig, args):
            v = args[0]
            ity = ir.IntType(width)
            if i.bitwidth > width:
                v = builder.trunc(v, ity)
            elif i.bitwidth < width:
                v = builder.sext(v, ity)
            return builder.bitcast(v, context.get_value_type(ft))

        return ft(i), codegen

    return cast


_f32_bits = _from_bits(32)  # int -> float32 with those bits (low 32 bits of the integer)
_f64_bits = _from_bits(64)


# ---------------------------------------------------------------- exp, exp2 -------------
_MAGIC32 = 12582912.0  # 1.5 * 2**23: x + M rounds x to an integer, held in the low bits
_MAGIC32_BITS = 0x4B400000
_MAGIC64 = 6755399441055744.0  # 1.5 * 2**52
_MAGIC64_BITS = 0x4338000000000000


@_jit
def _scale64(y, k):
    """``y * 2**k`` for integer ``k`` in [-1077, 1025]."""
    k1 = k >> 1
    k2 = k - k1
    return (y * _f64_bits((k1 + 1023) << 52)) * _f64_bits((k2 + 1023) << 52)


@_jit
def _exp_poly(r):
    """``e**r`` for ``|r| <= ln(2)/2`` to 2e-10 relative (Taylor, degree 8), float64."""
    p = r * (1.0 / 40320.0) + 1.0 / 5040.0
    p = p * r + 1.0 / 720.0
    p = p * r + 1.0 / 120.0
    p = p * r + 1.0 / 24.0
    p = p * r + 1.0 / 6.0
    p = p * r + 0.5
    return 1.0 + (r + (r * r) * p)


@_jit
def _exp32d(xd):
    """e**x for a float32 argument held in float64, result in float64 (to 2e-10 relative)."""
    xc = xd if xd < 89.0 else 89.0  # NaN -> 89, restored at the end
    xc = xc if xc > -104.0 else -104.0
    t = xc * 1.4426950408889634 + _MAGIC64
    n = t - _MAGIC64
    k = _bits(t) - _MAGIC64_BITS
    y = _exp_poly(xc - n * 0.6931471805599453) * _f64_bits((k + 1023) << 52)
    return y if xd == xd else xd


@_jit
def _exp32(x):
    """e**x, float32: reduced and evaluated in float64, then rounded once (<= 0.5 ulp + 2e-10)."""
    return np.float32(_exp32d(np.float64(x)))


@_jit
def _scale32(y, k):
    """``y * 2**k`` for integer ``k`` in [-151, 129]: two exact steps, one final rounding."""
    k1 = k >> 1
    k2 = k - k1
    return (y * _f32_bits((k1 + 127) << 23)) * _f32_bits((k2 + 127) << 23)


@_jit
def _exp32f(x):
    """e**x all in float32 (Cephes expf reduction and coefficients, <= 1 ulp): 8 lanes per
    256-bit vector where ``_exp32`` has 4; tanh uses it (its error is damped there)."""
    xc = x if x < _f(89.0) else _f(89.0)
    xc = xc if xc > _f(-104.0) else _f(-104.0)
    t = xc * _f(1.4426950408889634) + _f(_MAGIC32)
    n = t - _f(_MAGIC32)
    k = _bits(t) - _MAGIC32_BITS
    r = (xc - n * _f(0.693359375)) - n * _f(-2.12194440e-4)
    p = _f(1.9875691500e-4) * r + _f(1.3981999507e-3)
    p = p * r + _f(8.3334519073e-3)
    p = p * r + _f(4.1665795894e-2)
    p = p * r + _f(1.6666665459e-1)
    p = p * r + _f(5.0000001201e-1)
    y = _scale32(_f(1.0) + (r + (r * r) * p), k)
    return y if x == x else x


@_jit
def _exp2_32(x):
    """2**x, float32, like ``_exp32``."""
    xd = np.float64(x)
    xd = xd if xd < 129.0 else 129.0
    xd = xd if xd > -151.0 else -151.0
    t = xd + _MAGIC64
    n = t - _MAGIC64
    k = _bits(t) - _MAGIC64_BITS
    y = np.float32(_exp_poly((xd - n) * 0.6931471805599453) * _f64_bits((k + 1023) << 52))
    return y if x == x else x


@_jit
def _exp_kernel64(r, hi, lo):
    """``e**r`` with ``r = hi - lo`` and ``|r| <= ln(2)/2`` (fdlibm e_exp.c), float64."""
    rr = r * r
    c = rr * 4.13813679705723846039e-08 + -1.65339022054652515390e-06
    c = c * rr + 6.61375632143793436117e-05
    c = c * rr + -2.77777777770155933842e-03
    c = c * rr + 1.66666666666666019037e-01
    c = r - rr * c
    return 1.0 - ((lo - (r * c) / (2.0 - c)) - hi)


@_jit
def _exp64(x):
    """e**x, float64."""
    xc = x if x < 710.0 else 710.0
    xc = xc if xc > -746.0 else -746.0
    t = xc * 1.4426950408889634 + _MAGIC64
    n = t - _MAGIC64
    k = _bits(t) - _MAGIC64_BITS
    hi = xc - n * 6.93147180369123816490e-01
    lo = n * 1.90821492927058770002e-10
    y = _scale64(_exp_kernel64(hi - lo, hi, lo), k)
    return y if x == x else x


@_jit
def _exp2_64(x):
    """2**x, float64."""
    xc = x if x < 1025.0 else 1025.0
    xc = xc if xc > -1076.0 else -1076.0
    t = xc + _MAGIC64
    n = t - _MAGIC64
    k = _bits(t) - _MAGIC64_BITS
    r = (xc - n) * 0.6931471805599453
    y = _scale64(_exp_kernel64(r, r, 0.0), k)
    return y if x == x else x


# ---------------------------------------------------------------- log, log1p ------------
@_jit
def _log32(x):
    """Natural log, float32 (musl logf reduction and coefficients, branch-free)."""
    sub = x < _f(1.17549435e-38)  # denormal (or <= 0: fixed up below)
    xs = x * _f(33554432.0) if sub else x
    ix = _bits(xs) + (0x3F800000 - 0x3F3504F3)
    k = (ix >> 23) - (0x7F + 25 if sub else 0x7F)
    m = _f32_bits((ix & 0x007FFFFF) + 0x3F3504F3)  # in [sqrt(1/2), sqrt(2))
    dk = _f32_bits(k + _MAGIC32_BITS) - _f(_MAGIC32)  # float(k), vectorisable
    f = m - _f(1.0)
    s = f / (_f(2.0) + f)
    z = s * s
    w = z * z
    t1 = w * (_f(0.40000972152) + w * _f(0.24279078841))
    t2 = z * (_f(0.66666662693) + w * _f(0.28498786688))
    hfsq = _f(0.5) * f * f
    r = s * (hfsq + (t2 + t1)) + dk * _f(9.0580006145e-06) - hfsq + f + dk * _f(6.9313812256e-01)
    r = r if x < _f(np.inf) else x  # +inf, NaN
    r = r if x > _f(0.0) else (_f(-np.inf) if x == _f(0.0) else _f(np.nan))
    return r


@_jit
def _log64(x):
    """Natural log, float64 (fdlibm/musl log reduction and coefficients, branch-free)."""
    sub = x < 2.2250738585072014e-308
    xs = x * 18014398509481984.0 if sub else x  # 2**54
    ix = _bits(xs) + (0x3FF0000000000000 - 0x3FE6A09E00000000)
    k = (ix >> 52) - (0x3FF + 54 if sub else 0x3FF)
    m = _f64_bits((ix & 0x000FFFFFFFFFFFFF) + 0x3FE6A09E00000000)
    dk = _f64_bits(k + _MAGIC64_BITS) - _MAGIC64
    f = m - 1.0
    hfsq = 0.5 * f * f
    s = f / (2.0 + f)
    z = s * s
    w = z * z
    t1 = w * (
        3.999999999940941908e-01 + w * (2.222219843214978396e-01 + w * 1.531383769920937332e-01)
    )
    t2 = z * (
        6.666666666666735130e-01
        + w
        * (2.857142874366239149e-01 + w * (1.818357216161805012e-01 + w * 1.479819860511658591e-01))
    )
    r = (
        s * (hfsq + (t2 + t1))
        + dk * 1.90821492927058770002e-10
        - hfsq
        + f
        + dk * 6.93147180369123816490e-01
    )
    r = r if x < np.inf else x
    r = r if x > 0.0 else (-np.inf if x == 0.0 else np.nan)
    return r


@_jit
def _log1p32(x):
    """log(1 + x), float32, through ``_log1p64``."""
    return np.float32(_log1p64(np.float64(x)))


@_jit
def _log1p64(x):
    """log(1 + x), float64: ``log(w) * x / (w - 1)`` with ``w = 1 + x`` (Goldberg)."""
    w = 1.0 + x
    r = _log64(w) * (x / (w - 1.0))  # the ratio first: no overflow for huge x
    r = x if w == 1.0 else r
    return x if x == np.inf else r


# ---------------------------------------------------------------- fitted polynomials ----
@_jit
def _tanh_p32(z):
    """(tanh(x) - x) / x**3 on z = x*x in [0, 0.625**2], float32."""
    return (
        (
            ((_f(-0.005704042524635318)) * z + _f(0.020637861488921612)) * z
            + _f(-0.05373915650353557)
        )
        * z
        + _f(0.13331431753507658)
    ) * z + _f(-0.3333328128411303)


@_jit
def _tanh_p64(z):
    """(tanh(x) - x) / x**3 on z = x*x in [0, 0.625**2], float64."""
    return (
        (
            (
                (
                    (
                        (
                            (
                                (
                                    ((-1.6076230392177118e-05) * z + 7.715145163688556e-05) * z
                                    + -0.00022856992745814506
                                )
                                * z
                                + 0.0005863189975412841
                            )
                            * z
                            + -0.001454959463096882
                        )
                        * z
                        + 0.003591989240119084
                    )
                    * z
                    + -0.008863221001908643
                )
                * z
                + 0.021869487574973215
            )
            * z
            + -0.05396825393114249
        )
        * z
        + 0.13333333333261532
    ) * z + -0.3333333333333285


@_jit
def _erf_p32(z):
    """erf(x) / x on z = x*x in [0, 1], float32."""
    return (
        (
            (
                (
                    ((_f(7.847259135558606e-05)) * z + _f(-0.0008008189325130367)) * z
                    + _f(0.005188098889526873)
                )
                * z
                + _f(-0.026853691099711915)
            )
            * z
            + _f(0.11283582247990635)
        )
        * z
        + _f(-0.37612625567398855)
    ) * z + _f(1.128379165689323)


@_jit
def _erf_p64(z):
    """erf(x) / x on z = x*x in [0, 1], float64."""
    return (
        (
            (
                (
                    (
                        (
                            (
                                (
                                    (
                                        ((-7.77682913736281e-10) * z + 1.3709519207384055e-08) * z
                                        + -1.6205964194101388e-07
                                    )
                                    * z
                                    + 1.6447084274239356e-06
                                )
                                * z
                                + -1.4924708324571507e-05
                            )
                            * z
                            + 0.00012055293361789941
                        )
                        * z
                        + -0.0008548325921832884
                    )
                    * z
                    + 0.005223977605955977
                )
                * z
                + -0.026866170643090832
            )
            * z
            + 0.1128379167094405
        )
        * z
        + -0.37612638903183515
    ) * z + 1.1283791670955126


@_jit
def _erfc_g32(u):
    """log(erfc(a)) + a*a for a in [1, 4], u = (2a - 5) / 3 (Chebyshev), float32."""
    b1 = _f(-5.817313570926815e-06)
    b2 = _f(0.0)
    u2 = u + u
    b1, b2 = u2 * b1 - b2 + _f(2.181199784495239e-05), b1
    b1, b2 = u2 * b1 - b2 + _f(-0.00024574241755894523), b1
    b1, b2 = u2 * b1 - b2 + _f(0.0015012821017185748), b1
    b1, b2 = u2 * b1 - b2 + _f(-0.010305140826545676), b1
    b1, b2 = u2 * b1 - b2 + _f(0.06893060134597413), b1
    b1, b2 = u2 * b1 - b2 + _f(-0.5587482597137083), b1
    return u * b1 - b2 + _f(-1.4893641655950358)


@_jit
def _erfc_g64a(u):
    """log(erfc(a)) + a*a for a in [1, 2.5], u = (2a - 3.5) / 1.5 (Chebyshev)."""
    b1 = 1.9892782824321147e-15
    b2 = 0.0
    u2 = u + u
    b1, b2 = u2 * b1 - b2 + 1.4106174749469808e-14, b1
    b1, b2 = u2 * b1 - b2 + -3.436402972677661e-13, b1
    b1, b2 = u2 * b1 - b2 + 4.8537616563079144e-12, b1
    b1, b2 = u2 * b1 - b2 + -4.842168382121581e-11, b1
    b1, b2 = u2 * b1 - b2 + 3.1377393744147806e-10, b1
    b1, b2 = u2 * b1 - b2 + 1.8185457108264365e-10, b1
    b1, b2 = u2 * b1 - b2 + -4.6904682422651726e-08, b1
    b1, b2 = u2 * b1 - b2 + 9.737780393347438e-07, b1
    b1, b2 = u2 * b1 - b2 + -1.4635503979760243e-05, b1
    b1, b2 = u2 * b1 - b2 + 0.00018875626091647267, b1
    b1, b2 = u2 * b1 - b2 + -0.002238717528319254, b1
    b1, b2 = u2 * b1 - b2 + 0.02607559332186954, b1
    b1, b2 = u2 * b1 - b2 + -0.35135148177865655, b1
    return u * b1 - b2 + -1.2294757148241606


@_jit
def _erfc_g64b(u):
    """log(erfc(a)) + a*a for a in [2.5, 6], u = (2a - 8.5) / 3.5 (Chebyshev)."""
    b1 = -9.631949023706956e-11
    b2 = 0.0
    u2 = u + u
    b1, b2 = u2 * b1 - b2 + -1.4255325852789631e-09, b1
    b1, b2 = u2 * b1 - b2 + -4.727891314827112e-09, b1
    b1, b2 = u2 * b1 - b2 + -5.0230075721171264e-08, b1
    b1, b2 = u2 * b1 - b2 + 8.958275099067983e-08, b1
    b1, b2 = u2 * b1 - b2 + -1.6791390803580013e-06, b1
    b1, b2 = u2 * b1 - b2 + 1.0620877835746295e-05, b1
    b1, b2 = u2 * b1 - b2 + -8.475654815516498e-05, b1
    b1, b2 = u2 * b1 - b2 + 0.0006250670963201976, b1
    b1, b2 = u2 * b1 - b2 + -0.004774607141679631, b1
    b1, b2 = u2 * b1 - b2 + 0.039026721781496354, b1
    b1, b2 = u2 * b1 - b2 + -0.40551885840062674, b1
    return u * b1 - b2 + -2.0068577201266082


# ---------------------------------------------------------------- tanh, sigmoid ---------
@_jit
def _tanh32(x):
    """tanh, float32: odd polynomial below 0.625, ``1 - 2 / (e**2|x| + 1)`` above."""
    a = abs(x)
    z = x * x
    small = x + (x * z) * _tanh_p32(z)
    big = math.copysign(_f(1.0) - _f(2.0) / (_exp32f(a + a) + _f(1.0)), x)
    r = small if a < _f(0.625) else big
    return r if x != _f(0.0) else x  # keeps the sign of zero


@_jit
def _tanh64(x):
    """tanh, float64."""
    a = abs(x)
    z = x * x
    small = x + (x * z) * _tanh_p64(z)
    big = math.copysign(1.0 - 2.0 / (_exp64(a + a) + 1.0), x)
    r = small if a < 0.625 else big
    return r if x != 0.0 else x


@_jit
def _sigmoid32(x):
    """1 / (1 + e**-x), float32, from ``e = e**-|x|`` (no overflow, no cancellation): all in
    float32 (16 lanes per 512-bit vector, not 8), the division compensated for the roundings
    of ``1 + e`` and of the quotient (FMA), so e's own error (<= 1 ulp) is most of it."""
    e = _exp32f(-abs(x))
    num = _f(1.0) if x >= _f(0.0) else e
    d = _f(1.0) + e
    derr = e - (d - _f(1.0))  # 1 + e == d + derr exactly
    inv = _f(1.0) / d
    q = num * inv
    r = (num - q * d) - q * derr  # num - q * (1 + e): q * d exact inside the FMA
    return q + r * inv


@_jit
def _sigmoid64(x):
    """1 / (1 + e**-x), float64."""
    e = _exp64(-abs(x))
    return (1.0 if x >= 0.0 else e) / (1.0 + e)


@_jit
def _softplus32(x):
    """log(1 + e**x) = max(x, 0) + log1p(e**-|x|), float32, through ``_softplus64``."""
    return np.float32(_softplus64(np.float64(x)))


@_jit
def _softplus64(x):
    """log(1 + e**x), float64."""
    return (x if x > 0.0 else 0.0) + _log1p64(_exp64(-abs(x)))


# ---------------------------------------------------------------- erf -------------------
@_jit
def _erf32(x):
    """erf, float32: ``x P(x*x)`` below 1, ``1 - exp(G(|x|) - x*x)`` above (1 from 4 on)."""
    a = abs(x)
    small = x * _erf_p32(x * x)
    ac = a if a < _f(4.0) else _f(4.0)
    ac = ac if ac > _f(1.0) else _f(1.0)
    g = _erfc_g32((ac + ac - _f(5.0)) * _f(1.0 / 3.0))
    big = math.copysign(np.float32(1.0 - _exp32d(np.float64(g - ac * ac))), x)
    r = small if a < _f(1.0) else big
    return r if x == x else x


@_jit
def _erf64(x):
    """erf, float64: ``x P(x*x)`` below 1, ``1 - exp(G(|x|) - x*x)`` on [1, 2.5) and [2.5, 6)."""
    a = abs(x)
    small = x * _erf_p64(x * x)
    ac = a if a < 6.0 else 6.0
    ac = ac if ac > 1.0 else 1.0
    ga = _erfc_g64a((ac + ac - 3.5) * (1.0 / 1.5))
    gb = _erfc_g64b((ac + ac - 8.5) * (1.0 / 3.5))
    g = ga if ac < 2.5 else gb
    big = math.copysign(1.0 - _exp64(g - ac * ac), x)
    r = small if a < 1.0 else big
    return r if x == x else x


# ---------------------------------------------------------------- GELU ------------------
_GC = math.sqrt(2.0 / math.pi)
_GA = 0.044715
_RSQRT2 = 1.0 / math.sqrt(2.0)
_RSQRT2PI = 1.0 / math.sqrt(2.0 * math.pi)


@_jit_strict
def _gelu_tanh64(x):
    """tanh-form GELU, float64."""
    u = _GC * (x + _GA * (x * x * x))
    return x * _sigmoid64(u + u)


@_jit_strict
def _gelu_tanh_grad64(x):
    """d/dx of the tanh-form GELU, float64."""
    xx = x * x
    u = _GC * (x + _GA * (xx * x))
    s = _sigmoid64(u + u)
    du = (2.0 * _GC) * (1.0 + (3.0 * _GA) * xx)
    return s + x * (s * (1.0 - s)) * du


@_jit
def _gelu_erf64(x):
    """erf-form GELU, float64."""
    return (0.5 * x) * (1.0 + _erf64(x * _RSQRT2))


@_jit
def _gelu_erf_grad64(x):
    """d/dx of the erf-form GELU, float64."""
    cdf = 0.5 + 0.5 * _erf64(x * _RSQRT2)
    return cdf + x * (_RSQRT2PI * _exp64(-0.5 * (x * x)))


# float32 GELU goes through float64: ``u`` rounded to float32 would cost ``2 |u|`` ulp of
# ``sigmoid(2u)`` for negative x (x = -10: 20 ulp); in float64 the result rounds once
@_jit
def _gelu_tanh32(x):
    """tanh-form GELU, float32 (through float64)."""
    return np.float32(_gelu_tanh64(np.float64(x)))


@_jit
def _gelu_tanh_grad32(x):
    """d/dx of the tanh-form GELU, float32 (through float64)."""
    return np.float32(_gelu_tanh_grad64(np.float64(x)))


@_jit
def _gelu_erf32(x):
    """erf-form GELU, float32 (through float64)."""
    return np.float32(_gelu_erf64(np.float64(x)))


@_jit
def _gelu_erf_grad32(x):
    """d/dx of the erf-form GELU, float32 (through float64)."""
    return np.float32(_gelu_erf_grad64(np.float64(x)))


# ---------------------------------------------------------------- pow -------------------
@_jit
def _pow32(x, y):
    """x**y for float32 through float64 exp/log (correctly rounded but for rare ties)."""
    xd = np.float64(x)
    yd = np.float64(y)
    ax = abs(xd)
    r = _exp64(yd * _log64(ax))
    fy = np.floor(yd)
    yint = yd == fy
    yodd = yint & ((yd - 2.0 * np.floor(yd * 0.5)) == 1.0)
    r = -r if (math.copysign(1.0, xd) < 0.0) & yodd else r
    r = np.nan if (xd < 0.0) & (ax < np.inf) & (~yint) else r
    r = 1.0 if (yd == 0.0) | (xd == 1.0) | ((ax == 1.0) & (abs(yd) == np.inf)) else r
    return np.float32(r)


@_jit
def _pow64(x, y):
    """x**y, float64: libm's pow (not approximated: float64 needs a double-double log)."""
    return x**y


# ---------------------------------------------------------------- dispatch --------------
def _unary_dispatch(f32, f64):
    def stub(x):
        raise NotImplementedError  # typing only: replaced by the overload below

    @overload(stub, jit_options=_OPTS)
    def _ov(x):
        if x == types.float32:
            return lambda x: f32(x)
        if isinstance(x, (types.Float, types.Integer, types.Boolean)):
            return lambda x: f64(np.float64(x))
        return None

    return stub


_exp_d = _unary_dispatch(_exp32, _exp64)
_exp2_d = _unary_dispatch(_exp2_32, _exp2_64)
_log_d = _unary_dispatch(_log32, _log64)
_log1p_d = _unary_dispatch(_log1p32, _log1p64)
_tanh_d = _unary_dispatch(_tanh32, _tanh64)
_sigmoid_d = _unary_dispatch(_sigmoid32, _sigmoid64)
_erf_d = _unary_dispatch(_erf32, _erf64)
_softplus_d = _unary_dispatch(_softplus32, _softplus64)
_gelu_tanh_d = _unary_dispatch(_gelu_tanh32, _gelu_tanh64)
_gelu_tanh_grad_d = _unary_dispatch(_gelu_tanh_grad32, _gelu_tanh_grad64)
_gelu_erf_d = _unary_dispatch(_gelu_erf32, _gelu_erf64)
_gelu_erf_grad_d = _unary_dispatch(_gelu_erf_grad32, _gelu_erf_grad64)


def _pow_d(x, y):
    raise NotImplementedError  # typing only


@overload(_pow_d, jit_options=_OPTS)
def _pow_ov(x, y):
    num = (types.Float, types.Integer, types.Boolean)
    if not (isinstance(x, num) and isinstance(y, num)):
        return None
    if x == types.float32:  # like NumPy's float32 power: the exponent in float32 too
        return lambda x, y: _pow32(x, np.float32(y))
    return lambda x, y: _pow64(np.float64(x), np.float64(y))


# ---------------------------------------------------------------- public ----------------
@_jit
def exp(x):
    """e**x."""
    return _exp_d(x)


@_jit
def exp2(x):
    """2**x."""
    return _exp2_d(x)


@_jit
def log(x):
    """Natural logarithm."""
    return _log_d(x)


@_jit
def log1p(x):
    """log(1 + x), accurate for small x."""
    return _log1p_d(x)


@_jit
def tanh(x):
    """Hyperbolic tangent."""
    return _tanh_d(x)


@_jit
def sigmoid(x):
    """Logistic function 1 / (1 + e**-x)."""
    return _sigmoid_d(x)


@_jit
def erf(x):
    """Error function."""
    return _erf_d(x)


@_jit
def softplus(x):
    """log(1 + e**x), overflow-free."""
    return _softplus_d(x)


@_jit
def gelu_tanh(x):
    """GELU, tanh form: 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x**3)))."""
    return _gelu_tanh_d(x)


@_jit
def gelu_tanh_grad(x):
    """Derivative of the tanh-form GELU."""
    return _gelu_tanh_grad_d(x)


@_jit
def gelu_erf(x):
    """GELU, erf form: 0.5 x (1 + erf(x / sqrt(2)))."""
    return _gelu_erf_d(x)


@_jit
def gelu_erf_grad(x):
    """Derivative of the erf-form GELU: Phi(x) + x phi(x)."""
    return _gelu_erf_grad_d(x)


@_jit
def pow(x, y):
    """x**y with a float exponent (float32: vectorised; float64: libm pow)."""
    return _pow_d(x, y)


# ---------------------------------------------------------------- template hook ---------
#: the line a generated module needs before it uses a rewritten template
IMPORT_LINE = "from jitgrad.compile import vmath as _vm"


def _source_tag():
    import hashlib

    with open(__file__, "rb") as f:
        return hashlib.sha1(f.read()).hexdigest()[:10]


#: changes whenever this file does: numba's cache of a generated kernel embeds the vmath code
#: it inlined and does not see vmath.py change, so kernel cache keys must include this
SOURCE_TAG = _source_tag()

# whole templates first (ops/elementwise.py spells sigmoid with exp), then single calls
_WHOLE = {"(1.0 / (1.0 + math.exp(-{0})))": "_vm.sigmoid({0})"}
_CALLS = [
    (re.compile(r"\bmath\.exp\("), "_vm.exp("),
    (re.compile(r"\bmath\.pow\(2\.0, "), "_vm.exp2("),
    (re.compile(r"\bmath\.log\("), "_vm.log("),
    (re.compile(r"\bmath\.log1p\("), "_vm.log1p("),
    (re.compile(r"\bmath\.tanh\("), "_vm.tanh("),
    (re.compile(r"\bmath\.erf\("), "_vm.erf("),
]
_NUM = r"-?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?"
# ``({0} ** {1})`` and ``({0} ** 2.5)`` (pow and pow_scalar): float32 only, since the
# float64 pow stays libm's
_POW = re.compile(r"^\((\{0\}) \*\* (\{1\}|" + _NUM + r")\)$")


def enabled(fastmath):
    """Whether a loop compiled with this ``fastmath`` option/flag set uses vmath (not libm)."""
    if fastmath is False or fastmath == "strict":
        return False
    if isinstance(fastmath, (set, frozenset, tuple, list)):
        return len(fastmath) > 0
    return True  # None / "default" / True / "fast"


def vectorise_template(src, dtype, fastmath):
    """Rewrite a scalar template's libm calls to ``_vm.*`` (see ``IMPORT_LINE``); unchanged
    when ``fastmath`` is False/"strict"/empty or ``dtype`` is not float32/float64."""
    if not isinstance(src, str) or not enabled(fastmath):
        return src
    dt = np.dtype(dtype)
    if dt not in (np.float32, np.float64):
        return src
    whole = _WHOLE.get(src)
    if whole is not None:
        return whole
    if dt == np.float32:
        m = _POW.match(src)
        if m:
            return f"_vm.pow({m.group(1)}, {m.group(2)})"
    for pat, rep in _CALLS:
        src = pat.sub(rep, src)
    return src
