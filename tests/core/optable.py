"""The op table: every public op with an input generator and a NumPy reference.

Each ``Case`` holds a jitgrad function, a NumPy reference and the arrays it is called with.
Floating arrays are differentiable inputs (checked against finite differences in float64);
integer and bool arrays are passed as constant tensors (indices, masks). Generators keep
inputs away from non-differentiable points (abs/relu at 0, clamp bounds, max ties).

``backends`` says where a row also runs traced (eager vs ``jitgrad.trace``, forward and
gradient): "reference", "cpu" (serial loops), "cpu_parallel" (every loop a ``prange``) and
"cuda" (the simulator, in ``tests/cuda``). ``run_traced`` batches many rows into one traced
step so a backend compiles a few graphs, not one per row; ``compiled_sample`` picks the rows
that cover every primitive (and, per op kind, 0-d, empty, broadcast and strided inputs).
"""

import math
import warnings
from dataclasses import dataclass, field

import numpy as np
import scipy.special as sp

import jitgrad as jg


@dataclass
class Case:
    name: str
    fn: object  # jitgrad: (*tensors) -> Tensor
    ref: object  # NumPy: (*arrays) -> array
    args: list  # NumPy arrays
    grad: bool = True  # check derivatives
    grad2: bool = True  # check second derivatives (only with ``grad``)
    tags: set = field(default_factory=set)
    backends: tuple = ("reference", "cpu", "cpu_parallel", "cuda")  # traced checks
    # backend -> primitives allowed to take that backend's slow path (see SLOW_PATHS)
    slow: dict = field(default_factory=dict)

    def __post_init__(self):
        self.args = [np.asarray(a) for a in self.args]
        self.grad2 = self.grad and self.grad2

    @property
    def id(self):
        shapes = ",".join("x".join(map(str, a.shape)) or "0d" for a in self.args)
        return f"{self.name}[{shapes}]"


_RNG = np.random.default_rng(1234)


def away(shape, lo=0.3, hi=1.7):
    """Values with |x| in [lo, hi] and a random sign: far from 0 (abs, relu, sign)."""
    mag = _RNG.uniform(lo, hi, size=shape)
    return np.where(_RNG.random(shape) < 0.5, -mag, mag)


def pos(shape, lo=0.5, hi=2.0):
    return _RNG.uniform(lo, hi, size=shape)


def unit(shape):
    return _RNG.uniform(-0.8, 0.8, size=shape)


def distinct(shape):
    """Distinct values (no ties for max/min/sort-like ops), at least 0.1 apart, none at 0."""
    n = int(np.prod(shape))
    v = (_RNG.permutation(n) - n / 2.0) * 0.37 + 0.11
    return v.reshape(shape)


UNARY_SHAPES = [(), (3,), (2, 3), (0,), (2, 0)]
BINARY_SHAPES = [
    ((2, 3), (2, 3)),
    ((2, 3), (3,)),
    ((2, 1), (1, 3)),
    ((), (2, 3)),
    ((3,), ()),
    ((), ()),
    ((0, 3), (3,)),
    ((2, 1, 3), (4, 1)),
]

# name, jitgrad fn, numpy ref, generator, grad check
UNARY = [
    ("neg", jg.neg, np.negative, away, True),
    ("exp", jg.exp, np.exp, away, True),
    ("exp2", jg.exp2, np.exp2, away, True),
    ("log", jg.log, np.log, pos, True),
    ("log2", jg.log2, np.log2, pos, True),
    ("log10", jg.log10, np.log10, pos, True),
    ("log1p", jg.log1p, np.log1p, pos, True),
    ("expm1", jg.expm1, np.expm1, away, True),
    ("sqrt", jg.sqrt, np.sqrt, pos, True),
    ("rsqrt", jg.rsqrt, lambda x: 1 / np.sqrt(x), pos, True),
    ("abs", jg.abs, np.abs, away, True),
    ("sin", jg.sin, np.sin, away, True),
    ("cos", jg.cos, np.cos, away, True),
    ("tan", jg.tan, np.tan, unit, True),
    ("asin", jg.asin, np.arcsin, unit, True),
    ("acos", jg.acos, np.arccos, unit, True),
    ("atan", jg.atan, np.arctan, away, True),
    ("sinh", jg.sinh, np.sinh, away, True),
    ("cosh", jg.cosh, np.cosh, away, True),
    ("tanh", jg.tanh, np.tanh, away, True),
    ("sigmoid", jg.sigmoid, lambda x: 1 / (1 + np.exp(-x)), away, True),
    ("relu", jg.relu, lambda x: np.maximum(x, 0), away, True),
    ("reciprocal", jg.reciprocal, lambda x: 1 / x, away, True),
    ("erf", jg.erf, sp.erf, away, True),
    ("square", jg.square, np.square, away, True),
    ("sign", jg.sign, np.sign, away, True),
    ("floor", jg.floor, np.floor, lambda s: away(s) + 0.05, True),
    ("ceil", jg.ceil, np.ceil, lambda s: away(s) + 0.05, True),
    ("round", jg.round, np.round, lambda s: away(s) + 0.05, True),
    ("trunc", jg.trunc, np.trunc, lambda s: away(s) + 0.05, True),
    (
        "clamp",
        lambda x: jg.clamp(x, -0.9, 0.8),
        lambda x: np.clip(x, -0.9, 0.8),
        lambda s: _off(away(s), (-0.9, 0.8)),
        True,
    ),
    (
        "clamp_min",
        lambda x: x.clamp(min=0.6),
        lambda x: np.maximum(x, 0.6),
        lambda s: _off(away(s), (0.6,)),
        True,
    ),
    (
        "clamp_max",
        lambda x: jg.clamp(x, max=-0.2),
        lambda x: np.minimum(x, -0.2),
        lambda s: _off(away(s), (-0.2,)),
        True,
    ),
    ("pow_2", lambda x: x**2, lambda x: x**2, away, True),
    ("pow_3", lambda x: jg.pow(x, 3), lambda x: x**3, away, True),
    ("pow_half", lambda x: x**0.5, np.sqrt, pos, True),
    ("pow_neg1", lambda x: x**-1, lambda x: 1 / x, away, True),
    ("pow_2.5", lambda x: x.pow(2.5), lambda x: x**2.5, pos, True),
    ("pow_0", lambda x: x**0, lambda x: x**0, away, True),
    ("rpow", lambda x: 2.0**x, lambda x: 2.0**x, away, True),
    ("radd", lambda x: 1.5 + x, lambda x: 1.5 + x, away, True),
    ("rsub", lambda x: 1.5 - x, lambda x: 1.5 - x, away, True),
    ("rmul", lambda x: 1.5 * x, lambda x: 1.5 * x, away, True),
    ("rdiv", lambda x: 1.5 / x, lambda x: 1.5 / x, away, True),
    ("div_scalar", lambda x: x / 4, lambda x: x / 4, away, True),
    ("sub_scalar", lambda x: x - 4, lambda x: x - 4, away, True),
    ("lerp", lambda x: jg.lerp(x, x * x, 0.3), lambda x: x + 0.3 * (x * x - x), away, True),
    ("clone", jg.clone, np.copy, away, True),
    ("pos", lambda x: +x, lambda x: +x, away, True),
    ("softmax_0d", lambda x: jg.softmax(x, 0), lambda x: _np_softmax(x, 0), away, True),
    (
        "log_softmax_0d",
        lambda x: jg.log_softmax(x, -1),
        lambda x: x - sp.logsumexp(x, -1, keepdims=True) if x.size and x.ndim else x * 0,
        away,
        True,
    ),
    (
        "to_float32_and_back",
        lambda x: x.float().double() * 1,
        lambda x: x.astype(np.float32).astype(np.float64),
        away,
        False,
    ),
]


def _off(x, points, eps=0.1):
    """Push values at least ``eps`` away from each of ``points``."""
    for p in points:
        near = np.abs(x - p) < eps
        x = np.where(near, p + np.where(x >= p, eps, -eps), x)
    return x


