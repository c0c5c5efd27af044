"""Every differentiable op, traced (forward + backward) vs eager, float64 and float32.

Ops are batched into a few traced functions so that each batch compiles once.
"""

import numpy as np
import pytest

import jitgrad as jg

R = np.random.default_rng(0)


def _pos(*s):
    return R.uniform(0.5, 2.0, s)


def _any(*s):
    return R.uniform(-2.0, 2.0, s)


def _unit(*s):
    return R.uniform(-0.9, 0.9, s)


IDX = np.array([2, 0, 1, 2])

# name -> (fn(*tensors), [input arrays])
UNARY = {
    "exp": (jg.exp, [_any(3, 4)]),
    "log": (jg.log, [_pos(3, 4)]),
    "log2": (jg.log2, [_pos(3, 4)]),
    "log10": (jg.log10, [_pos(3, 4)]),
    "log1p": (jg.log1p, [_pos(3, 4)]),
    "expm1": (jg.expm1, [_any(3, 4)]),
    "sqrt": (jg.sqrt, [_pos(3, 4)]),
    "rsqrt": (jg.rsqrt, [_pos(3, 4)]),
    "abs": (jg.abs, [_pos(3, 4) * np.sign(_any(3, 4))]),
    "sin": (jg.sin, [_any(3, 4)]),
    "cos": (jg.cos, [_any(3, 4)]),
    "tan": (jg.tan, [_unit(3, 4)]),
    "asin": (jg.asin, [_unit(3, 4)]),
    "acos": (jg.acos, [_unit(3, 4)]),
    "atan": (jg.atan, [_any(3, 4)]),
    "sinh": (jg.sinh, [_any(3, 4)]),
    "cosh": (jg.cosh, [_any(3, 4)]),
    "tanh": (jg.tanh, [_any(3, 4)]),
    "sigmoid": (jg.sigmoid, [_any(3, 4)]),
    "relu": (jg.relu, [_pos(3, 4) * np.sign(_any(3, 4))]),
    "reciprocal": (jg.reciprocal, [_pos(3, 4)]),
    "erf": (jg.erf, [_any(3, 4)]),
    "neg": (jg.neg, [_any(3, 4)]),
    "square": (jg.square, [_any(3, 4)]),
    "clamp": (lambda x: jg.clamp(x, -0.5, 0.7), [_any(3, 4)]),
    "pow3": (lambda x: x**3, [_any(3, 4)]),
    "pow2.5": (lambda x: x**2.5, [_pos(3, 4)]),
    "floor_ste": (lambda x: x.floor() + x, [_any(3, 4)]),
    "round_ste": (lambda x: x.round() * x, [_any(3, 4)]),
    "sign_mul": (lambda x: x.sign() * x, [_pos(3, 4) * np.sign(_any(3, 4))]),
}
BINARY = {
    "add_bcast": (lambda a, b: a + b, [_any(3, 4), _any(4)]),
    "sub_bcast": (lambda a, b: a - b, [_any(3, 1), _any(1, 4)]),
    "mul_bcast": (lambda a, b: a * b, [_any(2, 3, 4), _any(3, 1)]),
    "div_bcast": (lambda a, b: a / b, [_any(3, 4), _pos(4)]),
    "pow_tt": (lambda a, b: a**b, [_pos(3, 4), _any(3, 4)]),
    "rpow": (lambda a: 2.0**a, [_any(3, 4)]),
    "maximum": (jg.maximum, [_any(3, 4), _any(3, 4)]),
    "minimum": (jg.minimum, [_any(3, 4), _any(4)]),
    "atan2": (jg.atan2, [_any(3, 4), _any(3, 4)]),
    "where": (lambda a, b: jg.where(a > 0, a, b), [_any(3, 4), _any(3, 4)]),
    "scalar_ops": (lambda a: (3.0 - a) * 0.5 / (a * a + 1.0), [_any(3, 4)]),
    "masked_fill": (lambda a: a.masked_fill(a < 0, 0.25), [_any(3, 4)]),
    "addcmul": (lambda a, b: jg.addcmul(a, a, b, value=0.3), [_any(3, 4), _any(3, 4)]),
}
REDUCE = {
    "sum_all": (lambda x: x.sum(), [_any(3, 4, 5)]),
    "sum_dim": (lambda x: x.sum(1), [_any(3, 4, 5)]),
    "sum_dims_keep": (lambda x: x.sum((0, 2), keepdim=True), [_any(3, 4, 5)]),
    "mean": (lambda x: x.mean(-1), [_any(3, 4, 5)]),
    "amax": (lambda x: x.amax(1), [_any(3, 4, 5)]),
    "amin_02": (lambda x: x.amin((0, 2)), [_any(3, 4, 5)]),
    "max_dim": (lambda x: x.max(1).values, [_any(3, 5)]),
    "prod": (lambda x: x.prod(1), [_pos(3, 4)]),
    "var": (lambda x: x.var(1), [_any(3, 5)]),
    "std": (lambda x: x.std(0, keepdim=True), [_any(4, 5)]),
    "logsumexp": (lambda x: x.logsumexp(1), [_any(3, 5)]),
    "softmax": (lambda x: x.softmax(1), [_any(3, 5)]),
    "log_softmax": (lambda x: x.log_softmax(-1), [_any(3, 5)]),
    "norm": (lambda x: x.norm(), [_any(3, 5)]),
    "norm_dim": (lambda x: x.norm(dim=1), [_any(3, 5)]),
    "cumsum": (lambda x: x.cumsum(1), [_any(3, 5)]),
}
MOVE = {
    "reshape": (lambda x: x.reshape(4, 3) * 2, [_any(3, 4)]),
    "permute": (lambda x: x.permute(2, 0, 1) * 2, [_any(2, 3, 4)]),
    "transpose_mm": (lambda x, w: x.t() @ w, [_any(4, 3), _any(4, 2)]),
    "expand": (lambda x: x.expand(3, 4) * 2, [_any(1, 4)]),
    "flatten": (lambda x: x.flatten(1) * 2, [_any(2, 3, 4)]),
    "squeeze": (lambda x: x.unsqueeze(0).squeeze() * 2, [_any(3, 4)]),
    "slice": (lambda x: x[1:, ::2] * 2, [_any(3, 4)]),
    "index_int": (lambda x: x[:, 0] * 2, [_any(3, 4)]),
    "index_none": (lambda x: x[None, ..., 1] * 2, [_any(3, 4)]),
    "index_tensor": (lambda x: x[jg.tensor(IDX)] * 2, [_any(3, 4)]),
    "index_select": (lambda x: x.index_select(1, jg.tensor(IDX)) * 2, [_any(3, 4)]),
    "gather": (lambda x: x.gather(1, jg.tensor([[0, 1], [2, 2], [3, 0]])) * 2, [_any(3, 4)]),
    "cat": (lambda a, b: jg.cat([a, b * 2], 1), [_any(3, 4), _any(3, 2)]),
    "stack": (lambda a, b: jg.stack([a, b], 0) * 2, [_any(3, 4), _any(3, 4)]),
    "split": (lambda x: x.split([1, 3], 1)[1] * 2, [_any(3, 4)]),
    "chunk": (lambda x: x.chunk(2, 0)[0] * 2, [_any(4, 3)]),
    "narrow": (lambda x: x.narrow(1, 1, 2) * 2, [_any(3, 4)]),
    "flip": (lambda x: x.flip(0) * 2, [_any(3, 4)]),
    "repeat": (lambda x: x.repeat(2, 1) * 2, [_any(3, 4)]),
    "scatter_add": (
        lambda x, s: x.scatter_add(1, jg.tensor([[0, 1], [2, 2], [3, 0]]), s),
        [_any(3, 4), _any(3, 2)],
    ),
    "setitem": (lambda x: _setitem(x), [_any(3, 4)]),
}
MATMUL = {
    "mm": (lambda a, b: a @ b, [_any(3, 4), _any(4, 5)]),
    "bmm": (lambda a, b: a @ b, [_any(2, 3, 4), _any(2, 4, 5)]),
    "matmul_bcast": (lambda a, b: a @ b, [_any(2, 3, 4), _any(4, 5)]),
    "dot": (jg.dot, [_any(4), _any(4)]),
    "mv": (lambda a, b: a @ b, [_any(3, 4), _any(4)]),
    "linear_relu": (lambda x, w, b: (x @ w.t() + b).relu(), [_any(5, 4), _any(3, 4), _any(3)]),
}


