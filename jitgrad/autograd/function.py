"""Custom differentiable functions: subclass ``Function`` with ``forward``/``backward``."""

from ..ops.registry import Node, Primitive
from ..tensor import Tensor, _wrap
from .grad_mode import STATE, no_grad


class FunctionCtx:
    """The ``ctx`` passed to ``forward`` and ``backward``."""

    def __init__(self):
        self._saved = ()
        self._versions = ()
        self.needs_input_grad = ()
        self.materialize_grads = True
        self._non_diff = set()

    def save_for_backward(self, *tensors):
        self._saved = tensors
        self._versions = tuple(t._vc[0] if isinstance(t, Tensor) else None for t in tensors)

    @property
    def saved_tensors(self):
        if self._saved is None:
            from .engine import _SECOND_TIME

            raise RuntimeError(_SECOND_TIME)
        for i, (t, v) in enumerate(zip(self._saved, self._versions)):
            if isinstance(t, Tensor) and t._vc[0] != v:
                raise RuntimeError(
                    "one of the variables needed for gradient computation has been modified by "
                    f"an inplace operation: saved tensor {i} of shape {list(t.shape)} is at a "
                    "newer version than when it was saved"
                )
        return self._saved

    def save_for_forward(self, *tensors):
        """Tensors ``jvp`` reads back as ``ctx.saved_tensors`` (forward AD)."""
        self.save_for_backward(*tensors)

    def mark_non_differentiable(self, *tensors):
        self._non_diff.update(id(t) for t in tensors)

    def mark_dirty(self, *tensors):
        pass

    def set_materialize_grads(self, value):
        self.materialize_grads = bool(value)


def _fn_vjp(g, out, *inputs, fn, ctx, index, n_out):
    grads = [None] * n_out
    grads[index] = g
    if ctx.materialize_grads:
        from ..creation import zeros

        grads = [zeros(*s, dtype=d) if x is None else x for x, (s, d) in zip(grads, ctx._out_meta)]
    res = fn.backward(ctx, *grads)
    if not isinstance(res, tuple):
        res = (res,)
    tensor_pos = ctx._tensor_pos
    n_in = len(ctx._all_args)
    if len(res) > n_in and all(r is None for r in res[n_in:]):
        res = res[:n_in]  # trailing Nones past the inputs are dropped, as torch does
    if len(res) != n_in:
        raise RuntimeError(
            f"function {fn.__name__}Backward returned an incorrect number of "
            f"gradients (expected {len(ctx._all_args)}, got {len(res)})"
        )
    out_g = []
    for p in tensor_pos:
        gi = res[p]
        t = ctx._all_args[p]
        if gi is not None and not isinstance(gi, Tensor):
            raise TypeError(f"{fn.__name__}.backward must return Tensors or None")
        if gi is not None and gi._data.shape != t._data.shape:
            try:
                from ..ops._common import sum_to

                gi = (
                    sum_to(gi, t._data.shape)
                    if gi._data.ndim >= t._data.ndim
                    else gi.expand(*t._data.shape)
                )
            except RuntimeError:
                raise RuntimeError(
                    f"Function {fn.__name__}Backward returned an invalid gradient at index {p} - "
                    f"got {list(gi.shape)} but expected shape compatible with "
                    f"{list(t.shape)}"
                ) from None
        out_g.append(gi)
    return tuple(out_g)


class Function:
    """A custom op: ``forward(ctx, *args)`` runs without the tape, ``backward(ctx, *grads)``
    returns one gradient per ``forward`` argument. Call it with ``MyFn.apply(x)``."""

    @staticmethod
    def forward(ctx, *args, **kwargs):
        raise NotImplementedError(
            "You must implement the forward function for custom autograd.Function."
        )

    @staticmethod
    def setup_context(ctx, inputs, output):
        raise NotImplementedError("setup_context is not implemented.")

    @staticmethod
    def backward(ctx, *grad_outputs):
        raise NotImplementedError(
            "You must implement either the backward or vjp method for your "
            "custom autograd.Function to use it with backward mode AD."
        )

    @classmethod
    def apply(cls, *args, **kwargs):
        ctx = FunctionCtx()
        tensor_pos = [i for i, a in enumerate(args) if isinstance(a, Tensor)]
        ctx.needs_input_grad = tuple(isinstance(a, Tensor) and a._requires_grad for a in args)
        with no_grad():
            if cls.setup_context is not Function.setup_context:  # torch 2's forward(*args) style
                out = cls.forward(*args, **kwargs)
                cls.setup_context(ctx, args, out)
            else:
                out = cls.forward(ctx, *args, **kwargs)
        single = not isinstance(out, tuple)
        outs = (out,) if single else out
        need = STATE.enabled and any(ctx.needs_input_grad)
        if need:
            prim = cls.__dict__.get("_prim")
            if prim is None:
                prim = Primitive(
                    cls.__name__,
                    "opaque",
                    None,
                    vjp=_fn_vjp,
                    saves=(),
                    backward_name=cls.__name__ + "Backward",
                )
                cls._prim = prim
            ctx._tensor_pos = tensor_pos
            ctx._all_args = args
            inputs = tuple(args[i] for i in tensor_pos)
            ctx._out_meta = [
                (o.shape, o.dtype) if isinstance(o, Tensor) else ((), None) for o in outs
            ]
            new = []
            for k, o in enumerate(outs):
                if not isinstance(o, Tensor) or id(o) in ctx._non_diff or not o.is_floating_point():
                    new.append(o)
                    continue
                if any(o is a for a in args) or o._grad_fn is not None or o._requires_grad:
                    o = _wrap(o._data)
                r = o
                r._grad_fn = Node(
                    prim, inputs, {"fn": cls, "ctx": ctx, "index": k, "n_out": len(outs)}, r
                )
                r._requires_grad = True
                new.append(r)
            outs = tuple(new)
        if getattr(cls, "jvp", None) is not None:
            from .forward_ad import _function_jvp

            outs = _function_jvp(cls, ctx, args, outs)
        return outs[0] if single else outs


class once_differentiable:
    """torch's decorator for a ``backward`` that is not itself differentiable: it runs
    under ``no_grad``, so ``create_graph=True`` gives gradients without a graph."""

    def __new__(cls, fn):
        import functools

        @functools.wraps(fn)
        def wrapper(ctx, *args):
            with no_grad():
                return fn(ctx, *args)

        return wrapper
