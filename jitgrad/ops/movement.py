"""Shape and indexing primitives: reshape, permute, expand, getitem/setitem, cat, gather."""

import builtins

import numpy as np

from .._errors import IndexRuntimeError
from .._grad_mode import STATE
from .._sizes import int_tuple
from ..tensor import Tensor, _wrap_dim
from ._common import norm_dims, sum_to, to_tensor
from .registry import apply, const, label, public, register


class ViewOf:
    """How a view was made from its root tensor: the chain of view primitives (reshape,
    permute, basic getitem) with their params. An in-place write through the view updates
    the root's autograd history (and a trace's value of the root) from it."""

    __slots__ = ("chain",)

    def __init__(self, chain):
        self.chain = chain

    def flat_index(self, shape):
        """For every element of the view, the flat index of the root element it is."""
        a = np.arange(int(np.prod(shape, dtype=np.int64))).reshape(shape)
        for prim, params in self.chain:
            a = prim.impl(a, **params)
        return np.ascontiguousarray(a).reshape(-1)

    def of(self, t):
        """The view, made again from (a new value of) its root ``t``."""
        for prim, params in self.chain:
            t = apply(prim, (t,), params)
        return t


def _share_vc(res, x, prim=None, params=None):
    """Views share the version counter of their base, so in-place checks see through them;
    with ``prim``/``params`` (the view op) the view also records its root (``_base``)."""
    a = res._data
    if res is not x and a.base is not None and np.may_share_memory(a, x._data):
        res._vc = x._vc
        if prim is not None:
            _set_base(res, x, ((prim, params),))
    return res


def _set_base(res, x, chain):
    """``res`` is a view of ``x`` made by ``chain``: record it against x's own root, with the
    version of their shared memory it was made at (``_base`` is (root, spec, version))."""
    prev = x._base
    if prev is None:
        res._base = (x, ViewOf(chain), x._vc[0])
        return
    root, spec = prev[0], prev[1]
    before = spec.chain if isinstance(spec, ViewOf) else ((getitem_p, {"spec": spec}),)
    res._base = (root, ViewOf(before + chain), x._vc[0])


def refresh_view(t):
    """``t`` is a view whose root was written in place since ``t`` was made (or last
    refreshed): take its autograd history (and, in a trace, its value) from the root anew,
    as torch regenerates a view's grad_fn."""
    from .._grad_mode import STATE

    root, spec = t._base[0], t._base[1]
    if isinstance(spec, ViewOf):
        fresh = spec.of(root)
    else:
        fresh = apply(getitem_p, (root,), {"spec": spec})
    t._grad_fn = fresh._grad_fn
    t._requires_grad = fresh._requires_grad
    t._base = (root, spec, t._vc[0])
    if STATE.tracer is not None:
        STATE.tracer.alias(t, fresh)


def _shape_arg(op, shape):
    return int_tuple(op, "shape", shape)


# ---------------------------------------------------------------- reshape -----------------
def _same_shape(params, in_shape, out_shape):
    return tuple(in_shape) == tuple(out_shape)


reshape_p = register(
    "reshape",
    "movement",
    lambda x, shape: np.reshape(x, shape),
    vjp=lambda g, o, x, shape: (g.reshape(x._data.shape),),
    saves=(),
    backward_name="ViewBackward0",
    view=True,
    noop=_same_shape,
)