def _setitem(x):
    y = x * 1
    y[0] = 0.5
    y[1:, 2] = x[1:, 1] * 3
    return y


TABLES = {"unary": UNARY, "binary": BINARY, "reduce": REDUCE, "move": MOVE, "matmul": MATMUL}


def _run_table(table, dtype, backend):
    names = list(table)
    flat, spans = [], []
    for n in names:
        fn, arrs = table[n]
        spans.append((len(flat), len(arrs)))
        flat += [a.astype(dtype) for a in arrs]
    weights = {}

    def step(*xs):
        for x in xs:
            x.grad = None
        outs = []
        total = None
        for n, (s, k) in zip(names, spans):
            o = table[n][0](*xs[s : s + k])
            outs.append(o)
            w = weights.setdefault(n, jg.tensor(R.uniform(-1, 1, o.shape).astype(dtype)))
            term = (o * w).sum()
            total = term if total is None else total + term
        total.backward()
        return outs, [x.grad for x in xs]

    ts = jg.trace(step, backend=backend, parallel=False)

    def args():
        return [jg.tensor(a, requires_grad=True) for a in flat]

    ref_out, ref_g = step(*args())
    for _ in range(2):  # warm-up, then capture
        ts(*args())
    assert ts.stats["captures"] == 1
    got_out, got_g = ts(*args())
    assert ts.stats["compiled_calls"] == 1
    return names, spans, (ref_out, ref_g), (got_out, got_g)


