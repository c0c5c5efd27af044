"""Accuracy of jitgrad.compile.vmath over the whole float range, and its template hook.

float32: every 1024th bit pattern (2^22 points: all binades, both signs, denormals, +-inf,
NaNs) plus 2^20 points dense in [-12, 12] and the boundaries; the reference is NumPy/SciPy
in float64 (error ~1e-16, far below a float32 ulp). ulp error = |y - exact| / ulp(exact),
ulp(v) = 2^(max(e, -126) - 23) for |v| in [2^e, 2^(e+1)). float64: 2.4e5 random points at
several scales, log-uniform magnitudes over the whole range and the boundaries, relative
error against NumPy/SciPy float64. Special values (+-0 with sign, +-inf, NaN, overflow to
inf, underflow to 0) must equal NumPy's result exactly.

Measured (this machine, FMA contraction in vmath; the asserted bounds are the targets):

=================  =================  ==========  ========================
function           float32 max ulp    target      float64 max rel. error
=================  =================  ==========  ========================
exp                0.503              2           2.2e-16
exp2               0.503              2           2.2e-16
log                0.765              2           2.2e-16
log1p              0.500              2           3.2e-16
tanh               1.272              2           2.2e-16
sigmoid            1.445              2           3.3e-16
softplus           0.500              2           4.6e-16
erf                2.444              4           4.4e-16
gelu_tanh          0.500              2           4.3e-16
pow (x ** y)       0.500              1           libm (not approximated)
=================  =================  ==========  ========================

The GELU derivatives and the erf form are measured as absolute error relative to
``max(|x|, 1)`` (their formulas cancel near roots and for x < -5, as PyTorch's do):
measured float32 0.50 eps32 for all three; float64 1.7 / 2.0 / 2.4 eps64 (asserted <= 1 eps32
and <= 4 eps64 = 8.9e-16).
"""

import math
import re

import llvmlite.binding as llvm
import numba
import numpy as np
import pytest
import scipy.special as sp

from jitgrad.compile import vmath as V
from jitgrad.compile.backends import cpu_kernels as K

F32 = np.float32
F64 = np.float64
EPS32 = 2.0**-23
EPS64 = 2.0**-52


def _loop(f):
    @numba.njit(error_model="numpy", fastmath={"reassoc", "contract"})
    def run(x, out):
        for i in range(x.size):
            out[i] = f(x[i])

    return run


_RUNNERS = {}


def apply(name, x):
    """``vmath.<name>`` over an array, inside a jitted loop (as fused kernels call it)."""
    run = _RUNNERS.get(name)
    if run is None:
        run = _RUNNERS[name] = _loop(getattr(V, name))
    out = np.empty_like(x)
    run(x, out)
    return out


def _expit(x):
    # scipy's expit flushes float64 results below ~1e-308 to 0; exp(x) / (1 + exp(x)) does not
    e = np.exp(-np.abs(x))
    return np.where(x >= 0, 1.0, e) / (1.0 + e)


def _gelu_tanh_ref(x):
    u = V._GC * (x + V._GA * (x * x * x))
    return x * _expit(u + u)


def _gelu_tanh_grad_ref(x):
    u = V._GC * (x + V._GA * (x * x * x))
    s = _expit(u + u)
    return s + x * s * (1 - s) * (2 * V._GC) * (1 + 3 * V._GA * x * x)


def _gelu_erf_ref(x):
    return 0.5 * x * (1 + sp.erf(x / math.sqrt(2)))


def _gelu_erf_grad_ref(x):
    return 0.5 * (1 + sp.erf(x / math.sqrt(2))) + x * np.exp(-0.5 * x * x) / math.sqrt(2 * math.pi)


# name: (reference in float64, float32 ulp bound)
ULP_FUNCS = {
    "exp": (np.exp, 2),
    "exp2": (np.exp2, 2),
    "log": (np.log, 2),
    "log1p": (np.log1p, 2),
    "tanh": (np.tanh, 2),
    "sigmoid": (_expit, 2),
    "softplus": (lambda x: np.logaddexp(0.0, x), 2),
    "erf": (sp.erf, 4),
    "gelu_tanh": (_gelu_tanh_ref, 2),
}
# measured as |error| / max(|x|, 1): float32 bound in eps32
ABS_FUNCS = {
    "gelu_erf": _gelu_erf_ref,
    "gelu_erf_grad": _gelu_erf_grad_ref,
    "gelu_tanh_grad": _gelu_tanh_grad_ref,
}


