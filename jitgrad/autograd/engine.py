"""The tape walk: ``backward`` accumulates into leaves, ``grad`` returns gradients.

VJPs are jitgrad ops, so with ``create_graph=True`` the walk itself is recorded and can be
differentiated again; under a tracer the walk lands in the static graph.
"""

import threading
import weakref
from heapq import heappop as _heappop
from heapq import heappush as _heappush

import numpy as np

from ..ops.registry import Node
from ..tensor import Tensor, _wrap
from .grad_mode import STATE, enable_grad, no_grad

_SECOND_TIME = (
    "Trying to backward through the graph a second time (or directly access saved tensors after "
    "they have already been freed). Saved intermediate values of the graph are freed when you "
    "call .backward() or autograd.grad(). Specify retain_graph=True if you need to backward "
    "through the graph a second time or if you need to access saved tensors after calling "
    "backward."
)


class AccumulateGrad:
    """The ``next_functions`` entry of a leaf; ``.variable`` is the leaf tensor.

    One per leaf, kept on the leaf itself (its ``_x`` dict), so repeated reads of
    ``next_functions`` return the same object. The node holds the leaf weakly: the leaf owns
    the node, never the other way round (no reference cycle keeps a parameter alive).
    """

    __slots__ = ("_ref", "__weakref__")

    def __init__(self, variable):
        self._ref = weakref.ref(variable)

    @property
    def variable(self):
        return self._ref()

    @property
    def next_functions(self):
        return ()

    def name(self):
        return "AccumulateGrad"

    def register_hook(self, fn):
        """``fn(grad_inputs, grad_outputs)`` after the leaf's gradient is accumulated."""
        leaf = self._ref()
        return leaf.register_post_accumulate_grad_hook(lambda t: fn((t.grad,), (t.grad,)))

    def __repr__(self):
        return f"<AccumulateGrad object at {id(self):#x}>"


def accumulate_node(leaf):
    """The leaf's AccumulateGrad node (created on first use, then the same object)."""
    x = leaf._extra()
    n = x.get("acc")
    if n is None:
        n = x["acc"] = AccumulateGrad(leaf)
    return n


class _Runs(threading.local):
    def __init__(self):
        self.stack = []  # (pending, heap) of each backward pass running now, innermost last


_RUNS = _Runs()  # per thread: two threads may run backward at once


def current_run():
    """A token of the innermost running backward pass (None outside one): hooks that gather
    several gradients keep their state per pass."""
    stack = _RUNS.stack
    return stack[-1] if stack else None


def pending_grad(node):
    """The gradient ``node`` has received so far in the innermost running backward (or None).

    Complete once every node newer than ``node`` has run: a hook on the oldest of a group
    of nodes built together can read the others' (``Module`` full backward pre-hooks).
    """
    stack = _RUNS.stack
    return stack[-1][0].get(node) if stack else None


def send_grad(node, g):
    """Add ``g`` to ``node``'s gradient in the innermost running backward; ``node`` must not
    have run yet (be older than the node running now)."""
    _add_pending(*_RUNS.stack[-1], node, g)


def _add_pending(pending, heap, node, g):
    """Add ``g`` to ``node``'s gradient so far in one backward pass (``pending``), queueing
    the node on ``heap`` (newest first) when it is its first (a root's, or a hook's)."""
    cur = pending.get(node)
    if cur is None:
        pending[node] = g
        _heappush(heap, (-node.seq, node))
    else:
        pending[node] = cur + g


def _root_id(a):
    while a.base is not None and isinstance(a.base, np.ndarray):
        a = a.base
    return id(a)


def _make_root_grads(roots, grads):
    out = []
    for i, r in enumerate(roots):
        if not isinstance(r, Tensor):
            raise TypeError(f"backward: expected Tensors, got {type(r).__name__}")
        g = None if grads is None else grads[i]
        if g is None:
            if r._data.size != 1:
                raise RuntimeError(
                    "grad can be implicitly created only for scalar outputs (this output has "
                    f"shape {tuple(r._data.shape)}); pass gradient= with that shape"
                )
            if r._data.dtype.kind != "f":
                raise RuntimeError(
                    f"grad can be implicitly created only for real scalar outputs but got {r.dtype}"
                )
            g = _wrap(np.ones_like(r._data))
            tr = STATE.tracer
            if tr is not None:
                tr.constant(g)
        else:
            if not isinstance(g, Tensor):
                from ..creation import tensor

                g = tensor(g, dtype=r.dtype)
            if g._data.shape != r._data.shape:
                raise RuntimeError(
                    f"Mismatch in shape: grad_output[{i}] has a shape of {tuple(g._data.shape)} "
                    f"and output[{i}] has a shape of {tuple(r._data.shape)}."
                )
        out.append(g)
    return out


