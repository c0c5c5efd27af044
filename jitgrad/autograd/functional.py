"""``autograd.functional``: jacobian, hessian, vjp, jvp, hvp, vhp — all built on ``grad``.

Forward-mode products (``jvp``) use the double-backward trick: ``J v = d(J^T u . v)/du``, so
they need nothing but reverse mode, and they differentiate again with ``create_graph=True``.
"""

from ..creation import zeros_like
from ..tensor import Tensor
from .engine import grad as _grad
from .grad_mode import enable_grad


def _as_tuple(x, what, fn):
    if isinstance(x, Tensor):
        return (x,), False
    if isinstance(x, (tuple, list)) and all(isinstance(t, Tensor) for t in x):
        return tuple(x), True
    raise TypeError(
        f"The {what} given to {fn} must be either a Tensor or a tuple of Tensors but the "
        f"value at index 0 has type {type(x).__name__}."
    )


def _check_v(vs, like):
    """torch's checks of the vector ``v`` against the tensors it multiplies."""
    if len(vs) != len(like):
        raise RuntimeError(
            f"v is a tuple of invalid length: should be {len(like)} but got {len(vs)}."
        )
    for v, x in zip(vs, like):
        if tuple(v.shape) != tuple(x.shape):
            raise RuntimeError(f"v has invalid size: should be {x.shape} but got {v.shape}.")


def _strict_outputs(outs, strict):
    """In strict mode every output must depend differentiably on the inputs (torch)."""
    if strict:
        for i, o in enumerate(outs):
            if not o.requires_grad:
                raise RuntimeError(
                    f"Output {i} of the user-provided function does not require gradients. The "
                    "outputs must be computed in a differentiable manner from the input when "
                    "running in strict mode."
                )


def _strict_grads(grads, strict, what):
    """In strict mode a gradient that is None (independent of an input) is an error."""
    if strict:
        for i, g in enumerate(grads):
            if g is None:
                raise RuntimeError(
                    f"The {what} of the user-provided function is independent of input {i}. "
                    "This is not allowed in strict mode."
                )


def _prepare(inputs, create_graph):
    out = []
    for t in inputs:
        if create_graph and t.requires_grad:
            out.append(t.view_as(t))  # keep the connection to t's graph for higher orders
        else:
            out.append(t.detach().requires_grad_(t.is_floating_point()))
    return tuple(out)


def _fill(grads, like):
    return tuple(zeros_like(x) if g is None else g for g, x in zip(grads, like))


def _grads(outputs, inputs, grad_outputs, create_graph, retain_graph=True):
    outs = [o for o in outputs if o.requires_grad]
    if not outs:
        return (None,) * len(inputs)
    gos = None
    if grad_outputs is not None:
        gos = [g for o, g in zip(outputs, grad_outputs) if o.requires_grad]
    return _grad(
        outs, inputs, gos, retain_graph=retain_graph, create_graph=create_graph, allow_unused=True
    )


def _post(x, create_graph):
    return x if create_graph else x.detach()


def vjp(func, inputs, v=None, create_graph=False, strict=False):
    """``(func(inputs), v^T J)``; ``v`` may be omitted for a scalar output."""
    inputs, tup = _as_tuple(inputs, "inputs", "vjp")
    with enable_grad():
        inp = _prepare(inputs, create_graph)
        outs, out_tup = _as_tuple(func(*inp), "outputs of the user-provided function", "vjp")
        _strict_outputs(outs, strict)
        if v is not None:
            vs, _ = _as_tuple(v, "v", "vjp")
            _check_v(vs, outs)
        else:
            for o in outs:
                if o.numel() != 1:
                    raise RuntimeError(
                        "The vector v can only be None if the user-provided function returns a "
                        "single Tensor with a single element."
                    )
            vs = None
        g = _grads(outs, inp, vs, create_graph)
        _strict_grads(g, strict, "output")
        g = _fill(g, inp)
    res_o = tuple(_post(o, create_graph) for o in outs)
    res_g = tuple(_post(x, create_graph) for x in g)
    return (res_o if out_tup else res_o[0]), (res_g if tup else res_g[0])


def jvp_by_double_backward(outs, inputs, tangents, create_graph):
    """``J tangents`` per output (None where an output does not depend on ``inputs``) by two
    reverse passes: ``J t = d(J^T u . t)/du`` at ``u = 0``."""
    us = tuple(zeros_like(o).requires_grad_(True) for o in outs)
    g = _grads(outs, inputs, us, create_graph=True)
    pairs = [(gi, ti) for gi, ti in zip(g, tangents) if gi is not None and gi.requires_grad]
    if not pairs:
        return (None,) * len(us)
    return _grad(
        [p[0] for p in pairs],
        us,
        [p[1] for p in pairs],
        create_graph=create_graph,
        allow_unused=True,
    )


def jvp(func, inputs, v=None, create_graph=False, strict=False):
    """``(func(inputs), J v)`` by the double-backward trick."""
    inputs, tup = _as_tuple(inputs, "inputs", "jvp")
    if v is None:
        if len(inputs) != 1 or inputs[0].numel() != 1:
            raise RuntimeError(
                "The vector v can only be None if the input to the user-provided function is a "
                "single Tensor with a single element."
            )
        vs = (inputs[0].new_ones(inputs[0].shape),)
    else:
        vs, _ = _as_tuple(v, "v", "jvp")
        _check_v(vs, inputs)
    with enable_grad():
        inp = _prepare(inputs, create_graph)
        outs, out_tup = _as_tuple(func(*inp), "outputs of the user-provided function", "jvp")
        _strict_outputs(outs, strict)
        jv = jvp_by_double_backward(outs, inp, vs, create_graph)
        jv = _fill(jv, outs)
    res_o = tuple(_post(o, create_graph) for o in outs)
    res_j = tuple(_post(x, create_graph) for x in jv)
    return (res_o if out_tup else res_o[0]), (res_j if out_tup else res_j[0])


