"""Tier 1's llvmlite lowering of fused loops (``backends/llvm.py``): the same bits as numba's
kernel for every template word it lowers, on inputs with NaN/inf/-0/denormals; what it cannot
lower stays numba; the object code is cached and evicted with numba's entries."""

import functools
import os
import sys

import numba
import numpy as np
import pytest

from jitgrad.compile import tiers
from jitgrad.compile.backends import cache as _cache
from jitgrad.compile.backends import llvm
from jitgrad.compile.backends.codegen import cast_expr
from jitgrad.ops.registry import PRIMITIVES

HEADER = (
    "import math\nimport numba\nimport numpy as np\nfrom numba import prange\n"
    "from jitgrad.compile import vmath as _vm\n"
    "from jitgrad.compile.backends import cpu_kernels as K\n"
    "_FM = ['reassoc']\n"
)
# (op, operands): each lowered template word through the registry's own template
OPS = [
    ("add", "ab"),
    ("sub", "ab"),
    ("mul", "ab"),
    ("div", "ab"),
    ("neg", "a"),
    ("abs", "a"),
    ("sqrt", "a"),
    ("rsqrt", "a"),
    ("reciprocal", "a"),
    ("maximum", "ab"),
    ("minimum", "ab"),
    ("relu", "a"),
    ("relu_backward", "ab"),
    ("gt", "ab"),
    ("ge", "ab"),
    ("lt", "ab"),
    ("le", "ab"),
    ("eq", "ab"),
    ("ne", "ab"),
    ("isinf", "a"),
    ("isnan", "a"),
    ("where", "cab"),
    ("tanh_backward", "ab"),
    ("div_backward_rhs", "abc"),
    ("copy", "a"),
]
SPECIAL = [np.nan, -np.nan, np.inf, -np.inf, -0.0, 0.0, 1e-40, -1e-42, 3e38, -3e38, 1.0, -2.5]


def _kernel_src(dt):
    """One fused-loop kernel in the generated form, an output per op (and a cast of an
    int64 input, a scalar operand): one numba compile per dtype for every case."""
    names = {"a": "x_a0", "b": "x_a1", "c": "x_s0"}
    lines = ["def k_test(" + ", ".join(f"o{i}" for i in range(len(OPS) + 1)) + ", a0, a1, a2, s0):"]
    lines += ["    n0 = o0.shape[0]", "    x_s0 = s0[0]", "    for j0 in range(n0):"]
    lines += ["        x_a0 = a0[j0]", "        x_a1 = a1[j0]", "        x_a2 = a2[j0]"]
    for i, (op, args) in enumerate(OPS):
        t = PRIMITIVES[op].scalar
        if op == "where":  # a boolean condition, a scalar operand
            expr = t.format("(x_a0 > x_a1)", "x_a0", "x_s0")
        else:
            expr = t.format(*[names[c] for c in args])
        lines.append(f"        o{i}[j0] = {cast_expr(expr, dt)}")
    lines.append(f"        o{len(OPS)}[j0] = {cast_expr('x_a2', dt)}")
    return "\n".join(lines)


@functools.lru_cache(maxsize=None)
def _pair(dt):
    """(numba kernel, llvm kernel, inputs) for dtype ``dt``, built once."""
    src = _kernel_src(dt)
    block = "@numba.njit(cache=False, error_model='numpy', fastmath=set(_FM))\n" + src
    g = {}
    exec(HEADER + block, g)
    nb = g["k_test"]
    rng = np.random.default_rng(13)
    n = 203
    a = (rng.standard_normal(n) * 4).astype(dt)
    b = (rng.standard_normal(n) * 4).astype(dt)
    a[:4], b[:4] = 1e-39, -3e-39  # denormals against denormals
    sp = np.array(SPECIAL, dt)
    a = np.concatenate([a, np.repeat(sp, len(sp))])  # every special against every special
    b = np.concatenate([b, np.tile(sp, len(sp))])
    ints = rng.integers(-(2**40), 2**40, a.size)
    outs = [np.empty(a.size, dt) for _ in range(len(OPS) + 1)]
    args = outs + [a, b, ints, np.array([-1.5], dt)]
    sig = tuple(numba.typeof(x) for x in args)
    k, _, _ = llvm.build(block, HEADER, sig, nb)
    return nb, k, args