def f32_sample():
    bits = np.arange(0, 2**32, 1024, dtype=np.uint64).astype(np.uint32)
    strided = bits.view(np.float32)
    dense = np.random.default_rng(0).uniform(-12, 12, 2**20).astype(np.float32)
    fi = np.finfo(np.float32)
    edges = np.array(
        [0.0, -0.0, np.inf, -np.inf, np.nan, fi.tiny, -fi.tiny, fi.max, -fi.max, 1e-45, -1e-45]
        + [1.0, -1.0, 0.625, -0.625, 1.0, 4.0, -4.0, 88.72283, 88.722839, 89.0, -87.33654]
        + [-103.97207, -103.972084, -104.0, 127.99999, 128.0, -149.0, -150.0, -151.0],
        dtype=np.float32,
    )
    fin = edges[np.isfinite(edges)]
    inf = np.float32(np.inf)
    near = [np.nextafter(fin, inf), np.nextafter(fin, -inf)]
    return np.concatenate([strided, dense, edges] + near)


def f64_sample():
    rng = np.random.default_rng(1)
    mags = 10.0 ** rng.uniform(-320, 308, 60000)
    fi = np.finfo(np.float64)
    edges = np.array(
        [0.0, -0.0, np.inf, -np.inf, np.nan, fi.tiny, -fi.tiny, fi.max, -fi.max, 5e-324, -5e-324]
        + [1.0, -1.0, 0.625, -0.625, 2.5, -2.5, 6.0, -6.0, 709.782712893384, 709.7827128933841]
        + [-745.1332191019411, -745.1332191019412, -708.4, 1024.0, -1074.0, -1075.0, -1076.0]
    )
    return np.concatenate(
        [
            rng.standard_normal(60000),
            rng.standard_normal(60000) * 8,
            rng.standard_normal(30000) * 300,
            mags,
            -mags[:30000],
            edges,
            np.nextafter(edges[np.isfinite(edges)], np.inf),
            np.nextafter(edges[np.isfinite(edges)], -np.inf),
        ]
    )


def ulp32(v):
    """ulp of float32 at exact values ``v`` (float64)."""
    _, e = np.frexp(np.abs(v))
    return np.ldexp(1.0, np.maximum(e - 1, -126) - 23)


def check_specials(out, ref):
    """Where NumPy's result (rounded to ``out``'s dtype) is NaN, inf or zero, ours is too."""
    r = ref.astype(out.dtype)
    special = ~np.isfinite(r) | (r == 0)
    same = (out == r) & (np.signbit(out) == np.signbit(r))
    same |= np.isnan(out) & np.isnan(r)
    bad = special & ~same
    assert not bad.any(), f"special values differ: {list(zip(out[bad][:5], r[bad][:5]))}"
    return ~special


def ulp_error32(name, x):
    ref_fn = ULP_FUNCS[name][0]
    out = apply(name, x)
    assert out.dtype == np.float32
    with np.errstate(all="ignore"):
        ref = ref_fn(x.astype(np.float64))
        keep = check_specials(out, ref)
        err = np.abs(out[keep].astype(np.float64) - ref[keep]) / ulp32(ref[keep])
    return err.max(), x[keep][err.argmax()]


@pytest.fixture(scope="module")
def x32():
    return f32_sample()


@pytest.fixture(scope="module")
def x64():
    return f64_sample()


@pytest.mark.parametrize("name", list(ULP_FUNCS))
def test_float32_ulp(name, x32):
    worst, at = ulp_error32(name, x32)
    assert worst <= ULP_FUNCS[name][1], f"{name}: {worst:.3f} ulp at x={at!r}"


