"""Linear algebra primitives (NumPy's LAPACK) with VJPs written in jitgrad ops.

A decomposition with several outputs is one primitive per output (``svd_u``, ``svd_s``,
``svd_vh``): each VJP is the part of the decomposition's gradient that is linear in that
output's cotangent, so the engine's sum over outputs gives the full gradient, and every VJP
is differentiable again (second order works wherever the formulas are smooth).
"""

import numpy as np

from .. import return_types
from ..tensor import Tensor, _wrap
from . import composite_reduce as RC
from . import elementwise as E
from . import matmul as M
from . import reduce as R
from ._common import promote_float
from .registry import apply, label, public, register


def _mT(x):
    return x.transpose(-2, -1)


def _float(x, op):
    if not isinstance(x, Tensor):
        raise TypeError(f"linalg.{op}(): argument 'A' must be Tensor, not {type(x).__name__}")
    (x,) = promote_float(op, x)
    return x


def _square(x, op):
    x = _float(x, op)
    if x._data.ndim < 2 or x._data.shape[-1] != x._data.shape[-2]:
        raise RuntimeError(
            f"linalg.{op}: A must be batches of square matrices, but they are "
            f"{x._data.shape[-2] if x._data.ndim >= 2 else 1} by "
            f"{x._data.shape[-1] if x._data.ndim else 1} matrices"
        )
    return x


def _lapack(op, fn):
    def impl(*a, **k):
        try:
            return np.asarray(fn(*a, **k))
        except np.linalg.LinAlgError as e:
            raise RuntimeError(f"linalg.{op}: {e}") from None

    return impl


def _diag_embed(v):
    from .composite import diag_embed

    return diag_embed(v)


def _tril(x, k=0):
    from .composite import tril

    return tril(x, k)


def _triu(x, k=0):
    from .composite import triu

    return triu(x, k)


def _eye_like(n, dtype):
    return _wrap(np.eye(n, dtype=dtype))


# ---------------------------------------------------------------- inverse, det, solve ----
inv_p = register(
    "linalg_inv",
    "opaque",
    _lapack("inv", np.linalg.inv),
    vjp=lambda g, o, x: (-(_mT(o) @ g @ _mT(o)),),
    saves=(),
    saves_out=True,
    backward_name="LinalgInvExBackward0",
)


@public(name="inverse", prim=inv_p, out=True)
def inv(A):
    """The inverse of a square matrix (or a batch); RuntimeError when singular."""
    return apply(inv_p, (_square(A, "inv"),))


def _cofactor_ref(a):
    """The cofactor matrix ``det(A) A^-T`` by the SVD, so it exists for singular A too:
    A = U S V^T gives cof(A) = det(U) det(V) U diag(prod_{j != i} s_j) V^T."""
    u, sv, vh = np.linalg.svd(a)
    n = sv.shape[-1]
    others = (
        np.stack([np.prod(np.delete(sv, i, axis=-1), axis=-1) for i in range(n)], axis=-1)
        if n
        else sv
    )
    sign = np.linalg.det(u) * np.linalg.det(vh)
    return (sign[..., None, None] * (u * others[..., None, :]) @ vh).astype(a.dtype)


def _cofactor_vjp(g, o, x):
    # C = det(A) A^-T: dC -> (<G, C> C - C G^T C) / det(A) (non-singular A only: the
    # second derivative of det at a singular matrix raises, through inv)
    d = det(x).unsqueeze(-1).unsqueeze(-1)
    inner = R.sum(g * o, (-2, -1), keepdim=True)
    return ((inner * o - o @ _mT(g) @ o) / d,)


cofactor_p = register("linalg_cofactor", "opaque", _cofactor_ref, vjp=_cofactor_vjp, saves_out=True)


def _det_vjp(g, o, x):
    # d det / dA = the cofactor matrix (exists for singular A, unlike det * inv(A)^T)
    return (g.unsqueeze(-1).unsqueeze(-1) * apply(cofactor_p, (x,)),)


