"""``gradcheck`` / ``gradgradcheck``: analytic vs central-difference Jacobians (float64)."""

import numpy as np

from ..tensor import Tensor, _wrap
from .functional import jacobian


class GradcheckError(RuntimeError):
    """Raised by gradcheck when the analytic and numerical Jacobians differ."""


def _numerical(func, inputs, eps):
    outs = func(*inputs)
    outs = (outs,) if isinstance(outs, Tensor) else tuple(outs)
    jac = []
    for x in inputs:
        if not (isinstance(x, Tensor) and x.requires_grad):
            jac.append(None)
            continue
        flat = x._data.reshape(-1)
        cols = []
        for i in range(flat.size):
            old = flat[i].item()
            flat[i] = old + eps
            fp = [o._data.copy() for o in _tup(func(*inputs))]
            flat[i] = old - eps
            fm = [o._data.copy() for o in _tup(func(*inputs))]
            flat[i] = old
            cols.append([(a - b).reshape(-1) / (2 * eps) for a, b in zip(fp, fm)])
        jac.append(cols)
    return outs, jac


def _tup(o):
    return (o,) if isinstance(o, Tensor) else tuple(o)


def gradcheck(
    func,
    inputs,
    *,
    eps=1e-6,
    atol=1e-5,
    rtol=1e-3,
    raise_exception=True,
    nondet_tol=0.0,
    check_undefined_grad=True,
    check_grad_dtypes=False,
    check_batched_grad=False,
    fast_mode=False,
    masked=None,
):
    """True when ``func``'s gradients match finite differences at ``inputs``."""
    inputs = (inputs,) if isinstance(inputs, Tensor) else tuple(inputs)
    diff = _differentiable(inputs)
    for x in diff:
        if x.dtype.name != "float64":
            import warnings

            warnings.warn(
                "Input #0 requires gradient and is not a double precision floating point. "
                "This check will likely fail if all the inputs are not of double precision "
                "floating point.",
                UserWarning,
                stacklevel=2,
            )
    outs, num = _numerical(func, inputs, eps)
    idx = [i for i, x in enumerate(inputs) if isinstance(x, Tensor) and x.requires_grad]

    def f(*xs):
        full = list(inputs)
        for i, v in zip(idx, xs):
            full[i] = v
        return func(*full)

    ana = jacobian(f, tuple(inputs[i] for i in idx))
    for k, i in enumerate(idx):
        for j, o in enumerate(outs):
            a = (
                ana[j][k]
                if isinstance(ana, tuple) and isinstance(ana[0], tuple)
                else (ana[k] if len(outs) == 1 else ana[j])
            )
            if isinstance(a, tuple):
                a = a[0]
            a = a._data.reshape(o.numel(), inputs[i].numel())
            n = np.stack([c[j] for c in num[i]], 1) if num[i] else np.zeros_like(a)
            if not np.allclose(a, n, rtol=rtol, atol=atol):
                if raise_exception:
                    raise GradcheckError(
                        f"Jacobian mismatch for output {j} with respect to input {i},\n"
                        f"numerical:{_wrap(n)}\nanalytical:{_wrap(np.ascontiguousarray(a))}\n"
                    )
                return False
    return True


def _differentiable(inputs):
    """The inputs that require grad; torch's ValueError when there are none."""
    diff = [x for x in inputs if isinstance(x, Tensor) and x.requires_grad]
    if not diff:
        raise ValueError(
            "gradcheck expects at least one input tensor to require gradient, but none of them "
            "have requires_grad=True."
        )
    return diff


def gradgradcheck(
    func, inputs, grad_outputs=None, *, eps=1e-6, atol=1e-5, rtol=1e-3, raise_exception=True, **kw
):
    """gradcheck of the vector-Jacobian product of ``func`` (second derivatives)."""
    from .engine import grad

    inputs = (inputs,) if isinstance(inputs, Tensor) else tuple(inputs)
    _differentiable(inputs)
    outs = _tup(func(*inputs))
    if grad_outputs is None:
        rng = np.random.default_rng(0)
        grad_outputs = tuple(
            _wrap(rng.standard_normal(o.shape).astype(o._data.dtype)).requires_grad_(True)
            for o in outs
        )
    grad_outputs = _tup(grad_outputs)
    n_in = len(inputs)

    def vjp_fn(*args):
        xs, gs = args[:n_in], args[n_in:]
        o = _tup(func(*xs))
        idx = [x for x in xs if isinstance(x, Tensor) and x.requires_grad]
        r = grad(o, idx, gs, create_graph=True, allow_unused=True)
        return tuple(g if g is not None else x * 0 for g, x in zip(r, idx))

    return gradcheck(
        vjp_fn,
        inputs + tuple(grad_outputs),
        eps=eps,
        atol=atol,
        rtol=rtol,
        raise_exception=raise_exception,
    )
