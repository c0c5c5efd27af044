"""The tape walk: ``backward`` accumulates into leaves, ``grad`` returns gradients.

VJPs are jitgrad ops, so with ``create_graph=True`` the walk itself is recorded and can be
differentiated again; under a tracer the walk lands in the static graph.
"""

import weakref

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
    """The ``next_functions`` entry of a leaf; ``.variable`` is the leaf tensor."""

    def __init__(self, variable):
        self.variable = variable
        self.next_functions = ()

    def name(self):
        return "AccumulateGrad"

    def __repr__(self):
        return "<AccumulateGrad object>"


_ACC = weakref.WeakKeyDictionary()


def accumulate_node(leaf):
    n = _ACC.get(leaf)
    if n is None:
        n = _ACC[leaf] = AccumulateGrad(leaf)
    return n


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

    # dependency counts over the reachable nodes
    deps = {}
    stack = []
    for r in roots:
        fn = r._grad_fn
        if fn is not None and fn not in deps:
            deps[fn] = 0
            stack.append(fn)
    while stack:
        n = stack.pop()
        for e in n.edges:
            if e is not None and e.__class__ is not Tensor and not isinstance(e, Tensor):
                if e in deps:
                    deps[e] += 1
                else:
                    deps[e] = 1
                    stack.append(e)

    pending = {}  # node -> grad tensor
    leaf_grads = {}  # id(leaf) -> [leaf, grad]
    want = None
    captured = {}
    if inputs is not None:
        want = {}
        for i, t in enumerate(inputs):
            key = t._grad_fn if t._grad_fn is not None else t
            want.setdefault(id(key), []).append(i)

    for r, g in zip(roots, grads):
        if r._grad_fn is None:
            cur = leaf_grads.get(id(r))
            if cur is None:
                leaf_grads[id(r)] = [r, g]
            else:
                cur[1] = cur[1] + g
        else:
            cur = pending.get(r._grad_fn)
            pending[r._grad_fn] = g if cur is None else cur + g

    ready = [n for n in deps if deps[n] == 0]
    anomaly = STATE.anomaly
    ctx = enable_grad() if create_graph else no_grad()
    with ctx:
        while ready:
            node = ready.pop()
            g = pending.pop(node, None)
            edges = node.edges
            if g is None:  # no gradient reached this node (e.g. a VJP returned None)
                for e in edges:
                    if e is not None and e.__class__ is not Tensor and e in deps:
                        deps[e] -= 1
                        if deps[e] == 0:
                            ready.append(e)
                if not retain_graph:
                    node.saved = None
                    node.out_data = None
                continue
            if node.pre_hooks:
                for h in node.pre_hooks:
                    r = h(g)
                    if r is not None:
                        g = r
            if want is not None and id(node) in want:
                for i in want[id(node)]:
                    captured[i] = g
            saved = node.saved
            if saved is None:
                raise RuntimeError(_SECOND_TIME)
            prim = node.prim
            sv = prim.saves
            versions = node.versions
            for i in range(len(saved)) if sv is None else sv:
                if saved[i]._vc[0] != versions[i]:
                    sf = prim.saves_for
                    if sf is not None and i in sf and all(edges[j] is None for j in sf[i]):
                        continue  # no needed gradient reads this input's data
                    _inplace_error(node, i, saved[i])
            od = node.out_data
            if od is not None:
                if node.out_vc[0] != node.out_version:
                    _inplace_error(node, -1, None)
                out = _wrap(od)
                out._grad_fn = node
                out._requires_grad = True
            else:
                out = None
            if anomaly:
                from .anomaly import check_grad

                check_grad(node, g)
            params = node.params
            gin = prim.vjp(g, out, *saved, **params) if params else prim.vjp(g, out, *saved)
            if not retain_graph:
                node.saved = None
                node.out_data = None
            i = 0
            for e in edges:
                if e is None:
                    i += 1
                    continue
                gi = gin[i]
                i += 1
                if e.__class__ is Node:
                    if gi is not None:
                        cur = pending.get(e)
                        pending[e] = gi if cur is None else cur + gi
                    c = deps[e] - 1
                    deps[e] = c
                    if c == 0:
                        ready.append(e)
                elif gi is not None:
                    if e.__class__ is Tensor or isinstance(e, Tensor):
                        cur = leaf_grads.get(id(e))
                        if cur is None:
                            leaf_grads[id(e)] = [e, gi]
                        else:
                            cur[1] = cur[1] + gi
                    else:  # a node of another kind (custom Function nodes are Nodes too)
                        cur = pending.get(e)
                        pending[e] = gi if cur is None else cur + gi
                        deps[e] -= 1
                        if deps[e] == 0:
                            ready.append(e)
                elif not (e.__class__ is Tensor or isinstance(e, Tensor)):
                    deps[e] -= 1
                    if deps[e] == 0:
                        ready.append(e)

        # leaves: hooks, then accumulation (or capture for autograd.grad)
        stored_roots = set()
        for g in grads:
            stored_roots.add(_root_id(g._data))
        for key, (leaf, g) in leaf_grads.items():
            hooks = leaf._x.get("hooks") if leaf._x else None
            if hooks:
                for h in hooks:
                    r = h(g)
                    if r is not None:
                        g = r
            if want is not None:
                if key in want:
                    for i in want[key]:
                        captured[i] = g
                continue
            if accumulate:
                _accumulate(leaf, g, create_graph, stored_roots)
    if inputs is not None:
        res = []
        for i in range(len(inputs)):
            g = captured.get(i)
            if g is None and not allow_unused:
                raise RuntimeError(
                    "One of the differentiated Tensors appears to not have been used in the "
                    "graph. Set allow_unused=True if this is the desired behavior."
                )
            res.append(g)
        return tuple(res)
    return None


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


def backward(tensors, grad_tensors=None, retain_graph=None, create_graph=False, inputs=None):
    """Accumulate gradients of ``tensors`` into the leaves' ``.grad``."""
    if isinstance(tensors, Tensor):
        tensors = (tensors,)
    if isinstance(grad_tensors, Tensor):
        grad_tensors = (grad_tensors,)
    tensors = tuple(tensors)
    if grad_tensors is not None:
        grad_tensors = tuple(grad_tensors)
        if len(grad_tensors) != len(tensors):
            raise RuntimeError(
                f"grad_tensors has {len(grad_tensors)} entries but there are {len(tensors)} tensors"
            )
    if inputs is not None:
        inputs = (inputs,) if isinstance(inputs, Tensor) else tuple(inputs)
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
    for t in inputs:
        if not t._requires_grad:
            raise RuntimeError("One of the differentiated Tensors does not require grad")
    if allow_unused is None:
        allow_unused = materialize_grads
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