def _same_bits(x, y):
    """Equal bit patterns, NaNs compared as NaNs (which NaN an x86 add of two NaNs returns
    depends on operand order, which LLVM may commute: numba's own parallel and serial forms
    differ there too)."""
    nan = np.isnan(x) & np.isnan(y)
    ux = x.view(np.uint8).reshape(x.size, -1)
    uy = y.view(np.uint8).reshape(y.size, -1)
    return bool(((ux == uy).all(axis=1) | nan).all())


@pytest.fixture(scope="module")
def ran():
    out = {}
    for dt in (np.float32, np.float64):
        nb, k, args = _pair(dt)
        r1 = [x.copy() for x in args]
        r2 = [x.copy() for x in args]
        nb(*r1)
        k(*r2)
        out[dt] = (r1, r2)
    return out


@pytest.mark.parametrize("i", range(len(OPS) + 1), ids=[o for o, _ in OPS] + ["cast_int64"])
@pytest.mark.parametrize("dt", [np.float32, np.float64], ids=["f32", "f64"])
def test_lowered_op_has_numbas_bits(ran, i, dt):
    r1, r2 = ran[dt]
    assert _same_bits(r1[i], r2[i]), (OPS[i] if i < len(OPS) else "cast", r1[i][:8], r2[i][:8])


def test_other_argument_types_go_to_numba():
    assert llvm._layout_ok()  # this NumPy's array struct, as the wrapper reads it
    nb, k, args = _pair(np.float32)
    calls = []
    k.fallback = lambda *a: calls.append(a)
    k(*args)
    assert not calls
    refs = sys.getrefcount(None), sys.getrefcount(False)
    for _ in range(1000):
        k._f(*args)  # the builtin: Py_None back, one reference given to the caller
        k._f(*args[:-1])  # a wrong argument count: Py_False
    assert abs(sys.getrefcount(None) - refs[0]) < 50 and abs(sys.getrefcount(False) - refs[1]) < 50
    bad = list(args)
    bad[-3] = args[-3].astype(np.float64)  # another dtype
    k(*bad)
    bad = list(args)
    bad[-4] = np.empty((args[-4].size, 2), np.float32)[:, 0]  # not C-contiguous
    k(*bad)
    assert len(calls) == 2
    k.fallback = nb


def test_what_it_cannot_lower_stays_numba():
    f32 = numba.typeof(np.zeros(3, np.float32))
    sig = (f32, f32)
    vm = "@numba.njit\ndef k(o0, a0):\n    n0 = o0.shape[0]\n    for j0 in range(n0):\n"
    with pytest.raises(llvm.Unsupported, match="_pow_d"):  # vmath's pow: libm's in float64
        llvm.lower(
            vm + "        x = a0[j0]\n        o0[j0] = np.float32(_vm.pow(x, x))", HEADER, sig
        )
    with pytest.raises(llvm.Unsupported, match="FloorDiv|expression BinOp"):
        llvm.lower(vm + "        x = a0[j0]\n        o0[j0] = np.float32(x // 2.0)", HEADER, sig)
    two = vm.replace("for j0 in range(n0):", "for c in range(1, o0.shape[0]):")
    with pytest.raises(llvm.Unsupported, match="loop other than range"):
        llvm.lower(two + "        o0[0] = 1.0", HEADER, sig)
    strided = numba.typeof(np.zeros((3, 2), np.float32)[:, 0])
    with pytest.raises(llvm.Unsupported, match="layout"):
        llvm.lower(vm + "        x = a0[j0]\n        o0[j0] = x", HEADER, (f32, strided))