def _run(
    roots, grads, retain_graph, create_graph, inputs=None, allow_unused=False, accumulate=True
):
    for r in roots:
        if not r._requires_grad:
            raise RuntimeError(
                "element 0 of tensors does not require grad and does not have a grad_fn "
                f"(output shape {tuple(r._data.shape)}); call requires_grad_() on a leaf you want "
                "gradients for, or compute it outside no_grad()"
            )
    if retain_graph is None:
        retain_graph = create_graph
    grads = _make_root_grads(roots, grads)

    # Nodes run newest first (a max-heap on ``seq``): a node's consumers are all newer, so
    # every gradient it receives has arrived when it runs, with no dependency counting.
    # Only nodes that receive a gradient are visited.
    pending = {}  # node -> gradient so far
    heap = []
    # Without create_graph and outside a trace, gradients are summed as plain arrays: the
    # sums are never differentiated or recorded, so they need no tape or tracer round trip.
    raw = not create_graph and STATE.tracer is None
    leaf_grads = {}  # id(leaf) -> [leaf, grad]
    want = None
    captured = {}
    if inputs is not None:
        want = {}
        for i, t in enumerate(inputs):
            key = t._grad_fn if t._grad_fn is not None else t
            want.setdefault(id(key), []).append(i)

    for r, g in zip(roots, grads):
        fn = r._grad_fn
        if fn is None:
            cur = leaf_grads.get(id(r))
            if cur is None:
                leaf_grads[id(r)] = [r, g]
            else:
                cur[1] = cur[1] + g
        else:
            _add_pending(pending, heap, fn, g)

    anomaly = STATE.anomaly
    slow = anomaly or want is not None
    ctx = enable_grad() if create_graph else no_grad()
    _RUNS.stack.append((pending, heap))  # for pending_grad / send_grad (module backward hooks)
    try:
        with ctx:
            while heap:
                node = _heappop(heap)[1]
                g = pending.pop(node)
                if node.pre_hooks:
                    for h in node.pre_hooks:
                        g = _hooked(h, g)
                if slow:
                    if want is not None and id(node) in want:
                        for i in want[id(node)]:
                            captured[i] = g
                    if anomaly:
                        from .anomaly import check_grad

                        check_grad(node, g)
                saved = node.saved
                if saved is None:
                    raise RuntimeError(_SECOND_TIME)
                edges = node.edges
                prim = node.prim
                sv = prim.saves
                if sv is None:
                    sv = range(len(saved))
                if sv:
                    versions = node.versions
                    for i in sv:
                        if saved[i]._vc[0] != versions[i]:
                            sf = prim.saves_for
                            if sf is not None and i in sf and all(edges[j] is None for j in sf[i]):
                                continue  # no needed gradient reads this input's data
                            _inplace_error(node, i, saved[i])
                od = node.out_data
                if od is not None:
                    if node.out_vc[0] != node.out_version:
                        _inplace_error(node, -1, None)
                    out = _new(Tensor)
                    out._data = od
                    out._requires_grad = True
                    out._grad_fn = node
                    out._grad = None
                    out._vc = node.out_vc
                    out._base = None
                    out._x = None
                else:
                    out = None
                params = node.params
                gin = prim.vjp(g, out, *saved, **params) if params else prim.vjp(g, out, *saved)
                if anomaly:
                    from .anomaly import check_outputs

                    check_outputs(node, gin)
                if not retain_graph:
                    node.saved = None
                    node.out_data = None
                for e, gi in zip(edges, gin):
                    if e is None or gi is None:
                        continue
                    if e.__class__ is Node or not isinstance(e, Tensor):
                        cur = pending.get(e)
                        if cur is None:
                            pending[e] = gi
                            _heappush(heap, (-e.seq, e))
                        elif raw and cur._data.dtype is gi._data.dtype:
                            pending[e] = _raw_sum(cur, gi)
                        else:
                            pending[e] = cur + gi
                    else:  # a leaf
                        cur = leaf_grads.get(id(e))
                        if cur is None:
                            leaf_grads[id(e)] = [e, gi]
                        elif raw and cur[1]._data.dtype is gi._data.dtype:
                            if gi._data.size <= _SMALL:
                                # small gradients are collected and summed once at the end
                                if len(cur) == 2:
                                    cur.append([cur[1]._data, gi._data])
                                else:
                                    cur[2].append(gi._data)
                            else:
                                cur[1] = _raw_sum(cur[1], gi)
                        else:
                            if len(cur) > 2:
                                cur[1] = _wrap(_sum_arrays(cur.pop()))
                            cur[1] = cur[1] + gi

            # leaves: hooks, then accumulation (or capture for autograd.grad)
            stored_roots = set()
            for g in grads:
                stored_roots.add(_root_id(g._data))
            for key, rec in leaf_grads.items():
                leaf, g = rec[0], rec[1]
                if len(rec) > 2:  # collected small gradients (the first is g's own array)
                    g = _wrap(_sum_arrays(rec[2]))
                hooks = leaf._x.get("hooks") if leaf._x else None
                if hooks:
                    for h in hooks:
                        g = _hooked(h, g)
                if want is not None:
                    if key in want:
                        for i in want[key]:
                            captured[i] = g
                    continue
                if accumulate:
                    _accumulate(leaf, g, create_graph, stored_roots)
    finally:
        _RUNS.stack.pop()
    if inputs is not None:
        res = []
        for i in range(len(inputs)):
            g = captured.get(i)
            if g is None and not allow_unused:
                raise RuntimeError(
                    f"The differentiated Tensor at index {i} appears to not have been used in the "
                    "graph. Set allow_unused=True if this is the desired behavior."
                )
            res.append(g)
        return tuple(res)
    return None


