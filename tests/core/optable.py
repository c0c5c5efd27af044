"""The op table: every public op with an input generator and a NumPy reference.

Each ``Case`` holds a jitgrad function, a NumPy reference and the arrays it is called with.
Floating arrays are differentiable inputs (checked against finite differences in float64);
integer and bool arrays are passed as constant tensors (indices, masks). Generators keep
inputs away from non-differentiable points (abs/relu at 0, clamp bounds, max ties).
"""

import math
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
    grad2: bool = True  # check second derivatives
    tags: set = field(default_factory=set)

    def __post_init__(self):
        self.args = [np.asarray(a) for a in self.args]

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
    for name, fn, ref, args in _movement_cases():
        cases.append(Case(name, fn, ref, args))
    return cases


def _bind3(f, d, k):
    return lambda x: f(x, d, k)


def _bind2(f, d):
    return lambda x: f(x, d)