def _np_softmax(x, axis):
    if x.size == 0:
        return x.copy()
    e = np.exp(x - x.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


def _np_logsumexp(x, axis, keepdims=False):
    return sp.logsumexp(x, axis=axis, keepdims=keepdims)


BINARY = [
    ("add", jg.add, np.add, away, away),
    ("add_alpha", lambda a, b: jg.add(a, b, alpha=2.5), lambda a, b: a + 2.5 * b, away, away),
    ("sub", jg.sub, np.subtract, away, away),
    ("sub_alpha", lambda a, b: jg.sub(a, b, alpha=0.5), lambda a, b: a - 0.5 * b, away, away),
    ("mul", jg.mul, np.multiply, away, away),
    ("div", jg.div, np.divide, away, away),
    ("op_add", lambda a, b: a + b, np.add, away, away),
    ("op_sub", lambda a, b: a - b, np.subtract, away, away),
    ("op_mul", lambda a, b: a * b, np.multiply, away, away),
    ("op_div", lambda a, b: a / b, np.divide, away, away),
    ("pow", jg.pow, np.power, pos, away),
    ("op_pow", lambda a, b: a**b, np.power, pos, away),
    ("atan2", jg.atan2, np.arctan2, away, away),
    ("maximum", jg.maximum, np.maximum, distinct, lambda s: distinct(s) + 0.05),
    ("minimum", jg.minimum, np.minimum, distinct, lambda s: distinct(s) + 0.05),
    ("max_binary", lambda a, b: jg.max(a, b), np.maximum, distinct, lambda s: distinct(s) + 0.05),
    (
        "where_gt",
        lambda a, b: jg.where(a > b, a, b * 2),
        lambda a, b: np.where(a > b, a, b * 2),
        distinct,
        lambda s: distinct(s) + 0.05,
    ),
    (
        "addcmul",
        lambda a, b: jg.addcmul(a, b, b, value=0.5),
        lambda a, b: a + 0.5 * b * b,
        away,
        away,
    ),
    ("addcdiv", lambda a, b: jg.addcdiv(a, a, b, value=2), lambda a, b: a + 2 * a / b, away, away),
    (
        "clamp_tensor",
        lambda a, b: jg.clamp(a, min=b),
        np.maximum,
        distinct,
        lambda s: distinct(s) + 0.05,
    ),
    (
        "hypot_like",
        lambda a, b: (a * a + b * b).sqrt(),
        lambda a, b: np.sqrt(a * a + b * b),
        away,
        away,
    ),
]

# the fused backward primitives (what tanh/sigmoid/relu/div differentiate into), checked
# like any op so gradients of gradients stay right
_EW = jg.ops.elementwise
BINARY += [
    ("tanh_backward", _EW.tanh_backward, lambda g, y: g * (1 - y * y), away, unit),
    ("sigmoid_backward", _EW.sigmoid_backward, lambda g, y: g * y * (1 - y), away, unit),
    ("relu_backward", _EW.relu_backward, lambda g, y: np.where(y > 0, g, 0), away, away),
]
TERNARY = [
    ("div_backward_rhs", _EW.div_backward_rhs, lambda g, a, b: -g * a / (b * b), away),
]
TERNARY_SHAPES = [
    ((2, 3), (2, 3), (2, 3)),
    ((2, 3), (3,), (2, 1)),
    ((), (), ()),
    ((0, 3), (3,), ()),
]

MATMUL = [
    ("matmul_1d_1d", (3,), (3,)),
    ("matmul_2d_1d", (2, 3), (3,)),
    ("matmul_1d_2d", (3,), (3, 2)),
    ("matmul_2d_2d", (2, 3), (3, 4)),
    ("matmul_batched", (2, 2, 3), (2, 3, 2)),
    ("matmul_bcast", (2, 1, 2, 3), (3, 3, 2)),
    ("matmul_1d_3d", (3,), (2, 3, 2)),
    ("matmul_3d_1d", (2, 2, 3), (3,)),
    ("matmul_empty", (0, 3), (3, 2)),
    ("matmul_empty_k", (2, 0), (0, 3)),
]

# reductions: (name, fn(x, dim, keepdim), ref(x, dim, keepdim), generator)
REDUCE = [
    (
        "sum",
        lambda x, d, k: jg.sum(x, d, keepdim=k),
        lambda x, d, k: np.sum(x, d, keepdims=k),
        away,
    ),
    ("mean", lambda x, d, k: x.mean(d, keepdim=k), lambda x, d, k: np.mean(x, d, keepdims=k), away),
    (
        "prod",
        lambda x, d, k: (
            x.prod(d, keepdim=k) if d is None or isinstance(d, int) else x.prod(d[0], keepdim=k)
        ),
        lambda x, d, k: np.prod(x, d if d is None or isinstance(d, int) else d[0], keepdims=k),
        away,
    ),
    (
        "amax",
        lambda x, d, k: jg.amax(x, () if d is None else d, keepdim=k),
        lambda x, d, k: np.amax(x, d, keepdims=k),
        distinct,
    ),
    (
        "amin",
        lambda x, d, k: x.amin(() if d is None else d, keepdim=k),
        lambda x, d, k: np.amin(x, d, keepdims=k),
        distinct,
    ),
    (
        "var",
        lambda x, d, k: x.var(d, keepdim=k),
        lambda x, d, k: np.var(x, d, ddof=1, keepdims=k),
        away,
    ),
    (
        "var_biased",
        lambda x, d, k: jg.var(x, d, keepdim=k, correction=0),
        lambda x, d, k: np.var(x, d, keepdims=k),
        away,
    ),
    (
        "std",
        lambda x, d, k: x.std(d, keepdim=k),
        lambda x, d, k: np.std(x, d, ddof=1, keepdims=k),
        away,
    ),
    (
        "logsumexp",
        lambda x, d, k: jg.logsumexp(x, d if d is not None else (0, 1, 2), keepdim=k),
        lambda x, d, k: _np_logsumexp(x, d, k),
        away,
    ),
    (
        "norm2",
        lambda x, d, k: x.norm(dim=d, keepdim=k),
        lambda x, d, k: np.sqrt(np.sum(x * x, d, keepdims=k)),
        away,
    ),
    (
        "norm1",
        lambda x, d, k: jg.norm(x, 1, d, keepdim=k),
        lambda x, d, k: np.sum(np.abs(x), d, keepdims=k),
        away,
    ),
    (
        "norm3",
        lambda x, d, k: jg.norm(x, 3, d, keepdim=k),
        lambda x, d, k: np.sum(np.abs(x) ** 3, d, keepdims=k) ** (1 / 3),
        away,
    ),
    (
        "norm_inf",
        lambda x, d, k: jg.norm(x, math.inf, d, keepdim=k),
        lambda x, d, k: np.max(np.abs(x), d, keepdims=k),
        lambda s: distinct(s),
    ),
]
REDUCE_DIMS = [None, 0, -1, 1, (0, 2), (-1, 0)]

DIM_OPS = [
    # name, fn(x, dim), ref(x, dim), generator
    ("softmax", lambda x, d: jg.softmax(x, d), _np_softmax, away),
    (
        "log_softmax",
        lambda x, d: x.log_softmax(d),
        lambda x, d: x - sp.logsumexp(x, d, keepdims=True),
        away,
    ),
    ("cumsum", lambda x, d: x.cumsum(d), lambda x, d: np.cumsum(x, d), away),
    ("max_dim", lambda x, d: jg.max(x, d)[0], lambda x, d: np.max(x, d), distinct),
    (
        "min_dim_keep",
        lambda x, d: x.min(d, keepdim=True).values,
        lambda x, d: np.min(x, d, keepdims=True),
        distinct,
    ),
    ("flip", lambda x, d: x.flip(d), lambda x, d: np.flip(x, d), away),
    ("unsqueeze", lambda x, d: x.unsqueeze(d), lambda x, d: np.expand_dims(x, d), away),
    ("squeeze_dim", lambda x, d: x.unsqueeze(d).squeeze(d), lambda x, d: x, away),
    ("narrow", lambda x, d: x.narrow(d, 1, 1), lambda x, d: np.take(x, [1], axis=d), away),
    ("select", lambda x, d: x.select(d, -1), lambda x, d: np.take(x, -1, axis=d), away),
    (
        "unbind",
        lambda x, d: jg.stack([t * (i + 1) for i, t in enumerate(x.unbind(d))]),
        lambda x, d: np.stack([np.take(x, i, axis=d) * (i + 1) for i in range(x.shape[d])]),
        away,
    ),
    (
        "split2",
        lambda x, d: jg.cat([p.reshape(-1) * (i + 1) for i, p in enumerate(x.split(1, d))]),
        lambda x, d: np.concatenate(
            [p.reshape(-1) * (i + 1) for i, p in enumerate(np.split(x, x.shape[d], axis=d))]
        ),
        away,
    ),
    (
        "chunk",
        lambda x, d: jg.cat([p.reshape(-1) * (i + 1) for i, p in enumerate(x.chunk(2, d))]),
        lambda x, d: np.concatenate(
            [p.reshape(-1) * (i + 1) for i, p in enumerate(np.array_split(x, 2, axis=d))]
        ),
        away,
    ),
    (
        "cat_self",
        lambda x, d: jg.cat([x, x * 2], d),
        lambda x, d: np.concatenate([x, x * 2], d),
        away,
    ),
    (
        "stack_self",
        lambda x, d: jg.stack([x, x * 2], d),
        lambda x, d: np.stack([x, x * 2], d),
        away,
    ),
]


def _idx(a):
    return np.asarray(a, dtype=np.int64)


# movement / indexing: name, fn, ref, args
def _movement_cases():
    x23 = away((2, 3))
    x234 = away((2, 3, 4))
    out = [
        ("reshape", lambda x: x.reshape(3, 2), lambda x: x.reshape(3, 2), [x23]),
        ("reshape_infer", lambda x: jg.reshape(x, (-1,)), lambda x: x.reshape(-1), [x234]),
        ("reshape_0d", lambda x: x.reshape(1, 1), lambda x: x.reshape(1, 1), [away(())]),
        ("reshape_empty", lambda x: x.reshape(3, 0), lambda x: x.reshape(3, 0), [away((0, 3))]),
        ("view", lambda x: x.view(6), lambda x: x.reshape(6), [x23]),
        ("view_as", lambda x: x.view_as(x.t()), lambda x: x.reshape(3, 2), [x23]),
        ("flatten", lambda x: x.flatten(1), lambda x: x.reshape(2, 12), [x234]),
        ("flatten_mid", lambda x: jg.flatten(x, 0, 1), lambda x: x.reshape(6, 4), [x234]),
        ("unflatten", lambda x: x.unflatten(1, (3, 1)), lambda x: x.reshape(2, 3, 1), [x23]),
        ("squeeze", lambda x: x.squeeze(), lambda x: x.squeeze(), [away((1, 3, 1))]),
        ("squeeze_tuple", lambda x: x.squeeze((0, 2)), lambda x: x.reshape(3), [away((1, 3, 1))]),
        ("transpose", lambda x: x.transpose(0, 2), lambda x: x.swapaxes(0, 2), [x234]),
        ("t", lambda x: x.t(), lambda x: x.T, [x23]),
        ("T", lambda x: x.T, lambda x: x.T, [x234]),
        ("mT", lambda x: x.mT, lambda x: np.swapaxes(x, -1, -2), [x234]),
        ("permute", lambda x: x.permute(2, 0, 1), lambda x: x.transpose(2, 0, 1), [x234]),
        ("permute_tuple", lambda x: jg.permute(x, (1, 0)), lambda x: x.T, [x23]),
        ("movedim", lambda x: jg.movedim(x, 0, -1), lambda x: np.moveaxis(x, 0, -1), [x234]),
        (
            "expand",
            lambda x: x.expand(4, 2, 3),
            lambda x: np.broadcast_to(x, (4, 2, 3)),
            [away((2, 1))],
        ),
        (
            "expand_m1",
            lambda x: x.expand(-1, 3),
            lambda x: np.broadcast_to(x, (2, 3)),
            [away((2, 1))],
        ),
        ("expand_0d", lambda x: x.expand(2, 2), lambda x: np.broadcast_to(x, (2, 2)), [away(())]),
        (
            "expand_as",
            lambda x: x.expand_as(jg.zeros(3, 2, 3)),
            lambda x: np.broadcast_to(x, (3, 2, 3)),
            [x23],
        ),
        (
            "broadcast_to",
            lambda x: jg.broadcast_to(x, (2, 2, 3)),
            lambda x: np.broadcast_to(x, (2, 2, 3)),
            [away((3,))],
        ),
        ("repeat", lambda x: x.repeat(2, 1, 2), lambda x: np.tile(x, (2, 1, 2)), [x23]),
        ("contiguous", lambda x: x.t().contiguous(), lambda x: x.T.copy(), [x23]),
        ("getitem_int", lambda x: x[1], lambda x: x[1], [x234]),
        ("getitem_negint", lambda x: x[-1, 0], lambda x: x[-1, 0], [x234]),
        ("getitem_slice", lambda x: x[:, 1:3], lambda x: x[:, 1:3], [x234]),
        ("getitem_step", lambda x: x[..., ::2], lambda x: x[..., ::2], [x234]),
        ("getitem_none", lambda x: x[None, :, None, 1], lambda x: x[None, :, None, 1], [x234]),
        ("getitem_ellipsis", lambda x: x[..., 1], lambda x: x[..., 1], [x234]),
        ("getitem_empty_slice", lambda x: x[2:2], lambda x: x[2:2], [x23]),
        ("getitem_0d", lambda x: x[...], lambda x: x[...], [away(())]),
        ("getitem_0d_none", lambda x: x[None], lambda x: x[None], [away(())]),
        ("getitem_bool0d", lambda x: x[True], lambda x: x[None], [x23]),
        ("adv_int_tensor", lambda x, i: x[i], lambda x, i: x[i], [x234, _idx([1, 0, 1])]),
        ("adv_int_list", lambda x: x[[0, 2, 2]], lambda x: x[[0, 2, 2]], [away((3, 2))]),
        ("adv_neg", lambda x, i: x[:, i], lambda x, i: x[:, i], [x234, _idx([-1, 0])]),
        (
            "adv_two",
            lambda x, i, j: x[i, j],
            lambda x, i, j: x[i, j],
            [x234, _idx([0, 1, 1]), _idx([2, 0, 2])],
        ),
        ("adv_2d_index", lambda x, i: x[i], lambda x, i: x[i], [x23, _idx([[0, 1], [1, 1]])]),
        (
            "adv_mixed_slice",
            lambda x, i: x[1:, i, ::2],
            lambda x, i: x[1:, i, ::2],
            [x234, _idx([2, 2, 0])],
        ),
        (
            "adv_separated",
            lambda x, i, j: x[i, :, j],
            lambda x, i, j: x[i, :, j],
            [x234, _idx([0, 1]), _idx([3, 0])],
        ),
        ("bool_mask", lambda x, m: x[m], lambda x, m: x[m], [x23, x23 > 0]),
        ("bool_mask_rows", lambda x, m: x[m], lambda x, m: x[m], [x234, np.array([True, False])]),
        (
            "bool_mask_dim1",
            lambda x, m: x[:, m],
            lambda x, m: x[:, m],
            [x234, np.array([True, False, True])],
        ),
        ("masked_select", lambda x, m: jg.masked_select(x, m), lambda x, m: x[m], [x23, x23 > 0]),
        (
            "masked_select_bcast",
            lambda x, m: x.masked_select(m),
            lambda x, m: np.broadcast_to(x, (2, 3))[np.broadcast_to(m, (2, 3))],
            [away((3,)), np.array([[True, False, True], [False, False, True]])],
        ),
        (
            "masked_fill",
            lambda x, m: x.masked_fill(m, 0.5),
            lambda x, m: np.where(m, 0.5, x),
            [x23, x23 > 0],
        ),
        (
            "masked_fill_bcast",
            lambda x, m: jg.masked_fill(x, m, -2.0),
            lambda x, m: np.where(m, -2.0, x),
            [x23, np.array([True, False, True])],
        ),
        (
            "where_scalar",
            lambda x: jg.where(x > 0, x, 0.0),
            lambda x: np.where(x > 0, x, 0.0),
            [x23],
        ),
        (
            "where_self",
            lambda x, y: x.where(x < 0, y),
            lambda x, y: np.where(x < 0, x, y),
            [x23, away((3,))],
        ),
        (
            "gather",
            lambda x, i: x.gather(1, i),
            lambda x, i: np.take_along_axis(x, i, 1),
            [x23, _idx([[0, 0], [2, 1]])],
        ),
        (
            "gather_dim0",
            lambda x, i: jg.gather(x, 0, i),
            lambda x, i: np.take_along_axis(x, i, 0),
            [x23, _idx([[1, 0, 1], [1, 1, 0], [0, 0, 0]])],
        ),
        (
            "gather_small",
            lambda x, i: jg.gather(x, 1, i),
            lambda x, i: np.take_along_axis(x[:1], i, 1),
            [x23, _idx([[2, 2]])],
        ),
        (
            "take_along_dim",
            lambda x, i: jg.take_along_dim(x, i, 0),
            lambda x, i: np.take_along_axis(x, i, 0),
            [x23, _idx([[1, 0, 1]])],
        ),
        (
            "scatter_add",
            lambda x, i, s: x.scatter_add(1, i, s),
            _np_scatter_add(1),
            [x23, _idx([[0, 0], [2, 1]]), away((2, 2))],
        ),
        (
            "scatter_add_dim0",
            lambda x, i, s: jg.scatter_add(x, 0, i, s),
            _np_scatter_add(0),
            [x23, _idx([[1, 1, 0]]), away((2, 3))],
        ),
        (
            "index_select",
            lambda x, i: x.index_select(1, i),
            lambda x, i: x[:, i],
            [x234, _idx([2, 0, 2])],
        ),
        (
            "index_select_0",
            lambda x, i: jg.index_select(x, 0, i),
            lambda x, i: x[i],
            [x23, _idx([1, 1])],
        ),
        (
            "cat",
            lambda a, b: jg.cat([a, b], 1),
            lambda a, b: np.concatenate([a, b], 1),
            [x23, away((2, 2))],
        ),
        (
            "cat_neg_dim",
            lambda a, b: jg.cat((a, b), -1),
            lambda a, b: np.concatenate([a, b], -1),
            [x23, away((2, 1))],
        ),
        (
            "cat_empty",
            lambda a, b: jg.cat([a, b]),
            lambda a, b: np.concatenate([a, b]),
            [away((0, 3)), x23],
        ),
        ("cat_legacy_empty", lambda a, b: jg.cat([a, b]), lambda a, b: b, [away((0,)), x23]),
        (
            "stack",
            lambda a, b: jg.stack([a, b]),
            lambda a, b: np.stack([a, b]),
            [x23, away((2, 3))],
        ),
        (
            "stack_last",
            lambda a, b: jg.stack([a, b], -1),
            lambda a, b: np.stack([a, b], -1),
            [x23, away((2, 3))],
        ),
        (
            "stack_0d",
            lambda a, b: jg.stack([a, b]),
            lambda a, b: np.stack([a, b]),
            [away(()), away(())],
        ),
        (
            "split_list",
            lambda x: jg.cat([p.sum(1) * (i + 1) for i, p in enumerate(jg.split(x, [1, 3], 1))]),
            lambda x: np.concatenate([x[:, :1].sum(1), x[:, 1:].sum(1) * 2]),
            [away((2, 4))],
        ),
        (
            "split_uneven",
            lambda x: jg.cat([p.sum(0) * (i + 1) for i, p in enumerate(x.split(2))]),
            lambda x: np.concatenate([x[:2].sum(0), x[2:].sum(0) * 2]),
            [away((3, 2))],
        ),
        (
            "chunk_uneven",
            lambda x: jg.cat([p.reshape(-1) * (i + 1) for i, p in enumerate(jg.chunk(x, 3))]),
            lambda x: np.concatenate(
                [x[:2].reshape(-1), 2 * x[2:4].reshape(-1), 3 * x[4:].reshape(-1)]
            ),
            [away((5, 2))],
        ),
        ("cumsum_0d", lambda x: x.cumsum(0), lambda x: x, [away(())]),
        (
            "cumsum_int",
            lambda x: jg.cumsum(x, 0),
            lambda x: np.cumsum(x, 0),
            [np.array([1, 2, 3], dtype=np.int64)],
        ),
        ("flip_multi", lambda x: x.flip((0, 2)), lambda x: np.flip(x, (0, 2)), [x234]),
        ("outer", lambda a, b: jg.outer(a, b), np.outer, [away((3,)), away((2,))]),
        ("dot", lambda a, b: jg.dot(a, b), np.dot, [away((3,)), away((3,))]),
        ("mv", lambda a, b: jg.mv(a, b), np.dot, [x23, away((3,))]),
        ("mm", lambda a, b: jg.mm(a, b), np.dot, [x23, away((3, 2))]),
        ("bmm", lambda a, b: jg.bmm(a, b), np.matmul, [away((2, 2, 3)), away((2, 3, 2))]),
        ("op_matmul", lambda a, b: a @ b, np.matmul, [x23, away((3, 2))]),
        (
            "addmm",
            lambda c, a, b: jg.addmm(c, a, b, beta=0.5, alpha=2),
            lambda c, a, b: 0.5 * c + 2 * (a @ b),
            [away((2,)), x23, away((3, 2))],
        ),
        (
            "iter_unpack",
            lambda x: jg.stack([a * 2 + b for a, b in [tuple(x)]]),
            lambda x: (x[0] * 2 + x[1])[None],
            [away((2, 3))],
        ),
        (
            "softmax_default_dim",
            lambda x: x.softmax(-1),
            lambda x: _np_softmax(x, -1),
            [away((0, 3))],
        ),
        ("softmax_empty_dim", lambda x: x.softmax(-1), lambda x: x, [away((2, 0))]),
        ("var_all", lambda x: x.var(), lambda x: np.var(x, ddof=1), [away((7,))]),
        (
            "std_unbiased_false",
            lambda x: x.std(unbiased=False),
            lambda x: np.std(x),
            [away((2, 3))],
        ),
        ("prod_all", lambda x: x.prod(), np.prod, [away((2, 3))]),
        ("prod_0d", lambda x: x.prod(), np.prod, [away(())]),
        ("sum_0d_dim", lambda x: x.sum(0), np.sum, [away(())]),
        ("mean_0d", lambda x: x.mean(), np.mean, [away(())]),
        ("sum_empty", lambda x: x.sum(), np.sum, [away((0, 3))]),
        ("sum_empty_dim", lambda x: x.sum(0), lambda x: np.sum(x, 0), [away((0, 3))]),
        ("max_all", lambda x: x.max(), np.max, [distinct((2, 3))]),
        ("min_all", lambda x: jg.min(x), np.min, [distinct((2, 3))]),
        ("max_0d_dim", lambda x: x.max(0).values, lambda x: x, [away(())]),
        (
            "logsumexp_large",
            lambda x: jg.logsumexp(x * 1000, 1),
            lambda x: sp.logsumexp(x * 1000, 1),
            [np.array([[0.5, 0.6], [-0.1, 0.2]])],
        ),
        (
            "softmax_large",
            lambda x: jg.softmax(x * 1000, 1),
            lambda x: _np_softmax(x * 1000, 1),
            [np.array([[0.5, 0.501], [-0.1, -0.1002]])],
        ),
        (
            "sigmoid_large",
            lambda x: jg.sigmoid(x * 1000),
            lambda x: sp.expit(x * 1000),
            [np.array([-0.9, 0.0004, 0.9])],
        ),
    ]
    return out


def _np_conv2d(x, w, b=None, pad=0):
    """Direct NumPy cross-correlation (N, C, H, W) * (O, C, kh, kw), stride 1."""
    x = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)))
    n, c, h, wd = x.shape
    o, _, kh, kw = w.shape
    out = np.zeros((n, o, h - kh + 1, wd - kw + 1))
    for i in range(out.shape[2]):
        for j in range(out.shape[3]):
            out[:, :, i, j] = np.einsum("nchw,ochw->no", x[:, :, i : i + kh, j : j + kw], w)
    return out if b is None else out + b[None, :, None, None]