det_p = register(
    "linalg_det",
    "opaque",
    _lapack("det", np.linalg.det),
    vjp=_det_vjp,
    saves_out=True,
    backward_name="LinalgDetBackward0",
)


@public(prim=det_p, out=True)
def det(A):
    """The determinant of a square matrix (or a batch)."""
    return apply(det_p, (_square(A, "det"),))


logabsdet_p = register(
    "linalg_logabsdet",
    "opaque",
    lambda x: np.asarray(np.linalg.slogdet(x)[1]),
    vjp=lambda g, o, x: (g.unsqueeze(-1).unsqueeze(-1) * _mT(inv(x)),),
    backward_name="LinalgSlogdetBackward0",
)


svd_full_p = register(
    "svd_full", "opaque", lambda x, which: np.linalg.svd(x, full_matrices=True)[which], nondiff=True
)
slogdet_sign_p = register(
    "slogdet_sign",
    "opaque",
    lambda x: np.asarray(np.linalg.slogdet(x)[0]).astype(x.dtype),
    nondiff=True,
)


@public
def slogdet(A):
    """``(sign, log|det|)``; the second carries the gradient."""
    x = _square(A, "slogdet")
    sign = apply(slogdet_sign_p, (x,))
    return return_types.linalg_slogdet(sign, apply(logabsdet_p, (x,)))


@public
def logdet(A):
    """``log(det(A))`` (NaN for a negative determinant)."""
    s, la = slogdet(A)
    return label(E.where(E.lt(s, 0), float("nan"), la), "LogdetBackward0")


def _solve_vjp(g, o, a, b):
    gb = solve(_mT(a), g)
    ga = -(gb @ _mT(o)) if a._requires_grad else None
    return ga, gb


solve_p = register(
    "linalg_solve",
    "opaque",
    _lapack("solve", np.linalg.solve),
    vjp=_solve_vjp,
    saves_out=True,
    backward_name="LinalgSolveExBackward0",
)


def solve(A, B, *, left=True):
    """``X`` with ``A @ X = B`` (``B`` a vector or a matrix / batch of them)."""
    a = _square(A, "solve")
    b = _float(B, "solve")
    if b._data.dtype != a._data.dtype:
        b = b.to(a._data.dtype)
    if not left:
        return _mT(solve(_mT(a), _mT(b)))
    vec = b._data.ndim == 1 or (b._data.ndim == a._data.ndim - 1 and b.shape == a.shape[:-1])
    if vec:
        b = b.unsqueeze(-1)
    if b._data.shape[-2] != a._data.shape[-1]:
        raise RuntimeError(
            f"linalg.solve: Incompatible shapes of A and B for the equation AX = B "
            f"({a._data.shape[-2]}x{a._data.shape[-1]} and {b._data.shape[-2]}x{b._data.shape[-1]})"
        )
    lead = np.broadcast_shapes(a._data.shape[:-2], b._data.shape[:-2])
    a = a.expand(*(lead + a._data.shape[-2:]))
    b = b.expand(*(lead + b._data.shape[-2:]))
    x = apply(solve_p, (a, b))
    return x.squeeze(-1) if vec else x


# ---------------------------------------------------------------- cholesky ---------------
def _cholesky_vjp(g, o, x):
    # gA = L^{-H} sym(tril(L^H gL)) L^{-1} (PyTorch's formula), sym(X) = (X + X^H - diag X) / 2
    li = inv(o)
    t = _tril(_mT(o) @ g)
    s = (t + _mT(_tril(t, -1))) * 0.5
    return (_mT(li) @ s @ li,)


cholesky_p = register(
    "linalg_cholesky",
    "opaque",
    _lapack("cholesky", np.linalg.cholesky),
    vjp=_cholesky_vjp,
    saves=(),
    saves_out=True,
    backward_name="LinalgCholeskyExBackward0",
)


