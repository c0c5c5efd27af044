"""``cview(a, shape)``: a C-contiguous array seen with another shape, for generated code.

Compiled steps re-view their buffers at every kernel call (``b7.reshape((_S[0], _S[1]))``).
numba's ``reshape`` lowers each such call site to its full implementation (size check,
no-copy stride search, error paths), which LLVM then optimises at every site: ~0.05 s of
compile per call site, and the MNIST MLP step has ~110 of them. For an array numba types as
C-contiguous the view is only a new shape and C strides over the same memory, which
``cview`` builds directly (the generated code states sizes that match by construction, so
the size check is not repeated). Other layouts go through ``reshape`` as before.
"""

from numba.core import cgutils, types
from numba.core.imputils import impl_ret_borrowed
from numba.extending import intrinsic, overload
from numba.np.arrayobj import make_array, populate_array


def cview(a, shape):
    """``a.reshape(shape)`` (what the compiled version computes, in Python)."""
    return a.reshape(shape)


@intrinsic
def _cview(typingctx, a, shape):
    if not isinstance(a, types.Array) or a.layout != "C" or not isinstance(shape, types.BaseTuple):
        return None
    if not all(isinstance(t, types.Integer) for t in shape):
        return None
    nd = len(shape)
    sig = a.copy(ndim=nd, layout="C")(a, shape)

    def codegen(context, builder, sig, args):
        aty, sty = sig.args
        ary = make_array(aty)(context, builder, args[0])
        out = make_array(sig.return_type)(context, builder)
        vals = cgutils.unpack_tuple(builder, args[1], nd)
        dims = [context.cast(builder, v, t, types.intp) for v, t in zip(vals, sty)]
        strides, acc = [], ary.itemsize
        for d in reversed(dims):
            strides.append(acc)
            acc = builder.mul(acc, d)
        strides.reverse()
        populate_array(
            out,
            data=ary.data,
            shape=dims,
            strides=strides,
            itemsize=ary.itemsize,
            meminfo=ary.meminfo,
            parent=ary.parent,
        )
        return impl_ret_borrowed(context, builder, sig.return_type, out._getvalue())

    return sig, codegen


@overload(cview)
def _cview_overload(a, shape):
    if isinstance(a, types.Array) and a.layout == "C" and isinstance(shape, types.BaseTuple):
        if all(isinstance(t, types.Integer) for t in shape):
            return lambda a, shape: _cview(a, shape)
    return lambda a, shape: a.reshape(shape)