def _np_max_pool2d(x, k):
    n, c, h, w = x.shape
    return x[:, :, : h // k * k, : w // k * k].reshape(n, c, h // k, k, w // k, k).max((3, 5))


def _np_pool_sq_grad(x, k):
    """d/dx of sum(max_pool2d(x, k) ** 2): 2 * max at each window's argmax."""
    g = np.zeros_like(x)
    n, c, h, w = x.shape
    for a in range(n):
        for b in range(c):
            for i in range(h // k):
                for j in range(w // k):
                    win = x[a, b, i * k : i * k + k, j * k : j * k + k]
                    p, q = np.unravel_index(np.argmax(win), win.shape)
                    g[a, b, i * k + p, j * k + q] = 2 * win[p, q]
    return g


def _pool_sq_grad(x):
    """The gradient of sum(max_pool2d(x) ** 2) as an op (its own gradient reaches
    ``max_pool2d_gather``)."""
    import jitgrad.nn.functional as F

    with jg.enable_grad():
        if not x.requires_grad:
            x = x.detach().requires_grad_()
        return jg.autograd.grad((F.max_pool2d(x, 2) ** 2).sum(), x, create_graph=True)[0]


def _pool_no_grad(x):
    import jitgrad.nn.functional as F

    return F.max_pool2d(x.detach(), 2)


def _nn_cases():
    """Convolution, pooling and padding (their primitives live in ops/conv.py)."""
    import jitgrad.nn.functional as F

    return [
        (
            "conv2d",
            lambda x, w, b: F.conv2d(x, w, b, padding=1),
            lambda x, w, b: _np_conv2d(x, w, b, 1),
            [away((1, 2, 4, 4)), away((3, 2, 3, 3)), away((3,))],
        ),
        (
            "max_pool2d",
            lambda x: F.max_pool2d(x, 2),
            lambda x: _np_max_pool2d(x, 2),
            [distinct((1, 2, 4, 4))],
        ),
        (
            "max_pool2d_indices",
            lambda x: F.max_pool2d(x, 2, return_indices=True)[0] * 2,
            lambda x: _np_max_pool2d(x, 2) * 2,
            [distinct((1, 1, 4, 4))],
        ),
        (
            "max_pool2d_grad_of_grad",
            _pool_sq_grad,
            lambda x: _np_pool_sq_grad(x, 2),
            [distinct((1, 1, 4, 4))],
        ),
        (
            "pad",
            lambda x: F.pad(x, (1, 2)),
            lambda x: np.pad(x, ((0, 0), (1, 2))),
            [away((2, 3))],
        ),
    ]


def _logic_cases():
    """Comparisons, logical, bitwise and integer ops (no gradient)."""
    a, b = distinct((2, 3)), distinct((2, 3)) + 0.05
    i, j = _idx([[3, -4, 5], [7, 0, -2]]), _idx([[2, 3, -3], [4, 5, 6]])
    m, n = a > 0, b < 0.5
    x = np.array([1.0, np.nan, np.inf, -np.inf, -0.0, 2.5])
    return [
        ("eq_ne", lambda a, b: (a == a) & (a != b), lambda a, b: (a == a) & (a != b), [a, b]),
        ("lt_ge", lambda a, b: (a < b) | (a >= b * 2), lambda a, b: (a < b) | (a >= b * 2), [a, b]),
        ("logical", lambda m, n: jg.logical_and(m, n) ^ jg.logical_or(m, ~n), None, [m, n]),
        ("logical_not_xor", lambda m, n: jg.logical_xor(jg.logical_not(m), n), None, [m, n]),
        ("bitwise", lambda i, j: (i & j) | (i ^ j), lambda i, j: (i & j) | (i ^ j), [i, j]),
        ("floor_divide", lambda i, j: i // j, lambda i, j: i // j, [i, j]),
        ("remainder", lambda i, j: i % j, lambda i, j: i % j, [i, j]),
        ("fmod", lambda i, j: jg.fmod(i, j), np.fmod, [i, j]),
        ("isnan_isinf", lambda x: x.isnan() | x.isinf(), lambda x: np.isnan(x) | np.isinf(x), [x]),
        ("isfinite", lambda x: jg.isfinite(x), np.isfinite, [x]),
        ("any_all", lambda m: m.any(1) | m.all(0)[:2], lambda m: m.any(1) | m.all(0)[:2], [m]),
    ]


def _dynamic_cases():
    return [
        ("nonzero", lambda x: jg.nonzero(x > 0), lambda x: np.argwhere(x > 0), [away((2, 3))]),
        (
            "where_1arg",
            lambda x: jg.where(x > 0)[1],
            lambda x: np.nonzero(x > 0)[1],
            [away((2, 3))],
        ),
    ]


def _strided_cases():
    """Ops reading transposed / stepped views (strided loops, not contiguous copies)."""
    return [
        ("strided_exp", lambda x: jg.exp(x.t()), lambda x: np.exp(x.T), [away((2, 3))]),
        (
            "strided_add",
            lambda a, b: a.t() * b + a.t(),
            lambda a, b: a.T * b + a.T,
            [away((3, 2)), away((2, 3))],
        ),
        (
            "strided_sum",
            lambda x: x[:, ::2].sum(0) + x.permute(1, 0).sum(1)[::2],
            lambda x: x[:, ::2].sum(0) + x.T.sum(1)[::2],
            [away((3, 4))],
        ),
        (
            "rows_reduce",  # 9 rows: big enough for the parallel reduction kernels
            lambda x: x.sum(1) + x.amax(1) * x.amin(1) + x.prod(1),
            lambda x: x.sum(1) + x.max(1) * x.min(1) + x.prod(1),
            [distinct((9, 3)) * 0.1],
        ),
        (
            "strided_matmul",
            lambda a, b: a.t() @ b.t(),
            lambda a, b: a.T @ b.T,
            [away((3, 2)), away((4, 3))],
        ),
    ]


def _orth(n):
    """A random orthogonal matrix (the Q of a QR, signs fixed)."""
    q, r = np.linalg.qr(_RNG.standard_normal((n, n)))
    return q * np.sign(np.diag(r))


def _spd(n, eigs=None):
    """A symmetric positive-definite matrix with well-separated eigenvalues."""
    q = _orth(n)
    e = np.asarray(eigs if eigs is not None else np.linspace(1.0, 1.0 + 1.5 * (n - 1), n))
    return (q * e) @ q.T


def _sym(a):
    """The symmetric part, so finite differences see a symmetric input (cholesky / eigh read
    one triangle; their gradients are the symmetric ones)."""
    return (a + a.mT) * 0.5


def _np_sym(a):
    return (a + np.swapaxes(a, -1, -2)) * 0.5


def _np_svd_parts(a):
    u, s, vh = np.linalg.svd(a, full_matrices=False)
    return np.concatenate([s, (u * u).reshape(-1), (vh * vh).reshape(-1)])


def _svd_parts(a):
    # |U|^2 and |Vh|^2: invariant under the sign of each singular pair, one term per output
    u, s, vh = jg.linalg.svd(a, full_matrices=False)
    return jg.cat([s, (u * u).reshape(-1), (vh * vh).reshape(-1)])


def _eigh_parts(a):
    w, v = jg.linalg.eigh(_sym(a))
    return jg.cat([w, (v * v).reshape(-1)])


def _np_eigh_parts(a):
    w, v = np.linalg.eigh(_np_sym(a))
    return np.concatenate([w, (v * v).reshape(-1)])


def _with_grad(f, w):
    """``f(x)`` stacked with the gradient of ``sum(f(x) * w)`` computed by autograd: an op
    whose own derivative is not implemented (cumprod's backward, trigamma) is still checked
    (against NumPy) and traced through its VJP."""

    def fn(x):
        with jg.enable_grad():
            if not x.requires_grad:
                x = x.detach().requires_grad_()
            y = f(x)
            g = jg.autograd.grad(
                (y * jg.tensor(w.astype(x._data.dtype))).sum(), x, create_graph=True
            )[0]
        return jg.stack([y, g])

    return fn


def _np_cumprod_grad(x, w):
    """d/dx_i sum_j w_j prod_{k<=j} x_k along the last axis, by the product rule (no division:
    exact at zeros)."""
    g = np.zeros_like(x)
    n = x.shape[-1]
    for i in range(n):
        for j in range(i, n):
            p = np.prod(np.delete(x[..., : j + 1], i, axis=-1), axis=-1)
            g[..., i] += w[..., j] * p
    return g


def _np_mode(x):
    """(values, last index of the value) of the most frequent value along the last axis,
    the smallest on ties."""
    vals, idx = [], []
    for row in x.reshape(-1, x.shape[-1]):
        u, c = np.unique(row, return_counts=True)
        v = u[np.argmax(c)]
        vals.append(v)
        idx.append(np.nonzero(row == v)[0][-1])
    return np.array(vals).reshape(x.shape[:-1]), np.array(idx).reshape(x.shape[:-1])


def _composite_linalg_cases():
    """Sorting, special functions, einsum, cumprod, bitwise shifts and the linalg
    decompositions (opaque primitives: traced through the generic fallback)."""
    cp = np.array([[0.5, -1.2, 0.0, 1.5], [1.1, 0.7, -0.9, 1.3]])  # a zero: the exact path
    wc = _RNG.uniform(0.5, 1.5, cp.shape)
    dg = pos((2, 3))
    wd = _RNG.uniform(0.5, 1.5, dg.shape)
    md = np.array([[1.5, -0.5, 1.5, 2.0, -0.5, 1.5], [0.25, -1.0, 0.25, -1.0, 3.0, 2.0]])
    sh_i = _idx([[3, -4, 5], [7, 0, -2]])
    sh_k = _idx([[1, 2, 0], [3, 1, 2]])
    u3, v3, u4 = _orth(3), _orth(3), _orth(4)
    tall = (u4[:, :3] * np.array([3.0, 2.0, 1.0])) @ v3.T  # singular values 3, 2, 1
    wide = tall.T.copy()
    sq = 3.0 * np.eye(3) + 0.4 * away((3, 3))  # well-conditioned, det far from 0
    neg = u3 @ np.diag([-2.0, 1.5, 1.0]) @ v3.T  # negative determinant
    return [
        Case(
            "sort_desc",
            lambda x: jg.sort(x, 1, descending=True).values,
            lambda x: -np.sort(-x, 1),
            [distinct((2, 4))],
        ),
        Case(
            "argsort",
            lambda x: jg.argsort(x, 0),
            lambda x: np.argsort(x, 0, kind="stable"),
            [distinct((3, 2))],
        ),
        # ops NumPy computes from the values (opaque graph ops: no derivative)
        Case(
            "histc",
            lambda x: jg.histc(x, bins=4),
            lambda x: np.histogram(x, 4, range=(x.min(), x.max()))[0].astype(x.dtype),
            [distinct((3, 2))],
            grad=False,
        ),
        Case(
            "searchsorted",
            lambda s, v: jg.searchsorted(s, v),
            lambda s, v: np.searchsorted(s, v),
            [np.sort(distinct((5,))), distinct((2, 3))],
            grad=False,
        ),
        Case("signbit", jg.signbit, np.signbit, [distinct((2, 3))], grad=False),
        Case(
            "gcd_lcm",
            lambda a, b: jg.gcd(a, b) + 100 * jg.lcm(a, b),
            lambda a, b: np.gcd(a, b) + 100 * np.lcm(a, b),
            [np.array([[4, 6, 9], [5, 12, 7]]), np.array([[6, 4, 3], [10, 8, 7]])],
            grad=False,
        ),
        Case(
            "isclose_isin",
            lambda a, b: (
                jg.isclose(a, b, atol=0.5).long() + 2 * jg.isin(a.round(), b.round()).long()
            ),
            lambda a, b: np.isclose(a, b, atol=0.5) + 2 * np.isin(a.round(), b.round()),
            [distinct((2, 3)), distinct((2, 3))],
            grad=False,
        ),
        Case(
            "cummax_values",
            lambda x: jg.cummax(x, 0).values,
            lambda x: np.maximum.accumulate(x, 0),
            [distinct((4, 2))],
            grad=False,
        ),
        Case(
            "svd_full_s",
            lambda x: jg.linalg.svd(x.detach(), full_matrices=True)[1],
            lambda x: np.linalg.svd(x, full_matrices=True)[1],
            [wide],
            grad=False,
        ),
        Case(
            "mode",
            lambda x: jg.mode(x, -1).values + 10 * jg.mode(x, -1).indices,
            lambda x: _np_mode(x)[0] + 10 * _np_mode(x)[1],
            [md],
            grad=False,  # the mode jumps when a perturbation breaks a tie
        ),
        Case("lgamma", jg.lgamma, sp.gammaln, [pos((2, 3))]),  # its VJP is digamma
        Case(
            "digamma_and_grad",  # trigamma (digamma's VJP) has no derivative: no grad check
            _with_grad(jg.digamma, wd),
            lambda x: np.stack([sp.psi(x), wd * sp.polygamma(1, x)]),
            [dg],
            grad=False,
        ),
        Case("erfinv", jg.erfinv, sp.erfinv, [unit((2, 3))]),
        Case(
            "cumprod_and_grad",  # cumprod_backward has no derivative: no grad check
            _with_grad(lambda x: jg.cumprod(x, 1), wc),
            lambda x: np.stack([np.cumprod(x, 1), _np_cumprod_grad(x, wc)]),
            [cp],
            grad=False,
        ),
        Case(
            "einsum",
            lambda a, b, c: jg.einsum("bij,bjk,k->bi", a, b, c),
            lambda a, b, c: np.einsum("bij,bjk,k->bi", a, b, c),
            [away((2, 2, 3)), away((2, 3, 2)), away((2,))],
        ),
        Case(
            "bitwise_shift_not",
            lambda i, k: (~i) ^ jg.bitwise_left_shift(i, k) ^ (i >> k),
            lambda i, k: (~i) ^ (i << k) ^ (i >> k),
            [sh_i, sh_k],
        ),
        Case("linalg_det", jg.linalg.det, np.linalg.det, [sq]),
        Case(
            "linalg_logabsdet",
            lambda a: jg.linalg.slogdet(a).logabsdet,
            lambda a: np.linalg.slogdet(a)[1],
            [neg],
        ),
        Case("linalg_inv", jg.linalg.inv, np.linalg.inv, [sq]),
        Case("linalg_matrix_exp", jg.linalg.matrix_exp, _expm, [sq * 0.3]),
        Case(
            "binary_cross_entropy",
            lambda x, t: jg.nn.functional.binary_cross_entropy(x, t, reduction="none"),
            lambda x, t: -(t * np.log(x) + (1 - t) * np.log(1 - x)),
            [pos((2, 3), 0.1, 0.9), pos((2, 3), 0.0, 1.0)],
        ),
        Case("ctc_loss", _ctc_jg, _ctc_np, [away((3, 2, 3))], grad2=False),
        Case("special_entr", jg.special.entr, lambda x: -x * np.log(x), [pos((2, 3), 0.2, 2.0)]),
        Case("linalg_solve", jg.linalg.solve, np.linalg.solve, [sq, away((3, 2))]),
        Case(
            "linalg_cholesky",
            lambda a: jg.linalg.cholesky(_sym(a)),
            lambda a: np.linalg.cholesky(_np_sym(a)),
            [_spd(3)],
        ),
        Case("linalg_eigh", _eigh_parts, _np_eigh_parts, [_spd(3, [-1.0, 0.5, 2.0])]),
        Case(
            "linalg_qr",
            lambda a: jg.cat([t.reshape(-1) for t in jg.linalg.qr(a)]),
            lambda a: np.concatenate([t.reshape(-1) for t in np.linalg.qr(a)]),
            [tall],
        ),
        Case("linalg_svd_tall", _svd_parts, _np_svd_parts, [tall]),
        Case("linalg_svd_wide", _svd_parts, _np_svd_parts, [wide]),
    ]


def _np_scatter_add(dim):
    def f(x, i, s):
        r = x.copy()
        idx = list(np.indices(i.shape, sparse=True))
        idx[dim] = i
        np.add.at(r, tuple(idx), s[tuple(slice(0, n) for n in i.shape)])
        return r

    return f


def all_cases():
    cases = []
    for name, fn, ref, gen, g in UNARY:
        for shape in UNARY_SHAPES:
            cases.append(Case(name, fn, ref, [gen(shape)], grad=g))
    for name, fn, ref, ga, gb in BINARY:
        for sa, sb in BINARY_SHAPES:
            cases.append(Case(name, fn, ref, [ga(sa), gb(sb)]))
    for name, fn, ref, gen in TERNARY:
        for shapes in TERNARY_SHAPES:
            cases.append(Case(name, fn, ref, [gen(sh) for sh in shapes]))
    for name, sa, sb in MATMUL:
        cases.append(Case(name, jg.matmul, np.matmul, [away(sa), away(sb)]))
    for name, fn, ref, gen in REDUCE:
        for d in REDUCE_DIMS:
            for k in (False, True):
                cases.append(
                    Case(
                        f"{name}_d{d}_k{int(k)}",
                        _bind3(fn, d, k),
                        _bind3(ref, d, k),
                        [gen((2, 3, 2))],
                    )
                )
        cases.append(Case(f"{name}_1d", _bind3(fn, 0, False), _bind3(ref, 0, False), [gen((4,))]))
    for name, fn, ref, gen in DIM_OPS:
        for d in (0, 1, -1):
            cases.append(Case(f"{name}_d{d}", _bind2(fn, d), _bind2(ref, d), [gen((2, 3))]))
    for name, fn, ref, args in (
        _movement_cases() + _nn_cases() + _strided_cases() + _logic_cases() + _dynamic_cases()
    ):
        cases.append(Case(name, fn, ref, args))
    # without a gradient to come max pooling is the values kernel alone (max_pool2d); with one
    # the forward keeps its argmax (max_pool2d_indices + max_pool2d_gather, rows above)
    cases.append(Case("max_pool2d_no_grad", _pool_no_grad, lambda x: _np_max_pool2d(x, 2),
                      [distinct((1, 2, 4, 4))], grad=False))  # fmt: skip
    cases += _composite_linalg_cases()
    cases += _surface_more_cases()
    cases += _distribution_cases()
    for c in cases:
        if c.ref is None:  # logical rows: NumPy's spelling of the same expression
            c.ref = _LOGIC_REF[c.name]
        if c.name in DYNAMIC_SHAPE:
            c.backends = ()
        c.slow = {b: set(ops) for b, ops in SLOW_PATHS.get(c.name, {}).items()}
        if _empty_sum_on_host(c):
            c.slow.setdefault("cuda", set()).add("sum")
    return cases


def _distribution_cases():
    """The inverse-CDF samplers of jitgrad.distributions and the gamma CDF (opaque
    primitives: traced through the generic fallback; their gradients are checked in
    tests/compat/test_distributions_more.py)."""
    import scipy.stats as st

    from jitgrad.distributions import _prims, continuous
    from jitgrad.ops.registry import apply

    def prim(p):
        return lambda *xs: apply(p, xs)

    # an own generator: drawing from _RNG would shift the rows of every later all_cases()
    r = np.random.default_rng(77)

    def pos(shape):
        return r.uniform(0.5, 2.0, shape)

    u = r.uniform(0.05, 0.95, (2, 3))
    return [
        Case("standard_gamma", prim(_prims._gamma_p), sp.gammaincinv, [pos((2, 3)), u], grad=False),
        Case(
            "standard_gamma_grad",
            prim(_prims._gamma_grad_p),
            _prims._gamma_icdf_grad,
            [pos((2, 3)), pos((2, 3))],
            grad=False,
        ),
        Case(
            "gammainc",
            prim(continuous._gammainc_p),
            sp.gammainc,
            [pos((2, 3)), pos((2, 3))],
            grad=False,
        ),
        Case(
            "poisson_icdf",
            prim(_prims._poisson_p),
            lambda rate, q: st.poisson.ppf(q, rate),
            [pos((2, 3)), u],
            grad=False,
        ),
        Case(
            "binomial_icdf",
            prim(_prims._binomial_p),
            lambda n, p, q: st.binom.ppf(q, n, p),
            [np.array([[3.0, 5.0, 2.0]]), r.uniform(0.1, 0.9, (2, 3)), u],
            grad=False,
        ),
    ]


def _np_scatter_reduce(x, idx, s, ufunc, include_self):
    out = x.copy()
    rows = np.arange(idx.shape[0])[:, None]
    if not include_self:
        out[rows, idx] = {np.maximum: -np.inf, np.minimum: np.inf, np.multiply: 1.0}[ufunc]
    ufunc.at(out, (rows, idx), s)
    return out


def _surface_more_cases():
    """The Bessel functions and scatter_reduce's amax/amin/prod forward (opaque primitives:
    traced through the generic fallback); amax's gradient is composed around it."""
    si = _idx([[0, 2, 2], [3, 1, 3]])
    return [
        Case("i0", jg.i0, sp.i0, [away((2, 3))]),  # its VJP is i1
        Case("special_i1", jg.special.i1, sp.i1, [away((2, 3))]),
        Case(
            "scatter_reduce_amax",
            lambda x, s: x.scatter_reduce(1, jg.tensor(si), s, "amax", include_self=False),
            lambda x, s: _np_scatter_reduce(x, si, s, np.maximum, False),
            # src off x's lattice: an x equal to a scattered maximum shares its gradient
            # (PyTorch counts it even with include_self=False), which FD does not see
            [distinct((2, 4)), distinct((2, 3)) + 0.05],
        ),
    ]


_LOGIC_REF = {
    "logical": lambda m, n: np.logical_and(m, n) ^ np.logical_or(m, ~n),
    "logical_not_xor": lambda m, n: np.logical_xor(np.logical_not(m), n),
}


# ---------------------------------------------------------------- slow paths ---------------
# The primitives a row's traced step may run through a backend's slow path (CPU: NumPy in
# numba object mode, CUDA: NumPy on the host; each one in ``exe.fallbacks`` and in the one
# fallback warning). ``run_traced`` fails on any fallback no row of its batch declares and on
# every other ``jitgrad.trace`` warning, so a row that (partly) ran eagerly cannot pass as
# traced parity. "cpu" holds for "cpu_parallel" too (the same generator).
def _expm(a):
    import scipy.linalg as sl

    return sl.expm(a)


_CTC_TARGETS = np.array([[1, 1], [2, 0]])  # a repeated label (needs a blank between), one label


def _ctc_jg(x):
    t = jg.tensor(_CTC_TARGETS)
    return jg.nn.functional.ctc_loss(x.log_softmax(-1), t, (3, 2), (2, 1), reduction="none")


def _ctc_np(x):
    """Brute force: -log of the summed probability of every path that collapses to the target."""
    import itertools

    lp = x - np.log(np.exp(x).sum(-1, keepdims=True))
    out = []
    for n, (steps, length) in enumerate(((3, 2), (2, 1))):
        want, total = list(_CTC_TARGETS[n, :length]), 0.0
        for path in itertools.product(range(x.shape[2]), repeat=steps):
            labels = [c for i, c in enumerate(path) if c and (i == 0 or c != path[i - 1])]
            if labels == want:
                total += np.exp(sum(lp[t, n, c] for t, c in enumerate(path)))
        out.append(-np.log(total))
    return np.array(out)


def _on(*ops, cpu=True, cuda=True):
    return {b: set(ops) for b, on in (("cpu", cpu), ("cuda", cuda)) if on}


_GETITEM = ("getitem", "getitem_grad")
SLOW_PATHS = {
    # no lowering on either numba backend
    **{f"cumsum_d{d}": _on("cumsum") for d in (0, 1, -1)},
    "cumsum_0d": _on("cumsum"),
    "cumsum_int": _on("cumsum"),
    **{f"max_dim_d{d}": _on("argmax") for d in (0, 1, -1)},
    **{f"min_dim_keep_d{d}": _on("argmin") for d in (0, 1, -1)},
    "any_all": _on("any", "all"),
    "sort_desc": _on("argsort"),
    "argsort": _on("argsort"),
    "histc": _on("histc"),
    "searchsorted": _on("searchsorted"),
    "signbit": _on("signbit"),
    "gcd_lcm": _on("gcd", "lcm"),
    "isclose_isin": _on("isclose", "isin"),
    "cummax_values": _on("cumext_index"),
    "svd_full_s": _on("svd_full"),
    "mode": _on("mode", "amax"),  # amax of the int64 counts
    "lgamma": _on("lgamma", "digamma"),
    "digamma_and_grad": _on("digamma", "trigamma"),
    "erfinv": _on("erfinv"),
    "i0": _on("i0", "i1"),
    "special_i1": _on("i1"),
    "scatter_reduce_amax": _on("scatter_reduce"),
    **{n: _on(n) for n in ("standard_gamma", "standard_gamma_grad", "gammainc")},
    **{n: _on(n) for n in ("poisson_icdf", "binomial_icdf")},
    "cumprod_and_grad": _on("cumprod", "cumprod_backward"),
    "einsum": _on("einsum"),
    "linalg_det": _on("linalg_det", "linalg_cofactor"),
    "linalg_logabsdet": _on("linalg_logabsdet", "linalg_inv"),
    "linalg_inv": _on("linalg_inv"),
    "ctc_loss": _on("ctc_nll", "ctc_grad"),
    "linalg_matrix_exp": _on("linalg_matrix_exp"),
    "linalg_solve": _on("linalg_solve"),
    "linalg_cholesky": _on("linalg_cholesky", "linalg_inv"),
    "linalg_eigh": _on("linalg_eigvalsh", "linalg_eigh_v"),
    "linalg_qr": _on("linalg_qr_q", "linalg_qr_r", "linalg_inv", "getitem"),
    "linalg_svd_tall": _on("linalg_svd_u", "linalg_svd_s", "linalg_svd_vh"),
    "linalg_svd_wide": _on("linalg_svd_u", "linalg_svd_s", "linalg_svd_vh"),
    # index shapes the kernels do not take
    "scatter_add_dim0": _on("scatter_add", "setitem"),  # index smaller than the source
    **{n: _on(*_GETITEM) for n in ("adv_two", "adv_2d_index", "adv_mixed_slice")},
    "adv_separated": _on(*_GETITEM),
    "getitem_0d": _on(*_GETITEM, cuda=False),  # x[...] of a 0-d tensor
    "getitem_0d_none": _on(*_GETITEM, cuda=False),
    # CUDA: advanced indexing (integer tensors and lists) runs on the host
    **{n: _on(*_GETITEM, cpu=False) for n in ("adv_int_tensor", "adv_int_list", "adv_neg")},
    **{n: _on(*_GETITEM, cpu=False) for n in ("index_select", "index_select_0")},
    # CPU: reductions of a 0-d input
    "prod_0d": _on("prod"),
    "sum_0d_dim": _on("sum"),
    "mean_0d": _on("sum"),
    # CPU: matmul beyond 2-D and equal-batch 3-D; CUDA: empty operands
    **{n: _on("matmul", cuda=False) for n in ("matmul_bcast", "matmul_1d_3d", "matmul_3d_1d")},
    **{n: _on("matmul", cpu=False) for n in ("matmul_empty", "matmul_empty_k")},
    # CUDA: reductions of an empty input
    **{n: _on("sum", cpu=False) for n in ("softmax_default_dim", "softmax_empty_dim")},
    **{n: _on("sum", cpu=False) for n in ("sum_empty", "sum_empty_dim")},
    # CUDA: no conv/pool lowering
    "conv2d": _on("conv2d", "conv2d_grad_input", "conv2d_grad_weight", cpu=False),
    "max_pool2d": _on("max_pool2d", "max_pool2d_grad", cpu=False),
    "max_pool2d_indices": _on("max_pool2d", "max_pool2d_grad", cpu=False),
    "max_pool2d_grad_of_grad": _on("max_pool2d", "max_pool2d_grad", "max_pool2d_gather", cpu=False),
}


def _empty_sum_on_host(case):
    """CUDA's reduction kernel takes no empty input: the gradient of an operand broadcast
    against an empty one (``(0, 3) + (3,)``), and softmax over an empty tensor, sum on the host."""
    shapes = [a.shape for a in case.args]
    if case.name in ("softmax_0d", "log_softmax_0d"):
        return any(0 in s for s in shapes)
    return len(shapes) > 1 and shapes[0] == (0, 3) and shapes[1] == (3,)


# data-dependent output shapes: a trace refuses them (TraceError), so eager only
DYNAMIC_SHAPE = {
    "masked_select",
    "masked_select_bcast",
    "bool_mask",
    "bool_mask_rows",
    "bool_mask_dim1",
    "nonzero",
    "nonzero_tuple",
    "where_1arg",
}


def _bind3(f, d, k):
    return lambda x: f(x, d, k)


def _bind2(f, d):
    return lambda x: f(x, d)


# ---------------------------------------------------------------- traced runs ---------------
TRACE_OPTIONS = {
    "reference": dict(backend="reference"),
    "cpu": dict(parallel=False),
    "cpu_parallel": dict(parallel=True),  # with cpu.PAR_SMALL = 1: every loop a prange
    "cuda": dict(device="cuda"),
}


def _weights(case, out):
    r = np.random.default_rng(len(case.id))
    return r.uniform(0.5, 1.5, out.shape)


def run_traced(cases, backend, dtype=np.float64):
    """Eager vs traced (``backend``) for ``cases`` batched in one step: the step returns every
    row's output and the gradient of ``sum(out * w)`` for each float input. Returns the list
    of mismatch messages (empty when all agree) and the traced function."""
    flat, spans = [], []
    for c in cases:
        spans.append((len(flat), len(c.args)))
        flat += [a.astype(dtype) if a.dtype.kind == "f" else a for a in c.args]
    weights = {}

    def step(*xs):
        for x in xs:
            x.grad = None
        outs, terms = [], {}
        for c, (s, k) in zip(cases, spans):
            o = c.fn(*xs[s : s + k])
            outs.append(o)
            if c.grad and o.requires_grad:
                w = weights.setdefault(c.id, jg.tensor(_weights(c, o._data).astype(o._data.dtype)))
                # rows of one output shape are summed elementwise first: their forward and
                # backward fuse into a few loops, so a backend compiles few kernels
                t = terms.get(o.shape)
                terms[o.shape] = o * w if t is None else t + o * w
        if terms:
            sum(t.sum() for t in terms.values()).backward()
        return outs, [x.grad for x in xs]

    def args():
        return [jg.tensor(a, requires_grad=a.dtype.kind == "f") for a in flat]

    ref_out, ref_g = step(*args())
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        ts = jg.trace(step, **TRACE_OPTIONS[backend])
        for _ in range(2):  # eager warm-up, then the capture
            ts(*args())
        got_out, got_g = ts(*args())
    bad = []
    if ts.stats["compiled_calls"] != 1:
        bad.append(f"{backend}: the compiled step did not run ({ts.stats})")
    bad += _slow_path_msgs(cases, backend, ts, caught)
    rtol, atol = (1e-9, 1e-12) if np.dtype(dtype) == np.float64 else (1e-4, 1e-5)
    for c, (s, k), a, b in zip(cases, spans, ref_out, got_out):
        bad += _diff_msgs(f"{backend} {c.id} forward", a, b, rtol, atol)
        for j in range(k):
            bad += _diff_msgs(
                f"{backend} {c.id} grad of arg {j}", ref_g[s + j], got_g[s + j], rtol, atol
            )
    return bad, ts


def _slow_path_msgs(cases, backend, ts, caught):
    """What ran slower than compiled without a row declaring it: each fallback op no row of
    the batch lists in ``slow`` for ``backend``, and every other ``jitgrad.trace`` warning
    (an eager result returned, a failed compile, an interpreted variant, ...)."""
    allowed = set()
    for c in cases:
        allowed |= set(c.slow.get("cpu" if backend == "cpu_parallel" else backend, ()))
    exe = getattr(ts.last, "exe", None)
    bad = [
        f"{backend}: {f} (a slow path no row of this batch declares: see SLOW_PATHS)"
        for f in dict.fromkeys(getattr(exe, "fallbacks", None) or ())
        if f.split(":", 1)[0] not in allowed
    ]
    for w in caught:
        msg = str(w.message)
        if msg.startswith("jitgrad.trace") and " run through a slower path " not in msg:
            bad.append(f"{backend}: the traced step warned: {msg[:400]}")
    return bad


def _diff_msgs(what, a, b, rtol, atol):
    if a is None or b is None:
        return [] if a is None and b is None else [f"{what}: {a is None=} vs {b is None=}"]
    x, y = a.detach()._data, b.detach()._data
    if x.shape != y.shape or x.dtype != y.dtype:
        return [f"{what}: {x.shape}/{x.dtype} eager vs {y.shape}/{y.dtype} traced"]
    if x.dtype.kind in "fc":
        ok = np.allclose(y, x, rtol=rtol, atol=atol, equal_nan=True)
    else:
        ok = np.array_equal(x, y)
    return [] if ok else [f"{what}: max abs diff {np.max(np.abs(y - x)) if x.size else 0}"]


_PRIMS = {}


def primitives_of(case):
    """Names of the primitives a row's forward and backward record when traced."""
    if case.id not in _PRIMS:
        _PRIMS[case.id] = _record(case)
    return _PRIMS[case.id]


def _record(case):
    from jitgrad._grad_mode import STATE
    from jitgrad.compile.tracer import Tracer

    ts = [jg.tensor(a, requires_grad=a.dtype.kind == "f") for a in case.args]
    tr = Tracer(ts)
    STATE.tracer = tr
    try:
        o = case.fn(*ts)
        if case.grad and o.requires_grad:
            (o * jg.tensor(_weights(case, o._data))).sum().backward()
    finally:
        STATE.tracer = None
    return {n.op.name for n in tr.g.nodes}


def _features(case):
    nd = [a.ndim for a in case.args if a.dtype.kind == "f"]
    f = set()
    if 0 in nd:
        f.add("0d")
    if any(a.size == 0 for a in case.args):
        f.add("empty")
    if len({a.shape for a in case.args if a.dtype.kind == "f"}) > 1:
        f.add("bcast")
    if case.name.startswith("strided"):
        f.add("strided")
    return f


_SAMPLE = {}
# rows for the prange path (prange kernels compile slowly: few rows, each many loop kinds):
# broadcasting, strided reads, transcendental and select members, every native reduction
PARALLEL_ROWS = {"add[2x3,3]", "tanh[2x3]", "where_gt[2x3,2x3]", "softmax_d1[2x3]"}
PARALLEL_ROWS |= {"rows_reduce[9x3]", "strided_add[3x2,2x3]"}


def compiled_sample(backend):
    """Rows for the traced checks on ``backend``: every primitive at least once, and for each
    op kind each input feature (0-d, empty, broadcast, strided) at least once."""
    if backend in _SAMPLE:
        return _SAMPLE[backend]
    from jitgrad.ops.registry import PRIMITIVES

    rows = [c for c in all_cases() if backend in c.backends]
    prims = {c.id: primitives_of(c) for c in rows}
    if backend == "cpu_parallel":
        # prange changes only loops (fused elementwise groups and reductions); the other
        # lowerings are the serial ones, so these rows cover every loop kind, not every op
        loop = {"elementwise", "reduce"}
        rows = [c for c in rows if {PRIMITIVES[p].kind for p in prims[c.id]} <= loop | {"movement"}]
        rows = [c for c in rows if c.id in PARALLEL_ROWS]
        _SAMPLE[backend] = rows
        return rows
    seen, picked = set(), []
    # every primitive on ordinary shapes first, then each (kind, feature) pair once
    for c in sorted(rows, key=lambda c: bool(_features(c) - {"bcast"})):
        if prims[c.id] - seen:
            seen |= prims[c.id]
            picked.append(c)
    for c in rows:
        keys = {(PRIMITIVES[p].kind, f) for p in prims[c.id] for f in _features(c)}
        if keys - seen and all(c is not p for p in picked):
            seen |= keys
            picked.append(c)
    if backend in ("cpu", "cuda"):
        # the ops a backend runs through its slow path (NumPy in object mode / on the host)
        # run the same NumPy code as eager mode, and each object-mode block costs a slow
        # compile: a few such rows stand for the fallback mechanism (the reference backend's
        # traced run and the eager rows cover every primitive); the other ops of the dropped
        # rows are covered by other rows (test_table_covers_every_primitive)
        slow = [c.id for c in picked if prims[c.id] & slow_on(c, backend)]
        drop = set(slow[FALLBACK_ROWS:])
        have = set().union(*(prims[c.id] for c in picked if c.id not in drop))
        for cid in slow[FALLBACK_ROWS:]:  # a row that alone covers an op with a fast path stays
            if prims[cid] - have - declared_slow(backend):
                drop.discard(cid)
                have |= prims[cid]
        picked = [c for c in picked if c.id not in drop]
    _SAMPLE[backend] = picked
    return picked


FALLBACK_ROWS = 3


def slow_on(case, backend):
    """The primitives ``case`` declares a slow path for on ``backend`` (see SLOW_PATHS)."""
    return SLOW_PATHS.get(case.name, {}).get(backend, set())


def declared_slow(backend):
    """Every primitive some row declares a slow path for on ``backend``."""
    return set().union(*(d.get(backend, set()) for d in SLOW_PATHS.values()))


def chunks(rows, n):
    """``rows`` split into ``n`` nearly equal parts (a few compiled graphs per backend)."""
    k = -(-len(rows) // n)
    return [rows[i * k : (i + 1) * k] for i in range(n)]