def cholesky(A, *, upper=False):
    """The Cholesky factor L (lower, ``A = L L^T``); ``upper=True`` gives ``L^T``."""
    x = _square(A, "cholesky")
    try:
        np.linalg.cholesky(x._data)
    except np.linalg.LinAlgError:
        raise RuntimeError(
            "linalg.cholesky: The factorization could not be completed because the input is not "
            "positive-definite."
        ) from None
    L = apply(cholesky_p, (x,))
    return _mT(L) if upper else L


# ---------------------------------------------------------------- qr ---------------------
def _qr_ref(x, which):
    q, r = np.linalg.qr(x, mode="reduced")
    return q if which == 0 else r


def _qr_vjp(g, o, x, which):
    # PyTorch's m >= n rule: gA = (gQ + Q copyltu(M)) R^{-H}, M = triu(gR R^H - Q^H gQ)
    q, r = qr(x)
    m = _triu(g @ _mT(r)) if which == 1 else _triu(-(_mT(q) @ g))
    s = m + _mT(m) - _diag_embed(_diagonal(m))
    ga = q @ s
    if which == 0:
        ga = ga + g
    return (ga @ _mT(inv(r)),)


def _diagonal(m):
    from .composite import diagonal

    return diagonal(m, 0, -2, -1)


qr_q_p = register("linalg_qr_q", "opaque", _qr_ref, vjp=_qr_vjp, backward_name="LinalgQrBackward0")
qr_r_p = register("linalg_qr_r", "opaque", _qr_ref, vjp=_qr_vjp, backward_name="LinalgQrBackward0")


def qr(A, mode="reduced"):
    """``(Q, R)`` with ``A = Q R`` (reduced); gradients need rows >= columns."""
    x = _float(A, "qr")
    if mode != "reduced":
        raise NotImplementedError(f"linalg.qr: mode={mode!r} is not supported (only 'reduced')")
    if x._data.shape[-2] < x._data.shape[-1] and x._requires_grad:
        raise NotImplementedError(
            "linalg.qr: the gradient for wide matrices (rows < columns) is not implemented"
        )
    return return_types.linalg_qr(
        apply(qr_q_p, (x,), {"which": 0}), apply(qr_r_p, (x,), {"which": 1})
    )


def householder_product(A, tau):
    """The first ``k`` columns of ``H_1 ... H_k``, ``H_i = I - tau_i v_i v_i^H`` with ``v_i`` the
    i-th column of ``A`` below the diagonal and 1 on it (LAPACK's orgqr); differentiable in
    both ``A`` and ``tau`` (a composite over the ``k`` reflectors)."""
    from . import movement as V

    x, t = _float(A, "householder_product"), _float(tau, "householder_product")
    n, k = x.shape[-2], x.shape[-1]
    if n < k or t.shape[-1] > k or tuple(t.shape[:-1]) != tuple(x.shape[:-2]):
        raise RuntimeError(
            f"torch.linalg.householder_product: input of shape {list(x.shape)} needs rows >= "
            f"columns and tau of shape {list(x.shape[:-2])} + [<= {k}], got "
            f"{list(t.shape)}"
        )
    lower = _wrap(np.tril(np.ones((n, k), dtype=x._data.dtype), -1))
    v = x * lower + _wrap(np.eye(n, k, dtype=x._data.dtype))
    q = _wrap(np.broadcast_to(np.eye(n, dtype=x._data.dtype), (*x.shape[:-2], n, n)).copy())
    for i in range(t.shape[-1]):
        vi = V.narrow(v, -1, i, 1)
        q = q - (q @ vi) * V.narrow(t, -1, i, 1).unsqueeze(-1) @ _mT(vi)
    return V.narrow(q, -1, 0, k)


# ---------------------------------------------------------------- eigh -------------------
def _eigh_ref(x, which, uplo):
    w, v = np.linalg.eigh(x, UPLO=uplo)
    return w if which == 0 else v


def _eigh_vjp(g, o, x, which, uplo):
    w, v = eigh(x, uplo)
    if which == 0:
        return (v @ _diag_embed(g) @ _mT(v),)
    vg = _mT(v) @ g
    vg = (vg - _mT(vg)) * 0.5
    n = w.shape[-1]
    e = w.unsqueeze(-2) - w.unsqueeze(-1)
    e = E.where(_wrap(np.eye(n, dtype=np.bool_)), 1.0, e)
    return (v @ (vg / e) @ _mT(v),)


