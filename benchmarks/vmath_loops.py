"""Fused loops with jitgrad.compile.vmath vs libm, measured before the backend uses vmath.

    python -m benchmarks --only vmath [--quick | --smoke]

Each case is one ``@njit`` loop compiled the way the CPU backend compiles fused loops
(``error_model='numpy'``, ``fastmath={'reassoc'}``), once with the libm templates of
``jitgrad/ops/elementwise.py`` and once with the same templates passed through
``vmath.vectorise_template`` (so this also exercises the hook end to end):

- per-function loops ``y = f(x)`` (exp, log, tanh, sigmoid, erf, pow(x, 2.5)), float32;
- the GELU-tanh chain of the elementwise workload, forward + the three gradients in one
  pass (``mean(gelu_tanh(x*w+b) * sigmoid(x))``), serial and ``prange``;
- the arithmetic chain (no transcendentals), serial and ``prange``, writing into reused
  output buffers and into fresh ones, beside the bandwidth floor (24 bytes per element
  over the measured triad bandwidth).

Medians of interleaved blocks (benchmarks/timing.py); ratios are libm time / vmath time.
"""

import math

import numpy as np

C = math.sqrt(2.0 / math.pi)
A = 0.044715

TANH = "math.tanh({0})"  # the templates of jitgrad/ops/elementwise.py
SIGMOID = "(1.0 / (1.0 + math.exp(-{0})))"
UNARY = {
    "exp": ("math.exp({0})", lambda x: x * 0.1),
    "log": ("math.log({0})", lambda x: np.abs(x) + 0.01),
    "tanh": (TANH, lambda x: x),
    "sigmoid": (SIGMOID, lambda x: x * 3),
    "erf": ("math.erf({0})", lambda x: x),
    "pow(x, 2.5)": ("({0} ** 2.5)", lambda x: np.abs(x)),
}

_GELU_CHAIN = """
def kern(x, w, b, gx, gw, gb):
    n = x.size
    g = np.float32(1.0 / n)
    acc = 0.0
    for i in {loop}(n):
        xi = x[i]
        z = xi * w[i] + b[i]
        th = np.float32({tanh_u})
        gl = np.float32(0.5) * z * (np.float32(1.0) + th)
        sg = np.float32({sigmoid_x})
        acc += gl * sg
        dz = (g * sg) * (np.float32(0.5) * (np.float32(1.0) + th) + np.float32(0.5) * z
             * (np.float32(1.0) - th * th) * np.float32({C}) * (np.float32(1.0)
             + np.float32({A3}) * z * z))
        gx[i] = dz * w[i] + (g * gl) * sg * (np.float32(1.0) - sg)
        gw[i] = dz * xi
        gb[i] = dz
    return acc / n
"""

_ARITH_CHAIN = """
def kern(x, w, b, gx, gw, gb):
    n = x.size
    g = np.float32(1.0 / n)
    acc = 0.0
    for i in {loop}(n):
        xi = x[i]
        wi = w[i]
        bi = b[i]
        z = xi * wi + bi
        r = z if z > 0 else np.float32(0.0)
        d = wi - bi
        acc += r * r * xi + np.float32(0.5) * d * xi
        dz = (np.float32(2.0) * g) * r * xi
        gx[i] = g * r * r + (np.float32(0.5) * g) * d + dz * wi
        gw[i] = dz * xi + (np.float32(0.5) * g) * xi
        gb[i] = dz - (np.float32(0.5) * g) * xi
    return acc / n
"""


def _compile(src, parallel=False):
    import numba

    from jitgrad.compile import vmath

    ns = {"math": math, "np": np, "prange": numba.prange, "_vm": vmath}
    exec(src, ns)
    return numba.njit(error_model="numpy", fastmath={"reassoc"}, parallel=parallel)(ns["kern"])


def _vec(t):
    from jitgrad.compile import vmath

    return vmath.vectorise_template(t, np.float32, {"reassoc"})


def unary_kernel(template):
    src = "def kern(x, out):\n    for i in range(x.size):\n        out[i] = " + template.format(
        "x[i]"
    )
    return _compile(src)


def gelu_kernel(vm, parallel):
    t, s = (_vec(TANH), _vec(SIGMOID)) if vm else (TANH, SIGMOID)
    src = _GELU_CHAIN.format(
        loop="prange" if parallel else "range",
        tanh_u=t.format(f"np.float32({C!r}) * (z + np.float32({A!r}) * z * z * z)"),
        sigmoid_x=s.format("xi"),
        C=repr(C),
        A3=repr(3 * A),
    )
    return _compile(src, parallel)