CASES = [(t, "float64") for t in sorted(TABLES)] + [
    ("unary", "float32"),
    ("reduce", "float32"),
    ("matmul", "float32"),
]


@pytest.mark.parametrize("table, dtype", CASES)
def test_traced_op_and_backward_match_eager(table, dtype):
    names, spans, (ro, rg), (go, gg) = _run_table(TABLES[table], np.dtype(dtype), "cpu")
    rtol, atol = (1e-10, 1e-12) if dtype == "float64" else (1e-5, 1e-6)
    for n, (s, k), a, b in zip(names, spans, ro, go):
        np.testing.assert_allclose(
            b.numpy(), a.detach().numpy(), rtol=rtol, atol=atol, err_msg=f"forward of {n}"
        )
        for j in range(k):
            ga, gb = rg[s + j], gg[s + j]
            assert (ga is None) == (gb is None), n
            if ga is not None:
                np.testing.assert_allclose(
                    gb.numpy(),
                    ga.numpy(),
                    rtol=rtol,
                    atol=atol,
                    err_msg=f"gradient of {n} input {j}",
                )


def test_reference_backend_is_exact():
    names, spans, (ro, rg), (go, gg) = _run_table(UNARY, np.dtype("float64"), "reference")
    for a, b in zip(ro, go):
        np.testing.assert_array_equal(b.numpy(), a.detach().numpy())


def _random_program(seed):
    """A random DAG of elementwise ops, broadcasts and reductions over shared inputs."""
    r = np.random.default_rng(seed)
    unary = [jg.sin, jg.tanh, jg.relu, jg.abs, jg.sigmoid, lambda t: t * 0.5, jg.neg]
    binary = [jg.add, jg.mul, jg.sub, jg.maximum, lambda a, b: jg.where(a > b, a, b)]
    plan = []
    for _ in range(14):
        k = r.integers(0, 4)
        plan.append(
            (
                k,
                int(r.integers(0, 1 << 30)),
                int(r.integers(0, 1 << 30)),
                int(r.integers(0, 1 << 30)),
            )
        )

    def prog(x, y):
        vals = [x, y, x * y]
        for k, a, b, c in plan:
            u, v = vals[a % len(vals)], vals[b % len(vals)]
            if k == 0:
                vals.append(unary[c % len(unary)](u))
            elif k == 1:
                vals.append(binary[c % len(binary)](u, v))
            elif k == 2:
                vals.append(u - u.sum(1, keepdim=True) * 0.1)
            else:
                vals.append(u * v.amax(0, keepdim=True))
        return vals[-1] + vals[-2] * vals[-3]

    return prog


def test_random_elementwise_dags_fuse_correctly():
    progs = [_random_program(s) for s in range(5)]
    x0, y0 = _any(5, 4), _any(5, 4)
    w = jg.tensor(_any(5, 4))

    def step(x, y):
        x.grad = None
        outs = [p(x, y) for p in progs]
        sum((o * w).sum() for o in outs).backward()
        return outs, x.grad

    args = lambda: (jg.tensor(x0, requires_grad=True), jg.tensor(y0))
    ref = step(*args())
    ts = jg.trace(step, parallel=False)
    for _ in range(3):
        got = ts(*args())
    assert ts.stats["compiled_calls"] == 1
    for a, b in zip(ref[0], got[0]):
        np.testing.assert_allclose(b.numpy(), a.detach().numpy(), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(got[1].numpy(), ref[1].numpy(), rtol=1e-10, atol=1e-12)