def _raw_sum(a, b):
    """``a + b`` as a new untracked Tensor (gradient sums outside create_graph / tracing)."""
    r = a._data + b._data
    if r.__class__ is not _ndarray:
        r = np.asarray(r)
    t = _new(Tensor)
    t._data = r
    t._requires_grad = False
    t._grad_fn = None
    t._grad = None
    t._vc = [0]
    t._base = None
    t._x = None
    return t


_SMALL = 256  # elements: gradients this small are summed in one go


def _sum_arrays(arrays):
    """The sum of same-dtype arrays; one stacked reduction when their shapes agree."""
    shape = arrays[0].shape
    for a in arrays:
        if a.shape != shape:
            r = arrays[0]
            for b in arrays[1:]:
                r = r + b
            return np.asarray(r)
    return np.asarray(np.add.reduce(np.stack(arrays)))


_new = object.__new__
_ndarray = np.ndarray


def _accumulate(leaf, g, create_graph, stored_roots):
    if g._data.shape != leaf._data.shape:
        g = g.expand(*leaf._data.shape) if g._data.size == 1 else g.reshape(leaf._data.shape)
    if g._data.dtype != leaf._data.dtype:
        g = g.to(leaf._data.dtype)
    cur = leaf._grad
    if cur is None:
        if not create_graph:
            rid = _root_id(g._data)
            if rid in stored_roots or not g._data.flags.writeable or g._requires_grad:
                g = g.clone()
                rid = _root_id(g._data)
            stored_roots.add(rid)
            g = g.detach()
        leaf.grad = g
    elif create_graph or cur._requires_grad or g._requires_grad:
        leaf.grad = cur + g
    else:
        cur.add_(g)
    x = leaf._x
    if x is not None and x.get("post_hooks"):
        for h in list(x["post_hooks"]):
            h(leaf)


def _inplace_error(node, i, t):
    which = "output" if i < 0 else f"input {i}"
    sh = tuple(node.out_meta[0]) if i < 0 else tuple(t._data.shape)
    dt = node.out_meta[1] if i < 0 else t._data.dtype
    raise RuntimeError(
        "one of the variables needed for gradient computation has been modified by an inplace "
        f"operation: [{dt.name} {list(sh)}] ({which} of {node.prim.backward_name}) is at a newer "
        "version than when it was saved. Hint: replace the in-place operation (e.g. x.add_(y)) "
        "with its out-of-place form (x = x + y), or clone the tensor before modifying it."
    )


