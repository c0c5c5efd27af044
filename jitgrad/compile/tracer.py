"""The recorder: while a traced function runs eagerly, every primitive lands in a Graph.

Tensors are identified by their storage (``id`` of the NumPy array, kept alive for the
duration of the capture), so ``p``, ``p.data`` and ``p.detach()`` are one value. A tensor seen
for the first time is an argument if it was passed in, else state read from outside.
"""

import os
import sys

import numpy as np

from ..tensor import TraceError, _wrap
from .graph import GNode, Graph, Input

_PKG = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


_INSIDE = {}  # code filename -> whether it lies inside the jitgrad package


def _inside(filename):
    """Does this code file lie inside the jitgrad package? (cached per filename)"""
    inside = _INSIDE.get(filename)
    if inside is None:
        inside = _INSIDE[filename] = os.path.abspath(filename).startswith(_PKG + os.sep)
    return inside


def user_frame():
    """'file:line' of the innermost stack frame outside the jitgrad package (a frame walk:
    called once per recorded op, so no source lines are read)."""
    f = sys._getframe(1)
    while f is not None:
        if not _inside(f.f_code.co_filename):
            return f"{f.f_code.co_filename}:{f.f_lineno}"
        f = f.f_back
    return "<unknown>"


def _api_called():
    """The name of the jitgrad function the user's code called (the outermost jitgrad frame)."""
    f, name = sys._getframe(2), None
    while f is not None:
        if not _inside(f.f_code.co_filename):
            return name
        if f.f_code.co_name not in _WRAPPERS:  # the public function, not its wrapper
            name = f.f_code.co_name
        f = f.f_back
    return name


_WRAPPERS = {"f", "fn", "op", "rop", "wrapper", "inner", "wrapped", "__call__", "<lambda>"}


_OPS = (os.path.join(_PKG, "ops") + os.sep, os.path.join(_PKG, "tensor.py"))


def operand_frame():
    """'file:line' of the user's code that handed a Python number to a tensor operator
    (``x * s`` in the step or in a user's ``forward``), or None when jitgrad's own code did
    (an optimizer's hyperparameter, a layer's constant): the first frame outside
    ``jitgrad/ops`` and ``tensor.py`` decides."""
    f = sys._getframe(2)  # the caller's caller: ``const`` in jitgrad/ops
    while f is not None and f.f_code.co_filename.startswith(_OPS):
        f = f.f_back
    if f is None:
        return None
    name = f.f_code.co_filename
    return None if _inside(name) else f"{name}:{f.f_lineno}"


class ArgRef:
    """A tensor passed as the i-th flattened argument: resolved anew at every call."""

    __slots__ = ("i",)

    def __init__(self, i):
        self.i = i

    def get(self, args):
        return args[self.i]


def resolve(ref, args):
    return ref.get(args) if isinstance(ref, ArgRef) else ref