eigh_w_p = register(
    "linalg_eigvalsh", "opaque", _eigh_ref, vjp=_eigh_vjp, backward_name="LinalgEighBackward0"
)
eigh_v_p = register(
    "linalg_eigh_v", "opaque", _eigh_ref, vjp=_eigh_vjp, backward_name="LinalgEighBackward0"
)


def eigh(A, UPLO="L"):
    """Eigenvalues (ascending) and orthonormal eigenvectors of a symmetric matrix."""
    x = _square(A, "eigh")
    p = {"uplo": UPLO}
    return return_types.linalg_eigh(
        apply(eigh_w_p, (x,), {"which": 0, **p}), apply(eigh_v_p, (x,), {"which": 1, **p})
    )


def eigvalsh(A, UPLO="L"):
    """The eigenvalues of a symmetric matrix, ascending."""
    return eigh(A, UPLO).eigenvalues


def _complex(op):
    def fn(*a, **k):
        raise NotImplementedError(
            f"linalg.{op}: general (non-symmetric) eigendecomposition returns complex tensors; "
            "complex dtypes are out of jitgrad's scope (use linalg.eigh for symmetric matrices)"
        )

    fn.__name__ = op
    return fn


eig = _complex("eig")
eigvals = _complex("eigvals")


# ---------------------------------------------------------------- svd --------------------
def _svd_ref(x, which):
    u, s, vh = np.linalg.svd(x, full_matrices=False)
    return (u, s, vh)[which]


def _svd_vjp(g, o, x, which):
    # PyTorch's svd_backward (full_matrices=False), split by output
    u, s, vh = svd(x, full_matrices=False)
    v = _mT(vh)
    m, n = x._data.shape[-2], x._data.shape[-1]
    k = s.shape[-1]
    if which == 1:
        return (u @ _diag_embed(g) @ vh,)
    s2 = s * s
    e = s2.unsqueeze(-2) - s2.unsqueeze(-1)
    e = E.where(_wrap(np.eye(k, dtype=np.bool_)), 1.0, e)
    if which == 0:
        uhg = _mT(u) @ g
        skew = uhg - _mT(uhg)
        ga = u @ ((skew * s.unsqueeze(-2)) / e) @ vh
        if m > k:
            ga = ga + ((g - u @ uhg) / s.unsqueeze(-2)) @ vh
        return (ga,)
    gv = _mT(g)
    vhg = vh @ gv
    skew = vhg - _mT(vhg)
    ga = u @ ((s.unsqueeze(-1) * skew) / e) @ vh
    if n > k:
        ga = ga + u @ _mT((gv - v @ vhg) / s.unsqueeze(-2))
    return (ga,)


svd_u_p = register(
    "linalg_svd_u", "opaque", _svd_ref, vjp=_svd_vjp, backward_name="LinalgSvdBackward0"
)
svd_s_p = register(
    "linalg_svd_s", "opaque", _svd_ref, vjp=_svd_vjp, backward_name="LinalgSvdBackward0"
)
svd_vh_p = register(
    "linalg_svd_vh", "opaque", _svd_ref, vjp=_svd_vjp, backward_name="LinalgSvdBackward0"
)


def svd(A, full_matrices=True):
    """``(U, S, Vh)`` with ``A = U diag(S) Vh``; gradients for the reduced form only."""
    x = _float(A, "svd")
    if full_matrices and x._data.shape[-1] != x._data.shape[-2]:
        if x._requires_grad:
            raise NotImplementedError(
                "linalg.svd: the gradient with full_matrices=True on a non-square matrix is not "
                "implemented; pass full_matrices=False"
            )
        return return_types.linalg_svd(*(apply(svd_full_p, (x,), {"which": k}) for k in range(3)))
    return return_types.linalg_svd(
        apply(svd_u_p, (x,), {"which": 0}),
        apply(svd_s_p, (x,), {"which": 1}),
        apply(svd_vh_p, (x,), {"which": 2}),
    )