@pytest.mark.parametrize("name", list(ULP_FUNCS))
def test_float64_relative(name, x64):
    out = apply(name, x64)
    assert out.dtype == np.float64
    with np.errstate(all="ignore"):
        ref = ULP_FUNCS[name][0](x64)
        keep = check_specials(out, ref) & (np.abs(ref) >= np.finfo(np.float64).tiny)
        rel = np.abs(out[keep] - ref[keep]) / np.abs(ref[keep])
    assert rel.max() <= 1e-15, f"{name}: {rel.max():.2e} at x={x64[keep][rel.argmax()]!r}"


@pytest.mark.parametrize("name", list(ABS_FUNCS))
@pytest.mark.parametrize("dtype, bound", [(np.float32, EPS32), (np.float64, 4 * EPS64)])
def test_gelu_family_absolute(name, dtype, bound, x32, x64):
    x = (x32 if dtype == np.float32 else x64)[-(2**20 + 64) :].astype(dtype)  # dense part
    x = x[np.abs(x) < 1e4]
    out = apply(name, x)
    with np.errstate(all="ignore"):
        ref = ABS_FUNCS[name](x.astype(np.float64))
    check_specials(out, ref)
    err = np.abs(out - ref) / np.maximum(np.abs(x), 1.0)
    assert np.nanmax(err) <= bound, f"{name} {dtype.__name__}: {np.nanmax(err) / bound:.2f}"


def test_gelu_special_values():
    for dt in (np.float32, np.float64):
        x = np.array([0.0, -0.0, np.inf, np.nan, 1e30, -1e30], dt)
        g = apply("gelu_tanh", x)
        assert g[0] == 0 and not np.signbit(g[0]) and np.signbit(g[1]) and g[2] == np.inf
        assert np.isnan(g[3]) and g[4] == dt(1e30) and g[5] == 0
        assert apply("gelu_tanh_grad", x)[0] == 0.5 and apply("gelu_erf_grad", x)[0] == 0.5
        assert np.isnan(apply("gelu_erf", x)[3])


EXPONENTS = [0.5, 1.5, 2.5, -0.5, -1.5, 2.0, 3.0, -2.0, -3.0, 0.1, 7.25, -7.25, 40.0, -40.0]
SPECIAL_EXP = [0.0, -0.0, np.inf, -np.inf, np.nan, 1.0, -1.0, 0.5, 3.0, -3.0, 2.0]


@numba.njit(error_model="numpy", fastmath={"reassoc"})
def _pow_loop(x, y, out):
    for i in range(x.size):
        out[i] = V.pow(x[i], y[i])


def test_pow_float32():
    rng = np.random.default_rng(3)
    base = np.concatenate(
        [rng.uniform(0, 4, 20000), 10.0 ** rng.uniform(-40, 38, 20000), rng.uniform(-3, 3, 20000)]
    ).astype(np.float32)
    xs = np.tile(base, len(EXPONENTS))
    ys = np.repeat(np.array(EXPONENTS, np.float32), base.size)
    out = np.empty_like(xs)
    _pow_loop(xs, ys, out)
    with np.errstate(all="ignore"):
        ref = np.power(xs.astype(np.float64), ys.astype(np.float64))
        keep = check_specials(out, ref)
        err = np.abs(out[keep] - ref[keep]) / ulp32(ref[keep])
    assert err.max() <= 1.0, err.max()
    # C99/NumPy special cases, every pair: x in edge values, y in edge exponents
    sx = np.array([0.0, -0.0, np.inf, -np.inf, np.nan, 1.0, -1.0, 2.0, -2.0, 0.5, -0.5], F32)
    X, Y = (a.ravel() for a in np.meshgrid(sx, np.array(SPECIAL_EXP, F32)))
    out = np.empty_like(X)
    _pow_loop(X, Y, out)
    with np.errstate(all="ignore"):
        ref = np.power(X, Y)
    same = (out == ref) & (np.signbit(out) == np.signbit(ref)) | (np.isnan(out) & np.isnan(ref))
    assert same.all(), list(zip(X[~same], Y[~same], out[~same], ref[~same]))