def _hooked(h, g):
    """``h(g)``'s replacement gradient (``g`` when it returns None); like torch, a hook may
    not change the gradient's shape."""
    r = h(g)
    if r is None:
        return g
    if isinstance(g, Tensor) and isinstance(r, Tensor) and r._data.shape != g._data.shape:
        name = getattr(h, "__name__", type(h).__name__)
        raise RuntimeError(
            f"hook '{name}' has changed the size of value: it got a gradient of shape "
            f"{list(g.shape)} and returned one of shape {list(r.shape)}; return a tensor of "
            "the same shape (or None)"
        )
    return r


def backward(tensors, grad_tensors=None, retain_graph=None, create_graph=False, inputs=None):
    """Accumulate gradients of ``tensors`` into the leaves' ``.grad``."""
    if isinstance(tensors, Tensor):
        tensors = (tensors,)
    if isinstance(grad_tensors, Tensor):
        grad_tensors = (grad_tensors,)
    tensors = tuple(tensors)
    if STATE.tracer is not None:  # the traced step runs its own backward
        STATE.tracer.ran_backward = True
    if grad_tensors is not None:
        grad_tensors = tuple(grad_tensors)
        if len(grad_tensors) != len(tensors):
            raise RuntimeError(
                f"grad_tensors has {len(grad_tensors)} entries but there are {len(tensors)} tensors"
            )
    if inputs is not None:
        inputs = (inputs,) if isinstance(inputs, Tensor) else tuple(inputs)
        for k, t in enumerate(inputs):
            if not isinstance(t, Tensor) or not t.requires_grad:
                raise RuntimeError(
                    f"backward: can't retain_grad on Tensor that has requires_grad=False "
                    f"(inputs[{k}], shape {list(getattr(t, 'shape', []))}); every tensor in "
                    "inputs= must require grad"
                )
        gs = _run(tensors, grad_tensors, retain_graph, create_graph, inputs, allow_unused=True)
        stored = set()
        for t, g in zip(inputs, gs):
            if g is not None:
                _accumulate(t, g, create_graph, stored)
        return
    _run(tensors, grad_tensors, retain_graph, create_graph)


def grad(
    outputs,
    inputs,
    grad_outputs=None,
    retain_graph=None,
    create_graph=False,
    only_inputs=True,
    allow_unused=None,
    is_grads_batched=False,
    materialize_grads=False,
):
    """Gradients of ``outputs`` with respect to ``inputs`` as a tuple (``.grad`` untouched)."""
    if isinstance(outputs, Tensor):
        outputs = (outputs,)
    single = isinstance(inputs, Tensor)
    inputs = (inputs,) if single else tuple(inputs)
    if isinstance(grad_outputs, Tensor):
        grad_outputs = (grad_outputs,)
    outputs_ok = all(not isinstance(o, Tensor) or o._requires_grad for o in outputs)
    for t in inputs:
        if not t._requires_grad and outputs_ok:  # torch checks the outputs first (in _run)
            raise RuntimeError("One of the differentiated Tensors does not require grad")
    if allow_unused is None:
        allow_unused = materialize_grads
    if is_grads_batched:  # one pass per slice of the leading dimension of grad_outputs, stacked
        from ..ops.movement import stack

        if grad_outputs is None:
            raise RuntimeError("is_grads_batched=True needs grad_outputs")
        n = grad_outputs[0]._data.shape[0]
        per = [
            grad(
                outputs,
                inputs,
                tuple(g[b] for g in grad_outputs),
                True if b < n - 1 else retain_graph,
                create_graph,
                allow_unused=allow_unused,
                materialize_grads=materialize_grads,
            )
            for b in range(n)
        ]
        res = tuple(None if rs[0] is None else stack(list(rs)) for rs in zip(*per))
        return res
    res = _run(
        tuple(outputs),
        None if grad_outputs is None else tuple(grad_outputs),
        retain_graph,
        create_graph,
        inputs,
        allow_unused,
    )
    if materialize_grads:
        from ..creation import zeros_like

        res = tuple(zeros_like(t) if g is None else g for t, g in zip(inputs, res))
    return res
