"""Matrix products: one ``matmul`` primitive (batched, >= 2-D); the rest are wrappers."""

import numpy as np

from ..tensor import Tensor
from ._common import sum_to
from .registry import apply, label, public, register


def _mT(x):
    return x.transpose(-2, -1)


def _matmul_vjp(g, o, a, b):
    # only the products a gradient flows to: a frozen weight or a data input costs no GEMM
    return (
        sum_to(g @ _mT(b), a._data.shape) if a._requires_grad else None,
        sum_to(_mT(a) @ g, b._data.shape) if b._requires_grad else None,
    )


matmul_p = register(
    "matmul",
    "opaque",
    np.matmul,
    vjp=_matmul_vjp,
    saves=(0, 1),
    backward_name="MmBackward0",
    may_raise=False,
)


def _check(op, a, b):
    if not isinstance(a, Tensor) or not isinstance(b, Tensor):
        raise TypeError(f"{op}(): expected Tensors, got {type(a).__name__} and {type(b).__name__}")
    if a._data.dtype != b._data.dtype:
        raise RuntimeError(
            f"{op}: expected m1 and m2 to have the same dtype, but got: {a.dtype} != {b.dtype}; "
            "convert one, e.g. b.to(a.dtype)"
        )
    if a._data.ndim == 0 or b._data.ndim == 0:
        raise RuntimeError(
            f"{op}: both arguments to matmul need to be at least 1D, but they are "
            f"{a._data.ndim}D and {b._data.ndim}D"
        )


def _mm2(op, a, b):
    k1, k2 = a._data.shape[-1], b._data.shape[-2]
    if k1 != k2:
        sa = "x".join(map(str, a._data.shape))
        sb = "x".join(map(str, b._data.shape))
        raise RuntimeError(f"{op}: mat1 and mat2 shapes cannot be multiplied ({sa} and {sb})")
    try:
        np.broadcast_shapes(a._data.shape[:-2], b._data.shape[:-2])
    except ValueError:
        raise RuntimeError(
            f"{op}: batch dimensions {a._data.shape[:-2]} and "
            f"{b._data.shape[:-2]} are not broadcastable"
        ) from None
    return apply(matmul_p, (a, b))


@public(prim=matmul_p, out=True)
def matmul(input, other):
    """``input @ other`` with NumPy/torch semantics for 1-D and batched operands."""
    a, b = input, other
    _check("matmul", a, b)
    da, db = a._data.ndim, b._data.ndim
    if da == 1 and db == 1:
        if a._data.shape[0] != b._data.shape[0]:
            raise RuntimeError(
                f"matmul: inconsistent tensor size, expected tensor [{a._data.shape[0]}] and src "
                f"[{b._data.shape[0]}] to have the same number of elements, but got "
                f"{a._data.shape[0]} and {b._data.shape[0]} elements respectively"
            )
        return _mm2("matmul", a.unsqueeze(0), b.unsqueeze(1)).reshape(())
    if da == 1:
        return _mm2("matmul", a.unsqueeze(0), b).squeeze(-2)
    if db == 1:
        return _mm2("matmul", a, b.unsqueeze(1)).squeeze(-1)
    return _mm2("matmul", a, b)


@public(out=True)
def mm(input, mat2):
    _check("mm", input, mat2)
    if input._data.ndim != 2 or mat2._data.ndim != 2:
        raise RuntimeError(
            f"mm: expected 2D tensors, got {input._data.ndim}D and {mat2._data.ndim}D"
        )
    return _mm2("mm", input, mat2)


@public(out=True)
def bmm(input, mat2):
    _check("bmm", input, mat2)
    if input._data.ndim != 3 or mat2._data.ndim != 3:
        raise RuntimeError(
            f"bmm: batch1 must be a 3D tensor and batch2 a 3D tensor (got "
            f"{input._data.ndim}D and {mat2._data.ndim}D)"
        )
    if input._data.shape[0] != mat2._data.shape[0]:
        raise RuntimeError(
            f"bmm: batch1 and batch2 must have same number of batches, got "
            f"{input._data.shape[0]} and {mat2._data.shape[0]}"
        )
    return label(_mm2("bmm", input, mat2), "BmmBackward0", (input, mat2))


@public(out=True)
def dot(input, other):
    _check("dot", input, other)
    if input._data.ndim != 1 or other._data.ndim != 1:
        raise RuntimeError(
            f"dot: 1D tensors expected, but got {input._data.ndim}D and {other._data.ndim}D "
            "tensors "
            f"(shapes {tuple(input._data.shape)} and {tuple(other._data.shape)})"
        )
    return label(matmul(input, other), "DotBackward0", (input, other))


@public(out=True)
def mv(input, vec):
    _check("mv", input, vec)
    if input._data.ndim != 2 or vec._data.ndim != 1:
        raise RuntimeError("mv: expected a 2-D matrix and a 1-D vector")
    return matmul(input, vec)


@public(aliases=("ger",), out=True)
def outer(input, vec2):
    for name, v in (("self", input), ("vec2", vec2)):
        if isinstance(v, Tensor) and v._data.ndim != 1:
            raise RuntimeError(
                f"outer: Expected 1-D argument {name}, but got {v._data.ndim}-D "
                f"(shape {list(v._data.shape)}); flatten it first"
            )
    return input.reshape(-1, 1) * vec2.reshape(1, -1)


@public(inplace=True, out=True)
def addmm(input, mat1, mat2, *, beta=1, alpha=1):
    r = mm(mat1, mat2)
    if isinstance(alpha, Tensor) or alpha != 1:
        r = r * alpha
    r = r + (input * beta if isinstance(beta, Tensor) or beta != 1 else input)
    return label(r, "AddmmBackward0", (input, mat1, mat2))