def test_pow_float64_is_libm():
    x = np.array([2.0, -8.0, 0.0, 3.7], F64)
    y = np.array([0.5, 1.0 / 3.0, -1.0, 2.2], F64)
    out = np.empty_like(x)
    _pow_loop(x, y, out)
    with np.errstate(all="ignore"):
        np.testing.assert_array_equal(out, np.power(x, y))


def test_python_scalars_and_integers():
    assert V.exp(F32(1.0)) == F32(math.e) and isinstance(V.exp(F32(1.0)), float)  # rounded e
    assert abs(V.tanh(1) - math.tanh(1)) < 1e-16  # integers go through float64
    assert V.log(F64(0.0)) == -math.inf and math.isnan(V.log(-1.0))


def test_loop_vectorises():
    """A fused loop calling vmath compiles to vector instructions (no libm call left), 16
    float32 lanes wide with ``K.wide_vectors()`` where the CPU has AVX-512."""

    @numba.njit(error_model="numpy", fastmath={"reassoc"})
    def fused(x, w, out):
        for i in range(x.size):
            z = x[i] * w[i]
            out[i] = V.gelu_tanh(z) * V.sigmoid(x[i]) + V.exp(-z) * V.tanh(z)

    x = np.linspace(-3, 3, 64, dtype=np.float32)
    out = np.empty_like(x)
    fused(x, x, out)
    ir = fused.inspect_llvm(fused.signatures[0])
    assert re.search(r"<\d+ x float>", ir), "the loop did not vectorise"
    assert not re.search(r"call [^\n]*@(expf?|tanhf?|logf?)\(", ir)
    ref = _gelu_tanh_ref(x * x) * sp.expit(x) + np.exp(-(x * x)) * np.tanh(x * x)
    np.testing.assert_allclose(out, ref, rtol=1e-6, atol=1e-7)

    @numba.njit(error_model="numpy", fastmath={"reassoc"})
    def wide(x, w, out):  # the same loop asking for 512-bit vectors: the same bits
        for i in range(x.size):
            K.wide_vectors()
            z = x[i] * w[i]
            out[i] = V.gelu_tanh(z) * V.sigmoid(x[i]) + V.exp(-z) * V.tanh(z)

    out2 = np.empty_like(x)
    wide(x, x, out2)
    assert out2.tobytes() == out.tobytes()
    ir = wide.inspect_llvm(wide.signatures[0])
    assert '"prefer-vector-width"="512"' in ir
    if "+avx512f" in llvm.get_host_cpu_features().flatten():
        assert re.search(r"<16 x float>", ir), "no 512-bit float32 vectors"


# ---------------------------------------------------------------- template hook ---------
def _templates():
    """Every scalar template of jitgrad/ops/elementwise.py: (prim, params, template)."""
    import jitgrad.ops.elementwise  # noqa: F401  (registers the primitives)
    from jitgrad.ops.registry import PRIMITIVES

    out = []
    for name, p in PRIMITIVES.items():
        t = p.scalar
        if p.kind != "elementwise" or t is None:
            continue
        if callable(t):
            params = {
                "pow_scalar": [dict(exponent=e) for e in (2, 3, 0.5, 2.5, -1.5, 4.0)],
                "clamp": [dict(lo=-0.5, hi=0.5), dict(lo=None, hi=1.0)],
                "cast": [dict(dtype=np.float32), dict(dtype=np.float64)],
            }[name]
            out += [(p, prm, t(**prm)) for prm in params]
        else:
            out.append((p, {}, t))
    return out


BOOL_OR_INT = {"logical_and", "logical_or", "logical_xor", "logical_not"}
BITS = {
    "bitwise_and",
    "bitwise_or",
    "bitwise_xor",
    "bitwise_not",
    "bitwise_left_shift",
    "bitwise_right_shift",
}
POSITIVE = {"log", "log2", "log10", "log1p", "sqrt", "rsqrt", "pow", "pow_scalar"}
UNIT = {"asin", "acos"}