def test_object_code_is_cached_beside_numbas_entries_and_evicted(fresh_cache):
    f32 = numba.typeof(np.zeros(3, np.float32))
    src = "@numba.njit\ndef k(o0, a0):\n    n0 = o0.shape[0]\n    for j0 in range(n0):\n"
    body = "        x_a0 = a0[j0]\n        o0[j0] = x_a0 * np.float32(2)"
    key, text, _ = llvm.lower(src + body, HEADER, (f32, f32))
    data, compiled = llvm.object_code(key, text)
    assert compiled and data
    again, compiled2 = llvm.object_code(key, text)
    assert again == data and not compiled2  # from disk
    name = f"{_cache.PREFIX}{key}"
    assert any(n == name for _, n in _cache.entries())
    _cache.evict(limit=0)
    assert not any(n == name for _, n in _cache.entries())


def test_the_worker_lowers_from_the_spec_and_marks_what_it_cannot(fresh_cache):
    # the parent keys a kernel without lowering it (llvm.Spec); the worker's side
    # (write_object) lowers it: the same key and IR as lowering here, and a kernel it cannot
    # lower gets a marker whose reason object_code raises (the parent then loads numba's)
    f32 = numba.typeof(np.zeros(3, np.float32))
    src = "@numba.njit\ndef k(o0, a0):\n    n0 = o0.shape[0]\n    for j0 in range(n0):\n"
    ok = src + "        x_a0 = a0[j0]\n        o0[j0] = x_a0 * np.float32(3)"
    spec = llvm.Spec(ok, HEADER, (f32, f32))
    key, text, k = llvm.lower(ok, HEADER, (f32, f32))
    assert spec.key == key and llvm.ir_text(*spec.lowering) == text
    assert (spec.name, spec.py_name) == (k.name, k.py_name)
    other = llvm.Spec(ok.replace("np.float32(3)", "np.float32(4)"), HEADER, (f32, f32))
    assert other.key != key  # another kernel, another entry
    skey, lowering, path, opts, fallback = llvm.job(spec, ("m", None, "k", b""))
    assert skey == key and fallback == ("m", None, "k", b"")
    assert llvm.write_object(path, lowering, opts) and not llvm.write_object(path, lowering, opts)
    data, compiled = llvm.object_code(key, lowering)
    assert data and not compiled  # the worker's object code, from disk
    a = np.arange(3, dtype=np.float32)
    out = np.zeros(3, np.float32)
    llvm.Kernel(spec, llvm.load(spec, data), None)(out, a)
    np.testing.assert_array_equal(out, a * np.float32(3))
    bad = llvm.Spec(
        src + "        x = a0[j0]\n        o0[j0] = np.float32(x // 2.0)", HEADER, (f32, f32)
    )
    _, lowering, path, opts, _ = llvm.job(bad)
    with pytest.raises(llvm.Unsupported, match="FloorDiv|expression BinOp"):
        llvm.write_object(path, lowering, opts)
    assert not os.path.exists(path)
    with pytest.raises(llvm.Unsupported, match="FloorDiv|expression BinOp"):
        llvm.object_code(bad.key, lowering)  # the marker: not lowered again here


def test_parallel_kernels_lower_their_serial_form():
    loop = "for j0 in {}(n0):\n            x = a0[j0]\n            o0[j0] = x + np.float32(1)\n"
    block = (
        "@numba.njit(cache=CACHE, parallel=True, error_model='numpy', fastmath=set(_FM))\n"
        "def k(o0, a0, par_t):\n    n0 = o0.shape[0]\n    if n0 >= par_t:\n"
        f"        {loop.format('prange')}    else:\n        {loop.format('range')}"
    )
    f32 = numba.typeof(np.zeros(3, np.float32))
    _, text, k = llvm.lower(tiers.serial_twin(block), HEADER, (f32, f32, numba.int64))
    assert k.array_params == ["o0", "a0"] and "par_t" not in text


# vmath's functions that lower (inlined with their own fastmath flags, as numba inlines
# them): a few, as each costs the numba kernel compile time (exp2, log1p, softplus, gelu_tanh,
# gelu_tanh_grad, gelu_erf, gelu_erf_grad lower too, from the same emitters: checked once,
# bit-equal in float32 and float64)
VMATH = {np.float32: ["exp", "log", "sigmoid", "tanh", "erf"], np.float64: ["exp", "log"]}


