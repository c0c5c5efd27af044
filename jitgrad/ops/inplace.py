"""In-place ops: compute out of place, write into the tensor's storage, bump its version.

Under grad mode the tensor takes the result's ``grad_fn`` (a leaf that requires grad refuses);
a basic-index view also rewrites its base's history (like torch's CopySlices). The tracer is
told about every write, so in-place updates of parameters and buffers become state updates.
"""

import numpy as np

from .._grad_mode import STATE
from ..tensor import Tensor, _wrap
from .registry import apply

_LEAF = (
    "a leaf Variable that requires grad is being used in an in-place operation "
    "({op} on a tensor of shape {shape}); wrap the update in `with jitgrad.no_grad():` or "
    "operate on a clone"
)


def _snapshot(t):
    """A copy of ``t``'s current value that keeps its autograd history (for saved inputs)."""
    s = _wrap(t._data.copy())
    s._grad_fn = t._grad_fn
    s._requires_grad = t._requires_grad
    tr = STATE.tracer
    if tr is not None:
        tr.alias(s, t)
    return s


def _castable(src, dst):
    order = "bif"
    ks, kd = src.kind.replace("u", "i"), dst.kind.replace("u", "i")
    return order.index(ks) <= order.index(kd)


def fast_binary(self, ufunc, other):
    """``self op= other`` straight into ``self``'s memory (NumPy's ``out=``) when nothing is
    recorded (no tracer, no gradient) and the result needs no promotion or broadcast of
    ``self``: an optimizer's ``buf.mul_(m).add_(g)`` costs one pass, not a temporary and a
    copy. Returns False (nothing done) otherwise; ``inplace`` then does the general work."""
    st = STATE
    a = self._data
    if st.tracer is not None or a.dtype.kind != "f" or not a.flags.writeable:
        return False
    if isinstance(other, Tensor):
        b = other._data
        if st.enabled and (self._requires_grad or other._requires_grad):
            return False
        if b.dtype != a.dtype or b.ndim > a.ndim:
            return False
        if b.shape != a.shape and np.broadcast_shapes(b.shape, a.shape) != a.shape:
            return False
    elif type(other) in (int, float):
        if st.enabled and self._requires_grad:
            return False
        b = other
    else:
        return False
    ufunc(a, b, out=a)
    self._vc[0] += 1
    return True


def inplace(self, fn, others=(), op="inplace"):
    """Run ``fn(self) -> Tensor`` and store the result into ``self``; returns ``self``."""
    b0 = self._base
    if b0 is not None and b0[2] != self._vc[0]:  # the root changed since: history anew
        from .movement import refresh_view

        refresh_view(self)
    st = STATE
    need = False
    if st.enabled:
        need = self._requires_grad or any(
            isinstance(o, Tensor) and o._requires_grad for o in others
        )
        if self._requires_grad and self._grad_fn is None:
            raise RuntimeError(_LEAF.format(op=op, shape=list(self._data.shape)))
    base = self._base
    if need and base is not None:
        b = base[0]
        if b._requires_grad and b._grad_fn is None:
            raise RuntimeError(
                f"a view of a leaf Variable that requires grad is being used in an in-place "
                f"operation ({op} on a view of shape {list(self._data.shape)})"
            )
        base_old = _snapshot(b)
    src = _snapshot(self) if need else self
    r = fn(src)
    rd = r._data
    if rd.shape != self._data.shape:
        try:
            shape = np.broadcast_shapes(rd.shape, self._data.shape)
        except ValueError:
            shape = None
        if shape != self._data.shape:
            raise RuntimeError(
                f"{op}: output with shape {list(self._data.shape)} doesn't match the broadcast "
                f"shape {list(rd.shape)}"
            )
    if rd.dtype != self._data.dtype and not _castable(rd.dtype, self._data.dtype):
        raise RuntimeError(
            f"{op}: result type {rd.dtype.name} can't be cast to the desired output type "
            f"{self._data.dtype.name}"
        )
    if not self._data.flags.writeable:
        raise RuntimeError(
            f"{op}: unsupported operation: the tensor of shape {list(self._data.shape)} is a "
            "broadcast (expanded) view where several elements share one memory location; "
            "clone() it first"
        )
    if st.tracer is not None:  # a capture that fails later puts this memory back
        st.tracer.before_write(self._data)
    np.copyto(self._data, rd, casting="unsafe")
    self._vc[0] += 1
    if need:
        node = r._grad_fn
        if rd.dtype != self._data.dtype:
            node = r.to(self._data.dtype)._grad_fn
        if base is not None:
            from .movement import ViewOf, getitem_p, setitem_p

            b, spec = base[0], base[1]
            val = _as_graph_value(self, r)
            if isinstance(spec, ViewOf):  # reshape/permute/chained views: by flat index
                nb = scatter_flat(base_old, val, spec.flat_index(b._data.shape))
                _adopt(b, nb._grad_fn)
                node = spec.of(b)._grad_fn
            else:
                nb = apply(setitem_p, (base_old, val), {"spec": spec})
                _adopt(b, nb._grad_fn)
                v = apply(getitem_p, (b,), {"spec": spec})
                node = v._grad_fn
        _adopt(self, node)
    tr = st.tracer
    if tr is not None:
        tr.write(self, r)
        if base is not None:
            tr.write_view(base[0], self)
    if base is not None:  # this view is current; the root's other views refresh when used
        self._base = (base[0], base[1], self._vc[0])
    return self


def scatter_flat(base, value, flat_index):
    """``base`` with ``value`` written at the flat positions ``flat_index`` (differentiable
    in both: the write of a view made by any chain of view ops)."""
    from .movement import reshape_p, setitem_p

    n = base._data.size
    idx = _wrap(np.asarray(flat_index, dtype=np.int64))
    flat = apply(reshape_p, (base,), {"shape": (n,)})
    vflat = apply(reshape_p, (value,), {"shape": (value._data.size,)})
    out = apply(setitem_p, (flat, vflat, idx), {"spec": (("t", 0),)})
    return apply(reshape_p, (out,), {"shape": base._data.shape})


def _as_graph_value(self, r):
    return r if r._data.dtype == self._data.dtype else r.to(self._data.dtype)


def _adopt(t, node):
    t._grad_fn = node
    t._requires_grad = node is not None
    if node is not None and node.prim.saves_out:
        node.out_data = t._data
        node.out_vc = t._vc
        node.out_version = t._vc[0]