def _operands(p, dt, n=257):
    rng = np.random.default_rng(5)
    arity = max(int(k) for k in re.findall(r"\{(\d)\}", _tmpl_of(p))) + 1
    if p.name == "where":
        return [rng.standard_normal(n) > 0] + [rng.standard_normal(n).astype(dt) for _ in "ab"]
    if p.name in POSITIVE:
        first = rng.uniform(0.05, 4.0, n).astype(dt)
    elif p.name in UNIT:
        first = rng.uniform(-0.95, 0.95, n).astype(dt)
    else:
        first = (rng.standard_normal(n) * 3).astype(dt)
    rest = [(rng.standard_normal(n) * 2 + 0.1).astype(dt) for _ in range(arity - 1)]
    return [first] + rest


def _tmpl_of(p):
    t = p.scalar
    if not callable(t):
        return t
    return t(
        **{"pow_scalar": dict(exponent=2.5), "cast": dict(dtype=np.float64)}.get(
            p.name, dict(lo=0, hi=1)
        )
    )


def _kernel(template, arity):
    args = ", ".join(f"a{k}" for k in range(arity))
    expr = template.format(*(f"a{k}[i]" for k in range(arity)))
    src = f"def kern({args}, out):\n    for i in range(out.size):\n        out[i] = {expr}\n"
    ns = {"math": math, "np": np, "_vm": V}
    exec(src, ns)
    return numba.njit(error_model="numpy", fastmath={"reassoc"})(ns["kern"])


REWRITTEN = {"exp", "exp2", "log", "log1p", "tanh", "sigmoid", "erf"}


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_vectorise_template_every_elementwise_template(dtype):
    """Rewrite each template, compile it in a loop, compare with the op's NumPy rule."""
    checked = set()
    for p, params, t in _templates():
        if p.name in BOOL_OR_INT | BITS:
            # integer/bool ops: no libm call to replace
            assert V.vectorise_template(t, np.int64, None) == t
            continue
        new = V.vectorise_template(t, dtype, None)
        assert V.vectorise_template(t, dtype, False) == t  # fastmath=False keeps libm
        if dtype == np.float64 and new == t:
            continue  # unchanged templates run once, in the float32 pass
        assert V.vectorise_template(t, dtype, "strict") == t
        if p.name in REWRITTEN or (p.name in ("pow", "pow_scalar") and "**" in t):
            if dtype == np.float32 or p.name not in ("pow", "pow_scalar"):
                assert new != t and "_vm." in new, (p.name, new)
                assert not re.search(r"math\.(exp|log|log1p|tanh|erf|pow)\(", new), new
        ops = _operands(p, dtype)
        ops = ops[: max(int(k) for k in re.findall(r"\{(\d)\}", t)) + 1]
        with np.errstate(all="ignore"):
            ref = np.asarray(p.impl(*ops, **params))
        out = np.empty(ref.shape, ref.dtype)
        try:
            _kernel(new, len(ops))(*ops, out)
        except numba.TypingError:
            if new != t:
                raise
            continue  # numba has no lowering for this libm call (math.fmod): not vmath's
        checked.add(p.name)
        if ref.dtype.kind == "f":
            rtol = 4e-7 if ref.dtype == np.float32 else 2e-15
            np.testing.assert_allclose(out, ref, rtol=rtol, atol=1e-30, err_msg=f"{p.name}: {new}")
        else:
            np.testing.assert_array_equal(out, ref, err_msg=f"{p.name}: {new}")
    must = REWRITTEN | (
        {"pow", "pow_scalar", "add", "where", "clamp"} if dtype == np.float32 else set()
    )
    assert must <= checked, must - checked


def test_enabled_and_import_line():
    assert V.enabled(None) and V.enabled("default") and V.enabled({"reassoc"}) and V.enabled(True)
    assert not V.enabled(False) and not V.enabled("strict") and not V.enabled(set())
    ns = {}
    exec(V.IMPORT_LINE, ns)
    assert ns["_vm"] is V
    assert re.fullmatch(r"[0-9a-f]{10}", V.SOURCE_TAG)  # for the kernel cache key
    assert V.vectorise_template("math.exp({0})", np.float16, None) == "math.exp({0})"
    assert V.vectorise_template("math.log2({0})", np.float32, None) == "math.log2({0})"
    assert V.vectorise_template("({0} ** {1})", np.float64, None) == "({0} ** {1})"