def jacobian(
    func, inputs, create_graph=False, strict=False, vectorize=False, strategy="reverse-mode"
):
    """d func(inputs) / d inputs: a Tensor of shape ``out.shape + in.shape`` (tuples nest)."""
    if strategy not in ("forward-mode", "reverse-mode"):
        raise AssertionError(
            'Expected strategy to be either "forward-mode" or "reverse-mode". Hint: If your '
            'function has more outputs than inputs, "forward-mode" tends to be more performant. '
            'Otherwise, prefer to use "reverse-mode".'
        )
    if strategy == "forward-mode" and create_graph:
        raise NotImplementedError(
            'jacobian: `create_graph=True` and `strategy="forward-mode"` are not supported '
            "together (yet). Please either set `create_graph=False` or "
            '`strategy="reverse-mode"`.'
        )
    if strategy == "forward-mode" and not vectorize:
        raise NotImplementedError(
            "Computing Jacobian using forward-AD or forward-over-reverse Hessian is only "
            "implemented for `vectorize=True`."
        )
    inputs, tup = _as_tuple(inputs, "inputs", "jacobian")
    with enable_grad():
        inp = _prepare(inputs, create_graph)
        outs, out_tup = _as_tuple(func(*inp), "outputs of the user-provided function", "jacobian")
        _strict_outputs(outs, strict)
        jac = []
        for o in outs:
            flat = o.reshape(-1)
            rows = [[] for _ in inp]
            for i in range(flat.numel()):
                if o.requires_grad:
                    g = _grad(
                        flat[i],
                        inp,
                        retain_graph=True,
                        create_graph=create_graph,
                        allow_unused=True,
                    )
                else:
                    g = (None,) * len(inp)
                _strict_grads(g, strict, "jacobian")
                for k, (gk, x) in enumerate(zip(g, inp)):
                    rows[k].append(zeros_like(x) if gk is None else gk)
            per_in = []
            for k, x in enumerate(inp):
                from ..ops.movement import stack

                if rows[k]:
                    j = stack(rows[k]).reshape(tuple(o.shape) + tuple(x.shape))
                else:
                    j = x.new_zeros(tuple(o.shape) + tuple(x.shape))
                per_in.append(_post(j, create_graph))
            jac.append(tuple(per_in) if tup else per_in[0])
    return tuple(jac) if out_tup else jac[0]


def hessian(
    func,
    inputs,
    create_graph=False,
    strict=False,
    vectorize=False,
    outer_jacobian_strategy="reverse-mode",
):
    """Second derivatives of a scalar ``func``: shape ``in.shape + in.shape`` (tuples nest)."""
    inputs, tup = _as_tuple(inputs, "inputs", "hessian")

    def grad_fn(*x):
        out = func(*x)
        _as_tuple(out, "outputs of the user-provided function", "hessian")  # torch's TypeError
        if not isinstance(out, Tensor) or out.numel() != 1:
            raise RuntimeError(
                "The function given to hessian should return a single Tensor with a single element"
            )
        g = _fill(_grads((out,), x, None, create_graph=True), x)
        return g if tup else g[0]

    return jacobian(grad_fn, inputs if tup else inputs[0], create_graph=create_graph, strict=strict)


def vhp(func, inputs, v=None, create_graph=False, strict=False):
    """``(func(inputs), v^T H)`` for a scalar ``func``."""
    return _hv("vhp", func, inputs, v, create_graph, strict)


def hvp(func, inputs, v=None, create_graph=False, strict=False):
    """``(func(inputs), H v)`` for a scalar ``func`` (H symmetric, so ``v^T H`` transposed)."""
    return _hv("hvp", func, inputs, v, create_graph, strict)


def _hv(name, func, inputs, v, create_graph, strict=False):
    inputs, tup = _as_tuple(inputs, "inputs", name)
    if v is None:
        if len(inputs) != 1 or inputs[0].numel() != 1:
            raise RuntimeError(
                "The vector v can only be None if the input to the user-provided function is a "
                "single Tensor with a single element."
            )
        vs = (inputs[0].new_ones(inputs[0].shape),)
    else:
        vs, _ = _as_tuple(v, "v", name)
        _check_v(vs, inputs)
    with enable_grad():
        inp = _prepare(inputs, create_graph)
        out = func(*inp)
        if not isinstance(out, Tensor) or out.numel() != 1:
            raise RuntimeError(
                f"The Tensor returned by the function given to {name} should contain a single "
                "element"
            )
        _strict_outputs((out,), strict)
        g = _grads((out,), inp, None, create_graph=True)
        pairs = [(gi, vi) for gi, vi in zip(g, vs) if gi is not None and gi.requires_grad]
        if pairs:
            hv = _grad(
                [p[0] for p in pairs],
                inp,
                [p[1] for p in pairs],
                create_graph=create_graph,
                allow_unused=True,
            )
        else:
            hv = (None,) * len(inp)
        hv = _fill(hv, inp)
    res = tuple(_post(x, create_graph) for x in hv)
    return _post(out, create_graph), (res if tup else res[0])