def svdvals(A):
    """The singular values, descending."""
    return svd(A, full_matrices=False).S


@public(name="svd")
def torch_svd(input, some=True, compute_uv=True):
    """``torch.svd``: ``(U, S, V)`` (V, not Vh), reduced when ``some``."""
    u, s, vh = svd(input, full_matrices=not some)
    return return_types.svd(u, s, _mT(vh))


@public(name="pinverse", method=lambda s, rcond=1e-15: pinv(s, rcond))
def pinv(A, rcond=None, hermitian=False, *, atol=None, rtol=None):
    """The Moore-Penrose pseudo-inverse (through the SVD)."""
    u, s, vh = svd(A, full_matrices=False)
    tol = rtol if rtol is not None else rcond
    if tol is None:
        tol = max(A.shape[-2:]) * np.finfo(s._data.dtype).eps
    cut = (R.amax(s, -1, keepdim=True) * tol).detach()
    if atol is not None:
        cut = E.maximum(cut, atol)
    keep = E.gt(s, cut)
    sinv = E.where(keep, 1.0 / E.where(keep, s, 1.0), 0.0)
    return _mT(vh) @ (sinv.unsqueeze(-1) * _mT(u))


def matrix_rank(A, tol=None, hermitian=False, *, atol=None, rtol=None):
    """The number of singular values above the tolerance."""
    s = svdvals(A).detach()
    t = rtol if rtol is not None else tol
    if t is None:
        t = max(A.shape[-2:]) * np.finfo(s._data.dtype).eps
    return R.sum(E.gt(s, R.amax(s, -1, keepdim=True) * t).long(), -1)


def lstsq(A, B, rcond=None, driver=None):
    """Least-squares solution of ``A X = B`` (through the pseudo-inverse)."""
    x = pinv(A) @ B
    empty = _wrap(np.zeros((0,), dtype=x._data.dtype))
    return return_types.linalg_lstsq(x, empty, _wrap(np.zeros((), np.int64)), empty)


@public
def matrix_power(A, n):
    """``A`` multiplied by itself ``n`` times (``inv(A)`` powers for negative n)."""
    x = _square(A, "matrix_power")
    if n == 0:
        return _eye_like(x._data.shape[-1], x._data.dtype).expand(*x.shape) * 1
    if n < 0:
        x, n = inv(x), -n
    r = x
    for _ in range(n - 1):
        r = r @ x
    return r


def multi_dot(tensors):
    """``t0 @ t1 @ ...`` (1-D ends are treated as row/column vectors)."""
    r = tensors[0]
    for t in tensors[1:]:
        r = M.matmul(r, t)
    return r


def vector_norm(x, ord=2, dim=None, keepdim=False, *, dtype=None):
    """The vector ``ord``-norm over ``dim`` (all elements by default)."""
    return RC.norm(x, ord, dim, keepdim, dtype)


def matrix_norm(A, ord="fro", dim=(-2, -1), keepdim=False, *, dtype=None):
    """Frobenius, nuclear, 1, -1, inf, -inf, 2 or -2 norm of matrices."""
    x = _float(A, "matrix_norm")
    if dtype is not None:
        x = x.to(dtype)
    d0, d1 = (d % x.ndim for d in dim)
    if ord == "fro":
        r = R.root_at_zero_safe(R.sum(x * x, (d0, d1), keepdim))
        return label(r, "LinalgVectorNormBackward0", (x,))
    if ord in ("nuc", 2, -2):
        y = x.movedim((d0, d1), (-2, -1))
        s = svdvals(y)
        r = R.sum(s, -1) if ord == "nuc" else (R.amax(s, -1) if ord == 2 else R.amin(s, -1))
        if keepdim:
            r = r.unsqueeze(min(d0, d1)).unsqueeze(max(d0, d1))
        return r
    if ord in (1, -1, float("inf"), float("-inf")):
        sum_dim, red_dim = (d0, d1) if ord in (1, -1) else (d1, d0)
        col = R.sum(x.abs(), sum_dim, keepdim=True)
        red = R.amax if ord in (1, float("inf")) else R.amin
        r = red(col, red_dim, keepdim=True)
        return r if keepdim else r.squeeze((d0, d1))
    raise RuntimeError(f"linalg.matrix_norm: Order {ord} not supported.")