@pytest.mark.parametrize("dt", [np.float32, np.float64], ids=["f32", "f64"])
def test_vmath_calls_have_numbas_bits(dt):
    name, fns = dt.__name__, VMATH[dt]
    lines = ["def k(" + ", ".join(f"o{i}" for i in range(len(fns))) + ", a0):"]
    lines += ["    n0 = o0.shape[0]", "    for j0 in range(n0):", "        K.wide_vectors()"]
    lines += ["        x_a0 = a0[j0]"]
    lines += [f"        o{i}[j0] = np.{name}(_vm.{f}(x_a0))" for i, f in enumerate(fns)]
    block = "@numba.njit(cache=False, error_model='numpy', fastmath=set(_FM))\n" + "\n".join(lines)
    g = {}
    exec(HEADER + block, g)
    rng = np.random.default_rng(5)
    a = np.concatenate(
        [
            rng.standard_normal(300) * 30,
            rng.uniform(-1e-3, 1e-3, 50),
            [88.7, 89.5, -103.9, -104.5, 709.0, 710.5, -745.0, 1e-310, 1e-40, 2.0**-149],
            SPECIAL,
        ]
    ).astype(dt)
    outs = [np.empty(a.size, dt) for _ in fns]
    sig = tuple(numba.typeof(x) for x in outs + [a])
    k, _, _ = llvm.build(block, HEADER, sig, g["k"])
    r1, r2 = [o.copy() for o in outs], [o.copy() for o in outs]
    g["k"](*r1, a)
    k(*r2, a)
    for f, x, y in zip(fns, r1, r2):
        assert _same_bits(x, y), (f, x[:6], y[:6])


def test_chunked_sum_has_numbas_bits():
    """The generated form of a loop summed inside itself (``cpu.CPUGen.fused``: slices of
    ``K.CHUNK`` elements, a heap scratch, a float64 partial sum a chunk) lowers, and its
    partial sums have numba's bits (the order LLVM's vectoriser adds them in)."""
    from jitgrad.compile.backends import cpu_kernels as K

    ch = K.CHUNK
    src = f"""@numba.njit(cache=False, error_model='numpy', fastmath=set(_FM))
def k(o0, a0, a1, p0):
    n0 = o0.shape[0]
    for c in range(p0.shape[1]):
        lo = c * {ch}
        hi = min(n0, lo + {ch})
        o0c = o0[lo:hi]
        a0c = a0[lo:hi]
        a1c = a1[lo:hi]
        r0 = np.empty(hi - lo, dtype=np.float32)
        for j0 in range(hi - lo):
            x_a0 = a0c[j0]
            x_a1 = a1c[j0]
            t0 = np.float32((-x_a0))
            t1 = np.float32((t0 * x_a1))
            o0c[j0] = t0
            r0[j0] = t1
        acc = 0.0
        for j0 in range(hi - lo):
            acc += r0[j0]
        p0[0, c] = acc"""
    g = {}
    exec(HEADER + src, g)
    rng = np.random.default_rng(7)
    n = 2 * ch + 333  # two whole chunks and a partial one
    # magnitudes 1e-12..1e12: float64 sums of them round, so the order of the adds shows
    a, b = (rng.standard_normal(n) * 10.0 ** rng.uniform(-6, 6, n) for _ in range(2))
    a, b = a.astype(np.float32), b.astype(np.float32)
    args = [np.empty(n, np.float32), a, b, np.empty((1, 3))]
    sig = tuple(numba.typeof(x) for x in args)
    k, _, _ = llvm.build(src, HEADER, sig, g["k"])
    r1, r2 = [x.copy() for x in args], [x.copy() for x in args]
    g["k"](*r1)
    k(*r2)
    assert _same_bits(r1[0], r2[0]) and _same_bits(r1[3], r2[3]), (r1[3], r2[3])
    assert r1[3][0, 2] != 0  # the partial chunk was summed