class Tracer:
    def __init__(self, args):
        self.g = Graph()
        self.vals = {}  # id(ndarray) -> vid
        self.keep = []  # arrays kept alive so ids stay unique
        self.tensors = {}  # vid -> Tensor that first carried it (for state lookup)
        self.state = {}  # id(ndarray) -> input index, for arguments and state tensors
        self.known = []  # state tensors seen (to recognise their .grad)
        self.entry_grad = {}  # id(tensor) -> (tensor, grad-was-None at first sight)
        self.grad_now = {}  # id(tensor) -> (tensor, Tensor-or-None) bindings made in the step
        self.ran_backward = False  # .backward() ran inside the step (not only autograd.grad)
        self.writes = {}  # input index -> tensor written
        self.randoms = []
        self.scalars = {}
        self.runtime_keys = {}  # id(group dict) -> (dict, {keys read as runtime inputs})
        self.modules = {}  # id -> (module, plain attributes, hooks) of modules called
        self.optimizers = {}  # id -> (optimizer, structure) of optimizers used
        self.effects = []  # (number of inputs before it, fn, args, kwargs): replayed calls
        self.in_effect = False
        self.undo = {}  # id(ndarray) -> (array, its value before the call's first write)
        self.grads_before = {}  # id(tensor) -> (tensor, its .grad before the call bound one)
        self.arg_index = {id(t): i for i, t in enumerate(args)}
        for i, t in enumerate(args):
            if id(t._data) in self.vals:  # the same storage passed twice: one value
                continue
            vid = self.g.new_value(t._data.shape, t._data.dtype)
            self.g.inputs.append(Input(vid, "arg", i))
            self.state[id(t._data)] = len(self.g.inputs) - 1
            self._bind(t._data, vid)

    # ---- value bookkeeping ----------------------------------------------------------
    def _bind(self, arr, vid):
        self.vals[id(arr)] = vid
        self.keep.append(arr)

    def ref(self, t):
        i = self.arg_index.get(id(t))
        return t if i is None else ArgRef(i)

    def _first_sight(self, t):
        k = id(t)
        if k not in self.entry_grad:
            self.entry_grad[k] = (self.ref(t), t._grad is None, t._requires_grad)

    def val_of(self, t):
        vid = self.vals.get(id(t._data))
        if vid is not None:
            return vid
        # an outside tensor: a leaf's .grad, or state (parameters, buffers, optimizer state)
        owner = None
        for s in self.known:
            if s._grad is t:
                owner = s
                break
        if t._data.base is not None and not t._data.flags.owndata:
            for s in self.known:
                if np.may_share_memory(s._data, t._data) and s._data is not t._data:
                    self.fail_view(t)
        vid = self.g.new_value(t._data.shape, t._data.dtype)
        if owner is not None:
            self.g.inputs.append(Input(vid, "grad", self.ref(owner)))
        else:
            self.g.inputs.append(Input(vid, "state", t))
            self.known.append(t)
            self._first_sight(t)
        self.state[id(t._data)] = len(self.g.inputs) - 1
        self._bind(t._data, vid)
        return vid

    def fail_view(self, t):
        raise TraceError(
            f"a traced step read a view of state tensor storage (shape {list(t.shape)}) that was "
            f"created outside the step, at {user_frame()}; create views inside the traced "
            "function, or pass the tensor as an argument"
        )

    # ---- hooks called by the core ------------------------------------------------------
    def record(self, prim, inputs, params, res):
        if prim.extra.get("dynamic_shape"):
            api = _api_called()
            what = (
                "boolean-mask indexing x[mask]"
                if api is None or api.startswith("_") or "getitem" in api
                else f"{api}()" + ("" if api == prim.name else f" (via {prim.name})")
            )
            raise TraceError(
                f"{what} has a data-dependent output shape ({user_frame()}); a static graph "
                "cannot capture it. Use a fixed-shape alternative (e.g. masked_fill/where instead "
                "of boolean-mask indexing), or run this step eagerly"
            )
        if prim.impl is None:
            raise TraceError(
                f"custom autograd.Function {prim.name} cannot be traced as one op; its forward "
                "and backward run as their jitgrad ops instead"
            )
        ins = [self.val_of(t) for t in inputs]
        vid = self.g.new_value(res._data.shape, res._data.dtype)
        if id(res._data) in self.vals:
            raise TraceError(f"internal: {prim.name} returned an array that is also an input")
        self._bind(res._data, vid)
        self.g.nodes.append(GNode(prim, ins, dict(params), vid, user_frame()))

    def constant(self, t):
        vid = self.g.new_value(t._data.shape, t._data.dtype)
        self.g.consts[vid] = np.array(t._data, copy=True)
        self._bind(t._data, vid)

    def random(self, t, kind, shape, dtype, params, generator):
        vid = self.g.new_value(t._data.shape, t._data.dtype)
        self.g.inputs.append(Input(vid, "random", generator, (kind, tuple(shape), dtype, params)))
        self._bind(t._data, vid)

    def scalar_input(self, owner, key, value):
        k = (id(owner), key)
        t = self.scalars.get(k)
        if t is None:
            if hasattr(value, "_data"):  # a 0-d tensor hyperparameter (lr as a tensor)
                t = _wrap(np.array(value._data, copy=True))
            else:
                t = _wrap(np.array(value, dtype=np.float64))
            vid = self.g.new_value((), t._data.dtype)
            self.g.inputs.append(Input(vid, "scalar", (owner, key), (value,)))
            self._bind(t._data, vid)
            self.scalars[k] = t
            group, gkey = (owner, key) if isinstance(owner, dict) else (owner.group, "betas")
            self.runtime_keys.setdefault(id(group), (group, set()))[1].add(gkey)
        return t

    def note(self, obj):
        """A module was called or an optimizer used: its flags and structure are guarded."""
        from .guards import _is_module, hooks_of, module_values, optimizer_values

        k = id(obj)
        if _is_module(obj):
            if k not in self.modules:
                self.modules[k] = (obj, module_values(obj), hooks_of(obj))
        elif k not in self.optimizers:
            self.optimizers[k] = (obj, optimizer_values(obj))

    def effect(self, fn, args, kwargs):
        """A Python-only call (``scheduler.step()``, ``manual_seed``) to replay in order."""
        self.effects.append((len(self.g.inputs), fn, args, kwargs))

    def cotangent(self, t):
        """A placeholder gradient for an output of a forward-only trace (a runtime input)."""
        c = _wrap(np.zeros_like(t._data))
        vid = self.g.new_value(c._data.shape, c._data.dtype)
        self.g.inputs.append(Input(vid, "cotangent", None))
        self._bind(c._data, vid)
        return c

    def set_grad(self, t, value):
        k = id(t._data)
        if (
            id(t) not in self.arg_index
            and k in self.vals
            and (k not in self.state or self.g.inputs[self.state[k]].kind == "arg")
            and not any(s is t for s in self.known)
        ):
            # a leaf the step itself created (``x.clone().requires_grad_()``, or
            # ``x.detach().requires_grad_()`` sharing an argument's memory): its .grad lives
            # and dies with this call, like the tensor; guarding it would fail at every call
            return
        self._first_sight(t)
        self.grads_before.setdefault(id(t), (t, t._grad))
        self.grad_now[id(t)] = (t, value)

    def before_write(self, arr):
        """An in-place write into ``arr`` is about to happen: keep its value if it is memory
        from outside the step (arguments, state, .grad), for ``undo_writes``."""
        k = id(arr)
        if k not in self.undo and (k not in self.vals or k in self.state):
            self.undo[k] = (arr, arr.copy())

    def undo_writes(self):
        """Put back every outside array and ``.grad`` binding the call changed (a capture that
        raised half-way leaves nothing half-updated)."""
        for arr, old in self.undo.values():
            arr[...] = old
        for t, g in self.grads_before.values():
            t._grad = g

    def alias(self, s, t):
        self._bind(s._data, self.val_of(t))

    def write(self, t, r):
        vid = self.val_of(r)
        if r._data.dtype != t._data.dtype:
            from ..ops.elementwise import cast_p

            out = self.g.new_value(r._data.shape, t._data.dtype)
            self.g.nodes.append(GNode(cast_p, [vid], {"dtype": t._data.dtype}, out))
            vid = out
        if r._data.shape != t._data.shape:
            from ..ops.movement import expand_p

            out = self.g.new_value(t._data.shape, t._data.dtype)
            self.g.nodes.append(GNode(expand_p, [vid], {"shape": t._data.shape}, out))
            vid = out
        key = id(t._data)
        if key not in self.vals:
            self.val_of(t)
        idx = self.state.get(key)
        if idx is None and t._data.base is not None and t._base is None:
            for s in self.known:
                if np.may_share_memory(s._data, t._data):
                    raise TraceError(
                        f"in-place write through a view of a state tensor at {user_frame()} "
                        "cannot be traced (only basic-index views like w[0] are supported); "
                        "write to the tensor itself"
                    )
        self.vals[key] = vid
        if idx is not None:
            self.writes[idx] = t

    def write_view(self, base, view):
        from ..ops.movement import ViewOf, setitem_p

        spec = view._base[1]
        bvid = self.val_of(base)
        vvid = self.vals[id(view._data)]
        if isinstance(spec, ViewOf):  # reshape/permute/chained views: write by flat index
            out = self._scatter_flat(base, view, bvid, vvid, spec.flat_index(base._data.shape))
        else:
            out = self.g.new_value(base._data.shape, base._data.dtype)
            self.g.nodes.append(GNode(setitem_p, [bvid, vvid], {"spec": spec}, out))
        self.vals[id(base._data)] = out
        idx = self.state.get(id(base._data))
        if idx is not None:
            self.writes[idx] = base

    def _scatter_flat(self, base, view, bvid, vvid, flat_index):
        """Graph nodes for ``base`` with the view's values written at ``flat_index``."""
        from ..ops.movement import reshape_p, setitem_p

        n, m, dt = base._data.size, view._data.size, base._data.dtype
        flat, vflat, upd = (self.g.new_value((k,), dt) for k in (n, m, n))
        idx = self.g.new_value((m,), np.dtype(np.int64))
        self.g.consts[idx] = flat_index
        out = self.g.new_value(base._data.shape, dt)
        self.g.nodes += [
            GNode(reshape_p, [bvid], {"shape": (n,)}, flat),
            GNode(reshape_p, [vvid], {"shape": (m,)}, vflat),
            GNode(setitem_p, [flat, vflat, idx], {"spec": (("t", 0),)}, upd),
            GNode(reshape_p, [upd], {"shape": base._data.shape}, out),
        ]
        return out

    def is_traced(self, t):
        vid = self.vals.get(id(t._data))
        return vid is None or vid not in self.g.consts

    def fail(self, what):
        raise TraceError(
            f"{what} on a traced value at {user_frame()}: a static graph cannot capture a "
            "Python-side read of a tensor's value (the compiled step would freeze it). Return the "
            "tensor from the traced function and read it outside, use tensor ops instead of a "
            "Python `if`, or remove @jitgrad.trace to run this step eagerly"
        )

    # ---- finishing -------------------------------------------------------------------
    def finish(self, out_tensors):
        g = self.g
        outs = []
        for t in out_tensors:
            outs.append(self.val_of(t))
        g.outputs = outs
        known = {id(t) for t in self.known}
        g.out_refs = [
            self.ref(t) if (id(t) in self.arg_index or id(t) in known) else None
            for t in out_tensors
        ]
        for idx, t in self.writes.items():
            v = self.vals[id(t._data)]
            if v != g.inputs[idx].vid:
                g.state_writes.append((idx, v))
        for t, value in self.grad_now.values():
            g.grad_binds.append((self.ref(t), None if value is None else self.val_of(value)))
        return g