def norm(A, ord=None, dim=None, keepdim=False, *, dtype=None):
    """``linalg.norm``: vector 2-norm / Frobenius by default, else vector or matrix ``ord``."""
    x = _float(A, "norm")
    if isinstance(dim, int):
        dim = (dim,)
    if ord is None:
        return RC.norm(x, 2, dim, keepdim, dtype)
    if dim is None:
        dim = tuple(range(x.ndim)) if x.ndim <= 2 else None
        if dim is None:
            raise RuntimeError(
                "linalg.norm: If dim is not specified but ord is, the input must be 1D or 2D"
            )
    if len(dim) == 2:
        return matrix_norm(x, ord, dim, keepdim, dtype=dtype)
    if isinstance(ord, str):
        raise RuntimeError(f"linalg.vector_norm: ord={ord!r} is only defined for matrices")
    return RC.norm(x, ord, dim, keepdim, dtype)


def cond(A, p=None):
    """The 2-norm condition number ``S.max() / S.min()``."""
    s = svdvals(A)
    return R.amax(s, -1) / R.amin(s, -1)


def cross(input, other, *, dim=-1):
    """``linalg.cross``: the cross product along ``dim`` (default last)."""
    from .composite import cross as _cross

    return _cross(input, other, dim)


def diagonal(A, *, offset=0, dim1=-2, dim2=-1):
    """``linalg.diagonal``: diagonals of the last two dims by default."""
    from .composite import diagonal as _d

    return _d(A, offset, dim1, dim2)


def vecdot(x, y, *, dim=-1):
    """Dot product along ``dim``."""
    return R.sum(x * y, dim)


def matmul(input, other):
    """``linalg.matmul`` is ``matmul``."""
    return M.matmul(input, other)


def inv_ex(A, *, check_errors=False):
    """``(inverse, info)`` (info 0: success)."""
    return return_types.linalg_inv_ex(inv(A), _wrap(np.zeros((), np.int32)))


def cholesky_ex(A, *, upper=False, check_errors=False):
    """``(L, info)`` (info 0: success)."""
    return return_types.linalg_cholesky_ex(cholesky(A, upper=upper), _wrap(np.zeros((), np.int32)))


def solve_triangular(A, B, *, upper, left=True, unitriangular=False):
    """Solve a triangular system (by a general solve of the masked matrix)."""
    a = _triu(A) if upper else _tril(A)
    if unitriangular:
        n = a.shape[-1]
        eye = _eye_like(n, a._data.dtype)
        a = a * (1 - eye) + eye
    return solve(a, B, left=left)


# ---------------------------------------------------------------- matrix exponential -----
def _expm_ref(a):
    import scipy.linalg as sl

    return np.asarray(sl.expm(a), dtype=a.dtype)


def _expm_vjp(g, o, x):
    # the adjoint of expm at A applied to G is the top-right block of expm([[A^T, G], [0, A^T]])
    from .movement import cat

    n = x._data.shape[-1]
    at = _mT(x)
    top = cat([at, g], -1)
    bottom = cat([at * 0, at], -1)
    big = apply(expm_p, (cat([top, bottom], -2),))
    return (big[..., :n, n:],)


expm_p = register(
    "linalg_matrix_exp",
    "opaque",
    _expm_ref,
    vjp=_expm_vjp,
    backward_name="LinalgMatrixExpBackward0",
)


@public(prim=expm_p)
def matrix_exp(A):
    """``e^A`` of a square matrix (or a batch), by scipy's Pade approximation."""
    return apply(expm_p, (_square(A, "matrix_exp"),))