def _infer_shape(op, shape, numel):
    neg = [i for i, s in enumerate(shape) if s == -1]
    if len(neg) > 1:
        raise RuntimeError(f"{op}: only one dimension can be inferred (shape {list(shape)})")
    if builtins.any(s < -1 for s in shape):
        raise RuntimeError(f"{op}: invalid shape dimension {min(shape)} in {list(shape)}")
    known = 1
    for s in shape:
        if s != -1:
            known *= s
    if neg:
        if known == 0 or numel % known:
            raise RuntimeError(f"{op}: shape '{list(shape)}' is invalid for input of size {numel}")
        shape = tuple(numel // known if s == -1 else s for s in shape)
    elif known != numel:
        raise RuntimeError(f"{op}: shape '{list(shape)}' is invalid for input of size {numel}")
    return shape


def reshape(input, *shape):
    """Same data, new shape (a view when possible); one ``-1`` is inferred."""
    shape = _infer_shape("reshape", _shape_arg("reshape", shape), input._data.size)
    return _share_vc(
        apply(reshape_p, (input,), {"shape": shape}), input, reshape_p, {"shape": shape}
    )


def _view_dtype(input, dtype):
    """``view(dtype)``: the same bytes reinterpreted (like torch), never a value conversion."""
    from .. import _dtype
    from .._grad_mode import STATE

    dt = np.dtype(_dtype.to_np(dtype))
    a = input._data
    if dt == a.dtype:
        return view(input, *a.shape)
    if STATE.tracer is not None:
        STATE.tracer.fail(f"view({dtype}) (a reinterpretation of the bytes)")
    old, new = a.dtype.itemsize, dt.itemsize
    if old != new:
        if a.ndim == 0:
            raise RuntimeError(
                f"view(): self.dim() cannot be 0 to view {input.dtype} as {dtype} (different "
                "element sizes)"
            )
        if a.shape[-1] * old % new:
            raise RuntimeError(
                f"view(): self.size(-1) must be divisible by {new // old if new > old else 1} "
                f"to view {input.dtype} as {dtype} (different element sizes), but got "
                f"{a.shape[-1]} (shape {list(input.shape)})"
            )
        if a.shape[-1] > 1 and a.strides[-1] != old:
            raise RuntimeError(
                f"view(): self.stride(-1) must be 1 to view {input.dtype} as {dtype} (different "
                "element sizes); call .contiguous() first"
            )
    if input._requires_grad:
        raise RuntimeError(
            f"view(): viewing a tensor that requires grad as {dtype} is not differentiable "
            "in jitgrad; .detach() it first"
        )
    from ..tensor import _wrap

    return _wrap(a.view(dt))


def view(input, *shape):
    """Like ``reshape`` but never copies: raises on incompatible strides, like torch."""
    if len(shape) == 1 and not isinstance(shape[0], (tuple, list, int, np.integer)):
        return _view_dtype(input, shape[0])
    shape = _infer_shape("view", _shape_arg("view", shape), input._data.size)
    if not input._data.flags.c_contiguous and input._data.size > 1:
        try:
            v = input._data.view()
            v.shape = shape
        except AttributeError:
            raise RuntimeError(
                f"view size is not compatible with input tensor's size and stride (shape "
                f"{tuple(input._data.shape)} -> {shape}; at least one dimension spans across two "
                "contiguous subspaces). Use .reshape(...) instead."
            ) from None
    return _share_vc(
        apply(reshape_p, (input,), {"shape": shape}), input, reshape_p, {"shape": shape}
    )


def flatten(input, start_dim=0, end_dim=-1):
    nd = input._data.ndim
    if nd == 0:
        return reshape(input, 1)
    s = _wrap_dim(start_dim, nd, "flatten")
    e = _wrap_dim(end_dim, nd, "flatten")
    if s > e:
        raise RuntimeError("flatten() has invalid args: start_dim cannot come after end_dim")
    sh = input._data.shape
    n = 1
    for d in sh[s : e + 1]:
        n *= d
    return reshape(input, sh[:s] + (n,) + sh[e + 1 :])


def unflatten(input, dim, sizes):
    d = _wrap_dim(dim, input._data.ndim, "unflatten")
    sh = input._data.shape
    sizes = _infer_shape("unflatten", tuple(sizes), sh[d])
    return reshape(input, sh[:d] + sizes + sh[d + 1 :])


def squeeze(input, dim=None):
    sh = input._data.shape
    if dim is None:
        dims = tuple(i for i, s in enumerate(sh) if s == 1)
    else:
        dims = norm_dims(dim, input._data.ndim, "squeeze") if sh else ()
        dims = tuple(d for d in dims if sh[d] == 1)
    return reshape(input, tuple(s for i, s in enumerate(sh) if i not in dims))


def unsqueeze(input, dim):
    nd = input._data.ndim
    dim = _wrap_dim(dim, nd + 1, "unsqueeze") if type(dim) is not int else dim
    if not -nd - 1 <= dim <= nd:
        raise IndexError(
            f"unsqueeze: Dimension out of range (expected to be in range of "
            f"[{-nd - 1}, {nd}], but got {dim})"
        )
    d = dim + nd + 1 if dim < 0 else dim
    sh = input._data.shape
    return reshape(input, sh[:d] + (1,) + sh[d:])


# ---------------------------------------------------------------- permute -----------------
def _inv(dims):
    inv = [0] * len(dims)
    for i, d in enumerate(dims):
        inv[d] = i
    return tuple(inv)


permute_p = register(
    "permute",
    "movement",
    lambda x, dims: np.transpose(x, dims),
    vjp=lambda g, o, x, dims: (g.permute(_inv(dims)),),
    saves=(),
    view=True,
    noop=lambda params, in_shape, out_shape: tuple(params["dims"]) == tuple(range(len(in_shape))),
)


def permute(input, *dims):
    dims = _shape_arg("permute", dims)
    nd = input._data.ndim
    if len(dims) != nd:
        raise RuntimeError(
            f"permute(): number of dimensions in the tensor input (shape {list(input.shape)}) does "
            f"not match the length of the desired ordering of dimensions i.e. "
            f"input.dim() = {nd} is not equal to len(dims) = {len(dims)}"
        )
    dims = tuple(_wrap_dim(d, nd, "permute") for d in dims)
    if len(set(dims)) != nd:
        raise RuntimeError(f"permute(): duplicate dims are not allowed (dims {dims})")
    return _share_vc(apply(permute_p, (input,), {"dims": dims}), input, permute_p, {"dims": dims})


def transpose(input, dim0, dim1):
    nd = input._data.ndim
    if nd == 0:
        return input.reshape(())
    d0, d1 = _wrap_dim(dim0, nd, "transpose"), _wrap_dim(dim1, nd, "transpose")
    dims = list(range(nd))
    dims[d0], dims[d1] = dims[d1], dims[d0]
    return permute(input, *dims)


swapaxes = transpose


def t(input):
    nd = input._data.ndim
    if nd > 2:
        raise RuntimeError(f"t() expects a tensor with <= 2 dimensions, but self is {nd}D")
    return transpose(input, 0, 1) if nd == 2 else reshape(input, input._data.shape)


def movedim(input, source, destination):
    nd = input._data.ndim
    src = (source,) if isinstance(source, int) else tuple(source)
    dst = (destination,) if isinstance(destination, int) else tuple(destination)
    src = [_wrap_dim(s, nd, "movedim") for s in src]
    dst = [_wrap_dim(d, nd, "movedim") for d in dst]
    if len(src) != len(dst):
        raise RuntimeError(
            f"movedim: Invalid source or destination dims: source ({list(src)} dims) should "
            f"contain the same number of dims as destination ({list(dst)} dims)"
        )
    for what, ds in (("source", src), ("destination", dst)):
        if len(set(ds)) != len(ds):
            raise RuntimeError(f"movedim: repeated dim in `{what}` ({ds}); each dim at most once")
    order = [i for i in range(nd) if i not in src]
    for d, s in sorted(zip(dst, src)):
        order.insert(d, s)
    return permute(input, *order)


# ---------------------------------------------------------------- expand ------------------
expand_p = register(
    "expand",
    "movement",
    lambda x, shape: np.broadcast_to(x, shape),
    vjp=lambda g, o, x, shape: (sum_to(g, x._data.shape),),
    saves=(),
    view=True,
    noop=_same_shape,
    scalar="{0}",  # inside a fused loop an expand is a broadcast read
    fusible=True,
)


def expand(input, *sizes):
    sizes = _shape_arg("expand", sizes)
    sh = input._data.shape
    if len(sizes) < len(sh):
        raise RuntimeError(
            f"expand(torch.FloatTensor{{{list(sh)}}}, size={list(sizes)}): the number of sizes "
            f"provided ({len(sizes)}) must be greater or equal to the number of dimensions in "
            f"the tensor ({len(sh)})"
        )
    lead = len(sizes) - len(sh)
    out = []
    for i in reversed(range(len(sizes))):  # PyTorch checks (and reports) from the last dim
        s = sizes[i]
        if i < lead:
            if s < 0:
                raise RuntimeError(
                    f"expand: -1 is not allowed in a leading, non-existing "
                    f"dimension {i} (sizes {list(sizes)})"
                )
            out.append(s)
            continue
        cur = sh[i - lead]
        if s == -1:
            s = cur
        if cur != s and cur != 1:
            raise RuntimeError(
                f"expand: The expanded size of the tensor ({s}) must match the existing "
                f"size ({cur}) at "
                f"non-singleton dimension {i}.  Target sizes: {list(sizes)}.  Tensor sizes: "
                f"{list(sh)}"
            )
        out.append(s)
    out = tuple(reversed(out))
    if out == sh:
        return _share_vc(apply(reshape_p, (input,), {"shape": sh}), input, reshape_p, {"shape": sh})
    return _share_vc(apply(expand_p, (input,), {"shape": out}), input)


def broadcast_to(input, shape):
    return expand(input, *shape)


def expand_as(input, other):
    return expand(input, *other.shape)


def repeat(input, *sizes):
    sizes = _shape_arg("repeat", sizes)
    sh = input._data.shape
    if builtins.any(r < 0 for r in sizes):
        raise RuntimeError(
            f"repeat: Trying to create tensor with negative dimension: repeats {list(sizes)} "
            f"(input shape {list(sh)}); every repeat count must be >= 0"
        )
    if len(sizes) < len(sh):
        raise RuntimeError(
            "Number of dimensions of repeat dims can not be smaller than number "
            "of dimensions of tensor"
        )
    sh = (1,) * (len(sizes) - len(sh)) + sh
    x = reshape(input, *sh)
    inter, target = [], []
    for s, r in zip(sh, sizes):
        inter += [1, s]
        target += [r, s]
    x = expand(reshape(x, *inter), *target)
    return reshape(x, *[s * r for s, r in zip(sh, sizes)])


# ---------------------------------------------------------------- getitem / setitem -------
def _build_index(spec, arrays):
    out = []
    for s in spec:
        k = s[0]
        if k == "s":
            out.append(slice(s[1], s[2], s[3]))
        elif k == "i":
            out.append(s[1])
        elif k == "t":
            out.append(arrays[s[1]])
        elif k == "n":
            out.append(None)
        else:
            out.append(Ellipsis)
    return tuple(out)


def _getitem_ref(x, *idx, spec):
    r = x[_build_index(spec, idx)]
    return r if isinstance(r, np.ndarray) else np.asarray(r)


def _getitem_grad_ref(g, *idx, spec, shape):
    z = np.zeros(shape, dtype=g.dtype)
    index = _build_index(spec, idx)
    if idx:
        np.add.at(z, index, g)
    else:
        z[index] = g
    return z


def _setitem_ref(x, v, *idx, spec):
    r = x.copy()
    r[_build_index(spec, idx)] = v
    return r


def _getitem_vjp(g, o, x, *idx, spec):
    return (apply(getitem_grad_p, (g,) + idx, {"spec": spec, "shape": x._data.shape}),) + (
        None,
    ) * len(idx)


def _getitem_grad_vjp(gg, o, g, *idx, spec, shape):
    return (apply(getitem_p, (gg,) + idx, {"spec": spec}),) + (None,) * len(idx)


def _setitem_vjp(g, o, x, v, *idx, spec):
    gx = apply(setitem_p, (g, const(0, g._data.dtype)) + idx, {"spec": spec})
    gv = sum_to(apply(getitem_p, (g,) + idx, {"spec": spec}), v._data.shape)
    return (gx, gv) + (None,) * len(idx)


def expand_spec(spec, ndim):
    """Spec with Ellipsis expanded and None removed, one entry per indexed input dim."""
    used = builtins.sum(1 for s in spec if s[0] in "ist")
    out = []
    for s in spec:
        if s[0] == "e":
            out += [("s", None, None, None)] * (ndim - used)
        elif s[0] != "n":
            out.append(s)
    out += [("s", None, None, None)] * (ndim - len(out))
    return out


def _spec_bounds(first_index):
    """``bounds`` of an indexing op: tensor indices start at input ``first_index``."""

    def bounds(params, in_shapes):
        base = params.get("shape") or in_shapes[0]
        ex = expand_spec(params["spec"], len(base))
        return [(first_index + s[1], base[d]) for d, s in enumerate(ex) if s[0] == "t"]

    return bounds


def _dim_bounds(params, in_shapes):
    sx = in_shapes[0]
    return [(1, sx[params["dim"]] if sx else 1)]


getitem_p = register(
    "getitem",
    "movement",
    _getitem_ref,
    vjp=_getitem_vjp,
    saves=(),
    n_diff=1,
    backward_name="IndexBackward0",
    view=True,  # basic indexing (ints, slices) is a view
    may_raise=True,
    bounds=_spec_bounds(1),
)
getitem_grad_p = register(
    "getitem_grad",
    "opaque",
    _getitem_grad_ref,
    vjp=_getitem_grad_vjp,
    saves=(),
    n_diff=1,
    backward_name="IndexPutBackward0",
    bounds=_spec_bounds(1),
)
setitem_p = register(
    "setitem",
    "opaque",
    _setitem_ref,
    vjp=_setitem_vjp,
    saves=(),
    n_diff=2,
    backward_name="CopySlices",
    bounds=_spec_bounds(2),
)
nonzero_p = register(
    "nonzero", "opaque", lambda x: np.argwhere(x), nondiff=True, extra={"dynamic_shape": True}
)


def nonzero(input, as_tuple=False):
    r = apply(nonzero_p, (input,))
    if as_tuple:
        return tuple(r[:, i] for i in range(input._data.ndim)) if input._data.ndim else (r[:, 0],)
    return r


def _parse_index(x, idx, op="index"):
    """Split a Python index into a static spec and the tensor inputs it uses."""
    if not isinstance(idx, tuple):
        idx = (idx,)
    spec, tensors = [], []
    nd = x._data.ndim
    consumed = 0
    for it in idx:
        if isinstance(it, (list, np.ndarray)) or (isinstance(it, bool)):
            if isinstance(it, bool):
                it = Tensor(np.array(it))
            else:
                try:
                    it = Tensor(np.asarray(it))
                except (ValueError, TypeError):
                    raise IndexError(f"{op}: could not turn {it!r} into an index tensor") from None
        if it is None:
            spec.append(("n",))
        elif it is Ellipsis:
            spec.append(("e",))
        elif isinstance(it, (int, np.integer)):
            spec.append(("i", int(it)))
            consumed += 1
        elif isinstance(it, slice):
            st = [None if v is None else _index_int(v, op) for v in (it.start, it.stop, it.step)]
            if st[2] == 0:  # Python's own slice check comes first in torch
                raise ValueError("slice step cannot be zero")
            if st[2] is not None and st[2] < 0:
                raise ValueError(f"{op}: step must be greater than zero (got {st[2]})")
            spec.append(("s", st[0], st[1], st[2]))
            consumed += 1
        elif isinstance(it, Tensor):
            k = it._data.dtype.kind
            if k == "b":
                if it._data.ndim == 0:
                    spec.append(("n",))
                    if not it._data:
                        spec[-1] = ("s", 0, 0, None)
                        spec.insert(len(spec) - 1, ("n",))
                    continue
                sh = x._data.shape
                want = (
                    sh[consumed : consumed + it._data.ndim]
                    if consumed + it._data.ndim <= nd
                    else None
                )
                if want is None or tuple(want) != it._data.shape:
                    raise IndexError(
                        f"The shape of the mask {list(it._data.shape)} at index {consumed} does "
                        f"not match the shape of the indexed tensor {list(sh)} at index {consumed}"
                    )
                for part in nonzero(it, as_tuple=True):
                    spec.append(("t", len(tensors)))
                    tensors.append(part)
                consumed += it._data.ndim
            elif k in "iu":
                if it._data.dtype != np.int64:
                    it = it.long()
                spec.append(("t", len(tensors)))
                tensors.append(it)
                consumed += 1
            else:
                raise IndexError(
                    f"tensors used as indices must be long, int, byte or bool tensors (got "
                    f"{it.dtype})"
                )
        else:
            from .._errors import IndexTypeError

            # torch: a str/bytes index is a TypeError (it tries to build a tensor of it)
            cls = IndexTypeError if isinstance(it, (str, bytes)) else IndexError
            raise cls(
                f"{op}: only integers, slices (`:`), ellipsis (`...`), None and long or byte "
                f"Variables are valid indices (got {type(it).__name__})"
            )
    if consumed > nd:
        first = next((e[0] for e in spec if e[0] in "ist"), None)
        if nd == 0 and first == "s":
            raise IndexError("slice() cannot be applied to a 0-dim tensor.")
        if nd == 0 and first == "i":
            raise IndexError(
                "invalid index of a 0-dim tensor. Use `tensor.item()` in Python or "
                "`tensor.item<T>()` in C++ to convert a 0-dim tensor to a number"
            )
        raise IndexError(f"too many indices for tensor of dimension {nd}")
    return tuple(spec), tuple(tensors)


def _index_int(v, op):
    if isinstance(v, Tensor):
        return int(v)
    try:
        return int(v.__index__())
    except AttributeError:
        raise TypeError(f"{op}: slice indices must be integers or None, got {v!r}") from None


def _check_bounds(x, spec, tensors, op):
    """Raise IndexError (naming op, index and size) before out-of-range indices reach a kernel."""
    sh = x._data.shape
    d = 0
    n_ell = builtins.sum(1 for s in spec if s[0] == "e")
    if n_ell > 1:
        raise IndexError(f"{op}: an index can only have a single ellipsis ('...')")
    used = builtins.sum(1 for s in spec if s[0] in "ist")
    for s in spec:
        k = s[0]
        if k == "e":
            d += len(sh) - used
        elif k == "i":
            if not -sh[d] <= s[1] < sh[d]:
                raise IndexError(
                    f"{op}: index {s[1]} is out of bounds for dimension {d} with size {sh[d]}"
                )
            d += 1
        elif k == "t":
            a = tensors[s[1]]._data
            if a.size and (a.max() >= sh[d] or a.min() < -sh[d]):
                bad = a.max() if a.max() >= sh[d] else a.min()
                raise IndexError(
                    f"{op}: index {bad} is out of bounds for dimension {d} with size {sh[d]}"
                )
            d += 1
        elif k == "s":
            d += 1


def getitem(x, idx):
    """``x[idx]`` with ints, slices, None, Ellipsis, bool masks and integer tensors."""
    spec, tensors = _parse_index(x, idx)
    _check_bounds(x, spec, tensors, "index")
    r = apply(getitem_p, (x,) + tensors, {"spec": spec})
    if not tensors:
        _share_vc(r, x)
        if x._base is None:
            r._base = (x, spec, x._vc[0])
        else:  # a view of a view: keep the chain back to the root
            _set_base(r, x, ((getitem_p, {"spec": spec}),))
        if r._grad_fn is not None:
            kinds = {s[0] for s in spec if s != ("s", None, None, None)}
            if kinds == {"i"}:
                label(r, "SelectBackward0")
            elif kinds == {"s"}:
                label(r, "SliceBackward0")
            elif kinds == {"n"}:
                label(r, "UnsqueezeBackward0")
    return r


def setitem_value(x, idx, value):
    """The functional ``x[idx] = value``: a new tensor (used by ``Tensor.__setitem__``)."""
    spec, tensors = _parse_index(x, idx)
    _check_bounds(x, spec, tensors, "index_put")
    v = value if isinstance(value, Tensor) else const(value, x._data.dtype)
    if v._data.dtype != x._data.dtype:
        v = v.to(x._data.dtype)
    sh = v._data.shape
    if sh and sh[0] == 1:  # like torch, leading 1-dims of the value are dropped
        k = 0
        while k < len(sh) and sh[k] == 1:
            k += 1
        v = v.reshape(sh[k:])
    return apply(setitem_p, (x, v) + tensors, {"spec": spec}), spec, tensors, v


def _slice_dim(x, dim, start, stop, step=None):
    spec = (("s", None, None, None),) * dim + (("s", start, stop, step),)
    r = apply(getitem_p, (x,), {"spec": spec})
    return _share_vc(r, x, getitem_p, {"spec": spec})


def narrow(input, dim, start, length):
    d = _wrap_dim(dim, input._data.ndim, "narrow")
    n = input._data.shape[d]
    if isinstance(start, Tensor):
        start = int(start)
    if start < 0:
        start += n
    if length < 0:
        raise IndexRuntimeError(f"narrow(): length must be non-negative (got {length})")
    if not (0 <= start <= n and start + length <= n):
        raise IndexRuntimeError(
            f"narrow(): start ({start}) + length ({length}) exceeds dimension size "
            f"({n}) of dimension {d}"
        )
    return _slice_dim(input, d, start, start + length)


def split(tensor, split_size_or_sections, dim=0):
    d = _wrap_dim(dim, tensor._data.ndim, "split")
    n = tensor._data.shape[d]
    if isinstance(split_size_or_sections, (int, np.integer)):
        s = int(split_size_or_sections)
        if s <= 0 and n:
            raise RuntimeError(f"split: split_size must be positive (got {s})")
        sizes = [builtins.min(s, n - i) for i in range(0, n, s)] if n else [0]
    else:
        sizes = list(split_size_or_sections)
        if builtins.any(s < 0 for s in sizes):
            raise RuntimeError(
                "split_with_sizes expects split_sizes have only non-negative entries, but got "
                f"split_sizes={sizes}"
            )
        if builtins.sum(sizes) != n:
            raise RuntimeError(
                f"split_with_sizes expects split_sizes to sum exactly to {n} (input tensor's size "
                f"at dimension {d}), but got split_sizes={sizes}"
            )
    out, start = [], 0
    for s in sizes:
        out.append(_slice_dim(tensor, d, start, start + s))
        start += s
    return tuple(out)


def chunk(input, chunks, dim=0):
    if chunks <= 0:
        raise RuntimeError(f"chunk expects `chunks` to be greater than 0, got: {chunks}")
    d = _wrap_dim(dim, input._data.ndim, "chunk")
    n = input._data.shape[d]
    size = -(-n // chunks) if n else 0
    return split(input, builtins.max(size, 1), d) if n else (input,)


def unbind(input, dim=0):
    d = _wrap_dim(dim, input._data.ndim, "unbind")
    return tuple(
        label(select(input, d, i), "UnbindBackward0", (input,)) for i in range(input._data.shape[d])
    )


def select(input, dim, index):
    d = _wrap_dim(dim, input._data.ndim, "select")
    return getitem(input, (slice(None),) * d + (int(index),))


def index_select(input, dim, index):
    """Rows (along ``dim``) picked by a 1-D integer tensor."""
    if not isinstance(index, Tensor) or index._data.dtype.kind not in "iu":
        from .._errors import TypeRuntimeError

        raise TypeRuntimeError(
            "index_select(): Expected dtype int32 or int64 for index (got "
            f"{getattr(index, 'dtype', type(index).__name__)}); convert with index.long()"
        )
    if index._data.ndim > 1:
        raise IndexError(
            f"index_select(): Index is supposed to be a vector (got shape {tuple(index.shape)})"
        )
    d = _wrap_dim(dim, input._data.ndim, "index_select")
    spec = (("s", None, None, None),) * d + (("t", 0),)
    idx = index.reshape(-1).long()
    _check_bounds(input, spec, (idx,), "index_select")
    if idx._data.size and idx._data.min() < 0:  # torch: "index out of range in self"
        raise IndexError(
            f"index_select(): index {idx._data.min()} is out of range for dimension "
            f"{d} with size {input._data.shape[d]} (negative indices are not allowed)"
        )
    if STATE.tracer is not None:  # a replay skips the check above: make the kernel raise
        from .elementwise import where

        idx = where(idx < 0, input._data.shape[d], idx)
    return apply(getitem_p, (input, idx), {"spec": spec})


def masked_select(input, mask):
    if mask._data.dtype != np.bool_:
        raise RuntimeError(f"masked_select: expected BoolTensor for mask (got {mask.dtype})")
    from ._common import broadcast_shapes

    sh = broadcast_shapes("masked_select", input._data.shape, mask._data.shape)
    return getitem(input.expand(*sh), mask.expand(*sh))


def masked_fill(input, mask, value):
    from .elementwise import where

    if not isinstance(mask, Tensor) or mask._data.dtype != np.bool_:
        raise RuntimeError(
            "masked_fill_ only supports boolean masks, but got mask with dtype "
            f"{getattr(mask, 'dtype', type(mask).__name__)}"
        )
    if isinstance(value, Tensor):
        if value._data.ndim:
            raise RuntimeError(
                "masked_fill_ only supports a 0-dimensional value tensor, but got tensor with "
                f"{value._data.ndim} dimension(s) (shape {list(value.shape)}); use "
                "torch.where(mask, value, input) to fill from a tensor"
            )
        value = value.to(input._data.dtype)
    else:
        from ..creation import check_fill_value

        value = const(check_fill_value(value, input._data.dtype), input._data.dtype)
    try:
        r = where(mask, value, input)
    except RuntimeError:
        r = None
    if r is None or r._data.shape != input._data.shape:
        raise RuntimeError(
            f"masked_fill: the mask of shape {list(mask.shape)} is not broadcastable to the "
            f"input of shape {list(input.shape)}"
        )
    return r


def flip(input, *dims):
    """Reverse the order along ``dims`` (a tuple, or several ints as in ``x.flip(0, 1)``)."""
    if not dims:
        raise TypeError("flip() missing 1 required positional argument: 'dims' (e.g. x.flip(0))")
    if len(dims) == 1:
        dims = dims[0]
    if isinstance(dims, int):
        dims = (dims,)
    dims = norm_dims(dims, input._data.ndim, "flip")
    spec = tuple(
        ("s", None, None, -1) if i in dims else ("s", None, None, None)
        for i in range(input._data.ndim)
    )
    return apply(getitem_p, (input,), {"spec": spec})


# ---------------------------------------------------------------- cat / stack -------------
def _cat_vjp(g, o, *xs, dim):
    out, start = [], 0
    for x in xs:
        n = x._data.shape[dim]
        out.append(_slice_dim(g, dim, start, start + n))
        start += n
    return tuple(out)


cat_p = register(
    "cat",
    "opaque",
    lambda *xs, dim: np.concatenate(xs, axis=dim),
    vjp=_cat_vjp,
    saves=(),
    may_raise=False,
)


def cat(tensors, dim=0):
    """Join tensors along an existing dimension."""
    from ._common import promote

    if isinstance(tensors, Tensor):
        raise TypeError(
            "cat(): argument 'tensors' (position 1) must be tuple of Tensors, not Tensor "
            f"(got one tensor of shape {list(tensors.shape)}); pass a list: cat([a, b])"
        )
    tensors = [to_tensor(t, "cat") for t in tensors]
    if not tensors:
        raise ValueError("cat(): expected a non-empty list of Tensors")
    # legacy: 1-D empty tensors are skipped
    nonempty = [t for t in tensors if not (t._data.ndim == 1 and t._data.shape[0] == 0)]
    if not nonempty:
        return tensors[0] * 1
    ref = nonempty[0]
    if ref._data.ndim == 0:
        raise RuntimeError("zero-dimensional tensor (at position 0) cannot be concatenated")
    d = _wrap_dim(dim, ref._data.ndim, "cat")
    for i, t in enumerate(nonempty):
        if t._data.ndim != ref._data.ndim:
            raise RuntimeError(
                f"cat(): Tensors must have same number of dimensions: got {ref._data.ndim} and "
                f"{t._data.ndim}"
            )
        for j, (a, b) in enumerate(zip(ref._data.shape, t._data.shape)):
            if j != d and a != b:
                raise RuntimeError(
                    f"cat(): Sizes of tensors must match except in dimension {d} (shapes "
                    f"{[list(x._data.shape) for x in nonempty]}). Expected size {a} but "
                    f"got size {b} for tensor number {i} in the list."
                )
    nonempty = list(promote("cat", *nonempty))
    return apply(cat_p, tuple(nonempty), {"dim": d})


concat = concatenate = cat


def stack(tensors, dim=0):
    """Join tensors along a new dimension."""
    tensors = [to_tensor(t, "stack") for t in tensors]
    if not tensors:
        raise RuntimeError("stack expects a non-empty TensorList")
    sh = tensors[0]._data.shape
    for i, t in enumerate(tensors):
        if t._data.shape != sh:
            raise RuntimeError(
                f"stack(): stack expects each tensor to be equal size, but got {list(sh)} at "
                f"entry 0 and "
                f"{list(t._data.shape)} at entry {i}"
            )
    nd = len(sh) + 1
    if not -nd <= dim < nd:
        raise IndexError(
            f"stack: Dimension out of range (expected to be in range of [{-nd}, "
            f"{nd - 1}], but got {dim})"
        )
    d = dim + nd if dim < 0 else dim
    return cat([unsqueeze(t, d) for t in tensors], d)


# ---------------------------------------------------------------- gather / scatter --------
def _full_index(index, dim):
    idx = list(np.indices(index.shape, sparse=True))
    idx[dim] = index
    return tuple(idx)


def _nonneg(index, op):
    """Indices of gather/scatter_add must be >= 0 (torch); NumPy would wrap them."""
    if index.size and index.min() < 0:
        raise RuntimeError(
            f"{op}(): index {index.min()} is out of bounds (negative indices are not allowed)"
        )
    return index


def _scatter_add_ref(base, index, src, dim):
    _nonneg(index, "scatter_add")
    r = base.copy()
    np.add.at(r, _full_index(index, dim), src[tuple(slice(0, s) for s in index.shape)])
    return r


gather_p = register(
    "gather",
    "opaque",
    lambda x, index, dim: np.take_along_axis(x, _nonneg(index, "gather"), axis=dim),
    vjp=lambda g, o, x, index, dim: (scatter_add(zeros_like_(x), dim, index, g), None),
    saves=(),
    n_diff=1,
    bounds=_dim_bounds,
)


def _scatter_add_vjp(g, o, base, index, src, dim):
    gs = gather(g, dim, index)
    if gs._data.shape != src._data.shape:  # src elements beyond index's extent get zero
        spec = tuple(("s", 0, n, None) for n in index._data.shape)
        gs = apply(setitem_p, (zeros_like_(src), gs), {"spec": spec})
    return (g, None, gs)


scatter_add_p = register(
    "scatter_add", "opaque", _scatter_add_ref, vjp=_scatter_add_vjp, saves=(1,), bounds=_dim_bounds
)


def zeros_like_(x):
    return const(0, x._data.dtype).expand(*x._data.shape)


def _check_index(op, input, dim, index):
    if not isinstance(index, Tensor) or index._data.dtype.kind not in "iu":
        raise RuntimeError(
            f"{op}(): Expected dtype int64 for index (got "
            f"{getattr(index, 'dtype', type(index).__name__)})"
        )
    nd = input._data.ndim
    if index._data.ndim != nd and not (nd == 0 and index._data.ndim <= 1):
        raise RuntimeError(
            f"{op}(): Index tensor must have the same number of dimensions as "
            f"input tensor (index shape {tuple(index.shape)}, input shape "
            f"{tuple(input.shape)})"
        )
    d = _wrap_dim(dim, nd, op)
    for i, (a, b) in enumerate(zip(index._data.shape, input._data.shape)):
        if i != d and a > b:
            raise RuntimeError(
                f"{op}(): Size does not match at dimension {i} expected index "
                f"{list(index.shape)} to be smaller than self {list(input.shape)} apart from "
                f"dimension {d}"
            )
    a = index._data
    n = input._data.shape[d] if nd else 1
    if a.size and (a.max() >= n or a.min() < 0):  # like torch: no negative indices here
        bad = a.max() if a.max() >= n else a.min()
        raise RuntimeError(f"{op}(): index {bad} is out of bounds for dimension {d} with size {n}")
    return d


def gather(input, dim, index):
    """``out[i][j] = input[i][index[i][j]]`` along ``dim``."""
    d = _check_index("gather", input, dim, index)
    idx = index.long()
    x = input
    sh = idx._data.shape
    if builtins.any(i != d and a < b for i, (a, b) in enumerate(zip(sh, x._data.shape))):
        x = getitem(x, tuple(slice(None) if i == d else slice(0, s) for i, s in enumerate(sh)))
    return apply(gather_p, (x, idx), {"dim": d})


def scatter_add(input, dim, index, src):
    """``out = input.clone(); out[...index...] += src`` along ``dim``."""
    d = _check_index("scatter_add", input, dim, index)
    from ._common import promote

    input, src = promote("scatter_add", input, src)
    return apply(scatter_add_p, (input, index.long(), src), {"dim": d})


def take_along_dim(input, indices, dim):
    return gather(input, dim, indices)


# PyTorch's display names for the grad_fn of ops built from shared primitives
def _labelled(fn, name, shown=None):
    """``fn`` whose results' grad_fn show PyTorch's ``name`` (or ``name(*args)``) and, with
    ``shown(*args)``, the operands PyTorch's node has as ``next_functions``."""

    def wrapper(*args, **kwargs):
        r = fn(*args, **kwargs)
        nm = name(*args, **kwargs) if callable(name) else name
        ins = shown(*args, **kwargs) if shown is not None else None
        if isinstance(r, tuple):
            for t in r:
                label(t, nm, ins)
            return r
        return label(r, nm, ins)

    wrapper.__name__ = fn.__name__
    wrapper.__doc__ = fn.__doc__
    wrapper.__wrapped__ = fn
    return wrapper


def _squeeze_name(input, dim=None):
    """torch's: SqueezeBackward0 for all size-1 dims, 1 for one dim, 2 for a tuple of dims."""
    return (
        "SqueezeBackward0"
        if dim is None
        else f"SqueezeBackward{1 + isinstance(dim, (tuple, list))}"
    )


def _first(input, *a, **k):
    return (input,)


transpose = swapaxes = _labelled(transpose, "TransposeBackward0")
t = _labelled(t, "TBackward0")
unsqueeze = _labelled(unsqueeze, "UnsqueezeBackward0")
squeeze = _labelled(squeeze, _squeeze_name)
narrow = _labelled(narrow, "SliceBackward0")
split = _labelled(split, "SplitBackward0")
stack = _labelled(stack, "StackBackward0", lambda ts, *a, **k: tuple(ts))
index_select = _labelled(index_select, "IndexSelectBackward0")
masked_fill = _labelled(masked_fill, "MaskedFillBackward0", _first)
repeat = _labelled(repeat, "RepeatBackward0", _first)
flip = _labelled(flip, "FlipBackward0")

# the public surface of the movement ops (after ``_labelled``: the names' final functions)
public(reshape, shape_kw="shape", prim=reshape_p)
public(view, export=False, shape_kw="size")
public(flatten)
public(unflatten)
public(squeeze, inplace="view")
public(unsqueeze, inplace="view")
public(permute, shape_kw="dims", prim=permute_p)
public(transpose, inplace="view", aliases=("swapaxes", "swapdims"))
public(t, inplace="view")
public(movedim, aliases=("moveaxis",))
public(expand, export=False, shape_kw="size", prim=expand_p)
public(broadcast_to)
public(expand_as)
public(repeat, shape_kw="repeats")
public(narrow)
public(split)
public(chunk)
public(unbind)
public(select)
public(index_select, out=True)
public(masked_select, out=True)
public(masked_fill, inplace=True)
public(gather, out=True, prim=gather_p)
public(scatter_add, inplace=True, prim=scatter_add_p)
public(flip)
public(nonzero, out=True, prim=nonzero_p)
public(take_along_dim)
public(cat, out=True, method=False, aliases=("concat", "concatenate"), prim=cat_p)
public(stack, out=True, method=False)