def arith_kernel(parallel):
    return _compile(_ARITH_CHAIN.format(loop="prange" if parallel else "range"), parallel)


def _data(n):
    rng = np.random.default_rng(2)
    x = rng.standard_normal(n, dtype=np.float32)
    w = rng.standard_normal(n, dtype=np.float32) * np.float32(0.5)
    b = rng.standard_normal(n, dtype=np.float32) * np.float32(0.1)
    return x, w, b


def chain_cases(n):
    """{name: step} for the two chains at n elements (outputs reused unless 'fresh')."""
    x, w, b = _data(n)
    outs = [np.empty_like(x) for _ in range(3)]
    cases = {}
    for par in (False, True):
        tag = "prange" if par else "serial"
        for vm in (False, True):
            k = gelu_kernel(vm, par)
            cases[f"gelu {'vmath' if vm else 'libm'} {tag}"] = lambda k=k: k(x, w, b, *outs)
        k = arith_kernel(par)
        cases[f"arith {tag}"] = lambda k=k: k(x, w, b, *outs)
        cases[f"arith {tag}, fresh outputs"] = lambda k=k: k(
            x, w, b, np.empty_like(x), np.empty_like(x), np.empty_like(x)
        )
    return cases


def check(n=4096):
    """The vmath and libm versions agree (chain loss and gradients) to float32 rounding."""
    x, w, b = _data(n)
    res = []
    for vm in (False, True):
        outs = [np.empty_like(x) for _ in range(3)]
        loss = gelu_kernel(vm, False)(x, w, b, *outs)
        res.append((loss, outs))
    (l0, o0), (l1, o1) = res
    err = max(
        abs(l0 - l1) / abs(l0), *(np.max(np.abs(a - c)) / np.max(np.abs(a)) for a, c in zip(o0, o1))
    )
    return err


def main(level="full", threads=2):
    """Print the vmath-vs-libm tables; returns 0."""
    from .run import LEVELS, fmt_t, triad
    from .timing import measure, warm_up

    cfg = LEVELS[level]
    sizes = {"smoke": [10**4], "quick": [10**6], "full": [10**5, 10**6, 10**7]}[level]
    print(f"vmath vs libm in fused numba loops (float32, {threads} threads for prange)\n")
    print(f"max relative difference vmath vs libm, GELU chain loss and gradients: {check():.1e}\n")

    def run(cases):
        for f in cases.values():
            warm_up(f, min_time=cfg["warm"])
        return measure(
            cases,
            block=cfg["block"],
            rounds=cfg["rounds"],
            min_keep=cfg["min_keep"],
            max_rounds=cfg["max_rounds"],
        )

    n = sizes[-1] if level != "full" else 10**6
    x = np.random.default_rng(0).standard_normal(n, dtype=np.float32)
    print(f"y = f(x), {n:.0e} elements [ms]")
    print(f"  {'function':<14}{'libm':>9}{'vmath':>9}{'libm/vmath':>12}")
    for name, (t, prep) in UNARY.items():
        xi = prep(x).astype(np.float32)
        out = np.empty_like(xi)
        lk, vk = unary_kernel(t), unary_kernel(_vec(t))
        r = run({"libm": lambda: lk(xi, out), "vmath": lambda: vk(xi, out)})
        lm, vm = r["libm"].median, r["vmath"].median
        print(f"  {name:<14}{fmt_t(lm, 'ms'):>9}{fmt_t(vm, 'ms'):>9}{lm / vm:>11.1f}x")

    bw = max(triad({"smoke": 10**6, "quick": 4 * 10**6, "full": 2 * 10**7}[level], cfg).values())
    print(f"\ntriad bandwidth (best of numba prange/serial, numpy): {bw:.1f} GB/s")
    for n in sizes:
        r = run(chain_cases(n))
        med = {k: v.median for k, v in r.items()}
        floor = 24 * n / (bw * 1e9)
        print(
            f"\nchains fwd+bwd in one loop, {n:.0e} elements [ms]; bandwidth floor "
            f"{fmt_t(floor, 'ms')} ms (24 B/element at {bw:.1f} GB/s)"
        )
        for k, v in med.items():
            extra = ""
            if k.startswith("gelu vmath"):
                extra = f"  {med[k.replace('vmath', 'libm')] / v:.1f}x faster than libm"
            if k.startswith("arith"):
                extra = f"  {v / floor:.2f}x the bandwidth floor"
            print(f"  {k:<28}{fmt_t(v, 'ms'):>9}{extra}")
        for kind in ("gelu vmath", "gelu libm", "arith"):
            s, p = med[f"{kind} serial"], med[f"{kind} prange"]
            print(f"  {kind}: prange / serial = {p / s:.2f}")
    return 0
